import { assert, assertEquals, assertRejects } from "../../tests/_assert.ts";
import { type StoreMethod, WrappedStore } from "../store/_wrapper.ts";
import { FaultyStore } from "../store/fault.ts";
import { MemoryStore } from "../store/memory.ts";
import { MeteredStore, StoreMetrics } from "../store/metrics.ts";
import { type GetOptions, type ObjectStore, StoreError } from "../store/types.ts";
import { PAGE_SIZE, PageCache } from "./page_cache.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Watches GETs: how many run at once, which ranges were asked for, and optionally holds
 * some of them back or hands the body out in awkward chunk sizes.
 */
class WatchStore extends WrappedStore {
  active = 0;
  peak = 0;
  ranges: Array<[key: string, start: number]> = [];
  /** GETs for which this returns true wait until `release()`. */
  hold: (key: string, start: number) => boolean = () => false;
  /** Re-chunk bodies into pieces of this size (0: as they come). */
  chunk = 0;
  #released = Promise.withResolvers<void>();

  release(): void {
    this.#released.resolve();
  }

  protected override async call<T>(
    method: StoreMethod,
    _detail: unknown,
    run: () => Promise<T>,
  ): Promise<T> {
    if (method !== "get") return run();
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    try {
      return await run();
    } finally {
      this.active--;
    }
  }

  override async get(key: string, options?: GetOptions) {
    const start = options?.range && "start" in options.range ? options.range.start : 0;
    this.ranges.push([key, start]);
    if (this.hold(key, start)) await this.#released.promise;
    const result = await super.get(key, options);
    if (result?.status !== "ok" || this.chunk === 0) return result;
    const size = this.chunk;
    const body = result.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(bytes, controller) {
          for (let at = 0; at < bytes.length; at += size) {
            controller.enqueue(bytes.slice(at, at + size));
          }
        },
      }),
    );
    return { ...result, body };
  }
}

function pattern(length: number, seed = 0): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seed + i * 7 + (i >> 12)) & 0xff;
  return bytes;
}

async function setup(objects: Record<string, number>, options: { latencyMs?: number } = {}) {
  const memory = new MemoryStore();
  const contents: Record<string, Uint8Array> = {};
  for (const [key, size] of Object.entries(objects)) {
    contents[key] = pattern(size, key.length);
    await memory.put(key, contents[key]);
  }
  const inner: ObjectStore = options.latencyMs
    ? new FaultyStore(memory, { latencyMs: options.latencyMs })
    : memory;
  const watch = new WatchStore(inner);
  const metrics = new StoreMetrics();
  const store = new MeteredStore(watch, metrics);
  const gets = () => metrics.snapshot().requests.GetObject ?? 0;
  return { contents, watch, metrics, store, gets };
}

Deno.test("PageCache reads a 20 MiB object sequentially with readahead in at most 6 GETs", async () => {
  const size = 20 * MiB;
  const { contents, watch, store, gets } = await setup({ "s/seq": size });
  watch.chunk = 1000; // bodies arrive in pieces that do not line up with blocks
  const cache = new PageCache(store, { budgetBytes: 64 * MiB });
  for (let at = 0; at < size; at += 64 * KiB) {
    const bytes = await cache.read("s/seq", at, 64 * KiB, { objectSize: size, readahead: 4 * MiB });
    assertEquals(bytes, contents["s/seq"]!.subarray(at, at + 64 * KiB), `read at ${at}`);
  }
  assert(gets() <= 6, `${gets()} GETs`);
  const stats = cache.stats();
  assertEquals(stats.requests, gets());
  assertEquals(stats.bytes, size);
  assertEquals(stats.hits + stats.misses, size / PAGE_SIZE);
  assertEquals(stats.misses, 16, "only the first read waited for its own GET");
});

