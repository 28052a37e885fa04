/**
 * Streams of large reads: the pieces of a read (runs of segment bytes, small cached reads,
 * holes) are fetched a bounded distance ahead of the consumer and handed out in order, so
 * the next large ranged GETs (or disk-tier block reads) are on their way while the response
 * sends the current one. Bytes pass through as the GET delivers them (no copy), except
 * whole 1 MiB blocks (aligned in the segment) when a disk tier ({@linkcode DiskCache}) is
 * configured: those are gathered into one buffer that goes downstream and, off the reader's
 * critical path, to disk.
 *
 * Memory: every byte fetched ahead is taken from the process's {@linkcode MemoryBudget}
 * before its GET starts and given back as the consumer takes it (a part's
 * {@linkcode ChunkQueue}, in `read_parts.ts`), so readers wait (and the page cache evicts)
 * instead of growing the process.
 *
 * @module
 */

import { type ObjectStore, StoreError } from "../store/types.ts";
import type { MemoryBudget } from "./budget.ts";
import { DISK_BLOCK, DiskCache, type DiskCacheStats } from "./disk_cache.ts";
import { ChunkQueue, type Part, type Source } from "./read_parts.ts";
import { blockEndOf, missingSegment, type SegmentSpan } from "./_segment.ts";
import { fillBlocks } from "./_disk_fill.ts";

export { ChunkQueue, type Part, promisedPart, type Source, zerosPart } from "./read_parts.ts";
export type { SegmentSpan } from "./_segment.ts";

/** Tuning of a {@linkcode RangeStreams}. */
export interface RangeStreamOptions {
  /** Bytes of memory taken by fetches; GETs wait for them. */
  readonly budget?: MemoryBudget;
  /** The disk tier, if any. */
  readonly disk?: DiskCache | null;
  /** Largest ranged GET (default 16 MiB). */
  readonly getBytes?: number;
  /** Bytes fetched ahead of the consumer at most (default 32 MiB). */
  readonly aheadBytes?: number;
  /** Parts started ahead of the consumer at most (default 16). */
  readonly aheadParts?: number;
  /**
   * A disk-tier fill whose GET body brings nothing for this long gives up (default 60 s):
   * fills run one at a time, so a stalled one would hold up every later one.
   */
  readonly fillStallMs?: number;
}

/** Counters of a {@linkcode RangeStreams}. */
export interface RangeStreamStats {
  /** Ranged GETs issued. */
  readonly gets: number;
  /** Blocks served from the disk tier. */
  readonly diskBlocks: number;
}

/**
 * Makes the parts of large segment reads, and streams lists of parts with look-ahead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory.ts";
 * import { RangeStreams } from "./range_stream.ts";
 * const store = new MemoryStore();
 * await store.put("s/a", new Uint8Array(3 << 20).fill(9));
 * const streams = new RangeStreams(store);
 * const parts = streams.segmentParts({ id: "a", key: "s/a", size: 3 << 20 }, 5, (3 << 20) - 10);
 * let n = 0;
 * for await (const chunk of streams.stream(parts)) n += chunk.length;
 * assert(n === (3 << 20) - 10 && streams.stats().gets === 1);
 * ```
 */
export class RangeStreams {
  readonly #store: ObjectStore;
  readonly #budget: MemoryBudget | null;
  readonly #disk: DiskCache | null;
  readonly #getBytes: number;
  readonly #aheadBytes: number;
  readonly #aheadParts: number;
  readonly #fillStallMs: number;
  #gets = 0;
  #diskBlocks = 0;

  constructor(store: ObjectStore, options: RangeStreamOptions = {}) {
    this.#store = store;
    this.#budget = options.budget ?? null;
    this.#disk = options.disk ?? null;
    this.#getBytes = Math.max(DISK_BLOCK, options.getBytes ?? 16 << 20);
    this.#aheadBytes = options.aheadBytes ?? 32 << 20;
    this.#aheadParts = options.aheadParts ?? 16;
    this.#fillStallMs = options.fillStallMs ?? 60_000;
  }

  /** The largest ranged GET. */
  get getBytes(): number {
    return this.#getBytes;
  }

