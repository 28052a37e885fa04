/**
 * WebDAV error responses: filesystem errors become the statuses RFC 4918 gives them, and
 * failed preconditions carry their `DAV:error` element.
 *
 * @module
 */

import { HttpError } from "../http/errors.ts";
import { type Errno, FsError } from "../vfs/mod.ts";
import { LockedError, LockTokenError } from "../vfs/locks.ts";

/** A WebDAV failure: a status, a message, and optionally a precondition element. */
export class DavError extends Error {
  readonly status: number;
  /** Local name of a `DAV:` precondition/postcondition element (RFC 4918 section 16). */
  readonly condition: string | null;
  /** Hrefs inside the condition element (for `lock-token-submitted`). */
  readonly hrefs: readonly string[];
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    message: string,
    options: { condition?: string; hrefs?: string[]; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = "DavError";
    this.status = status;
    this.condition = options.condition ?? null;
    this.hrefs = options.hrefs ?? [];
    this.headers = options.headers ?? {};
  }
}

/**
 * The status of each errno in WebDAV. Where the method changes the meaning (a missing
 * parent is 409 for PUT and MKCOL), the handler decides before this table is used.
 */
export const DAV_STATUS: Readonly<Record<Errno, number>> = {
  EPERM: 403,
  ENOENT: 404,
  EIO: 500,
  EBADF: 400,
  EAGAIN: 503,
  EACCES: 403,
  EBUSY: 423,
  EEXIST: 405,
  EXDEV: 502,
  ENOTDIR: 409,
  EISDIR: 409,
  EINVAL: 400,
  EFBIG: 413,
  ENOSPC: 507,
  EROFS: 403,
  EMLINK: 409,
  ERANGE: 416,
  ENAMETOOLONG: 414,
  ENOSYS: 501,
  ENOTEMPTY: 409,
  ELOOP: 508,
  ENODATA: 404,
  ENOTSUP: 501,
  ESTALE: 412,
};

/** The status for any thrown value (500 for the unexpected). */
export function statusOf(error: unknown): number {
  if (error instanceof DavError || error instanceof HttpError) return error.status;
  if (error instanceof LockedError) return 423;
  if (error instanceof LockTokenError) return 412;
  if (error instanceof FsError) return DAV_STATUS[error.code];
  if (error instanceof Error && "status" in error && typeof error.status === "number") {
    return error.status >= 400 && error.status < 500 ? error.status : 500;
  }
  return 500;
}

/** A short message safe to show: internals (EIO, unexpected errors) stay in the log. */
export function messageOf(error: unknown): string {
  const status = statusOf(error);
  if (status >= 500 && !(error instanceof DavError)) return "Internal error";
  return error instanceof Error ? error.message : String(error);
}
