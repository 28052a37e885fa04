/**
 * Resumable uploads: a tus 1.0.0 endpoint (core protocol; creation, creation-with-upload,
 * creation-defer-length, termination, expiration and checksum) whose uploads land in
 * place. Each PATCH is one offset write into a staging file in the filesystem itself, and
 * a finished upload moves to the path its metadata names with one atomic rename, so no
 * reader ever sees a half file at the target. Any instance can continue any upload. How
 * it works and why it is not built on `@tus/server`: `docs/tus.md`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "../vfs/mod.ts";
 * import { createTus } from "./mod.ts";
 * const vfs = await Vfs.open(new MemoryStore());
 * const app = new Hono().route("/", createTus(vfs, { mount: "/uploads" }).app);
 * const res = await app.request("/uploads/", {
 *   method: "POST",
 *   headers: {
 *     "tus-resumable": "1.0.0",
 *     "upload-length": "2",
 *     "upload-metadata": `filename ${btoa("hi.txt")}`,
 *   },
 * });
 * assert(res.status === 201 && res.headers.get("location") !== null);
 * ```
 *
 * @module
 */

import { type Context, Hono, type MiddlewareHandler } from "hono";
import { HttpError } from "../http/errors.ts";
import type { Vfs } from "../vfs/mod.ts";
import { registerTusRoutes } from "./routes.ts";
import { isStagingPath, STAGING_DIR, Uploads } from "./uploads.ts";

export { targetOf } from "./request.ts";
export { TUS_VERSION } from "./protocol.ts";
export {
  isStagingPath,
  SKEW_MARGIN_MS,
  STAGING_DIR,
  type Upload,
  UploadGone,
  type UploadRecord,
  Uploads,
} from "./uploads.ts";

/** Default time an unfinished upload is kept: 24 hours. */
export const DEFAULT_UPLOAD_EXPIRY_MS = 24 * 3600_000;

/** Headers a browser's tus client sends, and reads from the answers (for CORS). */
export const TUS_REQUEST_HEADERS = [
  "Tus-Resumable",
  "Upload-Length",
  "Upload-Defer-Length",
  "Upload-Offset",
  "Upload-Metadata",
  "Upload-Checksum",
  "Upload-Concat",
  "X-HTTP-Method-Override",
  "X-Requested-With",
];
export const TUS_RESPONSE_HEADERS = [
  "Tus-Resumable",
  "Tus-Version",
  "Tus-Extension",
  "Tus-Max-Size",
  "Tus-Checksum-Algorithm",
  "Upload-Offset",
  "Upload-Length",
  "Upload-Defer-Length",
  "Upload-Metadata",
  "Upload-Expires",
  "Location",
];

export interface TusOptions {
  /** Where the endpoint is mounted, e.g. "/api/v1/uploads" (used in `Location`). */
  readonly mount: string;
  /** How long an unfinished upload is kept (default 24 h). */
  readonly expiryMs?: number;
  /** The clock (default `Date.now`); expiry is judged with it. */
  readonly now?: () => number;
  /** The folder the request's principal may reach (default "/"). */
  readonly scopeOf?: (c: Context) => string;
  /** Throws (403) unless the request's principal may write `path` as a PUT would. */
  readonly checkTarget?: (c: Context, path: string) => void;
  /** Largest upload accepted (default 2^50 bytes, the filesystem's largest file). */
  readonly maxSize?: number;
  /** A creation starts a sweep of expired uploads when the last is this old (default 10 min). */
  readonly sweepEveryMs?: number;
  /**
   * Build `Location` from `Forwarded` / `X-Forwarded-Host` / `X-Forwarded-Proto` (default
   * false: from the request's own URL). Only for a reverse proxy that sets (overwrites)
   * them: otherwise they are the client's own words, and a `Location` built from them
   * points wherever the sender likes.
   */
  readonly trustForwarded?: boolean;
}

/**
 * Builds the endpoint over `vfs` (the whole filesystem: the staging area lives at its
 * root; targets go through the principal's scoped view). Its routes carry the whole
 * mount: mount `app` at "/".
 */
export function createTus(vfs: Vfs, options: TusOptions): { app: Hono; uploads: Uploads } {
  const uploads = new Uploads(vfs, {
    expiryMs: options.expiryMs ?? DEFAULT_UPLOAD_EXPIRY_MS,
    ...(options.now ? { now: options.now } : {}),
    ...(options.sweepEveryMs === undefined ? {} : { sweepEveryMs: options.sweepEveryMs }),
  });
  const app = new Hono();
  registerTusRoutes(app, uploads, {
    mount: options.mount,
    vfsOf: (c) => vfs.scoped(options.scopeOf?.(c) ?? "/"),
    scopeOf: (c) => options.scopeOf?.(c) ?? "/",
    checkTarget: options.checkTarget ?? (() => {}),
    maxSize: options.maxSize ?? 2 ** 50,
    trustForwarded: options.trustForwarded ?? false,
  });
  return { app, uploads };
}

/**
 * Refuses a second path (a rename's `to`, a COPY or MOVE `Destination`) in the staging
 * folder: 400.
 *
 * @throws {HttpError} 400.
 */
export function checkNotStaging(path: string): void {
  if (isStagingPath(path)) {
    throw new HttpError(400, "EINVAL", `${STAGING_DIR} is reserved for the server`);
  }
}

/**
 * Middleware for the other front ends: the staging folder is the server's, so a request
 * naming it (or anything below it) is answered 404 as if it did not exist, and one naming
 * it as its second path (`secondPathOf`) 400.
 */
export function refuseStaging(
  pathOf: (c: Context) => string | null,
  secondPathOf?: (c: Context) => string | null,
): MiddlewareHandler {
  return async (c, next) => {
    const path = pathOf(c);
    if (path !== null && isStagingPath(path)) {
      throw new HttpError(404, "ENOENT", "No such file or directory");
    }
    const second = secondPathOf?.(c) ?? null;
    if (second !== null) checkNotStaging(second);
    await next();
  };
}
