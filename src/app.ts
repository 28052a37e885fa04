/**
 * Composes the Hono application: health, metrics, and the front ends behind
 * authentication. Runtime-specific work (listening, reading the environment) stays in
 * `main.ts`, so tests drive this app with `app.request()` and no server.
 *
 * @module
 */

import { type Context, Hono, type MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import {
  allows,
  type Authenticator,
  type AuthEnv,
  type AuthFailure,
  AuthMetrics,
  principalId,
  requireAuth,
  type RequireAuthOptions,
  Sessions,
  Signer,
} from "./auth/mod.ts";
import { createUi, ShareTokens } from "./ui/mod.ts";
import { RenderCache } from "./http/render_cache.ts";
import { setLockPrincipal } from "./http/locks.ts";
import { BODY_IDLE_MS, setBodyIdleMs } from "./http/input.ts";
import { BodySlots, withBodySlots } from "./http/body_slots.ts";
import { answerLength } from "./http/answer_length.ts";
import { closeMarkedConnections } from "./http/connection.ts";
import { noSniff } from "./http/answer_headers.ts";
import { clientKey, forwardedOf, reachedOverHttps } from "./http/forwarded.ts";
import { createRestApi, HttpError } from "./rest/mod.ts";
import { problemResponse } from "./rest/errors.ts";
import { fsPathBelow, mountNames, namesBelow, requestPathOf } from "./http/request_path.ts";
import { createWebDav, davPathOf, destinationPath, serverRoot } from "./webdav/mod.ts";
import {
  checkNotStaging,
  createTus,
  isStagingPath,
  refuseStaging,
  TUS_REQUEST_HEADERS,
  TUS_RESPONSE_HEADERS,
} from "./tus/mod.ts";
import { FsError } from "./vfs/mod.ts";
import { type ObjectStore, StoreError, type StoreMetrics } from "./store/mod.ts";
import type { Vfs } from "./vfs/mod.ts";
import { SUPERBLOCK_KEY } from "./format/keys.ts";
import { causeChain, Logger, Readiness, RequestLog, type Telemetry } from "./observe/mod.ts";

export interface AppOptions {
  readonly store: ObjectStore;
  readonly metrics: StoreMetrics;
  /** The filesystem the front ends serve; without it only health and metrics answer. */
  readonly vfs?: Vfs;
  /** Who may use the front ends; null lets everyone in (loopback without credentials). */
  readonly auth?: Authenticator | null;
  /** Origins allowed to call the HTTP API from a browser (see `Config.corsOrigins`). */
  readonly corsOrigins?: readonly string[] | "*";
  /** `/metrics` without credentials (default false). */
  readonly metricsPublic?: boolean;
  /**
   * The server secret that signs session cookies and share links (`PAGEFS_SECRET`); every
   * instance behind one address needs the same. Without it a random one is made per
   * process: sessions and links then work on this process only, until it stops.
   */
  readonly secret?: string | null;
  /** Resumable uploads: how long an unfinished one is kept, and the clock that judges it. */
  readonly uploads?: {
    readonly expiryMs?: number;
    readonly now?: () => number;
    readonly sweepEveryMs?: number;
  };
  /**
   * A reverse proxy in front sets `Forwarded` / `X-Forwarded-*` (`PAGEFS_TRUST_FORWARDED`):
   * tus builds `Location` from them, and a WebDAV `Destination` may name the forwarded host.
   */
  readonly trustForwarded?: boolean;
  /** Where request lines and S3 failures are logged (default: text at level warn). */
  readonly logger?: Logger;
  /** Latency histograms and the other figures `/metrics` adds to the store's counters. */
  readonly telemetry?: Telemetry;
  /** What `/readyz` asks (default: a HEAD of the superblock, within 2 s, cached 1 s). */
  readonly readiness?: Readiness;
  /** Most entries a WebDAV `PROPFIND Depth: infinity` answers (default 10,000). */
  readonly davInfinityMax?: number;
  /** A request body silent for this long is given up with 408 (default 60 s). */
  readonly bodyTimeoutMs?: number;
  /** Request bodies streamed at once (default 16); see `http/body_slots.ts`. */
  readonly bodiesAtOnce?: number;
}

/** Headers a browser script may send to the HTTP API, and read from its answers. */
const CORS_REQUEST_HEADERS = [
  "Authorization",
  "Content-Type",
  "Content-Range",
  "Range",
  "If-Match",
  "If-None-Match",
  "If-Modified-Since",
  "If-Unmodified-Since",
  "Lock-Token",
  ...TUS_REQUEST_HEADERS,
];
const CORS_RESPONSE_HEADERS = [
  "ETag",
  "Last-Modified",
  "Content-Range",
  "Content-Length",
  "Accept-Ranges",
  "Location",
  "Retry-After",
  "WWW-Authenticate",
  ...TUS_RESPONSE_HEADERS,
];

/**
 * CORS for the HTTP API: listed origins get credentials; "*" lets any origin in without
 * them (a browser then sends no cookies and no stored Basic credentials).
 */
function corsFor(origins: readonly string[] | "*"): MiddlewareHandler | null {
  if (origins !== "*" && origins.length === 0) return null;
  const options = {
    allowMethods: ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS"],
    allowHeaders: CORS_REQUEST_HEADERS,
    exposeHeaders: CORS_RESPONSE_HEADERS,
    maxAge: 600,
  };
  if (origins === "*") return cors({ ...options, origin: "*" });
  const listed = cors({ ...options, origin: [...origins], credentials: true });
  return async (c, next) => {
    const origin = c.req.header("origin");
    if (origin !== undefined && origins.includes(origin)) return await listed(c, next);
    await next();
  };
}

/** The user name of a Basic credential, for log lines (null if there is none). */
function basicUser(header: string | undefined): string | null {
  const match = /^basic\s+([A-Za-z0-9+/=]{1,2048})\s*$/i.exec(header ?? "");
  if (!match) return null;
  try {
    const text = atob(match[1]!);
    const user = text.slice(0, Math.max(0, text.indexOf(":")));
    return /^[\x20-\x7e]{1,64}$/.test(user) ? user : null;
  } catch {
    return null;
  }
}

/** Where WebDAV is mounted. */
const DAV_MOUNT = "/dav";
/** WebDAV's paths merge empty segments (see `src/http/request_path.ts`). */
const DAV_PATHS = { mergeSlashes: true } as const;
/** Where the HTTP API is mounted. */
const API_MOUNT = "/api/v1";
/** Where resumable uploads (tus) are mounted. */
const UPLOADS_MOUNT = `${API_MOUNT}/uploads`;

/**
 * The filesystem path a WebDAV COPY or MOVE writes to (its `Destination`), read by the same
 * function the handler uses; null when absent or not a path this server writes (the
 * handler answers those).
 */
function davDestinationOf(c: Context, trustForwarded: boolean): string | null {
  const header = c.req.header("destination");
  if (header === undefined) return null;
  // With the handler's own reading of the host, so that the path the handler writes to is
  // the one authorized here.
  const forwardedHost = trustForwarded ? forwardedOf(c.req.raw.headers).host : null;
  try {
    return destinationPath(header, new URL(c.req.url), DAV_MOUNT, { forwardedHost }).path;
  } catch (error) {
    // A Destination with dot segments is refused here, not left to the handler.
    if (error instanceof FsError) throw error;
    return null;
  }
}

/** HTTP API routes that name a filesystem path after their own name. */
const API_PATH_ROUTES = new Set(["fs", "stat", "readlink", "xattr", "zip"]);
const API_NAMES = mountNames(API_MOUNT);
const DAV_NAMES = mountNames(DAV_MOUNT);

/** The filesystem path an API request acts on (null for routes that name none). */
function apiPathOf(c: Context): string | null {
  const below = namesBelow(requestPathOf(c.req.raw), API_NAMES);
  if (below === null || below.length === 0 || !API_PATH_ROUTES.has(below[0]!)) return null;
  return fsPathBelow(requestPathOf(c.req.raw), [...API_NAMES, below[0]!])!.path;
}

/** The folder the request's principal may reach ("/" without authentication). */
function scopeOf(c: Context): string {
  return c.get("principal")?.prefix ?? "/";
}

/**
 * Builds the application.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createApp } from "./app.ts";
 * import { MemoryStore, StoreMetrics } from "./store/mod.ts";
 * const app = createApp({ store: new MemoryStore(), metrics: new StoreMetrics() });
 * const res = await app.request("/healthz");
 * assert(res.status === 200);
 * ```
 */
export function createApp(options: AppOptions): Hono {
  // Routing matches the request path decoded and checked once (src/http/request_path.ts),
  // in a canonical spelling: the router, the auth check and the handlers all read that one
  // value, so a path the router sends to a front end is the path it acts on.
  const app = new Hono<AuthEnv>({
    getPath: (request) => {
      try {
        // Empty segments merged for routing; only WebDAV takes them (the check below).
        return requestPathOf(request, { mergeSlashes: true }).routePath;
      } catch {
        return "/"; // refused by the first middleware below
      }
    },
  });
  // main.ts passes the configured logger; embedded (tests), only failures are written.
  const logger = options.logger ?? new Logger({ level: "warn" });
  const requestLog = new RequestLog({
    logger,
    telemetry: options.telemetry,
    frontOf: (path) =>
      path === API_MOUNT || path.startsWith(`${API_MOUNT}/`)
        ? "api"
        : path === DAV_MOUNT || path.startsWith(`${DAV_MOUNT}/`)
        ? "dav"
        : "other",
    principalOf: (c) => principalId(c.get("principal")),
  });
  // First, so that every answer is logged, refusals by the path check included.
  app.use("*", requestLog.middleware());
  // Every answer, errors of every front end and the zip included, tells browsers not to
  // guess its type (see `noSniff`).
  app.use("*", noSniff());
  // Then the answer's length, for the log to see (a request whose body ended early gets no
  // answer of undeclared length from Deno.serve: see src/http/answer_length.ts).
  app.use("*", answerLength());
  // A connection whose body was read in large pieces is closed after its answer.
  app.use("*", closeMarkedConnections());
  app.use("*", async (c, next) => {
    // Throws EINVAL, rendered as 400 by onError; WebDAV alone merges empty segments.
    const path = requestPathOf(c.req.raw, { mergeSlashes: true });
    if (namesBelow(path, DAV_NAMES) === null) requestPathOf(c.req.raw);
    await next();
  });
  // A failed S3 request is logged with its cause (a lost CAS race or an absent key is
  // business as usual, not a failure).
  options.metrics.observers.push({
    request(op, seconds, error) {
      if (error === undefined) return;
      if (
        error instanceof StoreError &&
        (error.kind === "precondition-failed" || error.kind === "not-found")
      ) return;
      logger.warn("s3 request failed", {
        id: requestLog.currentId(),
        op,
        key: error instanceof StoreError ? error.key : undefined,
        kind: error instanceof StoreError ? error.kind : "error",
        ambiguous: error instanceof StoreError ? error.ambiguous : undefined,
        ms: Math.round(seconds * 1000),
        cause: causeChain(error),
      });
    },
  });
  if (options.telemetry) {
    options.telemetry.watchStore(options.metrics);
    if (options.vfs) options.telemetry.watchCache(options.vfs);
  }

  app.get("/healthz", (c) => c.json({ status: "ok", store: options.store.kind }));
  const readiness = options.readiness ?? new Readiness(() => options.store.head(SUPERBLOCK_KEY));
  // 503 says "send traffic elsewhere": a balancer's health check should use this one.
  app.get("/readyz", async (c) => {
    const r = await readiness.check();
    c.header("Cache-Control", "no-store");
    return r.ready
      ? c.json({ status: "ready", ms: r.ms })
      : c.json({ status: "unavailable", reason: r.reason ?? "", ms: r.ms }, 503);
  });

  const auth = options.auth ?? null;
  const authMetrics = new AuthMetrics();
  const onFailure = (c: Context, reason: AuthFailure) => {
    authMetrics.failed(reason);
    // The user name only, never the credential; enough to see a guessing run in the log.
    const user = basicUser(c.req.header("authorization"));
    const what = reason === "missing" ? "missing" : reason === "throttled" ? "throttled" : "failed";
    logger.warn(`authentication ${what}`, {
      user: user ?? undefined,
      method: c.req.method,
      path: c.req.path,
    });
  };
  const signer = options.secret ? new Signer(options.secret) : Signer.random();
  // Sessions and share links are made on one instance and opened on any: their expiry is
  // set and judged on the store's clock, not on hosts' clocks that may be minutes apart.
  const vfsClock = options.vfs;
  const storeNow = vfsClock ? { now: () => vfsClock.storeNow() } : {};
  const sessions = new Sessions(signer, { ...storeNow, httpsOf: reachedOverHttps });
  // The peer address Deno.serve passes (Hono's `c.env`), or the proxy's word when trusted:
  // failed sign-ins are bounded per client (src/auth/password_gate.ts).
  const trustForwarded = options.trustForwarded ?? false;
  const clientOf = (c: Context): string => {
    const peer = (c.env as { remoteAddr?: { hostname?: unknown } } | undefined)?.remoteAddr
      ?.hostname;
    return clientKey(c.req.raw, typeof peer === "string" ? peer : null, trustForwarded);
  };
  const guard = (o: Omit<RequireAuthOptions, "onFailure" | "clientOf">) =>
    requireAuth(auth, { ...o, onFailure, clientOf });

  // Metrics show how busy the service is and what it stores: for an unlimited principal
  // unless configured public.
  if (!options.metricsPublic) app.use("/metrics", guard({ pathOf: () => "/" }));
  app.get("/metrics", async (c) =>
    c.body(
      options.metrics.render() + authMetrics.render() +
        (options.telemetry ? await options.telemetry.render() : ""),
      200,
      { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    ));

  if (options.vfs) {
    // One request, one scope: no metadata object is read twice while answering it (see
    // `Vfs.request`).
    const vfs = options.vfs;
    app.use("*", (_c, next) => vfs.request(next));
    // Request bodies streamed at once are bounded (`body_slots.ts`).
    const bodySlots = new BodySlots(options.bodiesAtOnce);
    app.use("*", (c, next) => withBodySlots(c, bodySlots, next));
    const bodyTimeoutMs = options.bodyTimeoutMs;
    if (bodyTimeoutMs !== undefined && bodyTimeoutMs !== BODY_IDLE_MS) {
      app.use("*", (c, next) => {
        setBodyIdleMs(c, bodyTimeoutMs);
        return next();
      });
    }
    // CORS first: a preflight carries no credentials, so it is answered before the auth
    // check, and only for the origins configured.
    const cors = corsFor(options.corsOrigins ?? []);
    if (cors) app.use(`${API_MOUNT}/*`, cors);
    // The browser UI calls the API and uploads with its session cookie (and CSRF token
    // for writes).
    app.use(`${API_MOUNT}/*`, guard({ pathOf: apiPathOf, sessions }));
    app.use(`${API_MOUNT}/*`, refuseStaging(apiPathOf));
    // A lock's token opens it only for whoever took it, through the API and uploads too.
    app.use(`${API_MOUNT}/*`, (c, next) => {
      setLockPrincipal(c, auth ? principalId(c.get("principal")) : null);
      return next();
    });
    // Uploads name their target in metadata: the endpoint checks it as a PUT to that path.
    const writable = (c: Context, path: string) => {
      const principal = c.get("principal");
      if (principal && !allows(principal, "PUT", path)) {
        throw new HttpError(403, "EACCES", `Not allowed to write "${path}"`);
      }
    };
    // Rendered listings (PROPFIND members, API listings), one bounded cache for both.
    const renders = new RenderCache();
    const tus = createTus(options.vfs, {
      mount: UPLOADS_MOUNT,
      scopeOf,
      checkTarget: writable,
      ...options.uploads,
      trustForwarded: options.trustForwarded ?? false,
    });
    app.route("/", tus.app);
    app.route(
      API_MOUNT,
      createRestApi(options.vfs, {
        scopeOf,
        principalOf: (c) => auth ? principalId(c.get("principal")) : null,
        renderCache: renders,
        checkTarget(c, path) {
          checkNotStaging(path);
          writable(c, path);
        },
      }),
    );

    app.use(
      `${DAV_MOUNT}/*`,
      guard({
        pathOf: (c) => davPathOf(requestPathOf(c.req.raw, DAV_PATHS), DAV_MOUNT)?.path ?? null,
        destinationOf: (c) => davDestinationOf(c, options.trustForwarded ?? false),
      }),
    );
    app.use(DAV_MOUNT, guard({ pathOf: () => "/" }));
    app.use(
      `${DAV_MOUNT}/*`,
      refuseStaging(
        (c) => davPathOf(requestPathOf(c.req.raw, DAV_PATHS), DAV_MOUNT)?.path ?? null,
        (c) => davDestinationOf(c, options.trustForwarded ?? false),
      ),
    );
    const dav = createWebDav(options.vfs, {
      mount: DAV_MOUNT,
      principalOf: (c) => auth ? principalId(c.get("principal")) : null,
      scopeOf,
      renderCache: renders,
      trustForwarded: options.trustForwarded ?? false,
      ...(options.davInfinityMax === undefined ? {} : { infinityMax: options.davInfinityMax }),
    });
    app.route(DAV_MOUNT, dav);
    // WebDAV clients probe the server's root before the mount (Windows' Mini-Redirector:
    // OPTIONS and PROPFIND of `/`); `src/webdav/server_root.ts`.
    app.route("/", serverRoot(DAV_MOUNT));

    // The browser UI at `/` (docs/ui.md); it reaches files only through the routes above.
    const ui = createUi(options.vfs, {
      auth,
      sessions,
      shares: new ShareTokens(signer, storeNow),
      guard: guard({ pathOf: () => null, sessions }),
      clientOf,
      isReserved: isStagingPath,
    });
    app.route("/", ui);
  }

  app.notFound((c) => c.json({ error: "not-found", message: "No such route" }, 404));
  // Errors outside the API's own handlers (a malformed path met by the auth middleware,
  // say) render the same problem documents; anything unexpected is a bare 500.
  app.onError((error, c) => problemResponse(c, error, null));
  return app as unknown as Hono;
}
