/**
 * readdir: a page of a directory's entries after a cursor, each with its attributes, and
 * a version of the page for the front ends' rendered-listing caches. Internal to `src/vfs`.
 *
 * @module
 */

import { applyMove } from "../../format/rename_intent.ts";
import type { DirObject, FileEntry, InodeObject, SymlinkEntry } from "../../format/meta.ts";
import { compareKeys } from "../../store/_util.ts";
import { type Ctx, dirStatOf, inlineStat, inodeStat } from "../context.ts";
import { splitPath } from "../path.ts";
import { decodeXattrs } from "../records.ts";
import { checkScope, openDir, resolveDir } from "../resolve.ts";
import type { DirEntryInfo, ReaddirPage } from "../types.ts";
import { confirmDir, rememberMembers } from "../within.ts";

/**
 * Lists a directory after `cursor` (a name), with each entry's attributes. With `dir`, the
 * directory of that inode, `path` not resolved (a tree removal's walk: within.ts).
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
  // The index objects as validated since the request began (a listing's later pages, in
  // one request, read none of them again); a walk's afresh, as its epoch was read.
  let all = await ctx.dirs.list(dir, { recent: confirmed === null });
  if (all.some(([, e]) => e.moving)) {
    for (const [name, entry] of all) if (entry.moving) await applyMove(ctx, dir.ino, name, entry);
    all = await ctx.dirs.list(await openDir(ctx, dir.ino, path));
  }
  const cursor = options.cursor;
  const start = cursor === undefined ? 0 : firstAfter(all, cursor);
  const page = start < 0 ? [] : all.slice(start, start + limit);
  if (confirmed) rememberMembers(ctx, confirmed, page);
  const xattrs = options.xattrs ?? false;
  // Files and symlinks carry their attributes in the entry: no promise each. Directories
  // and hard-linked files are read (once, for stat and xattrs alike), their versions noted.
  const slots: (DirEntryInfo | null)[] = new Array(page.length).fill(null);
  const tags: string[] = [];
  const reads: Promise<void>[] = [];
  for (let i = 0; i < page.length; i++) {
    const [name, entry] = page[i]!;
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
        const x = value.xattr ?? {};
        slots[i] = xattrs ? { name, stat, xattrs: decodeXattrs(x) } : { name, stat };
      })().catch(() => {}),
    );
  }
  await Promise.all(reads);
  const entries = slots.filter((e): e is DirEntryInfo => e !== null);
  const more = start >= 0 && start + limit < all.length;
  tags.sort();
  const version = `${listingId(all)}:${start}:${limit}:${xattrs ? 1 : 0}|${tags.join(",")}`;
  return { entries, cursor: more ? page[page.length - 1]![0] : null, version };
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
