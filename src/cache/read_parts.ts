/**
 * The pieces of a large read ({@linkcode Part}) and what a started piece hands out
 * ({@linkcode Source}): a queue of chunks filled ahead of the consumer
 * ({@linkcode ChunkQueue}, which holds the piece's bytes in the memory budget until the
 * consumer takes them), a small read's one promised chunk, or a hole's zeros. The stream that
 * orders them, and the segment parts, are in `range_stream.ts`.
 *
 * @module
 */

import type { MemoryBudget } from "./budget.ts";
import { DISK_BLOCK } from "./disk_cache.ts";

/** One piece of a read, started when the stream's look-ahead reaches it. */
export interface Part {
  /** Bytes it holds in memory once started (0 for holes). */
  readonly bytes: number;
  start(): Source;
  /** Told when the stream ends without ever starting it (e.g. the reader went away). */
  abandon?(): void;
}

/** The chunks of a started part, in order. */
export interface Source {
  /** The next chunk; null at the end. */
  next(): Promise<Uint8Array | null>;
  /** Stops fetching and drops what was fetched (idempotent). */
  cancel(): void;
}

/** A part whose chunks come from one promise (a small read through the page cache). */
export function promisedPart(bytes: number, read: () => Promise<Uint8Array>): Part {
  return {
    bytes,
    start: () => {
      let promise: Promise<Uint8Array> | null = read();
      // A part started ahead and then cancelled must not leave a rejection unhandled.
      promise.catch(() => {});
      return {
        next: async () => {
          const p = promise;
          promise = null;
          return p ? await p : null;
        },
        cancel: () => {
          promise = null;
        },
      };
    },
  };
}

/** A hole: `length` zero bytes, made as they are consumed (1 MiB at a time). */
export function zerosPart(length: number): Part {
  return {
    bytes: 0,
    start: () => {
      let left = length;
      return {
        next: () => {
          if (left <= 0) return Promise.resolve(null);
          const n = Math.min(left, DISK_BLOCK);
          left -= n;
          return Promise.resolve(new Uint8Array(n));
        },
        cancel: () => {
          left = 0;
        },
      };
    },
  };
}

/**
 * The chunks of one part, produced ahead of the consumer. It takes the part's bytes from
 * the budget when created (`acquired` resolves then) and gives each chunk's back as the
 * consumer takes it; the rest on cancel.
 */
export class ChunkQueue implements Source {
  readonly acquired: Promise<void>;
  onCancel: (() => void) | null = null;
  readonly #budget: MemoryBudget | null;
  #held: number;
  #items: Uint8Array[] = [];
  #done = false;
  #error: { error: unknown } | null = null;
  #cancelled = false;
  #wake: (() => void) | null = null;

  constructor(budget: MemoryBudget | null, bytes: number) {
    this.#budget = budget;
    this.#held = budget ? bytes : 0;
    this.acquired = budget && bytes > 0 ? budget.acquire(bytes) : Promise.resolve();
    // Awaited by the fetch; a part cancelled first must not leave a rejection unhandled.
    this.acquired.catch(() => {});
  }

  push(chunk: Uint8Array): void {
    if (this.#cancelled) return;
    this.#items.push(chunk);
    this.#notify();
  }

  end(): void {
    this.#done = true;
    this.#notify();
  }

  /** Fails the part, unless it has ended already (its bytes are all there). */
  fail(error: unknown): void {
    if (this.#done) return;
    this.#error = { error };
    this.#notify();
  }

  async next(): Promise<Uint8Array | null> {
    for (;;) {
      const chunk = this.#items.shift();
      if (chunk) {
        this.#give(chunk.length);
        return chunk;
      }
      if (this.#error) throw this.#error.error;
      if (this.#done) {
        this.#give(this.#held);
        return null;
      }
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }

  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#items = [];
    this.onCancel?.();
    // Bytes are given back once the acquisition has happened (it may still be waiting).
    this.acquired.then(() => this.#give(this.#held), () => {});
  }

  #give(bytes: number): void {
    const n = Math.min(bytes, this.#held);
    if (n <= 0) return;
    this.#held -= n;
    this.#budget?.release(n);
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
