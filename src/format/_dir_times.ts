/**
 * When a sharded directory's entries last changed, from its shards (`Directories.attrOf`,
 * dir.ts): each shard records the time of its last change of entries (docs/format.md,
 * "Directories").
 *
 * @module
 */

import type { MetaStore, ReadOptions } from "./cas.ts";
import { checkShard, type ShardObject } from "./meta.ts";

/**
 * The latest `mtime` of the shards at `keys`, and whether one of them is gone (split since
 * the table was read). Read 8 at a time, keeping only the times: a stat of a folder held
 * every shard it read until it had read them all (`readMany`), all of its JSON at once,
 * which for a folder of 4,096 files of 120 KiB dead properties was 480 MiB for the stat
 * each PROPFIND of it makes.
 */
export async function shardTimes(
  meta: MetaStore,
  keys: readonly string[],
  options: ReadOptions,
): Promise<{ latest: number; missing: boolean }> {
  let latest = 0;
  let missing = false;
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const shard = await meta.read<ShardObject>(keys[next++]!, checkShard, options);
      if (shard) latest = Math.max(latest, shard.value.mtime ?? 0);
      else missing = true;
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, keys.length) }, worker));
  return { latest, missing };
}
