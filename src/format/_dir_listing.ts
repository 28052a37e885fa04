/**
 * The entries of a sharded directory for a listing in name order (`Directories.list`,
 * dir.ts), read shard by shard, 8 at a time, each entry that carries more than 1 KiB of
 * xattrs copied without them.
 *
 * A sorted listing keeps its entries while a request pages through it (and for the next
 * listing of the same versions). Entries carry up to 128 KiB of xattrs each, so a listing
 * held the folder's whole JSON however it was sharded: 754 MiB of RSS for the HTTP
 * listing of 4,096 files of 120 KiB dead properties (docs/architecture.md, memory), though
 * it shows no xattr. A listing that shows them (a PROPFIND with dead properties) reads the
 * shards in hash order instead (`_dir_hash_page.ts`); one in name order that must (a page
 * after a name cursor) looks each such entry up.
 *
 * A copy without its xattrs must never be written back: the xattrs would be lost. Each is
 * remembered ({@linkcode isSlim}), and a draft refuses one (`entryDraft` in
 * `_dir_entries.ts`). Entries of a rename in flight (`moving`), which whoever lists them
 * settles, are never copied.
 *
 * @module
 */

import type { MetaStore, ReadOptions } from "./cas.ts";
import { checkShard, type Entry, freezeEntry, type ShardObject } from "./meta.ts";

/** Xattrs (names and base64 values) an entry keeps in a listing; one with more is copied. */
const KEPT_XATTR_BYTES = 1024;

const slim = new WeakSet<object>();

/** Whether `entry` is a listing's copy of an entry without its xattrs (never to be written). */
export function isSlim(entry: object): boolean {
  return slim.has(entry);
}

/** `entry`, or a frozen copy of it without its xattrs when they are more than 1 KiB. */
function slimOf(entry: Entry): Entry {
  if ((entry.t !== "f" && entry.t !== "l") || !entry.xattr || entry.moving) return entry;
  let bytes = 0;
  for (const name in entry.xattr) bytes += name.length + entry.xattr[name]!.length;
  if (bytes <= KEPT_XATTR_BYTES) return entry;
  const { xattr: _, ...rest } = entry;
  const copy = Object.freeze(rest) as Entry;
  slim.add(copy);
  return copy;
}

/**
 * The entries of the shards at `keys` (frozen, see `Directories.list`) and the ETags of the
 * versions they came from; `{ known }` when `known` gives a listing for those versions
 * (the listing kept from before: no entry is walked); null when a shard is gone (split
 * since the table was read).
 *
 * The versions are read first, one shard at a time, keeping only their ETags, and the
 * entries only when they are not known: a repeated PROPFIND of 10,000 entries otherwise
 * walked and froze every entry before it found its kept listing (twice the time, session 19).
 */
export async function shardedEntries<T>(
  meta: MetaStore,
  keys: readonly string[],
  options: ReadOptions,
  known: (etags: readonly string[]) => T | null,
): Promise<{ known: T } | { etags: string[]; entries: [string, Entry][] } | null> {
  const versions = await eachShard(meta, keys, options, () => {});
  const kept = versions && known(versions);
  if (kept) return { known: kept };
  if (!versions) return null;
  const entries: [string, Entry][] = [];
  // The versions this request has just read (no S3 request), or newer ones outside one.
  const etags = await eachShard(meta, keys, { ...options, recent: true }, (shard) => {
    for (const [name, entry] of Object.entries(shard.entries)) {
      entries.push([name, slimOf(freezeEntry(entry))]);
    }
  });
  return etags && { etags, entries };
}

/**
 * Reads the shards at `keys`, 8 at a time, passing each to `each` (and keeping none);
 * returns their ETags in order, or null when one is gone.
 */
async function eachShard(
  meta: MetaStore,
  keys: readonly string[],
  options: ReadOptions,
  each: (shard: ShardObject) => void,
): Promise<string[] | null> {
  const etags: string[] = new Array(keys.length).fill("");
  let missing = false;
  let next = 0;
  const worker = async () => {
    while (next < keys.length && !missing) {
      const i = next++;
      const shard = await meta.read<ShardObject>(keys[i]!, checkShard, options);
      if (!shard) {
        missing = true;
        return;
      }
      etags[i] = shard.etag;
      each(shard.value);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, keys.length) }, worker));
  return missing ? null : etags;
}
