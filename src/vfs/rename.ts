// rename(): one CAS within one directory object; across objects, the intent protocol of
// docs/format.md: mark the source entry `moving` (the intent), add the target entry,
// remove the source entry. Whoever meets a `moving` entry rolls the rename forward (or
// back, if its target can no longer take it), so every reader sees it atomically.

import { CrossObjectError } from "../format/dir.ts";
import { newId } from "../format/keys.ts";
import type { DirObject, Entry, Moving } from "../format/meta.ts";
import type { Ctx } from "./context.ts";
import { FsError } from "./errors.ts";
import { locate } from "./resolve.ts";
import { dropReplaced } from "./namespace.ts";

export async function rename(
  ctx: Ctx,
  from: string,
  to: string,
  options: { noReplace?: boolean } = {},
): Promise<void> {
  const src = await locate(ctx, from);
  if (!src.parent) throw new FsError("EBUSY", "Cannot rename the root", { path: from });
  if (!src.entry) throw new FsError("ENOENT", "No such file or directory", { path: from });
  const dst = await locate(ctx, to);
  if (!dst.parent) throw new FsError("EBUSY", "Cannot replace the root", { path: to });
  const entry = src.entry;
  const isDir = entry.t === "d";
  if (
    isDir && dst.names.length > src.names.length &&
    src.names.every((n, i) => dst.names[i] === n)
  ) {
    throw new FsError("EINVAL", "Cannot move a directory into itself", { path: to });
  }
  const target = dst.entry;
  if (target?.ino === entry.ino) return; // the same file: nothing to do
  if (target) {
    if (options.noReplace) throw new FsError("EEXIST", "Target exists", { path: to });
    if (isDir && target.t !== "d") throw new FsError("ENOTDIR", "Not a directory", { path: to });
    if (!isDir && target.t === "d") throw new FsError("EISDIR", "Is a directory", { path: to });
    // An empty directory being replaced is first closed to new entries, like rmdir.
    if (target.t === "d" && !await ctx.dirs.markRemoving(target.ino, ctx.now())) {
      throw new FsError("ENOTEMPTY", "Directory not empty", { path: to });
    }
  }
  const moving: Moving = {
    id: newId(),
    dir: dst.parent.ino,
    name: dst.name,
    replaces: target?.ino ?? null,
    noReplace: options.noReplace ?? false,
    at: ctx.now(),
  };
  if (src.parent.ino === dst.parent.ino) {
    try {
      await ctx.dirs.update(src.parent.ino, [src.name, dst.name], (draft) => {
        const current = draft.get(src.name);
        if (current?.ino !== entry.ino || current.moving) throw new Changed();
        const there = draft.get(dst.name);
        if ((there?.ino ?? null) !== moving.replaces || there?.moving) throw new Changed();
        draft.delete(src.name);
        draft.set(dst.name, current);
      });
      await dropReplaced(ctx, target);
      return;
    } catch (error) {
      if (error instanceof Changed) return await retry(ctx, from, to, options, target);
      if (!(error instanceof CrossObjectError)) {
        await unmarkReplaced(ctx, target);
        throw error;
      }
    }
  }
  // The intent: the source entry records where it is going. What moves is the entry as it
  // is now (a write or a link since we looked it up changed it), not as we first read it.
  let marked: Entry;
  try {
    marked = await ctx.dirs.update(src.parent.ino, [src.name], (draft) => {
      const current = draft.get(src.name);
      if (current?.ino !== entry.ino || current.moving) throw new Changed();
      const intent = { ...current, moving };
      draft.set(src.name, intent);
      return intent;
    }, { touch: false });
  } catch (error) {
    if (error instanceof Changed) return await retry(ctx, from, to, options, target);
    await unmarkReplaced(ctx, target);
    throw error;
  }
  const done = await applyMove(ctx, src.parent.ino, src.name, marked);
  if (!done) {
    await unmarkReplaced(ctx, target);
    throw new FsError("EEXIST", "Target changed during the rename", { path: to });
  }
  await dropReplaced(ctx, target);
}

/** The state changed between our read and our write: decide again from scratch. */
class Changed extends Error {}

async function retry(
  ctx: Ctx,
  from: string,
  to: string,
  options: { noReplace?: boolean },
  marked: Entry | null,
): Promise<void> {
  await unmarkReplaced(ctx, marked);
  return rename(ctx, from, to, options);
}

async function unmarkReplaced(ctx: Ctx, target: Entry | null): Promise<void> {
  if (target?.t !== "d") return;
  await ctx.dirs.unmarkRemoving(target.ino).catch(() => {});
}

/**
 * Rolls the rename recorded on `entry` (the entry `name` of directory `srcDir`) forward:
 * target added, source removed. If the target can no longer take it, rolls it back.
 * Idempotent, so the renamer and anyone who meets the intent may run it at once.
 * @returns true if the rename took effect.
 */
