import { assert, assertEquals, assertRejects } from "../../tests/_assert.ts";
import { FaultyStore } from "./fault.ts";
import { MemoryStore } from "./memory.ts";
import { StoreError } from "./types.ts";

const one = new Uint8Array([1]);

Deno.test("FaultyStore crashAt fails every call from that index on, applying none", async () => {
  const inner = new MemoryStore();
  const store = new FaultyStore(inner, { crashAt: 3 });
  await store.put("a", one);
  await store.put("b", one);
  await assertRejects(() => store.put("c", one));
  await assertRejects(() => store.head("a"));
  assertEquals((await inner.list()).objects.map((o) => o.key), ["a", "b"]);
  assertEquals(store.injected, 2);
});

Deno.test("FaultyStore fail-after applies the write, then reports an ambiguous error", async () => {
  const inner = new MemoryStore();
  const store = new FaultyStore(inner, {
    plan: (call) => call.op === "PutObject" ? { kind: "fail-after" } : null,
  });
  const error = await assertRejects(() => store.put("k", one));
  assert(error instanceof StoreError && error.ambiguous && error.kind === "transient");
  assertEquals((await inner.head("k"))?.size, 1);
});

Deno.test("FaultyStore errorRate draws from the given random source", async () => {
  let i = 0;
  const draws = [0.1, 0.9, 0.1, 0.9];
  const store = new FaultyStore(new MemoryStore(), {
    errorRate: 0.5,
    random: () => draws[i++ % draws.length]!,
  });
  const outcomes = [];
  for (let n = 0; n < 4; n++) {
    outcomes.push(await store.head("x").then(() => "ok", () => "fail"));
  }
  assertEquals(outcomes, ["fail", "ok", "fail", "ok"]);
});

Deno.test("FaultyStore adds latency to every call", async () => {
  const store = new FaultyStore(new MemoryStore(), { latencyMs: 30 });
  const start = performance.now();
  await store.head("x");
  assert(performance.now() - start >= 25);
  store.configure({});
  assertEquals(store.calls, 1);
});

Deno.test("FaultyStore fail-after with a status applies, runs `between`, then answers that 5xx", async () => {
  const inner = new MemoryStore();
  const seen: (number | undefined)[] = [];
  const store = new FaultyStore(inner, {
    plan: (call) =>
      call.n === 1
        ? {
          kind: "fail-after",
          status: 502,
          // Runs after the write was applied, before the caller hears anything.
          between: async () => void seen.push((await inner.head("k"))?.size),
        }
        : null,
  });
  const error = await assertRejects(() => store.put("k", one, { mode: { kind: "create" } }));
  assert(error instanceof StoreError && error.ambiguous && error.kind === "transient");
  assert(error.message.includes("HTTP 502"));
  assertEquals(seen, [1]);
  assertEquals(store.injected, 1);
});

Deno.test("FaultyStore pass runs `between` after applying and then answers normally", async () => {
  const inner = new MemoryStore();
  const order: string[] = [];
  const store = new FaultyStore(inner, {
    plan: (call) =>
      call.n === 1 ? { kind: "pass", between: async () => void order.push("between") } : null,
  });
  await store.put("k", one).then(() => order.push("answered"));
  assertEquals(order, ["between", "answered"]);
});

Deno.test("FaultyStore delay after stalls the answer of an applied call", async () => {
  const inner = new MemoryStore();
  const store = new FaultyStore(inner, {
    plan: (call) => call.n === 1 ? { kind: "delay", ms: 40, after: true } : null,
  });
  const start = performance.now();
  const put = store.put("k", one);
  await new Promise((resolve) => setTimeout(resolve, 10));
  // Applied already, though the caller is still waiting for the answer.
  assertEquals((await inner.head("k"))?.size, 1);
  await put;
  assert(performance.now() - start >= 35);
});
