/**
 * COPY and MOVE (RFC 4918 sections 9.8 and 9.9). A MOVE is one VFS rename, atomic for
 * files and whole directory trees alike; a COPY shares the source's data (segments are
 * immutable), so copying a large file uploads nothing.
 *
 * A destination that the rename (or the copy's commit) cannot replace in one step, a
 * collection or a file and a collection either way, is never deleted first: it is renamed
 * aside in its own collection (one CAS), the change is made, and only then is the aside
 * entry removed; when the change fails, the entry is renamed back. A COPY over such a
 * destination is first built under a staging name beside it, so a copy that fails half way
 * (its source removed meanwhile) leaves the destination as it was. Both names are
 * recognisable (`.pagefs-replaced-…`, `.pagefs-copying-…`), so what a crash leaves between
 * the steps can be told from anything a client made (docs/webdav.md).
 *
 * @module
 */

import { isFsError, type Stat } from "../vfs/mod.ts";
import { LockedError } from "../vfs/locks.ts";
import type { Recheck } from "../http/recheck.ts";
import { DavError, messageOf, statusOf } from "./errors.ts";
import { parseDepth, parseOverwrite } from "./headers.ts";
import { destinationPath, isWithin, parentOf } from "./paths.ts";
import { requireParent } from "./content.ts";
import { type DavRequest, guard, href, regard, statOrNull } from "./request.ts";

/** The name a replaced destination has between its removal from view and its deletion. */
export const ASIDE_PREFIX = ".pagefs-replaced-";
/** The name a COPY over an existing destination builds its copy under. */
export const STAGING_PREFIX = ".pagefs-copying-";

/** What one COPY or MOVE does, once its checks have passed. */
interface Transfer {
  readonly from: string;
  readonly source: Stat;
  readonly move: boolean;
  readonly depth: string;
  readonly overwrite: boolean;
  readonly recheck: Recheck;
}

/** COPY (`move` false) or MOVE (`move` true). */
export async function copyMoveMethod(req: DavRequest, move: boolean): Promise<Response> {
  const { vfs, path: from } = req;
  const header = req.c.req.header("destination") ?? null;
  const to = destinationPath(header, req.url, req.mount).path;
  const overwrite = parseOverwrite(req.c.req.header("overwrite") ?? null);
  const depth = parseDepth(req.c.req.header("depth") ?? null, "infinity");
  if (depth === "1" || (move && depth !== "infinity")) {
    throw new DavError(400, `${move ? "MOVE" : "COPY"} does not take Depth ${depth}`);
  }
  if (from === "/") throw new DavError(403, "Cannot copy or move the root collection");
  const source = await vfs.lookup(from);
  // Onto itself, into itself, or over its own ancestor (which Overwrite would remove,
  // source and all): RFC 4918 section 9.8.5's 403, before anything changes.
  if (to === from) throw new DavError(403, "Source and destination are the same resource");
  if (isWithin(to, from)) throw new DavError(403, "Cannot copy or move a resource into itself");
  if (isWithin(from, to)) {
    throw new DavError(403, "Cannot copy or move a resource onto its own ancestor");
  }
  const target = await statOrNull(vfs, to);
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
  const transfer: Transfer = { from, source, move, depth, overwrite, recheck };
  try {
    // A file replacing a file is part of the one atomic step (the rename, or the copy's
    // commit of the new entry); anything else at the destination is replaced by steps that
    // keep it until the change has happened (RFC 4918 section 9.9.3 asks for a DELETE
    // first, but a source removed in between would then cost the destination).
    const atomic = !target || target.type !== "directory" &&
        (move ? source.type !== "directory" : source.type === "file");
    if (atomic) await transferTo(req, to, transfer, { noReplace: !overwrite });
    else if (move) await replaceByMove(req, to, transfer);
    else await replaceByCopy(req, to, transfer);
  } catch (error) {
    throw error instanceof KeptAside ? error : recheck.reason(error);
  }
  return req.c.body(null, target ? 204 : 201);
}

/** The change itself, made at `to`: a rename, a tree copy, or a Depth 0 collection copy. */
async function transferTo(
  req: DavRequest,
  to: string,
  transfer: Transfer,
  options: { noReplace: boolean },
): Promise<void> {
  const { vfs } = req;
  const { from, source, recheck } = transfer;
  try {
    if (transfer.move) {
      await recheck.beforeCommit();
      // Overwrite F: a destination that appeared since the look above (a create through
      // another instance) is not replaced.
      await vfs.rename(from, to, { noReplace: options.noReplace });
      await req.locks.release(from);
    } else if (transfer.depth === "0" && source.type === "directory") {
      // The properties first: a source removed before this COPY read it leaves nothing made.
      const xattrs = await vfs.getxattrs(from);
      await recheck.beforeCommit();
      await vfs.mkdir(to, { mode: source.mode });
      if (Object.keys(xattrs).length > 0) await vfs.updatexattrs(to, { set: xattrs });
    } else {
      await vfs.copy(from, to, { noReplace: options.noReplace, beforeEach: recheck.beforeCommit });
    }
  } catch (error) {
    if (isFsError(error, "EEXIST")) throw appeared(transfer.overwrite);
    throw error;
  }
}

