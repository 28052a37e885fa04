// Namespace operations: mkdir, unlink, rmdir, symlink, readlink, copy (readdir is in
// readdir.ts, link in link.ts).

import { outcomeUnknown } from "../../format/cas.ts";
import { claimData } from "../../format/gc_pending.ts";
import { newDirObject } from "../../format/dir.ts";
import { newId, newIno, ROOT_INO } from "../../format/keys.ts";
import type { Entry } from "../../format/meta.ts";
import { type Ctx, dirStat, entryStat, inlineStat, newAttr, statOf } from "../context.ts";
import { FsError } from "../errors.ts";
import { loadMap } from "../reader.ts";
import { dropReplaced, loadRecord } from "../records.ts";
import { PATH_MAX, splitPath } from "../path.ts";
import { finishRemoval, inScope, locate, lookupEntry, MARK_WAITS, openDir } from "../resolve.ts";
import { checkCopyDepth } from "../tree_depth.ts";
import { type MarkedOutcome, removeKeeping, removeName } from "../unlink_marks.ts";
import { beginRelease, dropIntent, finishRelease } from "../../format/release.ts";
import { locateIn } from "../within.ts";
import type { Stat } from "../types.ts";

/**
 * Adds entry `name` to directory `dir` (mkdir, symlink); EEXIST if the name is taken. (A
 * lost answer to our own write is resolved exactly by the CAS layer, not by this mutation
 * running again: see src/format/cas.ts.)
 */
async function addEntry(ctx: Ctx, dir: string, name: string, entry: Entry, path: string) {
  await ctx.dirs.update(dir, [name], (draft) => {
    if (draft.get(name)) throw new FsError("EEXIST", "File exists", { path });
    draft.set(name, entry);
  });
}

export async function mkdir(
  ctx: Ctx,
  path: string,
  options: { mode?: number; uid?: number; gid?: number; parents?: boolean } = {},
): Promise<Stat> {
  if (options.parents) {
    const names = splitPath(path);
    for (let i = 1; i < names.length; i++) {
      // A scoped caller's folder and what leads to it are not its own to create.
      if (!inScope(ctx, names.slice(0, i))) continue;
      await mkdir(ctx, "/" + names.slice(0, i).join("/"), { ...options, parents: false })
        .catch((error) => {
          if (!(error instanceof FsError && error.code === "EEXIST")) throw error;
        });
    }
  }
  const { parent, name, entry } = await locate(ctx, path);
  if (!parent) {
    // The root always exists: `mkdir -p /` succeeds, `mkdir /` does not.
    if (options.parents) return dirStat(await openDir(ctx, ROOT_INO, path));
    throw new FsError("EEXIST", "File exists", { path });
  }
  if (entry) {
    if (options.parents && entry.t === "d") return await entryStat(ctx, entry);
    throw new FsError("EEXIST", "File exists", { path });
  }
  const ino = newIno();
  const dir = newDirObject(ino, parent.ino, newAttr(ctx, "directory", options));
  // The directory's object exists before any entry names it (a crash leaves an orphan
  // that fsck and GC find, never an entry pointing at nothing).
  await ctx.dirs.create(dir);
  try {
    await addEntry(ctx, parent.ino, name, { t: "d", ino }, path);
  } catch (error) {
    // An entry that may have been added must not lose its object: leave an orphan at worst.
    if (!outcomeUnknown(error)) await ctx.dirs.remove(dir).catch(() => {});
    // `mkdir -p` racing another instance that made the same folder: theirs will do.
    if (options.parents && error instanceof FsError && error.code === "EEXIST") {
      const now = await locate(ctx, path);
      if (now.entry?.t === "d") return await entryStat(ctx, now.entry);
    }
    throw error;
  }
  return dirStat(dir);
}

/** Times an unlink decides again when the name it looked at leads elsewhere at its commit. */
const UNLINK_TRIES = 10;

