// renameAside(): a rename within one directory object that keeps what it replaces under a
// second name of that directory, in the same CAS. Readers see the old entry at `to` or the
// new one, never nothing, and the replaced entry (a non-empty directory too, or a file
// with other links) stays whole under its new name: nothing is dropped, so hard links and
// GC are unaffected; the caller removes the aside entry when it no longer needs it. WebDAV
// COPY and MOVE use it to replace a destination that a plain rename may not replace.

import {
  CrossObjectError,
  locateAged,
  objectOfName,
  placeRate,
  takesNew,
} from "../../format/dir.ts";
import { newId } from "../../format/keys.ts";
import type { Entry } from "../../format/meta.ts";
import type { Ctx } from "../context.ts";
import { beginNsChange, endNsChange } from "../epoch.ts";
import { FsError } from "../errors.ts";
import { checkName } from "../path.ts";
import { locate } from "../resolve.ts";
import { withoutMark } from "../../format/unlink_mark.ts";

/** Tries when the directory keeps changing under us, before EAGAIN. */
const TRIES = 10;

/** What {@linkcode renameAside} may replace. */
export interface AsideOptions {
  /**
   * The inode the caller saw at `to` (null: nothing): anything else there now is EEXIST,
   * and nothing changes. Without it, whatever is there is replaced.
   */
  readonly replaces?: string | null;
}

/**
 * Renames `from` to `to` (both in one directory), replacing whatever `to` holds, of any
 * type, and keeping it as entry `aside` of that directory, in one commit. Returns the
 * directory's inode.
 * @throws {FsError} ENOENT when nothing is at `from`; EEXIST when `aside` exists, or `to`
 *   holds another inode than `replaces`; EXDEV when the names are not in one directory
 *   object (different directories, or shards).
 */
export async function renameAside(
  ctx: Ctx,
  from: string,
  to: string,
  aside: string,
  options: AsideOptions = {},
): Promise<string> {
  checkName(aside, to);
  for (let tries = 0;; tries++) {
    // After a lost race, decide from fresh reads (what we read first would look the same).
    const result = tries === 0
      ? await renameAsideOnce(ctx, from, to, aside, options)
      : await ctx.meta.inNewScope(() => renameAsideOnce(ctx, from, to, aside, options));
    if (result !== null) return result;
    if (tries + 1 >= TRIES) {
      throw new FsError("EAGAIN", "Directory keeps changing during the rename", { path: to });
    }
  }
}

/** One try: the directory's inode, or null when it changed under us (try again). */
async function renameAsideOnce(
  ctx: Ctx,
  from: string,
  to: string,
  aside: string,
  options: AsideOptions,
): Promise<string | null> {
  const src = await locate(ctx, from);
  if (!src.parent) throw new FsError("EBUSY", "Cannot rename the root", { path: from });
  if (!src.entry) throw new FsError("ENOENT", "No such file or directory", { path: from });
  const dst = await locate(ctx, to);
  if (!dst.parent) throw new FsError("EBUSY", "Cannot replace the root", { path: to });
  const dir = dst.parent;
  const names = [src.name, dst.name, aside];
  // An age-sharded directory's names are where they were put: its update finds out.
  const objects = dir.ages ? 1 : new Set(names.map((n) => objectOfName(dir, n))).size;
  if (src.parent.ino !== dir.ino || objects > 1) {
    throw new FsError("EXDEV", "Names are not in one directory object", { path: to });
  }
  if (new Set(names).size < 3) {
    throw new FsError("EINVAL", "The aside name must differ from both names", { path: to });
  }
  const entry = src.entry;
  const target = dst.entry;
  if (options.replaces !== undefined && (target?.ino ?? null) !== options.replaces) {
    throw new FsError("EEXIST", "Target changed", { path: to });
  }
  // Paths through a directory or symlink here may lead elsewhere after this: announce the
  // change in the namespace epoch before and after, as a rename of one does.
  const reshapes = [entry, target].some((e) => e?.t === "d" || e?.t === "l");
  const change = reshapes ? await beginNsChange(ctx) : null;
  try {
    await ctx.dirs.update(dir.ino, names, (draft) => {
      const current = draft.get(src.name);
      if (current?.ino !== entry.ino || unsettled(current)) throw new Changed();
      const there = draft.get(dst.name);
      if ((there?.ino ?? null) !== (target?.ino ?? null) || unsettled(there)) throw new Changed();
      if (draft.get(aside)) throw new FsError("EEXIST", "The aside name exists", { path: to });
      draft.delete(src.name);
      // Unlink marks stay behind: neither entry keeps the name a mark was put on.
      draft.set(dst.name, withoutMark(current));
      if (there) draft.set(aside, withoutMark(there));
    });
    return dir.ino;
  } catch (error) {
    if (error instanceof Changed) return null;
    if (error instanceof CrossObjectError) {
      throw new FsError("EXDEV", "Names are not in one directory object", { path: to });
    }
    throw error;
  } finally {
    // If this fails, the id stays pending until others find it stale: slower, not wrong.
    if (change) await endNsChange(ctx, change).catch(() => {});
  }
}

