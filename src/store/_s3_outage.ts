/**
 * Tells "S3 does not answer" from "S3 is slow", so that a store that stopped answering costs
 * a client one bounded wait, not one per request and attempt. A part of
 * {@linkcode S3Store} (`s3.ts`), imported by it alone.
 *
 * Each request is bounded on its own (`PAGEFS_S3_TIMEOUT_MS`, no answer or no progress);
 * before this, every request and every retry of it waited out that bound: with 60 s and 5
 * attempts, a GET, PUT or PROPFIND against an endpoint that accepted connections and never
 * answered hung for about 5 minutes, and every request behind it as long. Now the first
 * request sent that times out marks the store *unreachable*: from then on, requests are not
 * sent; each waits up to `waitMs` for the store to answer again and then fails with kind
 * `unavailable` (not sent, so never ambiguous; the retry wrapper does not repeat it; the
 * VFS reports EAGAIN, HTTP 503 with Retry-After). While unreachable, a probe goes out at
 * once and then every second, each bounded like any request: a GET of a key that is never
 * written, whose 404 is read to its end, so that a store that sends headers and then stalls
 * its bodies stays unreachable. Any answer at all, to a probe or to a request still in
 * flight, a 404 or a 403 as much as a 200, ends it, and the waiting requests go out at once.
 *
 * Only a request that timed out counts, never a slow answer or an error answer: a loaded
 * S3 that answers in seconds is not unreachable; nor one that timed out after the store
 * answered a request sent later (the store was alive after it went out: a slow request, or
 * a straggler from before the store came back). A false mark (one request over the bound
 * on a working store, with nothing sent after it answered yet) costs the requests of the
 * next moment a wait of one probe's round trip.
 *
 * @module
 */

import type { S3StoreOptions } from "./_s3_client.ts";
import { errorName, status } from "./_s3_errors.ts";
import type { S3Fetch } from "./_s3_fetch.ts";
import { StoreError } from "./types.ts";

/** How often a probe goes out while the store is unreachable. */
const PROBE_EVERY_MS = 1000;
/** Default of {@linkcode S3StoreOptions.unreachableWaitMs}. */
const UNREACHABLE_WAIT_MS = 1000;
/** Default of {@linkcode S3StoreOptions.probeKey}. */
const PROBE_KEY = "probe/reachability";

/**
 * When a request was sent (set by `S3Store`'s `#call`), and whether its caller reports the
 * answer itself once the answer's body has come (a GET's).
 */
export interface Sent {
  at: number;
  readonly bodyFollows?: boolean;
}

interface OutageOptions {
  /** How long a request waits for an unreachable store to answer again before failing. */
  readonly waitMs: number;
  /**
   * One request, bounded like any other, that resolves when the store answered it whole
   * (any status) and rejects when it did not.
   */
  readonly probe: () => Promise<unknown>;
  /** Where the store is, for messages. */
  readonly where: string;
  /** Told when the store stops answering (`down` true) and when it answers again. */
  readonly onChange?: ((down: boolean) => void) | undefined;
}

/** The reachability of one S3 endpoint, as the requests sent to it found it. */
export class S3Outage {
  #options: OutageOptions;
  /** When the latest request the store answered was sent (`performance.now()`). */
  #answeredSent = -Infinity;
  /** Since when the store is taken for unreachable; null while it answers. */
  #downSince: number | null = null;
  /** Requests waiting for it to answer again. */
  #waiting = new Set<() => void>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** Probes go out through `fetch`, to the options' probe key under `prefix`. */
  constructor(fetch: S3Fetch, options: S3StoreOptions & { readonly prefix: string }) {
    const key = options.prefix + (options.probeKey ?? PROBE_KEY);
    this.#options = {
      waitMs: options.unreachableWaitMs ?? UNREACHABLE_WAIT_MS,
      where: `S3 at ${options.endpoint ?? "AWS"} (bucket "${options.bucket}")`,
      onChange: options.onReachability,
      // Any answer read whole, a 403 as much as a 404 (the key is never written), will do.
      probe: async () => {
        try {
          const response = await fetch.send({ method: "GET", key, orNull: true });
          await response?.body?.cancel();
        } catch (error) {
          if (status(error) === undefined) throw error;
        }
      },
    };
  }

  /** True while the store is taken for unreachable. */
  get down(): boolean {
    return this.#downSince !== null;
  }

  /**
   * Lets a request go out: at once while the store answers; while it is unreachable, once
   * it answers again, within `waitMs`. Returns when the request is sent, for
   * {@linkcode answered} and {@linkcode timedOut}.
   *
   * @throws {StoreError} kind `unavailable` when the store has not answered within the wait:
   * the request was not sent.
   */
  admit(): number | Promise<number> {
    // No promise while the store answers: this runs before every S3 request.
    if (this.#downSince === null) return performance.now();
    return this.#wait().then(() => performance.now());
  }

  /** The store answered (any status) a request sent at `sentAt`: it is reachable. */
  answered(sentAt: number): void {
    if (sentAt > this.#answeredSent) this.#answeredSent = sentAt;
    if (this.#downSince === null) return;
    this.#downSince = null;
    clearInterval(this.#timer);
    this.#timer = undefined;
    for (const wake of this.#waiting) wake();
    this.#waiting.clear();
    this.#options.onChange?.(false);
  }

  /**
   * A request sent at `sentAt` failed with `error` (before translation): an answer with a
   * status says the store answers; a timeout, unless the caller aborted, that it may not.
   */
  failed(sentAt: number, error: unknown, signal: AbortSignal | undefined): void {
    if (status(error) !== undefined) this.answered(sentAt);
    else if (errorName(error) === "TimeoutError" && !signal?.aborted) this.timedOut(sentAt);
  }

  /**
   * A request sent at `sentAt` got no answer (or no bytes) within its bound. It counts unless
   * the store has answered a request sent after it: then the store was alive after this one
   * went out (a slow request, or a straggler from before the store last came back).
   */
  timedOut(sentAt: number): void {
    if (this.#downSince !== null || sentAt < this.#answeredSent) return;
    this.#downSince = performance.now();
    this.#options.onChange?.(true);
    this.#probe();
    this.#timer = setInterval(() => this.#probe(), PROBE_EVERY_MS);
    // The probes' own requests keep the process alive while they are in flight; the
    // interval alone must not keep a process that has nothing else to do.
    Deno.unrefTimer(this.#timer);
  }

  #probe(): void {
    const sentAt = performance.now();
    this.#options.probe().then(() => this.answered(sentAt), () => {});
  }

  async #wait(): Promise<void> {
    const since = this.#downSince!;
    let wake!: () => void;
    const woken = new Promise<boolean>((resolve) => wake = () => resolve(true));
    this.#waiting.add(wake);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), this.#options.waitMs);
    });
    const answered = await Promise.race([woken, late]);
    clearTimeout(timer);
    this.#waiting.delete(wake);
    if (answered) return;
    const seconds = ((performance.now() - since) / 1000).toFixed(1);
    throw new StoreError(
      "unavailable",
      `${this.#options.where} has not answered for ${seconds} s; the request was not sent`,
    );
  }
}
