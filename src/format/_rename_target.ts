/**
 * A rename's target write, the step of the rename-intent protocol (rename_intent.ts) that
 * adds the moved entry at its new name, and what it needs to judge the entry found there.
 *
 * Only a live intent may get its target: once the source entry no longer carries the
 * intent, the rename was settled (applied, or rolled back), and the target it added then
 * may have been unlinked, renamed away or removed with its directory since. A target
 * written after that is a second life for a name that is gone: an unlinked file back, a
 * hard link back with its link count already taken off (freed under it by the next
 * unlink), a removed directory named again (session 16 sweep,
 * tests/vfs_rename_late_target_test.ts). So the write builds only on a version of the
 * target's object that was held before a look found the intent still at its source: if
 * the CAS commits, nothing changed that object since that moment, so whoever settled the
 * rename and removed its target did so after the look, which saw the source gone. A
 * decision on any other version (a retry after a lost CAS, a fresher read, the next batch
 * of a busy directory) looks again, after the decision and before its CAS: a guard of the
 * group commit, for which that batch waits (one conditional GET).
 *
 * The renamer itself needs no look for a version it held before it wrote its intent: no
 * one could settle the rename before that.
 *
 * @module
 */

import { DirectoryGone, type EntryDraft } from "./_dir_entries.ts";
import { ShardFull } from "./_dir_split.ts";
import { ContentionError } from "./_cas_base.ts";
import { dirKey } from "./keys.ts";
import type { Entry, MovedFrom, Moving } from "./meta.ts";
import type { RenameStores } from "./_rename_walk.ts";

/** What the target write answers when its look found the intent gone from its source. */
const SETTLED = "settled" as const;
/** What the target write answers when the target's object is full (see `ShardFull`). */
const FULL = "full" as const;
/** Tries of a rename's target write that meets its directory under an rmdir's mark. */
const TARGET_TRIES = 9;

/** Whether `error` says a directory was removed (or is being removed). */
export function isGone(error: unknown): boolean {
  return error instanceof DirectoryGone;
}

/**
 * Whether directory `ino` is gone for good (no object, or a tombstone), read afresh, after
 * a change of it met {@linkcode isGone}. A removal mark alone is not: an rmdir marks a
 * sharded directory's own object before it looks at its shards, and takes the mark off
 * again when one holds names (a rename's source entry, say), and a change meets the mark
 * as "gone" meanwhile.
 */
export async function goneForGood(ctx: RenameStores, ino: string): Promise<boolean> {
  const dir = await ctx.dirs.get(ino);
  return dir === null || dir.value.removed === true;
}

/** Tries of a change of a folder found under an rmdir's mark only, before it counts as gone. */
const MARKED_TRIES = 8;

/**
 * Runs `change` (of directory `ino`), again while it meets the directory under an rmdir's
 * mark only (not {@linkcode goneForGood}): an rmdir marks a sharded directory's own object
 * before it has looked at all of its shards, and takes the mark off again when one holds
 * names. `gone` is the answer once the directory is gone for good; after `tries` tries
 * under the mark (a dead rmdir's), `stillMarked`'s, or else `gone` too (left for a later
 * look, whoever's).
 */
export async function pastMarks<T>(
  ctx: RenameStores,
  ino: string,
  change: () => Promise<T>,
  options: { gone: T; tries?: number; stillMarked?: () => T },
): Promise<T> {
  const { gone, tries: most = MARKED_TRIES, stillMarked } = options;
  for (let tries = 0;; tries++) {
    try {
      return await change();
    } catch (error) {
      if (!isGone(error)) throw error;
      const last = tries + 1 >= most;
      if (last && !stillMarked) return gone;
      if (await goneForGood(ctx, ino)) return gone;
      if (last) return stillMarked!();
    }
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 ** (tries + 2)));
  }
}

/**
 * Whether the inode of `entry` (a rename's source) may have other names, so that finding
 * it at the target (`there`) does not say this rename put it there: a hard link, or a
 * plain file hard-linked since (its rename taken back, say, then a link() of it renamed
 * onto the target).
 */
export function linked(entry: Entry, there: Entry): boolean {
  return entry.t === "h" || there.t === "h";
}

/**
 * Whether `there`, the entry at the target holding the moved hard-linked inode (`entry` the
 * source entry carrying the intent), was added by this rename (its mark), or is a leftover
 * of an earlier try of this entry's move, rolled back (the source entry keeps that try's
 * id as its `rolledBack` trace). Anything else is another name of the file: one renamed
 * there from elsewhere, or from this very source name by an earlier rename of another entry
 * (tests/dav_link_moves_sched_test.ts seed 374). A target of ours loses its mark only once
 * the source is gone: then the intent is no longer live, and only its renamer may still
 * come to write the target (for a version it held before its intent: see above); whoever
 * cleared the mark left the rename's id on the entry (`movedBy`) for it.
 */
export function ownTarget(there: Entry, entry: Entry, moving: Moving): boolean {
  const from = there.movedFrom;
  if (from === undefined) return there.movedBy === moving.id;
  return from.id === moving.id || from.id === entry.rolledBack;
}

/** Whether entry `name` of directory `dirIno` still carries the intent `id` (fresh reads). */
export async function intentLive(
  ctx: RenameStores,
  dirIno: string,
  name: string,
  id: string,
): Promise<boolean> {
  const dir = await ctx.dirs.get(dirIno);
  return dir !== null && (await ctx.dirs.lookup(dir.value, name))?.moving?.id === id;
}

