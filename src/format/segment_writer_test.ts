import { assert, assertEquals, assertRejects } from "../../tests/_assert.ts";
import { readAll } from "../store/_util.ts";
import { type StoreMethod, WrappedStore } from "../store/_wrapper.ts";
import { FaultyStore } from "../store/fault.ts";
import { MemoryStore } from "../store/memory.ts";
import { MeteredStore, StoreMetrics } from "../store/metrics.ts";
import {
  MIN_PART_SIZE,
  type MultipartUpload,
  type ObjectStore,
  StoreError,
} from "../store/types.ts";
import { SegmentWriter } from "./segment_writer.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Counts how many calls of each method run at the same time. */
class ConcurrencyStore extends WrappedStore {
  active = 0;
  peak = 0;
  /** Called while each uploadPart is running. */
  onUpload: () => void = () => {};

  protected override async call<T>(
    method: StoreMethod,
    _detail: unknown,
    run: () => Promise<T>,
  ): Promise<T> {
    if (method !== "uploadPart") return run();
    this.active++;
    this.peak = Math.max(this.peak, this.active);
    this.onUpload();
    try {
      return await run();
    } finally {
      this.active--;
    }
  }
}

function setup() {
  const memory = new MemoryStore();
  const metrics = new StoreMetrics();
  return { memory, metrics, store: new MeteredStore(memory, metrics) };
}

async function contents(store: ObjectStore, key: string): Promise<Uint8Array | null> {
  const result = await store.get(key);
  if (result?.status !== "ok") return null;
  return readAll(result.body);
}

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (seed * 131 + i * 7) & 0xff;
  return bytes;
}

Deno.test("SegmentWriter writes a small segment with exactly one PutObject", async () => {
  const { memory, metrics, store } = setup();
  const writer = new SegmentWriter(store, "s/small");
  const a = pattern(700, 1);
  const b = pattern(324, 2);
  assertEquals(await writer.append(a), 0);
  assertEquals(await writer.append(b), 700);
  assertEquals(writer.size, 1024);
  assertEquals(metrics.total(), 0, "nothing is sent before finish");
  await writer.finish();
  assertEquals(metrics.snapshot().requests, { PutObject: 1 });
  const expected = new Uint8Array(1024);
  expected.set(a);
  expected.set(b, 700);
  assertEquals(await contents(memory, "s/small"), expected);
  assert(writer.bufferedBytes === 0, "buffers are released after finish");
});

Deno.test("SegmentWriter keeps a small segment's buffer small", async () => {
  const writer = new SegmentWriter(new MemoryStore(), "s/tiny");
  await writer.append(new Uint8Array(10));
  assert(writer.bufferedBytes <= 64 * KiB, `buffered ${writer.bufferedBytes}`);
  await writer.finish();
});

Deno.test("SegmentWriter writes an empty segment as one empty PutObject", async () => {
  const { memory, metrics, store } = setup();
  await new SegmentWriter(store, "s/empty").finish();
  assertEquals(metrics.snapshot().requests, { PutObject: 1 });
  assertEquals((await memory.head("s/empty"))?.size, 0);
});

Deno.test("SegmentWriter writes a segment of exactly one part with one PutObject", async () => {
  const { memory, metrics, store } = setup();
  const writer = new SegmentWriter(store, "s/one", { partSize: MIN_PART_SIZE });
  const bytes = pattern(MIN_PART_SIZE, 3);
  await writer.append(bytes.subarray(0, 1000));
  await writer.append(bytes.subarray(1000));
  await writer.finish();
  assertEquals(metrics.snapshot().requests, { PutObject: 1 });
  assertEquals(await contents(memory, "s/one"), bytes);
});

Deno.test("SegmentWriter streams 60 MiB as 12 parts with at most maxInFlight + 1 parts in memory", async () => {
  const metrics = new StoreMetrics();
  const memory = new MemoryStore();
  // Slow uploads, so that appends really outrun them and backpressure has to act.
  const tracking = new ConcurrencyStore(new FaultyStore(memory, { latencyMs: 5 }));
  const store = new MeteredStore(tracking, metrics);
  const partSize = 5 * MiB;
  const writer = new SegmentWriter(store, "s/big", { partSize, maxInFlight: 2 });
  let peak = 0;
  tracking.onUpload = () => peak = Math.max(peak, writer.bufferedBytes);
  const piece = new Uint8Array(100 * KiB); // reused for every append, as callers may do
  const total = 60 * MiB;
  for (let at = 0, i = 0; at < total; at += piece.length, i++) {
    piece.fill(i & 0xff);
    assertEquals(await writer.append(piece.subarray(0, Math.min(piece.length, total - at))), at);
    peak = Math.max(peak, writer.bufferedBytes);
  }
  await writer.finish();
  assertEquals(metrics.snapshot().requests, {
    CreateMultipartUpload: 1,
    UploadPart: 12,
    CompleteMultipartUpload: 1,
  });
  assert(peak <= 3 * partSize, `peak buffered ${peak} bytes`);
  assert(peak > partSize, "parts were uploading while the next one filled");
  assertEquals(tracking.peak, 2, "parts upload in parallel, never more than maxInFlight");
  const written = await contents(memory, "s/big");
  assertEquals(written?.length, total);
  for (let at = 0, i = 0; at < total; at += piece.length, i++) {
    const last = Math.min(at + piece.length, total) - 1;
    if (written![at] !== (i & 0xff) || written![last] !== (i & 0xff)) {
      throw new Error(`Piece ${i} has the wrong bytes`);
    }
  }
});

