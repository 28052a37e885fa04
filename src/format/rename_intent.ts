/**
 * The rename-intent protocol of `docs/format.md` ("Consistency", 3): settling an intent
 * found in progress (roll forward, or back), the ancestry walk that keeps crossing
 * directory moves from closing a cycle, and the clean-up of a target's `movedFrom` mark.
 * This is its one implementation: the VFS (which writes intents and meets them on every
 * lookup) and fsck (which repairs intents whose renamer died) both call it, so a repair
 * can only produce a state a running filesystem would have produced.
 *
 * Everything here is idempotent: the renamer and anyone who meets its intent may run it
 * at the same time. Whoever removes a source entry for another's intent records that in
 * the entry's object, for the renamer to read once its source is gone (`_dir_applied.ts`).
 *
 * @module
 */

import { newId } from "./keys.ts";
import type { Entry, MovedFrom, Moving } from "./meta.ts";
import { type RenameStores, setParent, type Step, walkUp } from "./_rename_walk.ts";
import {
  goneForGood,
  intentLive,
  isGone,
  linked,
  pastMarks,
  writeTarget,
} from "./_rename_target.ts";
import { noteRelease, releaseReplaced, replacedRelease } from "./_rename_release.ts";
import type { Release } from "./release.ts";

export type { RenameStores } from "./_rename_walk.ts";
export { isGone } from "./_rename_target.ts";
export { releaseEntry } from "./_rename_release.ts";

/** Walks of a target's ancestry before a mover gives up (and rolls its intent back). */
const WALK_TRIES = 20;
/** How deep a mover settles newer renames in its way, which settle theirs, and so on. */
const MAX_HELP_DEPTH = 4;

