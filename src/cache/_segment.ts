/**
 * A segment as readers know it, and what its disk-tier blocks and a short answer for it are.
 *
 * @module
 */

import { StoreError } from "../store/types.ts";
import { DISK_BLOCK } from "./disk_cache.ts";

/** A segment as a reader knows it: id (names its disk blocks), object key and size. */
export interface SegmentSpan {
  readonly id: string;
  readonly key: string;
  readonly size: number;
}

/** Where the disk-tier block holding byte `at` of a segment of `size` bytes ends. */
export function blockEndOf(at: number, size: number): number {
  return Math.min((Math.floor(at / DISK_BLOCK) + 1) * DISK_BLOCK, size);
}

/** The error of a segment that is missing, or shorter than its page map says. */
export function missingSegment(segment: SegmentSpan): StoreError {
  return new StoreError("not-found", `Segment "${segment.key}" is missing or short`, {
    key: segment.key,
  });
}