Deno.test("PageCache serves a cached range with no GET", async () => {
  const { contents, store, gets } = await setup({ "s/a": 100 * KiB });
  const cache = new PageCache(store, { budgetBytes: MiB });
  const first = await cache.read("s/a", 5000, 30_000, { objectSize: 100 * KiB });
  assertEquals(gets(), 1, "one GET for one run of missing blocks");
  const again = await cache.read("s/a", 6000, 20_000, { objectSize: 100 * KiB });
  assertEquals(gets(), 1);
  assertEquals(first, contents["s/a"]!.subarray(5000, 35_000));
  assertEquals(again, contents["s/a"]!.subarray(6000, 26_000));
  // A range with a cached middle fetches the runs on both sides, one GET each.
  await cache.read("s/a", 0, 50_000, { objectSize: 100 * KiB });
  assertEquals(gets(), 3);
  const stats = cache.stats();
  assertEquals(stats.misses, 8 + 1 + 4);
  assert(stats.hits > 0);
});

Deno.test("PageCache keeps within its budget by evicting the least recently used blocks", async () => {
  const { contents, store } = await setup({ "s/big": 3 * MiB });
  const budget = MiB;
  const cache = new PageCache(store, { budgetBytes: budget });
  for (let at = 0; at < 3 * MiB; at += 256 * KiB) {
    const bytes = await cache.read("s/big", at, 256 * KiB, { objectSize: 3 * MiB });
    assertEquals(bytes, contents["s/big"]!.subarray(at, at + 256 * KiB));
    assert(cache.stats().bytes <= budget, `${cache.stats().bytes} bytes cached`);
  }
  const stats = cache.stats();
  assertEquals(stats.bytes, budget);
  assertEquals(stats.evictions, 2 * MiB / PAGE_SIZE);
  // The most recent megabyte is still there, the first is not.
  const requests = stats.requests;
  await cache.read("s/big", 2 * MiB, MiB, { objectSize: 3 * MiB });
  assertEquals(cache.stats().requests, requests);
  await cache.read("s/big", 0, PAGE_SIZE, { objectSize: 3 * MiB });
  assertEquals(cache.stats().requests, requests + 1);
});

Deno.test("PageCache evicts by recency of use, not of insertion", async () => {
  const { store } = await setup({ "s/a": 4 * PAGE_SIZE });
  const cache = new PageCache(store, { budgetBytes: 2 * PAGE_SIZE });
  const objectSize = 4 * PAGE_SIZE;
  await cache.read("s/a", 0, 1, { objectSize }); // block 0
  await cache.read("s/a", PAGE_SIZE, 1, { objectSize }); // block 1
  await cache.read("s/a", 0, 1, { objectSize }); // block 0 used again
  await cache.read("s/a", 2 * PAGE_SIZE, 1, { objectSize }); // block 2 evicts block 1
  const before = cache.stats().requests;
  await cache.read("s/a", 0, 1, { objectSize });
  assertEquals(cache.stats().requests, before);
  await cache.read("s/a", PAGE_SIZE, 1, { objectSize });
  assertEquals(cache.stats().requests, before + 1);
});

Deno.test("PageCache shares one GET among concurrent reads of the same blocks", async () => {
  const { contents, store, gets } = await setup({ "s/a": 64 * KiB }, { latencyMs: 5 });
  const cache = new PageCache(store, { budgetBytes: MiB });
  const reads = await Promise.all([
    cache.read("s/a", 0, 32 * KiB, { objectSize: 64 * KiB }),
    cache.read("s/a", 0, 32 * KiB, { objectSize: 64 * KiB }),
    cache.read("s/a", 100, 1000, { objectSize: 64 * KiB }),
  ]);
  assertEquals(gets(), 1);
  assertEquals(reads[0], contents["s/a"]!.subarray(0, 32 * KiB));
  assertEquals(reads[1], contents["s/a"]!.subarray(0, 32 * KiB));
  assertEquals(reads[2], contents["s/a"]!.subarray(100, 1100));
});

Deno.test("PageCache reads the last partial block of an object", async () => {
  const size = 10_000;
  const { contents, store, gets } = await setup({ "s/odd": size });
  const cache = new PageCache(store, { budgetBytes: MiB });
  const tail = await cache.read("s/odd", 9000, 1000, { objectSize: size });
  assertEquals(tail, contents["s/odd"]!.subarray(9000));
  assertEquals(cache.stats().bytes, size - 2 * PAGE_SIZE);
  const whole = await cache.read("s/odd", 0, size, { objectSize: size, readahead: MiB });
  assertEquals(whole, contents["s/odd"]);
  assertEquals(gets(), 2);
  assertEquals(cache.stats().bytes, size);
  assertEquals(await cache.read("s/odd", size, 0, { objectSize: size }), new Uint8Array(0));
});

