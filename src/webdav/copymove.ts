/**
 * COPY and MOVE (RFC 4918 sections 9.8 and 9.9). A MOVE is one VFS rename, atomic for
 * files and whole directory trees alike; a COPY shares the source's data (segments are
 * immutable), so copying a large file uploads nothing.
 *
 * A destination that the rename (or the copy's commit) cannot replace in one step, a
 * collection or a file and a collection either way, is never deleted first: what replaces
 * it is made ready beside it (a COPY is built under a staging name; a MOVE's source from
 * another collection is moved there), then one CAS of the collection puts it at the
 * destination and keeps the old destination under an aside name, which is deleted last.
 * A source removed meanwhile fails the request with the destination as it was; readers
 * see the old destination or the new one, never none. The names are recognisable
 * (`.pagefs-copying-…`, `.pagefs-moving-…`, `.pagefs-replaced-…` and a time-ordered id), so
 * what a crash leaves between the steps can be told from anything a client made, and fsck
 * reports it once it is old (docs/webdav.md, src/format/leftovers.ts). Finding those
 * entries again, putting one back and deleting one is `aside.ts`.
 *
 * @module
 */

import { isFsError, LEFTOVER_PREFIX, parentOf, type Stat } from "../vfs/mod.ts";
import type { Recheck } from "../http/recheck.ts";
import { commitCheck, conditionalHeaders, evaluatePreconditions } from "../http/preconditions.ts";
import { DavError, statusOf } from "./errors.ts";
import { parseDepth, parseOverwrite } from "./headers.ts";
import { destinationPath, isWithin } from "./paths.ts";
import { multistatusOfFailures, requireParent } from "./content.ts";
import { type Aside, discard, holderOf, putBack, Settled, settleStaging } from "./aside.ts";
import { lockAlias } from "../http/locks.ts";
import {
  type DavRequest,
  guard,
  regard,
  regardLocks,
  releaseLocks,
  statOrNull,
} from "./request.ts";

/** The name a replaced destination has between its replacement and its deletion. */
export const ASIDE_PREFIX = LEFTOVER_PREFIX.replaced;
/** The name a COPY over an existing destination builds its copy under. */
export const STAGING_PREFIX = LEFTOVER_PREFIX.copying;
/** The name a MOVE's source has next to the destination it is about to replace. */
export const MOVING_PREFIX = LEFTOVER_PREFIX.moving;

/** What one COPY or MOVE does, once its checks have passed. */
interface Transfer {
  readonly from: string;
  readonly source: Stat;
  /** What was at the destination when the request looked (it must still be there). */
  readonly target: Stat | null;
  readonly move: boolean;
  readonly depth: string;
  readonly overwrite: boolean;
  readonly recheck: Recheck;
  /**
   * The lock checks alone, for deleting the replaced destination after the swap: the `If`
   * header spoke of the resources before the swap (a token of the lock on a MOVE's source,
   * released by the move), and judged afresh would stop that deletion.
   */
  readonly locks: Recheck;
  /** The request's preconditions on the source: a MOVE checks them as it commits, a COPY on the version it copies. */
  readonly expect: ((stat: Stat) => boolean) | undefined;
}

/** The MOVE's preconditions as a rename option (see `Vfs.rename`'s `expect`). */
function expected(transfer: Transfer): { expect?: (stat: Stat) => boolean } {
  return transfer.expect ? { expect: transfer.expect } : {};
}

function sourceChanged(): DavError {
  return new DavError(412, "Precondition failed: the source changed meanwhile");
}

/**
 * `error` as the answer to a step at the destination: not found, with the source still
 * there and the destination's parent collection not (both looked at afresh), means that
 * collection went meanwhile, a conflict (RFC 4918 section 9.8.5), not a 404. Before, the
 * source alone was looked at: a source gone at the step whose name another file took right
 * after answered 409 with the destination's parent standing
 * (tests/dav_link_moves_sched_test.ts seed 91).
 */
async function parentGone(
  req: DavRequest,
  paths: { from: string; to: string },
  error: unknown,
): Promise<unknown> {
  if (!isFsError(error, "ENOENT", "ENOTDIR")) return error;
  const [source, parent] = await req.vfs.fresh(() =>
    Promise.all([
      statOrNull(req.vfs, paths.from),
      statOrNull(req.vfs, parentOf(paths.to), { follow: true }),
    ])
  );
  if (source && parent?.type !== "directory") {
    return new DavError(409, "The destination's parent collection was removed meanwhile");
  }
  return error;
}

