/**
 * Where a name held nowhere goes in an age-sharded directory (docs/format.md, "Age shards"):
 * the open shard, but for the few names that a closed shard may take. A closed shard takes
 * no new name but one its Bloom filter passes already and that its hash admits (1 in 64,
 * {@linkcode admits}), so its filter stays true (fsck: "a name a filter misses is damage")
 * and a lookup finds the name where it reads anyway. That is what keeps `renameAside` one
 * CAS over a name in a closed shard: the aside and staging names are drawn until one lands
 * there (`nameBeside`, about 6,400 hashes), where it replaces the destination and keeps it
 * aside in one commit; before, those names went to the open shard, and WebDAV fell back to
 * two renames with a moment when the destination was missing.
 *
 * Every writer must place a name alike from any table it may hold, or two could add it to
 * two shards. So the oldest such closed shard takes it, and only one that was never split
 * (a half's filter is new, and may pass a name its parent's did not): the tables of two
 * writers differ only by roll-overs (a shard added after all others) and splits (the shard
 * sealed first); a writer whose choice has since closed (the open shard) or been sealed
 * (a split) is refused there and starts again from the table.
 *
 * @module
 */

import type { AgeTable } from "./meta_types.ts";
import { admits, ADMITTED, mayHold, passRate } from "./_bloom.ts";

/** The id of the shard of `table` a name of hash `hash` held nowhere goes to. */
export function placeOf(table: AgeTable, hash: number): string {
  if (!admits(hash)) return table.open;
  for (const closed of table.closed) {
    if (closed.line === undefined && mayHold(closed, hash)) return closed.id;
  }
  return table.open;
}

/** Whether shard `id` of `table` may take any new name (the open one, or a closed one never split). */
export function takesNew(table: AgeTable, id: string): boolean {
  return id === table.open || table.closed.some((c) => c.id === id && c.line === undefined);
}

/**
 * About the share of new names that {@linkcode placeOf} sends to shard `id` of `table`: what
 * `nameBeside` must draw from to keep a name beside one there. A closed shard closed with a
 * few names has a sparse filter (48 bits at least, 7 probes), which passes 1 name in 10^5
 * or fewer: with 1 in 64 admitted, millions of draws.
 */
export function placeRate(table: AgeTable, id: string): number {
  if (id === table.open) return 1;
  let rate = ADMITTED;
  for (const closed of table.closed) {
    if (closed.line !== undefined) continue;
    if (closed.id === id) return rate * passRate(closed);
    rate *= 1 - passRate(closed); // an older one it passes takes the name first
  }
  return 0;
}
