/**
 * The removal marks of directories, rmdir's protocol over directory objects: an empty
 * directory is marked as being removed (every object holding its entries, by CAS), so no
 * entry can be added to it; the removal becomes final as a tombstone, by CAS on the object
 * a reopener clears the mark from, so of a stalled removal and a reopen exactly one wins.
 * Used through `Directories` (`dir.ts`).
 *
 * @module
 */

import type { MetaStore } from "./cas.ts";
import { dirKey, shardKey } from "./keys.ts";
import { checkDir, checkShard, type DirObject, type ShardObject } from "./meta.ts";
import { DirectoryGone } from "./_dir_entries.ts";
import { isSharded, shardIdsOf } from "./_dir_ages.ts";

/**
 * Marks directory `ino` as being removed under mark `id` if it is empty, so that no
 * entry can be added to it any more (every object holding its entries is marked by
 * CAS). The mark decides nothing yet: the removal becomes final only by
 * {@linkcode tombstone} under the same id, and until then whoever reopens the
 * directory ({@linkcode unmarkRemoving}) makes that impossible.
 * @returns "marked"; "not-empty" (nothing left marked); "busy" (another removal's
 * mark is on it); "dead" (it is a tombstone already).
 */
export async function markRemoving(
  meta: MetaStore,
  ino: string,
  id: string,
): Promise<"marked" | "not-empty" | "busy" | "dead"> {
  // A sharded directory's own object holds no entries, and a marked directory opens as
  // ENOENT: marking it first and finding a shard non-empty after made every lookup in a
  // directory that was never removed fail meanwhile (an rmdir, or a rename over it, that
  // ends in ENOTEMPTY; protocol fuzz seed 390187 with directory objects of two entries).
  // Its shards are read first; one filled after this is still found by the marks below.
  if (await shardHoldsEntries(meta, ino)) return "not-empty";
  const marked = await meta.updateGrouped<
    DirObject,
    "marked" | "not-empty" | "busy" | "dead"
  >(
    dirKey(ino),
    checkDir,
    (dir) => {
      if (!dir) throw new DirectoryGone(ino);
      if (dir.removed) return { result: "dead" };
      if (dir.removing === id) return { result: "marked" };
      if (dir.removing !== undefined) return { result: "busy" };
      if (!isSharded(dir) && Object.keys(dir.entries ?? {}).length > 0) {
        return { result: "not-empty" };
      }
      dir.removing = id;
      return { value: dir, result: "marked" };
    },
  );
  if (marked !== "marked") return marked;
  try {
    const root = await meta.read<DirObject>(dirKey(ino), checkDir);
    for (const shardId of root ? shardIdsOf(root.value) ?? [] : []) {
      const empty = await meta.updateGrouped<ShardObject, boolean>(
        shardKey(ino, shardId),
        checkShard,
        (shard) => {
          if (!shard || shard.removing === id) return { result: true };
          if (Object.keys(shard.entries).length > 0) return { result: false };
          // A leftover of an earlier mark (its reopener stopped halfway) is replaced.
          shard.removing = id;
          return { value: shard, result: true };
        },
      );
      if (!empty) {
        await unmarkRemoving(meta, ino, id);
        return "not-empty";
      }
    }
    return "marked";
  } catch (error) {
    // Not left closed to new entries by a removal that will not happen.
    await unmarkRemoving(meta, ino, id).catch(() => {});
    throw error;
  }
}

/** Whether a shard of directory `ino` (if sharded) holds an entry, as read now. */
async function shardHoldsEntries(meta: MetaStore, ino: string): Promise<boolean> {
  const root = await meta.read<DirObject>(dirKey(ino), checkDir);
  if (!root || root.value.removed || root.value.removing !== undefined) return false;
  for (const shardId of shardIdsOf(root.value) ?? []) {
    const shard = await meta.read<ShardObject>(shardKey(ino, shardId), checkShard);
    if (shard && Object.keys(shard.value.entries).length > 0) return true;
  }
  return false;
}

/**
 * Makes the removal marked `id` final: the directory object becomes a tombstone, by CAS
 * on the very object a reopener clears the mark from, so of a stalled removal and a
 * reopen exactly one wins. After this the entry naming the directory may go.
 * @returns false if the mark is not (or no longer) `id`: the directory was reopened.
 */
export async function tombstone(meta: MetaStore, ino: string, id: string): Promise<boolean> {
  return await meta.updateGrouped<DirObject, boolean>(dirKey(ino), checkDir, (dir) => {
    if (!dir || dir.removing !== id) return { result: false };
    if (dir.removed) return { result: true };
    dir.removed = true;
    return { value: dir, result: true };
  });
}

/**
 * Reopens directory `ino` if it still carries mark `mark` and is no tombstone: the
 * directory object first (after that the marked removal can never become final), then
 * its shards. A tombstone is never reopened.
 * @returns true if the directory takes entries again under this call.
 */
export async function unmarkRemoving(
  meta: MetaStore,
  ino: string,
  mark: string | number,
): Promise<boolean> {
  const reopened = await meta.updateGrouped<DirObject, boolean>(
    dirKey(ino),
    checkDir,
    (dir) => {
      if (!dir || dir.removing !== mark || dir.removed) return { result: false };
      delete dir.removing;
      return { value: dir, result: true };
    },
  );
  if (!reopened) return false;
  const root = await meta.read<DirObject>(dirKey(ino), checkDir);
  for (const shardId of root ? shardIdsOf(root.value) ?? [] : []) {
    await meta.updateGrouped<ShardObject, void>(shardKey(ino, shardId), checkShard, (s) => {
      if (s?.removing === undefined) return { result: undefined };
      if (s.removing !== mark && s.removing !== true) return { result: undefined };
      delete s.removing;
      return { value: s, result: undefined };
    });
  }
  return true;
}
