/**
 * Strict reading of JSON operation bodies: every field has one type, numbers are safe
 * non-negative integers, unknown fields are refused. Anything else is a 400.
 *
 * @module
 */

import { badRequest } from "./errors.ts";
import { parseJsonPath } from "../http/path.ts";

/** Largest time (ms) a Date can hold. */
const TIME_MAX = 8.64e15;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * The fields of one JSON object, read with type checks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonFields } from "./validate.ts";
 * const fields = new JsonFields({ op: "truncate", size: 3 }, ["op", "size"]);
 * assert(fields.uint("size") === 3);
 * ```
 */
export class JsonFields {
  readonly #body: Record<string, unknown>;

  /** @throws {HttpError} 400 when the body has a field not in `allowed`. */
  constructor(body: Record<string, unknown>, allowed: readonly string[]) {
    for (const key of Object.keys(body)) {
      if (!allowed.includes(key)) throw badRequest(`Unknown field "${key}"`);
    }
    this.#body = body;
  }

  /** True when the field is present (and not null). */
  has(name: string): boolean {
    return this.#body[name] !== undefined && this.#body[name] !== null;
  }

  #get(name: string): unknown {
    if (!this.has(name)) throw badRequest(`Missing field "${name}"`);
    return this.#body[name];
  }

  /** A required string. */
  string(name: string): string {
    const value = this.#get(name);
    if (typeof value !== "string") throw badRequest(`Field "${name}" must be a string`);
    return value;
  }

  /** A required absolute path (no ".", ".." or empty names). */
  path(name: string): string {
    return parseJsonPath(this.string(name));
  }

  /**
   * Whether the path in field `name` ends with a slash (other than the root's): it then
   * names a directory, as a trailing slash does in a URL (see `rest/path.ts`).
   */
  slashed(name: string): boolean {
    const value = this.string(name);
    return value.length > 1 && value.endsWith("/");
  }

  /** An optional boolean, false when absent. */
  flag(name: string): boolean {
    if (!this.has(name)) return false;
    const value = this.#body[name];
    if (typeof value !== "boolean") throw badRequest(`Field "${name}" must be a boolean`);
    return value;
  }

  /** A required safe non-negative integer, at most `max`. */
  uint(name: string, max = Number.MAX_SAFE_INTEGER): number {
    const value = this.#get(name);
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0 || value > max) {
      throw badRequest(`Field "${name}" must be an integer from 0 to ${max}`);
    }
    return value;
  }

  /** Permission bits: an integer up to 0o7777, or octal text such as "0755". */
  mode(name: string): number {
    const value = this.#get(name);
    if (typeof value === "string" && /^(0o)?[0-7]{1,5}$/.test(value)) {
      const mode = parseInt(value.replace(/^0o/, ""), 8);
      if (mode <= 0o7777) return mode;
    }
    if (typeof value === "string") throw badRequest(`Field "${name}" must be octal, e.g. "0644"`);
    return this.uint(name, 0o7777);
  }

  /** A time: ms since the epoch, or an ISO 8601 date-time with a zone. Returns ms. */
  time(name: string): number {
    const value = this.#get(name);
    if (typeof value === "string") {
      const ms = ISO_TIME.test(value) ? Date.parse(value) : NaN;
      if (!Number.isFinite(ms) || ms < 0) {
        throw badRequest(`Field "${name}" must be an ISO 8601 date-time with a zone`);
      }
      return ms;
    }
    return this.uint(name, TIME_MAX);
  }

  /** Standard (padded) base64, decoded. */
  base64(name: string): Uint8Array {
    const value = this.string(name);
    if (value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
      throw badRequest(`Field "${name}" must be standard base64`);
    }
    const binary = atob(value);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }
}
