/**
 * Segment objects (`s/<id>`) as the file layer reads them: where a page map's segment
 * reference lives, a ranged read that streams, and the total the bucket holds. Segments
 * are written by the writeback queue (`src/cache/writeback.ts`) and never change.
 *
 * @module
 */

import { parseSegmentRef, PREFIX, segmentKey } from "./keys.ts";
import type { ObjectStore } from "../store/types.ts";

/** A segment named by a page map: its id, object key and size. */
export interface SegmentLoc {
  readonly id: string;
  readonly key: string;
  readonly size: number;
}

/** Where the segment a page map names as `ref` lives; `null` when `ref` is malformed. */
export function locateSegment(ref: string): SegmentLoc | null {
  const parsed = parseSegmentRef(ref);
  return parsed && { ...parsed, key: segmentKey(parsed.id) };
}

/** Segment bytes and count, as one listing of the bucket found them. */
export interface SegmentUsage {
  readonly bytes: number;
  readonly objects: number;
}

/** Reads of segment objects. */
export class Segments {
  readonly #store: ObjectStore;

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /**
   * Streams `length` bytes at `start` of a segment with one ranged GET; `null` when the
   * object is missing or shorter than asked (a page map that names it is then corrupt).
   */
  async readRange(
    segment: SegmentLoc,
    start: number,
    length: number,
  ): Promise<ReadableStream<Uint8Array> | null> {
    const result = await this.#store.get(segment.key, {
      range: { start, end: start + length - 1 },
    });
    if (result?.status !== "ok") return null;
    if (result.length !== length) {
      await result.body.cancel();
      return null;
    }
    return result.body;
  }

  /** Sums the segments in the bucket, listing at most `maxPages` pages (a bounded cost). */
  async usage(maxPages = 100): Promise<SegmentUsage> {
    let bytes = 0;
    let objects = 0;
    for (let cursor: string | null = null, pages = 0; pages < maxPages; pages++) {
      const page = await this.#store.list({
        prefix: PREFIX.segment,
        ...(cursor ? { cursor } : {}),
      });
      for (const o of page.objects) bytes += o.size;
      objects += page.objects.length;
      cursor = page.cursor;
      if (!cursor) break;
    }
    return { bytes, objects };
  }
}
