/**
 * Starting the service: configuration, the store (bounded and probed), the filesystem,
 * the app, and listening. `main.ts` and `pagefs serve` both start it through here.
 *
 * Start-up fails fast, with one line on stderr and a non-zero exit: 2 for a configuration
 * error, 1 when the service cannot start (the store does not answer within
 * `PAGEFS_STARTUP_TIMEOUT_MS`, refuses us, ignores conditional writes, or the port is in
 * use).
 *
 * @module
 */

import type { Hono } from "hono";
import { createApp } from "./app.ts";
import { AuthConfigError, Authenticator, checkExposure } from "./auth/mod.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { probeKey, SUPERBLOCK_KEY } from "./format/keys.ts";
import { FormatError } from "./format/superblock.ts";
import { causeChain, Logger, Readiness, Telemetry } from "./observe/mod.ts";
import { openStore, probeConditionalWrites, StoreError, StoreMetrics } from "./store/mod.ts";
import { Vfs } from "./vfs/mod.ts";
import { DiskCache } from "./cache/disk_cache.ts";

/** Exit status: the configuration is invalid. */
export const EXIT_CONFIG = 2;
/** Exit status: the configuration is fine but the service cannot start. */
export const EXIT_START = 1;

/** Start-up stops here: one line on stderr, then the exit status. */
function fail(message: string, code = EXIT_CONFIG): never {
  console.error(`pagefs: ${message}`);
  Deno.exit(code);
}

/** Where the store is, for messages. */
function storeName(config: Config): string {
  const s = config.store;
  if (s.kind !== "s3") return s.kind === "local" ? `the local store "${s.dataDir}"` : "memory";
  return `bucket "${s.bucket}" at ${s.endpoint ?? "AWS S3"}`;
}

class StartupTimeout extends Error {}

/**
 * Opens the configured store and filesystem and builds the app; on any failure prints one
 * line and exits (see the module's exit statuses). `listen` says whether this process
 * chooses the address (`--listen`); without it (`deno serve`, Deploy) credentials are
 * required.
 */
