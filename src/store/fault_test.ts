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
