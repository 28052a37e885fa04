/**
 * Merged commits of concurrent writers into one file: a per-inode commit pipeline. Writes
 * whose data is already durable in segments queue here; while one commit of the file is
 * in flight, the writes that arrive wait and then go out together in the next one: one
 * map update (so at most one spill of the page map) and one CAS for all of them, instead
 * of one CAS each where all but one lose, re-read and re-spill. Each writer's promise
 * settles only once the CAS carrying its writes has succeeded. Internal to `src/vfs`.
 *
 * Only writes (at an offset, or appends) into a file whose map is already in segments
 * merge; a file to create, a commit with If-Match, a truncate, or a file that is inline
 * at commit time commit alone ({@linkcode NotMergeable}: the writer's own loop).
 *
 * @module
 */

import type { DirtyPiece } from "../cache/dirty.ts";
import type { ReadOptions } from "../format/cas.ts";
import { claimData } from "../format/gc_pending.ts";
import type { FileData } from "../format/meta.ts";
import { EMPTY_MAP, type PageMap, writeExtent } from "../format/page_map.ts";
import type { Ctx } from "./context.ts";
import { FsError, isFsError } from "./errors.ts";
import { loadSpilled, overlay } from "./reader.ts";
import {
  type AttrChanges,
  commitData,
  type FileLoc,
  type FileRecord,
  loadRecord,
  updateFile,
} from "./records.ts";
import type { Stat } from "./types.ts";

/** Extents a spilled map's delta may hold before it is folded into a new spill. */
export const DELTA_MAX = 32;

/** Commit attempts before a batch gives up (another instance keeps winning). */
const ATTEMPTS = 20;

/** A write to merge: at `off`, or (`a`) at the end of the file as it is at commit. */
export type MergeOp =
  | { readonly k: "w"; readonly off: number; readonly len: number; readonly pos: number }
  | { readonly k: "a"; readonly len: number; readonly pos: number };

/** One writer's commit, its data durable at `placed`, waiting for the file's next CAS. */
export interface PendingCommit {
  readonly ops: readonly MergeOp[];
  /** Where the writer's dirty stream is durable, piece by piece (several segments past a roll-over). */
  readonly placed: readonly DirtyPiece[];
  readonly attrs: AttrChanges | null;
  /** Runs right before each CAS that would carry these writes; a throw leaves them out. */
  readonly beforeCommit: (() => Promise<void>) | undefined;
  /** When the writer's commit began (this instance's clock), for the late-commit claim. */
  readonly started: number;
}

/** The file is not one whose commits merge (any more): the writer commits alone. */
export class NotMergeable extends Error {}

class Conflict extends Error {}

interface Item extends PendingCommit {
  resolve(stat: Stat): void;
  reject(error: unknown): void;
}

/** The commit queue of one file at one location, in one instance. */
interface FileCommitQueue {
  readonly queue: Item[];
  running: boolean;
}

/** True when a record keeps its bytes in segments (a map), so writes to it can merge. */
export function mergeable(record: FileData): boolean {
  return record.data === undefined && (record.map !== undefined || record.mapRef !== undefined);
}

/**
 * Commits `pending` (whose data is durable) into the file at `loc`, together with the
 * other writes to it that are waiting; resolves with the file's stat after the CAS.
 *
 * @throws {NotMergeable} when the file is not one whose writes merge; nothing was committed.
 */
export function commitMerged(ctx: Ctx, loc: FileLoc, pending: PendingCommit): Promise<Stat> {
  const key = `${loc.dir}/${loc.name}/${loc.ino}`;
  return new Promise<Stat>((resolve, reject) => {
    let q = ctx.fileCommits.get(key) as FileCommitQueue | undefined;
    if (!q) {
      q = { queue: [], running: false };
      ctx.fileCommits.set(key, q);
    }
    q.queue.push({ ...pending, resolve, reject });
    kick(ctx, key, loc, q);
  });
}

function kick(ctx: Ctx, key: string, loc: FileLoc, q: FileCommitQueue): void {
  if (q.running) return;
  q.running = true;
  run(ctx, loc, q).finally(() => {
    q.running = false;
    if (q.queue.length > 0) kick(ctx, key, loc, q);
    else if (ctx.fileCommits.get(key) === q) ctx.fileCommits.delete(key);
  });
}

async function run(ctx: Ctx, loc: FileLoc, q: FileCommitQueue): Promise<void> {
  // Writers that commit in the same tick join the first batch.
  await Promise.resolve();
  while (q.queue.length > 0) {
    const batch = q.queue.splice(0, q.queue.length);
    try {
      await commitBatch(ctx, loc, batch);
    } catch (error) {
      for (const item of batch) item.reject(error);
    }
  }
}

/**
 * One commit for the whole batch: read the file's record, lay every write's extents over
 * its map in queue order (appends at the end as it then is), and CAS the record at the
 * generation read; a CAS lost to another writer (another instance) starts over.
 */
