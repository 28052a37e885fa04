// Concurrent writers into one file: their commits are merged (one map update and one CAS
// for the writes that arrive while a commit is in flight), not fought over with CAS
// retries. Counted on a store with latency, so that the writes overlap.

import { assert, assertEquals } from "./_assert.ts";
import { contract, pattern } from "./_stores.ts";
import {
  FaultyStore,
  MemoryStore,
  MeteredStore,
  type ObjectStore,
  StoreMetrics,
} from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";

const PAGE = 4096;

/** Distinct pseudo-random page indexes in [0, pages): every write has its own page. */
function pages(count: number, pages: number, seed = 7): number[] {
  const all = Array.from({ length: pages }, (_, i) => i);
  let x = seed;
  for (let i = all.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const j = x % (i + 1);
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, count);
}

/** The store as tests see it: `inner` (with latency on memory), counted. */
function counted(inner: ObjectStore): { store: ObjectStore; metrics: StoreMetrics } {
  const slow = inner instanceof MemoryStore ? new FaultyStore(inner, { latencyMs: 2 }) : inner;
  const metrics = new StoreMetrics();
  return { store: new MeteredStore(slow, metrics), metrics };
}

contract(
  "8 concurrent writers into one file all land, with no EAGAIN, uploading at most 2x their bytes",
  async (inner) => {
    const { store, metrics } = counted(inner);
    const fs = await Vfs.open(store);
    const size = 1024 * PAGE;
    const model = pattern(size, 1);
    await fs.writeFile("/f", model);
    const order = pages(480, 1024);
    const before = metrics.snapshot().uploadBytes;
    let next = 0;
    const failures: string[] = [];
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < order.length) {
        const i = next++;
        const bytes = pattern(PAGE, i + 2);
        try {
          await fs.write("/f", order[i]! * PAGE, bytes);
          model.set(bytes, order[i]! * PAGE);
        } catch (error) {
          failures.push(String(error));
        }
      }
    }));
    assertEquals(failures, []);
    const written = order.length * PAGE;
    const uploaded = metrics.snapshot().uploadBytes - before;
    assert(
      uploaded <= 2 * written,
      `uploaded ${uploaded} bytes (${(uploaded / written).toFixed(2)}x) for ${written} written`,
    );
    assertEquals(await fs.read("/f", 0, size), model);
    // A cold instance reads the same bytes from the bucket.
    assertEquals(await (await Vfs.open(inner)).read("/f", 0, size), model);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "32 writes into one file at once all land (none gives up with EAGAIN)",
  async (inner) => {
    const { store } = counted(inner);
    const fs = await Vfs.open(store);
    const model = pattern(256 * PAGE, 3);
    await fs.writeFile("/f", model);
    const order = pages(32, 256, 11);
    const results = await Promise.allSettled(order.map((page, i) => {
      const bytes = pattern(PAGE, 100 + i);
      model.set(bytes, page * PAGE);
      return fs.write("/f", page * PAGE, bytes);
    }));
    assertEquals(results.filter((r) => r.status === "rejected").map((r) => String(r.reason)), []);
    const stat = await fs.getattr("/f");
    assertEquals(stat.size, model.length);
    assertEquals(await fs.read("/f", 0, model.length), model);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "appends merged into one commit land one after the other, in no overlap",
  async (inner) => {
    const { store } = counted(inner);
    const fs = await Vfs.open(store);
    await fs.writeFile("/log", pattern(64 * PAGE, 5));
    const chunks = Array.from({ length: 16 }, (_, i) => pattern(1000 + i, 200 + i));
    await Promise.all(chunks.map((chunk) => fs.append("/log", chunk)));
    const all = await fs.read("/log", 0, 1 << 20);
    assertEquals(all.length, 64 * PAGE + chunks.reduce((n, c) => n + c.length, 0));
    assertEquals(all.subarray(0, 64 * PAGE), pattern(64 * PAGE, 5));
    // Each chunk is there whole, at a distinct offset.
    const tail = all.subarray(64 * PAGE);
    const found = new Set<number>();
    for (let at = 0; at < tail.length;) {
      const i = chunks.findIndex((c) =>
        c.length <= tail.length - at && c.every((b, k) => tail[at + k] === b)
      );
      assert(i >= 0, `no chunk at ${at}`);
      found.add(i);
      at += chunks[i]!.length;
    }
    assertEquals(found.size, chunks.length);
  },
  { backends: ["memory", "s3"] },
);