  /**
   * Bytes `[from, to)` of a segment as the body of one ranged GET, handed on untouched: a
   * body the runtime itself produces (fetch's) then goes out as an HTTP answer without any
   * JavaScript per chunk, which serving a large read through {@linkcode RangeStreams.stream}
   * costs (about as much time again as the GET itself, see docs/bench.md). Null, having
   * fetched nothing, when the disk tier holds every block of the range (the caller then
   * streams them from there, {@linkcode RangeStreams.segmentParts}) or the segment is
   * missing or shorter than asked (the caller then reads the usual way, which finds bytes
   * that compaction moved). Nothing is read ahead or held: the answer's own flow control
   * paces the GET, and no byte of it is taken from the memory budget. With a disk tier,
   * the caller hands the range to {@linkcode RangeStreams.fill} once the answer is sent.
   */
  async direct(
    segment: SegmentSpan,
    from: number,
    to: number,
  ): Promise<ReadableStream<Uint8Array> | null> {
    if (this.onDisk(segment, from, to)) return null;
    this.#gets++;
    const range = { start: from, end: to - 1 };
    const result = await this.#store.get(segment.key, { range, piped: true })
      .catch((error) => {
        if (error instanceof StoreError && error.kind === "not-found") return null;
        throw error;
      });
    if (result?.status !== "ok") return null;
    if (result.offset !== from || result.length !== to - from) {
      await result.body.cancel().catch(() => {});
      return null;
    }
    return result.body;
  }

