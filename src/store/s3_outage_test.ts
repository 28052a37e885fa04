// The S3 adapter's reachability (`_s3_outage.ts`), through S3Store over a stub endpoint.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { S3Store } from "./s3.ts";
import type { StoreError } from "./types.ts";

/**
 * An S3Store over a stub endpoint: a request for a key in `silent` waits for its abort (no
 * answer), every other one is answered 404 at once. `sent` lists the keys requested.
 */
function silentFor(silent: Set<string>) {
  const sent: string[] = [];
  const store = new S3Store({
    bucket: "quiet",
    endpoint: "http://127.0.0.1:1",
    region: "us-east-1",
    credentials: { accessKeyId: "a", secretAccessKey: "b" },
    requestTimeoutMs: 100,
    unreachableWaitMs: 50,
    fetch: (input, init) => {
      const key = new URL(String(input)).pathname.slice("/quiet/".length);
      sent.push(key);
      if (!silent.has(key)) return Promise.resolve(new Response(null, { status: 404 }));
      // A real connection keeps the process alive while it waits; so does this timer.
      const alive = setInterval(() => {}, 1000);
      return new Promise<Response>((_, reject) => {
        const signal = init?.signal;
        signal?.addEventListener("abort", () => {
          clearInterval(alive);
          reject(signal.reason);
        }, { once: true });
      });
    },
  });
  return { store, sent };
}

Deno.test("an endpoint whose requests time out is taken for unreachable: requests are not sent until it answers", async () => {
  const silent = new Set(["a", "b", "probe/reachability"]);
  const { store, sent } = silentFor(silent);
  const first = await store.head("a").then(() => null, (e: unknown) => e as StoreError);
  equal(first?.kind, "transient", first?.message);
  ok(store.unreachable, "one request with no answer marks the endpoint");
  // Not sent: it fails once the wait for an answer to the probes ends.
  const refused = await store.head("c").then(() => null, (e: unknown) => e as StoreError);
  deepStrictEqual([refused?.kind, refused?.ambiguous], ["unavailable", false], refused?.message);
  deepStrictEqual(sent.filter((k) => k !== "probe/reachability"), ["a"]);
  // The probes get an answer again (a 404 will do): the next request goes out and succeeds.
  silent.delete("probe/reachability");
  for (let i = 0; i < 40 && store.unreachable; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  ok(!store.unreachable, "a probe's answer ends it");
  equal(await store.head("c"), null);
});

Deno.test("a request that times out after the endpoint answered a later one leaves it reachable", async () => {
  // One slow request on a store that answers others sent after it is a slow request, not an
  // endpoint that stopped answering: nothing else is refused for it.
  const { store, sent } = silentFor(new Set(["slow"]));
  const slow = store.head("slow").then(() => null, (e: unknown) => e as StoreError);
  await new Promise((resolve) => setTimeout(resolve, 10));
  equal(await store.head("fast"), null);
  equal((await slow)?.kind, "transient");
  ok(!store.unreachable, "not taken for unreachable");
  equal(await store.head("next"), null);
  deepStrictEqual(sent, ["slow", "fast", "next"]);
});
