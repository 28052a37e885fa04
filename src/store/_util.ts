// Helpers shared by the store backends and wrappers. Not part of the public surface.

import { type Body, type ByteRange, MAX_PARTS, StoreError } from "./types.ts";

/** Reads a whole stream into one array. */
export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    chunks.push(chunk);
    total += chunk.length;
  }
  return concat(chunks, total);
}

/** Joins byte arrays; `total` may be passed when already known. */
export function concat(chunks: readonly Uint8Array[], total?: number): Uint8Array {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(total ?? chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** Reads a put body into memory (backends that cannot stream use this). */
export function bodyBytes(body: Body): Promise<Uint8Array> {
  return body instanceof Uint8Array ? Promise.resolve(body) : readAll(body);
}

/** A stream that yields `bytes` once. */
export function streamOf(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      if (bytes.length > 0) controller.enqueue(bytes);
      controller.close();
    },
  });
}

/**
 * Resolves a range against an object of `size` bytes the way S3 does: the end is clamped,
 * a suffix longer than the object means the whole object, and a range that starts at or
 * past the end (or any range of an empty object, or a zero suffix) is unsatisfiable.
 *
 * @returns inclusive start and exclusive end.
 * @throws {StoreError} kind `invalid-range` when unsatisfiable, `invalid` when malformed.
 */
export function resolveRange(
  range: ByteRange,
  size: number,
  key: string,
): { start: number; end: number } {
  if ("suffix" in range) {
    if (!Number.isSafeInteger(range.suffix) || range.suffix < 0) {
      throw new StoreError("invalid", `Invalid suffix range ${range.suffix}`, { key });
    }
    if (range.suffix === 0 || size === 0) {
      throw new StoreError("invalid-range", `Range not satisfiable for size ${size}`, { key });
    }
    return { start: Math.max(0, size - range.suffix), end: size };
  }
  const { start, end } = range;
  if (
    !Number.isSafeInteger(start) || start < 0 ||
    (end !== undefined && (!Number.isSafeInteger(end) || end < start))
  ) {
    throw new StoreError("invalid", `Invalid range ${start}-${end ?? ""}`, { key });
  }
  if (start >= size) {
    throw new StoreError("invalid-range", `Range not satisfiable for size ${size}`, { key });
  }
  return { start, end: end === undefined ? size : Math.min(end + 1, size) };
}

/** The `Range` header value for a range. */
export function rangeHeader(range: ByteRange): string {
  return "suffix" in range ? `bytes=-${range.suffix}` : `bytes=${range.start}-${range.end ?? ""}`;
}

const encoder = new TextEncoder();

/** Compares keys in UTF-8 byte order, the order S3 lists them in. */
export function compareKeys(a: string, b: string): number {
  // Code-unit order equals code-point (and so UTF-8) order except around surrogates.
  if (a === b) return 0;
  const ea = encoder.encode(a);
  const eb = encoder.encode(b);
  const n = Math.min(ea.length, eb.length);
  for (let i = 0; i < n; i++) {
    const d = ea[i]! - eb[i]!;
    if (d !== 0) return d;
  }
  return ea.length - eb.length;
}

/** A `.` or `..` path segment. */
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/;

/**
 * Validates a key the way S3 would: non-empty, at most 1024 UTF-8 bytes. Keys with `.` or
 * `..` segments are refused too: S3-compatible servers resolve them in the request path
 * (Ceph RGW stores `x/../y` as `y`), so such a key would silently name another object.
 */
export function checkKey(key: string): void {
  if (key.length === 0 || encoder.encode(key).length > 1024 || DOT_SEGMENT.test(key)) {
    throw new StoreError("invalid", `Invalid object key "${key.slice(0, 64)}"`, { key });
  }
}

/**
 * Validates a multipart part number the way S3 does: a whole number from 1 to 10,000.
 *
 * @throws {StoreError} kind `invalid` otherwise.
 */
export function checkPartNumber(partNumber: number, key: string): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
    throw new StoreError("invalid", `Invalid part number ${partNumber}`, { key });
  }
}

/** Strips the quotes S3 puts around ETags. */
export function unquote(etag: string): string {
  return etag.replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

/**
 * Applies prefix/delimiter/cursor/limit listing semantics to a sorted key list; backends
 * without a native list (memory, local) share this so they cannot drift from S3's rules.
 */
export function paginate<T extends { key: string }>(
  sorted: readonly T[],
  options: { prefix?: string; delimiter?: string; cursor?: string; limit?: number },
): { objects: T[]; prefixes: string[]; cursor: string | null } {
  const prefix = options.prefix ?? "";
  const limit = Math.min(Math.max(options.limit ?? 1000, 1), 1000);
  const after = options.cursor ?? "";
  const objects: T[] = [];
  const prefixes: string[] = [];
  let last = "";
  for (const item of sorted) {
    if (!item.key.startsWith(prefix)) continue;
    if (after && compareKeys(item.key, after) <= 0) continue;
    let common: string | null = null;
    if (options.delimiter) {
      const at = item.key.indexOf(options.delimiter, prefix.length);
      if (at >= 0) common = item.key.slice(0, at + options.delimiter.length);
    }
    if (common !== null && prefixes[prefixes.length - 1] === common) continue;
    // A cursor inside a common prefix means that prefix was already returned.
    if (common !== null && after && compareKeys(common, after) <= 0) continue;
    if (objects.length + prefixes.length === limit) return { objects, prefixes, cursor: last };
    if (common !== null) {
      prefixes.push(common);
      // Skip every key under the prefix: the cursor sorts after all of them.
      last = common + "\u{10FFFF}";
    } else {
      objects.push(item);
      last = item.key;
    }
  }
  return { objects, prefixes, cursor: null };
}
