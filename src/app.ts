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
import { parseRawSegments } from "./http/path.ts";
import { createWebDav, davPathOf } from "./webdav/mod.ts";
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

/** The filesystem path a WebDAV COPY or MOVE writes to (its `Destination`). */
function davDestinationOf(c: Context): string | null {
  const header = c.req.header("destination");
  if (header === undefined) return null;
  try {
    return davPathOf(new URL(header, c.req.url), DAV_MOUNT)?.path ?? null;
  } catch {
    return null;
  }
}

/** HTTP API routes that name a filesystem path after their prefix. */
const API_PATH_ROUTES = ["/api/v1/fs", "/api/v1/stat", "/api/v1/readlink", "/api/v1/xattr"];

/** The filesystem path an API request acts on (null for routes that name none). */
function apiPathOf(c: Context): string | null {
  const pathname = new URL(c.req.url).pathname;
  const route = API_PATH_ROUTES.find((r) => pathname === r || pathname.startsWith(r + "/"));
  if (!route) return null;
  return parseRawSegments(pathname.slice(route.length + 1).split("/")).path;
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
  const app = new Hono<AuthEnv>();

  app.get("/healthz", (c) => c.json({ status: "ok", store: options.store.kind }));

  app.get("/metrics", (c) =>
    c.body(options.metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }));

  if (options.vfs) {
    const auth = options.auth ?? null;
    app.use("/api/v1/*", requireAuth(auth, { pathOf: apiPathOf }));
    app.route(
      "/api/v1",
      createRestApi(options.vfs, {
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
        pathOf: (c) => davPathOf(new URL(c.req.url), DAV_MOUNT)?.path ?? null,
        destinationOf: davDestinationOf,
      }),
    );
    app.use("/dav", requireAuth(auth, { pathOf: () => "/" }));
    const dav = createWebDav(options.vfs, {
      mount: DAV_MOUNT,
      principalOf: (c) => auth ? c.get("principal")?.name ?? null : null,
    });
    app.route(DAV_MOUNT, dav);
  }

  app.notFound((c) => c.json({ error: "not-found", message: "No such route" }, 404));
  // Errors outside the API's own handlers (a malformed path met by the auth middleware,
  // say) render the same problem documents; anything unexpected is a bare 500.
  app.onError((error, c) => problemResponse(c, error, null));
  return app as unknown as Hono;
}
