/**
 * Conditional requests (RFC 9110 section 13): entity-tag and date validators evaluated in
 * the order of section 13.2.2, and the validator headers a response carries.
 *
 * @module
 */

import type { Stat } from "../vfs/mod.ts";
import { preconditionFailed } from "./errors.ts";

/** The quoted strong entity tag of a file version. */
export function etagOf(stat: Stat): string {
  return `"${stat.etag}"`;
}

/**
 * The last second {@linkcode httpDate} wrote and its text: files written together share
 * their second, and a `Date` and its text per answer showed in a small GET's CPU.
 */
let lastDate = { second: NaN, text: "" };

/** An IMF-fixdate (`Last-Modified`) for a time in ms; HTTP dates have second precision. */
export function httpDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  if (second !== lastDate.second) {
    lastDate = { second, text: new Date(second * 1000).toUTCString() };
  }
  return lastDate.text;
}

/** `ETag`, `Last-Modified` and `Accept-Ranges` of a file. */
export function validatorHeaders(stat: Stat): Record<string, string> {
  return {
    "etag": etagOf(stat),
    "last-modified": httpDate(stat.mtime),
    "accept-ranges": "bytes",
  };
}

interface EntityTag {
  readonly weak: boolean;
  readonly tag: string;
}

/**
 * Parses an `If-Match` / `If-None-Match` value: "*" or a list of entity tags. Members
 * that are not entity tags are dropped, so they can never match.
 */