  stats(): RangeStreamStats {
    return { gets: this.#gets, diskBlocks: this.#diskBlocks };
  }

  /** The disk tier's counters, if there is one. */
  diskStats(): DiskCacheStats | null {
    return this.#disk?.stats() ?? null;
  }

  /** Whether the disk tier has a file of every block bytes `[from, to)` of a segment touch. */
  onDisk(segment: SegmentSpan, from: number, to: number): boolean {
    const disk = this.#disk;
    if (!disk || from >= to) return false;
    for (let k = Math.floor(from / DISK_BLOCK); k * DISK_BLOCK < to; k++) {
      if (!disk.has(segment.id, k, blockEndOf(k * DISK_BLOCK, segment.size) - k * DISK_BLOCK)) {
        return false;
      }
    }
    return true;
  }

  /**
   * Fills the disk tier, in the background, with the whole blocks within bytes `[from, to)`
   * of a segment that it does not hold: for a range answered by {@linkcode RangeStreams.direct},
   * once the answer has been sent, so that the fill (a second GET of those bytes, one per
   * `getBytes`) competes with no reader for the CPU. At most half the tier's size is filled
   * from one range. One fill runs at a time (the tier's background jobs); each block it
   * holds (two at most: one being written, the next arriving) is taken from the memory
   * budget until its file is written. A fill whose segment is gone (GC), or whose GET body
   * stalls for `fillStallMs`, just stops. No-op without a disk tier.
   */
  fill(segment: SegmentSpan, from: number, to: number): void {
    const disk = this.#disk;
    if (!disk) return;
    disk.background(() =>
      fillBlocks(
        {
          disk,
          budget: this.#budget,
          getBytes: this.#getBytes,
          stallMs: this.#fillStallMs,
          openRange: (from, to, signal) => this.#openRange(segment, from, to, signal),
        },
        segment,
        from,
        to,
      )
    );
  }

  /**
   * The parts of bytes `[offset, offset + length)` of a segment: the 1 MiB blocks the disk
   * tier holds are read from it (one part each, a partly read block cut from its file);
   * the rest goes out as ranged GETs of at most `getBytes`, cut at block boundaries.
   */
  segmentParts(segment: SegmentSpan, offset: number, length: number): Part[] {
    const end = offset + length;
    if (offset < 0 || length <= 0 || end > segment.size) {
      throw new RangeError(
        `Cannot read ${length} bytes at ${offset} of a ${segment.size}-byte segment`,
      );
    }
    const parts: Part[] = [];
    let run: { from: number; to: number } | null = null;
    const flush = () => {
      if (run) parts.push(this.#getPart(segment, run.from, run.to));
      run = null;
    };
    for (let k = Math.floor(offset / DISK_BLOCK); k * DISK_BLOCK < end; k++) {
      const blockStart = k * DISK_BLOCK;
      const blockEnd = Math.min(blockStart + DISK_BLOCK, segment.size);
      const from = Math.max(offset, blockStart);
      const to = Math.min(end, blockEnd);
      if (this.#disk?.has(segment.id, k, blockEnd - blockStart)) {
        flush();
        parts.push(this.#diskPart(segment, k, from, to));
        continue;
      }
      if (run && run.to === from && to - run.from <= this.#getBytes) run.to = to;
      else {
        flush();
        run = { from, to };
      }
    }
    flush();
    return parts;
  }

  /**
   * Streams `parts` in order, starting each once the look-ahead reaches it (at most
   * `aheadBytes` and `aheadParts` ahead of the consumer). Stopping the iteration cancels
   * the parts started.
   */
  async *stream(parts: readonly Part[]): AsyncGenerator<Uint8Array> {
    const started = new Map<number, Source>();
    let next = 0;
    let ahead = 0;
    try {
      for (let i = 0; i < parts.length; i++) {
        while (
          next < parts.length &&
          (next === i ||
            (next - i < this.#aheadParts && ahead + parts[next]!.bytes <= this.#aheadBytes))
        ) {
          started.set(next, parts[next]!.start());
          ahead += parts[next]!.bytes;
          next++;
        }
        const source = started.get(i)!;
        for (;;) {
          const chunk = await source.next();
          if (chunk === null) break;
          yield chunk;
        }
        started.delete(i);
        ahead -= parts[i]!.bytes;
      }
    } finally {
      for (const source of started.values()) source.cancel();
      for (let k = next; k < parts.length; k++) parts[k]!.abandon?.();
    }
  }

  /**
   * One part per span of a segment, all fetched with one ranged GET from the first span's
   * start to the last one's end; the bytes between spans (at most a small gap: bytes a
   * later write shadowed) are read and dropped. Spans must be in increasing order. A
   * fragmented file (a base segment overwritten here and there) then costs one GET per
   * `getBytes` of its base instead of one per run between two overwrites. The GET waits
   * until the look-ahead has started the span its bytes are for.
   */
  sharedParts(segment: SegmentSpan, spans: readonly { from: number; to: number }[]): Part[] {
    const members = spans.map((span) => {
      let ready!: (queue: ChunkQueue) => void;
      const started = new Promise<ChunkQueue>((resolve) => ready = resolve);
      return { ...span, started, ready, queue: null as ChunkQueue | null };
    });
    const abort = new AbortController();
    let failure: { error: unknown } | null = null;
    let begun = false;
    const begin = () => {
      if (begun) return;
      begun = true;
      this.#fetchShared(segment, members, abort.signal).catch((error) => {
        failure = { error };
        for (const m of members) m.queue?.fail(error);
      });
    };
    return members.map((m) => ({
      bytes: m.to - m.from,
      start: () => {
        const queue = new ChunkQueue(this.#budget, m.to - m.from);
        queue.onCancel = () => abort.abort();
        m.queue = queue;
        if (failure) queue.fail(failure.error);
        m.ready(queue);
        begin();
        return queue;
      },
      abandon: () => abort.abort(),
    }));
  }

  async #fetchShared(
    segment: SegmentSpan,
    members: readonly { from: number; to: number; started: Promise<ChunkQueue> }[],
    signal: AbortSignal,
  ): Promise<void> {
    const from = members[0]!.from;
    const to = members[members.length - 1]!.to;
    const aborted = new Promise<never>((_, reject) => {
      signal.addEventListener("abort", () => reject(new DOMException("Aborted", "AbortError")));
    });
    aborted.catch(() => {});
    const missing = () => missingSegment(segment);
    let k = 0;
    let queue: ChunkQueue | null = await Promise.race([members[0]!.started, aborted]);
    await Promise.race([queue.acquired, aborted]);
    const { reader, detach } = await this.#openRange(segment, from, to, signal);
    try {
      let at = from;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (at + value.length > to) throw missing();
        for (let used = 0; used < value.length;) {
          const m = members[k]!;
          if (at < m.from) {
            const skip = Math.min(m.from - at, value.length - used);
            at += skip;
            used += skip;
            continue;
          }
          if (queue === null) {
            queue = await Promise.race([m.started, aborted]);
            await Promise.race([queue.acquired, aborted]);
          }
          const n = Math.min(m.to - at, value.length - used);
          queue.push(value.subarray(used, used + n));
          at += n;
          used += n;
          if (at === m.to) {
            queue.end();
            queue = null;
            k++;
          }
        }
      }
      if (at !== to) throw missing();
    } finally {
      detach();
    }
  }

  /** Bytes `[from, to)` of a segment with one ranged GET, cut into blocks as they arrive. */
  #getPart(segment: SegmentSpan, from: number, to: number): Part {
    return this.#part(to - from, (queue, signal) => this.#fetch(segment, from, to, queue, signal));
  }

  /**
   * Bytes `[from, to)` of block `index` from the disk tier (the whole block is read, and
   * held in the budget until taken); if its file turns out unusable, from S3.
   */
  #diskPart(segment: SegmentSpan, index: number, from: number, to: number): Part {
    const start = index * DISK_BLOCK;
    const length = blockEndOf(start, segment.size) - start;
    return this.#part(length, async (queue, signal) => {
      await queue.acquired;
      const block = await this.#disk!.get(segment.id, index, length);
      if (block) {
        this.#diskBlocks++;
        queue.push(block.subarray(from - start, to - start));
      } else await this.#fetch(segment, from, to, queue, signal, false);
    });
  }

  /**
   * A part of `bytes` whose queue `fill` fills once started: ended when `fill` resolves,
   * failed when it throws, and `fill`'s signal aborted when the reader cancels.
   */
  #part(bytes: number, fill: (queue: ChunkQueue, signal: AbortSignal) => Promise<void>): Part {
    return {
      bytes,
      start: () => {
        const queue = new ChunkQueue(this.#budget, bytes);
        const abort = new AbortController();
        queue.onCancel = () => abort.abort();
        fill(queue, abort.signal).then(() => queue.end(), (error) => queue.fail(error));
        return queue;
      },
    };
  }

  async #fetch(
    segment: SegmentSpan,
    from: number,
    to: number,
    queue: ChunkQueue,
    signal: AbortSignal,
    acquire = true,
  ): Promise<void> {
    if (acquire) await queue.acquired;
    if (signal.aborted) return;
    const { reader, detach } = await this.#openRange(segment, from, to, signal);
    const missing = () => missingSegment(segment);
    try {
      // Bytes pass through as they arrive, except whole blocks the disk tier may keep:
      // those are gathered into one buffer (a copy), which goes both downstream and to disk.
      let at = from;
      let block: Uint8Array | null = this.#blockAt(segment, at, to);
      let filled = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (signal.aborted) return;
        if (at + filled + value.length > to) throw missing();
        for (let used = 0; used < value.length;) {
          const blockEnd = Math.min(to, blockEndOf(at, segment.size));
          const n = Math.min(value.length - used, blockEnd - at - filled);
          if (block) block.set(value.subarray(used, used + n), filled);
          else queue.push(n === value.length ? value : value.subarray(used, used + n));
          filled += n;
          used += n;
          if (at + filled === blockEnd) {
            if (block) {
              this.#offerToDisk(segment, at, block);
              queue.push(block);
            }
            at = blockEnd;
            filled = 0;
            block = at < to ? this.#blockAt(segment, at, to) : null;
          }
        }
      }
      if (at !== to) throw missing();
    } finally {
      detach();
    }
  }

  /**
   * A reader of bytes `[from, to)` of a segment by one ranged GET, cancelled if `signal`
   * aborts (`detach` drops that hook); a missing or short segment is a not-found error.
   */
  async #openRange(
    segment: SegmentSpan,
    from: number,
    to: number,
    signal: AbortSignal,
  ): Promise<{ reader: ReadableStreamDefaultReader<Uint8Array>; detach: () => void }> {
    this.#gets++;
    const result = await this.#store.get(segment.key, {
      range: { start: from, end: to - 1 },
      signal,
    });
    if (result?.status !== "ok") throw missingSegment(segment);
    if (result.offset !== from || result.length !== to - from) {
      await result.body.cancel().catch(() => {});
      throw missingSegment(segment);
    }
    const reader = result.body.getReader();
    const cancel = () => reader.cancel().catch(() => {});
    signal.addEventListener("abort", cancel, { once: true });
    return { reader, detach: () => signal.removeEventListener("abort", cancel) };
  }

  /** A buffer for the block at `at` if the disk tier may keep it (whole, not cached yet). */
  #blockAt(segment: SegmentSpan, at: number, to: number): Uint8Array | null {
    const end = blockEndOf(at, segment.size);
    if (!this.#disk || at % DISK_BLOCK !== 0 || end > to) return null;
    if (this.#disk.has(segment.id, at / DISK_BLOCK, end - at)) return null;
    return DiskCache.allocate(end - at);
  }

  /** A whole block (aligned, full length) goes to the disk tier, if memory allows. */
  #offerToDisk(segment: SegmentSpan, at: number, block: Uint8Array): void {
    const disk = this.#disk;
    if (!disk || at % DISK_BLOCK !== 0 || block.length !== blockEndOf(at, segment.size) - at) {
      return;
    }
    const index = at / DISK_BLOCK;
    if (disk.has(segment.id, index, block.length)) return;
    // The queued block is memory until it is written: counted, or not cached.
    if (this.#budget && !this.#budget.tryAcquire(block.length)) {
      disk.put(segment.id, index, block, undefined, { dropOnly: true });
      return;
    }
    const queued = disk.put(segment.id, index, block, () => this.#budget?.release(block.length));
    if (!queued) this.#budget?.release(block.length);
  }
}
