/**
 * The startup rule: PageFS serves without authentication only where nobody else can reach it.
 *
 * @module
 */

import type { Authenticator } from "./verify.ts";

/**
 * True for host names and addresses only this machine can reach.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopback } from "./exposure.ts";
 * assert(isLoopback("127.0.0.1") && isLoopback("[::1]") && !isLoopback("0.0.0.0"));
 * ```
 */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Why the service must not start listening on `host` with these credentials, or `null`
 * when it may: a non-loopback host needs credentials.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkExposure } from "./exposure.ts";
 * assert(checkExposure("127.0.0.1", null) === null);
 * assert(checkExposure("0.0.0.0", null)?.includes("PAGEFS_USERS"));
 * ```
 */
export function checkExposure(host: string, auth: Authenticator | null): string | null {
  if (auth !== null || isLoopback(host)) return null;
  return `Refusing to listen on "${host}" without credentials: set PAGEFS_USERS or ` +
    "PAGEFS_USERS_FILE, or bind HOST to a loopback address";
}
