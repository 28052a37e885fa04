/**
 * The read path: a file record's page map (inline, in the record, or spilled with a
 * delta), reads through the page cache with readahead, streams of one consistent version,
 * and finding a version's bytes again after compaction moved them. Internal to `src/vfs`.
 *
 * @module
 */

import { EMPTY_MAP, type PageMap, resolveRange, writeExtent } from "../format/page_map.ts";
import { contentVersion, type FileData } from "../format/meta.ts";
import { locateSegment, type SegmentLoc } from "../format/segments.ts";
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
 * Runs of one segment at most this far apart (bytes a later write shadowed) are read with
 * one GET, the gap dropped: cheaper than a second request.
 */
const MAX_GAP = 64 * 1024;

/**
 * Streams bytes `[offset, end)` of one version of a file. Runs of a segment of 256 KiB or
 * more go out as large ranged GETs (or come from the disk tier), the next ones in flight
 * while the current one streams, without going through (or evicting) the page cache; runs
 * of one segment at most 64 KiB apart share one GET (a base segment overwritten here and
 * there costs one GET per 16 MiB, not one per run); other short runs go through the page
 * cache, unless the disk tier holds their block; holes stream as zeros. Segments never
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
  // Parts in file order; runs of one segment close together share one GET (a group), so
  // their parts are made when the group closes: until then their slots hold null.
  const slots: Array<Part[] | null> = [];
  let group: { segment: SegmentLoc; spans: { from: number; to: number }[]; at: number[] } | null =
    null;
  const close = () => {
    if (!group) return;
    const { segment, spans, at } = group;
    if (spans.length === 1) {
      slots[at[0]!] = ctx.ranges.segmentParts(
        segment,
        spans[0]!.from,
        spans[0]!.to - spans[0]!.from,
      );
    } else {
      ctx.ranges.sharedParts(segment, spans).forEach((part, i) => slots[at[i]!] = [part]);
    }
    group = null;
  };
  for (const piece of resolveRange(map, offset, end - offset)) {
    if (piece.segment === null) {
      slots.push([zerosPart(piece.length)]);
      continue;
    }
    const segment = locateSegment(piece.segment);
    if (!segment) throw new FsError("EIO", `Bad segment reference ${piece.segment}`);
    const from = piece.segmentOffset;
    const to = from + piece.length;
    const last = group?.spans[group.spans.length - 1];
    if (
      group && last && group.segment.id === segment.id && from >= last.to &&
      from - last.to <= MAX_GAP && to - group.spans[0]!.from <= ctx.ranges.getBytes
    ) {
      group.spans.push({ from, to });
      group.at.push(slots.length);
      slots.push(null);
      continue;
    }
    // A short run whose block the disk tier holds is cut from its file: no GET.
    if (piece.length >= STREAM_RUN || ctx.ranges.onDisk(segment, from, to)) {
      close();
      group = { segment, spans: [{ from, to }], at: [slots.length] };
      slots.push(null);
      continue;
    }
    slots.push([
      promisedPart(
        piece.length,
        () => ctx.cache.read(segment.key, from, piece.length, { objectSize: segment.size }),
      ),
    ]);
  }
  close();
  yield* ctx.ranges.stream(slots.flatMap((s) => s!));
}

/**
 * Bytes `[offset, end)` of one version of a file as the body of one ranged GET, when they
 * are one run of one segment of at least {@linkcode STREAM_RUN} bytes (a file written in
 * one go, read whole or in a large range): see {@linkcode RangeStreams.direct}. `sent`,
 * called once the body has been sent, fills the disk tier (if any) with the run's blocks
 * in the background. Null when they are not one such run, when the disk tier holds all
 * of them, or when the GET could not be used; {@linkcode streamRecord} then streams them.
 */
export async function directRun(
  ctx: Ctx,
  record: FileRecord,
  offset: number,
  end: number,
): Promise<{ body: ReadableStream<Uint8Array>; sent: () => void } | null> {
  end = Math.min(end, record.attr.size);
  if (end - offset < STREAM_RUN || (!record.map && !record.mapRef)) return null;
  const pieces = resolveRange(await loadMap(ctx, record), offset, end - offset);
  const piece = pieces.length === 1 ? pieces[0]! : null;
  if (piece?.segment == null) return null;
  const segment = locateSegment(piece.segment);
  if (!segment) throw new FsError("EIO", `Bad segment reference ${piece.segment}`);
  const from = piece.segmentOffset;
  const to = from + piece.length;
  const body = await ctx.ranges.direct(segment, from, to);
  return body && { body, sent: () => ctx.ranges.fill(segment, from, to) };
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