Deno.test("SegmentWriter splits one large append across parts", async () => {
  const { memory, metrics, store } = setup();
  const writer = new SegmentWriter(store, "s/large", { partSize: MIN_PART_SIZE });
  const bytes = pattern(2 * MIN_PART_SIZE + 12345, 4);
  assertEquals(await writer.append(new Uint8Array(3)), 0);
  assertEquals(await writer.append(bytes), 3);
  await writer.finish();
  assertEquals(metrics.snapshot().requests, {
    CreateMultipartUpload: 1,
    UploadPart: 3,
    CompleteMultipartUpload: 1,
  });
  const expected = new Uint8Array(bytes.length + 3);
  expected.set(bytes, 3);
  assertEquals(await contents(memory, "s/large"), expected);
});

Deno.test("SegmentWriter applies appends in call order without awaiting each", async () => {
  const { memory, store } = setup();
  const writer = new SegmentWriter(store, "s/order", { partSize: MIN_PART_SIZE });
  const pieces = Array.from({ length: 30 }, (_, i) => pattern(300 * KiB + i, i));
  const offsets = await Promise.all(pieces.map((p) => writer.append(p)));
  await writer.finish();
  const expected = new Uint8Array(pieces.reduce((n, p) => n + p.length, 0));
  let at = 0;
  pieces.forEach((p, i) => {
    assertEquals(offsets[i], at);
    expected.set(p, at);
    at += p.length;
  });
  assertEquals(await contents(memory, "s/order"), expected);
});

/** Remembers the multipart uploads it creates. */
class RecordingStore extends MemoryStore {
  uploads: MultipartUpload[] = [];
  override async createMultipart(key: string): Promise<MultipartUpload> {
    const upload = await super.createMultipart(key);
    this.uploads.push(upload);
    return upload;
  }
}

Deno.test("SegmentWriter fails finish on a failed part upload, and abort aborts the upload", async () => {
  const memory = new RecordingStore();
  const metrics = new StoreMetrics();
  const faulty = new FaultyStore(memory, {
    plan: (call) => call.op === "UploadPart" && call.n === 3 ? { kind: "fail-before" } : null,
  });
  const store = new MeteredStore(faulty, metrics);
  const writer = new SegmentWriter(store, "s/failed", { partSize: MIN_PART_SIZE });
  const piece = new Uint8Array(MiB);
  // The failure surfaces in a later append or in finish, never silently.
  const failed = await (async () => {
    try {
      for (let i = 0; i < 20; i++) await writer.append(piece);
    } catch (error) {
      return error;
    }
    return assertRejects(() => writer.finish());
  })();
  assert(failed instanceof StoreError && failed.kind === "transient", String(failed));
  await assertRejects(() => writer.append(piece));
  await writer.abort();
  await writer.abort(); // twice is fine
  const requests = metrics.snapshot().requests;
  assertEquals(requests.AbortMultipartUpload, 1);
  assertEquals(requests.CompleteMultipartUpload, undefined);
  assertEquals(await memory.head("s/failed"), null);
  assertEquals(memory.uploads.length, 1);
  const error = await assertRejects(() => memory.uploadPart(memory.uploads[0]!, 9, piece));
  assert(error instanceof StoreError && error.kind === "not-found", "the upload is gone");
  assertEquals(writer.bufferedBytes, 0);
});

Deno.test("SegmentWriter abort after a failed complete leaves no upload behind", async () => {
  const memory = new MemoryStore();
  const faulty = new FaultyStore(memory, {
    plan: (call) => call.op === "CompleteMultipartUpload" ? { kind: "fail-before" } : null,
  });
  const metrics = new StoreMetrics();
  const writer = new SegmentWriter(new MeteredStore(faulty, metrics), "s/c", {
    partSize: MIN_PART_SIZE,
  });
  await writer.append(new Uint8Array(MIN_PART_SIZE + 1));
  await assertRejects(() => writer.finish());
  await writer.abort();
  assertEquals(metrics.snapshot().requests.AbortMultipartUpload, 1);
  assertEquals(await memory.head("s/c"), null);
});

Deno.test("SegmentWriter abort before any part sends nothing", async () => {
  const { metrics, store } = setup();
  const writer = new SegmentWriter(store, "s/none");
  await writer.append(new Uint8Array(100));
  await writer.abort();
  assertEquals(metrics.total(), 0);
  await assertRejects(() => writer.append(new Uint8Array(1)));
  await assertRejects(() => writer.finish());
});

Deno.test("SegmentWriter refuses to append or finish once finished", async () => {
  const writer = new SegmentWriter(new MemoryStore(), "s/done");
  await writer.finish();
  await assertRejects(() => writer.append(new Uint8Array(1)));
  await assertRejects(() => writer.finish());
  await writer.abort(); // no-op
});

Deno.test("SegmentWriter rejects parts smaller than S3's minimum", () => {
  for (const options of [{ partSize: MIN_PART_SIZE - 1 }, { maxInFlight: 0 }]) {
    let threw = false;
    try {
      new SegmentWriter(new MemoryStore(), "s/x", options);
    } catch (error) {
      threw = error instanceof RangeError;
    }
    assert(threw, JSON.stringify(options));
  }
});

Deno.test("SegmentWriter with maxParts says how much room is left and refuses a part more", async () => {
  const store = new MemoryStore();
  const writer = new SegmentWriter(store, "s/max", { partSize: MIN_PART_SIZE, maxParts: 2 });
  assertEquals(writer.room, 2 * MIN_PART_SIZE);
  await writer.append(new Uint8Array(2 * MIN_PART_SIZE));
  assertEquals(writer.room, 0);
  // A third part would exceed the segment's most parts: the caller must roll over first.
  await assertRejects(() => writer.append(new Uint8Array(1)).then(() => writer.finish()));
  await writer.abort();
});