/** An entry that a rename in flight carries: the lookup settles it (try again). */
function unsettled(entry: Entry | undefined): boolean {
  return entry?.moving !== undefined || entry?.movedFrom !== undefined;
}

/**
 * A fresh name (`prefix` and a new time-ordered id) for the directory that holds `path`, kept
 * in the same directory object as `path`'s own name by that directory's shard table as this
 * instance last read it, so that {@linkcode renameAside} can change both in one CAS. The id's
 * time is how fsck tells a name left by a crash from one a request is using right now
 * (src/format/leftovers.ts).
 */
export async function nameBeside(ctx: Ctx, path: string, prefix: string): Promise<string> {
  const at = await locate(ctx, path);
  if (!at.parent) throw new FsError("EBUSY", "The root has no directory", { path });
  const dir = at.parent;
  // An age-sharded directory's name may be in a closed shard, which takes only the few new
  // names its filter passes and its hash admits (src/format/_dir_place.ts): about 6,400
  // tries, each a hash of the name (a few milliseconds). A half of a closed shard split for
  // its size takes none: the name goes where new names go, and `renameAside` answers EXDEV.
  const home = dir.ages
    ? (await locateAged(ctx.dirs.meta, dir, at.name, { recent: true }))?.id ?? null
    : objectOfName(dir, at.name);
  const base = prefix + newId(ctx.now());
  if (dir.ages && (home === null || !takesNew(dir.ages, home))) return base;
  // A closed shard closed with a few names (by size, or under tiny limits) has a sparse
  // filter: a name lands there 1 time in millions, and drawing them cost seconds of CPU and
  // at times ran out (EAGAIN, a 503 to a WebDAV COPY or MOVE over it: protocol fuzz seed
  // 390156 with directory objects of 2 entries). Past 65,536 draws expected, the name goes
  // where new names go, and `renameAside` answers EXDEV, as for a split half.
  if (dir.ages && placeRate(dir.ages, home!) * DRAWS < 1) return base;
  // A hash-sharded directory of depth d takes 2^d tries on average (d is small: 2,048
  // entries a shard); an unsharded one, the first. The estimate above takes the filters as
  // independent; an older one that passes every name the home's does (built from the same
  // names: one removed and created again lands in a later shard) leaves none to find, so
  // past 4 times the most expected the name goes where new names go, as above.
  for (let i = 0; i < DRAWS * 4; i++) {
    const name = i === 0 ? base : `${base}-${i}`;
    if (objectOfName(dir, name) === home) {
      checkName(name, path);
      return name;
    }
  }
  return base;
}

/** Draws of names `nameBeside` expects at most before it gives up placing one beside. */
const DRAWS = 1 << 16;

/** The state changed between our read and our write: decide again from scratch. */
class Changed extends Error {}