/**
 * A MOVE whose source path leads to another resource than the one it looked at, found
 * before anything changed: made again from fresh reads, on what the path leads to now, as
 * an unconditional request does (an answer of its own if that happens twice).
 */
class Restart extends Settled {
  constructor() {
    super(503, "The source changed during the MOVE; nothing was done");
  }
}

/** COPY (`move` false) or MOVE (`move` true). */
export async function copyMoveMethod(req: DavRequest, move: boolean): Promise<Response> {
  try {
    return await copyMoveOnce(req, move);
  } catch (error) {
    if (!(error instanceof Restart)) throw error;
    return await req.vfs.fresh(() => copyMoveOnce(req, move));
  }
}

/** One COPY or MOVE, from its look at the two paths to its answer. */
async function copyMoveOnce(req: DavRequest, move: boolean): Promise<Response> {
  const { vfs, path: from } = req;
  const header = req.c.req.header("destination") ?? null;
  const to = destinationPath(header, req.url, req.mount, { forwardedHost: req.forwardedHost })
    .path;
  const overwrite = parseOverwrite(req.c.req.header("overwrite") ?? null);
  const asked = parseDepth(req.c.req.header("depth") ?? null, "infinity");
  if (asked === "1") {
    throw new DavError(400, `${move ? "MOVE" : "COPY"} does not take Depth 1`);
  }
  if (from === "/") throw new DavError(403, "Cannot copy or move the root collection");
  const source = await vfs.lookup(from);
  // RFC 4918 section 9.9.2: a MOVE of a collection acts as Depth infinity, and a client
  // must not ask for less; of anything else, Depth changes nothing. So only a collection's
  // is refused, as Apache's mod_dav does (before session 16 a file's MOVE with Depth 0 was
  // 400 too).
  if (move && asked !== "infinity" && source.type === "directory") {
    throw new DavError(400, `MOVE of a collection does not take Depth ${asked}`);
  }
  const depth = move ? "infinity" : asked;
  // If-Match and the others are about the source (the request's own resource).
  const conditions = conditionalHeaders(req.c.req.raw.headers);
  evaluatePreconditions(conditions, source, false);
  // Onto itself, into itself, or over its own ancestor (which Overwrite would remove,
  // source and all): RFC 4918 section 9.8.5's 403, before anything changes.
  if (to === from) throw new DavError(403, "Source and destination are the same resource");
  if (isWithin(to, from)) throw new DavError(403, "Cannot copy or move a resource into itself");
  if (isWithin(from, to)) {
    throw new DavError(403, "Cannot copy or move a resource onto its own ancestor");
  }
  const target = await statOrNull(vfs, to);
  await notIntoItself(req, from, to);
  // One inode at both: the same entry under another spelling (a symlink on the way) is
  // the same resource, 403 as above (before: a rename onto itself, which changed nothing
  // and answered 204 with the source still there). Two hard links of one file are two
  // resources: a MOVE removes the source's name (a rename of them would do nothing).
  const aliased = target !== null && target.ino === source.ino;
  if (aliased && await sameEntry(req, from, to)) {
    throw new DavError(403, "Source and destination are the same resource");
  }
  if (target && !overwrite) {
    throw new DavError(412, "The destination exists and Overwrite is F");
  }
  await requireParent(vfs, to);
  const touches = [{ path: to, membership: true, tree: true }];
  if (move) touches.push({ path: from, membership: true, tree: true });
  await guard(req, touches);

  // The gate runs again right before each step that changes something, so a lock taken
  // meanwhile (through any instance) stops the rest.
  const recheck = regard(req, touches);
  const locks = regardLocks(req, touches);
  const expect = commitCheck(conditions);
  const transfer = { from, source, target, move, depth, overwrite, recheck, locks, expect };
  try {
    // A file replacing a file is part of the one atomic step (the rename, or the copy's
    // commit of the new entry); anything else at the destination is replaced by steps that
    // keep it until the change has happened (RFC 4918 section 9.9.3 asks for a DELETE
    // first, but a source removed in between would then cost the destination).
    // A tree copied is built beside its destination, then named in one step once whole
    // (`replaceByCopy`), where something is and where nothing is alike: one that fails half
    // way (a member removed meanwhile, a lock met, the store) leaves nothing at the
    // destination. Before, the part copied stayed there under the error.
    const tree = !move && depth !== "0" && source.type === "directory";
    const atomic = !tree && (!target || target.type !== "directory" &&
        (move ? source.type !== "directory" : source.type === "file"));
    if (aliased && move) await unlinkSource(req, to, transfer);
    else if (atomic) await transferTo(req, to, transfer, { noReplace: !overwrite });
    else if (move) await replaceByMove(req, to, transfer);
    else await replaceByCopy(req, to, transfer);
  } catch (error) {
    // A member's failure (not the request's own resource's): RFC 4918 section 9.8.8's 207,
    // naming it (before: a 404 for a source that is there). A source gone whole is 404.
    const at = isFsError(error) ? error.path : undefined;
    if (!move && at !== undefined && at !== from && isWithin(at, from)) {
      if (await vfs.fresh(() => statOrNull(vfs, from)) !== null) {
        return await multistatusOfFailures(req, new Map([[at, error]]));
      }
    }
    throw error instanceof Settled ? error : recheck.reason(error);
  }
  return req.c.body(null, target ? 204 : 201);
}

