// Memory stays bounded: one budget for every buffered byte, with backpressure on bodies;
// a single write of any size rolls over to new segments; large writes bypass the cache.

import { Buffer } from "node:buffer";
import { assert, assertEquals } from "./_assert.ts";
import { chunked, contract, pattern } from "./_stores.ts";
import { PREFIX, segmentKey } from "../src/format/keys.ts";
import { MemoryBudget } from "../src/cache/budget.ts";
import { PageCache } from "../src/cache/page_cache.ts";
import { Writeback } from "../src/cache/writeback.ts";
import { readAll } from "../src/store/_util.ts";
import { type StoreMethod, WrappedStore } from "../src/store/_wrapper.ts";
import { MemoryStore } from "../src/store/memory.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Vfs } from "../src/vfs/mod.ts";

const MiB = 1024 * 1024;

/** Byte equality, fast for tens of MiB. */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(
    Buffer.from(b.buffer, b.byteOffset, b.length),
  );
}

/** Holds every segment data write (PutObject, UploadPart) while closed; counts calls. */
class HoldStore extends WrappedStore {
  #open: Promise<void>;
  #release!: () => void;
  readonly calls = new Map<string, Set<string>>();

  constructor(inner: ObjectStore, closed: boolean) {
    super(inner);
    this.#open = closed ? new Promise((resolve) => this.#release = resolve) : Promise.resolve();
  }

  open(): void {
    this.#release?.();
  }

  protected override async call<T>(
    method: StoreMethod,
    detail: { key?: string },
    run: () => Promise<T>,
  ): Promise<T> {
    const key = detail.key ?? "";
    if (key.startsWith(PREFIX.segment)) {
      if (!this.calls.has(method)) this.calls.set(method, new Set());
      this.calls.get(method)!.add(key);
      if (method === "put" || method === "uploadPart") await this.#open;
    }
    return await run();
  }
}

/** A body that counts the bytes pulled from it. */
function counted(data: Uint8Array, chunk: number, pulled: { bytes: number }) {
  const source = chunked(data, chunk).getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { value, done } = await source.read();
      if (done) return controller.close();
      pulled.bytes += value.length;
      controller.enqueue(value);
    },
  }, { highWaterMark: 0 });
}

