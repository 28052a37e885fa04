/**
 * Directories found by their inodes, not by resolving a path: for a tree removal's walk,
 * which reached each one from a directory it listed. A rename may put a folder so deep
 * that its paths pass PATH_MAX (nothing checks the depth of what is moved, as on Linux);
 * resolving each member's full path failed there with ENAMETOOLONG, and a recursive delete
 * left the deep part behind, reachable by no path (before session 19).
 *
 * @module
 */

import { ROOT_INO } from "../format/keys.ts";
import type { DirObject } from "../format/meta.ts";
import type { Ctx } from "./context.ts";
import { chainOf, freshEpoch, rememberChain } from "./epoch.ts";
import { FsError } from "./errors.ts";
import { parentOf } from "./path.ts";
import {
  BeingRemoved,
  checkScope,
  locate,
  type Location,
  lookupEntry,
  MARK_WAITS,
  openDir,
} from "./resolve.ts";
import { pathOf } from "./path_of.ts";

/**
 * A directory confirmed at a path, the epoch that holds under (null: renames in flight),
 * and when the oldest remembered path the confirmation relied on was found (what a chain
 * remembered from it is as old as: see `rememberChain`).
 */
export interface Confirmed {
  readonly dir: DirObject;
  readonly names: readonly string[];
  readonly ns: number | null;
  readonly at: number;
}

/**
 * Directory `ino`, provided it is at `path` now (any length; never resolved): as remembered
 * under the current namespace epoch (a conditional GET of the lock table), or else as its
 * parent pointers say ({@linkcode confirmUp}), which is then remembered. So a directory
 * that a rename took out of the walked tree meanwhile is not walked into where it went
 * (perhaps outside the caller's folder), as a walk by paths would not be. The caller
 * vouches that `path` was the walk's (inside the view's scope, which is checked again):
 * never an inode a client named.
 *
 * The epoch is read afresh each time (a conditional GET of the lock table: one request, a
 * WebDAV DELETE, may have read it before a rename that has since moved the directory). With
 * `fresh`, the directory is read afresh too (a listing, whose member directories are
 * remembered under that epoch); without, as this request last validated it (a member's
 * unlink or rmdir, whose CAS checks the directory).
 *
 * @throws {FsError} ENOENT when the directory is elsewhere or gone; EAGAIN when its parent
 *   pointers do not settle.
 */
export async function confirmDir(
  ctx: Ctx,
  ino: string,
  path: string,
  fresh: boolean,
): Promise<Confirmed> {
  const names = path.split("/").filter((n) => n !== "");
  checkScope(ctx, names, path);
  // Afresh whatever `fresh` says: the epoch this request read may be from before a rename
  // that has since moved the directory out of the tree (its members were then removed
  // where it went: tests/tree_removal_races_test.ts).
  const epoch = await freshEpoch(ctx);
  const ns = epoch.pending.length === 0 ? epoch.ns : null;
  const chain = chainOf(ctx, names);
  // Read after the epoch, so what it lists is no older than the chains remembered from it;
  // and first, so a removal mark left by a dead remover is cleared (or the removal
  // finished), as a resolution's `openDir` does, before its parent pointers are judged.
  const dir = await openLive(ctx, ino, path, fresh);
  const known = (names.length === 0 && ino === ROOT_INO) ||
    (ns !== null && chain?.ino === ino && chain.ns === ns);
  let at = known ? chain?.at ?? ctx.now() : await confirmUp(ctx, dir, names, ns);
  if (at === null) {
    // Not as the walk expects, or a rename in flight on the way: `pathOf` settles those.
    if (await pathOf(ctx, ino) !== path) {
      throw new FsError("ENOENT", "No such directory here (moved or removed)", { path });
    }
    at = ctx.now();
    if (ns !== null) rememberChain(ctx, names, { ino, ns }, at);
  }
  return { dir, names, ns, at };
}

