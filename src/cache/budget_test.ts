import { assert, assertEquals } from "../../tests/_assert.ts";
import { MAX_SPARES, MemoryBudget } from "./budget.ts";

/** Registers a writer that holds dirty data (spares are kept only while one does). */
function writer(budget: MemoryBudget): () => void {
  return budget.hold({ idleSince: Infinity, holding: 0, yieldIdle() {} });
}

Deno.test("MemoryBudget lets waiters in first come, first served, as bytes are released", async () => {
  const budget = new MemoryBudget(100);
  await budget.acquire(80);
  const order: string[] = [];
  const big = budget.acquire(60).then(() => order.push("big"));
  const small = budget.acquire(10).then(() => order.push("small"));
  // A waiter keeps its turn: a later small request does not jump the queue.
  assertEquals(budget.tryAcquire(5), false);
  budget.release(30);
  await Promise.resolve();
  assertEquals(order, []);
  budget.release(50);
  await Promise.all([big, small]);
  assertEquals(order, ["big", "small"]);
  assertEquals(budget.stats(), { limit: 100, used: 70, highWater: 80, waiting: 0, waits: 2 });
});

Deno.test("MemoryBudget asks reclaimers for the bytes it lacks before it waits", async () => {
  const budget = new MemoryBudget(100);
  let cached = 90;
  await budget.acquire(90);
  budget.addReclaimer((bytes) => {
    const freed = Math.min(bytes, cached);
    cached -= freed;
    budget.release(freed);
  });
  await budget.acquire(50);
  assertEquals([cached, budget.stats().used, budget.stats().waits], [50, 100, 0]);
});

Deno.test("MemoryBudget rejects requests larger than itself and releases of bytes not held", () => {
  const budget = new MemoryBudget(10);
  const throws = (fn: () => unknown) => {
    try {
      fn();
    } catch (error) {
      return error instanceof RangeError;
    }
    return false;
  };
  assert(throws(() => budget.tryAcquire(11)));
  assert(throws(() => budget.release(1)));
});

Deno.test("MemoryBudget tells a waiter to yield when only waiters hold bytes (no deadlock)", async () => {
  const budget = new MemoryBudget(100);
  // Two writers hold 50 each and both want to grow: nobody else holds anything, so neither
  // could ever be served. The one holding the most yields (ties: the first found).
  await budget.acquire(50);
  await budget.acquire(50);
  const first = budget.acquireOrYield(30, 50);
  const second = budget.acquireOrYield(30, 50);
  assertEquals(await first, false);
  // The yielder frees its bytes another way (a seal); the other writer is then served.
  budget.release(50);
  assertEquals(await second, true);
  assertEquals(budget.stats().used, 80);
});

Deno.test("MemoryBudget lets a holder wait while someone else will release", async () => {
  const budget = new MemoryBudget(100);
  await budget.acquire(40); // a part uploading: freed when the upload ends
  await budget.acquire(50); // a writer's buffer
  let answer: boolean | null = null;
  const grow = budget.acquireOrYield(30, 50).then((granted) => answer = granted);
  await Promise.resolve();
  assertEquals(answer, null);
  budget.release(40);
  await grow;
  assertEquals(answer, true);
});

Deno.test("MemoryBudget hands a recycled buffer to the next writer waiting for one, and reclaims spares first", async () => {
  const budget = new MemoryBudget(100);
  writer(budget);
  const a = await budget.takeBuffer(50);
  const b = await budget.takeBuffer(50);
  let got: Uint8Array | null = null;
  const waiting = budget.takeBuffer(50).then((c) => got = c);
  await Promise.resolve();
  assertEquals(got, null);
  budget.recycle(a);
  await waiting;
  assert(got === a, "the waiter got the recycled buffer itself");
  budget.recycle(b);
  assertEquals([budget.stats().used, budget.spareBytes], [100, 50]);
  // A spare is taken without allocating; a plain acquisition reclaims spares.
  assert((await budget.takeBuffer(50)) === b);
  budget.recycle(b);
  await budget.acquire(50);
  assertEquals([budget.stats().used, budget.spareBytes, budget.buffersAllocated], [100, 0, 2]);
});

Deno.test("MemoryBudget keeps at most MAX_SPARES spare buffers when nobody waits for one", async () => {
  const budget = new MemoryBudget(100);
  writer(budget);
  const buffers = [];
  for (let i = 0; i < 4; i++) buffers.push(await budget.takeBuffer(20));
  for (const b of buffers) budget.recycle(b);
  assertEquals([budget.spareBytes, budget.stats().used], [MAX_SPARES * 20, MAX_SPARES * 20]);
});

