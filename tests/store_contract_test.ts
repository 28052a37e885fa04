// One contract, every backend: memory, local directory and real S3 must agree on each case.

import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { bytes, chunked, contract, pattern, text } from "./_stores.ts";
import {
  type GetResult,
  MeteredStore,
  MIN_PART_SIZE,
  type ObjectStore,
  readAll,
  StoreError,
  StoreMetrics,
} from "../src/store/mod.ts";

async function read(store: ObjectStore, key: string, range?: Parameters<ObjectStore["get"]>[1]) {
  const result = await store.get(key, range);
  assert(result?.status === "ok", `expected an object at ${key}`);
  return { result, data: await readAll(result.body) };
}

function isKind(kind: StoreError["kind"]) {
  return (error: unknown) => error instanceof StoreError && error.kind === kind;
}

async function rejectsWith(kind: StoreError["kind"], fn: () => Promise<unknown>) {
  const error = await assertRejects(fn);
  assert(isKind(kind)(error), `expected StoreError ${kind}, got ${error}`);
}

contract("absent keys read as null and delete quietly", async (store) => {
  assertEquals(await store.head("nope"), null);
  assertEquals(await store.get("nope"), null);
  await store.delete("nope");
  await store.deleteMany(["nope", "nope2"]);
});

contract("put, head, get and delete round-trip bytes and metadata", async (store) => {
  const data = pattern(10_000);
  const { etag } = await store.put("dir/obj", data);
  assert(etag.length > 0 && !etag.includes('"'), "etag is unquoted and non-empty");
  const info = await store.head("dir/obj");
  assertEquals(info?.size, 10_000);
  assertEquals(info?.etag, etag);
  assertEquals(info?.key, "dir/obj");
  const { result, data: back } = await read(store, "dir/obj");
  assertEquals(back, data);
  assertEquals([result.offset, result.length, result.info.size], [0, 10_000, 10_000]);
  const second = await store.put("dir/obj", bytes("replaced"));
  assert(second.etag !== etag, "a new write gets a new etag");
  assertEquals(text((await read(store, "dir/obj")).data), "replaced");
  await store.delete("dir/obj");
  assertEquals(await store.head("dir/obj"), null);
});

contract("ranged reads: closed, open, suffix, clamped and unsatisfiable", async (store) => {
  const data = pattern(1000, 7);
  await store.put("r", data);
  const cases: [Parameters<typeof read>[2], number, number][] = [
    [{ range: { start: 10, end: 19 } }, 10, 20],
    [{ range: { start: 990 } }, 990, 1000],
    [{ range: { start: 500, end: 5000 } }, 500, 1000],
    [{ range: { suffix: 100 } }, 900, 1000],
    [{ range: { suffix: 5000 } }, 0, 1000],
    [{ range: { start: 999, end: 999 } }, 999, 1000],
  ];
  for (const [options, start, end] of cases) {
    const { result, data: part } = await read(store, "r", options);
    assertEquals(part, data.slice(start, end), JSON.stringify(options));
    assertEquals([result.offset, result.length, result.info.size], [start, end - start, 1000]);
  }
  await rejectsWith("invalid-range", () => store.get("r", { range: { start: 1000 } }));
  await rejectsWith("invalid-range", () => store.get("r", { range: { start: 5000, end: 6000 } }));
  await rejectsWith("invalid", () => store.get("r", { range: { start: -1 } }));
  await rejectsWith("invalid", () => store.get("r", { range: { start: 10, end: 5 } }));
});

contract("keys that are empty, too long or hold dot segments are refused", async (store) => {
  for (const key of ["", "k".repeat(1025), ".", "..", "x/./y", "x/../y", "x/..", "./x"]) {
    await rejectsWith("invalid", () => store.put(key, bytes("x")));
    await rejectsWith("invalid", () => store.get(key));
  }
  for (const key of ["x/.../y", "x/.y", "x/y.", "x..y"]) {
    await store.put(key, bytes(key));
    assertEquals((await store.head(key))?.size, key.length);
    await store.delete(key);
  }
});

