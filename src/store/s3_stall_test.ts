// An S3 server that stops answering: a request with no answer, or a body that stops coming,
// fails once the request timeout passes without progress, instead of hanging the caller.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { readAll } from "./_util.ts";
import { S3Store } from "./s3.ts";
import { StoreError } from "./types.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("a server that never answers fails the request after the timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  try {
    // A store each: the first request that times out marks its endpoint unreachable, and
    // the store sends nothing more until it answers (next test).
    const silentStore = () =>
      new S3Store({
        bucket: "silent",
        endpoint: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
        region: "us-east-1",
        credentials: { accessKeyId: "a", secretAccessKey: "b" },
        requestTimeoutMs: 200,
      });
    const failed = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as StoreError);
    const read = await failed(silentStore().get("k"));
    deepStrictEqual([read?.kind, read?.ambiguous], ["transient", false], read?.message);
    const writer = silentStore();
    const write = await failed(writer.put("k", bytes("x"), { mode: { kind: "create" } }));
    deepStrictEqual([write?.kind, write?.ambiguous], ["transient", true], write?.message);
    // One timer bounds every request in flight and stops when none is: after a quiet
    // spell, and with several at once, each request is still bounded.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const store = silentStore();
    const again = await Promise.all([failed(store.get("a")), failed(store.head("b"))]);
    deepStrictEqual(again.map((e) => e?.kind), ["transient", "transient"]);
    // Marked unreachable by them, it sends nothing more: refused, not sent, not ambiguous.
    const refused = await failed(writer.put("k", bytes("x"), { mode: { kind: "create" } }));
    deepStrictEqual([refused?.kind, refused?.ambiguous], ["unavailable", false]);
  } finally {
    listener.close();
    await accepting.catch(() => {});
    for (const conn of held) conn.close();
  }
});

Deno.test("a GET whose body stops coming fails once the request timeout passes without bytes", async () => {
  // Headers and the first bytes come, then nothing (a connection lost without a reset, a
  // server stalling). Before, reading the body waited for good: nothing bounded it once the
  // headers had come, and a metadata GET stuck so held up every create in its directory.
  const { store, state } = stallingStore(new TextEncoder().encode("{"), {
    headers: { etag: '"e"' },
  });
  const got = await store.get("d/1");
  ok(got && got.status === "ok");
  const outcome = await readOrHang(got.body);
  ok(outcome instanceof StoreError, `expected a StoreError, got ${outcome}`);
  equal(outcome.kind, "transient");
  ok(state.cancelled, "the stalled body was cancelled (its connection given up)");
});

/**
 * An S3Store whose every GET answers `init`, sends `chunk`, then stalls for good: the two
 * stalled-body tests differ only in what the server says before it stops.
 */
function stallingStore(chunk: Uint8Array, init: ResponseInit) {
  const state = { cancelled: false, body: null as ReadableStream<Uint8Array> | null };
  const store = new S3Store({
    bucket: "stall",
    endpoint: "http://127.0.0.1:1",
    region: "us-east-1",
    credentials: { accessKeyId: "a", secretAccessKey: "b" },
    requestTimeoutMs: 100,
    fetch: () => {
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull: (c) => {
          if (sent) return new Promise<void>(() => {}); // never another byte
          sent = true;
          c.enqueue(chunk.slice());
        },
        cancel: () => {
          state.cancelled = true;
        },
      });
      state.body = body;
      return Promise.resolve(new Response(body, init));
    },
  });
  return { store, state };
}

/**
 * How reading `body` ends: "read", the error it failed with, or "hung" if it has done
 * neither after 10 s (so a regression fails the test instead of hanging it).
 */
async function readOrHang(body: ReadableStream<Uint8Array>): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<"hung">((resolve) => timer = setTimeout(() => resolve("hung"), 10_000));
  try {
    const read = readAll(body).then(() => "read", (error) => error);
    return await Promise.race([read, hung]);
  } finally {
    clearTimeout(timer);
  }
}

Deno.test("a GET of a data range whose body stops coming fails too, unless its body is piped", async () => {
  // A page cache fill (a ranged GET of up to several MiB) whose body stalled held its slot of
  // the cache's parallel GETs and its share of the memory budget for good: every read
  // waiting on those pages, and after a few such stalls every fill of every file, hung.
  const length = 8 << 20;
  const { store, state } = stallingStore(new Uint8Array(64 << 10), {
    status: 206,
    headers: {
      etag: '"e"',
      "content-length": String(length),
      "content-range": `bytes 0-${length - 1}/${length}`,
    },
  });
  const got = await store.get("g/segment", { range: { start: 0, end: length - 1 } });
  ok(got && got.status === "ok");
  const outcome = await readOrHang(got.body);
  ok(outcome instanceof StoreError, `expected a StoreError, got ${outcome}`);
  equal(outcome.kind, "transient");
  ok(state.cancelled, "the stalled body was cancelled (its connection given up)");
  // A body handed to the runtime to pipe into an HTTP answer is the answer's own stream:
  // wrapping it in JavaScript would cost the native pipe (its reader, the client, bounds it).
  const piped = await store.get("g/segment", { range: { start: 0, end: length - 1 }, piped: true });
  ok(piped && piped.status === "ok");
  ok(piped.body === state.body, "the piped body is the answer's own");
  await piped.body.cancel();
});
