/**
 * readdir: a page of a directory's entries after a cursor, each with its attributes, and
 * a version of the page for the front ends' rendered-listing caches. Internal to `src/vfs`.
 *
 * @module
 */

import { applyMove } from "../../format/rename_intent.ts";
import { type HashPosition, isSharded, isSlim, UnknownPosition } from "../../format/dir.ts";
import type { DirObject, Entry, FileEntry, InodeObject, SymlinkEntry } from "../../format/meta.ts";
import { compareKeys } from "../../store/_util.ts";
import { StoreError } from "../../store/types.ts";
import { type Ctx, dirStatOf, inlineStat, inodeStat } from "../context.ts";
import { splitPath } from "../path.ts";
import { FsError } from "../errors.ts";
import { decodeXattrs, recordXattrs } from "../records.ts";
import { refBytes } from "../../format/xattr_values.ts";
import { checkScope, openDir, resolveDir } from "../resolve.ts";
import type { DirEntryInfo, ReaddirPage } from "../types.ts";
import { confirmDir, rememberMembers } from "../within.ts";

/**
 * The xattrs (names and base64 values, as stored) of one page of a listing with xattrs, at
 * most (a page has one entry at least; see {@linkcode xattrBytes}): each is decoded, and a
 * PROPFIND renders each page whole before it sends it.
 */
export const XATTR_PAGE_BYTES = 8 << 20;

/**
 * How a cursor of a page in hash order begins: `/h/<hash, 8 hex>/<name>`, or in an
 * age-sharded directory `/h/<hash, 8 hex>.<line>/<name>` (`HashPosition`). No name holds a
 * `/`, so no cursor of a page in name order (a name) looks like one.
 */
const HASH_CURSOR = "/h/";

/** The most xattrs one file or directory carries (names and base64 values, `setxattr`). */
const XATTR_MAX_BYTES = 128 << 10;

/**
 * Lists a directory after `cursor`, with each entry's attributes. A listing with `xattrs`
 * of a sharded directory comes in order of name hash (`Directories.pageByHash`): its
 * pages read the shards one at a time and hold at most {@linkcode XATTR_PAGE_BYTES} of
 * xattrs, where a sorted listing decoded and kept every entry of every shard (a folder of
 * 4,096 files of 120 KiB dead properties: 1.8 GiB for a PROPFIND allprop, 418 MiB now).
 * Any other listing is in name order, its cursor a name. With `dir`, the directory of that
 * inode, `path` not resolved (a tree removal's walk: within.ts).
 */
export async function readdir(
  ctx: Ctx,
  path: string,
  options: { cursor?: string; limit?: number; xattrs?: boolean; dir?: string } = {},
): Promise<ReaddirPage> {
  const confirmed = options.dir === undefined
    ? null
    : await confirmDir(ctx, options.dir, path, true);
  const dir = confirmed?.dir ?? await resolved(ctx, path);
  const limit = Math.max(1, Math.min(options.limit ?? 10_000, 100_000));
  const xattrs = options.xattrs ?? false;
  const cursor = options.cursor;
  // The index objects as validated since the request began (a listing's later pages, in
  // one request, read none of them again); a walk's afresh, as its epoch was read.
  const listed = () => ctx.dirs.list(dir, { recent: confirmed === null });
  if (
    xattrs && isSharded(dir) &&
    (cursor === undefined ? holdsSlim(await listed()) : cursor.startsWith(HASH_CURSOR))
  ) {
    return await byHash(ctx, { dir, path, limit }, cursor);
  }
  let all = await listed();
  if (all.some(([, e]) => e.moving)) {
    for (const [name, entry] of all) if (entry.moving) await applyMove(ctx, dir.ino, name, entry);
    all = await ctx.dirs.list(await openDir(ctx, dir.ino, path));
  }
  const start = cursor === undefined ? 0 : firstAfter(all, cursor);
  let page = start < 0 ? [] : all.slice(start, start + limit);
  // Cut at 8 MiB of xattrs as pages in hash order are: an unsharded folder is one object
  // of at most 4 MiB, which its sorted listing keeps between pages (its xattrs then come
  // from subfolders and hard links).
  if (xattrs) page = withinXattrBytes(page);
  if (confirmed) rememberMembers(ctx, confirmed, page);
  // A listing in name order holds entries with large xattrs without them (`isSlim`): one
  // that must show them (a page after a name cursor, begun before the folder was sharded)
  // looks each such entry up.
  const whole = (name: string) => ctx.dirs.lookup(dir, name, { recent: true });
  const { entries, tags } = await infosOf(ctx, page, { xattrs, whole });
  const more = start >= 0 && start + page.length < all.length;
  const version = `${listingId(all)}:${start}:${limit}:${xattrs ? 1 : 0}|${tags}`;
  return { entries, cursor: more ? page[page.length - 1]![0] : null, version };
}

