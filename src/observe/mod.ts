/**
 * Running the service: structured logs, Prometheus metrics, readiness.
 *
 * @module
 */

export { causeChain, type LogFields, type LogFormat, Logger, type LogLevel } from "./log.ts";
export { type CacheStatsSource, Telemetry } from "./metrics.ts";
export { Readiness, type ReadinessOptions, type ReadyResult } from "./ready.ts";
export { RequestLog, type RequestLogOptions } from "./request_log.ts";