/** Runs the event loop until `probe` has not changed for many turns (nothing can move). */
async function quiesce(probe: () => number): Promise<number> {
  let last = -1;
  let same = 0;
  while (same < 50) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    const now = probe();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

Deno.test("concurrent large writes never buffer more than the memory budget; bodies wait while it is spent", async () => {
  const store = new HoldStore(new MemoryStore(), true);
  const budget = 20 * MiB;
  const fs = await Vfs.open(store, { partSize: 5 * MiB, memoryBytes: budget });
  const writers = 6;
  const size = 24 * MiB + 12345;
  const pulled = { bytes: 0 };
  const files = Array.from({ length: writers }, (_, i) => pattern(size, i + 1));
  const done = files.map((data, i) => fs.writeFile(`/big${i}`, counted(data, 1 * MiB, pulled), {}));
  // Every data write is held: the writers can only fill the budget, then must stop reading.
  const stalled = await quiesce(() => pulled.bytes);
  assert(
    stalled <= budget + writers * MiB,
    `${stalled} bytes of the bodies were read while nothing could be written (budget ${budget})`,
  );
  assertEquals(fs.memoryStats().used <= budget, true);
  store.open();
  await Promise.all(done);
  assertEquals(pulled.bytes, writers * size);
  assert(fs.memoryStats().highWater <= budget, `high-water ${fs.memoryStats().highWater}`);
  assert(fs.memoryStats().waits > 0, "no writer ever waited for memory");
  for (const [i, data] of files.entries()) {
    assert(same(await fs.read(`/big${i}`, 0, size + 1), data), `/big${i} differs`);
  }
});

contract("one streamed write rolls over to a new segment before the most parts", async (inner) => {
  const store = new HoldStore(inner, false);
  const fs = await Vfs.open(store, { partSize: 5 * MiB, maxParts: 2 });
  const size = 23 * MiB + 777;
  const data = pattern(size, 7);
  await fs.writeFile("/huge", chunked(data, 3 * MiB + 5));
  // 23 MiB of 10 MiB segments (2 parts of 5 MiB): three segments, the last a small PUT.
  const multipart = store.calls.get("completeMultipart")?.size ?? 0;
  const puts = store.calls.get("put")?.size ?? 0;
  assertEquals(multipart, 2, "segments completed as multipart uploads");
  assertEquals(puts, 1, "segments written with one PutObject");
  assert(same(await fs.read("/huge", 0, size + 10), data), "read-back differs");
  // Reads across the segment boundaries, too.
  const cut = 10 * MiB;
  assertEquals(await fs.read("/huge", cut - 3, 6), data.slice(cut - 3, cut + 3));
});

Deno.test("a large write at an offset (a staging chunk) does not fill the page cache", async () => {
  const fs = await Vfs.open(new MemoryStore());
  const chunk = pattern(5 * MiB, 3);
  await fs.write("/.staging", 0, chunk, { create: true });
  await fs.write("/.staging", chunk.length, chunk);
  assertEquals(fs.cacheStats().bytes, 0, "bytes of the large writes were cached");
  // A small write is still cached: reading it back costs no GET.
  await fs.writeFile("/small", pattern(10_000, 4));
  await fs.read("/small", 0, 10_000);
  assertEquals(fs.cacheStats().requests, 0);
});

Deno.test("small files committed inline give their buffers back: many creates never exhaust the budget", async () => {
  const fs = await Vfs.open(new MemoryStore(), { memoryBytes: 32 << 20, partSize: 5 << 20 });
  await fs.mkdir("/d");
  // Far more files, at once, than the budget has room for buffers that are never freed.
  const files = Array.from({ length: 1500 }, (_, i) => `/d/f${i}`);
  await Promise.all(files.map((path) => fs.writeFile(path, new Uint8Array([1]))));
  await fs.writeFile("/one", new Uint8Array(100));
  assertEquals((await fs.readdir("/d")).entries.length, 1500);
  // Nothing is buffered once every write committed (cached blocks aside: none here).
  assertEquals(fs.memoryStats().used, 0);
});

/** Records the memory (ArrayBuffer) behind each part body sent. */
class PartBufferStore extends WrappedStore {
  readonly buffers = new Set<ArrayBufferLike>();
  parts = 0;

  protected override call<T>(_m: StoreMethod, _d: unknown, run: () => Promise<T>): Promise<T> {
    return run();
  }

  override uploadPart(
    upload: Parameters<ObjectStore["uploadPart"]>[0],
    partNumber: number,
    body: Uint8Array,
  ): ReturnType<ObjectStore["uploadPart"]> {
    this.buffers.add(body.buffer);
    this.parts++;
    return super.uploadPart(upload, partNumber, body);
  }
}

Deno.test("concurrent streamed writes reuse a fixed set of part buffers, not one per part", async () => {
  const store = new PartBufferStore(new MemoryStore());
  const partSize = 5 * MiB;
  const budget = 20 * MiB;
  const fs = await Vfs.open(store, { partSize, memoryBytes: budget });
  const size = 31 * MiB + 4321;
  const files = Array.from({ length: 4 }, (_, i) => pattern(size, i + 11));
  // Two rounds of four concurrent writers: 2 x 4 x (6 full parts and a short one).
  for (const round of [0, 1]) {
    await Promise.all(
      files.map((data, i) => fs.writeFile(`/r${round}-${i}`, chunked(data, 256 * 1024))),
    );
  }
  assertEquals(store.parts, 2 * 4 * 7);
  // Every part buffer comes from the budget: at most budget / part size of them exist at
  // once, and freed ones are reused rather than left to the garbage collector (spares may
  // be reclaimed for other bytes between rounds: at most that many new ones per round).
  assert(
    store.buffers.size <= 2 * (budget / partSize),
    `${store.buffers.size} distinct part buffers for ${store.parts} parts`,
  );
  assert(fs.memoryStats().highWater <= budget, `high-water ${fs.memoryStats().highWater}`);
  for (const round of [0, 1]) {
    for (const [i, data] of files.entries()) {
      const back = await fs.read(`/r${round}-${i}`, 0, size + 1);
      assert(same(back, data), `/r${round}-${i} differs`);
    }
  }
});

Deno.test("more concurrent streamed writers than part buffers still reuse a fixed set of them", async () => {
  // 12 uploads at once and room for only 4 part buffers (the bench: 16 uploads, 8 parts of
  // 8 MiB in 64 MiB). A writer whose first buffer grows into a whole part used to allocate
  // a new one while freed part buffers were dropped for the collector: 12 distinct buffers
  // for 4 live ones, dead memory that lingered until a GC.
  const store = new PartBufferStore(new MemoryStore());
  const partSize = 5 * MiB;
  const budget = 20 * MiB;
  const fs = await Vfs.open(store, { partSize, memoryBytes: budget });
  const size = 2 * partSize + 4321;
  const files = Array.from({ length: 12 }, (_, i) => pattern(size, i + 31));
  await Promise.all(files.map((data, i) => fs.writeFile(`/u${i}`, chunked(data, 64 * 1024))));
  assertEquals(store.parts, 12 * 3);
  assert(
    store.buffers.size <= budget / partSize,
    `${store.buffers.size} distinct part buffers for ${store.parts} parts`,
  );
  assert(fs.memoryStats().highWater <= budget, `high-water ${fs.memoryStats().highWater}`);
  for (const [i, data] of files.entries()) {
    assert(same(await fs.read(`/u${i}`, 0, size + 1), data), `/u${i} differs`);
  }
});

Deno.test("a sealed part buffer is reused by the next write once its commit is durable", async () => {
  // Chunks of a few MiB written one after another at growing offsets (tus PATCHes): each
  // takes a whole part buffer and is group-committed from it with one PutObject.
  const puts = new Set<ArrayBufferLike>();
  let segmentPuts = 0;
  class PutBufferStore extends WrappedStore {
    protected override call<T>(_m: StoreMethod, _d: unknown, run: () => Promise<T>) {
      return run();
    }
    override put(...args: Parameters<ObjectStore["put"]>): ReturnType<ObjectStore["put"]> {
      const [key, body] = args;
      if (key.startsWith(PREFIX.segment) && body instanceof Uint8Array) {
        puts.add(body.buffer);
        segmentPuts++;
      }
      return super.put(...args);
    }
  }
  const fs = await Vfs.open(new PutBufferStore(new MemoryStore()), {
    partSize: 5 * MiB,
    memoryBytes: 20 * MiB,
  });
  const chunk = 2 * MiB + 17;
  const data = pattern(8 * chunk, 5);
  for (let i = 0; i < 8; i++) {
    const part = data.subarray(i * chunk, (i + 1) * chunk);
    await fs.write("/staged", i * chunk, chunked(part, 64 * 1024), { create: true });
  }
  assertEquals(segmentPuts, 8);
  assertEquals(puts.size, 1, `${puts.size} distinct buffers for ${segmentPuts} chunks`);
  assert(same(await fs.read("/staged", 0, data.length + 1), data), "read-back differs");
});

Deno.test("a group commit larger than a part is uploaded from the group's own bytes, not copied again", async () => {
  const store = new PartBufferStore(new MemoryStore());
  const budget = new MemoryBudget(64 * MiB);
  const cache = new PageCache(store, { budgetBytes: MiB, budget });
  const writeback = new Writeback(store, cache, { partSize: 5 * MiB, budget });
  // Committed in one tick: the first three (9 MiB, past the 8 MiB group) go out together.
  const writes = Array.from({ length: 4 }, (_, i) => pattern(3 * MiB, i + 21));
  const placed = await Promise.all(writes.map((w) => writeback.commit(w)));
  assertEquals(placed[0]!.segment, placed[2]!.segment);
  assertEquals(store.parts, 2, "9 MiB as two parts");
  assertEquals(store.buffers.size, 1, "both parts are views of the group's one buffer");
  for (const [i, w] of writes.entries()) {
    const { segment, offset } = placed[i]!;
    const got = await store.get(segmentKey(segment.split(":")[0]!));
    assert(got?.status === "ok");
    const all = await readAll(got.body);
    assert(same(all.subarray(offset, offset + w.length), w), `write ${i} differs`);
  }
  assertEquals(budget.stats().used, 0);
});

/**
 * A body that hands out one buffer again and again, as a request body read BYOB does
 * (src/http/input.ts): on each pull the chunk handed out before is overwritten with junk
 * and then detached, so a consumer that kept it past its next read would store junk or
 * nothing.
 */
function reusedChunks(data: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let at = 0;
  let last: Uint8Array<ArrayBuffer> | null = null;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (last) {
        last.fill(0xee);
        last.buffer.transfer();
      }
      if (at >= data.length) return controller.close();
      const n = Math.min(chunk, data.length - at);
      last = new Uint8Array(n);
      last.set(data.subarray(at, at + n));
      at += n;
      controller.enqueue(last);
    },
  }, { highWaterMark: 0 });
}

Deno.test("writes keep no request body chunk past their next read (bodies are read into one reused buffer)", async () => {
  const fs = await Vfs.open(new MemoryStore(), { partSize: 5 * MiB, memoryBytes: 40 * MiB });
  const chunk = 64 * 1024;
  // Inline, one small segment, streamed multipart parts.
  for (const size of [700, 300 * 1024 + 3, 12 * MiB + 5]) {
    const data = pattern(size, size);
    await fs.writeFile(`/put${size}`, reusedChunks(data, chunk));
    assert(same(await fs.read(`/put${size}`, 0, size + 1), data), `PUT of ${size} differs`);
    const patch = pattern(size, 3);
    await fs.write(`/put${size}`, 1000, reusedChunks(patch, chunk));
    const expected = new Uint8Array(size + 1000);
    expected.set(data.subarray(0, 1000));
    expected.set(patch, 1000);
    assert(
      same(await fs.read(`/put${size}`, 0, size + 2000), expected),
      `write of ${size} differs`,
    );
    await fs.append(`/put${size}`, reusedChunks(data, chunk));
    const appended = await fs.read(`/put${size}`, size + 1000, size + 1);
    assert(same(appended, data), `append of ${size} differs`);
  }
});