Deno.test("PageCache never runs more than maxParallel GETs at once", async () => {
  const size = 4 * MiB;
  const { contents, watch, store } = await setup({ "s/a": size, "s/b": size }, { latencyMs: 5 });
  const cache = new PageCache(store, { budgetBytes: 16 * MiB, maxParallel: 3 });
  const reads = [];
  for (let i = 0; i < 40; i++) {
    const key = i % 2 ? "s/a" : "s/b";
    const at = (i * 97 * KiB) % (size - 8 * KiB);
    reads.push(
      cache.read(key, at, 8 * KiB, { objectSize: size, readahead: 64 * KiB }).then((bytes) => {
        assertEquals(bytes, contents[key]!.subarray(at, at + 8 * KiB));
      }),
    );
  }
  await Promise.all(reads);
  assertEquals(watch.peak, 3);
  assert(cache.stats().requests > 3);
});

Deno.test("PageCache splits a run of missing blocks at maxRequestBytes", async () => {
  const { contents, store, gets } = await setup({ "s/a": 2 * MiB });
  const cache = new PageCache(store, { budgetBytes: 4 * MiB, maxRequestBytes: 256 * KiB });
  const bytes = await cache.read("s/a", 10, MiB, { objectSize: 2 * MiB });
  assertEquals(bytes, contents["s/a"]!.subarray(10, 10 + MiB));
  assertEquals(gets(), 5, "1 MiB + 10 bytes spans 257 blocks: 4 full requests and one more");
});

Deno.test("PageCache does not make the reader wait for readahead", async () => {
  const size = 8 * MiB;
  const { contents, watch, store } = await setup({ "s/a": size });
  watch.hold = (_key, start) => start >= 64 * KiB;
  const cache = new PageCache(store, { budgetBytes: 16 * MiB });
  const bytes = await cache.read("s/a", 0, 64 * KiB, { objectSize: size, readahead: MiB });
  assertEquals(bytes, contents["s/a"]!.subarray(0, 64 * KiB));
  assertEquals(watch.ranges, [["s/a", 0], ["s/a", 64 * KiB]]);
  // A reader of the readahead blocks waits for that GET instead of making its own.
  const next = cache.read("s/a", 64 * KiB, 64 * KiB, { objectSize: size });
  watch.release();
  assertEquals(await next, contents["s/a"]!.subarray(64 * KiB, 128 * KiB));
  assertEquals(cache.stats().requests, 2);
});

Deno.test("PageCache starts GETs that a reader waits for before readahead", async () => {
  const { watch, store } = await setup({ "s/a": 4 * MiB, "s/b": MiB }, { latencyMs: 2 });
  const cache = new PageCache(store, {
    budgetBytes: 16 * MiB,
    maxParallel: 1,
    maxRequestBytes: 256 * KiB,
  });
  // Readahead queues 8 GETs behind the first read's own.
  await cache.read("s/a", 0, PAGE_SIZE, { objectSize: 4 * MiB, readahead: 2 * MiB });
  await cache.read("s/b", 0, PAGE_SIZE, { objectSize: MiB });
  const order = watch.ranges.map(([key]) => key);
  assert(order.indexOf("s/b") <= 2, `GET order ${order.join(" ")}`);
});

Deno.test("PageCache fill() makes a read after write cost no GET", async () => {
  const size = 3 * PAGE_SIZE + 100;
  const { contents, store, gets } = await setup({ "s/new": size });
  const cache = new PageCache(store, { budgetBytes: MiB });
  const data = contents["s/new"]!.slice();
  cache.fill("s/new", 0, data, size);
  data.fill(0); // the cache kept its own copy
  assertEquals(cache.stats().bytes, size);
  assertEquals(await cache.read("s/new", 0, size, { objectSize: size }), contents["s/new"]);
  assertEquals(gets(), 0);
});

