/**
 * The entries a COPY or MOVE over a collection keeps in the destination's collection
 * between its steps (its source moved beside the destination, a copy under construction,
 * the replaced destination kept aside; see `copymove.ts`): finding them again wherever a
 * rename took their collection, putting one back after a failed step, and deleting one
 * the request no longer needs.
 *
 * @module
 */

import { isFsError, parentOf, parseLeftover } from "../vfs/mod.ts";
import { LockedError } from "../vfs/locks.ts";
import type { Recheck } from "../http/recheck.ts";
import { DavError, messageOf, statusOf } from "./errors.ts";
import { type DavRequest, href, regardLocks, statOrNull } from "./request.ts";

/**
 * A path as a log line shows it: quoted and escaped, since names may hold line breaks and
 * control characters (a user's own folder named so wrote lines of its own into the log).
 */
function logged(path: string): string {
  return JSON.stringify(path);
}

/**
 * An entry a COPY or MOVE made in the destination's collection (its source moved beside
 * it, a copy under construction, or the replaced destination kept aside), and the inode of
 * that collection: a rename through another instance may take the collection elsewhere
 * between two steps (protocol fuzz seed 5147), and the next step finds the entry where the
 * collection is then (`Vfs.pathOf`), not at a path that no longer leads to it.
 */
export interface Aside {
  readonly path: string;
  /** Unknown only after the two-rename fallback of a sharded collection (`swapIn`). */
  readonly holder?: string;
}

/**
 * The inode of the collection holding `path`, as this request resolved it (it did a moment
 * ago: no new read of the store).
 */
export async function holderOf(req: DavRequest, path: string): Promise<string> {
  return (await req.vfs.lookup(parentOf(path))).ino;
}

/** A failed step's error, and what the request moved aside, as its answer names that. */
export interface Failed {
  readonly error: unknown;
  /** "the resource it moves", say. */
  readonly what: string;
}

/**
 * After a failed step: renames `entry` back to `home`, unless something took that name
 * meanwhile (it is not replaced); each found in its collection wherever a rename took that
 * meanwhile. Returns the error to answer with; when the entry could not go back, that
 * error says where it is kept. A MOVE's source (the one `home` known by its collection's
 * inode) whose collection was deleted meanwhile is deleted instead ({@linkcode dropSource}).
 */
export async function putBack(
  req: DavRequest,
  entry: Aside,
  options: Failed & { readonly home: Aside },
): Promise<unknown> {
  const { home, error, what } = options;
  let path = entry.path;
  let back = home.path;
  for (let follows = 0;; follows++) {
    // Only into its own collection: the name may lead to another one now (a MOVE over the
    // collection's parent brought its own collection of that name).
    if (await leadsTo(req, back, home)) {
      try {
        await req.vfs.rename(path, back, { noReplace: true });
        return error;
      } catch (failure) {
        if (!isFsError(failure, "ENOENT")) return keptAside(req, path, error, what);
      }
    }
    // Not there: its collection or `home`'s moved away, or it went (removed through another
    // instance, as a client may: as it asked), or `home`'s collection went, or is in a
    // replaced collection that another request is deleting (then it is deleted, or stays
    // and the answer says where).
    const moved = follows < 3 ? await movedTo(req, entry, path) : null;
    const found = follows < 3 && !moved ? await movedTo(req, home, back) : null;
    const movedHome = found && !inReplaced(found) ? found : null;
    if (moved || movedHome) {
      path = moved ?? path;
      back = movedHome ?? back;
      continue;
    }
    // A look that failed (the store) does not say it went: it may still be there, and the
    // answer says where. Before, it was taken as gone, and a MOVE answered a plain 503 with
    // its source left under the staging name (protocol fuzz seed 390005 under faults).
    if (await statOrNull(req.vfs, path).then((s) => s !== null, () => true)) {
      // An answer that already keeps something aside has no order to match: keep this too.
      if (!(error instanceof KeptAside) && await homeGone(req, home).catch(() => false)) {
        const at: Aside = entry.holder === undefined ? { path } : { path, holder: entry.holder };
        return await dropSource(req, at, { error, what });
      }
      return keptAside(req, path, error, what);
    }
    return error;
  }
}

