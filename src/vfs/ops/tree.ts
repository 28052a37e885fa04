/** Operations on whole trees, built on the single-entry operations. @module */

import { FsError, isFsError } from "../errors.ts";
import type { ReaddirPage, Stat } from "../types.ts";

/**
 * The operations a tree removal calls. The Vfs facade passes itself; naming only these here
 * keeps this module below the facade instead of importing it back.
 *
 * Below the top entry, which is found by its path, members are found by the inodes of the
 * directories the walk listed (`dir`: the directory to list; `within`: the one holding the
 * entry), `path` only naming them: a rename may put a folder so deep that its paths pass
 * PATH_MAX, and resolving each member's path failed there (ENAMETOOLONG), so a recursive
 * delete left the deep part, reachable by no path, its data never freed (before session
 * 19). Each directory is confirmed still at its path before the walk lists it or removes
 * a member from it (cheap while no directory was renamed anywhere: `within.ts`), so one a
 * rename takes out of the tree meanwhile (perhaps out of a limited caller's folder) is left
 * where it went, as a walk by paths leaves it; a symlink among the members is removed,
 * never followed.
 */
export interface TreeOps {
  lookup(path: string): Promise<Stat>;
  readdir(
    path: string,
    options: { limit: number; cursor?: string; dir?: string },
  ): Promise<ReaddirPage>;
  unlink(
    path: string,
    options?: { expect?: (stat: Stat) => boolean; within?: string },
  ): Promise<unknown>;
  rmdir(path: string, options?: { within?: string }): Promise<void>;
  pathOf(ino: string): Promise<string | null>;
}

/** Options of {@linkcode removeTree} (see there). */
export interface RemoveTreeOptions {
  readonly stopOnError?: boolean;
  readonly beforeEach?: (path: string) => Promise<void>;
  readonly expect?: (stat: Stat) => boolean;
  /**
   * The inode of the directory that holds `path`'s entry. With it, a rename that moves
   * that directory (or one above it) before or during the removal does not leave the rest
   * at the new place: where `path` no longer leads to the entry, the directory is found by
   * its parent pointers ({@linkcode TreeOps.pathOf}) and the entry, by its name, is removed
   * there. Without it, the removal goes by `path` alone.
   */
  readonly holder?: string;
}

/** Times a removal with a `holder` follows it to a new place before it gives up. */
const FOLLOWS = 10;

/** Members a tree removal unlinks at once (they share group commits). */
const CONCURRENCY = 16;

/**
 * Removes `path` and, for a directory, everything below it, members first. Entries that
 * vanish meanwhile count as removed. Returns the paths that could not be removed, with
 * their errors (their ancestors stay too); with `stopOnError`, throws the first instead.
 * `beforeEach` runs right before each unlink and rmdir (a front end re-checks locks
 * there): an FsError it throws is that member's failure, anything else stops the removal.
 * `expect`, when `path` is a file, is checked in the CAS that unlinks it ({@linkcode
 * TreeOps.unlink}): a file it no longer holds for, or that is gone, throws ESTALE.
 */
export async function removeTree(
  vfs: TreeOps,
  path: string,
  options: RemoveTreeOptions = {},
): Promise<Map<string, FsError>> {
  const failures = new Map<string, FsError>();
  // The top entry went by someone else's hand, or a rename took it away (the path no
  // longer leads to it): only a removal with a `holder` tells the two apart.
  let top = path;
  let vanished = false;
  // `holder`: the inode of the directory the walk found the entry in (none for the top).
  const remove = async (p: string, stat: Stat, holder?: string): Promise<boolean> => {
    const within = holder === undefined ? {} : { within: holder };
    try {
      if (stat.type !== "directory") {
        await options.beforeEach?.(p);
        if (p === top && options.expect) {
          await vfs.unlink(p, { expect: options.expect }).catch((error) => {
            // A condition on a version says nothing of a file that is gone: it fails.
            if (!isFsError(error, "ENOENT")) throw error;
            throw new FsError("ESTALE", "The file was removed meanwhile", { path, cause: error });
          });
        } else await vfs.unlink(p, within);
        return true;
      }
      let ok = true;
      for (let cursor: string | null = null;;) {
        const page: ReaddirPage = await vfs.readdir(p, {
          limit: 1000,
          dir: stat.ino,
          ...(cursor ? { cursor } : {}),
        });
        for (let i = 0; i < page.entries.length; i += CONCURRENCY) {
          const batch = page.entries.slice(i, i + CONCURRENCY);
          const done = await Promise.all(
            batch.map((e) => remove(p === "/" ? `/${e.name}` : `${p}/${e.name}`, e.stat, stat.ino)),
          );
          if (done.includes(false)) ok = false;
        }
        cursor = page.cursor;
        if (!cursor) break;
      }
      if (ok) {
        await options.beforeEach?.(p);
        await vfs.rmdir(p, within);
      }
      return ok;
    } catch (error) {
      if (isFsError(error, "ESTALE") && p === top && options.expect) throw error;
      if (isFsError(error, "ENOENT")) {
        if (p === top) vanished = true;
        return true;
      }
      if (options.stopOnError || !(error instanceof FsError)) throw error;
      failures.set(p, error);
      return false;
    }
  };
  const { holder } = options;
  if (holder === undefined) {
    await remove(path, await vfs.lookup(path));
    return failures;
  }
  const name = path.slice(path.lastIndexOf("/") + 1);
  let found = false;
  for (let follows = 0;; follows++) {
    vanished = false;
    const stat = await vfs.lookup(top).catch((error) => {
      if (isFsError(error, "ENOENT", "ENOTDIR")) return null;
      throw error;
    });
    if (stat) found = true;
    if (stat && (!await remove(top, stat) || !vanished)) return failures;
    // Not at `top` (any more): where is the directory that holds it now?
    const at = await vfs.pathOf(holder);
    const next = at === null ? null : `${at === "/" ? "" : at}/${name}`;
    if (next === null || next === top) {
      if (!found) {
        throw new FsError("ENOENT", "No such file or directory", { path });
      }
      return failures;
    }
    if (follows + 1 >= FOLLOWS) {
      const error = new FsError("EAGAIN", "The tree keeps moving", { path: next });
      if (options.stopOnError) throw error;
      failures.set(next, error);
      return failures;
    }
    top = next;
  }
}
