/**
 * A file's page map: which byte ranges of the file live where in which segment.
 *
 * A map is an immutable, sorted list of non-overlapping extents. A write splices one new
 * extent in, cutting whatever it shadows; the shadowed bytes are never read (that is the
 * point: no read-modify-write of a partly written page). Bytes no extent covers are a hole
 * and read as zeros. See `docs/format.md`.
 *
 * Every function here is pure: it returns a new map and never changes its input.
 *
 * @module
 */

/** `length` bytes of the file at `fileOffset` are the bytes of `segment` at `segmentOffset`. */
export type Extent = readonly [
  fileOffset: number,
  length: number,
  segment: string,
  segmentOffset: number,
];

/**
 * A file's extents, sorted by file offset, non-overlapping, none empty, and with no two
 * adjacent extents that continue each other in the same segment (those are merged).
 */
export type PageMap = readonly Extent[];

/** One piece of a resolved range: file bytes and where to read them (`null`: a hole). */
export interface MapPiece {
  readonly fileOffset: number;
  readonly length: number;
  /** The segment holding the bytes, or `null` for a hole (zeros). */
  readonly segment: string | null;
  /** Offset of the bytes in the segment; 0 for a hole. */
  readonly segmentOffset: number;
}

/** The empty map: a file that is all hole. */
export const EMPTY_MAP: PageMap = Object.freeze([]);

/**
 * Returns `map` with `length` bytes at `fileOffset` now stored in `segment` at
 * `segmentOffset`. The new extent shadows whatever it overlaps; a zero-length write returns
 * the map unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeExtent } from "./page_map.ts";
 * let map = writeExtent([], 0, 8192, "s1", 0);
 * map = writeExtent(map, 100, 10, "s2", 0);
 * assert(map.length === 3);
 * assert(map[1]![2] === "s2");
 * ```
 */
export function writeExtent(
  map: PageMap,
  fileOffset: number,
  length: number,
  segment: string,
  segmentOffset: number,
): PageMap {
  checkOffset(fileOffset, "file offset");
  checkOffset(length, "length");
  checkOffset(segmentOffset, "segment offset");
  checkOffset(fileOffset + length, "extent end");
  if (length === 0) return map;
  const end = fileOffset + length;
  // Extents [0, lo) end at or before the write; [lo, hi) overlap it; [hi, n) start after it.
  const lo = firstEndingAfter(map, fileOffset);
  let hi = lo;
  while (hi < map.length && map[hi]![0] < end) hi++;

  let start = lo;
  let stop = hi;
  let extent: Extent = [fileOffset, length, segment, segmentOffset];
  const first = lo < hi ? map[lo]! : undefined;
  const last = lo < hi ? map[hi - 1]! : undefined;
  let left: Extent | undefined = first && first[0] < fileOffset
    ? [first[0], fileOffset - first[0], first[2], first[3]]
    : undefined;
  let right: Extent | undefined = last && last[0] + last[1] > end
    ? [end, last[0] + last[1] - end, last[2], last[3] + end - last[0]]
    : undefined;
  // Only the new extent can continue its neighbours: the others were merged already.
  const prev = left ?? map[lo - 1];
  if (prev && continues(prev, extent)) {
    extent = join(prev, extent);
    if (left) left = undefined;
    else start--;
  }
  const next = right ?? map[hi];
  if (next && continues(extent, next)) {
    extent = join(extent, next);
    if (right) right = undefined;
    else stop++;
  }
  const middle = left ? [left, extent] : [extent];
  if (right) middle.push(right);
  return [...map.slice(0, start), ...middle, ...map.slice(stop)];
}

/**
 * Returns `map` cut to a file of `size` bytes: extents at or past `size` are dropped and
 * one straddling it is shortened. Growing a file needs no change (the new bytes are a hole).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { truncateMap } from "./page_map.ts";
 * const map = truncateMap([[0, 100, "s1", 0], [200, 100, "s1", 500]], 50);
 * assert(map.length === 1 && map[0]![1] === 50);
 * ```
 */
export function truncateMap(map: PageMap, size: number): PageMap {
  checkOffset(size, "size");
  const keep = firstEndingAfter(map, size);
  const straddling = map[keep];
  if (straddling && straddling[0] < size) {
    return [...map.slice(0, keep), [
      straddling[0],
      size - straddling[0],
      straddling[2],
      straddling[3],
    ]];
  }
  return keep === map.length ? map : map.slice(0, keep);
}

