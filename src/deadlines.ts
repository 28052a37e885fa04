/**
 * Time limits on many things under way at once, kept by one interval timer instead of a
 * timer each: a `setTimeout` and its `clearTimeout` cost 2-4 µs (Deno's timers are
 * Node-compatible objects kept in JavaScript), which was about 2% of a small request's CPU
 * for its S3 requests, and as much again for a large body read 16 KiB at a time. The
 * interval ticks every eighth of the limit (10 ms to 1 s), so a thing is given up between
 * the limit and the limit plus a tick; it runs only while something was under way at its
 * last tick. Used by the S3 requests in flight (`store/_s3_fetch.ts`) and the request body
 * reads under way (`http/input.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Deadlines } from "./deadlines.ts";
 * const limits = new Deadlines(10, { keepAlive: true });
 * const expired = await new Promise<boolean>((resolve) => {
 *   limits.start(() => resolve(true));
 * });
 * assert(expired);
 * const done = limits.start(() => assert(false, "ended in time"));
 * done();
 * ```
 *
 * @module
 */

/** One thing under way: `expire` runs once it is past `at` (ms, `performance.now()`). */
interface Entry {
  readonly at: number;
  readonly expire: () => void;
}

export class Deadlines {
  readonly #limitMs: number;
  readonly #tickMs: number;
  readonly #keepAlive: boolean;
  readonly #live = new Set<Entry>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * @param limitMs how long each thing may take
   * @param options.keepAlive whether the timer keeps the process alive while something is
   *   under way (a body read waits for nothing else that would; an S3 request's own
   *   connection does)
   */
  constructor(limitMs: number, options: { keepAlive: boolean }) {
    this.#limitMs = limitMs;
    this.#tickMs = Math.min(1000, Math.max(10, Math.floor(limitMs / 8)));
    this.#keepAlive = options.keepAlive;
  }

  /** Starts the clock of one thing; call what it returns once it ended in time. */
  start(expire: () => void): () => void {
    const entry = { at: performance.now() + this.#limitMs, expire };
    this.#live.add(entry);
    if (this.#timer === undefined) {
      const timer = setInterval(() => this.#tick(), this.#tickMs);
      if (!this.#keepAlive) Deno.unrefTimer(timer);
      this.#timer = timer;
    }
    return () => this.#live.delete(entry);
  }

  #tick(): void {
    if (this.#live.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    const now = performance.now();
    for (const entry of this.#live) {
      if (entry.at > now) continue;
      this.#live.delete(entry);
      entry.expire();
    }
  }
}