Deno.test("PageCache fill() caches only whole blocks and the final partial block", () => {
  const cache = new PageCache(new MemoryStore(), { budgetBytes: MiB });
  cache.fill("s/x", 100, new Uint8Array(5000), 20_000); // no whole block inside
  assertEquals(cache.stats().bytes, 0);
  cache.fill("s/x", 100, new Uint8Array(PAGE_SIZE * 2), 20_000); // block 1 only
  assertEquals(cache.stats().bytes, PAGE_SIZE);
  cache.fill("s/x", 4 * PAGE_SIZE, new Uint8Array(20_000 - 4 * PAGE_SIZE), 20_000);
  assertEquals(cache.stats().bytes, PAGE_SIZE + 20_000 - 4 * PAGE_SIZE);
  cache.fill("s/x", 4 * PAGE_SIZE, new Uint8Array(100), 20_000); // part of the last block
  assertEquals(cache.stats().bytes, PAGE_SIZE + 20_000 - 4 * PAGE_SIZE);
});

Deno.test("PageCache rejects a failed GET and retries on the next read", async () => {
  const memory = new MemoryStore();
  await memory.put("s/a", pattern(10 * PAGE_SIZE));
  let fail = true;
  const store = new FaultyStore(memory, {
    plan: () => fail ? { kind: "fail-before" } : null,
  });
  const cache = new PageCache(store, { budgetBytes: MiB });
  const error = await assertRejects(() => cache.read("s/a", 0, 10, { objectSize: 10 * PAGE_SIZE }));
  assert(error instanceof StoreError && error.kind === "transient");
  fail = false;
  assertEquals(
    await cache.read("s/a", 0, 10, { objectSize: 10 * PAGE_SIZE }),
    pattern(10 * PAGE_SIZE).subarray(0, 10),
  );
});

Deno.test("PageCache refetches blocks whose readahead failed", async () => {
  const memory = new MemoryStore();
  const size = 64 * PAGE_SIZE;
  await memory.put("s/a", pattern(size));
  const faulty = new FaultyStore(memory, {
    plan: (call) => call.n === 2 ? { kind: "fail-before" } : null, // the readahead GET
  });
  const watch = new WatchStore(faulty);
  watch.hold = (_key, start) => start > 0;
  const cache = new PageCache(watch, { budgetBytes: MiB });
  await cache.read("s/a", 0, PAGE_SIZE, { objectSize: size, readahead: 8 * PAGE_SIZE });
  // This reader finds its blocks pending on the readahead GET, which then fails.
  const next = cache.read("s/a", PAGE_SIZE, 4 * PAGE_SIZE, { objectSize: size });
  watch.release();
  assertEquals(await next, pattern(size).subarray(PAGE_SIZE, 5 * PAGE_SIZE));
  assertEquals(watch.ranges, [["s/a", 0], ["s/a", PAGE_SIZE], ["s/a", PAGE_SIZE]]);
  assertEquals(faulty.calls, 3);
});

Deno.test("PageCache reports a missing or short object as a store error", async () => {
  const memory = new MemoryStore();
  await memory.put("s/short", new Uint8Array(100));
  const cache = new PageCache(memory, { budgetBytes: MiB });
  const missing = await assertRejects(() => cache.read("s/none", 0, 1, { objectSize: 10 }));
  assert(missing instanceof StoreError && missing.kind === "not-found");
  const short = await assertRejects(() => cache.read("s/short", 0, 10, { objectSize: 200 }));
  assert(short instanceof StoreError, String(short));
});

Deno.test("PageCache rejects a range outside the object", async () => {
  const cache = new PageCache(new MemoryStore(), { budgetBytes: MiB });
  for (const [offset, length] of [[-1, 1], [0, 11], [10, 1], [0.5, 1]] as const) {
    const error = await assertRejects(() => cache.read("s/a", offset, length, { objectSize: 10 }));
    assert(error instanceof RangeError, `${offset} ${length}`);
  }
});
