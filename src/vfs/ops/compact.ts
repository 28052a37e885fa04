// Compaction: segments whose bytes are mostly shadowed by later writes (or belong to
// deleted files) are rewritten. The live extents of every file that uses such a segment
// are copied into one new segment, and each file's page map is swapped to it by CAS,
// checked against the file's inode and generation so a concurrent write wins and is never
// undone, and a file that replaced it at the same path (an editor's safe-save, whose
// generation may well be the same) never receives its bytes. The old segments then have
// no references left, and GC deletes them after its grace period. A file's bytes, times
// and content version (so its ETag) do not change.

import { MetaStore } from "../../format/cas.ts";
import { claim } from "../../format/gc_pending.ts";
import { idTime } from "../../format/keys.ts";
import { locateSegment } from "../../format/segments.ts";
import { type PageMap, writeExtent } from "../../format/page_map.ts";
import { walk } from "../../format/_walk.ts";
import { liveBytes } from "../../format/_walk_result.ts";
import { contentVersion } from "../../format/meta.ts";
import type { Ctx } from "../context.ts";
import { FsError } from "../errors.ts";
import { loadMap } from "../reader.ts";
import { type FileRecord, loadRecord, updateFile } from "../records.ts";
import { locate } from "../resolve.ts";

export interface CompactOptions {
  /** Rewrite segments whose live fraction is below this (default 0.5). */
  readonly below?: number;
  /** Leave segments younger than this alone (default 10 minutes). */
  readonly graceMs?: number;
}

export interface CompactReport {
  /** Segments found below the threshold. */
  candidates: number;
  /** Files whose maps now point at the new segment. */
  filesRewritten: number;
  /** Files skipped because they changed or moved meanwhile (their turn is next time). */
  filesSkipped: number;
  /** Live bytes copied into the new segment. */
  bytesCopied: number;
  /** Bytes of candidate segments that GC can reclaim once no file names them. */
  bytesFreeable: number;
}

class Changed extends Error {}

export async function compact(ctx: Ctx, options: CompactOptions = {}): Promise<CompactReport> {
  const below = options.below ?? 0.5;
  const graceMs = options.graceMs ?? 10 * 60 * 1000;
  const now = ctx.now();
  const tree = await walk(new MetaStore(ctx.store), { now, graceMs });
  const report: CompactReport = {
    candidates: 0,
    filesRewritten: 0,
    filesSkipped: 0,
    bytesCopied: 0,
    bytesFreeable: 0,
  };
  const candidates = new Set<string>();
  const paths = new Set<string>();
  for (const [id, use] of tree.segments) {
    if (now - idTime(id) < graceMs || use.declared === 0) continue;
    if (liveBytes(use) / use.declared >= below) continue;
    candidates.add(id);
    report.candidates++;
    report.bytesFreeable += use.declared;
    for (const path of use.users) paths.add(path);
  }
  if (candidates.size === 0) return report;
  const stream = ctx.writeback.openStream();
  const plans: ({ path: string } & Plan)[] = [];
  try {
    for (const path of [...paths].sort()) {
      const plan = await copyLive(ctx, path, candidates, stream).catch(() => null);
      if (plan) plans.push({ path, ...plan });
      else report.filesSkipped++;
    }
    report.bytesCopied = stream.size;
    if (plans.length === 0) {
      await stream.abort();
      return report;
    }
    // The new segment is durable before any map names it.
    const segment = await stream.finish();
    // The copy may have taken long, and GC may have seen the new segment unreferenced
    // meanwhile: take it out of GC's pending set before any map names it.
    if (!await claim(ctx.meta, [locateSegment(segment)!.key])) {
      report.filesSkipped += plans.length;
      return report;
    }
    for (const plan of plans) {
      const map = plan.map.map(([o, l, s, so]) => [o, l, s === PENDING ? segment : s, so] as const);
      if (await swapMap(ctx, plan.path, { ...plan, map })) report.filesRewritten++;
      else report.filesSkipped++;
    }
  } catch (error) {
    await stream.abort().catch(() => {});
    throw error;
  }
  return report;
}

/** Placeholder for the new segment's reference, known only once it is finished. */
const PENDING = "\0pending";

/** A file's compacted map, and the version of exactly which file it was made from. */
interface Plan {
  readonly ino: string;
  readonly gen: number;
  readonly cv: number;
  readonly map: PageMap;
}

/**
 * Copies the live bytes that the file at `path` keeps in candidate segments into the new
 * segment, and returns the file's new map (naming {@linkcode PENDING}) with the inode and
 * versions it was computed from.
 */
async function copyLive(
  ctx: Ctx,
  path: string,
  candidates: Set<string>,
  stream: { append(bytes: Uint8Array): Promise<number> },
): Promise<Plan | null> {
  const { entry } = await locate(ctx, path);
  if (entry?.t !== "f" && entry?.t !== "h") return null;
  const record = await loadRecord(ctx, entry);
  // Inline now (rewritten small since the walk saw it in a segment): nothing to move, and
  // a map set beside its inline bytes would hide them.
  if (record.data !== undefined && !record.map && !record.mapRef) return null;
  let map = await loadMap(ctx, record);
  let moved = 0;
  for (const [fileOffset, length, segment, segmentOffset] of map) {
    const ref = locateSegment(segment);
    if (!ref || !candidates.has(ref.id)) continue;
    moved++;
    const bytes = await ctx.cache.read(ref.key, segmentOffset, length, {
      objectSize: ref.size,
    });
    const at = await stream.append(bytes);
    map = writeExtent(map, fileOffset, length, PENDING, at);
  }
  if (moved === 0) return null; // no longer in a candidate segment
  return { ino: entry.ino, gen: record.gen ?? 0, cv: contentVersion(record), map };
}

/**
 * Points the file at `path` to its compacted map if it is still the very file and version
 * the plan was made from: same inode (the CAS fails if the name now holds another file),
 * same generation and content version. The content version is kept (so is the ETag).
 */
async function swapMap(ctx: Ctx, path: string, plan: Plan): Promise<boolean> {
  const { parent, name, entry } = await locate(ctx, path);
  if (!parent || (entry?.t !== "f" && entry?.t !== "h") || entry.ino !== plan.ino) return false;
  const { map } = plan;
  const next = map.length > ctx.spillExtents ? { mapRef: await ctx.maps.put(map) } : { map };
  try {
    await updateFile(ctx, { dir: parent.ino, name, ino: plan.ino }, (record: FileRecord) => {
      if ((record.gen ?? 0) !== plan.gen || contentVersion(record) !== plan.cv) {
        throw new Changed();
      }
      // Inline bytes would be hidden by a map: such a file was never a candidate.
      if (record.data !== undefined) throw new Changed();
      delete record.map;
      delete record.mapRef;
      delete record.delta;
      Object.assign(record, next);
      record.gen = plan.gen + 1;
      record.cv = plan.cv;
    });
    return true;
  } catch (error) {
    if (error instanceof Changed) return false;
    // Replaced or removed between the look-up and the CAS.
    if (error instanceof FsError && error.code === "ESTALE") return false;
    throw error;
  }
}