/** Whether each sorted listing holds entries kept without their xattrs (`isSlim`). */
const slimIn = new WeakMap<object, boolean>();

/**
 * Whether sorted listing `all` holds an entry kept without its xattrs (more than 1 KiB):
 * only then does a listing with xattrs of a sharded folder go in hash order. Otherwise the
 * kept sorted listing serves it: a PROPFIND asking for `displayname` (rclone's, Windows')
 * counts as one with dead properties, and in hash order each repeated PROPFIND of 10,000
 * entries read and walked every shard again (0.02 s took 0.04-0.05 s, session 19).
 */
function holdsSlim(all: readonly (readonly [string, Entry])[]): boolean {
  let slim = slimIn.get(all);
  if (slim === undefined) {
    slim = all.some(([, entry]) => isSlim(entry));
    slimIn.set(all, slim);
  }
  return slim;
}

/** A page of sharded directory `dir` with xattrs, in hash order (see {@linkcode readdir}). */
async function byHash(
  ctx: Ctx,
  at: { dir: DirObject; path: string; limit: number },
  cursor: string | undefined,
): Promise<ReaddirPage> {
  const from = cursor === undefined ? null : hashPosition(cursor, at.path);
  const options = { limit: at.limit, maxBytes: XATTR_PAGE_BYTES, bytesOf: xattrBytes };
  // A cursor of a line the table does not have (forged, or of another layout).
  const refused = (error: unknown): never => {
    if (!(error instanceof UnknownPosition)) throw error;
    throw new FsError("EINVAL", "Malformed listing cursor", { path: at.path });
  };
  let page = await ctx.dirs.pageByHash(at.dir, from, { ...options, read: { recent: true } })
    .catch(refused);
  if (page.entries.some(([, e]) => e.moving)) {
    for (const [name, entry] of page.entries) {
      if (entry.moving) await applyMove(ctx, at.dir.ino, name, entry);
    }
    const dir = await openDir(ctx, at.dir.ino, at.path);
    page = isSharded(dir)
      ? await ctx.dirs.pageByHash(dir, from, { ...options, read: {} }).catch(refused)
      : { entries: [], next: null, etags: [] };
  }
  const { entries, tags } = await infosOf(ctx, page.entries, { xattrs: true });
  const line = page.next?.line === undefined ? "" : `.${page.next.line}`;
  const next = page.next &&
    `${HASH_CURSOR}${page.next.hash.toString(16).padStart(8, "0")}${line}/${page.next.name}`;
  const version = `h:${page.etags.join(",")}:${cursor ?? ""}:${at.limit}|${tags}`;
  return { entries, cursor: next, version };
}

/** The position a hash-order cursor names. */
function hashPosition(cursor: string, path: string): HashPosition {
  const match = /^\/h\/([0-9a-f]{8})(?:\.([0-9A-Za-z_-]+))?\/(.+)$/s.exec(cursor);
  if (!match) throw new FsError("EINVAL", "Malformed listing cursor", { path });
  const line = match[2] === undefined ? {} : { line: match[2] };
  return { hash: parseInt(match[1]!, 16), name: match[3]!, ...line };
}

