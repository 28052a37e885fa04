/** Operations on whole trees, built on the single-entry operations. @module */

import { FsError, isFsError } from "../errors.ts";
import type { ReaddirPage, Stat } from "../types.ts";

/**
 * The operations a tree removal calls. The Vfs facade passes itself; naming only these here
 * keeps this module below the facade instead of importing it back.
 */
export interface TreeOps {
  lookup(path: string): Promise<Stat>;
  readdir(path: string, options: { limit: number; cursor?: string }): Promise<ReaddirPage>;
  unlink(path: string, options?: { expect?: (stat: Stat) => boolean }): Promise<void>;
  rmdir(path: string): Promise<void>;
}

/** Options of {@linkcode removeTree} (see there). */
export interface RemoveTreeOptions {
  readonly stopOnError?: boolean;
  readonly beforeEach?: (path: string) => Promise<void>;
  readonly expect?: (stat: Stat) => boolean;
}

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
  const remove = async (p: string, stat: Stat): Promise<boolean> => {
    try {
      if (stat.type !== "directory") {
        await options.beforeEach?.(p);
        if (p === path && options.expect) {
          await vfs.unlink(p, { expect: options.expect }).catch((error) => {
            // A condition on a version says nothing of a file that is gone: it fails.
            if (!isFsError(error, "ENOENT")) throw error;
            throw new FsError("ESTALE", "The file was removed meanwhile", { path, cause: error });
          });
        } else await vfs.unlink(p);
        return true;
      }
      let ok = true;
      for (let cursor: string | null = null;;) {
        const page: ReaddirPage = await vfs.readdir(p, {
          limit: 1000,
          ...(cursor ? { cursor } : {}),
        });
        for (let i = 0; i < page.entries.length; i += CONCURRENCY) {
          const batch = page.entries.slice(i, i + CONCURRENCY);
          const done = await Promise.all(
            batch.map((e) => remove(p === "/" ? `/${e.name}` : `${p}/${e.name}`, e.stat)),
          );
          if (done.includes(false)) ok = false;
        }
        cursor = page.cursor;
        if (!cursor) break;
      }
      if (ok) {
        await options.beforeEach?.(p);
        await vfs.rmdir(p);
      }
      return ok;
    } catch (error) {
      if (isFsError(error, "ESTALE") && p === path && options.expect) throw error;
      if (isFsError(error, "ENOENT")) return true;
      if (options.stopOnError || !(error instanceof FsError)) throw error;
      failures.set(p, error);
      return false;
    }
  };
  await remove(path, await vfs.lookup(path));
  return failures;
}
