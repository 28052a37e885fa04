// Writes a sharded directory's objects by hand, from a directory filled as usual: an age
// table (docs/format.md "Age shards") whose layout the test chose, to test readers before
// (and whatever) the writers do; and hash shards, which no writer makes any more (a full
// directory becomes age-sharded), to test what still reads and writes those that buckets
// hold.

import { MetaStore } from "../src/format/cas.ts";
import { dirKey, newId, shardKey } from "../src/format/keys.ts";
import { checkDir, type DirObject, type Entry, type ShardObject } from "../src/format/meta.ts";
import { closedRef } from "../src/format/_dir_ages.ts";
import { splitHalves } from "../src/format/_dir_entries.ts";
import { appliedOf, setApplied } from "../src/format/_dir_applied.ts";
import { releasedOf, setReleased } from "../src/format/_dir_released.ts";
import type { ObjectStore } from "../src/store/types.ts";

/** What {@linkcode ageShard} wrote: the shard ids (open last) and their names. */
export interface AgeLayout {
  readonly closed: { id: string; names: string[] }[];
  readonly open: { id: string; names: string[] };
}

/**
 * Turns unsharded directory `ino` in `store` into an age-sharded one: its entries in name
 * order, `perShard` a closed shard, the rest (maybe none) in the open shard. `mtimes` gives
 * each shard's `mtime` (closed ones first), `edit` may change the table before it is written.
 */
export async function ageShard(
  store: ObjectStore,
  ino: string,
  options: { perShard: number; mtimes?: number[]; edit?: (dir: DirObject) => void },
): Promise<AgeLayout> {
  const meta = new MetaStore(store);
  const current = (await meta.read<DirObject>(dirKey(ino), checkDir))!;
  const entries = Object.entries(current.value.entries ?? {}).sort(([a], [b]) => a < b ? -1 : 1);
  const groups: [string, Entry][][] = [];
  for (let i = 0; i + options.perShard <= entries.length; i += options.perShard) {
    groups.push(entries.slice(i, i + options.perShard));
  }
  const rest = entries.slice(groups.length * options.perShard);
  const write = async (group: [string, Entry][], closed: boolean, mtime: number | undefined) => {
    const id = newId();
    const shard: ShardObject = { v: 1, ino, entries: Object.fromEntries(group) };
    if (closed) shard.closed = true;
    if (mtime !== undefined) shard.mtime = mtime;
    if (!await meta.write(shardKey(ino, id), shard, null)) throw new Error("shard exists");
    return { id, names: group.map(([name]) => name) };
  };
  const closed = [];
  for (const [i, group] of groups.entries()) {
    closed.push(await write(group, true, options.mtimes?.[i]));
  }
  const open = await write(rest, false, options.mtimes?.[groups.length]);
  const dir: DirObject = { ...current.value };
  delete dir.entries;
  dir.ages = { closed: closed.map((c) => closedRef(c.id, c.names)), open: open.id };
  options.edit?.(dir);
  if (!await meta.write(dirKey(ino), dir, current)) throw new Error("table changed");
  return { closed, open };
}

/**
 * Turns unsharded directory `ino` in `store` into a hash-sharded one of two shards, as
 * writers before age shards split a full directory (records of applied renames go with
 * their names). Its shards split further as they fill, as before.
 */
export async function hashShard(store: ObjectStore, ino: string): Promise<void> {
  const meta = new MetaStore(store);
  const current = (await meta.read<DirObject>(dirKey(ino), checkDir))!;
  const root = { bits: 0, depth: 0, id: "" };
  const entries = current.value.entries ?? {};
  const halves = splitHalves(
    ino,
    root,
    entries,
    appliedOf(current.value),
    releasedOf(current.value),
  );
  for (const { key, shard } of halves) {
    if (!await meta.write(key, shard, null)) throw new Error("shard exists");
  }
  const dir: DirObject = { ...current.value, shards: halves.map((h) => h.ref) };
  delete dir.entries;
  setApplied(dir, []);
  setReleased(dir, []);
  if (!await meta.write(dirKey(ino), dir, current)) throw new Error("directory changed");
}
