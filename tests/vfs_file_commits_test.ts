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
import { gc } from "../src/format/gc.ts";
import { PREFIX } from "../src/format/keys.ts";
import { HookStore } from "./_hook_store.ts";
import { mount } from "./rest_harness.ts";

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

contract(
  "8 HTTP clients PATCHing ranges of one file all get 204, uploading at most 2x their bytes",
  async (inner) => {
    const { store, metrics } = counted(inner);
    const app = mount(await Vfs.open(store));
    const size = 1024 * PAGE;
    const model = pattern(size, 4);
    const put = await app.request("http://x/api/v1/fs/f", {
      method: "PUT",
      body: model as BodyInit,
    });
    assertEquals(put.status, 201);
    const order = pages(480, 1024, 13);
    const before = metrics.snapshot().uploadBytes;
    const statuses: number[] = [];
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < order.length) {
        const i = next++;
        const at = order[i]! * PAGE;
        const bytes = pattern(PAGE, 500 + i);
        const res = await app.request("http://x/api/v1/fs/f", {
          method: "PATCH",
          headers: { "content-range": `bytes ${at}-${at + PAGE - 1}/*` },
          body: bytes as BodyInit,
        });
        await res.body?.cancel();
        statuses.push(res.status);
        if (res.status === 204) model.set(bytes, at);
      }
    }));
    assertEquals(statuses.filter((s) => s !== 204), []);
    const written = order.length * PAGE;
    const uploaded = metrics.snapshot().uploadBytes - before;
    assert(uploaded <= 2 * written, `uploaded ${(uploaded / written).toFixed(2)}x`);
    const got = await app.request("http://x/api/v1/fs/f");
    assertEquals(new Uint8Array(await got.arrayBuffer()), model);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "writers on two instances into one file all land",
  async (inner) => {
    const a = await Vfs.open(counted(inner).store);
    const b = await Vfs.open(counted(inner).store);
    const model = pattern(256 * PAGE, 6);
    await a.writeFile("/f", model);
    const order = pages(96, 256, 17);
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      const fs = w % 2 ? a : b;
      while (next < order.length) {
        const i = next++;
        const bytes = pattern(PAGE, 700 + i);
        await fs.write("/f", order[i]! * PAGE, bytes);
        model.set(bytes, order[i]! * PAGE);
      }
    }));
    assertEquals(await (await Vfs.open(inner)).read("/f", 0, model.length), model);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "a writer whose check before the commit fails is left out; the others commit",
  async (inner) => {
    const fs = await Vfs.open(counted(inner).store);
    const model = pattern(128 * PAGE, 8);
    await fs.writeFile("/f", model);
    const refused = new Error("Locked meanwhile");
    const writes = Array.from({ length: 6 }, (_, i) => {
      const bytes = pattern(PAGE, 800 + i);
      const beforeCommit = i === 2 ? () => Promise.reject(refused) : () => Promise.resolve();
      if (i !== 2) model.set(bytes, i * 7 * PAGE);
      return fs.write("/f", i * 7 * PAGE, bytes, { beforeCommit });
    });
    const results = await Promise.allSettled(writes);
    assertEquals(results.map((r) => r.status), [
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
      "fulfilled",
    ]);
    assertEquals(await (await Vfs.open(inner)).read("/f", 0, model.length), model);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "a merged commit stalled past GC's grace never names a reclaimed segment",
  async (store) => {
    let clock = Date.now();
    const stalled = new HookStore(store);
    stalled.after(
      (call) => call.op === "PutObject" && call.key?.startsWith(PREFIX.segment) === true,
      async () => {
        clock += 11 * 60_000;
        const t = Date.now();
        await gc(store, { now: t });
        await gc(store, { now: t + 11 * 60_000 });
      },
    );
    const before = pattern(64 * PAGE, 1);
    await (await Vfs.open(store)).writeFile("/f", before);
    const fs = await Vfs.open(stalled, { now: () => clock });
    const outcome = await fs.write("/f", 5 * PAGE, pattern(PAGE, 2)).then(
      () => "ok",
      (e) => e.code,
    );
    assertEquals(stalled.fired, 1, "the interleaving did not happen");
    assertEquals(outcome, "EIO");
    assertEquals(await (await Vfs.open(store)).read("/f", 0, before.length), before);
  },
  { backends: ["memory", "s3"] },
);
