/**
 * Environment variables -> typed configuration. This is the one place that knows the
 * variable names; `main.ts` hands it the environment, so tests can pass any map.
 *
 * @module
 */

/** Where objects live. */
export type StoreConfig =
  | { readonly kind: "memory" }
  | { readonly kind: "local"; readonly dataDir: string }
  | {
    readonly kind: "s3";
    readonly bucket: string;
    readonly prefix: string;
    readonly endpoint: string | undefined;
    readonly region: string;
    readonly forcePathStyle: boolean;
    readonly credentials:
      | { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
      | undefined;
  };

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly store: StoreConfig;
  /**
   * Origins whose browser scripts may call the HTTP API (CORS): exact origins, which also
   * get credentials, or "*" for any origin without credentials. Empty: no CORS.
   */
  readonly corsOrigins: readonly string[] | "*";
  /** `/metrics` answers without credentials (default: only to an unlimited principal). */
  readonly metricsPublic: boolean;
  /**
   * `PAGEFS_SECRET`: signs browser sessions and share links; the same on every instance.
   * Null when unset (a random one per process).
   */
  readonly secret: string | null;
  /** How long an unfinished resumable upload is kept, in ms (default 24 h). */
  readonly uploadExpiryMs: number;
  /**
   * `PAGEFS_TRUST_FORWARDED`: a reverse proxy in front sets `Forwarded` /
   * `X-Forwarded-Host` / `X-Forwarded-Proto`, so a tus `Location` may be built from them.
   * Off by default: without a proxy that overwrites them, they are whatever the client sent.
   */
  readonly trustForwarded: boolean;
  /** `info` logs every request; `warn` only failures (4xx, 5xx), warnings and start-up. */
  readonly logLevel: "debug" | "info" | "warn";
  /** `text` (key=value) or `json` (one object per line). */
  readonly logFormat: "text" | "json";
  /**
   * Bound on one S3 request: until its answer starts, on a silent upload socket, and on each
   * wait for the bytes of a GET body PageFS reads itself (no progress, not total time).
   */
  readonly s3TimeoutMs: number;
  /**
   * How long a request waits for an S3 endpoint taken for unreachable (a request to it timed
   * out and nothing answered since) to answer again before it fails unsent (503).
   */
  readonly s3UnreachableWaitMs: number;
  /** Bound on start-up: opening the store and probing it. */
  readonly startupTimeoutMs: number;
  /** Bound on the store probe behind `/readyz`. */
  readonly readyTimeoutMs: number;
  /** A request body that sends nothing for this long is given up (408). */
  readonly bodyTimeoutMs: number;
  /**
   * Serve a store that does not honour conditional writes; safe only while exactly one
   * instance serves it.
   */
  readonly singleInstance: boolean;
  /** Most entries a WebDAV `PROPFIND Depth: infinity` answers (more: refused). */
  readonly davInfinityMax: number;
  /**
   * The one budget, in bytes, for everything the process buffers: cached blocks, dirty
   * data, upload part buffers, GET buffers (`PAGEFS_MEMORY_MIB`, default 64 MiB).
   */
  readonly memoryBytes: number;
  /** The page cache's share of `memoryBytes` at most (`PAGEFS_CACHE_MIB`, default 64 MiB). */
  readonly cacheBytes: number;
  /**
   * The memory that decoded metadata kept for revalidation may take, estimated
   * (`PAGEFS_META_CACHE_MIB`, default 64 MiB; about 100,000 directory entries).
   */
  readonly metaCacheBytes: number;
  /**
   * The longest JSON one metadata object may decode to (`PAGEFS_META_DECODE_MIB`, default
   * 32 MiB): a longer one is refused, not inflated. Writers keep directory objects under 4
   * MiB; raise it only to read an object an earlier version wrote longer (docs/format.md).
   */
  readonly metaDecodeBytes: number;
  /** The disk tier under the page cache; null (the default) keeps the cache in memory only. */
  readonly diskCache: DiskCacheConfig | null;
}

/**
 * The disk tier: blocks of segments that large reads fetched, kept as files in `dir`
 * (`PAGEFS_CACHE_DIR`, unset by default: Deno Deploy has no disk) up to `maxBytes`
 * (`PAGEFS_CACHE_DISK_MIB`, default 1024 MiB), least recently used evicted first.
 */
export interface DiskCacheConfig {
  readonly dir: string;
  readonly maxBytes: number;
}

