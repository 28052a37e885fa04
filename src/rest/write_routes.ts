/**
 * Routes that write content: PUT (create or replace from a streamed body), PATCH (write at
 * an offset or append) and DELETE (a file, an empty directory, or a tree on request).
 *
 * Preconditions are checked against the current version before the body is read (so a
 * doomed upload is refused early) and again atomically at commit: the strong `If-Match`
 * ETags (one or a list) go to the VFS, which commits only if the file is one of them,
 * and `If-None-Match: *` becomes an exclusive create. Two clients racing with the same
 * precondition: exactly one wins, the other gets 412. Appends land at the end of the file
 * as it is when they commit, so concurrent appends never overlap. The lock check runs
 * before the body too, and again right before each commit step (see `Recheck`): a lock
 * taken through another instance while the body uploads still stops the write.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import {
  ChangedError,
  FsError,
  isFsError,
  parentOf,
  type Stat,
  type Vfs,
  WholeBody,
} from "../vfs/mod.ts";
import { answer } from "../http/answer.ts";
import { clientMtimeMs } from "../http/client_mtime.ts";
import { HttpError } from "../http/errors.ts";
import { badRequest, preconditionFailed } from "./errors.ts";
import { contentLength, parseUint, queryFlag, requestBody, smallBody } from "../http/input.ts";
import { fsPathOf, namedPathOf } from "./path.ts";
import {
  commitCheck,
  commitTags,
  type ConditionalHeaders,
  conditionalHeaders,
  evaluatePreconditions,
  unconditional,
  validatorHeaders,
} from "../http/preconditions.ts";
import { parseContentRange } from "../http/ranges.ts";
import { checkLocks, lockAlias } from "../http/locks.ts";
import { Recheck } from "../http/recheck.ts";
import { statJson } from "./render.ts";

/** Registers PUT, PATCH and DELETE on `/fs/*`. */
export function registerWriteRoutes(app: Hono, vfsOf: (c: Context) => Vfs): void {
  app.put("/fs/*", (c) => putFs(c, vfsOf(c)));
  app.patch("/fs/*", (c) => patchFs(c, vfsOf(c)));
  app.delete("/fs/*", (c) => deleteFs(c, vfsOf(c)));
}

/** The stat of what `path` leads to, or null when nothing is there. */
export async function statOrNull(
  vfs: Vfs,
  path: string,
  options: { optimistic?: boolean } = {},
): Promise<Stat | null> {
  try {
    return await vfs.getattrOrNull(path, options);
  } catch (error) {
    if (isFsError(error, "ENOENT")) return null;
    throw error;
  }
}

/** The client's mtime (unix seconds, from `X-OC-Mtime` or `?mtime=`) in ms. */
function clientMtime(c: Context): number | undefined {
  const text = c.req.header("x-oc-mtime") ?? c.req.query("mtime");
  if (text === undefined) return undefined;
  const ms = clientMtimeMs(text);
  if (ms === null) throw badRequest(`Invalid mtime "${text}": expected unix seconds`);
  return ms;
}

async function putFs(c: Context, vfs: Vfs): Promise<Response> {
  const { path, trailingSlash } = fsPathOf(c);
  const parents = queryFlag(c, "parents");
  const mtime = clientMtime(c);
  const declared = contentLength(c);
  const location = new URL(c.req.url).pathname;
  // RFC 9110 section 14.5: a server that does not take partial PUTs answers one 400. Before
  // session 16 the range was ignored and the file replaced by the part alone: a `curl -C -
  // -T` resuming an upload truncated the file to its tail. PATCH writes at an offset.
  if (c.req.header("content-range") !== undefined) {
    throw badRequest("PUT replaces the whole file: send a part with PATCH and Content-Range");
  }
  if (trailingSlash) {
    if (declared) throw badRequest("PUT of a directory takes no body");
    await checkLocks(c, vfs, path, { membership: true });
    const stat = await vfs.mkdir(path, { parents });
    return c.json(statJson(path, stat), 201, { location });
  }
  const conditions = conditionalHeaders(c.req.raw.headers);
  // A small body is here before the checks: the re-check before the commit reuses their
  // reads. A streamed one may take long: the re-check then reads afresh.
  const small = await smallBody(c, declared);
  // A whole small body without conditions is decided from this instance's cached copy of
  // the directory (no GET of it), and the commit checks that copy (`expect`): if it was
  // stale, nothing was written, and the request is decided again from fresh reads.
  if (small && !parents && unconditional(conditions)) {
    try {
      return await putFileOnce(c, vfs, { path, small, mtime, location, optimistic: true });
    } catch (error) {
      if (!decidedOnStaleView(error)) throw error;
    }
  }
  return await putFileOnce(c, vfs, { path, small, mtime, location, parents, declared, conditions });
}

