/**
 * Composes the Hono application: health, metrics, and the front ends behind
 * authentication. Runtime-specific work (listening, reading the environment) stays in
 * `main.ts`, so tests drive this app with `app.request()` and no server.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import { allows, type Authenticator, type AuthEnv, requireAuth } from "./auth/mod.ts";
import { createRestApi, HttpError } from "./rest/mod.ts";
import { problemResponse } from "./rest/errors.ts";
import { fsPathBelow, mountNames, namesBelow, requestPathOf } from "./http/request_path.ts";
import { createWebDav, davPathOf, destinationPath } from "./webdav/mod.ts";
import { FsError } from "./vfs/mod.ts";
import type { ObjectStore, StoreMetrics } from "./store/mod.ts";
import type { Vfs } from "./vfs/mod.ts";

export interface AppOptions {
  readonly store: ObjectStore;
  readonly metrics: StoreMetrics;
  /** The filesystem the front ends serve; without it only health and metrics answer. */
  readonly vfs?: Vfs;
  /** Who may use the front ends; null lets everyone in (loopback without credentials). */
  readonly auth?: Authenticator | null;
}

/** Where WebDAV is mounted. */
const DAV_MOUNT = "/dav";
/** Where the HTTP API is mounted. */
const API_MOUNT = "/api/v1";

/**
 * The filesystem path a WebDAV COPY or MOVE writes to (its `Destination`), read by the same
 * function the handler uses; null when absent or not a path this server writes (the
 * handler answers those).
 */
function davDestinationOf(c: Context): string | null {
  const header = c.req.header("destination");
  if (header === undefined) return null;
  try {
    return destinationPath(header, new URL(c.req.url), DAV_MOUNT).path;
  } catch (error) {
    // A Destination with dot segments is refused here, not left to the handler.
    if (error instanceof FsError) throw error;
    return null;
  }
}

/** HTTP API routes that name a filesystem path after their own name. */
const API_PATH_ROUTES = new Set(["fs", "stat", "readlink", "xattr"]);
const API_NAMES = mountNames(API_MOUNT);

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
 * import { createApp } from "./app.ts";
 * import { MemoryStore, StoreMetrics } from "./store/mod.ts";
 * const app = createApp({ store: new MemoryStore(), metrics: new StoreMetrics() });
 * const res = await app.request("/healthz");
 * console.assert(res.status === 200);
 * ```
 */
export function createApp(options: AppOptions): Hono {
  // Routing matches the request path decoded and checked once (src/http/request_path.ts),
  // in a canonical spelling: the router, the auth check and the handlers all read that one
  // value, so a path the router sends to a front end is the path it acts on.
  const app = new Hono<AuthEnv>({
    getPath: (request) => {
      try {
        return requestPathOf(request).routePath;
      } catch {
        return "/"; // refused by the first middleware below
      }
    },
  });
  app.use("*", async (c, next) => {
    requestPathOf(c.req.raw); // throws EINVAL: rendered as 400 by onError
    await next();
  });

  app.get("/healthz", (c) => c.json({ status: "ok", store: options.store.kind }));

  app.get("/metrics", (c) =>
    c.body(options.metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }));

  if (options.vfs) {
    const auth = options.auth ?? null;
    app.use(`${API_MOUNT}/*`, requireAuth(auth, { pathOf: apiPathOf }));
    app.route(
      API_MOUNT,
      createRestApi(options.vfs, {
        scopeOf,
        checkTarget(c, path) {
          const principal = c.get("principal");
          if (principal && !allows(principal, "PUT", path)) {
            throw new HttpError(403, "EACCES", `Not allowed to write "${path}"`);
          }
        },
      }),
    );
  }

  if (options.vfs) {
    const auth = options.auth ?? null;
    app.use(
      "/dav/*",
      requireAuth(auth, {
        pathOf: (c) => davPathOf(requestPathOf(c.req.raw), DAV_MOUNT)?.path ?? null,
        destinationOf: davDestinationOf,
      }),
    );
    app.use("/dav", requireAuth(auth, { pathOf: () => "/" }));
    const dav = createWebDav(options.vfs, {
      mount: DAV_MOUNT,
      principalOf: (c) => auth ? c.get("principal")?.name ?? null : null,
      scopeOf,
    });
    app.route(DAV_MOUNT, dav);
  }

  app.notFound((c) => c.json({ error: "not-found", message: "No such route" }, 404));
  // Errors outside the API's own handlers (a malformed path met by the auth middleware,
  // say) render the same problem documents; anything unexpected is a bare 500.
  app.onError((error, c) => problemResponse(c, error, null));
  return app as unknown as Hono;
}
