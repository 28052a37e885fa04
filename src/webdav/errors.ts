/**
 * WebDAV error responses: filesystem errors become the statuses RFC 4918 gives them, and
 * failed preconditions carry their `DAV:error` element.
 *
 * @module
 */

import { ERRNO_STATUS, HttpError } from "../http/errors.ts";
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
 * Where WebDAV answers an errno differently from the HTTP file API, and why (RFC 4918
 * unless noted). These are the only differences from {@linkcode ERRNO_STATUS}.
 */
export const DAV_OVERRIDES = {
  /** A lock held elsewhere: 423 Locked (section 11.3). */
  EBUSY: 423,
  /** MKCOL on an existing resource: 405 Method Not Allowed (section 9.3.1). */
  EEXIST: 405,
  /** COPY/MOVE to another server or store: 502 Bad Gateway (sections 9.8.5, 9.9.4). */
  EXDEV: 502,
  /** An unsatisfiable range: 416 (RFC 9110 section 15.5.17), as clients of GET expect. */
  ERANGE: 416,
  /** A path too long to serve: 414 URI Too Long (RFC 9110 section 15.5.15). */
  ENAMETOOLONG: 414,
  /** A symlink loop met while walking a tree: 508 Loop Detected (RFC 5842 section 7.2). */
  ELOOP: 508,
  /** The resource changed under a conditional request: 412 (section 12.1). */
  ESTALE: 412,
} as const satisfies Partial<Record<Errno, number>>;

/**
 * The status of each errno in WebDAV: the shared table with RFC 4918's overrides. Where the
 * method changes the meaning (a missing parent is 409 for PUT and MKCOL), the handler
 * decides before this table is used.
 */
export const DAV_STATUS = {
  ...ERRNO_STATUS,
  ...DAV_OVERRIDES,
} as const satisfies Record<Errno, number>;

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

/**
 * A short message safe to show: internals (EIO, unexpected errors) stay in the log. Other
 * errnos say what happened whatever their status, as the HTTP API's problem documents do
 * (before: a symlink loop's 508, a 503 EAGAIN, said "Internal error").
 */
export function messageOf(error: unknown): string {
  const status = statusOf(error);
  const safe = error instanceof DavError || (error instanceof FsError && error.code !== "EIO");
  if (status >= 500 && !safe) return "Internal error";
  return error instanceof Error ? error.message : String(error);
}
