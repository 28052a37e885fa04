/**
 * Errors decided by the HTTP layer itself, shared by the front ends: each carries a status
 * and the errno closest to its meaning.
 *
 * @module
 */

import type { Errno } from "../vfs/mod.ts";

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