/** Looks at a failed staging rename's two names before its answer gives up on telling. */
const STAGING_LOOKS = 3;

/**
 * After a MOVE's staging rename (its source to a name beside the destination) failed: one
 * the store failed may have its intent written and not settled, and whoever meets that
 * next rolls it forward, to the staging name (or back). Before, the MOVE answered its
 * error, and its source could end up under that hidden name, which no answer named
 * (protocol fuzz seed 390005 under store faults; tests/dav_move_staging_fault_test.ts).
 * So the intent is settled now, by a look at the source's name with fresh reads (outside
 * the versions the request holds), and a source found at the staging name goes back
 * ({@linkcode putBack}). Returns the error to answer with: the failure as it is when the
 * source is not at the staging name; where it is kept when it cannot go back, or when the
 * looks fail too (it may be at either name then). The swap's fallback renames the replaced
 * destination aside the same way, and settles a failure of that so too (copymove.ts).
 */
export async function settleStaging(
  req: DavRequest,
  staged: Aside,
  home: Aside,
  failed: Failed,
): Promise<unknown> {
  const { error, what } = failed;
  // A clean refusal (no such source, a name taken, a lock) wrote no intent.
  if (statusOf(error) < 500) return error;
  const look = () =>
    req.vfs.fresh(async () => {
      await statOrNull(req.vfs, home.path);
      return await statOrNull(req.vfs, staged.path);
    }).then((stat) => stat !== null, () => null);
  // The store that failed the rename may fail a look too: a few, before the answer names
  // the staging name for a source that may as well be at its own.
  let there = await look();
  for (let tries = 1; there === null && tries < STAGING_LOOKS; tries++) there = await look();
  if (there === false) return error;
  if (there === null) return keptAside(req, staged.path, error, what);
  return await putBack(req, staged, { home, error, what });
}

/**
 * Whether `home`'s collection is gone (deleted, or being deleted: by an rmdir, or in a
 * replaced collection that a COPY or MOVE is deleting), found by its inode: false when its
 * parent pointers do not tell (a store failure, a walk that gave up), or when `home` has
 * no known collection.
 */
async function homeGone(req: DavRequest, home: Aside): Promise<boolean> {
  if (home.holder === undefined) return false;
  return await req.vfs.pathOf(home.holder).then((at) => at === null || inReplaced(at), () => false);
}

/**
 * Whether `path` is in a collection that a COPY or MOVE replaced and keeps aside
 * (`.pagefs-replaced-<id>`) only until it has deleted it: putting something back there
 * would stop that deletion (not empty) and leave the whole aside entry, visible to all.
 */
function inReplaced(path: string): boolean {
  return path.split("/").some((name) => parseLeftover(name)?.kind === "replaced");
}

/**
 * Whether `path`'s name is in `entry`'s own collection (found by its inode), when that is
 * known; a failed look counts as no.
 */
async function leadsTo(req: DavRequest, path: string, entry: Aside): Promise<boolean> {
  if (entry.holder === undefined) return true;
  return await req.vfs.lookup(parentOf(path)).then((s) => s.ino === entry.holder, () => false);
}

/**
 * A MOVE's source, beside the destination, that cannot go back because the collection it
 * came from was deleted meanwhile (it was empty then: the source had left it; protocol
 * fuzz seed 5162, where a MOVE over an ancestor of that collection deleted it). Only one
 * order of the two requests explains a failed MOVE then: the deletion first, taking the
 * source with it, and the MOVE after it, finding no source (404, as RFC 4918 answers a
 * MOVE of a missing resource). So the source is deleted, as a DELETE of it would be
 * (through the VFS, under the locks on it: the entry shows in its collection's listings,
 * and another client may have locked it there), and the answer is that 404. Where that
 * deletion is refused or fails, the source stays, and the answer says where, as before.
 */
