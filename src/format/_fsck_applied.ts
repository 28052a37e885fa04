/**
 * fsck's view of the records of renames applied on their renamers' behalf (`applied`,
 * `_dir_applied.ts`): a record younger than {@linkcode APPLIED_RECORD_MS} may still be read
 * by its renamer and is left alone (not reported); an older one belongs to a renamer that
 * died (any writer of its object would drop it) and is a warning, which `--repair` drops
 * with a CAS of the object holding it. The age is judged on fsck's clock, which for a
 * repair is the store's, the clock the record's time was written on.
 *
 * @module
 */

import type { MetaStore } from "./cas.ts";
import { parseKey } from "./keys.ts";
import { checkDir, checkShard, type DirObject, type ShardObject } from "./meta.ts";
import {
  aged,
  APPLIED_RECORD_MS,
  appliedOf,
  type AppliedRecord,
  setApplied,
} from "./_dir_applied.ts";
import { type Problem, problem, type Walk } from "./_walk_result.ts";
import { holdersOf } from "./_walk_util.ts";

/**
 * Reports the aged records of the reachable directories' objects and shards (`now`: fsck's
 * clock), each with the repair that drops them.
 */
export async function checkApplied(
  meta: MetaStore,
  tree: Walk,
  { now, add }: { now: number; add: (p: Problem, fix?: () => Promise<boolean>) => void },
): Promise<void> {
  for (const [ino, { path, object }] of tree.dirs) {
    const holders = await holdersOf(meta, ino, object);
    for (const { key, value } of holders) {
      const old = appliedOf(value).filter((r) => aged(r, now));
      if (old.length === 0) continue;
      const detail = `${old.length} record(s) of renames applied for their renamers, ` +
        `older than ${APPLIED_RECORD_MS / 60_000} min: their renamers died (any write of ` +
        `the object drops them)`;
      add(problem("applied-record", detail, { key, path }), () => dropAged(meta, key, old));
    }
  }
}

/** Drops records `old` from the object at `key` (CAS), unless they are gone already. */
async function dropAged(
  meta: MetaStore,
  key: string,
  old: readonly AppliedRecord[],
): Promise<boolean> {
  const check = parseKey(key)?.kind === "shard" ? checkShard : checkDir;
  return await meta.update<DirObject | ShardObject, boolean>(key, check, (found) => {
    if (!found) return { result: false };
    const records = appliedOf(found.value);
    const kept = records.filter((r) => !old.some((o) => o.id === r.id));
    if (kept.length === records.length) return { result: true };
    const value = { ...found.value };
    setApplied(value, kept);
    return { write: value, result: true };
  });
}