Deno.test("MemoryBudget frees at once the buffers it neither hands on nor keeps: recycled beyond the spares, and spares reclaimed", async () => {
  const budget = new MemoryBudget(100);
  writer(budget);
  const buffers: Uint8Array[] = [];
  for (let i = 0; i < 4; i++) buffers.push(await budget.takeBuffer(20));
  for (const b of buffers) budget.recycle(b);
  // Kept as spares: whole. Dropped: detached, their memory freed without waiting for the
  // garbage collector.
  assertEquals(buffers.map((b) => (b.buffer as ArrayBuffer).detached), [false, false, true, true]);
  assertEquals(buffers.map((b) => b.length), [20, 20, 0, 0]);
  // A plain acquisition reclaims the spares (the last kept first): freed too.
  await budget.acquire(80);
  assertEquals(buffers.map((b) => (b.buffer as ArrayBuffer).detached), [false, true, true, true]);
  assertEquals([budget.stats().used, budget.spareBytes], [100, 20]);
});

Deno.test("MemoryBudget hands a recycled part buffer to a holder growing into one, instead of dropping it", async () => {
  const budget = new MemoryBudget(100);
  writer(budget);
  // Two part buffers of 40 uploading, a spare already kept; a writer holding 10 grows.
  const a = await budget.takeBuffer(40);
  const b = await budget.takeBuffer(40);
  await budget.acquire(10);
  const growing = budget.takeBufferOrYield(40, 10);
  assertEquals(budget.stats().waiting, 1);
  // Recycled while the grower waits: handed over, not released (and not allocated anew).
  budget.recycle(a);
  const got = await growing;
  assert(got !== null && got.reused && got.buffer === a, "the recycled buffer was not reused");
  budget.release(10); // the grower's old buffer, copied into the part buffer
  assertEquals(budget.stats().used, 80);
  assertEquals(budget.buffersAllocated, 2);
  budget.recycle(b);
  budget.recycle(got.buffer);
  assertEquals(budget.spareBytes, 80);
});

Deno.test("MemoryBudget tells a holder growing into a buffer to yield when only waiters hold bytes", async () => {
  const budget = new MemoryBudget(100);
  // Two writers hold 40 each and both want to grow to 80: neither can, and nobody else
  // holds anything that will be released. The first is told to yield (it seals its 40).
  await budget.acquire(80);
  const first = budget.takeBufferOrYield(80, 40);
  assertEquals(budget.stats().waiting, 1);
  const second = budget.takeBufferOrYield(80, 40);
  assertEquals(await first, null);
  budget.release(40); // the first writer's sealed buffer, once durable
  // The second gets new bytes for the difference only (its held ones become the buffer's).
  const grown = await second;
  assert(grown !== null && !grown.reused && grown.buffer.length === 80);
  assertEquals(budget.stats().used, 80);
  assertEquals(budget.stats().waiting, 0);
});

Deno.test("MemoryBudget keeps one spare buffer once the last writer has gone, until a read takes bytes", async () => {
  const budget = new MemoryBudget(100);
  const first = writer(budget);
  const second = writer(budget);
  const buffers: Uint8Array[] = [];
  for (let i = 0; i < 3; i++) buffers.push(await budget.takeBuffer(20));
  budget.recycle(buffers[0]!);
  budget.recycle(buffers[1]!);
  first();
  // One writer is left: its next parts may reuse both.
  assertEquals([budget.spareBytes, budget.stats().used], [40, 60]);
  second();
  // None is left (an upload's last part may still be in flight): one stays for the next
  // writer, the other is freed.
  assertEquals([budget.spareBytes, budget.stats().used], [20, 40]);
  budget.recycle(buffers[2]!);
  assertEquals([budget.spareBytes, budget.stats().used], [20, 20]);
  assertEquals(buffers.map((b) => (b.buffer as ArrayBuffer).detached), [false, true, true]);
  // Bytes taken with no writer open (a read): the last spare is freed too.
  assert(budget.tryAcquire(10));
  assertEquals([budget.spareBytes, budget.stats().used], [0, 10]);
  assertEquals(buffers.map((b) => (b.buffer as ArrayBuffer).detached), [true, true, true]);
});