/**
 * The 403s above for the two paths as their symlinks resolve: `/d` into `/s/x` with `/s`
 * -> `/d` is into itself (before: the rename's EINVAL, 400; a COPY the same). The
 * resolutions are the ones the lock checks use next (kept per request), and read what the
 * lookups above read. The same entry under two spellings is left to the check below.
 */
async function notIntoItself(req: DavRequest, from: string, to: string): Promise<void> {
  const [realFrom, realTo] = await Promise.all(
    [from, to].map((path) => lockAlias(req.c, req.vfs, path)()),
  );
  if (realFrom == null || realTo == null || realFrom === realTo) return;
  if (isWithin(realTo, realFrom)) {
    throw new DavError(403, "Cannot copy or move a resource into itself");
  }
  if (isWithin(realFrom, realTo)) {
    throw new DavError(403, "Cannot copy or move a resource onto its own ancestor");
  }
}

/** Whether `a` and `b` name one entry: the same name in the same directory (by inode). */
async function sameEntry(req: DavRequest, a: string, b: string): Promise<boolean> {
  const name = (p: string) => p.slice(p.lastIndexOf("/") + 1);
  if (name(a) !== name(b)) return false;
  const [x, y] = await Promise.all([a, b].map((p) => req.vfs.getattr(parentOf(p))));
  return x!.ino === y!.ino;
}

/** Times a MOVE between two hard links starts again when its destination's name went. */
const LINK_MOVE_TRIES = 3;

/**
 * A MOVE between two hard links of one file: the destination has it; the source name goes,
 * if it still names that file (checked in the unlink's CAS: a file renamed over the source
 * meanwhile is not deleted in its place; protocol fuzz ext seed 280), and only while the
 * destination does too: two crossing MOVEs (`/a` to `/b`, `/b` to `/a`) each removed their
 * source, and neither name was left (protocol fuzz ext seed 51306; across two directories,
 * tests/dav_link_moves_test.ts). A destination whose name went meanwhile is free: the
 * MOVE is then a rename onto it, as after the other one.
 */
async function unlinkSource(
  req: DavRequest,
  to: string,
  transfer: Transfer,
  tries = 0,
): Promise<void> {
  const { source, expect } = transfer;
  await transfer.recheck.beforeCommit();
  const same = (stat: Stat) => stat.ino === source.ino && (expect?.(stat) ?? true);
  const removed = await req.vfs.unlinkKeeping(transfer.from, to, { expect: same }).catch(
    (error) => {
      if (!isFsError(error, "ESTALE")) throw error;
      if (expect) throw sourceChanged();
      throw new DavError(503, "The source changed during the MOVE; nothing was done");
    },
  );
  if (!removed) {
    if (tries + 1 >= LINK_MOVE_TRIES) {
      throw new DavError(503, "The destination changed during the MOVE; nothing was done");
    }
    return await transferTo(req, to, transfer, { noReplace: false, tries: tries + 1 });
  }
  await releaseLocks(req, transfer.from);
}

