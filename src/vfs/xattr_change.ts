/**
 * A change of one record's xattrs, spilled or inline (docs/format.md, "Spilled xattrs"):
 * the protocol setxattr, updatexattrs and removexattr share (`ops/attrs.ts` finds the
 * record). Internal to `src/vfs`.
 *
 * @module
 */

import { claimData } from "../format/gc_pending.ts";
import type { Attr, XattrRef, Xattrs } from "../format/meta.ts";
import { xattrBytes } from "../format/xattr_values.ts";
import type { Ctx } from "./context.ts";
import { FsError } from "./errors.ts";
import { recordXattrs, type XattrHolder } from "./records.ts";
import type { Stat } from "./types.ts";

/** A record whose xattrs a change edits. */
export type XattrRecord = { attr: Attr } & XattrHolder;

/** The record holding a path's attributes, as an xattr change reads and changes it. */
export interface XattrTarget {
  /** Whether its xattrs may spill (a file's or symlink's; a directory's stay in `d/<ino>`). */
  readonly spills: boolean;
  read(): Promise<XattrHolder>;
  update<R>(op: (record: XattrRecord) => R): Promise<R>;
  statOf(record: { attr: Attr }): Stat | null;
}

/** The most names and base64 values one record carries (`setxattr`'s 128 KiB). */
const XATTR_TOTAL_MAX = 128 * 1024;

/** Tries of a change whose record's xattrs keep changing under it, in its turn. */
const XATTR_TRIES = 10;

/** A change started again: its record's xattrs changed since they were read. */
class Restart extends Error {}

function checkTotal(xattr: Xattrs, path: string): void {
  if (xattrBytes(xattr) > XATTR_TOTAL_MAX) {
    throw new FsError("ENOSPC", "No room for more attributes", { path });
  }
}

/** Whether two records hold the same xattrs (the same spilled object, and equal inline). */
function sameXattrs(a: Readonly<XattrHolder>, b: Readonly<XattrHolder>): boolean {
  return a.xattrRef?.id === b.xattrRef?.id &&
    JSON.stringify(a.xattr ?? {}) === JSON.stringify(b.xattr ?? {});
}

/**
 * Changes the xattrs of `path`: `change` edits the whole set (names and base64 values) in
 * place, or throws before changing anything. A file's or symlink's set of more than
 * `ctx.xattrSpillBytes` (1 KiB) is spilled: its values are written to a new `x/<id>`
 * before the CAS that names it (data before metadata; a CAS that fails leaves the object
 * to GC), and the record keeps only the names and the reference. A set that stays inline
 * is changed inside the CAS as before, so concurrent changes of small xattrs merge; a
 * change that reads or writes spilled values holds only if the record still has the
 * xattrs it read, else it is made again from a fresh read, in turn with the others of
 * this instance that met the same (a group commit lands one of them: all at once, 16
 * concurrent changes of one file took 16 rounds), at most `XATTR_TRIES` times (EAGAIN).
 */
export async function changeXattrs<R>(
  ctx: Ctx,
  path: string,
  options: {
    readonly again: boolean;
    readonly target: () => Promise<XattrTarget>;
    readonly change: (xattr: Xattrs) => void;
    readonly answer: (record: XattrRecord, statOf: XattrTarget["statOf"]) => R;
  },
): Promise<R> {
  try {
    return await attempt(ctx, path, options, options.again);
  } catch (error) {
    if (!(error instanceof Restart)) throw error;
  }
  return await inTurn(ctx, path, async () => {
    for (let tries = 1;; tries++) {
      try {
        return await attempt(ctx, path, options, true);
      } catch (error) {
        if (!(error instanceof Restart)) throw error;
        if (tries >= XATTR_TRIES) {
          throw new FsError("EAGAIN", "Attributes changed too often during the change", { path });
        }
      }
    }
  });
}

/** One try of {@linkcode changeXattrs}; `fresh` reads afresh (a new request scope). */
async function attempt<R>(
  ctx: Ctx,
  path: string,
  { target, change, answer }: Parameters<typeof changeXattrs<R>>[2],
  fresh: boolean,
): Promise<R> {
  const at = await (fresh ? ctx.meta.inNewScope(target) : target());
  if (!at.spills) {
    // A directory's own xattrs, inline in its object: changed inside the CAS.
    return await at.update((record) => {
      const xattr: Xattrs = { ...record.xattr };
      change(xattr);
      checkTotal(xattr, path);
      if (Object.keys(xattr).length > 0) record.xattr = xattr;
      else delete record.xattr;
      record.attr.ctime = ctx.now();
      return answer(record, (r) => at.statOf(r));
    });
  }
  const seen = await (fresh ? ctx.meta.inNewScope(() => at.read()) : at.read());
  const started = ctx.now();
  const next: Xattrs = { ...await recordXattrs(ctx, seen) };
  change(next);
  checkTotal(next, path);
  const spill = xattrBytes(next) > ctx.xattrSpillBytes ? await ctx.xattrs.put(next) : null;
  // A change this late may meet GC: its new object must not be reclaimed under it.
  if (spill && ctx.now() - started >= ctx.claimAfterMs) {
    if (!await claimData(ctx.meta, { segments: [], maps: [], xattrs: [spill.id] })) {
      const message = "The xattr change stalled so long that its values were reclaimed";
      throw new FsError("EIO", message, { path });
    }
  }
  return await at.update((record) => {
    let result: Xattrs | XattrRef = spill ?? next;
    if (!sameXattrs(record, seen)) {
      // Inline before and after: made again on what the record holds now.
      if (record.xattrRef || seen.xattrRef || spill) throw new Restart();
      const xattr: Xattrs = { ...record.xattr };
      change(xattr);
      checkTotal(xattr, path);
      if (xattrBytes(xattr) > ctx.xattrSpillBytes) throw new Restart();
      result = xattr;
    }
    delete record.xattr;
    delete record.xattrRef;
    if (result === spill) record.xattrRef = spill;
    else if (Object.keys(result).length > 0) record.xattr = result as Xattrs;
    record.attr.ctime = ctx.now();
    return answer(record, (r) => at.statOf(r));
  });
}

/** Runs `fn` after every earlier one of this instance for `path` has settled. */
async function inTurn<R>(ctx: Ctx, path: string, fn: () => Promise<R>): Promise<R> {
  const before = ctx.xattrTurns.get(path) ?? Promise.resolve();
  const mine = before.then(fn);
  const settled = mine.then(() => {}, () => {});
  ctx.xattrTurns.set(path, settled);
  try {
    return await mine;
  } finally {
    if (ctx.xattrTurns.get(path) === settled) ctx.xattrTurns.delete(path);
  }
}