/**
 * The xattrs of an entry in a page, as stored (names and base64 values): a file's or a
 * symlink's own; a directory's or hard-linked file's are in their own objects, not read
 * yet, so they count as the most one may carry (`setxattr`'s 128 KiB): 5,000 hard links
 * to one file bring its xattrs 5,000 times. So does an entry a listing holds without its
 * xattrs (`isSlim`), looked up whole for the page.
 */
function xattrBytes(entry: Entry): number {
  if ((entry.t !== "f" && entry.t !== "l") || isSlim(entry)) return XATTR_MAX_BYTES;
  // Spilled: counted by the lengths the entry names, four times: each is read for the
  // page (`infosOf`), inflated, parsed and decoded, four copies that live as long as the
  // page. At 8 MiB of them a page, a listing of 10,000 files of 120 KiB grew a server's
  // peak by 71 MiB (in-process) and a PROPFIND's to 400 MiB; at 2 MiB, by 46.
  let bytes = entry.xattrRef ? SPILLED_WEIGHT * refBytes(entry.xattrRef) : 0;
  for (const name in entry.xattr) bytes += name.length + entry.xattr[name]!.length;
  return bytes;
}

/** The start of `page` whose xattrs fit {@linkcode XATTR_PAGE_BYTES} (one entry at least). */
function withinXattrBytes<T extends readonly [string, Entry]>(page: T[]): T[] {
  let bytes = 0;
  for (let i = 0; i < page.length; i++) {
    bytes += xattrBytes(page[i]![1]);
    if (bytes > XATTR_PAGE_BYTES && i > 0) return page.slice(0, i);
  }
  return page;
}

/**
 * An entry whose object went meanwhile (removed, replaced) is left out of a page; but a
 * store that failed to answer says nothing of it, and the listing fails with it. Before, a
 * failed read left the entry out too, and a listing answered 200 without a directory or a
 * hard-linked file that was there all along (protocol fuzz seed 390054 under store faults).
 * So do spilled xattrs missing or corrupt (`recordXattrs`' EIO, as for a file's own
 * entry): before, a hard-linked file whose `x/<id>` was lost was left out of a PROPFIND
 * allprop, 207 without the file (tests/xattr_spill_review_test.ts).
 */
function unlessStoreFailed(error: unknown): void {
  if (error instanceof StoreError) throw error;
  if (error instanceof FsError && error.code === "EIO") throw error;
}

/**
 * What a page says of its entries, and the versions of what was read for them. Files and
 * symlinks carry their attributes in the entry: no promise each. Directories and
 * hard-linked files are read (once, for stat and xattrs alike), their versions noted.
 */
async function infosOf(
  ctx: Ctx,
  page: readonly (readonly [string, Entry])[],
  { xattrs, whole }: { xattrs: boolean; whole?: (name: string) => Promise<Entry | null> },
): Promise<{ entries: DirEntryInfo[]; tags: string }> {
  const slots: (DirEntryInfo | null)[] = new Array(page.length).fill(null);
  const tags: string[] = [];
  const reads: Promise<void>[] = [];
  const values = limiter(SPILLED_READS);
  for (let i = 0; i < page.length; i++) {
    const [name, entry] = page[i]!;
    const slim = (entry.t === "f" || entry.t === "l") && xattrs && whole && isSlim(entry);
    if (slim) {
      reads.push(
        (async () => {
          const found = await whole(name);
          if (found?.t !== "f" && found?.t !== "l") return;
          // Spilled too (inline ones beside a reference: an instance from before wrote
          // them): before, read by its reference alone, the inline values were missing.
          if (!found.xattrRef) slots[i] = inlineInfo([name, found], found, true);
          else await values(() => spilledInfo(ctx, slots, i, name, found));
        })().catch(unlessStoreFailed),
      );
      continue;
    }
    if ((entry.t === "f" || entry.t === "l") && xattrs && entry.xattrRef) {
      // Spilled values, read for this page only, a few at a time (a page holds at most
      // XATTR_PAGE_BYTES of them) and not kept with the listing: a missing object fails
      // the listing (EIO), as a missing page map fails a read.
      reads.push(values(() => spilledInfo(ctx, slots, i, name, entry)));
      continue;
    }
    if (entry.t === "f" || entry.t === "l") {
      slots[i] = inlineInfo(page[i]!, entry, xattrs);
      continue;
    }
    reads.push(
      (async () => {
        const found = entry.t === "d"
          ? await ctx.dirs.get(entry.ino, { recent: true })
          : await ctx.inodes.get(entry.ino);
        if (!found) return;
        const value: DirObject | InodeObject = found.value;
        const stat = "nlink" in value ? inodeStat(value) : await dirStatOf(ctx, value);
        // A sharded directory's times come from its shards too: they are part of the version.
        tags.push(`${i}=${found.etag}/${stat.mtime}/${stat.ctime}`);
        slots[i] = xattrs
          ? { name, stat, xattrs: decodeXattrs(await recordXattrs(ctx, value, { keep: false })) }
          : { name, stat };
      })().catch(unlessStoreFailed),
    );
  }
  await Promise.all(reads);
  const entries = slots.filter((e): e is DirEntryInfo => e !== null);
  return { entries, tags: tags.sort().join(",") };
}