export async function startService(
  env: Record<string, string>,
  options: { listen: boolean },
): Promise<{ config: Config; app: Hono; logger: Logger }> {
  const listen = options.listen;
  const startedAt = performance.now();
  let config;
  let auth;
  try {
    config = loadConfig(env);
    auth = await Authenticator.load(env);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof AuthConfigError) {
      fail(`invalid configuration: ${error.message}`);
    }
    throw error;
  }
  // Without --listen the address is not ours to choose (deno serve binds every interface,
  // Deploy is public): credentials are required then.
  const exposed = checkExposure(listen ? config.host : "0.0.0.0", auth);
  if (exposed) fail(exposed);
  const logger = new Logger({ level: config.logLevel, format: config.logFormat });
  const telemetry = new Telemetry();
  const metrics = new StoreMetrics();
  // From the first request on: start-up's probe and format are S3 requests too.
  telemetry.watchStore(metrics);
  const store = openStore(config.store, {
    metrics,
    s3: {
      requestTimeoutMs: config.s3TimeoutMs,
      unreachableWaitMs: config.s3UnreachableWaitMs,
      probeKey: probeKey("reachability"),
      onReachability: (down) => {
        telemetry.reachability(down);
        if (down) {
          logger.error("s3 unreachable: a request got no answer; requests answer 503", {
            timeout_ms: config.s3TimeoutMs,
          });
        } else logger.warn("s3 reachable again");
      },
    },
    retry: { budgetMs: config.s3TimeoutMs, onRetry: (method) => telemetry.retry(method) },
  });
  const where = storeName(config);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StartupTimeout()), config.startupTimeoutMs);
  });
  let vfs;
  try {
    vfs = await Promise.race([
      (async () => {
        // Before anything is formatted: a store that ignores conditions gets nothing.
        if (!config.singleInstance) {
          const ignored = await probeConditionalWrites(store, probeKey(crypto.randomUUID()));
          if (ignored !== null) {
            fail(
              `${where} does not honour conditional writes: it ignored ${ignored}. ` +
                "Several instances would overwrite each other's changes; set " +
                "PAGEFS_SINGLE_INSTANCE=true to serve it from exactly one instance anyway",
              EXIT_START,
            );
          }
        }
        return await Vfs.open(store, {
          memoryBytes: config.memoryBytes,
          cacheBytes: config.cacheBytes,
          metaCacheBytes: config.metaCacheBytes,
          metaDecodeBytes: config.metaDecodeBytes,
          diskCache: config.diskCache && await DiskCache.open(config.diskCache),
          onGroupCommit: (writes, bytes) => telemetry.groupCommit(writes, bytes),
        });
      })(),
      deadline,
    ]);
  } catch (error) {
    if (error instanceof StartupTimeout) {
      fail(
        `cannot open ${where}: no answer within ${config.startupTimeoutMs} ms ` +
          "(PAGEFS_STARTUP_TIMEOUT_MS)",
        EXIT_START,
      );
    }
    let cause: unknown = error;
    while (!(cause instanceof FormatError || cause instanceof StoreError)) {
      const next = (cause as { cause?: unknown })?.cause;
      if (next === undefined) break;
      cause = next;
    }
    if (cause instanceof FormatError) fail(cause.message, EXIT_START);
    if (cause instanceof StoreError) fail(`cannot open ${where}: ${causeChain(cause)}`, EXIT_START);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const readiness = new Readiness(() => store.head(SUPERBLOCK_KEY), {
    timeoutMs: config.readyTimeoutMs,
  });
  const app = createApp({
    store,
    metrics,
    vfs,
    auth,
    corsOrigins: config.corsOrigins,
    metricsPublic: config.metricsPublic,
    logger,
    telemetry,
    readiness,
    davInfinityMax: config.davInfinityMax,
    bodyTimeoutMs: config.bodyTimeoutMs,
    secret: config.secret,
    uploads: { expiryMs: config.uploadExpiryMs },
    trustForwarded: config.trustForwarded,
  });
  if (config.secret === null && auth !== null) {
    logger.warn(
      "PAGEFS_SECRET is not set: browser sessions and share links are signed with a random " +
        "key of this process, so they end when it stops and other instances refuse them",
    );
  }
  logger.notice("store open", {
    store: where,
    ms: Math.round(performance.now() - startedAt),
    log_level: config.logLevel,
  });
  return { config, app, logger };
}

/** Listens on the configured address; a port in use is one line and exit 1. */
export function listenService(config: Config, app: Hono, logger: Logger): Deno.HttpServer {
  try {
    return Deno.serve({
      port: config.port,
      hostname: config.host,
      onListen: ({ hostname, port }) =>
        logger.notice("serving", { url: `http://${hostname}:${port}/` }),
    }, app.fetch);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      fail(
        `cannot listen on ${config.host}:${config.port}: the port is in use (set PORT)`,
        EXIT_START,
      );
    }
    if (
      error instanceof Deno.errors.AddrNotAvailable || error instanceof Deno.errors.PermissionDenied
    ) {
      fail(`cannot listen on ${config.host}:${config.port}: ${causeChain(error)}`, EXIT_START);
    }
    throw error;
  }
}

/** `pagefs serve --help` and `main.ts --help`. */
export const SERVE_USAGE = `Usage: deno task start            (or: deno task pagefs serve)

Serves the HTTP API (/api/v1), WebDAV (/dav), /healthz, /readyz and /metrics on HOST:PORT
(default 127.0.0.1:8080). Everything else is configured through the environment: see the
README's Configuration table (PAGEFS_BUCKET, AWS_*, PAGEFS_USERS, PAGEFS_LOG_LEVEL, …).

Exit status: 1 could not start (store unreachable or unsafe, port in use),
2 invalid configuration.`;
