// fsck --repair judges an unreferenced object's age by the store's clock, not only by the
// time in its id: that is its writer's host clock, which may be far behind the store's. A
// page map a writer an hour behind has just put, and is about to name in a commit, looked an
// hour old, and fsck --repair deleted it: the commit then named a missing map.

import { assert, assertEquals } from "./_assert.ts";
import { fsck } from "../src/format/fsck.ts";
import { mapKey, newId, shardKey } from "../src/format/keys.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

Deno.test("fsck --repair keeps a young map and shard of a writer whose clock is an hour behind", async () => {
  let t = 1_800_000_000_000;
  const store = new MemoryStore({ clock: () => t });
  const writer = await Vfs.open(store, { now: () => t - 3600_000 });
  await writer.mkdir("/d");
  // What the writer has just put and not yet named: ids carry its clock.
  const map = mapKey(newId(t - 3600_000));
  const shard = shardKey("0123456789abcdef", newId(t - 3600_000));
  await store.put(map, new TextEncoder().encode("[]"));
  await store.put(shard, new TextEncoder().encode("{}"));
  t += 1_000;
  const report = await fsck(store, { repair: true, now: t });
  const kinds = (key: string) => report.problems.filter((p) => p.key === key).map((p) => p.kind);
  assertEquals([kinds(map), kinds(shard)], [["in-flight"], ["in-flight"]]);
  assert(await store.head(map), "the map is kept");
  assert(await store.head(shard), "the shard is kept");
  // Once the store's clock says they have been there for the grace period, they go.
  t += 11 * 60_000;
  const later = await fsck(store, { repair: true, now: t });
  assert(later.problems.some((p) => p.key === map && p.kind === "garbage"));
  assertEquals(await store.head(map), null);
});
