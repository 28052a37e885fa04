/**
 * fsck: checks a bucket against the format of `docs/format.md` and, when asked, repairs
 * what can be repaired without guessing: wrong link counts, stale rename intents (settled
 * by the VFS's own implementation, rename_intent.ts), stray parent pointers, orphaned
 * metadata, unlink marks of removers that died (cleared by the VFS's own CAS,
 * unlink_mark.ts), and what WebDAV COPY and MOVE left between their steps (leftovers.ts;
 * removed through the VFS, passed in). Unreferenced segments are left to {@linkcode gc}.
 *
 * Objects younger than the grace period, intents younger than it and link counts whose
 * inode changed within it may belong to an operation still running: they are reported
 * as `in-flight` and never repaired. Repairs run only after a walk that re-reading
 * confirmed as a consistent snapshot.
 *
 * @module
 */

import type { ObjectStore } from "../store/types.ts";
import { MetaStore } from "./cas.ts";
import { Directories } from "./dir.ts";
import { Inodes } from "./inodes.ts";
import { dirKey, idTime, parseKey, segmentKey } from "./keys.ts";
import { checkDir, type DirObject } from "./meta.ts";
import { settleIntent } from "./rename_intent.ts";
import { storeNow } from "./store_clock.ts";
import { clearMark } from "./unlink_mark.ts";
import { walk } from "./_walk.ts";
import { unreachedDir, unreachedInode } from "./_unreached.ts";
import {
  blindSpot,
  DEFAULT_GRACE_MS,
  type Intent,
  liveBytes,
  type Problem as WalkProblem,
  problem,
  PROBLEM_SEVERITY as WALK_SEVERITY,
  type Severity,
  type Walk,
} from "./_walk_result.ts";
import { listAll } from "./_walk_util.ts";
import { checkApplied } from "./_fsck_applied.ts";
import { checkReleases, type Owed } from "./_fsck_released.ts";
import { linksOf, releasesOf } from "./release.ts";
import { checkLeftovers, LEFTOVER_SEVERITY } from "./_fsck_leftovers.ts";

export { DEFAULT_GRACE_MS } from "./_walk_result.ts";

/** Every kind of problem fsck reports: the walk's, and those only fsck looks for. */
export const PROBLEM_SEVERITY = {
  ...WALK_SEVERITY,
  /**
   * A name WebDAV COPY or MOVE gives an entry between its steps, older than the grace
   * period: a request stopped there (its data is whole, but nobody else will tidy it).
   */
  "leftover": LEFTOVER_SEVERITY,
} as const satisfies Record<string, Severity>;

export type FsckProblemKind = keyof typeof PROBLEM_SEVERITY;

/** One finding of fsck. */
export type FsckProblem = WalkProblem<FsckProblemKind>;

type Problem = FsckProblem;

/** Options of {@linkcode fsck}. */
export interface FsckOptions {
  /** Repair what is safe to repair (default false: only report). */
  readonly repair?: boolean;
  /** Objects and intents younger than this may be in flight (default 10 minutes). */
  readonly graceMs?: number;
  /** The current time (ms), replaceable in tests. */
  readonly now?: number;
  /**
   * Removes the tree at `path` as a recursive delete would (the VFS's `removeTree`, which
   * this layer sits below): what `repair` deletes the leftovers of WebDAV COPY and MOVE
   * with; without it they are only reported. Called `again` when the first call left the
   * entry (a directory in it whose rmdir died halfway, which the VFS opens again only once
   * it has seen the removal mark for its removing lease: wait that out first).
   */
  readonly removeTree?: (path: string, options: { again: boolean }) => Promise<void>;
  /** The longest JSON a metadata object may decode to (`MetaOptions.decodeBytes`). */
  readonly decodeBytes?: number;
}

/** What the reachable tree holds. */
export interface FsckCounts {
  /** Reachable directories, the root included. */
  dirs: number;
  /** Distinct regular files (a hard-linked file counts once). */
  files: number;
  symlinks: number;
  /** Reachable standalone inodes (`i/<ino>`): files with more than one link. */
  hardlinked: number;
  /** Distinct segments named by reachable page maps. */
  segments: number;
  /** Bytes of those segments that extents use (shared bytes counted once). */
  bytesReferenced: number;
  /** Spilled page maps named by reachable files. */
  maps: number;
  /** Spilled xattr values named by reachable files and symlinks. */
  xattrs: number;
  /** Objects listed in the bucket, and their total size. */
  objects: number;
  bytesStored: number;
}