contract("conditional get answers not-modified for the current etag only", async (store) => {
  const { etag } = await store.put("c", bytes("v1"));
  // Less the store's clock (`date`, S3's `Date`), checked in src/format/store_clock_test.ts.
  const { date: _, ...answer } = (await store.get("c", { ifNoneMatch: etag }))!;
  assertEquals(answer, { status: "not-modified", etag });
  const { etag: etag2 } = await store.put("c", bytes("v2"));
  const { data } = await read(store, "c", { ifNoneMatch: etag });
  assertEquals(text(data), "v2");
  assertEquals((await store.get("c", { ifNoneMatch: etag2 }))?.status, "not-modified");
});

contract("create-only put fails on an existing key and changes nothing", async (store) => {
  await store.put("once", bytes("first"), { mode: { kind: "create" } });
  await rejectsWith(
    "precondition-failed",
    () => store.put("once", bytes("second"), { mode: { kind: "create" } }),
  );
  assertEquals(text((await read(store, "once")).data), "first");
});

contract("replace-if-etag succeeds with the current etag only", async (store) => {
  const { etag } = await store.put("cas", bytes("a"));
  const { etag: next } = await store.put("cas", bytes("b"), { mode: { kind: "replace", etag } });
  await rejectsWith(
    "precondition-failed",
    () => store.put("cas", bytes("c"), { mode: { kind: "replace", etag } }),
  );
  assertEquals(text((await read(store, "cas")).data), "b");
  await rejectsWith(
    "precondition-failed",
    () => store.put("absent", bytes("x"), { mode: { kind: "replace", etag: next } }),
  );
  assertEquals(await store.head("absent"), null);
});

/**
 * A conditional put that lost a race: 412 (or 409), or RGW's 500 for a true collision,
 * which the S3 adapter reports as ambiguous because a 500 does not prove that nothing was
 * written (PageFS resolves it by its write ids). These tests still check that nothing was.
 */
function lostRace(error: unknown): boolean {
  return isKind("precondition-failed")(error) ||
    (error instanceof StoreError && error.ambiguous && / 500 /.test(error.message));
}

contract("16 concurrent create-only puts of one key: exactly one wins", async (store) => {
  const results = await Promise.allSettled(
    Array.from(
      { length: 16 },
      (_, i) => store.put("race", bytes(`writer ${i}`), { mode: { kind: "create" } }),
    ),
  );
  const winners = results.flatMap((r, i) => r.status === "fulfilled" ? [i] : []);
  assertEquals(winners.length, 1, `winners: ${winners}`);
  for (const r of results) {
    if (r.status === "rejected") assert(lostRace(r.reason), `${r.reason}`);
  }
  assertEquals(text((await read(store, "race")).data), `writer ${winners[0]}`);
});

contract("8 writers doing If-Match read-modify-write lose no update", async (store) => {
  await store.put("counter", bytes("0"));
  const perWriter = 5;
  let conflicts = 0;
  async function writer() {
    for (let done = 0; done < perWriter;) {
      const { result, data } = await read(store, "counter");
      const next = bytes(String(Number(text(data)) + 1));
      try {
        await store.put("counter", next, { mode: { kind: "replace", etag: result.info.etag } });
        done++;
      } catch (error) {
        if (!lostRace(error)) throw error;
        conflicts++;
      }
    }
  }
  await Promise.all(Array.from({ length: 8 }, writer));
  assertEquals(text((await read(store, "counter")).data), String(8 * perWriter));
  assert(conflicts > 0, "the writers really raced");
});

