// rename(): one CAS within one directory object; across objects, the intent protocol of
// docs/format.md: mark the source entry `moving` (the intent), add the target entry,
// remove the source entry. Whoever meets a `moving` entry rolls the rename forward (or
// back, if its target can no longer take it), so every reader sees it atomically. This
// file decides and writes the intent; settling it is src/format/rename_intent.ts, the one
// implementation that the VFS and fsck share.
//
// A directory moved to another parent could close a cycle with a crossing move from
// another instance (/p into /q while /q goes into /p): each checks "not into its own
// subtree" on a tree the other is about to change. So whoever adds the target of such a
// move first walks the target's ancestry up to the root, with fresh reads, *after* the
// intent is durable (Dekker's order: raise your flag, then look at the other's). No
// directory on that chain may be the one moving, and no entry naming one may carry
// another rename. Of two crossing moves, the one that looks last sees the other's intent,
// or its finished effect, which is then a cycle through the moving directory. Conflicts
// go by intent id: the newer intent is rolled back (its renamer tries again), the older
// one settles the newer and looks again.

import { outcomeUnknown } from "../../format/cas.ts";
import { CrossObjectError } from "../../format/dir.ts";
import { newId } from "../../format/keys.ts";
import type { DirObject, Entry, Moving } from "../../format/meta.ts";
import { isGone, pause, settleIntent } from "../../format/rename_intent.ts";
import { type Ctx, entryStat, inlineStat } from "../context.ts";
import { FsError } from "../errors.ts";
import { BeingRemoved, finishRemoval, locate, type Location, openDir } from "../resolve.ts";
import { beginNsChange, endNsChange, epochHolds } from "../epoch.ts";
import { dropReplaced } from "../records.ts";
import { withoutMark } from "../../format/unlink_mark.ts";
import { beginRelease, dropIntent, finishRelease } from "../../format/release.ts";
import type { Stat } from "../types.ts";

/**
 * Options of one rename. `expect`: the source's stat must satisfy it when the rename
 * commits (a front end's `If-Match`), or nothing changes and ESTALE is thrown. For a file
 * or symlink it is checked in the CAS that moves the entry (or records the intent); for a
 * directory or a hard-linked file, whose stat lives in its own object, right before it.
 */
export interface RenameOptions {
  readonly noReplace?: boolean;
  readonly sourceAnywhere?: boolean;
  readonly expect?: (stat: Stat) => boolean;
}

/** Tries of a directory rename that keeps losing to crossing renames, before EAGAIN. */
const CONFLICT_TRIES = 10;
/**
 * Tries that find the namespace changed between the two paths' resolution and the check
 * after it (see `renameOnce`), before a try goes on without that check (as before it).
 */
const EPOCH_TRIES = 10;

export async function rename(
  ctx: Ctx,
  from: string,
  to: string,
  options: RenameOptions = {},
): Promise<"renamed" | "same file"> {
  for (let conflicts = 0, moved = 0, tries = 0;; tries++) {
    // Each try after the first decides from fresh reads, not from the versions the
    // request read before (a state it found changed would look the same again).
    const confirm = moved < EPOCH_TRIES;
    const result = tries === 0
      ? await renameOnce(ctx, from, to, options, confirm)
      : await ctx.meta.inNewScope(() => renameOnce(ctx, from, to, options, confirm));
    if (result === "done" || result === "same file") return result === "done" ? "renamed" : result;
    if (result === "moved") moved++;
    if (result === "changed" || result === "moved") continue; // decide again, at once
    if (++conflicts >= CONFLICT_TRIES) {
      throw new FsError("EAGAIN", "Directory is being renamed by another rename", { path: from });
    }
    await pause(conflicts);
  }
}

/**
 * One try: "done", "same file" (both names lead to one file: nothing done, as POSIX
 * rename does), "changed" (the state changed between our read and our write), "moved"
 * (the namespace changed while the two paths were resolved), or "conflict" (a crossing
 * directory rename made ours roll back: try again after a pause).
 */
