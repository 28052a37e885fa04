/**
 * The page cache: 4 KiB blocks of immutable segment objects, kept under a byte budget with
 * least-recently-used eviction.
 *
 * Segments never change, so a cached block can never be stale and needs no revalidation.
 * Missing blocks are fetched with one ranged GET per contiguous run; concurrent readers of
 * the same block share one GET; readahead fetches the following blocks in the background.
 *
 * @module
 */

import { type ObjectStore, StoreError } from "../store/types.ts";
import type { MemoryBudget } from "./budget.ts";

/** Size of a cached block, and of a PageFS page. */
export const PAGE_SIZE = 4096;

/** Tuning for a {@linkcode PageCache}. */
export interface PageCacheOptions {
  /** Bytes of block data the cache may hold. */
  readonly budgetBytes: number;
  /** GETs running at once, across all readers; default 4. */
  readonly maxParallel?: number;
  /** Largest single ranged GET; default 8 MiB. */
  readonly maxRequestBytes?: number;
  /**
   * The process's memory budget: cached blocks and GET buffers take their bytes from it,
   * and the cache evicts when another holder needs them.
   */
  readonly budget?: MemoryBudget;
}

/** Options of one {@linkcode PageCache.read}. */
export interface ReadOptions {
  /** Total size of the object (segments are immutable, so this never changes). */
  readonly objectSize: number;
  /** Bytes after the range to fetch in the background, for sequential readers. */
  readonly readahead?: number;
}

/** Counters of a {@linkcode PageCache}. */
export interface PageCacheStats {
  /** Blocks read that needed no new GET (cached, or already being fetched). */
  readonly hits: number;
  /** Blocks read that had to be fetched for the reader. */
  readonly misses: number;
  /** Bytes of block data held now. */
  readonly bytes: number;
  /** Blocks evicted to stay within the budget. */
  readonly evictions: number;
  /** Ranged GETs issued, readahead included. */
  readonly requests: number;
}

/** A block being fetched; a failed background fetch resolves to `null` instead of failing. */
type Pending = Promise<Uint8Array | null>;

/** A place in the GET queue. Demand fetches go before readahead. */
interface Ticket {
  background: boolean;
  readonly start: () => void;
}

/**
 * A byte-budgeted LRU cache of 4 KiB blocks of immutable objects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory.ts";
 * import { PageCache } from "./page_cache.ts";
 * const store = new MemoryStore();
 * await store.put("s/a", new Uint8Array(10_000).fill(7));
 * const cache = new PageCache(store, { budgetBytes: 1 << 20 });
 * const bytes = await cache.read("s/a", 5000, 10, { objectSize: 10_000 });
 * assert(bytes.length === 10 && bytes[0] === 7);
 * await cache.read("s/a", 5000, 10, { objectSize: 10_000 });
 * assert(cache.stats().requests === 1);
 * ```
 */
export class PageCache {
  readonly #store: ObjectStore;
  readonly #budget: number;
  readonly #maxParallel: number;
  readonly #blocksPerRequest: number;
  readonly #memory: MemoryBudget | null;
  /** Cached blocks in LRU order: the first entry is the least recently used. */
  #blocks = new Map<string, Uint8Array>();
  #pending = new Map<string, { block: Pending; ticket: Ticket }>();
  #queue: Ticket[] = [];
  #running = 0;
  #bytes = 0;
  /** Per object: the block after the last one readahead has requested. */
  #frontier = new Map<string, number>();
  #hits = 0;
  #misses = 0;
  #evictions = 0;
  #requests = 0;

  constructor(store: ObjectStore, options: PageCacheOptions) {
    const { budgetBytes, maxParallel = 4, maxRequestBytes = 8 * 1024 * 1024 } = options;
    if (!Number.isSafeInteger(budgetBytes) || budgetBytes < 0) {
      throw new RangeError(`Invalid cache budget ${budgetBytes}`);
    }
    if (!Number.isSafeInteger(maxParallel) || maxParallel < 1) {
      throw new RangeError(`Invalid parallel request limit ${maxParallel}`);
    }
    if (!Number.isSafeInteger(maxRequestBytes) || maxRequestBytes < PAGE_SIZE) {
      throw new RangeError(`Requests must be allowed at least ${PAGE_SIZE} bytes`);
    }
    this.#store = store;
    this.#budget = budgetBytes;
    this.#maxParallel = maxParallel;
    this.#blocksPerRequest = Math.floor(maxRequestBytes / PAGE_SIZE);
    this.#memory = options.budget ?? null;
    this.#memory?.addReclaimer((bytes) => this.#evict(this.#bytes - bytes));
  }

