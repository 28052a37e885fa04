/**
 * The dirty bytes of one open file, from the first write to the commit that places them,
 * kept within the process's {@linkcode MemoryBudget}.
 *
 * Bytes collect in one buffer (grown fourfold up to 1 MiB, then to a whole part). A buffer that reaches a
 * part becomes the first part of a dedicated segment streamed out as a multipart upload; a
 * segment that reaches its most parts is finished and the next bytes start a new one (so a
 * single write of any size never meets S3's 10,000-part limit). When the budget is spent,
 * a buffer that cannot grow is sealed: group-committed as it is (one small PUT, shared
 * with other writers), and its bytes freed once durable. So no writer waits for memory
 * while it holds bytes that only it could free, and the writer of a request body simply
 * stops reading it until the budget has room again (backpressure). Between two writes it
 * is the budget's idle holder: idle for a second while a waiter is stuck (a client slow to
 * send the rest of its body), it seals its buffer the same way, or finishes the segment it
 * streams, and starts a new one with its next bytes.
 *
 * The bytes therefore end up in one or more pieces, each a run of the dirty stream in one
 * segment; {@linkcode DirtyData.finish} returns them.
 *
 * @module
 */

import { newId, segmentKey, segmentRef } from "../format/keys.ts";
import { SegmentWriter } from "../format/segment_writer.ts";
import type { ObjectStore } from "../store/types.ts";
import type { IdleHolder, MemoryBudget } from "./budget.ts";

/** A run `[pos, pos + length)` of the dirty stream, durable at `offset` of `segment`. */
export interface DirtyPiece {
  readonly pos: number;
  readonly length: number;
  /** Segment reference for a page map. */
  readonly segment: string;
  readonly offset: number;
}

/** What a {@linkcode DirtyData} needs of the writeback. */
export interface DirtyDeps {
  readonly store: ObjectStore;
  readonly budget: MemoryBudget;
  readonly partSize: number;
  readonly maxParts?: number;
  readonly maxInFlight?: number;
  /**
   * Group-commits bytes into a shared segment; resolves once they are durable, and refers
   * to them no more (a part buffer is then reused).
   */
  readonly commit: (bytes: Uint8Array) => Promise<{ segment: string; offset: number }>;
}

/** The first buffer; it grows fourfold up to {@linkcode GROWN_MAX}, then to a whole part. */
const INITIAL_BUFFER = 4 * 1024;
/**
 * The largest buffer short of a whole part. Every buffer outgrown is garbage: doubling up
 * to 8 MiB left 8 MiB of it per large write, which under concurrent uploads was hundreds
 * of MiB at once (the allocator keeps what it once held). A write past this size is
 * likely large: it takes a part buffer (a reused one if there is one) at once.
 */
const GROWN_MAX = 1024 * 1024;

interface Streaming {
  readonly writer: SegmentWriter;
  readonly id: string;
  readonly pos: number;
}

/**
 * Dirty bytes in memory and in segments being written, with their placement.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory.ts";
 * import { MemoryBudget } from "./budget.ts";
 * import { DirtyData } from "./dirty.ts";
 * const store = new MemoryStore();
 * const budget = new MemoryBudget(64 << 20);
 * // The writeback's group commit, reduced to one PUT per call.
 * let n = 0;
 * const commit = async (bytes: Uint8Array) => {
 *   const key = `seg-${n++}`;
 *   await store.put(key, bytes);
 *   return { segment: key, offset: 0 };
 * };
 * const dirty = new DirtyData({ store, budget, partSize: 5 << 20, commit });
 * await dirty.append(new Uint8Array(10));
 * const pieces = await dirty.finish();
 * assert(pieces.length === 1 && pieces[0]!.length === 10);
 * assert(budget.stats().used === 0);
 * ```
 */
export class DirtyData implements IdleHolder {
  readonly #deps: DirtyDeps;
  /** Appends under way (queued or writing): not idle while there is one. */
  #busy = 0;
  /** When the memory held now was taken (a buffer, or the part being streamed): see idleSince. */
  #heldSince = performance.now();
  readonly #unhold: () => void;
  #buffer: Uint8Array | null = null;
  #fill = 0;
  /** Position in the dirty stream of the buffer's first byte. */
  #start = 0;
  #size = 0;
  #stream: Streaming | null = null;
  #pieces: Promise<DirtyPiece>[] = [];
  #queue: Promise<void> = Promise.resolve();
  #error: unknown = null;
  #closed = false;