async function renameOnce(
  ctx: Ctx,
  from: string,
  to: string,
  options: RenameOptions,
  confirm: boolean,
): Promise<"done" | "same file" | "changed" | "moved" | "conflict"> {
  // `sourceAnywhere`: the source is the server's own (Vfs.adopt), outside a scoped view.
  const src = await locate(options.sourceAnywhere ? { ...ctx, scope: [] } : ctx, from);
  if (!src.parent) throw new FsError("EBUSY", "Cannot rename the root", { path: from });
  if (!src.entry) throw new FsError("ENOENT", "No such file or directory", { path: from });
  const dst = await locate(ctx, to);
  if (!dst.parent) throw new FsError("EBUSY", "Cannot replace the root", { path: to });
  // The two paths were resolved one after the other, each maybe through reads made earlier
  // in the request: a directory swapped out of one path between them (a WebDAV MOVE over a
  // collection, another instance's rename) could pair a source found in the old tree with
  // a target found in the new, which no moment had (protocol fuzz seed 25 on S3: a file
  // from the replaced collection moved over the file put in its place). Across directory
  // objects, a fresh look at the namespace epoch confirms that no change came since the
  // one the paths were resolved under; within one, both names are in one object, read once.
  if (confirm && src.parent.ino !== dst.parent.ino && !await epochHolds(ctx)) return "moved";
  const entry = src.entry;
  const isDir = entry.t === "d";
  if (isDir) {
    // A directory being removed (an rmdir between its mark and its end) is not moved: wait
    // for it (try again after a pause). Opening it also reopens it if its remover died.
    const open = await openDir(ctx, entry.ino, from).then(() => true, (error) => {
      if (error instanceof BeingRemoved) return false;
      throw error;
    });
    if (!open) return "conflict";
  }
  // The cheap check on the paths just resolved; the one that holds against concurrent
  // renames is made again after the intent (see the top of this file).
  if (
    isDir && dst.names.length > src.names.length &&
    src.names.every((n, i) => dst.names[i] === n)
  ) {
    throw new FsError("EINVAL", "Cannot move a directory into itself", { path: to });
  }
  const target = dst.entry;
  const { expect } = options;
  if (expect && (entry.t === "d" || entry.t === "h") && !expect(await entryStat(ctx, entry))) {
    throw stale(from);
  }
  if (target?.ino === entry.ino) return "same file"; // two names of one file: nothing to do
  // One name (the same directory object and name, however the paths were spelled): POSIX's
  // rename of a name onto itself does nothing, whatever the two looks found there. The two
  // paths are resolved one after the other, so the target's look may miss an entry that
  // moved out and back meanwhile; taken for two names, the intent from `c/b` to `c/b` found
  // its target "already there" (the source itself) and its settling removed the source: the
  // directory was in no directory (scheduler seed 25296).
  if (src.parent.ino === dst.parent.ino && src.name === dst.name) return "same file";
  if (target) {
    if (options.noReplace) throw new FsError("EEXIST", "Target exists", { path: to });
    if (isDir && target.t !== "d") throw new FsError("ENOTDIR", "Not a directory", { path: to });
    if (!isDir && target.t === "d") throw new FsError("EISDIR", "Is a directory", { path: to });
  }
  // Paths through the source, or through a replaced directory, may lead elsewhere after
  // this: announce it in the namespace epoch before anything changes, and again after.
  const args = {
    to,
    options,
    src: { ...src, parent: src.parent, entry },
    dst: { ...dst, parent: dst.parent },
  };
  if (!isDir && entry.t !== "l") return await renameEntry(ctx, args);
  const change = await beginNsChange(ctx);
  try {
    return await renameEntry(ctx, args);
  } finally {
    // If this fails, the id stays pending until others find it stale: slower, not wrong.
    await endNsChange(ctx, change).catch(() => {});
  }
}

