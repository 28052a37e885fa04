/**
 * Request metrics: how many requests of each S3 operation a store made, how many failed,
 * and how many bytes went up and down. `/metrics` renders them in Prometheus text format,
 * and the benchmarks read them to count S3 requests per workload.
 *
 * Place the metered store directly around the backend (under the retry wrapper) so that
 * every attempt is counted as the request it is.
 *
 * @module
 */

import { type Body, type ObjectStore, StoreError } from "./types.ts";
import { S3_OPERATION, type S3Operation, type StoreMethod, WrappedStore } from "./_wrapper.ts";

/** A point-in-time copy of the counters. */
export interface MetricsSnapshot {
  readonly requests: Readonly<Partial<Record<S3Operation, number>>>;
  readonly errors: Readonly<Partial<Record<S3Operation, number>>>;
  readonly uploadBytes: number;
  readonly downloadBytes: number;
}

/**
 * Told about every request a metered store made: latency histograms, failure logs and the
 * like live above the store layer and listen here.
 */
export interface StoreObserver {
  /**
   * One request finished after `seconds`; `error` is set when it failed (a
   * {@linkcode StoreError} once translated: its `kind` says `precondition-failed` for a
   * lost compare-and-swap, and `ambiguous` when the outcome is unknown).
   */
  request(op: S3Operation, seconds: number, error?: unknown): void;
}

/** Counters shared by every metered store of one process. */
export class StoreMetrics {
  #requests = new Map<S3Operation, number>();
  #errors = new Map<S3Operation, number>();
  uploadBytes = 0;
  downloadBytes = 0;
  /** Listeners told about each request (see {@linkcode StoreObserver}). */
  readonly observers: StoreObserver[] = [];

  /** Counts one request. */
  request(op: S3Operation, failed = false): void {
    this.#requests.set(op, (this.#requests.get(op) ?? 0) + 1);
    if (failed) this.#errors.set(op, (this.#errors.get(op) ?? 0) + 1);
  }

  snapshot(): MetricsSnapshot {
    return {
      requests: Object.fromEntries(this.#requests),
      errors: Object.fromEntries(this.#errors),
      uploadBytes: this.uploadBytes,
      downloadBytes: this.downloadBytes,
    };
  }

  /** Total requests, optionally only of the operations given. */
  total(ops?: readonly S3Operation[]): number {
    let n = 0;
    for (const [op, count] of this.#requests) if (!ops || ops.includes(op)) n += count;
    return n;
  }

  /** The counters in Prometheus text exposition format. */
  render(): string {
    const lines = [
      "# HELP pagefs_s3_requests_total S3 requests made, by API operation.",
      "# TYPE pagefs_s3_requests_total counter",
    ];
    for (const [op, count] of [...this.#requests].sort()) {
      lines.push(`pagefs_s3_requests_total{op="${op}"} ${count}`);
    }
    lines.push(
      "# HELP pagefs_s3_request_errors_total S3 requests that failed, by API operation.",
      "# TYPE pagefs_s3_request_errors_total counter",
    );
    for (const [op, count] of [...this.#errors].sort()) {
      lines.push(`pagefs_s3_request_errors_total{op="${op}"} ${count}`);
    }
    lines.push(
      "# HELP pagefs_s3_bytes_total Bytes of object data sent to and received from S3.",
      "# TYPE pagefs_s3_bytes_total counter",
      `pagefs_s3_bytes_total{direction="upload"} ${this.uploadBytes}`,
      `pagefs_s3_bytes_total{direction="download"} ${this.downloadBytes}`,
    );
    return lines.join("\n") + "\n";
  }
}

/**
 * A store that counts its inner store's requests and bytes into a {@linkcode StoreMetrics}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "./memory.ts";
 * import { MeteredStore, StoreMetrics } from "./metrics.ts";
 * const metrics = new StoreMetrics();
 * const store = new MeteredStore(new MemoryStore(), metrics);
 * await store.put("k", new Uint8Array(3));
 * assert(metrics.snapshot().requests.PutObject === 1);
 * assert(metrics.uploadBytes === 3);
 * ```
 */
export class MeteredStore extends WrappedStore {
  readonly metrics: StoreMetrics;

  constructor(inner: ObjectStore, metrics: StoreMetrics) {
    super(inner);
    this.metrics = metrics;
  }

  protected override async call<T>(
    method: StoreMethod,
    _detail: unknown,
    run: () => Promise<T>,
  ): Promise<T> {
    const op = S3_OPERATION[method];
    const started = performance.now();
    try {
      const result = await run();
      this.metrics.request(op);
      this.#observe(op, started);
      return result;
    } catch (error) {
      // Refused unsent while the endpoint is taken for unreachable: not a request to S3
      // (still told to the observers, whose log says why the call failed).
      if (!(error instanceof StoreError && error.kind === "unavailable")) {
        this.metrics.request(op, true);
      }
      this.#observe(op, started, error);
      throw error;
    }
  }

  #observe(op: S3Operation, started: number, error?: unknown): void {
    const seconds = (performance.now() - started) / 1000;
    for (const observer of this.metrics.observers) {
      try {
        observer.request(op, seconds, error);
      } catch {
        // An observer's failure is not the request's.
      }
    }
  }

  override async get(...args: Parameters<ObjectStore["get"]>) {
    const result = await super.get(...args);
    if (result?.status !== "ok") return result;
    // Counted as answered (the body's declared length), not chunk by chunk as it is read:
    // a stream stage of its own would keep a large read from going out as the runtime's
    // own body (see RangeStreams.direct). A body abandoned half way counts whole.
    this.metrics.downloadBytes += result.length;
    return result;
  }

  override put(key: string, body: Body, options?: Parameters<ObjectStore["put"]>[2]) {
    if (body instanceof Uint8Array) {
      return super.put(key, body, options).then((r) => {
        this.metrics.uploadBytes += body.length;
        return r;
      });
    }
    return super.put(key, body.pipeThrough(this.#counter()), options);
  }

  override uploadPart(...args: Parameters<ObjectStore["uploadPart"]>) {
    return super.uploadPart(...args).then((r) => {
      this.metrics.uploadBytes += args[2].length;
      return r;
    });
  }

  #counter(): TransformStream<Uint8Array, Uint8Array> {
    const metrics = this.metrics;
    return new TransformStream({
      transform(chunk, controller) {
        metrics.uploadBytes += chunk.length;
        controller.enqueue(chunk);
      },
    });
  }
}
