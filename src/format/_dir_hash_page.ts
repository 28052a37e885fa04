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
 * @module
 */

import { compareKeys } from "../store/_util.ts";
import type { MetaStore, ReadOptions } from "./cas.ts";
import { shardKey } from "./keys.ts";
import { checkShard, type DirObject, type Entry, type ShardObject, type ShardRef } from "./meta.ts";
import { nameHash } from "./_dir_entries.ts";

/** Where a page in hash order ends: the last entry's name and its hash. */
export interface HashPosition {
  readonly hash: number;
  readonly name: string;
}

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

/** The page of sharded directory `dir` after position `from` (null: from the start). */
export async function hashPage(
  meta: MetaStore,
  dir: DirObject,
  from: HashPosition | null,
  options: HashPageOptions,
): Promise<HashPage> {
  for (let attempt = 0;; attempt++) {
    const shards = [...dir.shards!].sort((a, b) => first(a) - first(b));
    const entries: [string, Entry][] = [];
    const etags: string[] = [];
    let bytes = 0;
    let gone = false;
    for (const ref of shards) {
      if (from && first(ref) + 2 ** (32 - ref.depth) <= from.hash) continue;
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
          from && (hash < from.hash || (hash === from.hash && compareKeys(name, from.name) <= 0))
        ) {
          continue;
        }
        mine.push({ hash, name, entry });
      }
      mine.sort((a, b) => a.hash - b.hash || compareKeys(a.name, b.name));
      for (const { name, entry } of mine) {
        const size = options.bytesOf(entry);
        if (
          entries.length >= options.limit || (entries.length > 0 && bytes + size > options.maxBytes)
        ) {
          const last = entries.at(-1)![0];
          return { entries, next: { hash: nameHash(last), name: last }, etags };
        }
        entries.push([name, entry]);
        bytes += size;
      }
    }
    if (!gone) return { entries, next: null, etags };
    const fresh = await options.fresh(dir.ino);
    if (!fresh?.shards || attempt > 20) throw new Error(`Directory ${dir.ino} vanished`);
    dir = fresh;
  }
}
