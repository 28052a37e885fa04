// Compaction: mostly-dead segments are rewritten so GC can reclaim them, and files keep
// their bytes and times.

import { assert, assertEquals } from "./_assert.ts";
import { contract, pattern } from "./_stores.ts";
import { gc } from "../src/format/gc.ts";
import { fsck } from "../src/format/fsck.ts";
import { PREFIX } from "../src/format/keys.ts";
import { Vfs } from "../src/vfs/mod.ts";
import type { ObjectStore } from "../src/store/mod.ts";

async function segmentBytes(store: ObjectStore): Promise<number> {
  let total = 0;
  for (let cursor: string | null = null;;) {
    const page = await store.list({ prefix: PREFIX.segment, ...(cursor ? { cursor } : {}) });
    for (const o of page.objects) total += o.size;
    cursor = page.cursor;
    if (!cursor) return total;
  }
}

contract(
  "compact() rewrites mostly-dead segments and GC reclaims them",
  async (store) => {
    const fs = await Vfs.open(store);
    const expected = pattern(400_000, 1);
    await fs.writeFile("/a", expected);
    await fs.writeFile("/b", pattern(200_000, 2));
    // Overwrite most of /a: its first segment is now mostly dead. /b's segment is live.
    const patch = pattern(350_000, 3);
    await fs.write("/a", 0, patch);
    expected.set(patch, 0);
    await fs.link("/b", "/b-link");
    const before = await fs.getattr("/a");
    const other = await fs.getattr("/b");

    const report = await fs.compact({ below: 0.5, graceMs: 0 });
    assertEquals(report.candidates, 1);
    assertEquals(report.filesRewritten, 1);
    assertEquals(report.bytesCopied, 50_000);

    const after = await fs.getattr("/a");
    assertEquals([after.size, after.mtime], [before.size, before.mtime]);
    assertEquals(await fs.read("/a", 0, 500_000), expected);
    assertEquals(await fs.read("/b-link", 0, 300_000), pattern(200_000, 2));
    assertEquals((await fs.getattr("/b")).mtime, other.mtime);

    const used = await segmentBytes(store);
    // Never in the run that first finds it released: the next one.
    assertEquals((await gc(store, { graceMs: 0 })).segments.deleted, 0);
    const collected = await gc(store, { graceMs: 0 });
    assertEquals(collected.segments.deleted, 1);
    assertEquals(collected.bytes.reclaimed, 400_000);
    assertEquals(await segmentBytes(store), used - 400_000);
    const cold = await Vfs.open(store);
    assertEquals(await cold.read("/a", 0, 500_000), expected);
    const checked = await fsck(store, { graceMs: 0 });
    assert(checked.ok, JSON.stringify(checked.problems));
  },
  { backends: ["memory", "s3"] },
);

Deno.test("compact() leaves a file alone when it changes under the rewrite", async () => {
  const { MemoryStore } = await import("../src/store/memory.ts");
  const { FaultyStore } = await import("../src/store/fault.ts");
  const inner = new MemoryStore();
  const fs = await Vfs.open(inner);
  await fs.writeFile("/a", pattern(100_000, 1));
  await fs.write("/a", 0, pattern(90_000, 2));
  let wrote = false;
  let racer: Promise<unknown> = Promise.resolve();
  // Just before compaction's CAS of /a, another writer changes /a.
  const racing = new FaultyStore(inner, {
    plan: (call) => {
      if (!wrote && call.op === "PutObject" && call.key?.startsWith(PREFIX.dir)) {
        wrote = true;
        racer = fs.write("/a", 5, pattern(3, 9));
        return { kind: "delay", ms: 50 };
      }
      return null;
    },
  });
  const compacting = await Vfs.open(racing);
  const report = await compacting.compact({ below: 0.5, graceMs: 0 });
  await racer;
  assertEquals(report.filesRewritten + report.filesSkipped, 1);
  const expected = pattern(100_000, 1);
  expected.set(pattern(90_000, 2), 0);
  expected.set(pattern(3, 9), 5);
  assertEquals(await fs.read("/a", 0, 200_000), expected);
});
