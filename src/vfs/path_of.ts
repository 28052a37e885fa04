/**
 * The path of a directory found from the directory up ({@linkcode pathOf}): for a caller
 * that made an entry in a directory and must find it again after a rename may have moved
 * it. Resolution the other way, from a path down, is `resolve.ts`.
 *
 * @module
 */

import { ROOT_INO } from "../format/keys.ts";
import { pause, settleMovedFrom, settleMoving } from "../format/rename_intent.ts";
import type { Ctx } from "./context.ts";
import { bumpNs } from "./epoch.ts";
import { FsError } from "./errors.ts";

/** Walks up from a directory before {@linkcode pathOf} gives up (EAGAIN). */
const PATH_OF_TRIES = 10;

/**
 * The path of directory `ino` now, found from the directory up: its parent pointers
 * followed to the root, each read afresh and each step confirmed by the entry that names
 * the directory in its parent (a rename in flight on an entry of the way is settled first,
 * as a lookup would). For a caller that made an entry in a directory and must find it
 * again after a rename of that directory, or of one above it, may have taken it elsewhere.
 * Reads only (unless it settles a rename): a conditional GET of each directory on the way
 * and of its parent's listing.
 * @returns the path (whatever the scope: the caller's next operation on it checks that),
 *   or null when the directory is gone or being removed.
 * @throws {FsError} EAGAIN when a step does not confirm after a few walks (a parent
 *   pointer left stale, or renames that keep moving the way).
 */
export async function pathOf(ctx: Ctx, ino: string): Promise<string | null> {
  for (let attempt = 0; attempt < PATH_OF_TRIES; attempt++) {
    if (attempt > 0) await pause(attempt);
    const names: string[] = [];
    const seen = new Set<string>();
    let at = ino;
    let confirmed = true;
    while (at !== ROOT_INO && confirmed) {
      if (seen.has(at)) {
        // A cycle of pointers: one of them is stale.
        confirmed = false;
        break;
      }
      seen.add(at);
      const dir = (await ctx.dirs.get(at))?.value;
      if (at === ino && (!dir || dir.removing !== undefined)) return null;
      const parent = dir && (await ctx.dirs.get(dir.parent))?.value;
      const child = at;
      const named = parent &&
        (await ctx.dirs.list(parent)).find(([, e]) => e.t === "d" && e.ino === child);
      if (!named) {
        // A pointer that lags a rename settled meanwhile, or one left stale: walk again.
        confirmed = false;
        break;
      }
      const [name, entry] = named;
      if (entry.moving || entry.movedFrom) {
        if (entry.moving) await settleMoving(ctx, parent.ino, name, entry);
        else await settleMovedFrom(ctx, parent.ino, name, entry);
        await bumpNs(ctx);
        confirmed = false;
        break;
      }
      names.push(name);
      at = parent.ino;
    }
    if (confirmed) return "/" + names.reverse().join("/");
  }
  throw new FsError("EAGAIN", "Directory keeps moving", { path: ino });
}
