/**
 * Age shards, the reading side: the shard table of an age-sharded directory
 * (`DirObject.ages`), where a name lives, and which shard objects a directory has. New
 * names go only to the directory's one open shard; a full one is closed (its Bloom filter
 * of names goes into the table) and never takes a new name again, so every name lives in
 * exactly one object: the closed shard whose filter passes it and which holds it, else the
 * open one. See docs/format.md, "Age shards". Used through `Directories` (`dir.ts`), fsck
 * and GC's walk.
 *
 * @module
 */

import type { MetaStore, ReadOptions, Versioned } from "./cas.ts";
import { shardKey } from "./keys.ts";
import {
  type AgeTable,
  checkShard,
  type ClosedShardRef,
  type DirObject,
  type ShardObject,
} from "./meta.ts";
import { buildFilter, mayHold } from "./_bloom.ts";
import { entryOf } from "./_entries_delta.ts";
import { nameHash } from "./_dir_entries.ts";
import { appliedOf } from "./_dir_applied.ts";
import { releasedOf } from "./_dir_released.ts";
import { placeOf } from "./_dir_place.ts";

/** The records an object keeps of names it removed: applied renames, released links. */
function recordsOf(shard: object): { name: string }[] {
  return [...appliedOf(shard), ...releasedOf(shard)];
}

/**
 * The ids of every shard object of directory `dir` (hash or age shards, the open one last),
 * or null when its entries are in its own object.
 */
export function shardIdsOf(dir: DirObject): string[] | null {
  if (dir.ages) return [...dir.ages.closed.map((c) => c.id), dir.ages.open];
  return dir.shards ? dir.shards.map((s) => s.id) : null;
}

/** Whether directory `dir` keeps its entries in shard objects (of either kind). */
export function isSharded(dir: DirObject): boolean {
  return dir.shards !== undefined || dir.ages !== undefined;
}

/** The closed shards of `table` whose filters pass `name`, newest first. */
export function closedCandidates(table: AgeTable, name: string): ClosedShardRef[] {
  const hash = nameHash(name);
  return table.closed.filter((c) => mayHold(c, hash)).reverse();
}

/** A table entry for closed shard `id` holding `names`: its filter of them. */
export function closedRef(id: string, names: Iterable<string>): ClosedShardRef {
  const hashes: number[] = [];
  for (const name of names) hashes.push(nameHash(name));
  return { id, ...buildFilter(hashes) };
}

/** The shard an age-sharded directory's name lives in, as read. */
export interface AgeHolder {
  readonly id: string;
  readonly key: string;
  readonly shard: Versioned<ShardObject>;
  /** Whether it is the table's open shard (the name may be absent from it). */
  readonly open: boolean;
  /**
   * Another (closed) shard that keeps a record of the name's removal: a rename applied for
   * its renamer (`_dir_applied.ts`) or a released link's proof (`_dir_released.ts`).
   */
  readonly record?: string;
}

/**
 * Where `name` lives in age-sharded directory `dir`: the closed shard that holds it (only
 * those whose filters pass it are read; a false pass costs that GET), else the open shard
 * (the name may be absent there too). Null when a shard of the table is missing (merged
 * or removed since the table was read): read the table again.
 */
export async function locateAged(
  meta: MetaStore,
  dir: DirObject,
  name: string,
  options: ReadOptions = {},
): Promise<AgeHolder | null> {
  const table = dir.ages!;
  const hash = nameHash(name);
  const candidates = closedCandidates(table, name);
  let record: string | undefined;
  let found: AgeHolder | undefined;
  /** The candidates as read (all there: a missing one answers null). */
  const read: Versioned<ShardObject>[] = [];
  if (candidates.length > 0) {
    const keys = candidates.map((c) => shardKey(dir.ino, c.id));
    const shards = await meta.readMany<ShardObject>(keys, checkShard, options);
    for (let [i, shard] of shards.entries()) {
      // A version held from before the shard was closed may lack names it took after: a
      // create that believed it would add the name again in the open shard. Once closed,
      // any version holds every name the shard will ever hold.
      if (shard && !shard.value.closed && options.cached) {
        shard = await meta.read<ShardObject>(keys[i]!, checkShard);
      }
      if (!shard) return null;
      read.push(shard);
      const id = candidates[i]!.id;
      if (!found && entryOf(shard.value, name) !== undefined) {
        found = { id, key: keys[i]!, shard, open: false };
      } else if (!record && recordsOf(shard.value).some((r) => r.name === name)) {
        record = id;
      }
    }
  }
  const withRecord = record ? { record } : {};
  if (found) return { ...found, ...withRecord };
  const key = shardKey(dir.ino, table.open);
  const shard = await meta.read<ShardObject>(key, checkShard, options);
  if (!shard) return null;
  const placed = entryOf(shard.value, name) === undefined ? placeOf(table, hash) : table.open;
  if (placed !== table.open) {
    // Held nowhere, and a closed shard takes it (`_dir_place.ts`): it passes that one's
    // filter, which was read above.
    const i = candidates.findIndex((c) => c.id === placed);
    const at = { id: placed, key: shardKey(dir.ino, placed), shard: read[i]!, open: false };
    return { ...at, ...withRecord };
  }
  return { id: table.open, key, shard, open: true, ...withRecord };
}

/**
 * What is wrong with where age-sharded directory `dir`'s names are (`entries`: each name,
 * and the key of the shard holding it): a name in two objects, or in a closed shard whose
 * filter misses it (a lookup may miss it, and a create add it again in the open shard).
 * For fsck's walk; `path` only names the directory in the details.
 */
export function misplacedNames(
  dir: DirObject,
  entries: readonly (readonly [string, unknown, string])[],
  path: string,
): { key: string; detail: string }[] {
  if (!dir.ages) return [];
  const closed = new Map(dir.ages.closed.map((c) => [shardKey(dir.ino, c.id), c]));
  const seen = new Map<string, string>();
  const found: { key: string; detail: string }[] = [];
  for (const [name, , key] of entries) {
    const other = seen.get(name);
    if (other !== undefined) {
      found.push({
        key,
        detail: `Name "${name}" of "${path}" is in two shards (${other}, ${key})`,
      });
    }
    seen.set(name, key);
    const ref = closed.get(key);
    if (ref && !mayHold(ref, nameHash(name))) {
      const detail = `Name "${name}" of "${path}" is in a closed shard whose filter misses it`;
      found.push({ key, detail });
    }
  }
  return found;
}
