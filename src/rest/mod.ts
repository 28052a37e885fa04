/**
 * The HTTP file API: the filesystem over plain HTTP, meant to be mounted at `/api/v1`.
 *
 * - `/fs/<path>`: GET (bytes with ranges and conditionals, or a directory listing), HEAD,
 *   PUT (create or replace, streamed), PATCH (write at an offset, append), DELETE, and
 *   POST with a JSON `{ "op": ... }` for mkdir, rename, copy, links, attributes, xattrs;
 * - `/zip/<folder>/`: a folder (or `?name=` entries of it) as a zip, streamed;
 * - `/stat/<path>`, `/statfs`, `/readlink/<path>`, `/xattr/<path>`: metadata only;
 * - `/openapi.json`: the OpenAPI 3.1 description of all of the above.
 *
 * Every error is `application/problem+json` with the errno code (see `errors.ts`).
 *
 * @module
 */

import { type Context, Hono } from "hono";
import type { Vfs } from "../vfs/mod.ts";
import { RenderCache } from "../http/render_cache.ts";
import { HttpError, problemResponse } from "./errors.ts";
import { openApiDocument } from "./openapi.ts";
import { requestedPath } from "./path.ts";
import { registerPostRoutes } from "./post_ops.ts";
import { registerReadRoutes } from "./read_routes.ts";
import { registerWriteRoutes } from "./write_routes.ts";
import { registerZipRoutes } from "./zip.ts";

export { ERRNO_STATUS, HttpError, type Problem } from "./errors.ts";
export * from "./client.ts";
export { openApiDocument } from "./openapi.ts";

/** Options of {@linkcode createRestApi}. */
export interface RestApiOptions {
  /** Largest JSON body a POST operation accepts (default 64 KiB); larger is 413. */
  readonly maxJsonBytes?: number;
  /**
   * Called with the second path of a POST operation (`to` of rename, copy, link) before it
   * runs; throws (an {@linkcode HttpError}) when the requester may not write there.
   */
  readonly checkTarget?: (c: Context, path: string) => void;
  /**
   * The folder a request's caller may reach (default "/"): its paths, followed symlinks and
   * second paths must stay inside it (the VFS refuses anything else with EACCES).
   */
  readonly scopeOf?: (c: Context) => string;
  /** Who makes a request, as a principal id (`user:<name>`; part of the key of a kept listing). */
  readonly principalOf?: (c: Context) => string | null;
  /** Where rendered listings are kept (default: a cache of its own). */
  readonly renderCache?: RenderCache;
}

/** Methods each route pattern answers; anything else there is 405. */
const ALLOWED: Readonly<Record<string, string>> = {
  "/fs/*": "GET, HEAD, PUT, PATCH, DELETE, POST",
  "/stat/*": "GET, HEAD",
  "/statfs": "GET, HEAD",
  "/readlink/*": "GET, HEAD",
  "/xattr/*": "GET, HEAD",
  "/zip/*": "GET, HEAD",
  "/openapi.json": "GET, HEAD",
};

/**
 * Builds the API as a Hono sub-app; mount it with `app.route("/api/v1", createRestApi(vfs))`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Context, Hono } from "hono";
 * import { MemoryStore } from "../store/mod.ts";
 * import { Vfs } from "../vfs/mod.ts";
 * import { createRestApi } from "./mod.ts";
 * const app = new Hono().route("/api/v1", createRestApi(await Vfs.open(new MemoryStore())));
 * const put = await app.request("/api/v1/fs/hello.txt", { method: "PUT", body: "hi" });
 * assert(put.status === 201);
 * const get = await app.request("/api/v1/fs/hello.txt");
 * assert(await get.text() === "hi");
 * ```
 */
export function createRestApi(vfs: Vfs, options: RestApiOptions = {}): Hono {
  const app = new Hono();
  const vfsOf = (c: Context): Vfs => {
    const scope = options.scopeOf?.(c) ?? "/";
    return scope === "/" ? vfs : vfs.scoped(scope);
  };
  const renders = options.renderCache ?? new RenderCache();
  // What makes a listing differ besides its path and page: whose view it is.
  const viewOf = (c: Context) =>
    JSON.stringify([options.scopeOf?.(c) ?? "/", options.principalOf?.(c) ?? null]);
  registerReadRoutes(app, vfsOf, { renders, viewOf });
  registerWriteRoutes(app, vfsOf);
  registerZipRoutes(app, vfsOf);
  registerPostRoutes(app, vfsOf, {
    maxJsonBytes: options.maxJsonBytes ?? 64 * 1024,
    ...(options.checkTarget ? { checkTarget: options.checkTarget } : {}),
  });
  app.get("/openapi.json", (c) => c.json(openApiDocument));
  for (const [pattern, allow] of Object.entries(ALLOWED)) {
    app.all(pattern, () => {
      throw new HttpError(405, "ENOTSUP", "Method not allowed", { headers: { allow } });
    });
  }
  app.notFound((c) => problemResponse(c, new HttpError(404, "ENOENT", "No such route"), null));
  app.onError((error, c) => problemResponse(c, error, requestedPath(c.req.raw)));
  return app;
}
