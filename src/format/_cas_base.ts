/**
 * What the parts of the CAS protocol (`cas.ts`) share: a version with its ETag, the check
 * that validates a decoded object, what a mutation decides, the two ways a CAS gives up, and
 * the backoff between attempts.
 *
 * @module
 */

import { StoreError } from "../store/types.ts";

/** A value together with the ETag of the object it was read from. */
export interface Versioned<T> {
  readonly value: T;
  readonly etag: string;
  /** Size of the stored object in bytes. */
  readonly size: number;
  /**
   * Length of the JSON the stored object decodes to (absent: `size`, an object stored
   * uncompressed). What a directory object is split by, and what the cache counts.
   */
  readonly decoded?: number;
  /** The object's write history, newest first (absent on objects written without one). */
  readonly writes?: readonly string[];
}

/** Validates a decoded object: returns what is wrong, or null. */
export type Check = (value: unknown) => string | null;

/**
 * What a mutation decided: write `value` (or delete the object with `null`), or nothing.
 * A delete is not conditional (S3 servers do not all honour a conditional DELETE): decide
 * it only for an object a CAS has already made dead, as `nlink` 0 does for an inode.
 */
export type Decision<T, R> =
  | { readonly write: T | null; readonly result: R }
  | { readonly result: R };

/**
 * A write's answer was lost and re-reading cannot tell whether it was applied: the object
 * was deleted, or changed more often since than its history reaches back. The operation
 * is not repeated (it may have happened); the caller hears the failure.
 */
export class OutcomeUnknownError extends StoreError {
  constructor(key: string, why: string, cause: unknown) {
    super("unknown", `The outcome of a write to "${key}" is unknown: ${why}`, {
      key,
      ambiguous: true,
      cause,
    });
    this.name = "OutcomeUnknownError";
  }
}

/**
 * True when `error` leaves open whether the write failing with it was applied: whoever
 * would undo what came before it (a link count, a directory object) must not, since the
 * write that relies on it may be there.
 */
export function outcomeUnknown(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof OutcomeUnknownError) return true;
  }
  return false;
}

/** Too many lost races in a row: the object is too contended right now. */
export class ContentionError extends Error {
  constructor(key: string, attempts: number) {
    super(`Gave up updating "${key}" after ${attempts} conflicting attempts`);
    this.name = "ContentionError";
  }
}

/** Jittered exponential backoff between CAS attempts: 1, 2, 4 … 64 ms ceilings. */
export function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(64, 2 ** (attempt - 1));
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}
