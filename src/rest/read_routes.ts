/**
 * Routes that read: file bytes (GET/HEAD with ranges and conditionals), directory
 * listings, and attributes without content (stat, statfs, readlink, xattrs).
 *
 * @module
 */

import type { Context, Hono } from "hono";
import { isFsError, type Stat, type Vfs } from "../vfs/mod.ts";
import { HttpError } from "./errors.ts";
import { RenderCache, sliced } from "../http/render_cache.ts";
import { queryFlag, queryUint } from "../http/input.ts";
import { answer } from "../http/answer.ts";
import { fileBody } from "../http/file_body.ts";
import { contentTypeOf } from "../http/media_types.ts";
import { checkSlash, fsPathOf } from "./path.ts";
import {
  conditionalHeaders,
  etagOf,
  evaluatePreconditions,
  evaluateUnvalidated,
  validatorHeaders,
} from "../http/preconditions.ts";
import { requestedSpan } from "../http/ranges.ts";
import { entryJson, type ListingJson, statJson } from "./render.ts";
import { markStreamedByRuntime } from "../observe/request_log.ts";

/** Listing pages hold at most this many entries. */
export const LIST_LIMIT_MAX = 10_000;
const LIST_LIMIT_DEFAULT = 1_000;

/** Attempts to stream one consistent version when the file changes under the request. */
const READ_ATTEMPTS = 3;

/** Registers the reading routes on `app`. */
/** Rendered listings kept, and what besides the request names a listing's view. */
export interface Listings {
  readonly renders: RenderCache;
  readonly viewOf: (c: Context) => string;
}

export function registerReadRoutes(
  app: Hono,
  vfsOf: (c: Context) => Vfs,
  listings: Listings = { renders: new RenderCache(), viewOf: () => "" },
): void {
  app.get("/fs/*", (c) => getFs(c, vfsOf(c), listings));
  app.get("/stat/*", async (c) => {
    const vfs = vfsOf(c);
    const { path } = fsPathOf(c);
    const stat = queryFlag(c, "follow") ? await vfs.getattr(path) : await vfs.lookup(path);
    return c.json(statJson(path, stat), 200, { etag: etagOf(stat) });
  });
  app.get("/statfs", async (c) => c.json(await vfsOf(c).statfs()));
  app.get("/readlink/*", async (c) => {
    const vfs = vfsOf(c);
    const { path } = fsPathOf(c);
    return c.json({ path, target: await vfs.readlink(path) });
  });
  app.get("/xattr/*", async (c) => {
    const vfs = vfsOf(c);
    const { path } = fsPathOf(c);
    const name = c.req.query("name");
    if (name === undefined) return c.json({ path, names: await vfs.listxattr(path) });
    return c.json({ path, name, value: (await vfs.getxattr(path, name)).toBase64() });
  });
}

async function getFs(c: Context, vfs: Vfs, listings: Listings): Promise<Response> {
  // The stat read here says whether a trailing slash names a directory (no second look).
  const { path, trailingSlash } = fsPathOf(c);
  for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
    const stat = await vfs.getattr(path);
    checkSlash(stat, trailingSlash);
    if (stat.type === "directory") {
      // Between the stat and the listing the path may have come to name a file (a symlink
      // to a directory renamed over by another instance): looked at again, not a 409.
      const listed = await listDirectory(c, vfs, path, listings).catch((error) => {
        if (isFsError(error, "ENOTDIR") && !trailingSlash) return null;
        throw error;
      });
      if (listed) return listed;
      continue;
    }
    const response = await readFile(c, vfs, path, stat);
    if (response) return response;
  }
  throw new HttpError(503, "EAGAIN", "The file changed during every read attempt");
}

/** Answers a file GET or HEAD for version `stat`; null if the file changed meanwhile. */
async function readFile(
  c: Context,
  vfs: Vfs,
  path: string,
  stat: Stat,
): Promise<Response | null> {
  const headers: Record<string, string> = {
    ...validatorHeaders(stat),
    "content-type": contentTypeOf(path),
    // Uploaded HTML or SVG must not run script with this origin's credentials.
    "content-security-policy": "sandbox",
    "x-content-type-options": "nosniff",
  };
  if (evaluatePreconditions(conditionalHeaders(c.req.raw.headers), stat, true) === "not-modified") {
    return answer(null, 304, headers);
  }
  const { offset, length, status, headers: span } = requestedSpan(c.req.raw, stat);
  Object.assign(headers, span);
  if (c.req.method === "HEAD") return answer(null, status, headers);
  const read = await fileBody(vfs, path, stat, { offset, length });
  if (!read) return null;
  if (read.direct) markStreamedByRuntime(c, read.sent);
  return answer(read.body, status, headers);
}

async function listDirectory(
  c: Context,
  vfs: Vfs,
  path: string,
  listings: Listings,
): Promise<Response> {
  const limit = queryUint(c, "limit") ?? LIST_LIMIT_DEFAULT;
  if (limit < 1 || limit > LIST_LIMIT_MAX) {
    throw new HttpError(400, "EINVAL", `limit must be between 1 and ${LIST_LIMIT_MAX}`);
  }
  const headers = { "cache-control": "no-cache", "content-type": "application/json" };
  if (evaluateUnvalidated(conditionalHeaders(c.req.raw.headers)) === "not-modified") {
    return c.body(null, 304, { "cache-control": "no-cache" });
  }
  if (c.req.method === "HEAD") return c.body(null, 200, headers);
  const cursor = c.req.query("cursor");
  const { renders } = listings;
  // Read and rendered a few at a time (the page and its text are held meanwhile); a page
  // rendered before from the same versions (same view, path, cursor, limit) is sent as it
  // was, without a copy per request.
  const chunks = await renders.exclusive(async () => {
    const page = await vfs.readdir(path, { limit, ...(cursor ? { cursor } : {}) });
    const key = JSON.stringify([listings.viewOf(c), path, limit, cursor ?? null]);
    const kept = page.version ? renders.get(key, page.version) : null;
    if (kept) return kept;
    const listing: ListingJson = {
      path,
      entries: page.entries.map(entryJson),
      cursor: page.cursor,
    };
    const bytes = new TextEncoder().encode(JSON.stringify(listing));
    return (page.version ? renders.set(key, page.version, [bytes]) : null) ?? [bytes];
  });
  const length = String(chunks.reduce((n, chunk) => n + chunk.length, 0));
  return c.body(sliced(chunks), 200, { ...headers, "content-length": length });
}
