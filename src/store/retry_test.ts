import { assert, assertEquals, assertRejects } from "../../tests/_assert.ts";
import { FaultyStore } from "./fault.ts";
import { MemoryStore } from "./memory.ts";
import { RetryStore } from "./retry.ts";
import { StoreError } from "./types.ts";

const noSleep = { sleep: () => Promise.resolve(), random: () => 0.5 };
const data = new Uint8Array([1, 2, 3]);
const bytes = (text: string) => new TextEncoder().encode(text);

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

Deno.test("RetryStore never sends a conditional put twice after a 5xx that may have applied it", async () => {
  for (const status of [undefined, 500, 502, 503, 504] as const) {
    for (const mode of [{ kind: "create" as const }, { kind: "replace" as const, etag: "" }]) {
      const inner = new MemoryStore();
      const base = await inner.put("k", data);
      const faulty = new FaultyStore(inner, {
        plan: (call) =>
          call.op === "PutObject"
            ? { kind: "fail-after", ...(status === undefined ? {} : { status }) }
            : null,
      });
      const store = new RetryStore(faulty, { attempts: 5, ...noSleep });
      if (mode.kind === "create") await inner.delete("k");
      const put = store.put("k", bytes("new"), {
        mode: mode.kind === "create" ? mode : { kind: "replace", etag: base.etag },
      });
      const error = await assertRejects(() => put);
      assert(error instanceof StoreError && error.ambiguous, `${status}: ${error}`);
      assertEquals(faulty.calls, 1, `${status} ${mode.kind}: sent once`);
    }
  }
});

Deno.test("RetryStore completeMultipart whose answer was lost looks before failing", async () => {
  const faulty = new FaultyStore(new MemoryStore(), {
    plan: (call) =>
      call.op === "CompleteMultipartUpload" ? { kind: "fail-after", status: 502 } : null,
  });
  const store = new RetryStore(faulty, { attempts: 5, ...noSleep });
  const upload = await store.createMultipart("seg");
  const part = await store.uploadPart(upload, 1, data);
  const ops: string[] = [];
  faulty.configure({
    plan: (call) => {
      ops.push(call.op);
      return call.op === "CompleteMultipartUpload" ? { kind: "fail-after", status: 502 } : null;
    },
  });
  const { etag } = await store.completeMultipart(upload, [part]);
  // One complete, then one HEAD that finds the object: the complete is not repeated.
  assertEquals(ops, ["CompleteMultipartUpload", "HeadObject"]);
  assertEquals(etag, (await store.head("seg"))?.etag);
});

Deno.test("RetryStore completes an upload again when the failed attempt did nothing", async () => {
  const inner = new MemoryStore();
  const ops: string[] = [];
  const faulty = new FaultyStore(inner, {
    plan: (call) => {
      ops.push(call.op);
      const first = ops.filter((op) => op === "CompleteMultipartUpload").length === 1;
      return call.op === "CompleteMultipartUpload" && first
        ? { kind: "fail-before", ambiguous: true }
        : null;
    },
  });
  const store = new RetryStore(faulty, { attempts: 5, ...noSleep });
  const upload = await store.createMultipart("seg");
  const part = await store.uploadPart(upload, 1, data);
  await store.completeMultipart(upload, [part]);
  assertEquals((await inner.head("seg"))?.size, 3);
  // Not there after the failure: completed again, once.
  assertEquals(ops.slice(2), [
    "CompleteMultipartUpload",
    "HeadObject",
    "CompleteMultipartUpload",
  ]);
});

Deno.test("RetryStore starts no attempt once the call has run for its budget", async () => {
  // An attempt that waited out the S3 request bound with no answer (here: 60 ms before it
  // fails) is not repeated: before, each of 5 attempts waited 60 s on a silent endpoint.
  const slowFailure = {
    kind: "fail-before" as const,
    between: () => new Promise<void>((resolve) => setTimeout(resolve, 60)),
  };
  const faulty = new FaultyStore(new MemoryStore(), { plan: () => slowFailure });
  const store = new RetryStore(faulty, { attempts: 5, budgetMs: 50, ...noSleep });
  const error = await assertRejects(() => store.get("k"));
  assert(error instanceof StoreError && error.kind === "transient");
  assertEquals(faulty.calls, 1);
  // Failures that come at once are retried within the budget as before.
  const quick = new FaultyStore(new MemoryStore(), { errorRate: 1 });
  await assertRejects(() => new RetryStore(quick, { budgetMs: 10_000, ...noSleep }).get("k"));
  assertEquals(quick.calls, 5);
});

Deno.test("RetryStore reports an attempt that may have been applied, not a repeat refused unsent", async () => {
  // The first PUT's answer was lost; the repeat is refused before it is sent (the endpoint is
  // taken for unreachable): the caller must hear that the write may have happened.
  const faulty = new FaultyStore(new MemoryStore(), {
    plan: (call) => call.n === 1 ? { kind: "fail-after" } : null,
  });
  const inner = faulty.put.bind(faulty);
  let calls = 0;
  faulty.put = (...args) =>
    ++calls === 1 ? inner(...args) : Promise.reject(new StoreError("unavailable", "unsent"));
  const store = new RetryStore(faulty, { attempts: 5, ...noSleep });
  const error = await assertRejects(() => store.put("k", data));
  assert(error instanceof StoreError && error.ambiguous, `${error}`);
  assertEquals(calls, 2);
});