/**
 * An optimistic try failed in a way a stale view can explain (nothing was written): the
 * file changed, or something it decided from (the file exists, is a directory, is locked
 * as a member of its directory) may not hold.
 */
function decidedOnStaleView(error: unknown): boolean {
  if (error instanceof ChangedError) return true;
  if (error instanceof HttpError) return error.status === 423;
  return isFsError(error, "ENOENT", "ENOTDIR", "EISDIR", "EEXIST");
}

/** One try of a file PUT: optimistic (see putFs), or from fresh reads. */
async function putFileOnce(
  c: Context,
  vfs: Vfs,
  args: {
    path: string;
    small: Uint8Array | null;
    mtime: number | undefined;
    location: string;
    optimistic?: boolean;
    parents?: boolean;
    declared?: number | undefined;
    conditions?: ConditionalHeaders;
  },
): Promise<Response> {
  const { path, small, mtime, location, parents = false, declared } = args;
  const optimistic = args.optimistic ?? false;
  const conditions = args.conditions ?? {};
  const current = await statOrNull(vfs, path, { optimistic });
  if (current?.type === "directory") throw new FsError("EISDIR", "Is a directory", { path });
  evaluatePreconditions(conditions, current, false);
  const locks = { membership: current === null, follow: true, optimistic };
  await checkLocks(c, vfs, path, locks);
  // A body read whole goes to the VFS as it is (no copy into dirty data: vfs/whole_body.ts).
  const body = small ? new WholeBody(small) : requestBody(c, declared);
  const parent = parentOf(path);
  if (parents && parent !== "/") await vfs.mkdir(parent, { parents: true });
  const exclusive = conditions.ifNoneMatch?.trim() === "*";
  const ifMatch = commitTags(conditions.ifMatch);
  const mustExist = existing(conditions);
  const recheck = new Recheck(() =>
    small ? checkLocks(c, vfs, path, locks) : vfs.fresh(() => checkLocks(c, vfs, path, locks))
  );
  // Whether the commit added the file: what was there may have changed while the body came.
  let created = current === null;
  let stat: Stat;
  try {
    // The client's mtime lands in the same CAS as the data.
    stat = await vfs.write(path, 0, body, {
      create: !mustExist,
      truncate: true,
      exclusive,
      ...ifMatch,
      ...(mtime === undefined ? {} : { mtime }),
      ...(optimistic ? { expect: current?.etag ?? null } : {}),
      beforeCommit: recheck.beforeCommit,
      onCommit: (added) => created = added,
    });
  } catch (error) {
    throw raced(recheck.reason(error), exclusive, ifMatch, mustExist);
  }
  const headers: Record<string, string> = {};
  if (mtime !== undefined) headers["x-oc-mtime"] = "accepted";
  Object.assign(headers, validatorHeaders(stat));
  if (created) {
    const json = { "content-type": "application/json", ...headers, location };
    return answer(JSON.stringify(statJson(path, stat)), 201, json);
  }
  return answer(null, 204, headers);
}