/**
 * Describes how to read bytes `[offset, offset + length)` of a file: the pieces, in order,
 * cover exactly that range, and holes come back with `segment: null`. The range may extend
 * past the last extent (it reads as a hole); the caller clamps it to the file size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveRange } from "./page_map.ts";
 * const pieces = resolveRange([[10, 10, "s1", 0]], 0, 15);
 * assert(pieces.length === 2 && pieces[0]!.segment === null);
 * assert(pieces[1]!.segment === "s1" && pieces[1]!.length === 5);
 * ```
 */
export function resolveRange(map: PageMap, offset: number, length: number): MapPiece[] {
  checkOffset(offset, "offset");
  checkOffset(length, "length");
  const end = offset + length;
  checkOffset(end, "range end");
  const pieces: MapPiece[] = [];
  let at = offset;
  for (let i = firstEndingAfter(map, offset); i < map.length && at < end; i++) {
    const [start, len, segment, segmentOffset] = map[i]!;
    if (start >= end) break;
    if (start > at) {
      pieces.push({ fileOffset: at, length: start - at, segment: null, segmentOffset: 0 });
      at = start;
    }
    const stop = Math.min(start + len, end);
    pieces.push({
      fileOffset: at,
      length: stop - at,
      segment,
      segmentOffset: segmentOffset + at - start,
    });
    at = stop;
  }
  if (at < end) pieces.push({ fileOffset: at, length: end - at, segment: null, segmentOffset: 0 });
  return pieces;
}

/** The number of bytes the map stores (live bytes; holes excluded). */
export function mapBytes(map: PageMap): number {
  let total = 0;
  for (const extent of map) total += extent[1];
  return total;
}

/** The end of the last extent: the smallest file size that keeps every stored byte. */
export function mapEnd(map: PageMap): number {
  const last = map[map.length - 1];
  return last ? last[0] + last[1] : 0;
}

/** The segments the map refers to (GC keeps these). */
export function mapSegments(map: PageMap): Set<string> {
  return new Set(map.map((extent) => extent[2]));
}

/** What is wrong with `value` as a page map, or null: a `check` for metadata decoding. */
export function pageMapProblem(value: unknown): string | null {
  try {
    checkPageMap(value);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * Checks that `value` (e.g. decoded JSON from the bucket) is a well-formed page map and
 * returns it typed.
 *
 * @throws {TypeError} naming the first problem found.
 */
export function checkPageMap(value: unknown): PageMap {
  if (!Array.isArray(value)) throw new TypeError("Page map is not an array");
  let prev: Extent | undefined;
  value.forEach((extent: unknown, i) => {
    if (
      !Array.isArray(extent) || extent.length !== 4 || !isOffset(extent[0]) ||
      !isOffset(extent[1]) || typeof extent[2] !== "string" || !isOffset(extent[3])
    ) {
      throw new TypeError(`Page map extent ${i} is malformed`);
    }
    const e = extent as unknown as Extent;
    if (e[1] === 0) throw new TypeError(`Page map extent ${i} is empty`);
    if (!isOffset(e[0] + e[1])) throw new TypeError(`Page map extent ${i} is too long`);
    if (prev && prev[0] + prev[1] > e[0]) {
      throw new TypeError(`Page map extent ${i} overlaps or precedes the one before it`);
    }
    if (prev && continues(prev, e)) {
      throw new TypeError(`Page map extent ${i} continues the one before it and is not merged`);
    }
    prev = e;
  });
  return value as PageMap;
}

/** Index of the first extent that ends after `offset` (binary search). */
function firstEndingAfter(map: PageMap, offset: number): number {
  let lo = 0;
  let hi = map.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const e = map[mid]!;
    if (e[0] + e[1] <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** True when `b` starts where `a` ends, in the file and in the same segment. */
function continues(a: Extent, b: Extent): boolean {
  return a[2] === b[2] && a[0] + a[1] === b[0] && a[3] + a[1] === b[3];
}

function join(a: Extent, b: Extent): Extent {
  return [a[0], a[1] + b[1], a[2], a[3]];
}

function isOffset(n: unknown): n is number {
  return typeof n === "number" && Number.isSafeInteger(n) && n >= 0;
}

function checkOffset(n: number, what: string): void {
  if (!isOffset(n)) throw new RangeError(`Invalid ${what} ${n}`);
}
