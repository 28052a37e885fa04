/**
 * Writeback: turns dirty bytes into durable segment objects.
 *
 * Small commits are group-committed: the first one goes out at once; commits that arrive
 * while segment PUTs are in flight wait and then go out together as one segment, so many
 * concurrent small writes cost one PUT, and a lone write waits for nothing. Each caller's
 * promise resolves only once the segment holding its bytes is in the store.
 *
 * Large writes get a dedicated segment streamed as a multipart upload
 * ({@linkcode Writeback.openStream}).
 *
 * @module
 */

import { concat } from "../store/_util.ts";
import type { ObjectStore, UploadedPart } from "../store/types.ts";
import { newId, segmentKey, segmentRef } from "../format/keys.ts";
import { SegmentWriter, type SegmentWriterOptions } from "../format/segment_writer.ts";
import type { PageCache } from "./page_cache.ts";
import { MemoryBudget } from "./budget.ts";
import { DirtyData } from "./dirty.ts";

/**
 * Writes of at most this many bytes are kept in the page cache once durable (a read after
 * a small write costs no GET); larger ones are written around it, so that a large upload
 * does not evict what readers use (reads of runs this long stream past the cache anyway).
 */
export const CACHE_WRITE_MAX = 256 * 1024;

/** Where committed bytes now live. */
export interface Placed {
  /** Segment reference for a page map ({@linkcode segmentRef}). */
  readonly segment: string;
  /** Offset of the bytes in the segment. */
  readonly offset: number;
}

export interface WritebackOptions extends SegmentWriterOptions {
  /** Group-committed segments going out at once (default 2). */
  readonly maxFlushes?: number;
  /** A pending group larger than this goes out without waiting (default 8 MiB). */
  readonly maxGroupBytes?: number;
  /** Told about each group commit once durable: writes that shared it, and its bytes. */
  readonly onGroupCommit?: (writes: number, bytes: number) => void;
  /** The process's memory budget for dirty data and part buffers (default: 256 MiB). */
  readonly budget?: MemoryBudget;
}

interface Waiter {
  bytes: Uint8Array;
  resolve: (placed: Placed) => void;
  reject: (error: unknown) => void;
}

/** A dedicated segment being streamed out. */
export interface SegmentStream {
  /** Appends bytes; resolves with their offset once buffered (backpressure applies). */
  append(bytes: Uint8Array): Promise<number>;
  readonly size: number;
  /** Makes the segment durable; returns its reference. */
  finish(): Promise<string>;
  abort(): Promise<void>;
}

/**
 * Group commit of dirty data into segments.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory.ts";
 * import { PageCache } from "./page_cache.ts";
 * import { Writeback } from "./writeback.ts";
 * const store = new MemoryStore();
 * const writeback = new Writeback(store, new PageCache(store, { budgetBytes: 1 << 20 }));
 * const [a, b] = await Promise.all([
 *   writeback.commit(new Uint8Array(10)),
 *   writeback.commit(new Uint8Array(20)),
 * ]);
 * assert(a.segment === b.segment && b.offset === 10);
 * ```
 */
export class Writeback {
  readonly #store: ObjectStore;
  readonly #cache: PageCache;
  readonly #options: WritebackOptions;
  readonly #maxFlushes: number;
  readonly #maxGroupBytes: number;
  readonly #budget: MemoryBudget;
  #pending: Waiter[] = [];
  #pendingBytes = 0;
  #flushing = 0;
  #scheduled = false;

  constructor(store: ObjectStore, cache: PageCache, options: WritebackOptions = {}) {
    this.#store = store;
    this.#cache = cache;
    this.#options = options;
    this.#maxFlushes = options.maxFlushes ?? 2;
    this.#maxGroupBytes = options.maxGroupBytes ?? 8 * 1024 * 1024;
    this.#budget = options.budget ?? new MemoryBudget(256 << 20);
  }

  /** Makes `bytes` durable in a (possibly shared) segment. */
  commit(bytes: Uint8Array): Promise<Placed> {
    return new Promise<Placed>((resolve, reject) => {
      this.#pending.push({ bytes, resolve, reject });
      this.#pendingBytes += bytes.length;
      this.#schedule();
    });
  }

  /** Opens the dirty data of one file handle, within the memory budget. */
  openDirty(): DirtyData {
    const { partSize, maxParts, maxInFlight } = this.#options;
    return new DirtyData({
      store: this.#store,
      budget: this.#budget,
      partSize: partSize ?? 8 * 1024 * 1024,
      ...(maxParts === undefined ? {} : { maxParts }),
      ...(maxInFlight === undefined ? {} : { maxInFlight }),
      commit: (bytes) => this.commit(bytes),
    });
  }