/**
 * unlink: one CAS of the parent that removes the name if it still holds the entry looked
 * at. A name that leads to another file at the commit (replaced by a rename, a safe-save)
 * is decided again from fresh reads: the unlink removes what the name holds then, as a
 * serial order of the two would. With `expect`, the file's stat must satisfy it at the
 * commit, checked in the same CAS (for a hard-linked file, whose content is in its own
 * object, right before it), or nothing is removed and ESTALE is thrown.
 *
 * With `keeps` (another path), the name goes only while `keeps` still leads to the same
 * file: a WebDAV MOVE between two hard links removes its source, and two crossing ones
 * (`a` to `b`, `b` to `a`) each found the other's name there and removed their own, which
 * left neither (protocol fuzz ext seed 51306). When both names are in one directory object
 * this is checked in the CAS that removes the name; across objects, under an unlink mark
 * (src/vfs/unlink_marks.ts). Otherwise nothing is removed and the answer is "kept name
 * gone".
 * With `within` (a directory's inode), `path` is not resolved (a tree removal's member, at
 * any depth: within.ts); so in rmdir.
 */
export async function unlink(
  ctx: Ctx,
  path: string,
  options: { expect?: (stat: Stat) => boolean; keeps?: string; within?: string } = {},
  again: { tries: number; waits: number } = { tries: 0, waits: 0 },
): Promise<"removed" | "kept name gone"> {
  const { parent, name, entry } = await locateIn(ctx, path, options.within);
  if (!parent) throw new FsError("EISDIR", "Is a directory", { path });
  if (!entry) throw new FsError("ENOENT", "No such file or directory", { path });
  if (entry.t === "d") throw new FsError("EISDIR", "Is a directory", { path });
  const { expect } = options;
  const stale = () => new FsError("ESTALE", "The file changed: its precondition fails", { path });
  if (expect && entry.t === "h" && !expect(await entryStat(ctx, entry))) throw stale();
  // A file whose stat fails `expect` is ESTALE, whatever `keeps` holds.
  const held = (e: Entry) => !expect || (e.t !== "f" && e.t !== "l") || expect(inlineStat(e));
  const kept = options.keeps === undefined ? null : await locate(ctx, options.keeps);
  if (kept && kept.entry?.ino !== entry.ino) {
    if (!held(entry)) throw stale();
    return "kept name gone";
  }
  // A name of a hard-linked file goes under a release intent on its inode, and the CAS
  // that removes it leaves the proof: its count is then lowered once, by this remover or
  // by whoever meets the intent should this one die (src/format/release.ts).
  const release = entry.t === "h"
    ? await beginRelease(ctx, { ino: entry.ino, dir: parent.ino, name })
    : null;
  let outcome: MarkedOutcome;
  try {
    const removal = { dir: parent.ino, name, entry, path, held, stale, release };
    outcome = kept
      ? await removeKeeping(ctx, { ...removal, kept, keeps: options.keeps! })
      : await removeName(ctx, removal);
  } catch (error) {
    // Not removed, or not known: an intent whose removal may have happened stays (its
    // proof, if any, lets the next removal of a name of the file count it off).
    if (release && !outcomeUnknown(error)) await dropIntent(ctx, release).catch(() => {});
    throw error;
  }
  if (release && outcome !== "removed") await dropIntent(ctx, release).catch(() => {});
  if (outcome === "kept name gone") return outcome;
  if (outcome === "renaming") return await unlink(ctx, path, options, again);
  if (outcome === "replaced" || outcome === "fenced") {
    if (again.tries >= UNLINK_TRIES) {
      throw new FsError("EAGAIN", "The name keeps changing", { path });
    }
    const next = { ...again, tries: again.tries + 1 };
    return await ctx.meta.inNewScope(() => unlink(ctx, path, options, next));
  }
  if (outcome === "yield") {
    // An older removal of this name, or of the kept one, is under way: wait for it.
    const wait = MARK_WAITS[again.waits];
    if (wait === undefined) {
      throw new FsError("EAGAIN", "Another request is removing a name of this file", { path });
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
    const next = { ...again, waits: again.waits + 1 };
    return await ctx.meta.inNewScope(() => unlink(ctx, path, options, next));
  }
  if (release) await finishRelease(ctx, release);
  else await dropReplaced(ctx, entry);
  return "removed";
}

/**
 * rmdir: mark the directory (closed to new entries; its mark has an id), check that the
 * name still leads to it, make the removal final by turning the directory object into a
 * tombstone under that same mark id (CAS), then unlink it. Anyone who meets a mark that
 * stays for a lease on their own clock reopens the directory by clearing that mark (CAS
 * on the same object), so a stalled rmdir that resumes afterwards cannot make its removal
 * final and fails. Writes: mark, tombstone, parent entry (a sharded directory also marks
 * each shard); then the objects are deleted.
 */
export async function rmdir(
  ctx: Ctx,
  path: string,
  options: { within?: string } = {},
  tries = 0,
): Promise<void> {
  const { parent, name, entry } = await locateIn(ctx, path, options.within);
  if (!parent) throw new FsError("EBUSY", "Cannot remove the root", { path });
  if (!entry) throw new FsError("ENOENT", "No such file or directory", { path });
  if (entry.t !== "d") throw new FsError("ENOTDIR", "Not a directory", { path });
  const again = () => {
    if (tries >= 10) throw new FsError("EAGAIN", "Directory keeps changing", { path });
    // From scratch means from fresh reads: not the versions this request already read.
    return ctx.meta.inNewScope(() => rmdir(ctx, path, options, tries + 1));
  };
  const id = newId(ctx.now());
  const marked = await ctx.dirs.markRemoving(entry.ino, id).catch((error) => {
    if ((error as Error)?.name !== "DirectoryGone") throw error;
    return "gone" as const;
  });
  switch (marked) {
    case "not-empty":
      throw new FsError("ENOTEMPTY", "Directory not empty", { path });
    case "gone":
      throw new FsError("ENOENT", "No such file or directory", { path });
    case "busy":
      // Another removal's mark: gone once it finishes, open again if it died (openDir
      // decides by its own observation).
      await openDir(ctx, entry.ino, path);
      return await again();
    case "dead":
      // A removal that became final and died before unlinking: finish it.
      return await finishRemoval(ctx, entry.ino, { dir: parent.ino, name });
  }
  let renaming: boolean;
  try {
    // The name must still lead to this directory (checked, not written).
    renaming = await ctx.dirs.update(parent.ino, [name], (draft) => {
      const current = draft.get(name);
      // Renamed away (or removed) since: it is not this name's to delete.
      if (current?.ino !== entry.ino) {
        throw new FsError("ENOENT", "No such file or directory", { path });
      }
      return current.moving !== undefined || current.movedFrom !== undefined;
    });
  } catch (error) {
    // Still linked: it must take entries again.
    await ctx.dirs.unmarkRemoving(entry.ino, id).catch(() => {});
    throw error;
  }
  if (renaming) {
    await ctx.dirs.unmarkRemoving(entry.ino, id).catch(() => {});
    await lookupEntry(ctx, parent, name); // settles the rename
    return await again();
  }
  // Reopened by someone meanwhile (this rmdir was too slow): decide again from scratch.
  let final: boolean;
  try {
    final = await ctx.dirs.tombstone(entry.ino, id);
  } catch (error) {
    // Not final (a tombstone is never reopened): it must take entries again.
    await ctx.dirs.unmarkRemoving(entry.ino, id).catch(() => {});
    throw error;
  }
  if (!final) return await again();
  // Final now: a failed request must not leave the name pointing at a tombstone.
  for (let attempt = 1;; attempt++) {
    try {
      return await finishRemoval(ctx, entry.ino, { dir: parent.ino, name });
    } catch (error) {
      if (attempt >= 3) throw error;
    }
  }
}

export async function symlink(
  ctx: Ctx,
  target: string,
  path: string,
  options: { uid?: number; gid?: number } = {},
): Promise<Stat> {
  if (typeof target !== "string" || target === "" || target.includes("\0")) {
    throw new FsError("EINVAL", "Invalid symlink target", { path });
  }
  if (new TextEncoder().encode(target).length > PATH_MAX) {
    throw new FsError("ENAMETOOLONG", "Symlink target too long", { path });
  }
  const { parent, name } = await locate(ctx, path);
  if (!parent) throw new FsError("EEXIST", "File exists", { path });
  const ino = newIno();
  const attr = newAttr(ctx, "symlink", options);
  await addEntry(ctx, parent.ino, name, { t: "l", ino, attr, target }, path);
  return statOf(ino, "symlink", attr, { target });
}

export async function readlink(ctx: Ctx, path: string): Promise<string> {
  const { parent, entry } = await locate(ctx, path);
  if (!parent) throw new FsError("EINVAL", "Not a symlink", { path });
  if (!entry) throw new FsError("ENOENT", "No such file or directory", { path });
  if (entry.t !== "l") throw new FsError("EINVAL", "Not a symlink", { path });
  return entry.target;
}

/** Options of {@linkcode copy} (see the facade's `copy`). */
export interface CopyOptions {
  readonly noReplace?: boolean;
  readonly beforeEach?: () => Promise<void>;
  /** For a file or symlink: its stat as read for the copy must satisfy it (else ESTALE). */
  readonly expect?: (stat: Stat) => boolean;
  /** Where the copy will be renamed to once made (a staged copy): held to PATH_MAX too. */
  readonly landsAt?: string;
}

/**
 * Copies a file (sharing its data: segments are immutable, so the copy is metadata only)
 * or, recursively, a directory tree. A symlink at `from` is followed (the copy is of what
 * it names); a symlink met inside a tree (`member`) is copied as a symlink, as `cp -R`
 * does. Following those copied whatever they led to, from anywhere: a tree copied by a
 * principal who may read everything brought another user's files into the copy, where
 * the owner of the planted link could read them; a limited user could not copy a tree of
 * hers holding a link that leads outside (EACCES halfway), and a link to an ancestor
 * copied the tree into itself until ELOOP.
 */
export async function copy(
  ctx: Ctx,
  from: string,
  to: string,
  options: CopyOptions = {},
  member = false,
): Promise<Stat> {
  // When the copy began, before it read its source: what it names may be let go of by
  // the source from then on (see the claim below).
  const began = ctx.now();
  const src = await locate(ctx, from, { follow: !member });
  if (!src.entry && src.parent) {
    throw new FsError("ENOENT", "No such file or directory", { path: from });
  }
  const dst = await locate(ctx, to);
  if (!dst.parent) throw new FsError("EEXIST", "Cannot replace the root", { path: to });
  if (
    dst.names.length > src.names.length && src.names.every((n, i) => dst.names[i] === n)
  ) {
    throw new FsError("EINVAL", "Cannot copy a directory into itself", { path: to });
  }
  if (dst.entry && options.noReplace) throw new FsError("EEXIST", "Target exists", { path: to });
  const entry = src.entry;
  if (!entry || entry.t === "d") {
    const dir = await openDir(ctx, entry?.ino ?? ROOT_INO, from);
    if (dst.entry) throw new FsError("EEXIST", "Target exists", { path: to });
    if (!member) await checkCopyDepth(ctx, dir, [from, to, options.landsAt ?? to]);
    await options.beforeEach?.();
    const stat = await mkdir(ctx, to, {
      mode: dir.attr.mode,
      uid: dir.attr.uid,
      gid: dir.attr.gid,
    });
    const xattr = dir.xattr;
    if (xattr && Object.keys(xattr).length > 0) {
      await ctx.dirs.updateSelf(stat.ino, (record) => {
        record.xattr = { ...xattr };
      });
    }
    const { expect: _top, ...members } = options;
    for (const [name] of await ctx.dirs.list(dir)) {
      await copy(ctx, joinChild(from, name), joinChild(to, name), members, true);
    }
    return stat;
  }
  if (dst.entry?.t === "d") throw new FsError("EISDIR", "Is a directory", { path: to });
  const ino = newIno();
  const now = ctx.now();
  let fresh: Entry;
  const stale = () =>
    new FsError("ESTALE", "The source changed: its precondition fails", {
      path: from,
    });
  if (entry.t === "l") {
    if (options.expect && !options.expect(inlineStat(entry))) throw stale();
    fresh = { ...entry, ino, attr: { ...entry.attr, ctime: now, btime: now } };
  } else {
    const record = await loadRecord(ctx, entry);
    // What is copied is the version checked: the one just read.
    const seen = statOf(entry.ino, "file", record.attr, { nlink: record.nlink, data: record });
    if (options.expect && !options.expect(seen)) throw stale();
    // The inode's own members stay behind (its release and link intents are of its names).
    const { nlink: _n, v: _v, ino: _i, releases: _r, links: _l, ...data } = record as
      & typeof record
      & { v?: number; ino?: string; releases?: unknown; links?: unknown };
    fresh = { ...data, t: "f", ino, gen: 1, attr: { ...record.attr, ctime: now, btime: now } };
  }
  const replaced = dst.entry;
  await options.beforeEach?.();
  // A copy this late names segments that its source may have let go of since, and that GC
  // may have reclaimed: take them out of its pending set, or fail (docs/format.md).
  // Spilled xattr values are shared with the source the same way. Late since it read the
  // source: timed from after the read (and its target's look), a stall in that look went
  // unseen and the copy named spilled values GC had deleted meanwhile
  // (tests/xattr_spill_review_test.ts).
  if ((fresh.t === "f" || fresh.t === "l") && ctx.now() - began >= ctx.claimAfterMs) {
    const segments = fresh.t === "l"
      ? []
      : [...new Set((await loadMap(ctx, fresh)).map(([, , segment]) => segment))];
    const maps = fresh.t === "f" && fresh.mapRef !== undefined ? [fresh.mapRef] : [];
    const xattrs = fresh.xattrRef ? [fresh.xattrRef.id] : [];
    if (!await claimData(ctx.meta, { segments, maps, xattrs })) {
      throw new FsError("EIO", "The copy stalled so long that its source's data was reclaimed", {
        path: to,
      });
    }
  }
  await commitCopy(ctx, { dir: dst.parent.ino, name: dst.name, replaced, fresh, path: to });
  return await entryStat(ctx, fresh);
}

/** Tries of a copy's commit whose target became a hard link after the look. */
const COPY_COMMIT_TRIES = 3;

/**
 * A copy's commit: entry `name` of `dir` becomes `fresh`, if it still holds `replaced`'s
 * inode. A hard link replaced goes under a release intent, its proof in the same CAS (as
 * an unlink's, src/format/release.ts), so that a crash before its count is settled by the
 * next removal of a name of the file; before, it was counted off after the CAS, and a
 * crash between left the count one too high. A file hard-linked since the look (its entry
 * then `t: "h"`) is committed again under an intent (vfs_link_race_test).
 */
async function commitCopy(
  ctx: Ctx,
  { dir, name, replaced, fresh, path }: {
    dir: string;
    name: string;
    replaced: Entry | null;
    fresh: Entry;
    path: string;
  },
): Promise<void> {
  let linked = replaced?.t === "h";
  for (let tries = 0;; tries++) {
    const release = linked && replaced
      ? await beginRelease(ctx, { ino: replaced.ino, dir, name })
      : null;
    let gone: Entry | null | "linked";
    try {
      gone = await ctx.dirs.update(dir, [name], (draft) => {
        const there = draft.get(name);
        if ((there?.ino ?? null) !== (replaced?.ino ?? null)) {
          throw new FsError("EEXIST", "Target changed during the copy", { path });
        }
        if (there?.moving) throw new FsError("EAGAIN", "Target is being renamed", { path });
        // (An intent asked for and refused: the inode is gone, nothing to count off.)
        if (there?.t === "h" && !linked) return "linked";
        draft.set(name, fresh);
        if (release) draft.noteReleased(release.id, release.ino, name);
        return there ?? null;
      });
    } catch (error) {
      // Not replaced (or not known: then the intent stays, for its proof may be there).
      if (release && !outcomeUnknown(error)) await dropIntent(ctx, release).catch(() => {});
      throw error;
    }
    if (gone !== "linked") {
      if (release) await finishRelease(ctx, release);
      else await dropReplaced(ctx, gone);
      return;
    }
    if (tries + 1 >= COPY_COMMIT_TRIES) {
      throw new FsError("EAGAIN", "Target keeps changing during the copy", { path });
    }
    linked = true;
  }
}

function joinChild(path: string, name: string): string {
  return path.endsWith("/") ? path + name : `${path}/${name}`;
}
