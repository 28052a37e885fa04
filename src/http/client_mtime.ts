/**
 * The mtime a client sets with a PUT (`X-OC-Mtime`, ownCloud's header, which rclone and the
 * ownCloud/Nextcloud clients send; the REST API also takes `?mtime=`). One parser for both
 * front ends, so that they accept the same values; each words its own 400.
 *
 * @module
 */

/**
 * `text` as unix seconds (up to 12 digits, up to 9 decimals) in ms, or null when it is not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientMtimeMs } from "./client_mtime.ts";
 * assert(clientMtimeMs("1700000000.5") === 1_700_000_000_500);
 * assert(clientMtimeMs("-1") === null);
 * ```
 */
export function clientMtimeMs(text: string): number | null {
  if (!/^\d{1,12}(\.\d{1,9})?$/.test(text.trim())) return null;
  return Math.round(Number(text) * 1000);
}