export function parseEtagList(value: string): "*" | EntityTag[] {
  if (value.trim() === "*") return "*";
  const tags: EntityTag[] = [];
  for (const match of value.matchAll(/(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"/g)) {
    tags.push({ weak: match[1] !== undefined, tag: match[2]! });
  }
  return tags;
}

function strongMatch(list: "*" | EntityTag[], etag: string): boolean {
  return list === "*" || list.some((t) => !t.weak && t.tag === etag);
}

function weakMatch(list: "*" | EntityTag[], etag: string): boolean {
  return list === "*" || list.some((t) => t.tag === etag);
}

/** A valid HTTP date in ms, or null (an invalid date makes its header ignored). */
function parseDate(value: string | undefined): number | null {
  if (value === undefined) return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

const seconds = (ms: number) => Math.floor(ms / 1000);

/** Request headers that make a request conditional. */
export interface ConditionalHeaders {
  readonly ifMatch?: string | undefined;
  readonly ifNoneMatch?: string | undefined;
  readonly ifModifiedSince?: string | undefined;
  readonly ifUnmodifiedSince?: string | undefined;
}

/** Reads the conditional headers from a request. */
export function conditionalHeaders(headers: Headers): ConditionalHeaders {
  const get = (name: string) => headers.get(name) ?? undefined;
  return {
    ifMatch: get("if-match"),
    ifNoneMatch: get("if-none-match"),
    ifModifiedSince: get("if-modified-since"),
    ifUnmodifiedSince: get("if-unmodified-since"),
  };
}

/** True when the request carries none of the conditional headers. */
export function unconditional(headers: ConditionalHeaders): boolean {
  return headers.ifMatch === undefined && headers.ifNoneMatch === undefined &&
    headers.ifModifiedSince === undefined && headers.ifUnmodifiedSince === undefined;
}

/**
 * Evaluates preconditions against the current version (`null`: nothing there) in RFC 9110
 * order. Returns "not-modified" when a GET or HEAD should be answered 304.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { evaluatePreconditions } from "./preconditions.ts";
 * const stat = { etag: "abc", mtime: 0 } as import("../vfs/mod.ts").Stat;
 * assert(evaluatePreconditions({ ifNoneMatch: '"abc"' }, stat, true) === "not-modified");
 * ```
 * @throws {HttpError} 412 when a precondition fails.
 */
export function evaluatePreconditions(
  headers: ConditionalHeaders,
  current: Stat | null,
  safe: boolean,
): "proceed" | "not-modified" {
  if (headers.ifMatch !== undefined) {
    const list = parseEtagList(headers.ifMatch);
    if (!current) {
      throw preconditionFailed("If-Match failed: the resource does not exist", "ENOENT");
    }
    if (!strongMatch(list, current.etag)) {
      throw preconditionFailed("If-Match failed: the ETag differs");
    }
  } else if (current) {
    const since = parseDate(headers.ifUnmodifiedSince);
    if (since !== null && seconds(current.mtime) > seconds(since)) {
      throw preconditionFailed("If-Unmodified-Since failed: modified since");
    }
  }
  if (headers.ifNoneMatch !== undefined) {
    const list = parseEtagList(headers.ifNoneMatch);
    if (current && weakMatch(list, current.etag)) {
      if (safe) return "not-modified";
      const code = list === "*" ? "EEXIST" : "ESTALE";
      throw preconditionFailed("If-None-Match failed: the resource exists", code);
    }
  } else if (safe && current) {
    const since = parseDate(headers.ifModifiedSince);
    if (since !== null && seconds(current.mtime) <= seconds(since)) return "not-modified";
  }
  return "proceed";
}

/**
 * For a GET or HEAD of a representation without validators (a directory listing: no ETag,
 * no Last-Modified): `If-Match` holds only as `*` (the resource exists), else 412;
 * `If-None-Match: *` is false (304), a list of tags matches nothing; dates are ignored,
 * with no date to compare them to (RFC 9110 section 13.1). Before session 16 a listing
 * ignored them all: `If-Match: "x"` got 200.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { evaluateUnvalidated } from "./preconditions.ts";
 * assert(evaluateUnvalidated({ ifNoneMatch: "*" }) === "not-modified");
 * assert(evaluateUnvalidated({ ifMatch: "*", ifNoneMatch: '"a"' }) === "proceed");
 * ```
 * @throws {HttpError} 412 when `If-Match` names entity tags.
 */
export function evaluateUnvalidated(headers: ConditionalHeaders): "proceed" | "not-modified" {
  if (headers.ifMatch !== undefined && parseEtagList(headers.ifMatch) !== "*") {
    throw preconditionFailed("If-Match failed: a listing has no entity tag");
  }
  if (headers.ifNoneMatch !== undefined && parseEtagList(headers.ifNoneMatch) === "*") {
    return "not-modified";
  }
  return "proceed";
}

/**
 * The entity tags of an `If-Match` for a write's commit to check in its CAS (the VFS's
 * `ifMatch`): the strong tags of the list, of which the version the write replaces must
 * be one (RFC 9110 13.1.1). Weak tags never match a strong comparison, so they are left
 * out (a list of none refuses every version). Nothing for `*` (the file must merely exist:
 * the caller's `create: false`) or no header. Before, only a single tag was checked at the
 * commit: a list was judged up front alone, and a version written meanwhile was overwritten.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commitTags } from "./preconditions.ts";
 * assert(commitTags('"a", W/"b", "c"').ifMatch?.join() === "a,c");
 * assert(commitTags("*").ifMatch === undefined);
 * ```
 */
export function commitTags(value: string | undefined): { ifMatch?: string[] } {
  if (value === undefined) return {};
  const list = parseEtagList(value);
  if (list === "*") return {};
  return { ifMatch: list.filter((t) => !t.weak).map((t) => t.tag) };
}

/**
 * For a state-changing request (DELETE): a check of the version found at the commit, for
 * the VFS to run in the CAS that makes the change (`Vfs.unlink`'s `expect`), so a version
 * written after the request evaluated its preconditions is not changed on their strength.
 * Undefined without preconditions.
 */
export function commitCheck(headers: ConditionalHeaders): ((stat: Stat) => boolean) | undefined {
  if (unconditional(headers)) return undefined;
  return (stat) => {
    try {
      return evaluatePreconditions(headers, stat, false) === "proceed";
    } catch {
      return false;
    }
  };
}

/**
 * Whether an `If-Range` value lets a Range apply (RFC 9110 section 13.1.5): only a strong
 * entity tag equal to the current one. A date never does: Last-Modified has one-second
 * precision, too weak to prove two writes in one second apart, so a full 200 is sent.
 */
export function ifRangeHolds(value: string | undefined, current: Stat): boolean {
  if (value === undefined) return true;
  const list = parseEtagList(value);
  return list !== "*" && list.length === 1 && strongMatch(list, current.etag);
}
