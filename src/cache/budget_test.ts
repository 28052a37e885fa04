import { assert, assertEquals } from "../../tests/_assert.ts";
import { MemoryBudget } from "./budget.ts";

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