/** MOVE over a destination the rename cannot replace: aside, rename, then delete it. */
async function replaceByMove(req: DavRequest, to: string, transfer: Transfer): Promise<void> {
  const aside = await moveAside(req, to, transfer.recheck);
  try {
    await transferTo(req, to, transfer, { noReplace: true });
  } catch (error) {
    throw aside ? await putBack(req, aside, to, transfer.recheck.reason(error)) : error;
  }
  if (aside) await discard(req, aside, transfer.recheck);
}

/**
 * COPY over a destination the copy cannot replace in one commit: the copy is built under a
 * staging name beside it, then takes the destination's place as a MOVE would.
 */
async function replaceByCopy(req: DavRequest, to: string, transfer: Transfer): Promise<void> {
  const staging = besideName(to, STAGING_PREFIX);
  try {
    await transferTo(req, staging, transfer, { noReplace: true });
    const aside = await moveAside(req, to, transfer.recheck);
    try {
      await transfer.recheck.beforeCommit();
      await req.vfs.rename(staging, to, { noReplace: true });
    } catch (error) {
      const reason = isFsError(error, "EEXIST") ? appeared(true) : transfer.recheck.reason(error);
      throw aside ? await putBack(req, aside, to, reason) : reason;
    }
    if (aside) await discard(req, aside, transfer.recheck);
  } catch (error) {
    // A copy that failed, whole or in part: it was never visible at the destination.
    await discard(req, staging);
    throw error;
  }
}

/**
 * Renames the destination aside (one CAS in its collection); null when it is gone already
 * (removed through another instance), so there is nothing to keep.
 */
async function moveAside(req: DavRequest, to: string, recheck: Recheck): Promise<string | null> {
  const aside = besideName(to, ASIDE_PREFIX);
  await recheck.beforeCommit();
  try {
    await req.vfs.rename(to, aside, { noReplace: true });
  } catch (error) {
    if (isFsError(error, "ENOENT")) return null;
    throw error;
  }
  return aside;
}

/**
 * After a failed change: renames the aside entry back to `to`, unless something took that
 * name meanwhile (it is not replaced). Returns the error to answer with; when the entry
 * could not go back, that error says where it is kept.
 */
async function putBack(
  req: DavRequest,
  aside: string,
  to: string,
  error: unknown,
): Promise<unknown> {
  try {
    await req.vfs.rename(aside, to, { noReplace: true });
    return error;
  } catch (failure) {
    // Removed through another instance (a client may delete what it sees): as it asked.
    if (isFsError(failure, "ENOENT")) return error;
    return keptAside(req, aside, error);
  }
}

/** A failed COPY or MOVE whose replaced resource could not go back: where it is kept. */
class KeptAside extends DavError {}

/** `error`, as an answer that also names where the replaced resource is kept. */
function keptAside(req: DavRequest, aside: string, error: unknown): KeptAside {
  const status = statusOf(error);
  // The answer below is deliberate; the original failure still deserves its log line.
  if (status >= 500 && !(error instanceof DavError)) console.error(error);
  console.warn(
    `pagefs: ${req.c.req.method} ${req.path}: the replaced resource is kept at ${aside}`,
  );
  const where = href(req, aside, false);
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
  return new KeptAside(
    status,
    `${messageOf(error)}; the resource the request would have replaced is kept at ${where}`,
    { ...(condition ? { condition } : {}), hrefs, headers },
  );
}

/**
 * Deletes what a COPY or MOVE no longer needs (the replaced resource, or a failed copy):
 * the request's outcome is settled, so a failure here leaves a leftover under its
 * recognisable name, not an error. The replaced resource is removed under the request's
 * lock checks (`recheck`), as the destination was before; a failed copy was never anyone
 * else's.
 */
async function discard(req: DavRequest, path: string, recheck?: Recheck): Promise<void> {
  try {
    const failures = await req.vfs.removeTree(
      path,
      recheck ? { beforeEach: recheck.beforeCommit } : {},
    );
    if (failures.size === 0) return;
    console.warn(`pagefs: ${req.c.req.method} ${req.path}: left ${path} behind`);
  } catch (error) {
    if (isFsError(error, "ENOENT")) return;
    console.warn(`pagefs: ${req.c.req.method} ${req.path}: left ${path} behind: ${error}`);
  }
}

/** A fresh name beside `path`, in the same collection (a rename there is one CAS). */
function besideName(path: string, prefix: string): string {
  const parent = parentOf(path);
  return `${parent === "/" ? "" : parent}/${prefix}${crypto.randomUUID()}`;
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