/** A configuration value is missing or invalid; the message names the variable. */
export class ConfigError extends Error {
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = "ConfigError";
    this.variable = variable;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Reads the configuration from environment variables.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadConfig } from "./config.ts";
 * const config = loadConfig({ PORT: "9000", PAGEFS_STORE: "memory" });
 * assert(config.port === 9000 && config.store.kind === "memory");
 * ```
 * @throws {ConfigError} naming the first invalid variable.
 */
export function loadConfig(env: Env): Config {
  // Whether this host may be served without credentials is decided at start-up, once the
  // users are loaded (src/auth/exposure.ts).
  const host = env.HOST || "127.0.0.1";
  return {
    port: port(env.PORT),
    host,
    store: store(env),
    corsOrigins: corsOrigins(env.PAGEFS_CORS_ORIGINS),
    metricsPublic: flag("PAGEFS_METRICS_PUBLIC", env.PAGEFS_METRICS_PUBLIC, false),
    secret: secret(env.PAGEFS_SECRET),
    uploadExpiryMs: duration("PAGEFS_UPLOAD_EXPIRY", env.PAGEFS_UPLOAD_EXPIRY, 24 * 3600_000),
    trustForwarded: flag("PAGEFS_TRUST_FORWARDED", env.PAGEFS_TRUST_FORWARDED, false),
    logLevel: oneOf("PAGEFS_LOG_LEVEL", env.PAGEFS_LOG_LEVEL, ["info", "debug", "warn"] as const),
    logFormat: oneOf("PAGEFS_LOG_FORMAT", env.PAGEFS_LOG_FORMAT, ["text", "json"] as const),
    s3TimeoutMs: integer("PAGEFS_S3_TIMEOUT_MS", env.PAGEFS_S3_TIMEOUT_MS, 20_000, 100),
    s3UnreachableWaitMs: integer(
      "PAGEFS_S3_UNREACHABLE_WAIT_MS",
      env.PAGEFS_S3_UNREACHABLE_WAIT_MS,
      1000,
      0,
    ),
    startupTimeoutMs: integer(
      "PAGEFS_STARTUP_TIMEOUT_MS",
      env.PAGEFS_STARTUP_TIMEOUT_MS,
      20_000,
      100,
    ),
    readyTimeoutMs: integer("PAGEFS_READY_TIMEOUT_MS", env.PAGEFS_READY_TIMEOUT_MS, 2000, 10),
    bodyTimeoutMs: integer("PAGEFS_BODY_TIMEOUT_MS", env.PAGEFS_BODY_TIMEOUT_MS, 60_000, 100),
    singleInstance: flag("PAGEFS_SINGLE_INSTANCE", env.PAGEFS_SINGLE_INSTANCE, false),
    davInfinityMax: integer("PAGEFS_DAV_INFINITY_MAX", env.PAGEFS_DAV_INFINITY_MAX, 10_000, 0),
    // At least 4 parts of 8 MiB: a streamed write needs one filling and one uploading.
    memoryBytes: integer("PAGEFS_MEMORY_MIB", env.PAGEFS_MEMORY_MIB, 64, 32) * MiB,
    cacheBytes: integer("PAGEFS_CACHE_MIB", env.PAGEFS_CACHE_MIB, 64, 0) * MiB,
    metaCacheBytes: integer("PAGEFS_META_CACHE_MIB", env.PAGEFS_META_CACHE_MIB, 64, 1) * MiB,
    metaDecodeBytes: integer("PAGEFS_META_DECODE_MIB", env.PAGEFS_META_DECODE_MIB, 32, 8) * MiB,
    diskCache: diskCache(env),
  };
}

function diskCache(env: Env): DiskCacheConfig | null {
  const dir = env.PAGEFS_CACHE_DIR ?? "";
  const mib = integer("PAGEFS_CACHE_DISK_MIB", env.PAGEFS_CACHE_DISK_MIB, 1024, 2);
  return dir === "" ? null : { dir, maxBytes: mib * MiB };
}

const MiB = 1024 * 1024;

function secret(value: string | undefined): string | null {
  if (value === undefined || value === "") return null;
  if (value.length < 32) {
    throw new ConfigError(
      "PAGEFS_SECRET",
      "Expected at least 32 characters (e.g. `openssl rand -hex 32`)",
    );
  }
  return value;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** A duration such as "90", "90s", "30m", "24h" or "7d" (plain numbers are seconds), in ms. */
function duration(variable: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value === "") return fallback;
  const match = /^(\d{1,9})([smhd]?)$/.exec(value.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[match[2] || "s"]! : NaN;
  if (!(ms > 0) || ms > 365 * 86_400_000) {
    throw new ConfigError(
      variable,
      `Expected a duration like 3600, 30m, 24h or 7d, got "${value}"`,
    );
  }
  return ms;
}

/** One of `choices`; the first when unset. */
function oneOf<T extends string>(
  variable: string,
  value: string | undefined,
  choices: readonly T[],
): T {
  if (value === undefined || value === "") return choices[0]!;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw new ConfigError(
    variable,
    `Expected ${choices.map((c) => `"${c}"`).join(", ")}, got "${value}"`,
  );
}

/** A whole number of at least `min` (milliseconds, counts). */
function integer(
  variable: string,
  value: string | undefined,
  fallback: number,
  min: number,
): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) {
    throw new ConfigError(variable, `Expected a whole number of at least ${min}, got "${value}"`);
  }
  return n;
}

function flag(variable: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value === "") return fallback;
  if (/^(true|1)$/.test(value)) return true;
  if (/^(false|0)$/.test(value)) return false;
  throw new ConfigError(variable, `Expected true or false, got "${value}"`);
}

/** `*`, or origins separated by commas or spaces, each exactly `scheme://host[:port]`. */
function corsOrigins(value: string | undefined): readonly string[] | "*" {
  const text = (value ?? "").trim();
  if (text === "*") return "*";
  const origins = text.split(/[\s,]+/).filter((o) => o !== "");
  for (const origin of origins) {
    const url = URL.parse(origin);
    if (
      url === null || url.origin !== origin || !/^https?:$/.test(url.protocol) ||
      origin.includes("*")
    ) {
      throw new ConfigError(
        "PAGEFS_CORS_ORIGINS",
        `Expected "*" or origins like "https://app.example.com", got "${origin}"`,
      );
    }
  }
  return origins;
}

