import { assert, assertEquals } from "./_assert.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { MeteredStore, StoreMetrics } from "../src/store/metrics.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { fsck } from "../src/format/fsck.ts";
import { gc } from "../src/format/gc.ts";
import { dirKey, newId, PREFIX, shardKey } from "../src/format/keys.ts";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

async function keys(store: ObjectStore, prefix: string): Promise<Set<string>> {
  const page = await store.list({ prefix });
  return new Set(page.objects.map((o) => o.key));
}

/** Runs `fn` and returns the segment keys it created. */
async function segmentsOf(store: ObjectStore, fn: () => Promise<unknown>): Promise<string[]> {
  const before = await keys(store, PREFIX.segment);
  await fn();
  return [...await keys(store, PREFIX.segment)].filter((k) => !before.has(k));
}

/** /a overwritten whole, /b unlinked, /c kept: two garbage segments, two live ones. */
async function buildTree() {
  const fs = await Vfs.open(new MemoryStore());
  const [a1] = await segmentsOf(fs.store, () => fs.writeFile("/a", bytes(3000, 1)));
  const [a2] = await segmentsOf(fs.store, () => fs.writeFile("/a", bytes(3000, 2)));
  const [b] = await segmentsOf(fs.store, () => fs.writeFile("/b", bytes(2000, 3)));
  const [c] = await segmentsOf(fs.store, () => fs.writeFile("/c", bytes(5000, 4)));
  await fs.unlink("/b");
  await fs.writeFile("/inline", new TextEncoder().encode("tiny"));
  return { fs, garbage: [a1!, b!].sort(), live: [a2!, c!].sort() };
}

Deno.test("gc() deletes exactly the unreferenced segments past the grace period", async () => {
  const { fs, garbage, live } = await buildTree();
  // Two-phase: the first run records what it finds unreferenced and deletes nothing.
  const first = await gc(fs.store, { graceMs: 0 });
  assertEquals(first.deletedKeys, []);
  assertEquals(first.pending, { recorded: 2, waiting: 0 });
  assertEquals((await keys(fs.store, PREFIX.segment)).size, 4);
  const metrics = new StoreMetrics();
  const report = await gc(new MeteredStore(fs.store, metrics), { graceMs: 0 });
  assertEquals(report.blocked, null);
  assertEquals([...report.deletedKeys].sort(), garbage);
  assertEquals(report.segments, { scanned: 4, referenced: 2, deleted: 2, inFlight: 0 });
  assertEquals(report.bytes, { scanned: 13000, reclaimed: 5000, live: 8000 });
  assertEquals(metrics.snapshot().requests.DeleteObjects, 1);
  // Its writes: the reading of the store's clock (an empty object) and the CAS of the
  // pending set.
  assertEquals(metrics.snapshot().requests.PutObject, 2);
  assertEquals(metrics.total(["DeleteObject"]), 0);
  assertEquals([...await keys(fs.store, PREFIX.segment)].sort(), live);
  // Live data reads back identically, also through a fresh instance (no cached pages).
  assertEquals(await fs.read("/a", 0, 4000), bytes(3000, 2));
  assertEquals(await fs.read("/c", 0, 6000), bytes(5000, 4));
  const fresh = await Vfs.open(fs.store);
  assertEquals(await fresh.read("/a", 0, 4000), bytes(3000, 2));
  assertEquals(await fresh.read("/c", 0, 6000), bytes(5000, 4));
  assertEquals(new TextDecoder().decode(await fresh.read("/inline", 0, 10)), "tiny");
  assert((await fsck(fs.store, { graceMs: 0 })).ok);
  // Nothing left to collect.
  assertEquals((await gc(fs.store, { graceMs: 0 })).deletedKeys, []);
});

Deno.test("gc() keeps young unreferenced segments (commits may be in flight)", async () => {
  const { fs, live } = await buildTree();
  const report = await gc(fs.store);
  assertEquals(report.deletedKeys, []);
  assertEquals(report.segments.inFlight, 2);
  assertEquals((await keys(fs.store, PREFIX.segment)).size, 4);
  // Once collected, a default run still deletes nothing new.
  await gc(fs.store, { graceMs: 0 });
  const [d] = await segmentsOf(fs.store, () => fs.writeFile("/c", bytes(5000, 5)));
  const again = await gc(fs.store);
  assertEquals(again.deletedKeys, []);
  assertEquals(again.segments.inFlight, 1);
  assertEquals([...await keys(fs.store, PREFIX.segment)].sort(), [...live, d!].sort());
});

