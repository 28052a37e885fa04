/**
 * Checks a write repeats right before its commit. The early checks of a request (locks,
 * the `If` header) run before its body is read; a slow upload would otherwise leave the
 * whole transfer as a window for another instance to take a lock. The VFS runs
 * {@linkcode Recheck.beforeCommit} right before each metadata CAS, after the data is
 * durable, and wraps whatever it throws; {@linkcode Recheck.reason} gives the check's own
 * error back, so the front end answers 423 or 412 rather than 500.
 *
 * @module
 */

/**
 * A check to repeat before each commit step of one request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Recheck } from "./recheck.ts";
 * let locked = false;
 * const recheck = new Recheck(() => {
 *   if (locked) throw new Error("Locked");
 *   return Promise.resolve();
 * });
 * await recheck.beforeCommit(); // passes
 * locked = true;
 * const wrapped = await recheck.beforeCommit().catch((e) => new Error("wrapped", { cause: e }));
 * assert((recheck.reason(wrapped) as Error).message === "Locked");
 * ```
 */
export class Recheck {
  readonly #check: () => Promise<void>;
  #inflight: Promise<void> | null = null;
  #refusal: { error: unknown } | null = null;

  constructor(check: () => Promise<void>) {
    this.#check = check;
  }

  /**
   * Runs the check. Concurrent steps (the members of a tree removal) join the run in
   * flight, which may have started a moment before a step was ready: the window stays one
   * round trip, and a batch costs one read. Once refused, every later step is too.
   */
  readonly beforeCommit = (): Promise<void> => {
    if (this.#refusal) return Promise.reject(this.#refusal.error);
    return this.#inflight ??= this.#run().finally(() => {
      this.#inflight = null;
    });
  };

  async #run(): Promise<void> {
    try {
      await this.#check();
    } catch (error) {
      this.#refusal ??= { error };
      throw error;
    }
  }

  /** The check's own error when it refused a commit; otherwise `error` itself. */
  reason(error: unknown): unknown {
    return this.#refusal ? this.#refusal.error : error;
  }
}
