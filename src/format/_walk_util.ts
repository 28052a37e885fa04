/**
 * Small helpers of the walk and of the runs over the bucket that use it (fsck, GC):
 * listing every object under a prefix, and running over items a few at a time.
 *
 * @module
 */

import type { ObjectInfo, ObjectStore } from "../store/types.ts";
import type { MetaStore } from "./cas.ts";
import { dirKey, shardKey } from "./keys.ts";
import { checkShard, type DirObject, type ShardObject } from "./meta.ts";
import { shardIdsOf } from "./_dir_ages.ts";

/**
 * The objects of directory `ino` (`object`, its `d/<ino>`) that hold entries and the
 * records written with them: the object itself and each of its shards still there, as the
 * walk read them (fsck's checks of `applied` and `released` records), hash or age shards.
 */
export async function holdersOf(
  meta: MetaStore,
  ino: string,
  object: DirObject,
): Promise<{ key: string; value: object }[]> {
  const holders: { key: string; value: object }[] = [{ key: dirKey(ino), value: object }];
  for (const id of shardIdsOf(object) ?? []) {
    const key = shardKey(ino, id);
    const shard = await meta.read<ShardObject>(key, checkShard, { cached: true })
      .catch(() => null);
    if (shard) holders.push({ key, value: shard.value });
  }
  return holders;
}

/** Every object under `prefix`, page by page. */
export async function* listAll(store: ObjectStore, prefix?: string): AsyncGenerator<ObjectInfo> {
  let cursor: string | null = null;
  do {
    const page = await store.list({
      ...(prefix === undefined ? {} : { prefix }),
      ...(cursor === null ? {} : { cursor }),
    });
    yield* page.objects;
    cursor = page.cursor;
  } while (cursor !== null);
}

/** Runs `fn` over `items` with at most `width` at a time. */
export async function forEachLimit<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}
