/**
 * One budget for the bytes a process buffers: page-cache blocks, dirty data waiting to be
 * written, multipart part buffers and ranged-GET buffers all take their bytes from it, so
 * that memory stays bounded however many clients arrive.
 *
 * A holder that waits for bytes while holding some that only it can free says so
 * ({@linkcode MemoryBudget.acquireOrYield}): should every byte held come to belong to such
 * waiters (nobody else would ever release any), one of them is told to give up instead, and
 * frees its bytes another way (a writer seals its buffer into a group commit). Others wait
 * holding nothing that depends on them: a writer waits for a new part buffer only once its
 * full one is uploading (the upload frees it). Cached blocks are reclaimable: a waiter
 * first asks the reclaimers (the page cache evicts) before it queues.
 *
 * A writer between two writes holds its buffer for a client that may be slow to send more:
 * it registers as a holder ({@linkcode MemoryBudget.hold}), and once it has held the same
 * buffer for {@linkcode IDLE_YIELD_MS} while a waiter is stuck, it is asked to free what it
 * holds (a writer seals its buffer into a group commit, or finishes its segment). Before, uploads
 * that trickled a byte just often enough to stay under the body idle limit held the
 * whole budget between them, and every other write waited for as long as they trickled.
 *
 * Part buffers (megabytes each) are reused, not allocated afresh for every part
 * ({@linkcode MemoryBudget.takeBuffer}, {@linkcode MemoryBudget.recycle}): a buffer freed by
 * an upload goes to the next writer waiting for one, or is kept as a spare (its bytes stay
 * counted as held, and are the first reclaimed): two while any writer holds dirty data
 * ({@linkcode MemoryBudget.hold}), one once the last has gone, none once bytes are taken
 * while no writer is open. Allocating a new one per part left the
 * freed ones to the garbage collector and the allocator, and the process's resident memory
 * grew to several times the budget under concurrent uploads.
 *
 * @module
 */

/** Spare buffers kept when nobody waits for one (about what one streaming writer cycles). */
export const MAX_SPARES = 2;

/**
 * Frees the memory of a buffer nothing refers to any more now, rather than when the
 * garbage collector next runs a full collection: its `ArrayBuffer` is detached (transferred
 * to a 0-byte one), which releases the backing store at once. Dropped part buffers (8 MiB
 * each) otherwise stayed resident for seconds after the uploads that used them had ended,
 * uncounted, 60-70 MiB of them after 16 concurrent uploads, and the next workload's peak
 * stood on top of them. A buffer that is a view into a larger one (or detached already, or
 * resizable) is left to the collector.
 */
function free(buffer: Uint8Array): void {
  const backing = buffer.buffer;
  if (
    backing instanceof ArrayBuffer && !backing.detached && !backing.resizable &&
    backing.byteLength === buffer.byteLength
  ) {
    backing.transfer(0);
  }
}

/**
 * How long a holder must have held the same bytes before a stuck waiter asks it to free
 * them: a writer fed at 8 MiB/s or more fills a part buffer and moves on in less.
 */
export const IDLE_YIELD_MS = 1000;

/**
 * A holder of bytes that frees them when asked (see {@linkcode MemoryBudget.hold}): a
 * file's dirty data between two writes.
 */
export interface IdleHolder {
  /**
   * Since when (`performance.now()`) it has held its bytes without moving on (a buffer not
   * yet filled); Infinity while it is writing or waiting for bytes itself.
   */
  readonly idleSince: number;
  /** Bytes it holds and would free. */
  readonly holding: number;
  /** Frees what it holds, in its own time (by releasing or recycling as usual). */
  yieldIdle(): void;
}

/** Counters of a {@linkcode MemoryBudget}. */
export interface BudgetStats {
  /** Bytes the budget allows. */
  readonly limit: number;
  /** Bytes held now. */
  readonly used: number;
  /** The most bytes ever held at once. */
  readonly highWater: number;
  /** Acquisitions waiting now. */
  readonly waiting: number;
  /** Acquisitions that had to wait, in all. */
  readonly waits: number;
}

interface Waiter {
  /** New bytes taken when granted (not when given a spare buffer). */
  readonly bytes: number;
  /** Bytes the waiter holds that only it can free (it may be told to yield them). */
  readonly held: number;
  /** The waiter wants a buffer of this many bytes (0: none): a spare one will do. */
  readonly buffer: number;
  /** Granted: `spare` is a reused buffer (its bytes were held already), else new bytes. */
  readonly resolve: (granted: boolean, spare?: Uint8Array) => void;
}

