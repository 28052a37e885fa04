/**
 * Filling the disk tier after a large read was answered straight from S3 (see
 * `RangeStreams.fill` in `range_stream.ts`): a second ranged GET of the blocks the
 * tier lacks, written one block file at a time while the next block arrives.
 *
 * @module
 */

import type { MemoryBudget } from "./budget.ts";
import { DISK_BLOCK, DiskCache } from "./disk_cache.ts";
import { blockEndOf, missingSegment, type SegmentSpan } from "./_segment.ts";

/** What a fill needs of its `RangeStreams`. */
export interface FillDeps {
  readonly disk: DiskCache;
  readonly budget: MemoryBudget | null;
  /** The largest ranged GET. */
  readonly getBytes: number;
  /** A GET body that brings nothing for this long ends the fill. */
  readonly stallMs: number;
  /** A reader of bytes `[from, to)` of the segment by one ranged GET, cancelled by `signal`. */
  readonly openRange: (
    from: number,
    to: number,
    signal: AbortSignal,
  ) => Promise<{ reader: ReadableStreamDefaultReader<Uint8Array>; detach: () => void }>;
}

/** Fills the tier with the whole blocks within bytes `[from, to)` of `segment` it lacks. */
export async function fillBlocks(
  deps: FillDeps,
  segment: SegmentSpan,
  from: number,
  to: number,
): Promise<void> {
  const { disk, budget } = deps;
  // Runs of whole blocks inside the range that the tier lacks, each at most getBytes;
  // at most half the tier's size from the range's start (more would only evict itself).
  const runs: { from: number; to: number }[] = [];
  const first = Math.ceil(from / DISK_BLOCK) * DISK_BLOCK;
  for (let k = first / DISK_BLOCK;; k++) {
    const start = k * DISK_BLOCK;
    const end = blockEndOf(start, segment.size);
    if (start >= to || end > to || end - first > disk.maxBytes / 2) break;
    if (disk.has(segment.id, k, end - start)) continue;
    const last = runs[runs.length - 1];
    if (last && last.to === start && end - last.from <= deps.getBytes) last.to = end;
    else runs.push({ from: start, to: end });
  }
  const stalled = new AbortController();
  const { signal } = stalled;
  for (const run of runs) {
    const { reader, detach } = await deps.openRange(run.from, run.to, signal);
    // The block being gathered starts at `at`; it holds its bytes in the budget.
    let block: Uint8Array | null = null;
    let at = run.from;
    let filled = 0;
    let writing: Promise<unknown> = Promise.resolve();
    try {
      for (;;) {
        const timer = setTimeout(() => stalled.abort(), deps.stallMs);
        const { done, value } = await reader.read().finally(() => clearTimeout(timer));
        if (done || signal.aborted) break;
        for (let used = 0; used < value.length;) {
          if (at >= run.to) throw missingSegment(segment);
          const length = blockEndOf(at, segment.size) - at;
          if (!block) {
            await budget?.acquire(length);
            block = DiskCache.allocate(length);
          }
          const n = Math.min(value.length - used, length - filled);
          block.set(value.subarray(used, used + n), filled);
          filled += n;
          used += n;
          if (filled === length) {
            // One block's file is written while the next one arrives.
            await writing;
            const index = at / DISK_BLOCK;
            const whole: Uint8Array = block;
            block = null;
            writing = disk.write(segment.id, index, whole).then(
              () => budget?.release(length),
              (error) => {
                budget?.release(length);
                throw error;
              },
            );
            writing.catch(() => {});
            at += length;
            filled = 0;
          }
        }
      }
      if (at !== run.to) throw missingSegment(segment);
      await writing;
    } finally {
      if (block) budget?.release(block.length);
      detach();
      await reader.cancel().catch(() => {});
      await writing.catch(() => {});
    }
  }
}