/** What the target write did. */
export interface TargetWrite {
  /** The target holds the moved entry as this rename's: added now, or found there. */
  readonly applied: boolean;
  /** Our own write added it (the name did not hold the inode before). */
  readonly added: boolean;
  /** The target's mark as our CAS found or left it: what a rollback takes back. */
  readonly target: MovedFrom | undefined;
  /** Nothing written: the intent was no longer at its source (settled by someone else). */
  readonly settled: boolean;
  /** Nothing written: the target's object holds names of one hash only and is full. */
  readonly full?: boolean;
}

/** What {@linkcode writeTarget} is given. */
export interface TargetArgs {
  /** The source: entry `name` of directory `srcDir`, carrying the intent `entry.moving`. */
  readonly srcDir: string;
  readonly name: string;
  readonly entry: Entry;
  /** The entry to write at the target: the source entry with its `movedFrom` mark. */
  readonly moved: Entry;
  /**
   * The ETag of a version of the target's object held before the intent was last seen
   * live at its source, or before the renamer wrote it (null: none, look first).
   */
  readonly checked: string | null;
}

/**
 * Adds the target of the rename on `args.entry` (or finds it added), only while the intent
 * is live (see the module's documentation); not applied when the target can no longer
 * take it, or the intent is no longer at its source.
 */
export async function writeTarget(ctx: RenameStores, args: TargetArgs): Promise<TargetWrite> {
  const { srcDir, name, entry, moved, checked } = args;
  const moving = entry.moving!;
  let target: MovedFrom | undefined;
  let added = false;
  /** Whether the change decided last builds on a version no look has vouched for. */
  let unvouched = false;
  const write = (draft: EntryDraft, base: string | null, value: Entry) => {
    unvouched = base === null || base !== checked;
    draft.set(moving.name, value);
  };
  const attempt = () =>
    ctx.dirs.update<boolean | typeof SETTLED>(moving.dir, [moving.name], (
      draft,
      base,
    ) => {
      added = false;
      target = undefined;
      const there = draft.get(moving.name);
      // Another name of a hard-linked file, renamed or linked there since the renamer
      // looked: renaming a name onto another name of the same file does nothing, so the
      // rename is taken back (the renamer then finds "same file"). Before, it counted as
      // already applied and the source name went, with no link counted off.
      if (there?.ino === entry.ino && linked(entry, there) && !ownTarget(there, entry, moving)) {
        return false;
      }
      if (there?.ino === entry.ino) {
        target = there.movedFrom;
        // Already applied; or a leftover of an earlier, rolled-back try of the same move:
        // ours takes its mark (and what it replaced), so that whoever drops that leftover
        // cannot drop ours.
        if (there.movedFrom && there.movedFrom.id !== moving.id) {
          const replaced = there.movedFrom.replaced;
          target = { ...moved.movedFrom!, ...(replaced ? { replaced } : {}) };
          write(draft, base, { ...moved, movedFrom: target });
        }
        return true;
      }
      if ((there?.ino ?? null) !== moving.replaces) return false;
      // The directory it replaces was reopened (its mark taken for dead): it may hold
      // entries now.
      if (moving.mark !== undefined && there?.fence === moving.mark) return false;
      // Replacing an entry that is itself being renamed would drop what its rename added.
      if (there?.moving) return false;
      if (there && moving.noReplace) return false;
      // A hard link with no release intent for this rename (a plain file when the renamer
      // looked, linked since): its count could not be lowered by id, so the rename is taken
      // back and decided again, with an intent (see `Moving.release`).
      if (there?.t === "h" && moving.release === false) return false;
      // The replaced entry rides along until the rename is known to have happened: if it
      // is rolled back, taking the target back puts it there again.
      target = there ? { ...moved.movedFrom!, replaced: there } : moved.movedFrom!;
      write(draft, base, { ...moved, movedFrom: target });
      added = true;
      return true;
    }, {
      // Asked before the CAS of a change on a version not vouched for: the CAS then proves
      // that version unchanged since this look.
      guard: {
        check: async () => !unvouched || await intentLive(ctx, srcDir, name, moving.id),
        otherwise: SETTLED,
      },
    }).catch(async (error) => {
      // A shard of names of one hash that cannot take another (dir.ts): the rename is taken
      // back, as for a target taken. Thrown on, it left the intent on its source, which every
      // settler met again and could neither apply nor take back.
      if (error instanceof ShardFull) return FULL;
      throw error;
    });
  // Gone, or only under an rmdir's mark (see `goneForGood`): taken back then, the rename
  // left the target's object as it was, and its renamer's own target write, built on a
  // version held from before the intent, still landed there after the rollback (a second
  // name of the file, the hard link it replaced lost uncounted). So tried again while the
  // directory is only marked; one marked still after 9 tries is contention (EAGAIN).
  const applied = await pastMarks(ctx, moving.dir, attempt, {
    gone: false,
    tries: TARGET_TRIES,
    stillMarked: () => {
      throw new ContentionError(dirKey(moving.dir), TARGET_TRIES);
    },
  });
  if (applied === FULL) {
    return { applied: false, added: false, target: undefined, settled: false, full: true };
  }
  if (applied === SETTLED) {
    return { applied: false, added: false, target: undefined, settled: true };
  }
  return { applied, added, target, settled: false };
}
