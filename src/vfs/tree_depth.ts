/**
 * How deep a tree goes, in bytes of path below its top: for a copy to refuse, before it
 * makes anything, a tree that would give it paths longer than PATH_MAX (a rename can put a
 * folder that deep; nothing checks the depth of what is moved, as on Linux).
 *
 * @module
 */

import type { DirObject } from "../format/meta.ts";
import type { Ctx } from "./context.ts";
import { FsError, isFsError } from "./errors.ts";
import { PATH_MAX } from "./path.ts";
import { openDir } from "./resolve.ts";

const encoder = new TextEncoder();

/** Directories read at once by {@linkcode deepestBelow}. */
const CONCURRENCY = 16;

/**
 * The length in bytes of the longest path below directory `top`, relative to it (`/a/b`
 * for `top/a/b`: 4), walked by directory objects, not by paths, so a tree already deeper
 * than PATH_MAX is measured too; symlinks are not followed (a copy copies them as links).
 * Stops as soon as it finds more than `limit` (and returns that). Reads each directory
 * as this request validated it (`recent`): a copy that walks the tree next reads none of
 * them again. A directory removed meanwhile counts as empty.
 */
export async function deepestBelow(ctx: Ctx, top: DirObject, limit: number): Promise<number> {
  let deepest = 0;
  const measure = async (dir: DirObject | null, base: number, next: Item[]) => {
    if (!dir) return;
    for (const [name, entry] of await ctx.dirs.list(dir, { recent: true })) {
      const length = base + 1 + encoder.encode(name).length;
      if (length > deepest) deepest = length;
      if (entry.t === "d") next.push({ ino: entry.ino, base: length });
    }
  };
  // Level by level, keeping only the inodes of the next one (not their objects).
  let level: Item[] = [];
  await measure(top, 0, level);
  while (level.length > 0 && deepest <= limit) {
    const next: Item[] = [];
    for (let i = 0; i < level.length && deepest <= limit; i += CONCURRENCY) {
      await Promise.all(
        level.slice(i, i + CONCURRENCY).map(async ({ ino, base }) => {
          const dir = await openDir(ctx, ino).catch((error) => {
            if (isFsError(error, "ENOENT")) return null;
            throw error;
          });
          await measure(dir, base, next);
        }),
      );
    }
    level = next;
  }
  return deepest;
}

/** A directory still to measure, and the length of its path below the top. */
interface Item {
  readonly ino: string;
  readonly base: number;
}

/**
 * Refuses a copy of directory `dir` whose paths would pass PATH_MAX: the copy walks the
 * tree by the paths below `paths` (its source, its destination, and where a staged copy
 * is then renamed to), and the first one too long failed it half way, its partial copy
 * left at the destination (before session 19). Measured first, so nothing is made.
 *
 * @throws {FsError} ENAMETOOLONG.
 */
export async function checkCopyDepth(
  ctx: Ctx,
  dir: DirObject,
  paths: readonly string[],
): Promise<void> {
  const longest = Math.max(...paths.map((p) => encoder.encode(p).length));
  const room = PATH_MAX - longest;
  const deepest = await deepestBelow(ctx, dir, room);
  if (deepest > room) {
    throw new FsError(
      "ENAMETOOLONG",
      `The copy would hold paths longer than ${PATH_MAX} bytes (the tree goes at least ${deepest} bytes below its top)`,
      { path: paths[1] ?? paths[0] ?? "/" },
    );
  }
}
