// Two Vfs instances in one process share nothing but what their stores share: every cache
// belongs to an instance (issue 11, item 5).

import { assertEquals } from "./_assert.ts";
import { pattern } from "./_stores.ts";
import { MemoryStore, type ObjectStore } from "../src/store/mod.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";
import { PREFIX } from "../src/format/keys.ts";
import { readAll } from "../src/store/_util.ts";

/** A copy of every object of `from` whose key `keep` accepts. */
async function copyStore(from: ObjectStore, keep: (key: string) => boolean): Promise<MemoryStore> {
  const to = new MemoryStore();
  for (let cursor: string | null = null;;) {
    const page = await from.list(cursor ? { cursor } : {});
    for (const { key } of page.objects) {
      if (!keep(key)) continue;
      const got = await from.get(key);
      if (got?.status === "ok") await to.put(key, await readAll(got.body));
    }
    cursor = page.cursor;
    if (!cursor) break;
  }
  return to;
}

Deno.test("two Vfs instances on two stores do not share spilled page maps", async () => {
  const first = new MemoryStore();
  const a = await Vfs.open(first, { spillExtents: 4 });
  await a.writeFile("/f", pattern(100_000, 1));
  for (let i = 1; i <= 8; i++) await a.write("/f", i * 10_000, pattern(10, 2));
  // The second store holds everything but the spilled map: its file cannot be read.
  const second = await copyStore(first, (key) => !key.startsWith(PREFIX.map));
  const b = await Vfs.open(second, { spillExtents: 4 });
  const error = await b.read("/f", 0, 100).then(() => null, (e) => e);
  assertEquals(isFsError(error, "EIO"), true, `read gave ${error}`);
  assertEquals((await a.read("/f", 0, 100)).length, 100);
});

Deno.test("two Vfs instances on two stores do not share `statfs()` usage", async () => {
  const a = await Vfs.open(new MemoryStore());
  await a.writeFile("/f", pattern(10_000, 1));
  assertEquals((await a.statfs()).usedBytes, 10_000);
  const b = await Vfs.open(new MemoryStore());
  assertEquals((await b.statfs()).usedBytes, 0);
});