  /** Opens a dedicated segment for a large write (one segment: at most `maxParts` parts). */
  openStream(): SegmentStream {
    const id = newId();
    const key = segmentKey(id);
    // Not from the budget: a single long-running writer (compaction) whose first buffer
    // grows while held could wait for memory that only waiters hold. Its memory is bounded
    // by maxInFlight + 1 parts.
    const { partSize, maxInFlight, maxParts } = this.#options;
    const writer = new SegmentWriter(this.#store, key, {
      ...(partSize === undefined ? {} : { partSize }),
      ...(maxInFlight === undefined ? {} : { maxInFlight }),
      ...(maxParts === undefined ? {} : { maxParts }),
    });
    return {
      append: (bytes) => writer.append(bytes),
      get size() {
        return writer.size;
      },
      finish: async () => {
        await writer.finish();
        return segmentRef(id, writer.size);
      },
      abort: () => writer.abort(),
    };
  }

  #schedule(): void {
    if (this.#scheduled) return;
    // A full group need not wait for a free flush, but flushes stay bounded: each holds
    // a copy of its group, and under a spent memory budget every writer seals into here.
    const canFlush = this.#flushing < this.#maxFlushes ||
      (this.#pendingBytes >= this.#maxGroupBytes && this.#flushing < 2 * this.#maxFlushes);
    if (!canFlush || this.#pending.length === 0) return;
    this.#scheduled = true;
    // Commits issued in the same tick join this group.
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    // At most one group's worth (and at least one write) per segment.
    let take = 0;
    let bytes = 0;
    while (take < this.#pending.length && (take === 0 || bytes < this.#maxGroupBytes)) {
      bytes += this.#pending[take++]!.bytes.length;
    }
    // A group of several is copied into one body: that copy comes from the budget too. If
    // it has no room now, the first write goes alone (no copy), so commits never wait for
    // memory while they hold some.
    let copy = take > 1 ? bytes : 0;
    if (copy > 0 && !this.#budget.tryAcquire(copy)) {
      take = 1;
      bytes = this.#pending[0]!.bytes.length;
      copy = 0;
    }
    const group = this.#pending.splice(0, take);
    this.#pendingBytes -= bytes;
    this.#flushing++;
    this.#write(group).finally(() => {
      if (copy > 0) this.#budget.release(copy);
      this.#flushing--;
      this.#schedule();
    });
  }

  async #write(group: Waiter[]): Promise<void> {
    const id = newId();
    const key = segmentKey(id);
    const offsets: number[] = [];
    let size = 0;
    for (const w of group) {
      offsets.push(size);
      size += w.bytes.length;
    }
    try {
      const bytes = concat(group.map((w) => w.bytes), size);
      const partSize = this.#options.partSize ?? 8 * 1024 * 1024;
      if (size <= partSize) {
        await this.#store.put(key, bytes);
      } else {
        // The group's bytes are held already: its parts are views of them. (Copying them
        // into a segment writer's part buffers took up to three parts more, outside the
        // budget, since waiting for budget while holding the group could wait forever.)
        await putParts(this.#store, key, bytes, partSize);
      }
      // Just-written small data is read back cheaply (a read after a write costs no GET).
      // Runs of small writes are cached whole, so that blocks they share are cached too.
      let run = 0;
      group.forEach((w, i) => {
        const at = offsets[i]!;
        if (w.bytes.length > CACHE_WRITE_MAX) {
          if (run < at) this.#cache.fill(key, run, bytes.subarray(run, at), size);
          run = at + w.bytes.length;
        }
      });
      if (run < size) this.#cache.fill(key, run, bytes.subarray(run), size);
      const ref = segmentRef(id, size);
      group.forEach((w, i) => w.resolve({ segment: ref, offset: offsets[i]! }));
      this.#options.onGroupCommit?.(group.length, size);
    } catch (error) {
      for (const w of group) w.reject(error);
    }
  }
}

/**
 * Writes bytes already in memory as one multipart upload whose parts are views of them
 * (nothing is copied): CreateMultipartUpload, one UploadPart per part, all at once, and
 * CompleteMultipartUpload; aborted if a part fails, once every part has settled.
 */
async function putParts(
  store: ObjectStore,
  key: string,
  bytes: Uint8Array,
  partSize: number,
): Promise<void> {
  const upload = await store.createMultipart(key);
  const sent: Promise<UploadedPart>[] = [];
  for (let at = 0; at < bytes.length; at += partSize) {
    sent.push(store.uploadPart(upload, sent.length + 1, bytes.subarray(at, at + partSize)));
  }
  const settled = await Promise.allSettled(sent);
  const failed = settled.find((r) => r.status === "rejected");
  try {
    if (failed) throw failed.reason;
    const parts = settled.map((r) => (r as PromiseFulfilledResult<UploadedPart>).value);
    await store.completeMultipart(upload, parts);
  } catch (error) {
    await store.abortMultipart(upload).catch(() => {});
    throw error;
  }
}