async function dropSource(req: DavRequest, entry: Aside, failed: Failed): Promise<unknown> {
  const { error, what } = failed;
  const locks = regardLocks(req, [{ path: entry.path, membership: true, tree: true }]);
  try {
    await locks.beforeCommit();
    const failures = await req.vfs.removeTree(entry.path, {
      beforeEach: locks.beforeCommit,
      ...(entry.holder === undefined ? {} : { holder: entry.holder }),
    });
    if (failures.size > 0) {
      console.warn(
        `pagefs: ${req.c.req.method} ${logged(req.path)}: left ${
          [...failures.keys()].map(logged).join(", ")
        } behind`,
      );
      return keptAside(req, entry.path, error, what);
    }
    await req.locks.release(entry.path);
  } catch (failure) {
    // Gone already: deleted through another instance, as a client may.
    if (!isFsError(failure, "ENOENT")) {
      const refusal = locks.reason(failure);
      console.warn(
        `pagefs: ${req.c.req.method} ${logged(req.path)}: ${what} was not deleted: ${refusal}`,
      );
      return keptAside(req, entry.path, error, what);
    }
  }
  console.warn(
    `pagefs: ${req.c.req.method} ${logged(req.path)}: ${what} was deleted at ${
      logged(entry.path)
    }: ` +
      "the collection it came from was deleted meanwhile",
  );
  return new Settled(404, "The source was removed meanwhile, with the collection it was in");
}

/**
 * Where `entry`, last looked for at `path`, is now that `path` no longer leads to it: in
 * its collection, wherever that is now. Null when that is still at `path` (the entry
 * itself went), gone, or unknown.
 */
async function movedTo(req: DavRequest, entry: Aside, path: string): Promise<string | null> {
  if (entry.holder === undefined) return null;
  const at = await req.vfs.pathOf(entry.holder).catch(() => null);
  if (at === null) return null;
  const now = `${at === "/" ? "" : at}/${path.slice(path.lastIndexOf("/") + 1)}`;
  return now === path ? null : now;
}

/**
 * An answer decided after the failure it follows (where something was kept, or that the
 * source went): given as it is, not taken back to the failure (`Recheck.reason`).
 */
export class Settled extends DavError {}

/** A failed COPY or MOVE that could not put a resource back: where it is kept. */
export class KeptAside extends Settled {}

/** `error`, as an answer that also names where `what` is kept. */
function keptAside(req: DavRequest, path: string, error: unknown, what: string): KeptAside {
  const status = statusOf(error);
  // The answer below is deliberate; the original failure still deserves its log line.
  if (status >= 500 && !(error instanceof DavError)) console.error(error);
  console.warn(
    `pagefs: ${req.c.req.method} ${logged(req.path)}: ${what} is kept at ${logged(path)}`,
  );
  const where = href(req, path, false);
  let condition: string | null = null;
  let hrefs: string[] = [];
  let headers: Record<string, string> = {};
  if (error instanceof DavError) {
    ({ condition } = error);
    hrefs = [...error.hrefs];
    headers = { ...error.headers };
  } else if (error instanceof LockedError) {
    condition = "lock-token-submitted";
    hrefs = [...new Set(error.conflicts.map((l) => l.root))].map((root) => href(req, root, false));
  }
  return new KeptAside(status, `${messageOf(error)}; ${what} is kept at ${where}`, {
    ...(condition ? { condition } : {}),
    hrefs,
    headers,
  });
}

/**
 * Deletes what a COPY or MOVE no longer needs (the replaced resource, or a failed copy):
 * the request's outcome is settled, so a failure here leaves a leftover under its
 * recognisable name, not an error. The replaced resource is removed under the locks on
 * the request's paths (`recheck`), as the destination was before; a failed copy was never
 * anyone else's.
 */
export async function discard(req: DavRequest, entry: Aside, recheck?: Recheck): Promise<void> {
  const { path, holder } = entry;
  try {
    // By its collection's inode: a rename may take the collection elsewhere meanwhile.
    const failures = await req.vfs.removeTree(path, {
      ...(recheck ? { beforeEach: recheck.beforeCommit } : {}),
      ...(holder === undefined ? {} : { holder }),
    });
    if (failures.size === 0) return;
    console.warn(
      `pagefs: ${req.c.req.method} ${logged(req.path)}: left ${
        [...failures.keys()].map(logged).join(", ")
      } behind`,
    );
  } catch (error) {
    if (isFsError(error, "ENOENT")) return;
    console.warn(
      `pagefs: ${req.c.req.method} ${logged(req.path)}: left ${logged(path)} behind: ${error}`,
    );
  }
}
