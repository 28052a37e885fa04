/**
 * The rename protocol's walk of a target's ancestry by parent pointers (each step
 * confirmed by the entry naming the directory, a stale pointer healed along the renamer's
 * path), and the pointer write it shares with settling (`rename_intent.ts`).
 *
 * @module
 */

import type { MetaStore } from "./cas.ts";
import type { Directories } from "./dir.ts";
import type { Inodes } from "./inodes.ts";
import { dirKey, ROOT_INO } from "./keys.ts";
import { checkDir, type DirObject, type Entry } from "./meta.ts";

/** The stores the protocol works on (a VFS context has them; fsck makes its own). */
export interface RenameStores {
  readonly meta: MetaStore;
  readonly dirs: Directories;
  /** For the link a rename replaced, which whoever applies it counts off. */
  readonly inodes: Inodes;
  /** The clock of the released inode's `ctime`. */
  readonly now: () => number;
}

/** Where a walk up from a target's directory ended. */
export type Step =
  | { kind: "clear" }
  | { kind: "cycle" }
  | { kind: "lost" }
  | { kind: "renaming"; dir: string; name: string; entry: Entry };

/**
 * Walks from directory `from` up to the root by parent pointers, each read fresh. Every
 * step is confirmed by the entry that names the directory in its parent: a pointer left
 * stale by a rename in flight leads to a parent without that entry ("lost", look again).
 * Stops at the first entry that carries a rename (intent or not yet cleared target).
 *
 * With `path` (the names that led the renamer to `from`), a step that does not confirm
 * looks for the directory along that path, read afresh from the root: an entry there that
 * names it and carries no rename means the pointer is stale (a late settler's write can
 * leave one, see `settle`), and it is pointed back (CAS, only from the value found), as
 * fsck --repair would, and the walk goes on. Reads only, unless a pointer is stale.
 */
export async function walkUp(
  ctx: RenameStores,
  from: string,
  moved: string,
  path?: readonly string[],
): Promise<Step> {
  const seen = new Set<string>();
  const healed = new Set<string>();
  let ino = from;
  let dir: DirObject | undefined = (await ctx.dirs.get(ino))?.value;
  // The target itself gone: nothing is in the way; adding the target will fail.
  if (!dir && ino !== moved) return { kind: "clear" };
  for (;;) {
    if (ino === moved) return { kind: "cycle" };
    if (ino === ROOT_INO) return { kind: "clear" };
    if (!dir || seen.has(ino)) return { kind: "lost" };
    seen.add(ino);
    const parentIno = dir.parent;
    const parent = (await ctx.dirs.get(parentIno))?.value;
    const child = ino;
    const named = parent &&
      (await ctx.dirs.list(parent)).find(([, e]) => e.t === "d" && e.ino === child);
    if (!named) {
      if (!path || healed.has(ino)) return { kind: "lost" };
      healed.add(ino);
      const repaired = await pointBack(ctx, ino, parentIno, path);
      if (!repaired) return { kind: "lost" };
      seen.delete(ino);
      dir = repaired;
      continue;
    }
    const [name, entry] = named;
    if (entry.moving || entry.movedFrom) return { kind: "renaming", dir: parentIno, name, entry };
    ino = parentIno;
    dir = parent;
  }
}

/**
 * Looks for directory `ino` along `path` (names from the root, read afresh): if an entry
 * names it there and carries no rename, points its parent pointer at that entry's
 * directory, if it still is `stale`. Returns the directory as it is then, or null.
 */
async function pointBack(
  ctx: RenameStores,
  ino: string,
  stale: string,
  path: readonly string[],
): Promise<DirObject | null> {
  let at = ROOT_INO;
  for (const name of path) {
    const dir = (await ctx.dirs.get(at))?.value;
    const entry = dir && await ctx.dirs.lookup(dir, name);
    if (!entry || entry.t !== "d") return null;
    if (entry.ino === ino) {
      if (entry.moving || entry.movedFrom) return null;
      if (await setParent(ctx, ino, at, stale) !== at) return null;
      return (await ctx.dirs.get(ino))?.value ?? null;
    }
    at = entry.ino;
  }
  return null;
}

/**
 * Points directory `ino` at `parent` (only if it points at `from`, when given). No write
 * when it does already.
 *
 * With `live`, the write goes only if `live()` (asked after the version to be replaced was
 * read, before the CAS) still says yes: a settler asks whether the rename's intent is still
 * at its source. The CAS then proves the pointer did not change while it asked, so a
 * settler whose rename was finished meanwhile (by someone else, who moved the pointer
 * first) cannot point the directory at that rename's target again after it has come back
 * to where the rename started: the pointer's value alone cannot tell that return from the
 * directory never having left (sched seed 1608 with a small metadata cache).
 * @returns where the directory points now (null if it is gone).
 */
export async function setParent(
  ctx: RenameStores,
  ino: string,
  parent: string,
  from?: string,
  { live }: { live?: () => Promise<boolean> } = {},
): Promise<string | null> {
  if (live) {
    return await ctx.meta.update<DirObject, string | null>(dirKey(ino), checkDir, async (dir) => {
      if (!dir) return { result: null };
      const now = dir.value.parent;
      if (now === parent || (from !== undefined && now !== from)) return { result: now };
      if (!await live()) return { result: now };
      return { write: { ...dir.value, parent }, result: parent };
    });
  }
  return await ctx.meta.updateGrouped<DirObject, string | null>(dirKey(ino), checkDir, (dir) => {
    if (!dir) return { result: null };
    if (dir.parent === parent) return { result: parent };
    if (from !== undefined && dir.parent !== from) return { result: dir.parent };
    dir.parent = parent;
    return { value: dir, result: parent };
  });
}
