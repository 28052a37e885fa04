/**
 * WebDAV class 1 and 2 (RFC 4918) over the filesystem, meant to be mounted at `/dav`.
 *
 * - content: OPTIONS, GET/HEAD, PUT (streamed; `Content-Range` writes at an offset),
 *   DELETE (trees, 207 on partial failure), MKCOL;
 * - namespace: COPY and MOVE (atomic renames of files and whole trees);
 * - properties: PROPFIND (Depth 0 and 1) and PROPPATCH (dead properties as xattrs);
 * - locks: LOCK and UNLOCK, kept in the bucket so every instance enforces them.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import type { Vfs } from "../vfs/mod.ts";
import { copyMoveMethod } from "./copymove.ts";
import {
  ALLOW,
  deleteMethod,
  getMethod,
  mkcolMethod,
  optionsMethod,
  putMethod,
} from "./content.ts";
import { DavError, messageOf, statusOf } from "./errors.ts";
import { lockMethod, unlockMethod } from "./locking.ts";
import { davPathOf, hrefOf } from "./paths.ts";
import { errorBody } from "./props.ts";
import { propfindMethod, proppatchMethod } from "./propmethods.ts";
import { type DavRequest, statOrNull } from "./request.ts";
import { conditionalHeaders, evaluatePreconditions, unconditional } from "../http/preconditions.ts";
import { HttpError, RETRY_AFTER_SECONDS } from "../http/errors.ts";
import { RenderCache } from "../http/render_cache.ts";
import { StoredProps } from "./stored_props.ts";
import { forwardedOf } from "../http/forwarded.ts";
import { requestPathOf } from "../http/request_path.ts";
import { LockedError } from "../vfs/locks.ts";

export { davPathOf, destinationPath } from "./paths.ts";
export { serverRoot } from "./server_root.ts";

/** Options of {@linkcode createWebDav}. */
export interface WebDavOptions {
  /** Where the app is mounted (default "/dav"). */
  readonly mount?: string;
  /** Largest XML request body (default 1 MiB); larger is 413. */
  readonly maxXmlBytes?: number;
  /**
   * Who makes a request, as a principal id (`user:<name>`, `token:<name>`: a user and a token
   * may share a name), recorded in the locks it takes.
   */
  readonly principalOf?: (c: Context) => string | null;
  /**
   * The folder a request's caller may reach (default "/"): its paths, followed symlinks and
   * second paths must stay inside it (the VFS refuses anything else with EACCES).
   */
  readonly scopeOf?: (c: Context) => string;
  /** Most members a `PROPFIND Depth: infinity` answers (default 10,000); more is 403. */
  readonly infinityMax?: number;
  /** Where rendered PROPFIND listings are kept (default: a cache of its own). */
  readonly renderCache?: RenderCache;
  /**
   * A reverse proxy in front sets `Forwarded` / `X-Forwarded-Host` (default false): a
   * `Destination` naming the host it forwarded is this server too (before session 16 it
   * was 502 when the proxy rewrote `Host`).
   */
  readonly trustForwarded?: boolean;
}

type Handler = (req: DavRequest) => Response | Promise<Response>;

const METHODS: Readonly<Record<string, Handler>> = {
  OPTIONS: optionsMethod,
  GET: getMethod,
  HEAD: getMethod,
  PUT: putMethod,
  DELETE: deleteMethod,
  MKCOL: mkcolMethod,
  COPY: (req) => copyMoveMethod(req, false),
  MOVE: (req) => copyMoveMethod(req, true),
  PROPFIND: propfindMethod,
  PROPPATCH: proppatchMethod,
  LOCK: lockMethod,
  UNLOCK: unlockMethod,
};

/**
 * Methods whose `If-Match`, `If-None-Match` and `If-Unmodified-Since` are evaluated here,
 * against the request's resource, before the method runs (RFC 9110 section 13.2: every
 * method that changes state). GET, HEAD, PUT, DELETE, COPY and MOVE evaluate their own,
 * against the version they act on.
 */
const PRECONDITIONED = new Set(["MKCOL", "PROPPATCH", "LOCK", "UNLOCK"]);
/** Methods that decide themselves what a trailing slash on their target means. */
const SLASH_DECIDED = new Set(["PUT", "MKCOL", "OPTIONS"]);

/**
 * Whether the method fails whatever its preconditions say: a MKCOL where something exists
 * (405), a PROPPATCH where nothing does (404). RFC 9110 section 13.2.1: a server ignores
 * the preconditions when the request without them would not be answered 2xx or 412 (before
 * session 16: 412, which told the client its condition was the trouble). LOCK creates what
 * is missing, and UNLOCK may release a lock on an unmapped path: both are still judged.
 */