async function patchFs(c: Context, vfs: Vfs): Promise<Response> {
  const path = await namedPathOf(c, vfs);
  const declared = contentLength(c);
  const rangeHeader = c.req.header("content-range");
  const offsetText = c.req.query("offset");
  const append = queryFlag(c, "append");
  const create = queryFlag(c, "create");
  const modes = [rangeHeader !== undefined, offsetText !== undefined, append].filter(Boolean);
  if (modes.length !== 1) {
    throw badRequest("PATCH needs exactly one of Content-Range, ?offset= or ?append=1");
  }
  let offset = 0;
  let expected = declared;
  if (rangeHeader !== undefined) {
    const range = parseContentRange(rangeHeader);
    const length = range.end - range.start + 1;
    if (declared !== undefined && declared !== length) {
      throw badRequest(`Content-Length ${declared} differs from the Content-Range's ${length}`);
    }
    offset = range.start;
    expected = length;
  } else if (offsetText !== undefined) {
    offset = parseUint(offsetText, "offset");
  }
  const conditions = conditionalHeaders(c.req.raw.headers);
  const small = await smallBody(c, expected); // see putFs
  const current = await statOrNull(vfs, path);
  if (current?.type === "directory") throw new FsError("EISDIR", "Is a directory", { path });
  evaluatePreconditions(conditions, current, false);
  if (!current && !create) throw new FsError("ENOENT", "No such file or directory", { path });
  const locks = { membership: current === null, follow: true };
  await checkLocks(c, vfs, path, locks);
  const body = small ?? requestBody(c, expected);
  const exclusive = conditions.ifNoneMatch?.trim() === "*";
  const ifMatch = commitTags(conditions.ifMatch);
  const mustExist = existing(conditions);
  const recheck = new Recheck(() =>
    small ? checkLocks(c, vfs, path, locks) : vfs.fresh(() => checkLocks(c, vfs, path, locks))
  );
  const beforeCommit = recheck.beforeCommit;
  let stat: Stat;
  try {
    stat = append
      ? await vfs.append(path, body, { create: create && !mustExist, ...ifMatch, beforeCommit })
      : await vfs.write(path, offset, body, {
        create: create && !mustExist,
        exclusive,
        ...ifMatch,
        beforeCommit,
      });
  } catch (error) {
    throw raced(recheck.reason(error), exclusive, ifMatch, mustExist);
  }
  return c.body(null, 204, validatorHeaders(stat));
}

/**
 * `If-Match: *`: the file must still exist when the write commits, so the write does not
 * create it (RFC 9110 13.1.1: false without a current representation). Before, it was
 * judged only up front, and a file deleted meanwhile was created anew: 201.
 */
function existing(conditions: ConditionalHeaders): boolean {
  return conditions.ifMatch?.trim() === "*";
}

/** A failure caused by losing a precondition race is a 412, not the errno behind it. */
function raced(error: unknown, exclusive: boolean, ifMatch: object, mustExist = false): unknown {
  if (exclusive && isFsError(error, "EEXIST")) {
    return preconditionFailed("If-None-Match failed: the resource exists", "EEXIST");
  }
  if (("ifMatch" in ifMatch || mustExist) && isFsError(error, "ESTALE", "ENOENT")) {
    return preconditionFailed("If-Match failed: the resource changed", "ESTALE");
  }
  return error;
}

async function deleteFs(c: Context, vfs: Vfs): Promise<Response> {
  const path = await namedPathOf(c, vfs);
  const recursive = queryFlag(c, "recursive");
  if (path === "/") throw new FsError("EBUSY", "Cannot remove the root", { path });
  // Without conditions a missing target is 404, so a precondition cannot turn it into 412.
  const stat = await vfs.lookup(path);
  const conditions = conditionalHeaders(c.req.raw.headers);
  evaluatePreconditions(conditions, stat, false);
  const locks = { membership: true, tree: true };
  await checkLocks(c, vfs, path, locks);
  if (stat.type !== "directory") {
    // The preconditions again in the CAS that unlinks: a version written since is kept.
    const expect = commitCheck(conditions);
    await vfs.unlink(path, expect ? { expect } : {}).catch((error) => {
      if (expect && isFsError(error, "ESTALE", "ENOENT")) {
        throw preconditionFailed("Precondition failed: the resource changed meanwhile", "ESTALE");
      }
      throw error;
    });
  } else if (recursive) {
    // A tree takes many steps: a lock taken meanwhile stops the rest.
    // Afresh before each member: a lock taken during the walk stops the rest.
    const recheck = new Recheck(() => vfs.fresh(() => checkLocks(c, vfs, path, locks)));
    try {
      await vfs.removeTree(path, { stopOnError: true, beforeEach: recheck.beforeCommit });
    } catch (error) {
      throw recheck.reason(error);
    }
  } else await vfs.rmdir(path);
  // The path is unmapped: its locks (and those below) go with it, as WebDAV's DELETE does
  // (RFC 4918 section 6.1: a lock whose root becomes unmapped is deleted by that request).
  await vfs.locks.release(path, { alias: lockAlias(c, vfs, path) });
  return c.body(null, 204);
}
