/**
 * Unlink marks: how a name of a hard-linked file is removed only while another name of it
 * (`keeps`) still holds the file, when the two names are in different directory objects
 * (or shards). A WebDAV MOVE between two hard links removes its source and keeps its
 * destination; two crossing ones (`/d1/a` to `/d2/b`, `/d2/b` to `/d1/a`) each checked
 * that the other's name held the file, then removed their own, and neither name was left.
 *
 * Dekker's order, as in the rename protocol (src/vfs/ops/rename.ts): raise your flag,
 * then look at the other's. The remover marks its own entry (a CAS of the source's
 * object), then reads the kept name afresh, then removes its entry by a CAS that checks
 * its mark is still there. A kept name that carries another remover's mark is being
 * removed: the older mark (by id) goes on and clears the newer one (a CAS of the kept
 * name's object), the newer one clears its own and tries again after a pause, when it
 * finds the kept name gone (and its MOVE becomes a rename onto it, as in a serial order).
 * Of two crossing removals, the one that looks last sees the other's mark or its finished
 * effect; neither can remove its name once its mark is cleared, so a stalled remover that
 * wakes up after someone cleared its mark decides again instead.
 *
 * A mark whose remover died stays on the entry, and holds back only removals of that file
 * between its names, and only until someone has seen the same mark for the removing lease
 * by their own clock (`VfsOptions.removingLeaseMs`, as for a directory's removal mark):
 * then they clear it, which stops its remover too if it was only stalled. Nothing else
 * reads the mark: plain unlinks, renames and writes of the name go on as before, and a
 * mark that rode along with a renamed entry names its old place and is ignored. fsck
 * reports a mark older than its grace period, and `fsck --repair` clears it with the same
 * CAS (`clearMark` in src/format/unlink_mark.ts, the marks' record rules both share).
 *
 * Cost, per removal across objects: one CAS more (the mark; the removal deletes it with
 * the entry) and the fresh reads of the kept name's path (conditional GETs). A crossing
 * removal costs one CAS to clear the newer mark; a removal that yields, one to clear its
 * own. Names in one directory object need none of this: both are checked in the one CAS
 * that removes the name, which also clears a mark on the kept name.
 *
 * @module
 */

import { newId } from "../format/keys.ts";
import type { Entry, UnlinkMark } from "../format/meta.ts";
import type { Release } from "../format/release.ts";
import { clearMark, markOf, withoutMark } from "../format/unlink_mark.ts";
import type { Ctx } from "./context.ts";
import { FsError } from "./errors.ts";
import { CrossObjectError, type EntryDraft } from "../format/dir.ts";
import { locate, type Location, markStale } from "./resolve.ts";

/** How a removal under a mark ended, for `unlink` to act on. */
export type MarkedOutcome =
  /** The name is gone. */
  | "removed"
  /** The kept name no longer holds the file: nothing was removed. */
  | "kept name gone"
  /** The name holds another file now: decide again. */
  | "replaced"
  /** A rename is moving the entry: settle it, then decide again. */
  | "renaming"
  /** Someone cleared this removal's mark: decide again from fresh reads. */
  | "fenced"
  /** An older removal is under way on a name this one needs: try again after a pause. */
  | "yield";

/** Times a removal clears newer marks off the kept name before it yields itself. */
const FENCE_TRIES = 5;

/**
 * Whether another remover's mark lets this one (`id`) go on past it: a newer mark does,
 * and one this instance has seen stay for the removing lease (its remover died or stalls).
 */
function mayPass(ctx: Ctx, mark: UnlinkMark, id: string): boolean {
  return mark.id > id || markStale(ctx, mark.dir, mark.id);
}

/** Clears mark `id` from entry `name` of directory `dir`, if it is still there. */
async function unmark(ctx: Ctx, dir: string, name: string, id: string): Promise<void> {
  await clearMark(ctx.dirs, { dir, name, id });
}

/** What `unlink` asks of a removal that keeps another name. */
interface Removal {
  /** The directory and name to remove, and the entry the caller found there. */
  readonly dir: string;
  readonly name: string;
  readonly entry: Entry;
  /** The name to keep, as the caller found it (holding the same file). */
  readonly kept: Location;
  /** The path of the name to remove, and of the one to keep (for errors and fresh looks). */
  readonly path: string;
  readonly keeps: string;
  /** The caller's precondition on the entry, checked in every CAS that changes it. */
  readonly held: (entry: Entry) => boolean;
  readonly stale: () => FsError;
  /** The release intent of a hard link's name: its proof goes into the removing CAS. */
  readonly release: Release | null;
}

/** Notes the proof of `release` (if any) in the CAS that removes its name. */
export function noteRelease(draft: EntryDraft, release: Release | null): void {
  if (release) draft.noteReleased(release.id, release.ino, release.name);
}

/**
 * Removes entry `name` of directory `dir` (which held `entry` when the caller looked) only
 * while path `keeps` leads to the same file. Both names in one directory object: one CAS
 * checks the kept name and removes ours (clearing a mark on the kept name, which stops
 * its remover); otherwise by the protocol above.
 */