  constructor(deps: DirtyDeps) {
    this.#deps = deps;
    this.#unhold = deps.budget.hold(this);
  }

  /**
   * {@linkcode IdleHolder}: since when it holds the buffer it has (or streams the part it
   * fills) without having filled it; Infinity during an append. A client that trickles a
   * byte now and then keeps its request alive, not its claim on the memory.
   */
  get idleSince(): number {
    return this.#busy > 0 || this.#closed ? Infinity : this.#heldSince;
  }

  /** {@linkcode IdleHolder}: the buffer, and the part buffer of a segment being streamed. */
  get holding(): number {
    return (this.#buffer?.length ?? 0) + (this.#stream ? this.#deps.partSize : 0);
  }

  /**
   * {@linkcode IdleHolder}: frees the memory held between writes, as a full budget would
   * make the next write do: the buffer sealed into a group commit (or dropped when empty),
   * a streamed segment finished; the next bytes start anew. Ignored once an append began.
   */
  yieldIdle(): void {
    this.#enqueue(async () => {
      if (this.#closed) return;
      if (this.#stream) this.#rollOver();
      else if (this.#fill > 0) this.#seal();
      else this.#drop();
      this.#heldSince = performance.now();
    }).catch(() => {});
  }

  /** Bytes appended so far. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends bytes (copied) and returns their position in the dirty stream; resolves once
   * they are buffered, which waits while the memory budget is spent.
   */
  append(bytes: Uint8Array): Promise<number> {
    if (this.#closed) return Promise.reject(new Error("Cannot append: dirty data is closed"));
    const pos = this.#size;
    this.#size += bytes.length;
    this.#busy++;
    return this.#enqueue(() => this.#write(bytes)).then(() => (this.#busy--, pos), (error) => {
      this.#busy--;
      throw error;
    });
  }

  /** All the bytes, while they are still one buffer in memory (nothing sent yet); else null. */
  inMemory(): Uint8Array | null {
    if (this.#closed || this.#stream || this.#pieces.length > 0) return null;
    return this.#buffer?.subarray(0, this.#fill) ?? new Uint8Array(0);
  }

  /** Makes every byte durable; returns the pieces in stream order. Frees the memory held. */
  finish(): Promise<DirtyPiece[]> {
    if (this.#closed) return Promise.reject(new Error("Cannot finish: dirty data is closed"));
    this.#closed = true;
    this.#unhold();
    return this.#enqueue(async () => {
      if (this.#stream) this.#rollOver();
      else if (this.#fill > 0) this.#seal();
      else this.#drop();
      const pieces = await Promise.all(this.#pieces);
      this.#pieces = [];
      return pieces;
    });
  }

  /**
   * Frees the buffer of bytes that were committed another way (inline in the metadata,
   * read out with {@linkcode inMemory}): nothing of them is sent. Closes the dirty data.
   */
  release(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unhold();
    this.#drop();
  }

  /** Drops the bytes: frees the memory and aborts a segment being streamed. */
  async abort(): Promise<void> {
    this.#closed = true;
    this.#unhold();
    this.#error ??= new Error("Dirty data was aborted");
    await this.#queue;
    this.#drop();
    const stream = this.#stream;
    this.#stream = null;
    await stream?.writer.abort().catch(() => {});
    // Sealed pieces may still be landing: their segments are unreferenced (GC's).
    await Promise.allSettled(this.#pieces);
    this.#pieces = [];
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.#error !== null) throw this.#error;
      return task();
    });
    this.#queue = run.then(() => {}, () => {});
    return run;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    const { budget, partSize } = this.#deps;
    let at = 0;
    while (at < bytes.length) {
      const stream = this.#stream;
      if (stream) {
        const n = Math.min(bytes.length - at, stream.writer.room);
        if (n === 0) {
          this.#rollOver();
          continue;
        }
        const parts = Math.floor(stream.writer.size / partSize);
        await stream.writer.append(bytes.subarray(at, at + n));
        if (Math.floor(stream.writer.size / partSize) !== parts) {
          this.#heldSince = performance.now();
        }
        at += n;
        continue;
      }
      const have = this.#buffer?.length ?? 0;
      const want = Math.min(this.#fill + bytes.length - at, partSize);
      if (have < want) {
        let length = Math.max(have, INITIAL_BUFFER);
        while (length < want) length *= 4;
        length = length > GROWN_MAX ? partSize : Math.min(length, partSize);
        if (this.#fill === 0) this.#drop();
        const held = this.#buffer?.length ?? 0;
        if (length === partSize) {
          // A whole part: waits in turn for a part buffer, a reused one if one is freed
          // meanwhile (never a new one while freed ones are dropped). Should every byte
          // held come to belong to writers waiting like this one, it is told to yield:
          // it seals what it holds (its PUT frees it) and goes on with a new buffer.
          const got = await budget.takeBufferOrYield(length, held);
          if (!got) {
            this.#seal();
            continue;
          }
          if (this.#buffer) got.buffer.set(this.#buffer.subarray(0, this.#fill));
          if (got.reused && held > 0) budget.release(held);
          this.#buffer = got.buffer;
          this.#heldSince = performance.now();
          this.#throwIfFailed();
          continue;
        }
        if (!await budget.acquireOrYield(length - held, held)) {
          this.#seal();
          continue;
        }
        const grown = new Uint8Array(length);
        if (this.#buffer) grown.set(this.#buffer.subarray(0, this.#fill));
        this.#buffer = grown;
        this.#heldSince = performance.now();
        this.#throwIfFailed();
      }
      const buffer = this.#buffer!;
      const n = Math.min(buffer.length - this.#fill, bytes.length - at);
      buffer.set(bytes.subarray(at, at + n), this.#fill);
      this.#fill += n;
      at += n;
      if (this.#fill === partSize) this.#startStream(buffer);
    }
  }

  /** A full part in memory becomes the first part of a dedicated segment. */
  #startStream(buffer: Uint8Array): void {
    const { store, budget, partSize, maxParts, maxInFlight } = this.#deps;
    const id = newId();
    const writer = new SegmentWriter(store, segmentKey(id), {
      partSize,
      budget,
      initial: { buffer, fill: this.#fill },
      ...(maxParts === undefined ? {} : { maxParts }),
      ...(maxInFlight === undefined ? {} : { maxInFlight }),
    });
    this.#stream = { writer, id, pos: this.#start };
    this.#buffer = null;
    this.#fill = 0;
  }

  /** Finishes the streaming segment (in the background) as a piece; the next bytes start anew. */
  #rollOver(): void {
    const { writer, id, pos } = this.#stream!;
    this.#stream = null;
    this.#start = pos + writer.size;
    const piece = writer.finish().then(
      () => ({ pos, length: writer.size, segment: segmentRef(id, writer.size), offset: 0 }),
      async (error) => {
        await writer.abort().catch(() => {});
        throw error;
      },
    );
    this.#track(piece);
  }

  /** Group-commits the buffer as it is (a piece); its memory is freed once durable. */
  #seal(): void {
    const { budget, commit, partSize } = this.#deps;
    const buffer = this.#buffer!;
    const pos = this.#start;
    const length = this.#fill;
    this.#buffer = null;
    this.#fill = 0;
    this.#start = pos + length;
    // Once durable nothing refers to the buffer (the commit copies what it caches): a
    // whole part buffer is reused. Not after a failure: a request may still read it.
    const piece = commit(buffer.subarray(0, length)).then(
      (placed) => {
        if (buffer.length === partSize) budget.recycle(buffer);
        else budget.release(buffer.length);
        return { pos, length, ...placed };
      },
      (error) => {
        budget.release(buffer.length);
        throw error;
      },
    );
    this.#track(piece);
  }

  #track(piece: Promise<DirtyPiece>): void {
    // A failed piece fails the next append or the finish, not an unhandled rejection.
    piece.catch((error) => this.#error ??= error);
    this.#pieces.push(piece);
  }

  /** Frees an unsent buffer. */
  #drop(): void {
    if (this.#buffer) this.#deps.budget.release(this.#buffer.length);
    this.#buffer = null;
    this.#fill = 0;
  }

  #throwIfFailed(): void {
    if (this.#error !== null) throw this.#error;
  }
}