contract("list pages through keys in order without a delimiter", async (store) => {
  const keys = Array.from({ length: 25 }, (_, i) => `p/${String(i).padStart(2, "0")}`);
  await Promise.all([...keys, "other", "p0"].map((k) => store.put(k, bytes(k))));
  const seen: string[] = [];
  let pages = 0;
  for (let cursor: string | null = null;;) {
    const page = await store.list({ prefix: "p/", limit: 10, ...(cursor ? { cursor } : {}) });
    pages++;
    assert(page.objects.length <= 10);
    assertEquals(page.prefixes, []);
    seen.push(...page.objects.map((o) => o.key));
    for (const o of page.objects) assertEquals(o.size, o.key.length);
    cursor = page.cursor;
    if (!cursor) break;
  }
  assertEquals(seen, keys);
  assertEquals(pages, 3);
  const all = await store.list();
  assertEquals(all.objects.map((o) => o.key), [...keys, "other", "p0"].sort());
  assertEquals(all.cursor, null);
});

contract("list with a delimiter groups prefixes and pages through them", async (store) => {
  const keys = ["d/a/1", "d/a/2", "d/b/1", "d/c", "d/d/x/y", "d/e", "d/f/1", "e/z"];
  await Promise.all(keys.map((k) => store.put(k, bytes(k))));
  const objects: string[] = [];
  const prefixes: string[] = [];
  for (let cursor: string | null = null;;) {
    const page = await store.list({
      prefix: "d/",
      delimiter: "/",
      limit: 2,
      ...(cursor ? { cursor } : {}),
    });
    assert(page.objects.length + page.prefixes.length <= 2);
    objects.push(...page.objects.map((o) => o.key));
    prefixes.push(...page.prefixes);
    cursor = page.cursor;
    if (!cursor) break;
  }
  assertEquals(objects, ["d/c", "d/e"]);
  assertEquals(prefixes, ["d/a/", "d/b/", "d/d/", "d/f/"]);
  const top = await store.list({ delimiter: "/" });
  assertEquals(top.prefixes, ["d/", "e/"]);
  assertEquals(top.objects, []);
});

contract(
  "keys with spaces, +, %, and UTF-8 round-trip through put, get and list",
  async (store) => {
    const keys = [
      "with space",
      "plus+sign",
      "per%cent%2F",
      "ünïcødé/日本語/файл",
      "emoji 🦕 key",
      "a&b=c?d#e",
      "tilde~and'quote\"",
    ];
    for (const key of keys) await store.put(key, bytes(`value of ${key}`));
    for (const key of keys) {
      assertEquals(text((await read(store, key)).data), `value of ${key}`);
      assertEquals((await store.head(key))?.key, key);
    }
    const listed = (await store.list()).objects.map((o) => o.key);
    assertEquals(new Set(listed), new Set(keys));
    // S3 sorts by UTF-8 bytes: "ü" (C3 BC) after every ASCII key.
    assertEquals(listed[listed.length - 1], "ünïcødé/日本語/файл");
    assertEquals((await store.list({ prefix: "ünïcødé/" })).objects.length, 1);
  },
);

contract("multipart with 5 MiB parts and a short last part", async (store) => {
  const parts = [pattern(MIN_PART_SIZE, 1), pattern(MIN_PART_SIZE, 2), pattern(12_345, 3)];
  const upload = await store.createMultipart("mp");
  // Parts may arrive out of order; completion orders them by number.
  const uploaded = await Promise.all(parts.map((p, i) => store.uploadPart(upload, i + 1, p)));
  assertEquals(await store.head("mp"), null, "invisible until complete");
  await store.completeMultipart(upload, uploaded);
  const { data } = await read(store, "mp");
  assertEquals(data.length, 2 * MIN_PART_SIZE + 12_345);
  assertEquals(data.slice(0, MIN_PART_SIZE), parts[0]);
  assertEquals(data.slice(MIN_PART_SIZE, 2 * MIN_PART_SIZE), parts[1]);
  assertEquals(data.slice(2 * MIN_PART_SIZE), parts[2]);
  const { data: tail } = await read(store, "mp", { range: { suffix: 100 } });
  assertEquals(tail, parts[2]!.slice(-100));
});

