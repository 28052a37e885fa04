/**
 * Garbage collection: deletes segments, spilled page maps and xattr values that no reachable file
 * names any more (overwritten, truncated or unlinked data), directory shards that no
 * shard table names (a split cut short by a crash), and directory tombstones and inode
 * objects that nothing can reach again (`_unreached.ts`), in two phases: a run records
 * in the pending set (`gc-pending`, see gc_pending.ts) when it first found each object
 * unreferenced, on GC's own clock; a later run deletes it if it is still unreferenced a
 * full grace period after that. A commit in flight writes its segment before the
 * metadata that names it, a COPY names old segments again, a reader may still stream a
 * segment that compaction just released: the grace covers them all, judged by one clock.
 *
 * References come from the same walk as fsck's, re-read to confirm it was a consistent
 * snapshot; GC deletes nothing when it was not, or when some metadata could not be read
 * (a corrupt directory could name segments nobody can see): run fsck first.
 *
 * GC only assesses compaction (segments whose live fraction is below `compactBelow` are
 * reported); the rewrite needs the filesystem's commit path and is `Vfs.compact`, which
 * `deno task gc --compact-below F` runs before GC.
 *
 * @module
 */

import type { MultipartUpload, ObjectStore, UploadPage } from "../store/types.ts";
import { storeNow } from "./store_clock.ts";
import { MetaStore } from "./cas.ts";
import { recordRun } from "./gc_pending.ts";
import { parseKey, PREFIX } from "./keys.ts";
import { walk } from "./_walk.ts";
import { unreachedDir, unreachedInode } from "./_unreached.ts";
import { blindSpot, DEFAULT_GRACE_MS, liveBytes } from "./_walk_result.ts";
import { listAll } from "./_walk_util.ts";

/** Options of {@linkcode gc}. */
export interface GcOptions {
  /**
   * An unreferenced object is deleted by the first run that finds it unreferenced at
   * least this long after an earlier run first did (default 10 minutes, GC's clock).
   */
  readonly graceMs?: number;
  /** Report what would be deleted, delete nothing. */
  readonly dryRun?: boolean;
  /** Report segments whose live fraction is below this (0..1) as compaction candidates. */
  readonly compactBelow?: number;
  /** The current time (ms), replaceable in tests. */
  readonly now?: number;
  /**
   * An incomplete multipart upload of a segment that GC has seen for this long (its own
   * clock, two runs apart) is aborted (default 24 hours: longer than any upload runs).
   */
  readonly uploadGraceMs?: number;
  /** The longest JSON a metadata object may decode to (`MetaOptions.decodeBytes`). */
  readonly decodeBytes?: number;
}

/** Default of {@linkcode GcOptions.uploadGraceMs}. */
export const DEFAULT_UPLOAD_GRACE_MS = 24 * 3600 * 1000;

/** The outcome of {@linkcode gc}. */
export interface GcReport {
  readonly dryRun: boolean;
  /** Why nothing was deleted, when the walk could not be trusted; null otherwise. */
  blocked: string | null;
  segments: {
    /** Segments listed. */
    scanned: number;
    /** Named by reachable page maps. */
    referenced: number;
    /**
     * Unreferenced, and so since an earlier run a full grace period ago (GC's clock):
     * deleted (or, dry run, to delete).
     */
    deleted: number;
    /** Unreferenced but not yet for a full grace period as GC saw it: kept. */
    inFlight: number;
  };
  /** Of the unreferenced objects kept: first seen by this run, and seen before. */
  pending: { recorded: number; waiting: number };
  maps: { scanned: number; deleted: number; inFlight: number };
  /** Spilled xattr values (`x/<id>`) that no reachable file or symlink names. */
  xattrs: { scanned: number; deleted: number; inFlight: number };
  /** Directory shards that no directory's shard table names (a split cut short). */
  shards: { scanned: number; deleted: number; inFlight: number };
  /**
   * Directory tombstones and inode objects that nothing can reach again (an rmdir whose
   * delete failed, a link() whose file was unlinked before it named it: `_unreached.ts`).
   */
  leftovers: { deleted: number; inFlight: number };
  bytes: {
    /** Total size of the segments listed. */
    scanned: number;
    /** Size of the segments deleted. */
    reclaimed: number;
    /** Bytes of referenced segments that extents use. */
    live: number;
  };
  compaction: {
    /** The `compactBelow` threshold, or null when not asked. */
    threshold: number | null;
    /** Referenced segments whose live fraction is below the threshold. */
    candidates: number;
    /** Their total size, and the live bytes a rewrite would keep of it. */
    candidateBytes: number;
    candidateLiveBytes: number;
  };
  /** Keys deleted (or, dry run, that would be). */
  deletedKeys: string[];
  /** Incomplete multipart uploads listed, and those aborted (or, dry run, to abort). */
  uploads: { scanned: number; aborted: number };
}

