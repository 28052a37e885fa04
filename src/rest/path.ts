/**
 * Filesystem paths from request URLs and JSON bodies. The URL path is taken raw (before any
 * decoding by the router), split on "/", and each segment percent-decoded exactly once, so
 * an encoded "%2F" can never become a separator and "%252e" stays the name "%2e". The VFS
 * then only ever sees a clean absolute path.
 *
 * @module
 */

import type { Context } from "hono";
import { type FsPath, parseRawSegments } from "../http/path.ts";

/** The filesystem path each request named, for error documents. */
const requested = new WeakMap<Request, string>();

/** The filesystem path a request named, once {@linkcode fsPathOf} parsed it. */
export function requestedPath(request: Request): string | null {
  return requested.get(request) ?? null;
}

/**
 * The filesystem path of a request to a route ending in "/*": the raw URL path after the
 * route's prefix (wherever the app is mounted). Also records it for error rendering.
 */
export function fsPathOf(c: Context): FsPath {
  const prefix = c.req.routePath.replace(/\/\*$/, "");
  const depth = prefix.split("/").filter((s) => s !== "").length;
  const pathname = new URL(c.req.url).pathname;
  const raw = pathname.split("/").slice(1 + depth);
  const parsed = parseRawSegments(raw);
  requested.set(c.req.raw, parsed.path);
  return parsed;
}