/** The outcome of {@linkcode fsck}. */
export interface FsckReport {
  /** True when no problem of severity "error" was found. */
  ok: boolean;
  /** Whether re-reading confirmed the walk as a consistent snapshot (else nothing was repaired). */
  consistent: boolean;
  problems: Problem[];
  counts: FsckCounts;
  /** Problems repaired by this run. */
  repaired: number;
  /** Error problems left as they were (not repairable, repair not asked, or it failed). */
  unrepaired: number;
  /**
   * Why repairs that judge by reachability (orphans, garbage, link counts) were not made:
   * the walk could not read an object, whose names are unknown; null when it read all.
   */
  blind: string | null;
}

/**
 * Repairs that act on what the walk did not reach (deletions, link counts lowered to the
 * names it found): wrong, and data lost, when an object it could not read names it.
 */
const BY_REACH: readonly FsckProblemKind[] = ["orphan", "garbage", "unused-inode", "nlink"];

type Fix = () => Promise<boolean>;

/**
 * Checks (and with `repair`, fixes) the filesystem in `store`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "../vfs/mod.ts";
 * import { fsck } from "./fsck.ts";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.mkdir("/a");
 * const report = await fsck(fs.store);
 * assert(report.ok && report.counts.dirs === 2);
 * ```
 */
export async function fsck(store: ObjectStore, options: FsckOptions = {}): Promise<FsckReport> {
  // A repair deletes by age: on the store's clock, which every host shares. A check only
  // reports, writes nothing, and uses this host's.
  const now = options.now ?? (options.repair ? await storeNow(store) : Date.now());
  const graceMs = options.graceMs ?? DEFAULT_GRACE_MS;
  const meta = new MetaStore(store, {
    ...options.decodeBytes ? { decodeBytes: options.decodeBytes } : {},
  });
  const dirs = new Directories(meta);
  const tree = await walk(meta, { now, graceMs, checkXattrs: true });
  const spot = blindSpot(tree);
  // An object it could not read (over the decode bound, say) may name anything that looks
  // unreached: never inferred to be garbage.
  const blind = spot ? `${spot.kind}: ${spot.detail}${spot.key ? ` (${spot.key})` : ""}` : null;
  const fixes = new Map<Problem, Fix>();
  const problems: Problem[] = [...tree.problems];
  const add = (p: Problem, fix?: Fix) => {
    problems.push(p);
    if (fix && !(blind && BY_REACH.includes(p.kind))) fixes.set(p, fix);
  };
  for (const p of problems) {
    const intent = tree.intents.find((i) => p.kind === "stale-intent" && i.path === p.path);
    if (intent) fixes.set(p, () => settleStale(meta, intent, now));
    const stray = tree.misparented.find((m) =>
      p.kind === "parent-mismatch" && p.key === dirKey(m.ino)
    );
    if (stray) fixes.set(p, () => pointBack(meta, stray));
    // A dead remover's unlink mark goes as when an instance takes it for dead.
    const mark = tree.unlinkMarks.find((m) =>
      p.kind === "unlink-mark" && p.key === m.key && p.path === m.path
    );
    if (mark) fixes.set(p, () => clearMark(dirs, mark));
  }
  const owed = await checkReleases(meta, tree, { now, graceMs, add });
  checkLinks(meta, tree, { now, graceMs, owed }, add);
  await checkApplied(meta, tree, { now, add });
  await checkLeftovers(dirs, tree, {
    now,
    graceMs,
    add,
    removeTree: options.removeTree ?? null,
  });
  const counts = await checkListing(store, meta, tree, now, graceMs, add);
  let repaired = 0;
  if (options.repair && tree.consistent) {
    for (const [p, fix] of fixes) {
      p.repaired = await fix().catch(() => false);
      if (p.repaired) repaired++;
    }
  }
  const errors = problems.filter((p) => p.severity === "error");
  return {
    ok: errors.length === 0,
    consistent: tree.consistent,
    problems,
    counts,
    repaired,
    unrepaired: errors.filter((p) => !p.repaired).length,
    blind,
  };
}