function port(value: string | undefined): number {
  if (value === undefined || value === "") return 8080;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 0 || n > 65535) {
    throw new ConfigError("PORT", `Expected a port number from 0 to 65535, got "${value}"`);
  }
  return n;
}

function store(env: Env): StoreConfig {
  // On Deno Deploy a local directory is an instance's temporary disk, lost on eviction:
  // without a bucket the store must be chosen explicitly there.
  if (env.DENO_DEPLOYMENT_ID && !env.PAGEFS_BUCKET && !env.PAGEFS_STORE) {
    throw new ConfigError(
      "PAGEFS_BUCKET",
      "Required on Deno Deploy (a local store there lives on a disk lost when the instance " +
        "is evicted); set PAGEFS_STORE=local to use that disk anyway",
    );
  }
  const kind = env.PAGEFS_STORE || (env.PAGEFS_BUCKET ? "s3" : "local");
  switch (kind) {
    case "memory":
      return { kind };
    case "local":
      return { kind, dataDir: env.PAGEFS_DATA_DIR || "./.pagefs" };
    case "s3":
      return s3(env);
    default:
      throw new ConfigError(
        "PAGEFS_STORE",
        `Expected "s3", "local" or "memory", got "${kind}"`,
      );
  }
}

function s3(env: Env): StoreConfig {
  const bucket = env.PAGEFS_BUCKET ?? "";
  // S3 bucket naming rules (the subset every provider accepts).
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ConfigError(
      "PAGEFS_BUCKET",
      bucket ? `Invalid bucket name "${bucket}"` : "Required when PAGEFS_STORE is s3",
    );
  }
  const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
  if (endpoint !== undefined && !URL.canParse(endpoint)) {
    const name = env.AWS_ENDPOINT_URL_S3 ? "AWS_ENDPOINT_URL_S3" : "AWS_ENDPOINT_URL";
    throw new ConfigError(name, `Invalid URL "${endpoint}"`);
  }
  let prefix = env.PAGEFS_PREFIX ?? "";
  if (prefix.startsWith("/")) {
    throw new ConfigError("PAGEFS_PREFIX", `Must not start with "/", got "${prefix}"`);
  }
  if (prefix && !prefix.endsWith("/")) prefix += "/";
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (Boolean(accessKeyId) !== Boolean(secretAccessKey)) {
    const missing = accessKeyId ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID";
    throw new ConfigError(missing, "Required together with the other AWS key variable");
  }
  const pathStyle = env.PAGEFS_S3_PATH_STYLE;
  if (pathStyle !== undefined && pathStyle !== "" && !/^(true|false|1|0)$/.test(pathStyle)) {
    throw new ConfigError("PAGEFS_S3_PATH_STYLE", `Expected true or false, got "${pathStyle}"`);
  }
  return {
    kind: "s3",
    bucket,
    prefix,
    endpoint,
    region: env.AWS_REGION || env.AWS_DEFAULT_REGION || "us-east-1",
    // Custom endpoints (MinIO, RGW, R2) generally want path-style addressing.
    forcePathStyle: pathStyle ? /^(true|1)$/.test(pathStyle) : endpoint !== undefined,
    credentials: accessKeyId && secretAccessKey
      ? {
        accessKeyId,
        secretAccessKey,
        ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
      }
      : undefined,
  };
}