/** The rest of one try, once the source and target were looked up and checked. */
async function renameEntry(
  ctx: Ctx,
  args: {
    to: string;
    options: RenameOptions;
    src: Location & { parent: DirObject; entry: Entry };
    dst: Location & { parent: DirObject };
  },
): Promise<"done" | "changed" | "conflict"> {
  const { to, options, src, dst } = args;
  const entry = src.entry;
  const target = dst.entry;
  /** The replaced directory this try marked, to reopen if the rename does not happen. */
  let replacedMark: { ino: string; mark: string } | null = null;
  /** Reopens it, unless `error` says our write may have replaced it after all. */
  const unmarkReplaced = async (error?: unknown) => {
    if (!replacedMark || outcomeUnknown(error)) return;
    await ctx.dirs.unmarkRemoving(replacedMark.ino, replacedMark.mark).catch(() => {});
  };
  if (target) {
    // An empty directory being replaced is first closed to new entries, like rmdir, under
    // a mark with an id: only this rename's own mark is ever taken off again by it.
    if (target.t === "d") {
      const mark = newId(ctx.now());
      const marked = await ctx.dirs.markRemoving(target.ino, mark).catch((error) => {
        if (!isGone(error)) throw error;
        return "gone" as const;
      });
      if (marked === "not-empty") {
        throw new FsError("ENOTEMPTY", "Directory not empty", { path: to });
      }
      if (marked === "busy" || marked === "gone") return "conflict"; // an rmdir of it runs
      if (marked === "dead") {
        // An rmdir made its removal final and died before unlinking it: finish that.
        await finishRemoval(ctx, target.ino, { dir: dst.parent.ino, name: dst.name });
        return "changed";
      }
      replacedMark = { ino: target.ino, mark };
    }
  }
  const id = newId();
  const moving: Moving = {
    id,
    dir: dst.parent.ino,
    name: dst.name,
    replaces: target?.ino ?? null,
    noReplace: options.noReplace ?? false,
    at: ctx.now(),
    ...(replacedMark ? { mark: replacedMark.mark } : {}),
    release: target?.t === "h",
  };
  // A directory goes through the intent even within one directory object: an rmdir of it
  // must meet the intent (or the intent's settler its mark), see `settle`; a single CAS of
  // the parent cannot tell it apart from a rename that landed before the rmdir's check.
  if (src.parent.ino === dst.parent.ino && entry.t !== "d") {
    // A hard link replaced goes under a release intent, its proof in the one CAS (as an
    // unlink's: src/format/release.ts), so that a crash before its count is settled.
    const release = target?.t === "h"
      ? await beginRelease(ctx, { ino: target.ino, dir: src.parent.ino, name: dst.name })
      : null;
    try {
      await ctx.dirs.update(src.parent.ino, [src.name, dst.name], (draft) => {
        const current = draft.get(src.name);
        if (current?.ino !== entry.ino || current.moving) throw new Changed();
        checkExpected(current, options.expect, src.names);
        const there = draft.get(dst.name);
        if ((there?.ino ?? null) !== moving.replaces || there?.moving) throw new Changed();
        // Hard-linked meanwhile (its inode moved to its own object): decide again, so the
        // link released below is the one this replaces (vfs_link_race_test).
        if (there && there.t !== target?.t) throw new Changed();
        // Reopened since we marked it (see `openDir`): it may hold entries now.
        if (replacedMark && there?.fence === replacedMark.mark) throw new Changed();
        draft.delete(src.name);
        // An unlink mark stays behind: the entry no longer has the name it was put on.
        draft.set(dst.name, withoutMark(current));
        if (release) draft.noteReleased(release.id, release.ino, dst.name);
      });
      if (release) await finishRelease(ctx, release);
      else await dropReplaced(ctx, target);
      return "done";
    } catch (error) {
      // Not replaced (or not known: then the intent stays, for its proof may be there).
      if (release && !outcomeUnknown(error)) await dropIntent(ctx, release).catch(() => {});
      if (!(error instanceof CrossObjectError)) {
        await unmarkReplaced(error);
        if (error instanceof Changed) return "changed";
        throw error;
      }
    }
  }
  // The version of the target's object held before the intent exists: no one can have
  // settled this rename (and removed its target since) before that, so the target write may
  // build on it without looking at the source again (src/format/_rename_target.ts).
  const seen = await ctx.dirs.heldVersion(dst.parent.ino, dst.name);
  // A hard link replaced goes under a release intent with this rename's id and its source's
  // name, before the target write takes its name: whoever's CAS removes the source (the
  // rename happening) notes the proof there, and the link is counted off once, by that id
  // (src/format/rename_intent.ts, `replacedRelease`), even if that settler dies after.
  const release = moving.release
    ? await beginRelease(ctx, { ino: target!.ino, dir: src.parent.ino, name: src.name, id })
    : null;
  /** Drops the release intent of a rename that did not happen (it has no proof). */
  const unrelease = async (error?: unknown) => {
    if (release && !outcomeUnknown(error)) await dropIntent(ctx, release).catch(() => {});
  };
  // The intent: the source entry records where it is going. What moves is the entry as it
  // is now (a write or a link since we looked it up changed it), not as we first read it.
  let marked: Entry;
  try {
    marked = await ctx.dirs.update(src.parent.ino, [src.name], (draft) => {
      const current = draft.get(src.name);
      if (current?.ino !== entry.ino || current.moving) throw new Changed();
      checkExpected(current, options.expect, src.names);
      // Without an unlink mark: the remover that put it can no longer remove the entry
      // (it decides again), and the mark does not travel to the target.
      const intent = { ...withoutMark(current), moving };
      draft.set(src.name, intent);
      return intent;
    }, { touch: false });
  } catch (error) {
    await unmarkReplaced(error); // an intent whose write is in doubt may yet be applied
    await unrelease(error);
    if (error instanceof Changed) return "changed";
    throw error;
  }
  const outcome = await settleIntent(ctx, src.parent.ino, src.name, marked, {
    fresh: true,
    path: dst.names.slice(0, -1),
    seen,
  });
  // What the target replaced was released by whoever's CAS removed the source entry (the
  // write that made the rename happen): by us inside `settleIntent`, or by another instance
  // that settled our intent (src/format/rename_intent.ts, `releaseReplaced`).
  if (outcome === "applied") return "done";
  await unmarkReplaced();
  // Rolled back or taken: the source was not removed under this id, so no proof is (or
  // ever will be) noted for it.
  await unrelease();
  switch (outcome) {
    case "cycle":
      // The target's ancestry, walked after the intent, holds the moving directory, though
      // the paths resolved before did not: a crossing move changed the tree since. Decide
      // again from fresh paths (which tell EINVAL, or that the target is gone).
      return "conflict";
    case "yield":
      return "conflict";
    case "taken":
      // The directory we replace was reopened meanwhile: look at it again.
      if (replacedMark) return "changed";
      break;
    case "full":
      throw new FsError("ENOSPC", "No room for more names of this hash in the folder", {
        path: `/${dst.names.join("/")}`,
      });
  }
  // Rolled back (by someone who met the intent: a crossing rename, a target taken after
  // we looked, its directory gone) or taken: nothing happened. Decide again on what is
  // there now, a bounded number of times: a rename over a name just created replaces it
  // (as it would have a moment later), or with noReplace fails with EEXIST; a directory
  // removed meanwhile is ENOENT, not a name taken.
  return "conflict";
}

/** The state changed between our read and our write: decide again from scratch. */
class Changed extends Error {}

function stale(path: string): FsError {
  return new FsError("ESTALE", "The source changed: its precondition fails", { path });
}

/** `expect` on a file or symlink entry about to move, inside the CAS that moves it. */
function checkExpected(
  entry: Entry,
  expect: ((stat: Stat) => boolean) | undefined,
  names: readonly string[],
): void {
  if (!expect || (entry.t !== "f" && entry.t !== "l")) return;
  if (!expect(inlineStat(entry))) throw stale("/" + names.join("/"));
}