/**
 * Points a directory's parent pointer back at the directory whose entry names it, if it
 * still points where the walk saw it point (CAS). The pointer serves renames' ancestry
 * walks: one that names a directory without that entry makes every walk through it look
 * again; a renamer's own walk points it back the same way (rename_intent.ts), anyone
 * else's gives up.
 */
async function pointBack(
  meta: MetaStore,
  { ino, holder, pointer }: { ino: string; holder: string; pointer: string },
): Promise<boolean> {
  return await meta.update<DirObject, boolean>(dirKey(ino), checkDir, (dir) => {
    if (!dir || dir.value.parent !== pointer) return { result: false };
    return { write: { ...dir.value, parent: holder }, result: true };
  });
}

/**
 * Link counts: each reachable inode's nlink, less the decrements `owed` to removals that
 * happened (intents with their proofs, `_fsck_released.ts`), against the entries naming it.
 */
function checkLinks(
  meta: MetaStore,
  tree: Walk,
  { now, graceMs, owed }: { now: number; graceMs: number; owed: Owed },
  add: (p: Problem, fix?: Fix) => void,
): void {
  for (const [ino, reached] of tree.inodes) {
    const inode = reached.value;
    const ids = owed.releases.get(ino) ?? new Set<string>();
    // A raise owed (a link()'s name in, its count not yet) counts as a decrement undone.
    const raised = owed.raises.get(ino) ?? new Set<string>();
    const due = ids.size - raised.size;
    if (!inode || inode.nlink - due === reached.links) continue;
    const where = { key: reached.key, path: reached.path };
    const detail = `Inode has nlink ${inode.nlink} but ${reached.links} entries name it` +
      (due > 0 ? ` and ${due} removal(s) are still to count off` : "");
    // unlink() lowers nlink after removing a name (and link() before session 20 raised it
    // before adding one): a count too high and recently changed may be one still running.
    if (inode.nlink - due > reached.links && now - inode.attr.ctime < graceMs) {
      add(problem("in-flight", detail, where));
      continue;
    }
    // Only entries of a rename that took effect name it: leave it to the rename's repair.
    if (reached.links === 0) {
      add(problem("nlink", detail, where));
      continue;
    }
    const seen = inode.nlink;
    add(
      problem("nlink", detail, where),
      () =>
        new Inodes(meta).update<boolean>(ino, (current) => {
          // The owed decrements stay for their count step (the repair of "release-owed",
          // which may have made some already: nothing else may have changed the count).
          const still = current ? releasesOf(current.value).filter((r) => ids.has(r.id)) : [];
          const rising = current ? linksOf(current.value).filter((r) => raised.has(r.id)) : [];
          const left = still.length - rising.length;
          if (!current || current.value.nlink + due - left !== seen) return { result: false };
          current.value.nlink = reached.links + left;
          return { write: current.value, result: true };
        }),
    );
  }
}

/**
 * Settles a stale rename intent with the protocol's one implementation, exactly as an
 * instance that met it would: forward if the target can still take it, back otherwise.
 */
async function settleStale(meta: MetaStore, intent: Intent, now: number): Promise<boolean> {
  const stores = { meta, dirs: new Directories(meta), inodes: new Inodes(meta), now: () => now };
  await settleIntent(stores, intent.dir, intent.name, intent.entry);
  // Settled either way once the source entry no longer carries this intent.
  const dir = await stores.dirs.get(intent.dir);
  const there = dir ? await stores.dirs.lookup(dir.value, intent.name) : null;
  return there?.moving?.id !== intent.entry.moving.id;
}

