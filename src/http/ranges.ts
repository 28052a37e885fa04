/**
 * The `Range` request header (RFC 9110 section 14.2), single byte ranges only.
 *
 * @module
 */

import type { Stat } from "../vfs/mod.ts";
import { badRequest, HttpError } from "./errors.ts";
import { ifRangeHolds } from "./preconditions.ts";

/** What a `Range` header asks of a representation of `size` bytes. */
export type RangeRequest =
  | { readonly kind: "none" }
  | { readonly kind: "range"; readonly start: number; readonly end: number }
  | { readonly kind: "unsatisfiable" };

/**
 * Interprets a `Range` header. A missing, invalid or multi-range header, or another unit,
 * is ignored (the whole representation is sent, which RFC 9110 always allows); a valid
 * single range that selects no byte is unsatisfiable (416). `end` is inclusive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRange } from "./ranges.ts";
 * assert(JSON.stringify(parseRange("bytes=-2", 10)) ===
 *   JSON.stringify({ kind: "range", start: 8, end: 9 }));
 * assert(parseRange("bytes=10-", 10).kind === "unsatisfiable");
 * assert(parseRange("bytes=5-2", 10).kind === "none");
 * assert(parseRange("bytes=-5", 0).kind === "none");
 * ```
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: "none" };
  const unit = /^\s*bytes\s*=(.*)$/i.exec(header);
  if (!unit) return { kind: "none" };
  const specs = unit[1]!.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (specs.length !== 1) return { kind: "none" };
  const spec = specs[0]!;
  const suffix = /^-(\d+)$/.exec(spec);
  if (suffix) {
    const length = Number(suffix[1]);
    if (length === 0) return { kind: "unsatisfiable" };
    // RFC 9110 section 14.1.1: of an empty representation a suffix range with a non-zero
    // length is satisfiable (the only satisfiable form), yet no Content-Range can describe
    // it: the whole (empty) representation, 200, as nginx answers. Before: 416.
    if (size === 0) return { kind: "none" };
    return { kind: "range", start: Math.max(0, size - length), end: size - 1 };
  }
  const span = /^(\d+)-(\d*)$/.exec(spec);
  if (!span) return { kind: "none" };
  const first = Number(span[1]);
  const last = span[2] === "" ? Infinity : Number(span[2]);
  if (last < first) return { kind: "none" };
  if (first >= size) return { kind: "unsatisfiable" };
  return { kind: "range", start: first, end: Math.min(last, size - 1) };
}

/**
 * Parses the `Content-Range` of a partial write: `bytes a-b/*` or `bytes a-b/<length>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseContentRange } from "./ranges.ts";
 * assert(parseContentRange("bytes 4-7/*").start === 4);
 * ```
 * @throws {HttpError} 400 when malformed or invalid, 416 when the last byte precedes the first.
 */
export function parseContentRange(value: string): { start: number; end: number } {
  const match = /^\s*bytes (\d{1,16})-(\d{1,16})\/(\*|\d{1,16})\s*$/i.exec(value);
  if (!match) throw badRequest(`Malformed Content-Range "${value}": expected "bytes a-b/*"`);
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
    throw badRequest(`Content-Range "${value}" is out of range`);
  }
  if (end < start) {
    throw new HttpError(416, "ERANGE", `Content-Range "${value}" ends before it starts`);
  }
  if (match[3] !== "*" && Number(match[3]) <= end) {
    throw badRequest(`Content-Range "${value}" ends past its complete length`);
  }
  return { start, end };
}

/** The bytes of a file a GET or HEAD answers with, and how to say so. */
export interface Span {
  readonly offset: number;
  readonly length: number;
  readonly status: 200 | 206;
  /** `content-length`, and `content-range` for a 206. */
  readonly headers: Record<string, string>;
}

/**
 * The span of file version `stat` that `request` asks for: its `Range` (GET only, RFC
 * 9110 section 14.2) when `If-Range` allows, else everything.
 *
 * @throws {HttpError} 416 when the range selects no byte.
 */
export function requestedSpan(request: Request, stat: Stat): Span {
  const headers = request.headers;
  const range = request.method === "GET" && ifRangeHolds(headers.get("if-range") ?? undefined, stat)
    ? parseRange(headers.get("range") ?? undefined, stat.size)
    : { kind: "none" as const };
  if (range.kind === "unsatisfiable") {
    throw new HttpError(416, "ERANGE", `Range not satisfiable for ${stat.size} bytes`, {
      headers: { "content-range": `bytes */${stat.size}` },
    });
  }
  if (range.kind === "none") {
    return {
      offset: 0,
      length: stat.size,
      status: 200,
      headers: { "content-length": String(stat.size) },
    };
  }
  const length = range.end - range.start + 1;
  return {
    offset: range.start,
    length,
    status: 206,
    headers: {
      "content-length": String(length),
      "content-range": `bytes ${range.start}-${range.end}/${stat.size}`,
    },
  };
}