/** The change itself, made at `to`: a rename, a tree copy, or a Depth 0 collection copy. */
async function transferTo(
  req: DavRequest,
  to: string,
  transfer: Transfer,
  options: { noReplace: boolean; tries?: number; landsAt?: string },
): Promise<void> {
  const { vfs } = req;
  const { from, source, recheck } = transfer;
  try {
    if (transfer.move) {
      await recheck.beforeCommit();
      // Overwrite F: a destination that appeared since the look above (a create through
      // another instance) is not replaced.
      const done = await vfs.rename(from, to, {
        noReplace: options.noReplace,
        ...expected(transfer),
      });
      // A hard link of the source made at the destination meanwhile: a rename of two names
      // of one file does nothing, and the MOVE still removes the source, as when the link
      // was there first (below; before: 201 with both names left, protocol fuzz ext). Not
      // with Overwrite F: that destination appeared after the look, so 412 and nothing
      // done, as when the link was there first (before: the source removed and 201, which
      // no order explains; protocol fuzz ext seed 22045).
      if (done === "same file" && options.noReplace) throw appeared(false);
      if (done === "same file" && source.type === "file") {
        await unlinkSource(req, to, transfer, options.tries);
      }
      await releaseLocks(req, from);
    } else if (transfer.depth === "0" && source.type === "directory") {
      // The properties first: a source removed before this COPY read it leaves nothing made.
      const xattrs = await vfs.getxattrs(from);
      await recheck.beforeCommit();
      await vfs.mkdir(to, { mode: source.mode });
      if (Object.keys(xattrs).length > 0) await vfs.updatexattrs(to, { set: xattrs });
    } else {
      await vfs.copy(from, to, {
        noReplace: options.noReplace,
        beforeEach: recheck.beforeCommit,
        ...expected(transfer),
        // A staged copy's paths once swapped in are held to the limit too.
        ...(options.landsAt ? { landsAt: options.landsAt } : {}),
      });
    }
  } catch (error) {
    if (isFsError(error, "EEXIST")) throw appeared(transfer.overwrite);
    if (transfer.expect && isFsError(error, "ESTALE")) throw sourceChanged();
    throw await parentGone(req, { from, to }, error);
  }
}

/**
 * MOVE over a destination the rename cannot replace: the source is swapped in for it by one
 * CAS of the destination's collection, which keeps the destination aside, to be deleted
 * once the MOVE has happened. A source in another collection (or another shard of a large
 * one) first moves next to the destination under a staging name: a source removed by then
 * fails the MOVE before the destination is touched.
 */
async function replaceByMove(req: DavRequest, to: string, transfer: Transfer): Promise<void> {
  const { vfs } = req;
  const { from, recheck } = transfer;
  let aside: Aside | null = null;
  let swapped = false;
  if (parentOf(from) === parentOf(to)) {
    try {
      aside = await swapIn(req, from, to, transfer, { fallback: false });
      swapped = true;
    } catch (error) {
      if (!isFsError(error, "EXDEV")) throw error;
    }
  }
  if (!swapped) {
    let staged: Aside | undefined;
    let home: Aside | undefined;
    /** Whether the staging rename was under way (its intent may be written). */
    let renaming = false;
    try {
      const name = await vfs.nameBeside(to, MOVING_PREFIX);
      staged = { path: besidePath(to, name), holder: await holderOf(req, to) };
      home = { path: from, holder: await holderOf(req, from) };
      await recheck.beforeCommit();
      // Only the resource looked at: the path may lead to another one now (a MOVE over its
      // collection brought one of that name), and `home` is where the looked-at one lives.
      // Staged and put back into a collection found gone, that other one was deleted, with
      // a 404 that no order explains (protocol fuzz seed 50102).
      const looked = (stat: Stat) =>
        stat.ino === transfer.source.ino && (transfer.expect?.(stat) ?? true);
      renaming = true;
      await vfs.rename(from, staged.path, { noReplace: true, expect: looked });
    } catch (error) {
      if (!transfer.expect && isFsError(error, "ESTALE")) throw new Restart();
      if (renaming && staged && home) {
        const failed = { error: recheck.reason(error), what: "the resource it moves" };
        const answer = await settleStaging(req, staged, home, failed);
        if (answer instanceof Settled) throw answer;
      }
      throw await parentGone(req, { from, to }, error);
    }
    try {
      aside = await swapIn(req, staged.path, to, transfer);
    } catch (error) {
      const answer = await putBack(req, staged, {
        home,
        error: recheck.reason(error),
        what: "the resource it moves",
      });
      // Put back: a destination whose parent collection went meanwhile is a conflict.
      throw answer instanceof Settled ? answer : await parentGone(req, { from, to }, answer);
    }
  }
  await releaseLocks(req, from);
  if (aside) await discard(req, aside, transfer.locks);
}

