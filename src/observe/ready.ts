/**
 * Readiness: whether the store answers, within a bound. The answer is cached briefly and
 * concurrent checks share one probe, so a flood of `/readyz` requests costs at most one S3
 * request per cache period.
 *
 * @module
 */

import { causeChain } from "./log.ts";

export interface ReadyResult {
  readonly ready: boolean;
  /** Why not, when not ready. */
  readonly reason?: string;
  /** How long the probe took (or the bound, when it did not answer). */
  readonly ms: number;
}

export interface ReadinessOptions {
  /** Longest wait for the probe (default 2000 ms). */
  readonly timeoutMs?: number;
  /** How long an answer is reused (default 1000 ms). */
  readonly cacheMs?: number;
  /** Monotonic clock in ms, replaceable in tests. */
  readonly now?: () => number;
}

/**
 * Runs `probe` at most once per cache period, bounded by a timeout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Readiness } from "./ready.ts";
 * let calls = 0;
 * const r = new Readiness(async () => { calls++; }, { cacheMs: 60_000 });
 * await Promise.all([r.check(), r.check()]);
 * assert((await r.check()).ready && calls === 1);
 * ```
 */
export class Readiness {
  #probe: () => Promise<unknown>;
  #timeoutMs: number;
  #cacheMs: number;
  #now: () => number;
  #last: { at: number; result: ReadyResult } | null = null;
  #inFlight: Promise<ReadyResult> | null = null;

  constructor(probe: () => Promise<unknown>, options: ReadinessOptions = {}) {
    this.#probe = probe;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#cacheMs = options.cacheMs ?? 1000;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The bound on one probe, in ms. */
  get timeoutMs(): number {
    return this.#timeoutMs;
  }

  /** The current answer: cached, the probe in flight, or a new probe. */
  check(): Promise<ReadyResult> {
    const last = this.#last;
    if (last && this.#now() - last.at < this.#cacheMs) return Promise.resolve(last.result);
    return this.#inFlight ??= this.#run().then((result) => {
      this.#last = { at: this.#now(), result };
      this.#inFlight = null;
      return result;
    });
  }

  async #run(): Promise<ReadyResult> {
    const started = this.#now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<ReadyResult>((resolve) => {
      timer = setTimeout(
        () =>
          resolve({
            ready: false,
            reason: `The store did not answer within ${this.#timeoutMs} ms`,
            ms: this.#timeoutMs,
          }),
        this.#timeoutMs,
      );
    });
    const probe = this.#probe().then(
      (): ReadyResult => ({ ready: true, ms: Math.round(this.#now() - started) }),
      (error): ReadyResult => ({
        ready: false,
        reason: causeChain(error),
        ms: Math.round(this.#now() - started),
      }),
    );
    try {
      return await Promise.race([probe, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