/** Lists the bucket: orphans, garbage, and the segments the tree needs. */
async function checkListing(
  store: ObjectStore,
  meta: MetaStore,
  tree: Walk,
  now: number,
  graceMs: number,
  add: (p: Problem, fix?: Fix) => void,
): Promise<FsckCounts> {
  const counts: FsckCounts = {
    dirs: tree.dirs.size,
    files: tree.files,
    symlinks: tree.symlinks,
    hardlinked: [...tree.inodes.values()].filter((i) => i.value !== null).length,
    segments: tree.segments.size,
    bytesReferenced: 0,
    maps: tree.maps.size,
    xattrs: tree.xattrs.size,
    objects: 0,
    bytesStored: 0,
  };
  for (const use of tree.segments.values()) counts.bytesReferenced += liveBytes(use);
  const segmentSizes = new Map<string, number>();
  const remove = (key: string): Fix => async () => {
    await store.delete(key);
    return true;
  };
  for await (const info of listAll(store)) {
    counts.objects++;
    counts.bytesStored += info.size;
    const key = info.key;
    const parsed = parseKey(key);
    const old = (time: number) => now - time >= graceMs;
    // An id's time is its writer's host clock, which may be far behind the store's: an
    // object is old only if the store's own stamp on it (`now`'s clock) says so too.
    const oldId = (id: string) => old(Math.max(idTime(id), info.lastModified.getTime()));
    const young = (what: string) =>
      add(problem("in-flight", `Unreferenced ${what}, still young`, { key }));
    switch (parsed?.kind) {
      case undefined:
        add(problem("unknown-key", "Key outside the PageFS layout", { key }));
        break;
      case "superblock":
      case "gc-clock":
        break;
      case "dir":
        if (tree.dirs.has(parsed.ino) || tree.held.has(parsed.ino)) break;
        if (tree.unread.has(key)) break; // reached, and reported as unreadable
        if (!old(info.lastModified.getTime())) young("directory object");
        else if (await unreachedDir(meta, key) === "garbage") {
          add(
            problem("garbage", "Tombstone of a removed directory, left undeleted (GC deletes it)", {
              key,
            }),
            remove(key),
          );
        } else {add(
            problem("orphan", "Directory object not reachable from the root", { key }),
            remove(key),
          );}
        break;
      case "shard":
        if (tree.shards.has(key)) break;
        if (!oldId(parsed.id)) young("directory shard");
        else {
          add(
            problem("garbage", "Shard in no reachable shard table (GC deletes it)", { key }),
            remove(key),
          );
        }
        break;
      case "inode":
        if (tree.inodes.has(parsed.ino)) break;
        if (!old(info.lastModified.getTime())) young("inode");
        else if (unreachedInode(tree, parsed.ino) === "unused-inode") {
          add(
            problem(
              "unused-inode",
              "Inode object of a file that no hard link names, left by a link() cut short: " +
                "the file's next link() takes it over",
              { key },
            ),
            remove(key),
          );
        } else {add(
            problem("garbage", "Inode object of a removed file (GC deletes it)", { key }),
            remove(key),
          );}
        break;
      case "map":
        if (tree.maps.has(parsed.id)) break;
        if (!oldId(parsed.id)) young("page map");
        else add(problem("garbage", "Page map named by no reachable file", { key }), remove(key));
        break;
      case "xattr":
        if (tree.xattrs.has(parsed.id)) break;
        if (!oldId(parsed.id)) young("xattr values");
        else {
          add(
            problem("garbage", "Xattr values named by no reachable file (GC deletes them)", {
              key,
            }),
            remove(key),
          );
        }
        break;
      case "segment":
        segmentSizes.set(parsed.id, info.size);
        if (tree.segments.has(parsed.id)) break;
        if (!oldId(parsed.id)) young("segment");
        else {add(
            problem("garbage", "Segment named by no reachable page map (GC deletes it)", { key }),
          );}
        break;
    }
  }
  for (const [id, use] of tree.segments) {
    const key = segmentKey(id);
    const size = segmentSizes.get(id);
    if (size === undefined) {
      add(
        problem("missing-segment", "Segment named by a page map is missing", {
          key,
          path: use.path,
        }),
      );
    } else if (size < use.need || size !== use.declared) {
      add(problem(
        "segment-size",
        `Segment is ${size} bytes; page maps declare ${use.declared} and need ${use.need}`,
        { key, path: use.path },
      ));
    }
  }
  return counts;
}
