/**
 * Errors of the HTTP file API: rendering of every failure as an RFC 9457
 * `application/problem+json` document, with the status from the one errno -> HTTP status
 * table in `src/http/errors.ts`.
 *
 * @module
 */

import type { Context } from "hono";
import { type Errno, FsError } from "../vfs/mod.ts";
import { ERRNO_STATUS, HttpError, RETRY_AFTER_SECONDS } from "../http/errors.ts";

export { badRequest, ERRNO_STATUS, HttpError, preconditionFailed } from "../http/errors.ts";

/** Short titles for problem documents, one per errno. */
export const ERRNO_TITLE = {
  EPERM: "Operation not permitted",
  ENOENT: "No such file or directory",
  EIO: "Input/output error",
  EBADF: "Bad file descriptor",
  EAGAIN: "Resource temporarily unavailable",
  EACCES: "Permission denied",
  EBUSY: "Device or resource busy",
  EEXIST: "File exists",
  EXDEV: "Invalid cross-device link",
  ENOTDIR: "Not a directory",
  EISDIR: "Is a directory",
  EINVAL: "Invalid argument",
  EFBIG: "File too large",
  ENOSPC: "No space left on device",
  EROFS: "Read-only file system",
  EMLINK: "Too many links",
  ERANGE: "Result out of range",
  ENAMETOOLONG: "File name too long",
  ENOSYS: "Function not implemented",
  ENOTEMPTY: "Directory not empty",
  ELOOP: "Too many levels of symbolic links",
  ENODATA: "No data available",
  ENOTSUP: "Operation not supported",
  ETIMEDOUT: "Timed out",
  ESTALE: "Stale file handle",
} as const satisfies Record<Errno, string>;

/** Seconds a client should wait before retrying after EAGAIN. */

/** The body of every error response (RFC 9457). */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errno: Errno;
  readonly path: string | null;
}

/** Builds the problem document and headers for any thrown value. */
export function toProblem(
  error: unknown,
  path: string | null,
): { problem: Problem; headers: Record<string, string> } {
  let status = 500;
  let code: Errno = "EIO";
  let detail = "Internal error";
  let headers: Record<string, string> = {};
  let where = path;
  if (error instanceof HttpError) {
    status = error.status;
    code = error.code;
    headers = { ...error.headers };
    detail = error.message;
  } else if (error instanceof FsError) {
    code = error.code;
    status = ERRNO_STATUS[code];
    // EIO carries store internals (keys, SDK messages): keep them in the log only.
    if (code !== "EIO") detail = error.message;
    if (error.path?.startsWith("/")) where = error.path;
  }
  if (code === "EAGAIN") headers["retry-after"] = String(RETRY_AFTER_SECONDS);
  return {
    problem: {
      type: `urn:pagefs:errno:${code}`,
      title: ERRNO_TITLE[code],
      status,
      detail,
      errno: code,
      path: where,
    },
    headers,
  };
}

/** Renders `error` as a problem+json response. */
export function problemResponse(c: Context, error: unknown, path: string | null): Response {
  if (!(error instanceof HttpError) && (!(error instanceof FsError) || error.code === "EIO")) {
    console.error(error);
  }
  const { problem, headers } = toProblem(error, path);
  return c.body(JSON.stringify(problem), problem.status as 400, {
    ...headers,
    "content-type": "application/problem+json",
  });
}