  /**
   * Returns bytes `[offset, offset + length)` of the immutable object `key`, from cached
   * blocks where possible and with one ranged GET per run of missing blocks otherwise.
   * With `readahead`, the blocks after the range are fetched in the background: the
   * returned promise does not wait for them.
   *
   * @throws {RangeError} if the range is not inside the object.
   * @throws {StoreError} if a GET fails, or the object is missing or shorter than `objectSize`.
   */
  async read(
    key: string,
    offset: number,
    length: number,
    options: ReadOptions,
  ): Promise<Uint8Array> {
    const { objectSize, readahead = 0 } = options;
    const end = offset + length;
    if (
      !isSize(offset) || !isSize(length) || !isSize(objectSize) || end > objectSize ||
      !isSize(readahead)
    ) {
      throw new RangeError(
        `Cannot read ${length} bytes at ${offset} of a ${objectSize}-byte object`,
      );
    }
    if (length === 0) return new Uint8Array(0);
    const first = Math.floor(offset / PAGE_SIZE);
    const stop = Math.ceil(end / PAGE_SIZE);
    const parts: Array<Uint8Array | Pending> = [];
    let missingFrom = -1;
    for (let i = first; i <= stop; i++) {
      const id = blockId(key, i);
      const cached = i < stop ? this.#touch(id) : undefined;
      const pending = i < stop && !cached ? this.#pending.get(id) : undefined;
      if (i < stop && !cached && !pending) {
        if (missingFrom < 0) missingFrom = i;
        continue;
      }
      if (missingFrom >= 0) {
        this.#misses += i - missingFrom;
        parts.push(...this.#fetch(key, missingFrom, i, objectSize, false));
        missingFrom = -1;
      }
      if (cached) {
        this.#hits++;
        parts.push(cached);
      } else if (pending) {
        this.#hits++;
        // A reader is waiting: the fetch must not queue behind readahead any more.
        pending.ticket.background = false;
        parts.push(pending.block);
      }
    }
    if (readahead > 0) this.#readahead(key, end, readahead, objectSize);

    const blocks = await Promise.all(parts);
    // Blocks whose background fetch failed are fetched again, now for this reader.
    for (let i = 0; i < blocks.length; i++) {
      if (blocks[i] !== null) continue;
      let j = i;
      while (j < blocks.length && blocks[j] === null) j++;
      const refetched = await Promise.all(
        this.#fetch(key, first + i, first + j, objectSize, false),
      );
      blocks.splice(i, j - i, ...refetched);
    }

    const out = new Uint8Array(length);
    let at = 0;
    blocks.forEach((block, i) => {
      const blockStart = (first + i) * PAGE_SIZE;
      const from = Math.max(offset - blockStart, 0);
      const to = Math.min(end - blockStart, block!.length);
      out.set(block!.subarray(from, to), at);
      at += to - from;
    });
    return out;
  }

  /**
   * Caches known bytes of object `key` at `offset` (e.g. segment data just written), so
   * that reading them back costs no GET. Only whole blocks, or the object's final partial
   * block, are cached; the bytes are copied.
   *
   * @throws {RangeError} if the bytes are not inside the object.
   */
  fill(key: string, offset: number, bytes: Uint8Array, objectSize: number): void {
    const end = offset + bytes.length;
    if (!isSize(offset) || !isSize(objectSize) || end > objectSize) {
      throw new RangeError(
        `Cannot cache ${bytes.length} bytes at ${offset} of a ${objectSize}-byte object`,
      );
    }
    for (let i = Math.ceil(offset / PAGE_SIZE); i * PAGE_SIZE < end; i++) {
      const blockEnd = Math.min((i + 1) * PAGE_SIZE, objectSize);
      if (blockEnd > end) break;
      this.#insert(blockId(key, i), bytes.slice(i * PAGE_SIZE - offset, blockEnd - offset));
    }
    this.#evict();
  }

  /** A snapshot of the counters. */
  stats(): PageCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      bytes: this.#bytes,
      evictions: this.#evictions,
      requests: this.#requests,
    };
  }

  /**
   * Starts background fetches of the blocks after `end` when fewer than half of the window
   * `[end, end + window)` is cached or on its way, and then fetches a whole window: a
   * sequential reader triggers one large GET every half window instead of a small one on
   * every read.
   */
  #readahead(key: string, end: number, window: number, objectSize: number): void {
    const limit = Math.ceil(Math.min(objectSize, end + window) / PAGE_SIZE);
    // Blocks before the frontier were already requested by earlier readahead: start the
    // scan there, so a sequential reader pays O(1) per read instead of O(window).
    let from = Math.max(Math.ceil(end / PAGE_SIZE), this.#frontier.get(key) ?? 0);
    while (from < limit && this.#has(blockId(key, from))) from++;
    if (from >= limit || from * PAGE_SIZE - end >= window / 2) return;
    const stop = Math.min(Math.ceil(objectSize / PAGE_SIZE), from + Math.ceil(window / PAGE_SIZE));
    this.#frontier.delete(key);
    this.#frontier.set(key, stop);
    if (this.#frontier.size > 1024) this.#frontier.delete(this.#frontier.keys().next().value!);
    let missingFrom = -1;
    for (let i = from; i <= stop; i++) {
      if (i < stop && !this.#has(blockId(key, i))) {
        if (missingFrom < 0) missingFrom = i;
      } else if (missingFrom >= 0) {
        this.#fetch(key, missingFrom, i, objectSize, true);
        missingFrom = -1;
      }
    }
  }

  /**
   * Fetches blocks `[start, stop)` with as few GETs as `maxRequestBytes` allows and returns
   * a promise per block. Until they arrive the blocks are pending, so other readers wait for
   * these GETs instead of making their own.
   */
  #fetch(key: string, start: number, stop: number, objectSize: number, background: boolean) {
    const blocks: Pending[] = [];
    for (let a = start; a < stop; a += this.#blocksPerRequest) {
      const b = Math.min(stop, a + this.#blocksPerRequest);
      let ticket!: Ticket;
      const ready = new Promise<void>((resolve) => ticket = { background, start: resolve });
      // One settle function per block: each block is usable as soon as its bytes arrive,
      // not when the whole GET has finished, so readahead streams into the reader.
      const settle: ((block: Uint8Array | null, error?: unknown) => void)[] = [];
      for (let i = a; i < b; i++) {
        const block: Pending = new Promise((resolve, reject) => {
          settle.push((got, error) => {
            if (got) resolve(got);
            else if (background) resolve(null);
            else reject(error);
          });
        });
        // Readahead blocks may never be awaited; a failure must not go unhandled.
        block.catch(() => {});
        this.#pending.set(blockId(key, i), { block, ticket });
        blocks.push(block);
      }
      this.#enqueue(ticket);
      let arrived = 0;
      ready
        .then(() =>
          this.#get(key, a, b, objectSize, (block) => {
            const i = a + arrived++;
            this.#insert(blockId(key, i), block);
            this.#pending.delete(blockId(key, i));
            if (this.#bytes > this.#budget) this.#evict();
            settle[i - a]!(block);
          })
        )
        .then(() => {}, (error) => {
          for (let i = a + arrived; i < b; i++) settle[i - a]!(null, error);
        })
        .finally(() => {
          for (let i = a; i < b; i++) {
            const id = blockId(key, i);
            if (this.#pending.get(id)?.ticket === ticket) this.#pending.delete(id);
          }
          this.#running--;
          this.#next();
        });
    }
    return blocks;
  }

  /**
   * One ranged GET of blocks `[a, b)` into one buffer; `onBlock` gets each block (a view
   * of the buffer: one allocation per GET, not per page) as soon as it is complete.
   */
  async #get(
    key: string,
    a: number,
    b: number,
    objectSize: number,
    onBlock: (block: Uint8Array) => void,
  ): Promise<void> {
    this.#requests++;
    const start = a * PAGE_SIZE;
    const end = Math.min(b * PAGE_SIZE, objectSize);
    const result = await this.#store.get(key, { range: { start, end: end - 1 } });
    if (result === null) throw new StoreError("not-found", `Object "${key}" is missing`, { key });
    if (result.status !== "ok" || result.offset !== start) {
      if (result.status === "ok") await result.body.cancel();
      throw new StoreError("unknown", `Object "${key}" answered the wrong range`, { key });
    }
    // The GET's buffer is memory too: wait for it (the readers wait with it).
    await this.#memory?.acquire(end - start);
    try {
      await this.#receive(key, result.body, { start, end, objectSize }, onBlock);
    } finally {
      this.#memory?.release(end - start);
    }
  }

  async #receive(
    key: string,
    body: ReadableStream<Uint8Array>,
    range: { start: number; end: number; objectSize: number },
    onBlock: (block: Uint8Array) => void,
  ): Promise<void> {
    const { start, end, objectSize } = range;
    const buffer = new Uint8Array(end - start);
    let at = 0;
    let done = 0;
    for await (const chunk of body) {
      if (at + chunk.length > buffer.length) {
        throw new StoreError("unknown", `Object "${key}" answered too many bytes`, { key });
      }
      buffer.set(chunk, at);
      at += chunk.length;
      for (; done + PAGE_SIZE <= at; done += PAGE_SIZE) {
        onBlock(buffer.subarray(done, done + PAGE_SIZE));
      }
    }
    if (at !== end - start) {
      throw new StoreError("unknown", `Object "${key}" is shorter than ${objectSize} bytes`, {
        key,
      });
    }
    if (done < at) onBlock(buffer.subarray(done, at));
  }

  #enqueue(ticket: Ticket): void {
    this.#queue.push(ticket);
    this.#next();
  }

  /** Starts queued GETs while fewer than `maxParallel` run, demand before readahead. */
  #next(): void {
    while (this.#running < this.#maxParallel && this.#queue.length > 0) {
      const at = this.#queue.findIndex((t) => !t.background);
      const [ticket] = this.#queue.splice(at < 0 ? 0 : at, 1);
      this.#running++;
      ticket!.start();
    }
  }

  /** The cached block, marked most recently used. */
  #touch(id: string): Uint8Array | undefined {
    const block = this.#blocks.get(id);
    if (block) {
      this.#blocks.delete(id);
      this.#blocks.set(id, block);
    }
    return block;
  }

  /** True when the block is cached or being fetched (without touching it). */
  #has(id: string): boolean {
    return this.#blocks.has(id) || this.#pending.has(id);
  }

  #insert(id: string, view: Uint8Array): void {
    const old = this.#blocks.get(id);
    if (old) {
      this.#bytes -= old.length;
      this.#memory?.release(old.length);
      this.#blocks.delete(id);
    }
    // A block the memory budget has no room for is not kept (the reader still gets it).
    if (this.#memory && !this.#memory.tryAcquire(view.length)) return;
    // Readers get views of the GET's buffer, but the cache keeps its own copy: one kept
    // view would pin the whole buffer (up to 8 MiB), so the budget would not bound memory.
    const block = view.byteLength === view.buffer.byteLength ? view : view.slice();
    this.#blocks.set(id, block);
    this.#bytes += block.length;
  }

  /** Evicts least recently used blocks until at most `target` bytes (default: the budget). */
  #evict(target = this.#budget): void {
    for (const [id, block] of this.#blocks) {
      if (this.#bytes <= target) break;
      this.#blocks.delete(id);
      this.#bytes -= block.length;
      this.#memory?.release(block.length);
      this.#evictions++;
    }
  }
}

/** The cache key of block `index` of object `key`. */
function blockId(key: string, index: number): string {
  return `${key}:${index}`;
}

function isSize(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}