/** A jittered pause that grows with `n` (at most about 100 ms). */
export function pause(n: number): Promise<void> {
  const ms = Math.random() * Math.min(100, 2 ** n);
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * How settling an intent ended: the rename took effect ("applied"); it was rolled back
 * because its target can no longer take it ("taken"; "full": its object holds names of one
 * hash only and is full), because the directory would move into its own subtree ("cycle"),
 * or to let an older crossing rename go first ("yield"); or someone else had rolled it back
 * ("rolled-back").
 */
export type Outcome = "applied" | "taken" | "full" | "cycle" | "yield" | "rolled-back";

/**
 * Rolls the rename recorded on `entry` (the entry `name` of directory `srcDir`) forward:
 * target added, source removed. If the target can no longer take it, rolls it back.
 * Idempotent, so the renamer and anyone who meets the intent may run it at once.
 * @returns true if the rename took effect.
 */
export async function applyMove(
  ctx: RenameStores,
  srcDir: string,
  name: string,
  entry: Entry,
): Promise<boolean> {
  return (await settle(ctx, srcDir, name, entry, 0, false)) === "applied";
}

/**
 * {@linkcode applyMove}, saying why a rename did not take effect. `fresh`: the caller is
 * the renamer and has just written the intent `entry` (anyone else's copy may be stale).
 * `path`: the names that led the renamer to the target's directory, from the root, with
 * which the ancestry walk repairs a parent pointer it finds stale (see `walkUp`). `seen`:
 * the version of the target's object the renamer held before it wrote the intent
 * (`Directories.heldVersion`), which its target write may build on without a look at the
 * source (src/format/_rename_target.ts).
 */
export function settleIntent(
  ctx: RenameStores,
  srcDir: string,
  name: string,
  entry: Entry,
  options: { fresh?: boolean; path?: readonly string[]; seen?: string | null } = {},
): Promise<Outcome> {
  const fresh = options.fresh ?? false;
  return settle(ctx, srcDir, name, entry, 0, fresh, options.path, fresh ? options.seen : null);
}

async function settle(
  ctx: RenameStores,
  srcDir: string,
  name: string,
  entry: Entry,
  depth: number,
  fresh: boolean,
  path?: readonly string[],
  seen: string | null = null,
): Promise<Outcome> {
  const moving = entry.moving!;
  const reparent = entry.t === "d" && srcDir !== moving.dir;
  // The target remembers where it came from until the source entry is known to be gone:
  // whoever changes it first settles the source, so the rename cannot be replayed later
  // (after the target was unlinked, say) by someone who meets the stale source intent.
  // Tagged as this settler's write: one that later judges this very target (a clean-up of
  // its mark, a rollback) must not take a target of the same rename that another settler,
  // holding a stale copy of the intent, adds again after this one went.
  const moved: Entry = {
    ...entry,
    movedFrom: { id: moving.id, dir: srcDir, name, tag: newId() },
  };
  /** The target of this rename as our CAS found or left it: what a rollback takes back. */
  let target: MovedFrom | undefined;
  delete moved.moving;
  let verdict: "ok" | Exclude<Outcome, "applied" | "rolled-back"> = "ok";
  // Whoever adds the target checked the ancestry first; once it is there, it is not
  // checked again (the answer could change as other renames go on, the decision not).
  let live = true;
  let walked = false;
  const holds = entry.t === "d" && await targetHolds(ctx, moving, entry);
  if (reparent && !holds) {
    verdict = await checkAncestry(ctx, moving, entry.ino, { depth, path });
    walked = true;
  }
  // A directory under a removal mark is not moved: an rmdir marks it, then checks that its
  // entry carries no rename, then makes the removal final. Read after the intent is durable
  // (Dekker's order again): either the rmdir's check sees the intent and backs off, or this
  // read sees its mark, and the rename yields (rolled back; the renamer tries again, and
  // finds the directory gone or open). Before, both went on, and the removal took the
  // directory from its new name (protocol fuzz seed 1609).
  if (entry.t === "d" && !holds && verdict === "ok" && await beingRemoved(ctx, entry.ino)) {
    verdict = "yield";
  }
  // Only a live intent may get its target. Anyone but the renamer may hold a copy read long
  // ago, of a rename settled since (whose directory may have moved on, and its target name
  // been freed), and the walk may have taken a while: look at the source again right before,
  // after noting the version of the target's object held, on which the write may build.
  let checked = seen;
  if (verdict === "ok" && (walked || !fresh)) {
    checked = await ctx.dirs.heldVersion(moving.dir, moving.name);
    live = await intentLive(ctx, srcDir, name, moving.id);
  }
  // An intent from a name to itself has no target apart from its source: it is never
  // applied (that would find the source "already there" and then remove it), only taken
  // back. The renamer writes none (`ops/rename.ts`); this holds for one read from elsewhere.
  if (srcDir === moving.dir && name === moving.name) verdict = "taken";
  let applied = false;
  /** Whether our own write added the target (it did not hold the inode before). */
  let added = false;
  /** Whether we did not write it: the intent had left its source meanwhile. */
  let refused = false;
  if (verdict === "ok" && live) {
    let full: boolean | undefined;
    ({ applied, added, target, settled: refused, full } = await writeTarget(ctx, {
      srcDir,
      name,
      entry,
      moved,
      checked,
    }));
    if (!applied) verdict = full ? "full" : "taken";
  }
  // Before the source entry (the intent) goes: whoever settles the intent redoes this, so a
  // crash cannot leave the moved directory pointing at its old parent.
  // Only from the source directory: a copy of the intent that went stale after the check
  // above must not point a directory that moved on since at this target.
  // And only while the intent is live: a target added late (the rename settled after the
  // look above, and the directory has come back to the source's directory since) must not
  // point the directory there, where the check for a late target below would follow it.
  let pointer: string | null | undefined;
  if (applied && reparent) {
    pointer = await setParent(ctx, entry.ino, moving.dir, srcDir, {
      live: () => intentLive(ctx, srcDir, name, moving.id),
    });
  }
  // The renamer finishes its own source step past an rmdir's mark on the source's directory
  // (the rmdir takes it off: the entry is there). Before, it took the mark for the
  // directory gone, answered success, and left its intent there until someone looked at
  // that name (tests/rename_marked_source_test.ts; fsck's stale-intent). Anyone else
  // leaves it for a later look, as before.
  const sourceStep = () =>
    ctx.dirs.update(srcDir, [name], (draft) => {
      const current = draft.get(name);
      if (current?.moving?.id !== moving.id) {
        // Applied by someone else, who left us its record (dropped now: we have read it).
        if (fresh && draft.takeApplied(moving.id)) return "recorded";
        return rolledBack(current, entry, moving.id) ? "rolled-back" : "gone";
      }
      if (applied) {
        draft.delete(name);
        // For the renamer, who cannot tell "source gone" from a rollback once the target goes.
        if (!fresh) draft.noteApplied(moving.id, name);
        noteRelease(draft, replacedRelease(moving, target?.replaced, srcDir, name));
        return "removed";
      }
      const restored = { ...current, rolledBack: moving.id };
      delete restored.moving;
      draft.set(name, restored);
      return "restored";
    }, { touch: applied });
  const source = fresh
    ? await pastMarks(ctx, srcDir, sourceStep, { gone: "gone" as const })
    : await sourceStep().catch((error) => {
      if (!isGone(error)) throw error;
      return "gone" as const;
    });
  // Our CAS removed the source: the rename happened, by us, exactly once.
  if (source === "removed") {
    await releaseReplaced(
      ctx,
      target?.replaced,
      replacedRelease(moving, target?.replaced, srcDir, name),
    );
  }
  if (source === "removed" && reparent && pointer && pointer !== moving.dir) {
    // Our pointer write found the pointer neither at the source's directory nor at the
    // target's: stale (a settler of an older rename of it moved it after the directory had
    // come back to where that rename started, seed 87). Right now the directory is named
    // by the target alone (we just removed the source, so nobody settled the target's mark
    // before): it points there, if the pointer is still the stale one.
    await setParent(ctx, entry.ino, moving.dir, pointer);
  }
  if (source === "rolled-back") {
    // Someone met the intent and rolled the rename back (its target was taken, or another
    // rename was in the way); a target we added since would be a second name for the
    // inode. It goes, and the rename did not happen.
    if (applied) await undoTarget(ctx, { srcDir, entry, moved: moving, target, reparent });
    return "rolled-back";
  }
  if (source === "restored") return verdict === "ok" ? "taken" : verdict;
  // "recorded": whoever removed the source entry applied the rename for us, and said so.
  // "gone": whoever removed the source entry had applied the rename (unless it was rolled
  // back, and the entry moved on since: then the target does not hold it). A target we
  // added ourselves came after the intent's check, so it may be late: the rename settled
  // meanwhile (forward, its target since cleared and the directory moved on; or back, and
  // moved on), and ours would be a second name. A directory says where it is now, and the
  // entry naming it there whether the rename was rolled back (the trace goes wherever the
  // entry goes): if not, it happened, and trying it again would apply it twice (sched seed
  // 1608: the directory had come back to the source name, and went to the target again).
  // So does a directory whose target we did not write because someone else had settled the
  // rename already: trying it again would move the directory a second time.
  const elsewhere = (added && reparent) || (refused && entry.t === "d")
    ? await namingElsewhere(ctx, entry.ino, moving.dir, added ? pointer : undefined)
    : null;
  const recorded = source === "recorded";
  if (elsewhere) {
    if (added) await dropBogusTarget(ctx, moving.dir, moving.name, moved.movedFrom!);
    return elsewhere.rolledBack === moving.id && !recorded ? "rolled-back" : "applied";
  }
  // Without a record (settled by an instance from before the records, or ours aged out):
  // the target says, while it holds the inode as this rename put it there.
  if (recorded || applied || await targetHolds(ctx, moving, entry)) return "applied";
  return "rolled-back";
}

/**
 * The entry naming directory `ino` in a directory other than `notIn`, as its parent pointer
 * says and an entry there confirms (a pointer alone may lag a rename in flight), or null.
 */
async function namingElsewhere(
  ctx: RenameStores,
  ino: string,
  notIn: string,
  knownParent?: string | null,
): Promise<Entry | null> {
  const parent = knownParent !== undefined
    ? knownParent
    : (await ctx.dirs.get(ino))?.value.parent ?? null;
  if (parent === null || parent === notIn) return null;
  const dir = await ctx.dirs.get(parent);
  if (!dir) return null;
  const named = (await ctx.dirs.list(dir.value)).find(([, e]) => e.t === "d" && e.ino === ino);
  return named?.[1] ?? null;
}

/** Whether directory `ino` is under a removal mark, or gone (read afresh). */
async function beingRemoved(ctx: RenameStores, ino: string): Promise<boolean> {
  const dir = await ctx.dirs.get(ino);
  return !dir || dir.value.removing !== undefined;
}

/**
 * Whether the target of `moving` holds the moved inode as this rename put it there: with
 * its mark, or with the mark cleared (the rename happened). An inode that may have other
 * names must say so itself: its mark, or once that is cleared its `movedBy` trace; another
 * name of it there without them is no sign of this rename (which may have been taken back,
 * its source name unlinked since: a rename that never happened answered success, and
 * counted off the link of the file it meant to replace, tests/vfs_link_race_test.ts).
 */
async function targetHolds(ctx: RenameStores, moving: Moving, entry: Entry): Promise<boolean> {
  const dir = await ctx.dirs.get(moving.dir);
  if (!dir) return false;
  const there = await ctx.dirs.lookup(dir.value, moving.name);
  if (there?.ino !== entry.ino) return false;
  if (there.movedFrom) return there.movedFrom.id === moving.id;
  return !linked(entry, there) || there.movedBy === moving.id;
}

/**
 * Decides whether directory `ino` may move under `moving.dir`, walking the target's
 * ancestry after the intent is durable: "cycle" if `ino` is on it, "yield" if an older
 * rename is in the way (or the way stays unclear), "ok" otherwise. Newer renames in the
 * way are settled first (their own check then yields to us, unless they were applied
 * already), renames whose target is added but source not yet removed are finished.
 */
async function checkAncestry(
  ctx: RenameStores,
  moving: Moving,
  ino: string,
  { depth, path }: { depth: number; path: readonly string[] | undefined },
): Promise<"ok" | "cycle" | "yield"> {
  for (let walk = 0; walk < WALK_TRIES; walk++) {
    const step: Step = await walkUp(ctx, moving.dir, ino, path)
      .catch(() => ({ kind: "lost" }));
    if (step.kind === "clear") return "ok";
    if (step.kind === "cycle") return "cycle";
    if (step.kind === "lost") {
      await pause(walk); // the chain changed under the walk: look again
      continue;
    }
    const { dir, name, entry } = step;
    try {
      if (!entry.moving) {
        await settleMovedFrom(ctx, dir, name, entry);
      } else if (entry.moving.id === moving.id) {
        return "cycle"; // our own intent: the moving directory itself is on the chain
      } else if (entry.moving.id < moving.id || depth >= MAX_HELP_DEPTH) {
        return "yield";
      } else {
        await settle(ctx, dir, name, entry, depth + 1, false);
      }
    } catch {
      await pause(walk); // contention or a vanished directory: look again
    }
  }
  return "yield";
}

/**
 * True when the source entry says the rename with intent `id` was rolled back (a completed
 * one removed the source entry), perhaps tried again since under a new intent. Entries
 * rolled back before the `rolledBack` trace existed are told by their inode still being
 * there; that holds for files and directories (one name per inode), not for hard links,
 * whose inode may have come back to that name under another of its names.
 */
function rolledBack(current: Entry | undefined, entry: Entry, id: string): boolean {
  if (!current || current.moving?.id === id) return false;
  if (current.rolledBack === id) return true;
  // The target of another rename holds the inode at this name, not a rollback: a stale
  // settler's late target of an older move back here, say. Taking it for a rollback put the
  // directory's pointer back here and dropped its real name, and the late target then went
  // too: the directory was named nowhere (seed 474 of tests/vfs_rename_sched_test.ts).
  if (current.movedFrom && current.movedFrom.id !== id) return false;
  return current.ino === entry.ino && current.t !== "h" && entry.t !== "h";
}

/**
 * Takes back the target a rolled-back rename added (`target`, its mark as our CAS found or
 * left it): the moved directory's parent pointer first, while the target entry still says
 * what to undo, then the entry.
 */
async function undoTarget(
  ctx: RenameStores,
  { srcDir, entry, moved, target, reparent }: {
    srcDir: string;
    entry: Entry;
    moved: Moving;
    target: MovedFrom | undefined;
    reparent: boolean;
  },
): Promise<void> {
  if (reparent) await setParent(ctx, entry.ino, srcDir, moved.dir);
  if (target) await dropBogusTarget(ctx, moved.dir, moved.name, target);
}

/**
 * Removes a target entry that a rolled-back (or late) rename added, putting back the entry
 * it replaced, if any: only the one marked `mark` (the rename's id and the tag of the write
 * that added it), not another target of the same rename added since.
 */
async function dropBogusTarget(
  ctx: RenameStores,
  dir: string,
  name: string,
  mark: MovedFrom,
): Promise<void> {
  await ctx.dirs.update(dir, [name], (draft) => {
    const from = draft.get(name)?.movedFrom;
    if (from?.id !== mark.id || from.tag !== mark.tag) return;
    if (from.replaced) draft.set(name, from.replaced);
    else draft.delete(name);
  }).catch((error) => {
    if (!isGone(error)) throw error;
  });
}

/**
 * Settles the source side of the rename that created target entry `name` of directory
 * `dirIno` (removes the source entry if it still carries the intent), then drops the
 * target's `movedFrom` mark.
 */
export async function settleMovedFrom(
  ctx: RenameStores,
  dirIno: string,
  name: string,
  entry: Entry,
): Promise<void> {
  const from = entry.movedFrom!;
  const reparent = entry.t === "d" && from.dir !== dirIno;
  // A directory's parent pointer follows the rename before its source entry goes, unless
  // the rename was rolled back (then the pointer must stay, or go back).
  // Only from the source directory: `entry` may be a copy read long ago, and the directory
  // have moved on since (its mark cleared by someone else, then renamed again).
  // And only while the intent is there: a late target's settler must not point the
  // directory at it once it has come back to the source's directory (see `settle`).
  let pointer: string | null | undefined;
  /** The replaced link's release that our removal of the source proves, if any. */
  let release: Release | null = null;
  if (reparent && !await sourceRolledBack(ctx, entry)) {
    pointer = await setParent(ctx, entry.ino, dirIno, from.dir, {
      live: () => intentLive(ctx, from.dir, from.name, from.id),
    });
  }
  const source = await ctx.dirs.update(from.dir, [from.name], (draft) => {
    const current = draft.get(from.name);
    if (current?.moving?.id === from.id) {
      draft.delete(from.name);
      draft.noteApplied(from.id, from.name); // for its renamer (see `settle`)
      release = replacedRelease(current.moving, from.replaced, from.dir, from.name);
      noteRelease(draft, release);
      return "removed";
    }
    return rolledBack(current, entry, from.id) ? "rolled-back" : "gone";
  }).catch(async (error) => {
    if (!isGone(error)) throw error;
    return await goneForGood(ctx, from.dir) ? "gone" as const : "marked" as const;
  });
  // The source's directory under an rmdir's mark, not removed: its entry may still carry
  // the intent. Taken for gone, the target lost its mark below, and the next settler of the
  // intent applied it without what the target replaced (a hard link never counted off), or
  // took it back over a target unlinked meanwhile. Left for a later look (our caller's).
  if (source === "marked") return await pause(4);
  if (source === "removed") await releaseReplaced(ctx, from.replaced, release);
  // Settled before: forward, or back and the entry moved on since. A target added late
  // (by a settler whose copy of the intent was stale) is then a second name of a
  // directory that is named elsewhere: it goes.
  const late = source === "gone" && reparent &&
    await namingElsewhere(ctx, entry.ino, dirIno, pointer) !== null;
  if (source === "rolled-back" || late) {
    if (source === "rolled-back" && reparent) await setParent(ctx, entry.ino, from.dir, dirIno);
    return await dropBogusTarget(ctx, dirIno, name, from);
  }
  await ctx.dirs.update(dirIno, [name], (draft) => {
    const current = draft.get(name);
    // The very target judged above: a target of the same rename added again since, late
    // (by a settler whose copy of the intent was stale), is not known to be the rename's;
    // cleared, it was a second name of a directory named elsewhere (scheduler seed 7 with
    // a small metadata cache: a directory in a cycle of its own).
    if (current?.ino !== entry.ino || current.movedFrom?.id !== from.id) return;
    if (current.movedFrom.tag !== from.tag) return;
    const clean = { ...current };
    delete clean.movedFrom; // and the entry it replaced: the rename happened
    // A hard link keeps the rename's id: its renamer, whose own target write may come only
    // now, can tell its target from another name of the file (see `targetHolds`).
    if (clean.t === "h") clean.movedBy = from.id;
    draft.set(name, clean);
  }, { touch: false });
}

/** Whether the rename that added target `entry` was rolled back at its source. */
async function sourceRolledBack(ctx: RenameStores, entry: Entry): Promise<boolean> {
  const from = entry.movedFrom!;
  const dir = await ctx.dirs.get(from.dir);
  if (!dir) return false;
  return rolledBack(await ctx.dirs.lookup(dir.value, from.name) ?? undefined, entry, from.id);
}

/** Settles a rename found in progress on entry `name` of directory `dirIno`. */
export async function settleMoving(
  ctx: RenameStores,
  dirIno: string,
  name: string,
  entry: Entry,
): Promise<void> {
  await settle(ctx, dirIno, name, entry, 0, false);
}
