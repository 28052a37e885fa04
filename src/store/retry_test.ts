import { assert, assertEquals, assertRejects } from "../../tests/_assert.ts";
import { FaultyStore } from "./fault.ts";
import { MemoryStore } from "./memory.ts";
import { RetryStore } from "./retry.ts";
import { StoreError } from "./types.ts";

const noSleep = { sleep: () => Promise.resolve(), random: () => 0.5 };
const data = new Uint8Array([1, 2, 3]);

Deno.test("RetryStore retries transient failures until the call succeeds", async () => {
  const faulty = new FaultyStore(new MemoryStore(), {
    plan: (call) => call.n <= 2 ? { kind: "fail-before", errorKind: "throttled" } : null,
  });
  const store = new RetryStore(faulty, { attempts: 3, ...noSleep });
  await store.put("k", data);
  assertEquals(faulty.calls, 3);
  assertEquals((await store.head("k"))?.size, 3);
});

Deno.test("RetryStore gives up after the configured attempts", async () => {
  const faulty = new FaultyStore(new MemoryStore(), { errorRate: 1 });
  const store = new RetryStore(faulty, { attempts: 4, ...noSleep });
  const error = await assertRejects(() => store.head("k"));
  assert(error instanceof StoreError && error.kind === "transient");
  assertEquals(faulty.calls, 4);
});

Deno.test("RetryStore never repeats a conditional put after an ambiguous failure", async () => {
  const faulty = new FaultyStore(new MemoryStore(), {
    plan: (call) => call.n === 1 ? { kind: "fail-after" } : null,
  });
  const store = new RetryStore(faulty, { attempts: 5, ...noSleep });
  const error = await assertRejects(() => store.put("k", data, { mode: { kind: "create" } }));
  assert(error instanceof StoreError && error.ambiguous, "the ambiguity reaches the caller");
  assertEquals(faulty.calls, 1);
  // The write did happen: the caller resolves the ambiguity by reading.
  assertEquals((await store.head("k"))?.size, 3);
});

Deno.test("RetryStore repeats an ambiguous unconditional put of bytes", async () => {
  const faulty = new FaultyStore(new MemoryStore(), {
    plan: (call) => call.n === 1 ? { kind: "fail-after" } : null,
  });
  const store = new RetryStore(faulty, { attempts: 5, ...noSleep });
  await store.put("k", data);
  assertEquals(faulty.calls, 2);
});

Deno.test("RetryStore retries a conditional put refused before it was applied", async () => {
  const faulty = new FaultyStore(new MemoryStore(), {
    plan: (call) => call.n === 1 ? { kind: "fail-before", errorKind: "throttled" } : null,
  });
  const store = new RetryStore(faulty, { attempts: 5, ...noSleep });
  await store.put("k", data, { mode: { kind: "create" } });
  assertEquals(faulty.calls, 2);
});

Deno.test("RetryStore does not retry a lost race", async () => {
  const faulty = new FaultyStore(new MemoryStore());
  const store = new RetryStore(faulty, { attempts: 5, ...noSleep });
  await store.put("k", data);
  const error = await assertRejects(() => store.put("k", data, { mode: { kind: "create" } }));
  assert(error instanceof StoreError && error.kind === "precondition-failed");
  assertEquals(faulty.calls, 2);
});

Deno.test("RetryStore backs off exponentially with jitter under a cap", async () => {
  const waits: number[] = [];
  const store = new RetryStore(new FaultyStore(new MemoryStore(), { errorRate: 1 }), {
    attempts: 6,
    baseDelayMs: 10,
    maxDelayMs: 100,
    random: () => 0.999,
    sleep: (ms) => (waits.push(ms), Promise.resolve()),
  });
  await assertRejects(() => store.head("k"));
  assertEquals(waits, [9, 19, 39, 79, 99]);
});
