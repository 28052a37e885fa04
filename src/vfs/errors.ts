/**
 * The one error type of the filesystem layer: every VFS operation fails with an
 * {@linkcode FsError} carrying a POSIX errno code. Front ends translate the code once,
 * through tables checked for completeness against {@linkcode ERRNO}.
 *
 * @module
 */

/** The errno codes PageFS uses, with their Linux numbers. */
export const ERRNO = {
  EPERM: 1,
  ENOENT: 2,
  EIO: 5,
  EBADF: 9,
  EAGAIN: 11,
  EACCES: 13,
  EBUSY: 16,
  EEXIST: 17,
  EXDEV: 18,
  ENOTDIR: 20,
  EISDIR: 21,
  EINVAL: 22,
  EFBIG: 27,
  ENOSPC: 28,
  EROFS: 30,
  EMLINK: 31,
  ERANGE: 34,
  ENAMETOOLONG: 36,
  ENOSYS: 38,
  ENOTEMPTY: 39,
  ELOOP: 40,
  ENODATA: 61,
  ENOTSUP: 95,
  ETIMEDOUT: 110,
  ESTALE: 116,
} as const;

export type Errno = keyof typeof ERRNO;

/**
 * A filesystem error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FsError } from "./errors.ts";
 * const error = new FsError("ENOENT", "No such file or directory", { path: "/a" });
 * assert(error.code === "ENOENT" && error.errno === 2);
 * ```
 */
export class FsError extends Error {
  readonly code: Errno;
  readonly path: string | undefined;

  constructor(code: Errno, message: string, options?: { path?: string; cause?: unknown }) {
    super(
      options?.path === undefined ? message : `${message}: "${options.path}"`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = "FsError";
    this.code = code;
    this.path = options?.path;
  }

  /** The Linux errno number. */
  get errno(): number {
    return ERRNO[this.code];
  }
}

/**
 * An optimistic write found the file changed since the caller's optimistic look
 * (`OpenOptions.expect`): nothing was written; decide again from fresh reads.
 */
export class ChangedError extends FsError {
  constructor(path?: string) {
    super("ESTALE", "Changed since the request looked", path === undefined ? {} : { path });
    this.name = "ChangedError";
  }
}

/** True when `error` is an {@linkcode FsError} with one of the codes. */
export function isFsError(error: unknown, ...codes: Errno[]): error is FsError {
  return error instanceof FsError && (codes.length === 0 || codes.includes(error.code));
}
