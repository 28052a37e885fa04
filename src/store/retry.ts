/**
 * Retries transient and throttling failures with exponential backoff and full jitter.
 *
 * A failure that may have taken effect (`ambiguous`: no answer, or a 5xx to a write) is
 * retried only when repeating the call is harmless: reads, deletes, parts, and
 * unconditional puts of bytes. A conditional put is never repeated after such a failure;
 * its caller re-reads and decides (`src/format/cas.ts`). A failed
 * CompleteMultipartUpload may have completed the upload: it looks (HEAD) before trying
 * again or failing.
 *
 * @module
 */

import {
  isRetryable,
  type MultipartUpload,
  type ObjectStore,
  type PutResult,
  StoreError,
  type UploadedPart,
} from "./types.ts";
import { type StoreMethod, WrappedStore } from "./_wrapper.ts";

export interface RetryOptions {
  /** Attempts in all, including the first (default 5). */
  readonly attempts?: number;
  /** Backoff before the second attempt, doubled each time (default 50 ms). */
  readonly baseDelayMs?: number;
  /** Cap on one backoff (default 2 s). */
  readonly maxDelayMs?: number;
  /** Source of randomness in [0, 1), replaceable for tests. */
  readonly random?: () => number;
  /** Waits `ms`; replaceable for tests. */
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * No attempt starts once the call has run this long (default: no limit). The service sets
   * it to the S3 request bound: an attempt that waited that long for an answer is not
   * repeated, since a store that gives no answer for that long would most likely make the
   * next attempt wait as long again, and 5 attempts of 60 s each held a client's request
   * for 5 minutes. Failures that come quickly (a 5xx, a reset) are retried as before.
   */
  readonly budgetMs?: number;
  /** Told before each repeated attempt (for metrics). */
  readonly onRetry?: (method: StoreMethod, error: unknown) => void;
}

/**
 * A store that retries its inner store's retryable failures.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "./memory.ts";
 * import { RetryStore } from "./retry.ts";
 * const store = new RetryStore(new MemoryStore(), { attempts: 3 });
 * assert((await store.head("missing")) === null);
 * ```
 */
export class RetryStore extends WrappedStore {
  #attempts: number;
  #budget: number;
  #base: number;
  #max: number;
  #random: () => number;
  #sleep: (ms: number) => Promise<void>;
  #onRetry: ((method: StoreMethod, error: unknown) => void) | undefined;

  constructor(inner: ObjectStore, options: RetryOptions = {}) {
    super(inner);
    this.#attempts = Math.max(1, options.attempts ?? 5);
    this.#budget = options.budgetMs ?? Infinity;
    this.#base = options.baseDelayMs ?? 50;
    this.#max = options.maxDelayMs ?? 2000;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#onRetry = options.onRetry;
  }

  /**
   * Completes an upload, retrying what failed. A failure may come after the upload was
   * completed (and a repeat then fails with NoSuchUpload), so after any failure the object
   * is looked up first: if it is there, the upload completed. PageFS completes uploads only
   * to new, uniquely named keys, so an object there is this upload's.
   */
  override async completeMultipart(
    upload: MultipartUpload,
    parts: readonly UploadedPart[],
  ): Promise<PutResult> {
    const start = performance.now();
    for (let attempt = 1;; attempt++) {
      try {
        return await this.inner.completeMultipart(upload, parts);
      } catch (error) {
        const again = this.#again(attempt, start) && isRetryable(error);
        const notFound = error instanceof StoreError && error.kind === "not-found";
        if (!again && !notFound && !(error as { ambiguous?: boolean }).ambiguous) throw error;
        const done = await this.head(upload.key);
        if (done) return { etag: done.etag };
        if (!again) throw error;
        await this.#backoff(attempt);
      }
    }
  }

  /** Whether another attempt may start after `attempt` of a call that began at `start`. */
  #again(attempt: number, start: number): boolean {
    return attempt < this.#attempts && performance.now() - start < this.#budget;
  }

  #backoff(attempt: number): Promise<void> {
    const ceiling = Math.min(this.#max, this.#base * 2 ** (attempt - 1));
    return this.#sleep(Math.floor(this.#random() * ceiling));
  }

  protected override async call<T>(
    method: StoreMethod,
    detail: { retrySafe: boolean },
    run: () => Promise<T>,
  ): Promise<T> {
    const start = performance.now();
    let maybeApplied: unknown = null;
    for (let attempt = 1;; attempt++) {
      try {
        return await run();
      } catch (error) {
        const ambiguous = (error as { ambiguous?: boolean }).ambiguous === true;
        if (ambiguous) maybeApplied = error;
        const again = this.#again(attempt, start) && isRetryable(error) &&
          (!ambiguous || detail.retrySafe);
        // A repeat refused unsent (the store taken for unreachable) says nothing of an
        // earlier attempt that may have been applied: the caller hears that one.
        const unsent = error instanceof StoreError && error.kind === "unavailable";
        if (!again) throw unsent && maybeApplied !== null ? maybeApplied : error;
        this.#onRetry?.(method, error);
        await this.#backoff(attempt);
      }
    }
  }
}
