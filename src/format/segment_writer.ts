/**
 * Writes one immutable segment object from bytes appended to it.
 *
 * A segment that fits in one part is one PutObject. A larger one is a multipart upload whose
 * parts stream out while bytes are still being appended, so memory stays bounded at
 * `maxInFlight + 1` parts however large the segment grows (see `docs/format.md`).
 *
 * @module
 */

import {
  MAX_PARTS,
  MIN_PART_SIZE,
  type MultipartUpload,
  type ObjectStore,
  StoreError,
  type UploadedPart,
} from "../store/types.ts";

/** Default part size: 8 MiB, as `docs/format.md` fixes. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;

/**
 * Where part buffers take their bytes from (the cache layer's `MemoryBudget` is one); the
 * writer waits for a new buffer only while its previous one is uploading.
 */
export interface PartBudget {
  acquire(bytes: number): Promise<void>;
  release(bytes: number): void;
  /**
   * A whole part buffer (stale contents allowed), taken from the budget, preferably one
   * given back earlier: buffers are then reused rather than allocated for every part.
   */
  takeBuffer?(bytes: number): Promise<Uint8Array>;
  /** Gives back a buffer taken from the budget that nothing refers to any more. */
  recycle?(buffer: Uint8Array): void;
}

/** Tuning for a {@linkcode SegmentWriter}. */
export interface SegmentWriterOptions {
  /** Bytes per multipart part (all but the last); default 8 MiB, at least 5 MiB. */
  readonly partSize?: number;
  /** Parts uploading at once before `append` waits; default 2. */
  readonly maxInFlight?: number;
  /**
   * Most parts of one segment (default and at most S3's 10,000): the segment holds at most
   * `maxParts * partSize` bytes ({@linkcode SegmentWriter.room}); a writer that must not fail
   * rolls over to a new segment before.
   */
  readonly maxParts?: number;
  /**
   * Takes the part buffers' bytes from this budget, waiting for it (backpressure), and gives
   * them back as soon as each part is uploaded (no spare buffers are kept).
   */
  readonly budget?: PartBudget;
  /**
   * The segment's first bytes, in a buffer of exactly `partSize` bytes already taken from
   * `budget`: the writer owns (and frees) it from now on, without copying it.
   */
  readonly initial?: { readonly buffer: Uint8Array; readonly fill: number };
}

/** The first buffer of a segment; it grows by doubling up to the part size. */
const INITIAL_BUFFER = 64 * 1024;

/**
 * Streams appended bytes into one segment object.
 *
 * Appends are applied in call order and may be issued without awaiting the previous one;
 * the bytes passed to {@linkcode SegmentWriter.append} must not change until its promise
 * settles (they are copied, so they may be reused after that).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory.ts";
 * import { SegmentWriter } from "./segment_writer.ts";
 * const store = new MemoryStore();
 * const writer = new SegmentWriter(store, "s/example");
 * const at = await writer.append(new Uint8Array([1, 2, 3]));
 * await writer.finish();
 * assert(at === 0 && (await store.head("s/example"))?.size === 3);
 * ```
 */
export class SegmentWriter {
  readonly #store: ObjectStore;
  readonly #key: string;
  readonly #partSize: number;
  readonly #maxInFlight: number;
  readonly #maxParts: number;
  readonly #budget: PartBudget | null;
  /** The part being filled, and how much of it is filled. */
  #buffer: Uint8Array | null = null;
  #fill = 0;
  /** Part buffers whose upload finished, kept for reuse. */
  #spare: Uint8Array[] = [];
  /** Part uploads in progress, each holding its buffer. */
  #inFlight = new Map<Promise<void>, Uint8Array>();
  #upload: Promise<MultipartUpload> | null = null;
  #parts: UploadedPart[] = [];
  #nextPart = 1;
  /** Bytes appended, including appends still queued. */
  #size = 0;
  /** Serializes appends, finish and abort. */
  #queue: Promise<void> = Promise.resolve();
  #error: unknown = null;
  #state: "open" | "finishing" | "finished" | "aborted" = "open";

