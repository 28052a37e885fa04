/**
 * The object-store layer: one small interface, three backends (S3, local directory,
 * memory) and the wrappers every backend gets (request metrics, retry), plus fault
 * injection for tests.
 *
 * @module
 */

import type { StoreConfig } from "../config.ts";
import { LocalStore } from "./local.ts";
import { MemoryStore } from "./memory.ts";
import { MeteredStore, type StoreMetrics } from "./metrics.ts";
import { type RetryOptions, RetryStore } from "./retry.ts";
import { S3Store, type S3StoreOptions } from "./s3.ts";
import type { ObjectStore } from "./types.ts";

export * from "./types.ts";
export { readAll } from "./_util.ts";
export { S3_OPERATION, type S3Operation } from "./_wrapper.ts";
export { type Fault, type FaultCall, type FaultOptions, FaultyStore } from "./fault.ts";
export { LocalStore } from "./local.ts";
export { MemoryStore } from "./memory.ts";
export { MeteredStore, type MetricsSnapshot, StoreMetrics } from "./metrics.ts";
export { type RetryOptions, RetryStore } from "./retry.ts";
export { S3Store } from "./s3.ts";
export { probeConditionalWrites } from "./probe.ts";

/**
 * Opens the configured backend wrapped for service use: metrics directly around the
 * backend, so each retry attempt counts as the request it is, and retries outside them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openStore, StoreMetrics } from "./mod.ts";
 * const metrics = new StoreMetrics();
 * const store = openStore({ kind: "memory" }, { metrics });
 * await store.put("k", new Uint8Array(1));
 * assert(metrics.total() === 1);
 * ```
 */
export function openStore(
  config: StoreConfig,
  options: { metrics: StoreMetrics; retry?: RetryOptions; s3?: S3Bounds },
): ObjectStore {
  return new RetryStore(
    new MeteredStore(backend(config, options.s3 ?? {}), options.metrics),
    options.retry,
  );
}

/** The S3 adapter's time bounds and reachability reports (see `S3StoreOptions`). */
export type S3Bounds = Pick<
  S3StoreOptions,
  "requestTimeoutMs" | "unreachableWaitMs" | "onReachability" | "probeKey"
>;

function backend(config: StoreConfig, bounds: S3Bounds): ObjectStore {
  switch (config.kind) {
    case "memory":
      return new MemoryStore();
    case "local":
      return new LocalStore(config.dataDir);
    case "s3":
      return new S3Store({
        bucket: config.bucket,
        prefix: config.prefix,
        region: config.region,
        forcePathStyle: config.forcePathStyle,
        ...(config.endpoint ? { endpoint: config.endpoint } : {}),
        ...(config.credentials ? { credentials: config.credentials } : {}),
        ...bounds,
      });
  }
}