Deno.test("gc() with dryRun reports and deletes nothing", async () => {
  const { fs, garbage } = await buildTree();
  assertEquals((await gc(fs.store, { graceMs: 0, dryRun: true })).deletedKeys, []);
  await gc(fs.store, { graceMs: 0 });
  const report = await gc(fs.store, { graceMs: 0, dryRun: true });
  assertEquals([...report.deletedKeys].sort(), garbage);
  assertEquals(report.segments.deleted, 2);
  assertEquals((await keys(fs.store, PREFIX.segment)).size, 4);
});

Deno.test("gc() deletes unreferenced spilled maps and keeps the live one", async () => {
  const fs = await Vfs.open(new MemoryStore(), { spillExtents: 8 });
  const data = bytes(8192, 7);
  await fs.writeFile("/frag", data);
  // Past 8 extents the map spills; later writes go to its delta until 32 more extents
  // fold into a new spill: 60 one-byte writes spill at least two versions.
  for (let i = 0; i < 60; i++) {
    await fs.write("/frag", i * 100, bytes(1, i));
    data[i * 100] = i;
  }
  const maps = await keys(fs.store, PREFIX.map);
  assert(maps.size > 1, "several map versions were spilled");
  await gc(fs.store, { graceMs: 0 });
  const report = await gc(fs.store, { graceMs: 0 });
  assertEquals(report.maps.scanned, maps.size);
  assertEquals(report.maps.deleted, maps.size - 1);
  assertEquals((await keys(fs.store, PREFIX.map)).size, 1);
  assertEquals(report.segments.deleted, 0);
  assertEquals(await (await Vfs.open(fs.store)).read("/frag", 0, 9000), data);
});

Deno.test("gc() reports segments below the compaction threshold without rewriting", async () => {
  const fs = await Vfs.open(new MemoryStore());
  const [first] = await segmentsOf(fs.store, () => fs.writeFile("/f", bytes(8000, 1)));
  await fs.write("/f", 0, bytes(6000, 2));
  const report = await gc(fs.store, { graceMs: 0, compactBelow: 0.5 });
  assertEquals(report.compaction.candidates, 1);
  assertEquals(report.compaction.candidateBytes, 8000);
  assertEquals(report.compaction.candidateLiveBytes, 2000);
  assert(await fs.store.head(first!), "the candidate is not rewritten or deleted");
  assertEquals(report.bytes.live, 8000);
});

Deno.test("gc() deletes nothing when metadata cannot be read", async () => {
  const { fs } = await buildTree();
  await fs.store.put(dirKey("0000000000000001"), new TextEncoder().encode("{not json"));
  const report = await gc(fs.store, { graceMs: 0 });
  assert(report.blocked?.startsWith("corrupt-object"));
  assertEquals(report.deletedKeys, []);
  assertEquals((await keys(fs.store, PREFIX.segment)).size, 4);
});

Deno.test("gc() deletes shards no directory names and keeps the live ones", async () => {
  const fs = await Vfs.open(new MemoryStore(), { dirLimits: { maxEntries: 4 } });
  await fs.mkdir("/d");
  for (let i = 0; i < 12; i++) await fs.writeFile(`/d/f${i}`, bytes(1, i));
  const d = (await fs.lookup("/d")).ino;
  const live = await keys(fs.store, `${dirKey(d)}/`);
  assert(live.size >= 2, "the directory is sharded");
  // A splitter that died between writing its shard and the CAS naming it.
  const orphan = shardKey(d, newId());
  await fs.store.put(
    orphan,
    new TextEncoder().encode(JSON.stringify({ v: 1, ino: d, entries: {} })),
  );
  const first = await gc(fs.store, { graceMs: 0 });
  assertEquals(first.deletedKeys, []);
  const second = await gc(fs.store, { graceMs: 0 });
  assertEquals(second.deletedKeys, [orphan]);
  assertEquals(second.shards.deleted, 1);
  assertEquals(await keys(fs.store, `${dirKey(d)}/`), live);
  assertEquals((await fs.readdir("/d")).entries.length, 12);
  assertEquals((await fsck(fs.store, { graceMs: 0 })).problems, []);
});
