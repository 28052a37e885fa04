/**
 * The read path: a file record's page map (inline, in the record, or spilled with a
 * delta), reads through the page cache with readahead, streams of one consistent version,
 * and finding a version's bytes again after compaction moved them. Internal to `src/vfs`.
 *
 * @module
 */

import { EMPTY_MAP, type PageMap, resolveRange, writeExtent } from "../format/page_map.ts";
import { contentVersion, type FileData } from "../format/meta.ts";
import { locateSegment } from "../format/segments.ts";
import { type Part, promisedPart, zerosPart } from "../cache/range_stream.ts";
import { StoreError } from "../store/types.ts";
import type { Ctx } from "./context.ts";
import { FsError } from "./errors.ts";
import { type FileRecord, inlineBytes, loadRecord } from "./records.ts";
import { locate } from "./resolve.ts";

/** `base` with the newer extents of `delta` written over it. */
export function overlay(base: PageMap, delta: PageMap): PageMap {
  return delta.reduce((map, [o, l, s, so]) => writeExtent(map, o, l, s, so), base);
}

/** A record's page map (fetching a spilled map, which never changes, once). */
export async function loadMap(ctx: Ctx, record: FileData): Promise<PageMap> {
  if (record.map) return record.map;
  if (!record.mapRef) return EMPTY_MAP;
  const base = await loadSpilled(ctx, record.mapRef);
  return record.delta ? overlay(base, record.delta) : base;
}

/** A spilled map (each instance fetches one at most once: they never change). */
export async function loadSpilled(ctx: Ctx, mapRef: string): Promise<PageMap> {
  const map = await ctx.maps.get(mapRef);
  if (!map) throw new FsError("EIO", `Page map ${mapRef} is missing`);
  return map;
}

/** Reads `length` bytes at `offset` of a file record (short at end of file). */
export async function readRecord(
  ctx: Ctx,
  ino: string,
  record: FileRecord,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const size = record.attr.size;
  const end = Math.min(size, offset + length);
  if (offset >= end) return new Uint8Array(0);
  const out = new Uint8Array(end - offset);
  if (!record.map && !record.mapRef) {
    out.set(inlineBytes(record).subarray(offset, end));
    return out;
  }
  const map = await loadMap(ctx, record);
  const window = readaheadWindow(ctx, ino, offset, end);
  await Promise.all(
    resolveRange(map, offset, end - offset).map(async (piece) => {
      if (piece.segment === null) return;
      const segment = locateSegment(piece.segment);
      if (!segment) throw new FsError("EIO", `Bad segment reference ${piece.segment}`);
      const bytes = await ctx.cache.read(segment.key, piece.segmentOffset, piece.length, {
        objectSize: segment.size,
        readahead: window,
      });
      out.set(bytes, piece.fileOffset - offset);
    }),
  );
  return out;
}

/** Contiguous runs at least this long are streamed with ranged GETs instead of paged. */
const STREAM_RUN = 256 * 1024;

/**
 * Streams bytes `[offset, end)` of one version of a file. Runs of a segment of 256 KiB or
 * more go out as large ranged GETs (or come from the disk tier), several in flight ahead of
 * the consumer and passed on in 1 MiB blocks, without going through (or evicting) the page
 * cache; shorter runs go through the page cache; holes stream as zeros. Segments never
 * change, so the stream is a consistent snapshot even if the file is overwritten meanwhile.
 */
export async function* streamRecord(
  ctx: Ctx,
  ino: string,
  record: FileRecord,
  offset: number,
  end: number,
): AsyncGenerator<Uint8Array> {
  end = Math.min(end, record.attr.size);
  if (offset >= end) return;
  if (!record.map && !record.mapRef) {
    yield await readRecord(ctx, ino, record, offset, end - offset);
    return;
  }
  const map = await loadMap(ctx, record);
  const parts: Part[] = [];
  for (const piece of resolveRange(map, offset, end - offset)) {
    if (piece.segment === null) {
      parts.push(zerosPart(piece.length));
      continue;
    }
    const segment = locateSegment(piece.segment);
    if (!segment) throw new FsError("EIO", `Bad segment reference ${piece.segment}`);
    if (piece.length < STREAM_RUN) {
      parts.push(
        promisedPart(
          piece.length,
          () =>
            ctx.cache.read(segment.key, piece.segmentOffset, piece.length, {
              objectSize: segment.size,
            }),
        ),
      );
      continue;
    }
    parts.push(...ctx.ranges.segmentParts(segment, piece.segmentOffset, piece.length));
  }
  yield* ctx.ranges.stream(parts);
}

/** Sequential reads grow a readahead window (doubling up to the maximum); others reset it. */
function readaheadWindow(ctx: Ctx, ino: string, offset: number, end: number): number {
  const state = ctx.readahead.get(ino);
  const sequential = state !== undefined && state.end === offset;
  const window = sequential ? Math.min(Math.max(state.window * 2, 256 << 10), ctx.readaheadMax) : 0;
  ctx.readahead.delete(ino);
  ctx.readahead.set(ino, { end, window });
  if (ctx.readahead.size > 1024) ctx.readahead.delete(ctx.readahead.keys().next().value!);
  return window;
}

/** Whether `error` says an object (a segment, read by a stream) is missing. */
export function isMissing(error: unknown): boolean {
  if (error instanceof StoreError) return error.kind === "not-found";
  return error instanceof FsError && error.code === "EIO" && /missing/.test(error.message);
}

/**
 * The current record of the file `ino` at `path` if it holds the same content as `seen`
 * with its bytes moved by compaction (same content version and size, other extents); null
 * if the file changed otherwise or is gone. Compaction keeps a file's content version
 * (every data write bumps it) and changes only where its bytes are.
 */
export async function relocated(
  ctx: Ctx,
  path: string,
  ino: string,
  seen: FileRecord,
): Promise<(FileRecord & { nlink: number }) | null> {
  const { entry } = await locate(ctx, path, { follow: true });
  if (entry?.ino !== ino) return null;
  const fresh = await loadRecord(ctx, entry);
  const a = seen.attr;
  const b = fresh.attr;
  if (contentVersion(fresh) !== contentVersion(seen) || a.size !== b.size) return null;
  const where = (r: FileRecord) => JSON.stringify([r.map, r.mapRef, r.delta, r.data]);
  return where(fresh) === where(seen) ? null : fresh;
}