/**
 * A byte budget with FIFO waiters and reclaimers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryBudget } from "./budget.ts";
 * const budget = new MemoryBudget(100);
 * await budget.acquire(60);
 * assert(!budget.tryAcquire(50));
 * const later = budget.acquire(50); // waits
 * budget.release(60);
 * await later;
 * assert(budget.stats().highWater === 60);
 * ```
 */
export class MemoryBudget {
  readonly #limit: number;
  #used = 0;
  #highWater = 0;
  #waits = 0;
  #queue: Waiter[] = [];
  #reclaimers: ((bytes: number) => void)[] = [];
  #reclaiming = false;
  /** Bytes held by waiters that only they can free. */
  #heldByWaiters = 0;
  /** Freed part buffers kept for reuse; their bytes count as held. */
  #spares: Uint8Array[] = [];
  #spareBytes = 0;
  #buffersAllocated = 0;
  #holders = new Set<IdleHolder>();
  /** Set while a stuck waiter waits for a holder to have been idle long enough. */
  #idleTimer: ReturnType<typeof setTimeout> | null = null;

  /** See {@linkcode IDLE_YIELD_MS} (tests shorten it). */
  readonly #idleYieldMs: number;

  constructor(limitBytes: number, options: { idleYieldMs?: number } = {}) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes < 1) {
      throw new RangeError(`Invalid memory budget ${limitBytes}`);
    }
    this.#limit = limitBytes;
    this.#idleYieldMs = options.idleYieldMs ?? IDLE_YIELD_MS;
  }

  get limit(): number {
    return this.#limit;
  }

  /** Bytes not held now. */
  get free(): number {
    return this.#limit - this.#used;
  }

  /**
   * Registers a function that frees at least the bytes it is asked for if it can (by
   * calling {@linkcode MemoryBudget.release}); called when an acquisition finds too little.
   */
  addReclaimer(reclaim: (bytes: number) => void): void {
    this.#reclaimers.push(reclaim);
  }

  /**
   * Registers a holder of bytes that, having held them for {@linkcode IDLE_YIELD_MS} while
   * a waiter is stuck, is asked to free them; returns the function that unregisters it.
   * When the last holder is unregistered, the spare part buffers but one are freed; the
   * last one when bytes are taken while none is registered.
   */
  hold(holder: IdleHolder): () => void {
    this.#holders.add(holder);
    return () => {
      if (this.#holders.delete(holder) && this.#holders.size === 0) this.#freeSpares(1);
    };
  }

  /** Takes `bytes` if they are free now (reclaiming if needed), without waiting. */
  tryAcquire(bytes: number): boolean {
    this.#check(bytes);
    // Bytes taken while no writer is open (a read): the spare kept for the next writer
    // would stay resident, unused, through whatever this is.
    if (this.#holders.size === 0 && this.#spares.length > 0) this.#freeSpares(0);
    // Waiters keep their turn: nobody jumps the queue.
    if (this.#queue.length > 0) return false;
    if (this.#used + bytes > this.#limit) this.#reclaim(bytes);
    if (this.#used + bytes > this.#limit) return false;
    this.#take(bytes);
    return true;
  }

  /** Takes `bytes`, waiting (first come, first served) until they are free. */
  async acquire(bytes: number): Promise<void> {
    await this.acquireOrYield(bytes, 0);
  }

  /**
   * Takes `bytes`, waiting for them while holding `held` bytes that only the caller can
   * free. Resolves false, taking nothing, if waiting could never end: every byte held
   * belongs to such waiters. The caller must then free what it holds without waiting.
   */
  acquireOrYield(bytes: number, held: number): Promise<boolean> {
    if (this.tryAcquire(bytes)) return Promise.resolve(true);
    this.#waits++;
    const granted = new Promise<boolean>((resolve) => {
      this.#queue.push({ bytes, held, buffer: 0, resolve });
    });
    this.#heldByWaiters += held;
    this.#wake();
    return granted;
  }

  /**
   * A buffer of `size` bytes, taken from the budget: a spare one if there is one (its
   * contents are stale), else a new one once the bytes are free (waiting, first come,
   * first served). Give it back with {@linkcode MemoryBudget.recycle} when nothing refers
   * to it any more, or with {@linkcode MemoryBudget.release} of its length.
   */
  takeBuffer(size: number): Promise<Uint8Array> {
    this.#check(size);
    if (this.#queue.length === 0) {
      const spare = this.takeSpare(size);
      if (spare) return Promise.resolve(spare);
      if (this.tryAcquire(size)) return Promise.resolve(this.#allocate(size));
    }
    this.#waits++;
    return new Promise<Uint8Array>((resolve) => {
      this.#queue.push({
        bytes: size,
        held: 0,
        buffer: size,
        resolve: (_, spare) => resolve(spare ?? this.#allocate(size)),
      });
      this.#wake();
    });
  }

  /**
   * A whole buffer of `size` bytes for a holder that grows into it from a smaller one of
   * `held` bytes that only it can free (a dirty buffer becoming a part). Like
   * {@linkcode MemoryBudget.takeBuffer} it waits in turn as one who wants a buffer, so that a
   * part buffer freed meanwhile is handed to it rather than dropped for the garbage
   * collector while a new one is allocated. Resolves with the buffer and whether it is a
   * reused one: then its `size` bytes were held already and the caller releases its
   * `held`; else only `size - held` new bytes were taken (the held ones become the new
   * buffer's). Resolves null, taking nothing, when waiting could never end (as
   * {@linkcode MemoryBudget.acquireOrYield}): the caller frees what it holds another way.
   */
  takeBufferOrYield(
    size: number,
    held: number,
  ): Promise<{ buffer: Uint8Array; reused: boolean } | null> {
    this.#check(size);
    if (!Number.isSafeInteger(held) || held < 0 || held > size) {
      throw new RangeError(`Cannot grow ${held} held bytes into a ${size}-byte buffer`);
    }
    if (this.#queue.length === 0) {
      const spare = this.takeSpare(size);
      if (spare) return Promise.resolve({ buffer: spare, reused: true });
      if (this.tryAcquire(size - held)) {
        return Promise.resolve({ buffer: this.#allocate(size), reused: false });
      }
    }
    this.#waits++;
    const granted = new Promise<{ buffer: Uint8Array; reused: boolean } | null>((resolve) => {
      this.#queue.push({
        bytes: size - held,
        held,
        buffer: size,
        resolve: (ok, spare) => {
          if (!ok) resolve(null);
          else if (spare) resolve({ buffer: spare, reused: true });
          else resolve({ buffer: this.#allocate(size), reused: false });
        },
      });
    });
    this.#heldByWaiters += held;
    this.#wake();
    return granted;
  }

  /** A spare buffer of `size` bytes, now the caller's (its bytes held), if there is one. */
  takeSpare(size: number): Uint8Array | null {
    const at = this.#spares.findIndex((b) => b.length === size);
    if (at < 0) return null;
    const [spare] = this.#spares.splice(at, 1);
    this.#spareBytes -= size;
    return spare!;
  }

  /**
   * Gives back a buffer taken from the budget that nothing refers to any more: the next
   * writer waiting for a buffer of its size gets it, or it is kept as a spare (at most
   * {@linkcode MAX_SPARES} of them while a writer is registered with
   * {@linkcode MemoryBudget.hold}, one otherwise): still counted as held, and the first bytes reclaimed
   * when anyone needs bytes. A buffer neither handed on nor kept is freed at once
   * (detached: a view of it that anyone kept by mistake reads as empty from then on).
   */
  recycle(buffer: Uint8Array): void {
    const bytes = buffer.length;
    if (bytes > this.#used - this.#spareBytes) {
      throw new RangeError(`Cannot recycle ${bytes} of ${this.#used} bytes held`);
    }
    // Nobody waits for one now and two are spare already (one once no writer is left):
    // freed (spares are resident memory once the uploads are over, and what comes next
    // may want it).
    const waited = this.#queue.some((w) => w.buffer === bytes);
    const keep = this.#holders.size === 0 ? 1 : MAX_SPARES;
    if (!waited && this.#spareBytes >= keep * bytes) {
      free(buffer);
      this.release(bytes);
      return;
    }
    this.#spares.push(buffer);
    this.#spareBytes += bytes;
    if (!this.#reclaiming) this.#wake();
  }

  /** Bytes held in spare buffers (part of `used`). */
  get spareBytes(): number {
    return this.#spareBytes;
  }

  /** Buffers {@linkcode MemoryBudget.takeBuffer} had to allocate, in all. */
  get buffersAllocated(): number {
    return this.#buffersAllocated;
  }

  /** Gives back `bytes` taken earlier, and lets waiters in. */
  release(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > this.#used) {
      throw new RangeError(`Cannot release ${bytes} of ${this.#used} bytes held`);
    }
    this.#used -= bytes;
    // Bytes a reclaimer frees go to the acquisition that asked for them.
    if (!this.#reclaiming) this.#wake();
  }

  stats(): BudgetStats {
    return {
      limit: this.#limit,
      used: this.#used,
      highWater: this.#highWater,
      waiting: this.#queue.length,
      waits: this.#waits,
    };
  }

  #check(bytes: number): void {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > this.#limit) {
      throw new RangeError(`Cannot take ${bytes} bytes of a ${this.#limit}-byte budget`);
    }
  }

  #take(bytes: number): void {
    this.#used += bytes;
    if (this.#used > this.#highWater) this.#highWater = this.#used;
  }

  #allocate(size: number): Uint8Array {
    this.#buffersAllocated++;
    return new Uint8Array(size);
  }

  /**
   * Frees the spare buffers beyond `keep`: the last writer has gone. Kept, they stayed
   * resident (and counted) through whatever came next: after 16 concurrent uploads, two
   * 8 MiB part buffers through the PATCH and fragmented-GET rows of the bench, which use
   * none. One stays for the next writer (until bytes are taken while none is open): chunks
   * of one upload written one after another (tus PATCHes) each take a part buffer, and
   * reuse it rather than allocate one each.
   */
  #freeSpares(keep: number): void {
    while (this.#spares.length > keep) {
      const spare = this.#spares.pop()!;
      this.#spareBytes -= spare.length;
      this.release(spare.length);
      free(spare);
    }
  }

  /** Frees spare buffers, then asks the reclaimers, in turn, for the bytes `wanted` lacks. */
  #reclaim(wanted: number): void {
    while (this.#spares.length > 0 && this.#used + wanted > this.#limit) {
      const spare = this.#spares.pop()!;
      this.#spareBytes -= spare.length;
      this.#used -= spare.length;
      free(spare);
    }
    this.#reclaiming = true;
    try {
      for (const reclaim of this.#reclaimers) {
        const short = this.#used + wanted - this.#limit;
        if (short <= 0) break;
        reclaim(short);
      }
    } finally {
      this.#reclaiming = false;
    }
  }

  #wake(): void {
    while (this.#queue.length > 0) {
      const next = this.#queue[0]!;
      const spare = next.buffer > 0 ? this.takeSpare(next.buffer) : null;
      if (spare) {
        this.#queue.shift();
        this.#heldByWaiters -= next.held;
        next.resolve(true, spare);
        continue;
      }
      if (this.#used + next.bytes > this.#limit) {
        this.#reclaim(next.bytes);
      }
      if (this.#used + next.bytes > this.#limit) {
        if (this.#used > this.#heldByWaiters) {
          // Others hold bytes and will release them; those that have held theirs long
          // without moving on (a client slow to send) are asked to free them now.
          this.#askIdle(this.#used + next.bytes - this.#limit);
          return;
        }
        // Stuck: nobody but the waiters holds anything, so nothing will be released. The
        // waiter holding the most gives up its turn (and frees its bytes another way).
        let yielder: Waiter | undefined;
        for (const w of this.#queue) if (w.held > (yielder?.held ?? 0)) yielder = w;
        if (!yielder) return;
        this.#queue.splice(this.#queue.indexOf(yielder), 1);
        this.#heldByWaiters -= yielder.held;
        yielder.resolve(false);
        return;
      }
      this.#queue.shift();
      this.#heldByWaiters -= next.held;
      this.#take(next.bytes);
      next.resolve(true);
    }
    if (this.#idleTimer !== null) {
      // Nobody waits any more: no holder needs to be looked at again.
      clearTimeout(this.#idleTimer);
      this.#idleTimer = null;
    }
  }

  /**
   * Asks holders that have held their bytes for {@linkcode IDLE_YIELD_MS}, longest first,
   * to free at least `short` bytes; true if any was asked. Holders that have held theirs
   * for less are looked at again when the first of them will have held them long enough.
   */
  #askIdle(short: number): boolean {
    const now = performance.now();
    const holding = [...this.#holders].filter((h) => h.holding > 0);
    const ready = holding.filter((h) => now - h.idleSince >= this.#idleYieldMs)
      .sort((a, b) => a.idleSince - b.idleSince);
    let asked = 0;
    for (const holder of ready) {
      if (asked >= short) break;
      asked += holder.holding;
      holder.yieldIdle();
    }
    if (asked > 0 || holding.length === 0 || this.#idleTimer !== null) return asked > 0;
    // None has held its bytes long enough yet (or each is in a write): look again when the
    // first will have (a write under way, a full period from now). The timer keeps the
    // process alive, as the waiter it is for would.
    const first = Math.min(...holding.map((h) => h.idleSince));
    const timer = setTimeout(() => {
      this.#idleTimer = null;
      this.#wake();
    }, Math.max(1, (first < Infinity ? first + this.#idleYieldMs : now + this.#idleYieldMs) - now));
    this.#idleTimer = timer;
    return false;
  }
}