/**
 * Whether directory `dir` is at `names` now, read up its parent pointers afresh, each step
 * confirmed by the entry of the expected name in the parent, until a directory whose chain
 * is remembered under `ns` (or the root); every directory passed is then remembered under
 * `ns`. A walk of a deep tree meets a namespace change (a rename anywhere, or one it settles
 * on its way) and then confirms each directory it goes back up through: remembering the
 * whole way up at once keeps that to one read per directory, not one per directory above
 * each (a 4,000-deep folder's removal made 4 million reads after one rename). Each is
 * remembered as old as the chain the reads stopped at (or now, at the root): a walk must
 * not renew the minute after which a remembered path is walked in full.
 * @returns when the chain relied on was found, or null when a step does not confirm (a
 * caller falls back to `pathOf`).
 */
async function confirmUp(
  ctx: Ctx,
  dir: DirObject,
  names: readonly string[],
  ns: number | null,
): Promise<number | null> {
  const passed: { depth: number; ino: string }[] = [];
  let at: DirObject = dir;
  let since = ctx.now();
  for (let depth = names.length; depth > 0; depth--) {
    if (ns !== null && depth < names.length) {
      const chain = chainOf(ctx, names.slice(0, depth));
      if (chain?.ino === at.ino && chain.ns === ns) {
        since = chain.at;
        break;
      }
    }
    const parent = (await ctx.dirs.get(at.parent))?.value;
    if (!parent || parent.removing !== undefined) return null;
    const entry = await ctx.dirs.lookup(parent, names[depth - 1]!);
    if (entry?.t !== "d" || entry.ino !== at.ino || entry.moving || entry.movedFrom) return null;
    passed.push({ depth, ino: at.ino });
    at = parent;
    if (depth === 1 && at.ino !== ROOT_INO) return null;
  }
  if (ns !== null) {
    for (const p of passed) {
      rememberChain(ctx, names.slice(0, p.depth), { ino: p.ino, ns }, since);
    }
  }
  return since;
}

/**
 * Directory `ino` (afresh with `fresh`), waiting as path resolution does (`resolveDir`)
 * while a removal or a rename that replaces it holds it under a mark.
 */
async function openLive(
  ctx: Ctx,
  ino: string,
  path: string,
  fresh: boolean,
): Promise<DirObject> {
  for (let wait = 0;; wait++) {
    try {
      if (wait === 0 && !fresh) return await openDir(ctx, ino, path);
      return await ctx.meta.inNewScope(() => openDir(ctx, ino, path));
    } catch (error) {
      if (!(error instanceof BeingRemoved) || wait >= MARK_WAITS.length) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, MARK_WAITS[wait]));
  }
}

/**
 * Where `path` leads: resolved ({@linkcode locate}), or with `dir` (an inode) its last name
 * in that directory, confirmed at `path`'s parent ({@linkcode confirmDir}). A rename in
 * flight on the entry is settled first either way.
 *
 * @throws {FsError} ENOENT when the directory is elsewhere or gone.
 */
export async function locateIn(
  ctx: Ctx,
  path: string,
  dir: string | undefined,
): Promise<Pick<Location, "parent" | "name" | "entry">> {
  if (dir === undefined) return await locate(ctx, path);
  const { dir: parent } = await confirmDir(ctx, dir, parentOf(path), false);
  const name = path.slice(path.lastIndexOf("/") + 1);
  const entry = await lookupEntry(ctx, parent, name);
  return { parent, name, entry };
}

/**
 * Remembers where a directory's member directories are, as its listing under `confirmed`
 * shows them, so that the walk confirms each without reading its way up.
 */
export function rememberMembers(
  ctx: Ctx,
  confirmed: Confirmed,
  members: Iterable<readonly [string, { t: string; ino: string }]>,
): void {
  const { names, ns, at } = confirmed;
  if (ns === null) return;
  for (const [name, entry] of members) {
    if (entry.t === "d") rememberChain(ctx, [...names, name], { ino: entry.ino, ns }, at);
  }
}
