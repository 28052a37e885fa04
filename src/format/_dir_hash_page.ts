/**
 * Pages of a sharded directory in hash order (`Directories.pageByHash`, dir.ts): the
 * listings that carry every entry's xattrs (a WebDAV PROPFIND with dead properties) read
 * its shards one at a time instead of all of them at once.
 *
 * A sorted listing decodes every shard and keeps every entry while it is paged through:
 * its memory is the directory's JSON, and entries carry up to 128 KiB of xattrs each (a
 * folder of 4,096 files of 120 KiB dead properties: a PROPFIND allprop peaked at 2.2 GiB).
 * Shards split on hash bits, so each holds one range of name hashes, and a page in order of
 * (hash, name) reads only the shards its range spans: one at a time, each of at most 4 MiB
 * of JSON (docs/format.md, "Limits"), the page cut at a number of entries or of bytes. A
 * split between two pages leaves every range where it was, so a position (hash, name)
 * goes on where the last page ended whatever the shard table has become.
 *
 * An age-sharded directory (docs/format.md, "Age shards") is paged line by line, each line
 * in hash order: a line is a closed shard as it was closed (or the open shard), whose
 * halves, split for their decoded size, each hold one range of its names' hashes as hash
 * shards do. The table keeps lines in age order, and a roll-over or a split changes none
 * before the last, so a position (line, hash, name) goes on where the last page ended too.
 * Pages over the union of the shards by name hash would read every shard for every page (a
 * folder of 4,096 files of 120 KiB dead properties: about 120 shards of 4 MiB for each of
 * its 60 pages); line by line each shard is read once, or twice where a page ends in it. A
 * name that is removed and created again while a listing goes on may move to the open
 * shard's line, and be listed twice or not at all (as POSIX allows of an entry added or
 * removed during a readdir); every other name is listed once.
 *
 * @module
 */

import { compareKeys } from "../store/_util.ts";
import type { MetaStore, ReadOptions } from "./cas.ts";
import { shardKey } from "./keys.ts";
import { checkShard, type DirObject, type Entry, type ShardObject, type ShardRef } from "./meta.ts";
import { nameHash } from "./_dir_entries.ts";
import { isSharded } from "./_dir_ages.ts";

/**
 * Where a page in hash order ends: the last entry's name and its hash, and in an
 * age-sharded directory its line (see the module's comment).
 */
export interface HashPosition {
  readonly hash: number;
  readonly name: string;
  readonly line?: string;
}

/** A position that names no line of the directory's table, or one where it has lines. */
export class UnknownPosition extends Error {}

/** A page of a sharded directory in order of (name hash, name). */
export interface HashPage {
  readonly entries: [string, Entry][];
  /** Where the next page starts after; null when this one reached the end. */
  readonly next: HashPosition | null;
  /** The ETags of the shards it was read from, in order (what it was made of). */
  readonly etags: readonly string[];
}

/** How a page is read and cut. */
export interface HashPageOptions {
  /** Entries a page holds at most. */
  readonly limit: number;
  /** What a page holds at most by `bytesOf` (a page has one entry at least). */
  readonly maxBytes: number;
  readonly bytesOf: (entry: Entry) => number;
  /** How the shards are read (a request's `recent` versions). */
  readonly read: ReadOptions;
  /** The directory's object afresh, after a split replaced a shard of its table. */
  readonly fresh: (ino: string) => Promise<DirObject | null>;
}

/** The first hash of a shard's range. */
function first(ref: ShardRef): number {
  return ref.depth === 0 ? 0 : ref.bits * 2 ** (32 - ref.depth);
}

/** The shards of `dir` by line (see the module's comment), each line's in hash order. */
function linesOf(dir: DirObject): { line?: string; shards: ShardRef[] }[] {
  const byFirst = (a: ShardRef, b: ShardRef) => first(a) - first(b);
  if (!dir.ages) return [{ shards: [...dir.shards!].sort(byFirst) }];
  const lines = new Map<string, ShardRef[]>();
  for (const c of dir.ages.closed) {
    const line = c.line ?? c.id;
    if (!lines.has(line)) lines.set(line, []);
    lines.get(line)!.push({ id: c.id, bits: c.bits ?? 0, depth: c.depth ?? 0 });
  }
  lines.set(dir.ages.open, [{ id: dir.ages.open, bits: 0, depth: 0 }]);
  return [...lines].map(([line, shards]) => ({ line, shards: shards.sort(byFirst) }));
}

/** The page of sharded directory `dir` after position `from` (null: from the start). */
export async function hashPage(
  meta: MetaStore,
  dir: DirObject,
  from: HashPosition | null,
  options: HashPageOptions,
): Promise<HashPage> {
  for (let attempt = 0;; attempt++) {
    const lines = linesOf(dir);
    const start = from ? lines.findIndex((l) => l.line === from.line) : 0;
    if (start < 0) throw new UnknownPosition(`No line ${from?.line} in directory ${dir.ino}`);
    const entries: [string, Entry][] = [];
    const etags: string[] = [];
    let bytes = 0;
    let gone = false;
    /** The position of the page's last entry. */
    let last: HashPosition | null = null;
    const ordered = lines.slice(start).flatMap(({ line, shards }, i) =>
      shards.map((ref) => ({ line, ref, after: i === 0 ? from : null }))
    );
    for (const { line, ref, after } of ordered) {
      if (after && first(ref) + 2 ** (32 - ref.depth) <= after.hash) continue;
      const key = shardKey(dir.ino, ref.id);
      const shard = await meta.read<ShardObject>(key, checkShard, attempt ? {} : options.read);
      if (!shard) {
        gone = true; // split since the table was read: read the table again
        break;
      }
      etags.push(shard.etag);
      const mine: { hash: number; name: string; entry: Entry }[] = [];
      for (const [name, entry] of Object.entries(shard.value.entries)) {
        const hash = nameHash(name);
        if (
          after &&
          (hash < after.hash || (hash === after.hash && compareKeys(name, after.name) <= 0))
        ) {
          continue;
        }
        mine.push({ hash, name, entry });
      }
      mine.sort((a, b) => a.hash - b.hash || compareKeys(a.name, b.name));
      for (const { hash, name, entry } of mine) {
        const size = options.bytesOf(entry);
        if (
          entries.length >= options.limit || (entries.length > 0 && bytes + size > options.maxBytes)
        ) {
          return { entries, next: last, etags };
        }
        entries.push([name, entry]);
        last = { hash, name, ...(line === undefined ? {} : { line }) };
        bytes += size;
      }
    }
    if (!gone) return { entries, next: null, etags };
    const fresh = await options.fresh(dir.ino);
    if (!fresh || !isSharded(fresh) || attempt > 20) {
      throw new Error(`Directory ${dir.ino} vanished`);
    }
    dir = fresh;
  }
}