export async function removeKeeping(ctx: Ctx, removal: Removal): Promise<MarkedOutcome> {
  const { dir, name, entry, kept, path, held, stale } = removal;
  if (kept.parent?.ino !== dir) return await removeMarked(ctx, removal);
  const keptName = kept.name;
  return await ctx.dirs.update(dir, [name, keptName], (draft) => {
    const current = draft.get(name);
    const changed = changedSince(current, entry, path);
    if (changed) return changed;
    if (!held(current!)) throw stale();
    const there = draft.get(keptName);
    if (there?.ino !== entry.ino) return "kept name gone";
    if (markOf(there, dir, keptName)) draft.set(keptName, withoutMark(there));
    draft.delete(name);
    noteRelease(draft, removal.release);
    return "removed" as const;
  }).catch((error) => {
    // Two shards of one large directory: as across objects.
    if (!(error instanceof CrossObjectError)) throw error;
    return removeMarked(ctx, removal);
  });
}

/**
 * Removes entry `name` of directory `dir` in one CAS if it still holds `entry` (a plain
 * unlink, which keeps no other name): "replaced" or "renaming" when the name changed since
 * the look (see {@linkcode changedSince}), and the release's proof noted in the same CAS.
 */
export async function removeName(
  ctx: Ctx,
  removal: Omit<Removal, "kept" | "keeps">,
): Promise<MarkedOutcome> {
  const { dir, name, entry, path, held, stale, release } = removal;
  return await ctx.dirs.update(dir, [name], (draft) => {
    const current = draft.get(name);
    const changed = changedSince(current, entry, path);
    if (changed) return changed;
    if (!held(current!)) throw stale();
    draft.delete(name);
    noteRelease(draft, release);
    return "removed" as const;
  });
}

/**
 * Whether the entry now at the name (`current`) is no longer the one looked at (`entry`):
 * ENOENT when the name is gone; "replaced" when it holds another file, or the same one
 * hard-linked since (a link() moved its inode to its own object: decide again, so that
 * what is released is what this removes); "renaming" under a rename in flight (settle
 * it, then decide again); null when it is the same.
 */
function changedSince(
  current: Entry | undefined,
  entry: Entry,
  path: string,
): "replaced" | "renaming" | null {
  if (!current) throw new FsError("ENOENT", "No such file or directory", { path });
  if (current.ino !== entry.ino || current.t !== entry.t) return "replaced";
  return current.moving ? "renaming" : null;
}

/** The protocol above, for names in two directory objects. */
async function removeMarked(ctx: Ctx, args: Removal): Promise<MarkedOutcome> {
  const { dir, name, entry, keeps, path, held, stale } = args;
  const id = newId(ctx.now());
  const marked = await ctx.dirs.update(dir, [name], (draft) => {
    const current = draft.get(name);
    const changed = changedSince(current, entry, path);
    if (changed) return changed;
    if (!held(current!)) throw stale();
    // Another removal of this very name: the older one goes first (the newer mark is
    // replaced here, which stops its remover).
    const other = markOf(current, dir, name);
    if (other && !mayPass(ctx, other, id)) return "yield";
    draft.set(name, { ...current!, unlinking: { id, dir, name } });
    return "marked";
  }, { touch: false });
  if (marked !== "marked") return marked;
  let outcome: MarkedOutcome | null = null;
  try {
    outcome = await checkKept(ctx, { keeps, ino: entry.ino, id });
    if (outcome !== null) return outcome;
    outcome = await ctx.dirs.update(dir, [name], (draft) => {
      const current = draft.get(name);
      if (!current) throw new FsError("ENOENT", "No such file or directory", { path });
      // Cleared by someone (or the name holds another entry now): this look is void.
      if (markOf(current, dir, name)?.id !== id || current.ino !== entry.ino) return "fenced";
      if (current.moving) return "renaming";
      if (!held(current)) throw stale();
      draft.delete(name);
      noteRelease(draft, args.release);
      return "removed";
    });
    return outcome;
  } finally {
    // Not removed: take the mark back (a mark left behind only slows the next removal of
    // the file's names down, for a lease at most). A failed removal whose outcome is
    // unknown finds no mark of its own left if it was applied. A rename met on the entry
    // is settled first: rolled back, it leaves the entry here with our mark on it.
    if (outcome !== "removed") {
      if (outcome === "renaming") {
        await ctx.meta.inNewScope(() => locate(ctx, path)).catch(() => {});
      }
      await unmark(ctx, dir, name, id).catch(() => {});
    }
  }
}

/**
 * The look at the kept name, from fresh reads (after our mark is durable): null when it
 * still holds the file with no other removal's mark on it (newer marks are cleared first),
 * otherwise how the removal ends.
 */
async function checkKept(
  ctx: Ctx,
  args: { keeps: string; ino: string; id: string },
): Promise<MarkedOutcome | null> {
  for (let fences = 0;; fences++) {
    const kept = await ctx.meta.inNewScope(() => locate(ctx, args.keeps)).catch((error) => {
      // A directory on its path removed since: the name is gone with it.
      if (error instanceof FsError && error.code === "ENOENT") return null;
      throw error;
    });
    if (!kept?.parent || kept.entry?.ino !== args.ino) return "kept name gone";
    const mark = markOf(kept.entry, kept.parent.ino, kept.name);
    if (!mark) return null;
    // The kept path leads to the very entry we remove now (a symlink on it changed).
    if (mark.id === args.id) return "kept name gone";
    if (!mayPass(ctx, mark, args.id) || fences >= FENCE_TRIES) return "yield";
    await unmark(ctx, kept.parent.ino, kept.name, mark.id);
  }
}