contract("multipart rejects a small middle part and aborts cleanly", async (store) => {
  const upload = await store.createMultipart("small");
  const a = await store.uploadPart(upload, 1, pattern(1024, 1));
  const b = await store.uploadPart(upload, 2, pattern(1024, 2));
  await rejectsWith("invalid", () => store.completeMultipart(upload, [a, b]));
  await store.abortMultipart(upload);
  assertEquals(await store.head("small"), null);
  const other = await store.createMultipart("aborted");
  const part = await store.uploadPart(other, 1, pattern(100));
  await store.abortMultipart(other);
  await assertRejects(() => store.completeMultipart(other, [part]));
  assertEquals(await store.head("aborted"), null);
});

contract("`uploadPart()` refuses a part number outside 1 to 10,000", async (store) => {
  const upload = await store.createMultipart("numbers");
  for (const n of [0, -1, 1.5, 10_001, Number.NaN]) {
    await rejectsWith("invalid", () => store.uploadPart(upload, n, pattern(10)));
  }
  const last = await store.uploadPart(upload, 10_000, pattern(10));
  await store.completeMultipart(upload, [last]);
  assertEquals((await read(store, "numbers")).data, pattern(10));
});

contract("streamed bodies, with and without a length, round-trip", async (store) => {
  const data = pattern(3 * 1024 * 1024 + 17, 5);
  await store.put("s1", chunked(data, 64 * 1024), { contentLength: data.length });
  await store.put("s2", chunked(data, 100_000));
  for (const key of ["s1", "s2"]) {
    const result = await store.get(key) as GetResult;
    let total = 0;
    let chunks = 0;
    for await (const chunk of result.body) {
      assertEquals(chunk, data.slice(total, total + chunk.length));
      total += chunk.length;
      chunks++;
    }
    assertEquals(total, data.length);
    assert(chunks >= 1);
  }
  await store.put("empty", chunked(new Uint8Array(0), 10));
  assertEquals((await store.head("empty"))?.size, 0);
  assertEquals((await read(store, "empty")).data.length, 0);
});

contract("deleteMany removes every key given", async (store) => {
  const keys = Array.from({ length: 30 }, (_, i) => `del/${i}`);
  await Promise.all(keys.map((k) => store.put(k, bytes(k))));
  await store.put("keep", bytes("k"));
  await store.deleteMany([...keys, "never-existed"]);
  assertEquals((await store.list()).objects.map((o) => o.key), ["keep"]);
});

contract("metrics count each request and the bytes moved", async (inner) => {
  const metrics = new StoreMetrics();
  const store = new MeteredStore(inner, metrics);
  await store.put("m/a", pattern(1000));
  await store.put("m/b", chunked(pattern(3000), 1000));
  await readAll(((await store.get("m/a")) as GetResult).body);
  await readAll(((await store.get("m/b", { range: { start: 0, end: 99 } })) as GetResult).body);
  await store.head("m/a");
  await store.head("m/missing");
  await store.list({ prefix: "m/" });
  await rejectsWith("precondition-failed", () =>
    store.put("m/a", pattern(1), {
      mode: { kind: "create" },
    }));
  const snapshot = metrics.snapshot();
  assertEquals(snapshot.requests, {
    PutObject: 3,
    GetObject: 2,
    HeadObject: 2,
    ListObjectsV2: 1,
  });
  assertEquals(snapshot.errors, { PutObject: 1 });
  assertEquals(snapshot.uploadBytes, 4000);
  assertEquals(snapshot.downloadBytes, 1100);
  const rendered = metrics.render();
  assert(rendered.includes('pagefs_s3_requests_total{op="PutObject"} 3'), rendered);
  assert(rendered.includes('pagefs_s3_bytes_total{direction="upload"} 4000'), rendered);
  assert(rendered.includes('pagefs_s3_bytes_total{direction="download"} 1100'), rendered);
});