function answeredRegardless(method: string, exists: boolean): boolean {
  return method === "MKCOL" ? exists : method === "PROPPATCH" && !exists;
}

/**
 * Builds the WebDAV app; mount it with `app.route("/dav", createWebDav(vfs))`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { MemoryStore } from "../store/mod.ts";
 * import { Vfs } from "../vfs/mod.ts";
 * import { createWebDav } from "./mod.ts";
 * const app = new Hono().route("/dav", createWebDav(await Vfs.open(new MemoryStore())));
 * const put = await app.request("/dav/hello.txt", { method: "PUT", body: "hi" });
 * assert(put.status === 201);
 * const res = await app.request("/dav/", { method: "PROPFIND", headers: { depth: "1" } });
 * assert(res.status === 207);
 * ```
 */
export function createWebDav(vfs: Vfs, options: WebDavOptions = {}): Hono {
  const mount = options.mount ?? "/dav";
  const maxXmlBytes = options.maxXmlBytes ?? 1024 * 1024;
  const renders = options.renderCache ?? new RenderCache();
  const storedProps = new StoredProps();
  const app = new Hono();
  app.all("*", async (c) => {
    const handler = METHODS[c.req.method];
    if (!handler) {
      throw new DavError(405, `${c.req.method} is not supported`, { headers: { allow: ALLOW } });
    }
    // The path decoded once for the whole service (a fragment, dot segments or a bad
    // escape are 400 there; empty segments are merged, as Apache and nginx do); the URL
    // object is only for the host and the query.
    const parsed = davPathOf(requestPathOf(c.req.raw, { mergeSlashes: true }), mount);
    if (!parsed) throw new DavError(404, "Not under the WebDAV mount");
    const scope = options.scopeOf?.(c) ?? "/";
    const view = scope === "/" ? vfs : vfs.scoped(scope);
    // A trailing slash names a collection: "f/" of a file is ENOTDIR (open(2)), and Apache
    // and nginx answer 404. Before session 16 the slash was dropped and every method acted
    // on the file. PUT and MKCOL decide on the slash themselves (405).
    if (parsed.trailingSlash && parsed.path !== "/" && !SLASH_DECIDED.has(c.req.method)) {
      const named = await statOrNull(view, parsed.path, { follow: true });
      if (named && named.type !== "directory") {
        throw new DavError(404, "Not a collection: the name ends with a slash");
      }
    }
    if (PRECONDITIONED.has(c.req.method)) {
      const conditions = conditionalHeaders(c.req.raw.headers);
      if (!unconditional(conditions)) {
        const current = await statOrNull(view, parsed.path);
        if (!answeredRegardless(c.req.method, current !== null)) {
          evaluatePreconditions(conditions, current, false);
        }
      }
    }
    return await handler({
      c,
      vfs: view,
      locks: vfs.locks,
      url: new URL(c.req.url),
      mount,
      scope,
      path: parsed.path,
      trailingSlash: parsed.trailingSlash,
      maxXmlBytes,
      davInfinityMax: options.infinityMax ?? 10_000,
      principal: options.principalOf?.(c) ?? null,
      renders,
      storedProps,
      forwardedHost: options.trustForwarded ? forwardedOf(c.req.raw.headers).host : null,
    });
  });
  app.onError((error, c) => errorResponse(c, error, mount));
  return app;
}

/** Renders any failure: a status, and a `DAV:error` body for precondition failures. */
export function errorResponse(c: Context, error: unknown, mount: string): Response {
  const status = statusOf(error);
  // A DavError is a deliberate answer (502 for a foreign Destination): not worth a log line.
  if (status >= 500 && !(error instanceof DavError)) console.error(error);
  const headers: Record<string, string> = error instanceof DavError || error instanceof HttpError
    ? { ...error.headers }
    : {};
  // As the HTTP API does: a client that honours it waits before sending again.
  if (status === 503) headers["retry-after"] ??= String(RETRY_AFTER_SECONDS);
  let condition = error instanceof DavError ? error.condition : null;
  let hrefs = error instanceof DavError ? [...error.hrefs] : [];
  if (error instanceof LockedError) {
    condition = "lock-token-submitted";
    // Encoded as every other href, a collection's (depth infinity) with its slash (before
    // session 16: encodeURIComponent, and never a slash).
    hrefs = [
      ...new Set(error.conflicts.map((l) => hrefOf(mount, l.root, l.depth === "infinity"))),
    ];
  }
  if (condition) {
    headers["content-type"] = "application/xml; charset=utf-8";
    return c.body(errorBody(condition, hrefs), status as 400, headers);
  }
  headers["content-type"] = "text/plain; charset=utf-8";
  const body = c.req.method === "HEAD" ? null : messageOf(error) + "\n";
  return new Response(body, { status, headers });
}
