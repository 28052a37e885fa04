/**
 * The service's Prometheus metrics, built on `prom-client` (the maintained client for
 * JavaScript; it runs under Deno without its default Node collectors, which read /proc and
 * need more permissions than Deploy grants, so process memory comes from
 * `Deno.memoryUsage()` instead).
 *
 * The store's own counters (`pagefs_s3_requests_total`, `pagefs_s3_bytes_total`, …) stay in
 * `src/store/metrics.ts`; this module adds latency histograms and the figures of the layers
 * above, and `/metrics` renders both.
 *
 * @module
 */

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { type S3Operation, StoreError, type StoreMetrics } from "../store/mod.ts";
import { LabeledCounter, LabeledHistogram } from "./_series.ts";

/** Request durations, seconds: from a cache hit to a slow multi-GiB upload. */
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** S3 request latencies, seconds. */
const S3_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Writes sharing one group-committed segment. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/** What a page cache reports (`Vfs.cacheStats()`). */
export interface CacheStatsSource {
  cacheStats(): {
    hits: number;
    misses: number;
    bytes: number;
    evictions?: number;
    /** The disk tier's, if there is one. */
    disk?: { hits: number; misses: number; bytes: number; pending: number } | null;
  };
}

/**
 * Every metric of one process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Telemetry } from "./metrics.ts";
 * const t = new Telemetry();
 * t.httpRequest({ front: "api", method: "GET", status: 200, seconds: 0.01, bytes: 5 });
 * const text = await t.render();
 * assert(text.includes('pagefs_http_request_duration_seconds_count{front="api",method="GET",status="200"} 1'));
 * ```
 */
export class Telemetry {
  readonly registry = new Registry();
  // Taken on every request: our own series, not prom-client's (see _series.ts).
  readonly #http: LabeledHistogram<"front" | "method" | "status">;
  readonly #httpBytes: LabeledCounter<"front">;
  readonly #s3: LabeledHistogram<"op" | "outcome">;
  readonly #conflicts: Counter<"op">;
  readonly #ambiguous: Counter<"op">;
  readonly #retries: Counter<"op">;
  readonly #unreachable: Gauge;
  readonly #unreachableTotal: Counter;
  readonly #groupCommit: Histogram<never>;
  readonly #groupBytes: Counter<never>;
  #cache: CacheStatsSource | null = null;
  readonly #watched = new WeakSet<StoreMetrics>();