/**
 * Records unreferenced segments and maps in the pending set, and deletes those that an
 * earlier run recorded at least a grace period ago.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "../vfs/mod.ts";
 * import { gc } from "./gc.ts";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.writeFile("/big", new Uint8Array(5000));
 * await fs.writeFile("/big", new Uint8Array(5000).fill(1));
 * await gc(fs.store, { graceMs: 0 }); // first sighting: recorded, kept
 * const report = await gc(fs.store, { graceMs: 0 });
 * assert(report.segments.deleted === 1);
 * ```
 */
export async function gc(store: ObjectStore, options: GcOptions = {}): Promise<GcReport> {
  // The store's clock: runs from hosts whose clocks disagree judge grace alike. A dry run
  // writes nothing, not even the clock object, and only reports.
  const now = options.now ?? (options.dryRun ? Date.now() : await storeNow(store));
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const threshold = options.compactBelow ?? null;
  const report: GcReport = {
    dryRun: options.dryRun ?? false,
    blocked: null,
    segments: { scanned: 0, referenced: 0, deleted: 0, inFlight: 0 },
    maps: { scanned: 0, deleted: 0, inFlight: 0 },
    xattrs: { scanned: 0, deleted: 0, inFlight: 0 },
    shards: { scanned: 0, deleted: 0, inFlight: 0 },
    leftovers: { deleted: 0, inFlight: 0 },
    pending: { recorded: 0, waiting: 0 },
    bytes: { scanned: 0, reclaimed: 0, live: 0 },
    compaction: {
      threshold,
      candidates: 0,
      candidateBytes: 0,
      candidateLiveBytes: 0,
    },
    deletedKeys: [],
    uploads: { scanned: 0, aborted: 0 },
  };
  const meta = new MetaStore(store, {
    ...options.decodeBytes ? { decodeBytes: options.decodeBytes } : {},
  });
  const tree = await walk(meta, { now, graceMs });
  const blocking = blindSpot(tree);
  if (blocking) {
    report.blocked = `${blocking.kind}: ${blocking.detail}${
      blocking.key ? ` (${blocking.key})` : ""
    }; run fsck`;
  } else if (!tree.consistent) {
    report.blocked = "The tree kept changing during the walk; try again when it is quieter";
  }
  // Grace is judged by GC's own record of when it first found each object unreferenced
  // (the pending set), never by the time in an object's id: see gc_pending.ts.
  const unreferenced: string[] = [];
  const sizes = new Map<string, number>();
  for await (const info of listAll(store, PREFIX.segment)) {
    const parsed = parseKey(info.key);
    if (parsed?.kind !== "segment") continue;
    report.segments.scanned++;
    report.bytes.scanned += info.size;
    const use = tree.segments.get(parsed.id);
    if (use) {
      report.segments.referenced++;
      const live = liveBytes(use);
      report.bytes.live += live;
      if (threshold !== null && info.size > 0 && live / info.size < threshold) {
        report.compaction.candidates++;
        report.compaction.candidateBytes += info.size;
        report.compaction.candidateLiveBytes += live;
      }
    } else {
      unreferenced.push(info.key);
      sizes.set(info.key, info.size);
    }
  }
  for await (const info of listAll(store, PREFIX.map)) {
    const parsed = parseKey(info.key);
    if (parsed?.kind !== "map") continue;
    report.maps.scanned++;
    if (!tree.maps.has(parsed.id)) unreferenced.push(info.key);
  }
  for await (const info of listAll(store, PREFIX.xattr)) {
    const parsed = parseKey(info.key);
    if (parsed?.kind !== "xattr") continue;
    report.xattrs.scanned++;
    if (!tree.xattrs.has(parsed.id)) unreferenced.push(info.key);
  }
  /** Tombstones and inode objects nothing reaches any more. */
  const leftovers = new Set<string>();
  for await (const info of listAll(store, PREFIX.dir)) {
    const parsed = parseKey(info.key);
    if (parsed?.kind === "dir") {
      if (tree.dirs.has(parsed.ino) || tree.held.has(parsed.ino)) continue;
      if (tree.unread.has(info.key)) continue;
      if (await unreachedDir(meta, info.key) === "garbage") leftovers.add(info.key);
      continue;
    }
    if (parsed?.kind !== "shard") continue;
    report.shards.scanned++;
    if (!tree.shards.has(info.key)) unreferenced.push(info.key);
  }
  for await (const info of listAll(store, PREFIX.inode)) {
    const parsed = parseKey(info.key);
    if (parsed?.kind !== "inode" || tree.inodes.has(parsed.ino)) continue;
    if (unreachedInode(tree, parsed.ino) === "garbage") leftovers.add(info.key);
  }
  unreferenced.push(...leftovers);
  /** The report's counters for the kind of object `key` is. */
  const countsOf = (key: string) =>
    key.startsWith(PREFIX.segment)
      ? report.segments
      : key.startsWith(PREFIX.map)
      ? report.maps
      : key.startsWith(PREFIX.xattr)
      ? report.xattrs
      : leftovers.has(key)
      ? report.leftovers
      : report.shards;
  if (report.blocked !== null) {
    // References unknown: record nothing (a first sighting now could be wrong), delete
    // nothing.
    for (const key of unreferenced) countsOf(key).inFlight++;
    return report;
  }
  const uploads = new Map<string, MultipartUpload>();
  for (let cursor: string | null = null;;) {
    const page: UploadPage = await store.listMultipart({
      prefix: PREFIX.segment,
      ...(cursor === null ? {} : { cursor }),
    });
    for (const upload of page.uploads) uploads.set(upload.uploadId, upload);
    cursor = page.cursor;
    if (cursor === null) break;
  }
  report.uploads.scanned = uploads.size;
  const decision = await recordRun(meta, unreferenced, {
    now,
    graceMs,
    dryRun: report.dryRun,
    uploads: [...uploads.keys()],
    uploadGraceMs: options.uploadGraceMs ?? DEFAULT_UPLOAD_GRACE_MS,
  });
  report.uploads.aborted = decision.staleUploads.length;
  if (!report.dryRun) {
    // Nothing names an incomplete upload (its segment does not exist yet); one that has run
    // for a day is a writer that died: it only costs storage.
    for (const id of decision.staleUploads) await store.abortMultipart(uploads.get(id)!);
  }
  report.pending = { recorded: decision.recorded, waiting: decision.waiting };
  const due = new Set(decision.due);
  for (const key of unreferenced) {
    const counts = countsOf(key);
    if (!due.has(key)) {
      counts.inFlight++;
      continue;
    }
    counts.deleted++;
    if (key.startsWith(PREFIX.segment)) report.bytes.reclaimed += sizes.get(key) ?? 0;
    report.deletedKeys.push(key);
  }
  if (!report.dryRun) {
    for (let i = 0; i < report.deletedKeys.length; i += 1000) {
      await store.deleteMany(report.deletedKeys.slice(i, i + 1000));
    }
  }
  return report;
}
