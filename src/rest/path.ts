/**
 * Filesystem paths from request URLs and JSON bodies. The URL path is taken raw (before any
 * decoding by the router), split on "/", and each segment percent-decoded exactly once, so
 * an encoded "%2F" can never become a separator and "%252e" stays the name "%2e". The VFS
 * then only ever sees a clean absolute path.
 *
 * @module
 */

import type { Context } from "hono";
import type { FsPath } from "../http/path.ts";
import { fsPathBelow, mountNames, requestPathOf } from "../http/request_path.ts";
import { FsError, isFsError, type Vfs } from "../vfs/mod.ts";
import { HttpError } from "../http/errors.ts";

/** The filesystem path each request named, for error documents. */
const requested = new WeakMap<Request, string>();

/** The filesystem path a request named, once {@linkcode fsPathOf} parsed it. */
export function requestedPath(request: Request): string | null {
  return requested.get(request) ?? null;
}

/**
 * The filesystem path of a request to a route ending in "/*": the names of the request's
 * one decoded path (`src/http/request_path.ts`) below the route's own names, compared
 * name by name. Also records it for error rendering.
 *
 * @throws {FsError} EINVAL when the request path is not clean or not under the route.
 */
export function fsPathOf(c: Context): FsPath {
  const route = mountNames(c.req.routePath.replace(/\/\*$/, ""));
  const parsed = fsPathBelow(requestPathOf(c.req.raw), route);
  if (parsed === null) throw new FsError("EINVAL", "The path is not under this route");
  requested.set(c.req.raw, parsed.path);
  return parsed;
}

/**
 * The path of a request that must name what is there: a trailing slash names a directory, so
 * "f/" of a file is 404 (ENOTDIR, as open(2) says and nginx answers). Before session 16 the
 * slash was dropped and GET answered the file, DELETE removed it. A trailing slash on PUT
 * means "make a directory" and is read there.
 */
export async function namedPathOf(c: Context, vfs: Vfs): Promise<string> {
  const { path, trailingSlash } = fsPathOf(c);
  if (!trailingSlash || path === "/") return path;
  const named = await vfs.getattrOrNull(path).catch((error) => {
    if (isFsError(error, "ENOTDIR")) return null;
    throw error;
  });
  if (named) checkSlash(named, true);
  return path;
}

/** What {@linkcode namedPathOf} checks, for a handler that has the stat already. */
export function checkSlash(stat: { readonly type: string }, trailingSlash: boolean): void {
  if (trailingSlash && stat.type !== "directory") {
    throw new HttpError(404, "ENOTDIR", "Not a directory: the path ends with a slash");
  }
}