  constructor() {
    const registers = [this.registry];
    this.#http = new LabeledHistogram({
      name: "pagefs_http_request_duration_seconds",
      help: "HTTP requests answered, by front end (api, dav, other), method and status.",
      labelNames: ["front", "method", "status"],
      buckets: HTTP_BUCKETS,
    });
    this.#httpBytes = new LabeledCounter({
      name: "pagefs_http_response_bytes_total",
      help: "Response body bytes sent (as far as known), by front end.",
      labelNames: ["front"],
    });
    this.#s3 = new LabeledHistogram({
      name: "pagefs_s3_request_duration_seconds",
      help: "S3 request latency to the response headers, by API operation and outcome.",
      labelNames: ["op", "outcome"],
      buckets: S3_BUCKETS,
    });
    this.#conflicts = new Counter({
      name: "pagefs_cas_conflicts_total",
      help: "Conditional writes that lost a compare-and-swap race (re-read and retried).",
      labelNames: ["op"],
      registers,
    });
    this.#ambiguous = new Counter({
      name: "pagefs_s3_ambiguous_total",
      help: "S3 writes whose outcome was unknown (resolved by re-reading, never repeated).",
      labelNames: ["op"],
      registers,
    });
    this.#retries = new Counter({
      name: "pagefs_s3_retries_total",
      help: "S3 requests repeated after a transient failure, by store method.",
      labelNames: ["op"],
      registers,
    });
    this.#unreachable = new Gauge({
      name: "pagefs_s3_unreachable",
      help: "1 while the S3 endpoint is taken for unreachable (requests answer 503 unsent).",
      registers,
    });
    this.#unreachableTotal = new Counter({
      name: "pagefs_s3_unreachable_total",
      help: "Times the S3 endpoint was taken for unreachable (a request got no answer).",
      registers,
    });
    this.#groupCommit = new Histogram({
      name: "pagefs_group_commit_writes",
      help: "Writes that shared one group-committed segment PUT.",
      buckets: BATCH_BUCKETS,
      registers,
    });
    this.#groupBytes = new Counter({
      name: "pagefs_group_commit_bytes_total",
      help: "Bytes written in group-committed segments.",
      registers,
    });
    const cacheSource = () => this.#cache?.cacheStats() ?? null;
    new Counter({
      name: "pagefs_page_cache_hits_total",
      help: "Pages read from the page cache.",
      registers,
      collect() {
        this.reset();
        this.inc(cacheSource()?.hits ?? 0);
      },
    });
    new Counter({
      name: "pagefs_page_cache_misses_total",
      help: "Pages that had to be fetched from S3.",
      registers,
      collect() {
        this.reset();
        this.inc(cacheSource()?.misses ?? 0);
      },
    });
    new Gauge({
      name: "pagefs_page_cache_bytes",
      help: "Bytes held in the page cache.",
      registers,
      collect() {
        this.set(cacheSource()?.bytes ?? 0);
      },
    });
    const diskSource = () => cacheSource()?.disk ?? null;
    new Counter({
      name: "pagefs_disk_cache_hits_total",
      help: "Blocks read from the disk tier (PAGEFS_CACHE_DIR).",
      registers,
      collect() {
        this.reset();
        this.inc(diskSource()?.hits ?? 0);
      },
    });
    new Counter({
      name: "pagefs_disk_cache_misses_total",
      help: "Blocks asked of the disk tier that it did not have (or had damaged).",
      registers,
      collect() {
        this.reset();
        this.inc(diskSource()?.misses ?? 0);
      },
    });
    new Gauge({
      name: "pagefs_disk_cache_bytes",
      help: "Bytes of block files in the disk tier.",
      registers,
      collect() {
        this.set(diskSource()?.bytes ?? 0);
      },
    });
    new Gauge({
      name: "pagefs_disk_cache_pending",
      help: "Block writes and fills of the disk tier queued or running (0: settled).",
      registers,
      collect() {
        this.set(diskSource()?.pending ?? 0);
      },
    });
    new Gauge({
      name: "pagefs_process_memory_bytes",
      help: "Process memory (Deno.memoryUsage): rss, heap_total, heap_used, external.",
      labelNames: ["kind"],
      registers,
      collect() {
        const m = Deno.memoryUsage();
        this.set({ kind: "rss" }, m.rss);
        this.set({ kind: "heap_total" }, m.heapTotal);
        this.set({ kind: "heap_used" }, m.heapUsed);
        this.set({ kind: "external" }, m.external);
      },
    });
  }

  /** Counts one answered HTTP request. */
  httpRequest(
    r: { front: string; method: string; status: number; seconds: number; bytes: number | null },
  ): void {
    this.#http.observe([r.front, r.method, String(r.status)], r.seconds);
    if (r.bytes !== null) this.#httpBytes.inc([r.front], r.bytes);
  }

  /**
   * Listens to a store's requests (latency, lost CAS races, ambiguous outcomes); once per
   * {@linkcode StoreMetrics}, however often it is called.
   */
  watchStore(metrics: StoreMetrics): void {
    if (this.#watched.has(metrics)) return;
    this.#watched.add(metrics);
    metrics.observers.push({
      request: (op: S3Operation, seconds: number, error?: unknown) => {
        const outcome = error === undefined
          ? "ok"
          : error instanceof StoreError
          ? error.kind
          : "error";
        this.#s3.observe([op, outcome], seconds);
        if (error instanceof StoreError) {
          if (error.kind === "precondition-failed") this.#conflicts.inc({ op });
          if (error.ambiguous) this.#ambiguous.inc({ op });
        }
      },
    });
  }

  /** Counts one retried store call. */
  retry(method: string): void {
    this.#retries.inc({ op: method });
  }

  /** The S3 endpoint stopped answering (`down`), or answers again. */
  reachability(down: boolean): void {
    this.#unreachable.set(down ? 1 : 0);
    if (down) this.#unreachableTotal.inc();
  }

  /** Counts one group commit. */
  groupCommit(writes: number, bytes: number): void {
    this.#groupCommit.observe(writes);
    this.#groupBytes.inc(bytes);
  }

  /** Reads the page cache's counters at each scrape. */
  watchCache(source: CacheStatsSource): void {
    this.#cache = source;
  }

  /** Every metric in Prometheus text format. */
  async render(): Promise<string> {
    const own = [this.#http, this.#httpBytes, this.#s3].map((m) => m.render()).join("\n\n");
    return `${await this.registry.metrics()}\n${own}\n`;
  }
}