/**
 * What a listing says of a file or symlink, kept per `[name, entry]` pair of a sorted listing
 * (frozen, so is the entry): concurrent listings of one directory version then share these
 * objects (and their stats) instead of each making its own, which for 100 listings of
 * 10,000 entries was a million objects.
 */
const inlineInfos = new WeakMap<object, DirEntryInfo>();
const inlineInfosX = new WeakMap<object, DirEntryInfo>();

function inlineInfo(
  pair: readonly [string, unknown],
  entry: FileEntry | SymlinkEntry,
  xattrs: boolean,
): DirEntryInfo {
  const name = pair[0];
  const kept = (xattrs ? inlineInfosX : inlineInfos).get(pair);
  if (kept) return kept;
  const stat = inlineStat(entry);
  const info: DirEntryInfo = xattrs
    ? { name, stat, xattrs: Object.freeze(decodeXattrs(entry.xattr ?? {})) }
    : { name, stat };
  if (Object.isFrozen(entry)) (xattrs ? inlineInfosX : inlineInfos).set(pair, Object.freeze(info));
  return info;
}

/** Fills `slots[i]` with what a page says of `entry`, its spilled xattrs read (not kept). */
async function spilledInfo(
  ctx: Ctx,
  slots: (DirEntryInfo | null)[],
  i: number,
  name: string,
  entry: FileEntry | SymlinkEntry,
): Promise<void> {
  const decoded = decodeXattrs(await recordXattrs(ctx, entry, { keep: false }));
  slots[i] = { name, stat: inlineStat(entry), xattrs: decoded };
}

/** How many times a spilled value counts against {@linkcode XATTR_PAGE_BYTES}. */
const SPILLED_WEIGHT = 4;

/** Spilled xattr objects one page of a listing reads at once. */
const SPILLED_READS = 8;

/** Runs the tasks given to it at most `max` at a time. */
function limiter(max: number): (task: () => Promise<void>) => Promise<void> {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async (task) => {
    while (running >= max) await new Promise<void>((resolve) => waiting.push(resolve));
    running++;
    try {
      await task();
    } finally {
      running--;
      waiting.shift()?.();
    }
  };
}

/** Ids of sorted listings (each a frozen array kept per directory version; see dir.ts). */
const listingIds = new WeakMap<object, number>();
let lastListingId = 0;

/** A number naming this very listing array, so the objects it was made of, in this process. */
function listingId(all: readonly unknown[]): number {
  let id = listingIds.get(all);
  if (id === undefined) listingIds.set(all, id = ++lastListingId);
  return id;
}

/** Index of the first name after `cursor` in a sorted listing (binary search), or -1. */
function firstAfter(all: readonly (readonly [string, unknown])[], cursor: string): number {
  let lo = 0;
  let hi = all.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(all[mid]![0], cursor) > 0) hi = mid;
    else lo = mid + 1;
  }
  return lo < all.length ? lo : -1;
}

async function resolved(ctx: Ctx, path: string): Promise<DirObject> {
  const names = splitPath(path);
  checkScope(ctx, names, path);
  return (await resolveDir(ctx, names, path)).dir;
}