/**
 * COPY over a destination the copy cannot replace in one commit: the copy is built under a
 * staging name beside it, then swapped in as a MOVE would be. A copy that fails, whole or
 * half way (its source removed meanwhile), never touched the destination.
 */
async function replaceByCopy(req: DavRequest, to: string, transfer: Transfer): Promise<void> {
  const staging: Aside = await (async () => {
    const name = await req.vfs.nameBeside(to, STAGING_PREFIX);
    return { path: besidePath(to, name), holder: await holderOf(req, to) };
  })().catch(async (error) => {
    throw await parentGone(req, { from: transfer.from, to }, error);
  });
  let aside: Aside | null;
  try {
    await transferTo(req, staging.path, transfer, { noReplace: true, landsAt: to });
    aside = await swapIn(req, staging.path, to, transfer);
  } catch (error) {
    await discard(req, staging);
    // The swap may find no destination collection (moved meanwhile): a conflict.
    throw await parentGone(req, { from: transfer.from, to }, error);
  }
  if (aside) await discard(req, aside, transfer.locks);
}

/**
 * Puts `staged` (a name in `to`'s collection) at `to`, in place of what the request saw
 * there, keeping that as an aside entry: one CAS. Returns the aside entry's path. When
 * the names are in two shards of a large collection (split since the names were chosen),
 * and `fallback`, two renames instead, with a moment between them when `to` is free: `to`
 * aside, `staged` in (what appeared at `to` in that moment is not replaced: 409, and the
 * aside entry goes back).
 */
async function swapIn(
  req: DavRequest,
  staged: string,
  to: string,
  transfer: Transfer,
  options: { fallback?: boolean } = {},
): Promise<Aside> {
  const { vfs } = req;
  const { recheck } = transfer;
  const name = await vfs.nameBeside(to, ASIDE_PREFIX);
  await recheck.beforeCommit();
  try {
    // Only over what the request saw there: a destination replaced or removed since (by a
    // MOVE of it, say) is a conflict, as for a rename, not something to replace unseen.
    const holder = await vfs.renameAside(staged, to, name, {
      replaces: transfer.target?.ino ?? null,
    });
    return { path: besidePath(to, name), holder };
  } catch (error) {
    if (isFsError(error, "EEXIST")) throw appeared(true);
    if (!isFsError(error, "EXDEV") || options.fallback === false) throw error;
  }
  const aside: Aside = { path: besidePath(to, name) };
  await recheck.beforeCommit();
  try {
    await vfs.rename(to, aside.path, { noReplace: true });
  } catch (error) {
    // A store failure may leave the rename's intent for the next reader to roll forward:
    // the destination under its aside name, deleted as a leftover. Settled now, and put back
    // (protocol fuzz seeds 390058, 390080 under faults; tests/dav_swap_fallback_fault_test.ts).
    const what = "the resource it would have replaced";
    const reason = recheck.reason(error);
    if (statusOf(reason) >= 500) {
      throw await settleStaging(req, aside, { path: to }, { error: reason, what });
    }
    if (!isFsError(error, "ENOENT")) throw error;
  }
  try {
    await recheck.beforeCommit();
    await vfs.rename(staged, to, { noReplace: true });
  } catch (error) {
    const reason = isFsError(error, "EEXIST") ? appeared(true) : recheck.reason(error);
    const what = "the resource it would have replaced";
    throw await putBack(req, aside, { home: { path: to }, error: reason, what });
  }
  return aside;
}

/** The path of entry `name` in the collection holding `path`. */
function besidePath(path: string, name: string): string {
  const parent = parentOf(path);
  return `${parent === "/" ? "" : parent}/${name}`;
}

/**
 * A destination that appeared while the MOVE or COPY was under way: with Overwrite F its
 * precondition failed (412); with T nothing was done and the client may try again (409).
 */
function appeared(overwrite: boolean): DavError {
  return overwrite
    ? new DavError(409, "The destination changed during the request; nothing was done")
    : new DavError(412, "The destination appeared");
}
