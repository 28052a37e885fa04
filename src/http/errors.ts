/**
 * Errors of the HTTP layer shared by the front ends: the one errno -> HTTP status table
 * (WebDAV applies RFC 4918's overrides on top of it, nothing else), and errors decided by
 * the HTTP layer itself, each with a status and the errno closest to its meaning.
 *
 * @module
 */

import type { Errno } from "../vfs/mod.ts";

/**
 * The HTTP status for each errno. The compiler checks that every errno has one.
 * Both front ends use this table; WebDAV overrides a few entries where RFC 4918 says so
 * (`DAV_OVERRIDES` in `src/webdav/errors.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERRNO_STATUS } from "./errors.ts";
 * assert(ERRNO_STATUS.ENOENT === 404);
 * assert(ERRNO_STATUS.EAGAIN === 503);
 * ```
 */
export const ERRNO_STATUS = {
  EPERM: 403,
  ENOENT: 404,
  EIO: 500,
  EBADF: 400,
  EAGAIN: 503,
  EACCES: 403,
  EBUSY: 409,
  EEXIST: 409,
  EXDEV: 409,
  ENOTDIR: 409,
  EISDIR: 409,
  EINVAL: 400,
  EFBIG: 413,
  ENOSPC: 507,
  EROFS: 403,
  EMLINK: 409,
  ERANGE: 400,
  ENAMETOOLONG: 400,
  ENOSYS: 501,
  ENOTEMPTY: 409,
  ELOOP: 400,
  ENODATA: 404,
  ENOTSUP: 501,
  // A request body that went silent (PAGEFS_BODY_TIMEOUT_MS): 408 Request Timeout.
  ETIMEDOUT: 408,
  ESTALE: 409,
} as const satisfies Record<Errno, number>;

/**
 * The `Retry-After` of a 503 (EAGAIN, contention that passes): both front ends send it, and
 * clients that honour it (rclone, the browser UI) wait that long before sending again.
 */
export const RETRY_AFTER_SECONDS = 1;

/**
 * A failure decided by the HTTP layer itself (a failed precondition, an unsatisfiable
 * range, an unsupported media type) rather than by the filesystem. It still names the
 * errno closest to its meaning, so clients can switch on one field.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly code: Errno;
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    code: Errno,
    message: string,
    options: { headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = "HttpError";
    this.status = status;
    this.code = code;
    this.headers = options.headers ?? {};
  }
}

/** A 400 for malformed input: the errno is EINVAL. */
export function badRequest(message: string): HttpError {
  return new HttpError(400, "EINVAL", message);
}

/** A 412: a precondition header did not hold. */
export function preconditionFailed(message: string, code: Errno = "ESTALE"): HttpError {
  return new HttpError(412, code, message);
}