async function commitBatch(ctx: Ctx, loc: FileLoc, batch: Item[]): Promise<void> {
  let items = batch;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    items = await checked(items);
    if (items.length === 0) return;
    // The first look may reuse what this request validated (the CAS checks it anyway).
    const record = await currentRecord(ctx, loc, attempt === 0 ? { recent: true } : {});
    if (!record || !mergeable(record)) {
      for (const item of items) item.reject(new NotMergeable());
      return;
    }
    const gen = record.gen ?? 0;
    let size = record.attr.size;
    const extents: [number, number, string, number][] = [];
    for (const item of items) {
      for (const op of item.ops) {
        const off = op.k === "a" ? size : op.off;
        extents.push(...pieceExtents(off, op.len, op.pos, item.placed));
        size = Math.max(size, off + op.len);
      }
    }
    if (size > ctx.maxFileSize) {
      // Appends past the largest size: each writer finds out on its own.
      for (const item of items) item.reject(new NotMergeable());
      return;
    }
    const next = await nextData(ctx, record, extents);
    // A commit this late may meet GC: its new data must not be reclaimed under it (see
    // docs/format.md, Garbage collection).
    const started = Math.min(...items.map((item) => item.started));
    if (ctx.now() - started >= ctx.claimAfterMs) {
      const segments = [...new Set(items.flatMap((item) => item.placed.map((p) => p.segment)))];
      const maps = next.mapRef === undefined ? [] : [next.mapRef];
      if (!await claimData(ctx.meta, { segments, maps })) {
        const error = new FsError("EIO", "The write stalled so long that its data was reclaimed", {
          path: loc.name,
        });
        for (const item of items) item.reject(error);
        return;
      }
    }
    const now = ctx.now();
    try {
      const stat = await updateFile(ctx, loc, (record: FileRecord) => {
        if ((record.gen ?? 0) !== gen) throw new Conflict();
        return commitData(record, loc.ino, next, {
          size,
          now,
          newContent: true,
          attrs: items.map((item) => item.attrs),
        });
      });
      for (const item of items) item.resolve(stat);
      return;
    } catch (error) {
      if (!(error instanceof Conflict)) throw error;
      // Another instance committed to this file meanwhile. Jittered backoff, so that one
      // whose CAS is cheaper (it builds on the version it holds) does not starve this one.
      await new Promise((resolve) =>
        setTimeout(resolve, Math.random() * 2 ** Math.min(attempt, 6))
      );
    }
  }
  const error = new FsError("EAGAIN", "File changed too often during the write", {
    path: loc.name,
  });
  for (const item of items) item.reject(error);
}

/** The items whose `beforeCommit` passes; the others get its error. */
async function checked(items: Item[]): Promise<Item[]> {
  const outcomes = await Promise.allSettled(items.map((item) => item.beforeCommit?.()));
  return items.filter((item, i) => {
    const outcome = outcomes[i]!;
    if (outcome.status === "fulfilled") return true;
    item.reject(outcome.reason);
    return false;
  });
}

/** The record the file at `loc` has now, or null when the name holds another file or none. */
async function currentRecord(
  ctx: Ctx,
  loc: FileLoc,
  options: ReadOptions,
): Promise<FileRecord | null> {
  const dir = await ctx.dirs.get(loc.dir, options);
  if (!dir) return null;
  const entry = await ctx.dirs.lookup(dir.value, loc.name, options);
  if (!entry || entry.ino !== loc.ino || (entry.t !== "f" && entry.t !== "h")) return null;
  try {
    return await loadRecord(ctx, entry);
  } catch (error) {
    // A hard link's inode object goes once its last name has (the name first): a name read
    // before such a removal leads to no inode. The writer's own loop reads it again, fresh.
    if (entry.t === "h" && isFsError(error, "ENOENT")) return null;
    throw error;
  }
}

/**
 * The extents of `len` bytes written at file offset `off`, taken from position `pos` of a
 * dirty stream that is durable as `pieces`: one extent per piece the range crosses.
 */
export function pieceExtents(
  off: number,
  len: number,
  pos: number,
  pieces: readonly DirtyPiece[],
): [number, number, string, number][] {
  const out: [number, number, string, number][] = [];
  const end = pos + len;
  for (const piece of pieces) {
    const from = Math.max(pos, piece.pos);
    const to = Math.min(end, piece.pos + piece.length);
    if (from >= to) continue;
    out.push([off + from - pos, to - from, piece.segment, piece.offset + from - piece.pos]);
  }
  return out;
}

/**
 * The data part of a record with `extents` written over `record`'s map: into a spilled
 * map's small delta while it stays small, else folded into the map (spilled once more,
 * as one new object, if it is long).
 */
export async function nextData(
  ctx: Ctx,
  record: FileData,
  extents: readonly (readonly [number, number, string, number])[],
): Promise<FileData> {
  if (record.mapRef !== undefined) {
    let delta = record.delta ?? EMPTY_MAP;
    for (const [o, l, s, so] of extents) delta = writeExtent(delta, o, l, s, so);
    if (delta.length <= DELTA_MAX) return { mapRef: record.mapRef, delta };
    const full = overlay(await loadSpilled(ctx, record.mapRef), delta);
    return full.length > ctx.spillExtents ? { mapRef: await ctx.maps.put(full) } : { map: full };
  }
  let map: PageMap = record.map ?? EMPTY_MAP;
  for (const [o, l, s, so] of extents) map = writeExtent(map, o, l, s, so);
  return map.length > ctx.spillExtents ? { mapRef: await ctx.maps.put(map) } : { map };
}
