/**
 * Counters of failed authentications, rendered next to the store's metrics so that a
 * password-guessing run shows on a dashboard.
 *
 * @module
 */

/**
 * Why a request had no principal: no credentials, wrong ones, or a password check refused
 * before it ran (too many at once, or from that client: 429/503, `password_gate.ts`).
 */
export type AuthFailure = "missing" | "invalid" | "throttled";

/**
 * Failed authentications, by reason.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AuthMetrics } from "./metrics.ts";
 * const m = new AuthMetrics();
 * m.failed("invalid");
 * assert(m.render().includes('pagefs_auth_failures_total{reason="invalid"} 1'));
 * ```
 */
export class AuthMetrics {
  #failures: Record<AuthFailure, number> = { missing: 0, invalid: 0, throttled: 0 };

  /** Counts one failed authentication. */
  failed(reason: AuthFailure): void {
    this.#failures[reason]++;
  }

  /** How many failed, for one reason. */
  count(reason: AuthFailure): number {
    return this.#failures[reason];
  }

  /** The counters in Prometheus text exposition format. */
  render(): string {
    return [
      "# HELP pagefs_auth_failures_total Requests refused 401 (credentials missing or invalid)" +
      " or 429/503 (password checks throttled).",
      "# TYPE pagefs_auth_failures_total counter",
      `pagefs_auth_failures_total{reason="missing"} ${this.#failures.missing}`,
      `pagefs_auth_failures_total{reason="invalid"} ${this.#failures.invalid}`,
      `pagefs_auth_failures_total{reason="throttled"} ${this.#failures.throttled}`,
    ].join("\n") + "\n";
  }
}
