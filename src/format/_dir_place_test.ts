import { assert, assertEquals } from "../../tests/_assert.ts";
import { closedRef } from "./_dir_ages.ts";
import { nameHash } from "./_dir_entries.ts";
import { placeOf, takesNew } from "./_dir_place.ts";
import { mayHold } from "./_bloom.ts";
import type { AgeTable, ClosedShardRef } from "./meta_types.ts";

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const ref = (id: string, held: string[]) => closedRef(id, held);

/** A table of `closed` shards of 512 names each and an open one. */
function table(closed: number): AgeTable {
  return {
    closed: Array.from({ length: closed }, (_, i) => ref(`c${i}`, names(`held-${i}-`, 512))),
    open: "open",
  };
}

Deno.test("`placeOf()`: a name held nowhere goes to the open shard, but 1 in about 6,400 per closed shard, to the oldest closed one whose filter passes it", () => {
  const t = table(13);
  const tried = names("new-", 100_000);
  let closed = 0;
  for (const name of tried) {
    const at = placeOf(t, nameHash(name));
    if (at === t.open) continue;
    closed++;
    const oldest = t.closed.find((c) => mayHold(c, nameHash(name)))!;
    assertEquals(at, oldest.id, `${name}: not the oldest that passes it`);
  }
  // 13 filters of about 0.8% false passes, 1 in 64 admitted: about 160 of 100,000.
  assert(closed > 60 && closed < 400, `${closed} of 100,000 in closed shards`);
});

Deno.test("`placeOf()`: tables of two writers place a name alike unless the first one's choice has since closed (roll-over) or been sealed (split)", () => {
  const before = table(6);
  const rolled: AgeTable = {
    closed: [...before.closed, ref("open", names("held-open-", 512))],
    open: "open-2",
  };
  // c2 split in two: halves take no new name, whatever their new filters pass.
  const halves: ClosedShardRef[] = [0, 1].map((bit) => ({
    ...ref(`c2-${bit}`, names(`held-2-${bit}-`, 256)),
    line: "c2",
    bits: bit,
    depth: 1,
  }));
  const split: AgeTable = {
    closed: before.closed.flatMap((c) => c.id === "c2" ? halves : [c]),
    open: "open",
  };
  for (const name of names("x-", 200_000)) {
    const hash = nameHash(name);
    const first = placeOf(before, hash);
    const afterRoll = placeOf(rolled, hash);
    if (first !== "open") assertEquals(afterRoll, first, name);
    const afterSplit = placeOf(split, hash);
    if (first !== "c2") assertEquals(afterSplit, first, name);
    assert(afterSplit !== "c2-0" && afterSplit !== "c2-1", `${name} placed in a half`);
  }
  assert(takesNew(split, "c1") && takesNew(split, "open"));
  assert(!takesNew(split, "c2-0") && !takesNew(split, "c2"));
});