export async function applyMove(
  ctx: Ctx,
  srcDir: string,
  name: string,
  entry: Entry,
): Promise<boolean> {
  const moving = entry.moving!;
  // The target remembers where it came from until the source entry is known to be gone:
  // whoever changes it first settles the source, so the rename cannot be replayed later
  // (after the target was unlinked, say) by someone who meets the stale source intent.
  const moved: Entry = { ...entry, movedFrom: { id: moving.id, dir: srcDir, name } };
  delete moved.moving;
  let applied: boolean;
  try {
    applied = await ctx.dirs.update(moving.dir, [moving.name], (draft) => {
      const there = draft.get(moving.name);
      if (there?.ino === entry.ino) return true; // already applied
      if ((there?.ino ?? null) !== moving.replaces) return false;
      // Replacing an entry that is itself being renamed would drop what its rename added.
      if (there?.moving) return false;
      if (there && moving.noReplace) return false;
      draft.set(moving.name, moved);
      return true;
    });
  } catch (error) {
    if (!(error instanceof FsError) && !isGone(error)) throw error;
    applied = false; // the target directory is gone
  }
  // Before the source entry (the intent) goes: whoever settles the intent redoes this, so a
  // crash cannot leave the moved directory pointing at its old parent.
  if (applied && entry.t === "d" && srcDir !== moving.dir) {
    await setParent(ctx, entry.ino, moving.dir);
  }
  const source = await ctx.dirs.update(srcDir, [name], (draft) => {
    const current = draft.get(name);
    if (current?.moving?.id !== moving.id) {
      return rolledBack(current, entry) ? "rolled-back" : "done";
    }
    if (applied) {
      draft.delete(name);
    } else {
      const restored = { ...current };
      delete restored.moving;
      draft.set(name, restored);
    }
    return "done";
  }, { touch: applied }).catch((error) => {
    if (!isGone(error)) throw error;
    return "done";
  });
  if (applied && source === "rolled-back") {
    // Someone met the intent while the target was taken and rolled the rename back; the
    // target we added since (it was free again by then) would be a second name for the
    // inode. It goes, and the rename did not happen.
    await dropBogusTarget(ctx, moving.dir, moving.name, moving.id);
    return false;
  }
  return applied;
}

/**
 * True when the source entry is still there for the same inode but without any intent:
 * the rename was rolled back (a completed one removed the source entry).
 */
function rolledBack(current: Entry | undefined, entry: Entry): boolean {
  return current?.ino === entry.ino && !current.moving;
}

/** Removes a target entry that a rolled-back rename added. */
async function dropBogusTarget(ctx: Ctx, dir: string, name: string, id: string): Promise<void> {
  await ctx.dirs.update(dir, [name], (draft) => {
    if (draft.get(name)?.movedFrom?.id === id) draft.delete(name);
  }).catch((error) => {
    if (!isGone(error)) throw error;
  });
}

async function setParent(ctx: Ctx, ino: string, parent: string): Promise<void> {
  await ctx.dirs.updateSelf(ino, (dir: DirObject) => {
    dir.parent = parent;
  }).catch((error) => {
    if (!isGone(error)) throw error;
  });
}

function isGone(error: unknown): boolean {
  return (error as Error)?.name === "DirectoryGone";
}

/**
 * Settles the source side of the rename that created target entry `name` of directory
 * `dirIno` (removes the source entry if it still carries the intent), then drops the
 * target's `movedFrom` mark.
 */
export async function settleMovedFrom(
  ctx: Ctx,
  dirIno: string,
  name: string,
  entry: Entry,
): Promise<void> {
  const from = entry.movedFrom!;
  if (entry.t === "d" && from.dir !== dirIno) await setParent(ctx, entry.ino, dirIno);
  const source = await ctx.dirs.update(from.dir, [from.name], (draft) => {
    const current = draft.get(from.name);
    if (current?.moving?.id === from.id) draft.delete(from.name);
    else if (rolledBack(current, entry)) return "rolled-back";
    return "done";
  }).catch((error) => {
    if (!isGone(error)) throw error;
    return "done";
  });
  if (source === "rolled-back") return await dropBogusTarget(ctx, dirIno, name, from.id);
  await ctx.dirs.update(dirIno, [name], (draft) => {
    const current = draft.get(name);
    if (current?.ino !== entry.ino || current.movedFrom?.id !== from.id) return;
    const clean = { ...current };
    delete clean.movedFrom;
    draft.set(name, clean);
  }, { touch: false });
}

/** Settles a rename found in progress on entry `name` of directory `dirIno`. */
export async function settleMoving(
  ctx: Ctx,
  dirIno: string,
  name: string,
  entry: Entry,
): Promise<void> {
  await applyMove(ctx, dirIno, name, entry);
}