  constructor(store: ObjectStore, key: string, options: SegmentWriterOptions = {}) {
    const partSize = options.partSize ?? DEFAULT_PART_SIZE;
    const maxInFlight = options.maxInFlight ?? 2;
    const maxParts = options.maxParts ?? MAX_PARTS;
    if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE) {
      throw new RangeError(`Part size must be an integer of at least ${MIN_PART_SIZE} bytes`);
    }
    if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1) {
      throw new RangeError("Parts in flight must be a positive integer");
    }
    if (!Number.isSafeInteger(maxParts) || maxParts < 1 || maxParts > MAX_PARTS) {
      throw new RangeError(`Parts per segment must be an integer from 1 to ${MAX_PARTS}`);
    }
    const initial = options.initial;
    if (initial && (initial.buffer.length !== partSize || initial.fill > partSize)) {
      throw new RangeError("The initial buffer must be one part long");
    }
    this.#store = store;
    this.#key = key;
    this.#partSize = partSize;
    this.#maxInFlight = maxInFlight;
    this.#maxParts = maxParts;
    this.#budget = options.budget ?? null;
    if (initial) {
      this.#buffer = initial.buffer;
      this.#fill = initial.fill;
      this.#size = initial.fill;
    }
  }

  /** Bytes that may still be appended before the segment has its most parts. */
  get room(): number {
    return this.#maxParts * this.#partSize - this.#size;
  }

  /** The object key the segment is written to. */
  get key(): string {
    return this.#key;
  }

  /** Bytes appended so far (the segment's size once finished). */
  get size(): number {
    return this.#size;
  }

  /** Memory this writer holds in part buffers: the one filling, those uploading, spares. */
  get bufferedBytes(): number {
    let total = this.#buffer?.length ?? 0;
    for (const buffer of this.#inFlight.values()) total += buffer.length;
    for (const buffer of this.#spare) total += buffer.length;
    return total;
  }

  /**
   * Appends bytes and returns their offset in the segment. Waits while `maxInFlight` parts
   * are uploading and another part is full (backpressure).
   *
   * @throws the error of a failed part upload, or if the writer is finished or aborted.
   */
  append(bytes: Uint8Array): Promise<number> {
    if (this.#state !== "open") {
      return Promise.reject(new Error(`Cannot append to segment "${this.#key}": it is closed`));
    }
    const offset = this.#size;
    this.#size += bytes.length;
    return this.#enqueue(() => this.#write(bytes)).then(() => offset);
  }

  /**
   * Makes the segment durable: one PutObject if no part was started, else uploads the last
   * part and completes the multipart upload. After a failure, call
   * {@linkcode SegmentWriter.abort}.
   */
  finish(): Promise<void> {
    if (this.#state !== "open") {
      return Promise.reject(new Error(`Cannot finish segment "${this.#key}": it is closed`));
    }
    this.#state = "finishing";
    return this.#enqueue(async () => {
      if (this.#upload === null) {
        const body = this.#buffer?.subarray(0, this.#fill) ?? new Uint8Array(0);
        await this.#store.put(this.#key, body, { contentLength: body.length });
      } else {
        if (this.#fill > 0) await this.#flush();
        await this.#settle();
        this.#throwIfFailed();
        const upload = await this.#upload;
        const parts = [...this.#parts].sort((a, b) => a.partNumber - b.partNumber);
        await this.#store.completeMultipart(upload, parts);
      }
      this.#state = "finished";
      this.#release(true);
    });
  }

  /**
   * Stops the writer and aborts the multipart upload if one was started, once the parts in
   * flight have settled. Safe to call after a failure, after `finish` failed, or twice.
   */
  async abort(): Promise<void> {
    if (this.#state === "finished" || this.#state === "aborted") return;
    this.#state = "aborted";
    this.#error ??= new Error(`Segment "${this.#key}" was aborted`);
    await this.#queue;
    await this.#settle();
    this.#release(false);
    const upload = await this.#upload?.catch(() => null);
    if (!upload) return;
    try {
      await this.#store.abortMultipart(upload);
    } catch (error) {
      // Already completed or aborted: nothing is left to clean up.
      if (!(error instanceof StoreError && error.kind === "not-found")) throw error;
    }
  }

  #enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(() => {
      this.#throwIfFailed();
      return task();
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #write(bytes: Uint8Array): Promise<void> {
    let at = 0;
    while (at < bytes.length) {
      if (this.#fill === this.#partSize) await this.#flush();
      const room = await this.#room(bytes.length - at);
      const n = Math.min(room.length - this.#fill, bytes.length - at);
      room.set(bytes.subarray(at, at + n), this.#fill);
      this.#fill += n;
      at += n;
    }
  }

  /** The part buffer, grown (or taken) so that it can hold `wanted` more bytes if allowed. */
  async #room(wanted: number): Promise<Uint8Array> {
    const buffer = this.#buffer;
    const need = Math.min(this.#fill + wanted, this.#partSize);
    if (buffer && buffer.length >= need) return buffer;
    if (this.#upload === null) {
      // The first part grows: a small segment must not cost a whole part of memory.
      let length = Math.max(buffer?.length ?? INITIAL_BUFFER, INITIAL_BUFFER);
      while (length < need) length *= 2;
      length = Math.min(length, this.#partSize);
      await this.#budget?.acquire(length - (buffer?.length ?? 0));
      const grown = new Uint8Array(length);
      if (buffer) grown.set(buffer.subarray(0, this.#fill));
      return this.#buffer = grown;
    }
    const spare = this.#spare.pop();
    if (spare) return this.#buffer = spare;
    // Safe to wait: this writer holds no part being filled, only parts uploading, which
    // give their bytes back when done.
    const budget = this.#budget;
    if (budget?.takeBuffer) return this.#buffer = await budget.takeBuffer(this.#partSize);
    await budget?.acquire(this.#partSize);
    return this.#buffer = new Uint8Array(this.#partSize);
  }

  /** Sends the filled part (starting the upload if needed); waits for room in flight. */
  async #flush(): Promise<void> {
    this.#throwIfFailed();
    while (this.#inFlight.size >= this.#maxInFlight) {
      await Promise.race(this.#inFlight.keys());
      this.#throwIfFailed();
    }
    if (this.#nextPart > this.#maxParts) {
      throw new RangeError(`Segment "${this.#key}" needs more than ${this.#maxParts} parts`);
    }
    const partNumber = this.#nextPart++;
    const buffer = this.#buffer!;
    const body = buffer.subarray(0, this.#fill);
    this.#buffer = null;
    this.#fill = 0;
    this.#upload ??= this.#store.createMultipart(this.#key);
    const upload = this.#upload;
    const task: Promise<void> = upload
      .then((u) => this.#store.uploadPart(u, partNumber, body))
      .then(
        (part) => {
          this.#parts.push(part);
          // The store is done with the bytes: the buffer may be reused.
          this.#giveBack(buffer);
        },
        (error) => {
          // Not reused: a request that failed may still be reading it.
          this.#budget?.release(buffer.length);
          this.#error ??= error;
        },
      )
      .finally(() => this.#inFlight.delete(task));
    this.#inFlight.set(task, buffer);
  }

  /** Waits until no part upload is in flight. */
  async #settle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all(this.#inFlight.keys());
  }

  #throwIfFailed(): void {
    if (this.#error !== null) throw this.#error;
  }

  /** A part buffer nothing refers to any more: to the budget's spares, or this writer's. */
  #giveBack(buffer: Uint8Array): void {
    const budget = this.#budget;
    if (!budget) {
      if (this.#state !== "finished") this.#spare.push(buffer);
    } else if (budget.recycle && buffer.length === this.#partSize) budget.recycle(buffer);
    else budget.release(buffer.length);
  }

  /** Frees the part being filled: reused after a PutObject that succeeded, not otherwise. */
  #release(reuse: boolean): void {
    if (this.#buffer && reuse) this.#giveBack(this.#buffer);
    else if (this.#buffer) this.#budget?.release(this.#buffer.length);
    this.#buffer = null;
    this.#fill = 0;
    this.#spare = [];
  }
}
