import { assertEquals } from "../../tests/_assert.ts";
import { MemoryStore } from "../store/memory.ts";
import { MemoryBudget } from "./budget.ts";
import { RangeStreams } from "./range_stream.ts";
import { DiskCache } from "./disk_cache.ts";

const MiB = 1 << 20;

async function setup() {
  const store = new MemoryStore();
  const data = new Uint8Array(40 * MiB).map((_, i) => i % 251);
  await store.put("s/a", data);
  const budget = new MemoryBudget(64 * MiB);
  const streams = new RangeStreams(store, { budget });
  return { data, budget, streams, segment: { id: "a", key: "s/a", size: data.length } };
}

/** Lets settled promises run their reactions (budget releases after a cancel). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("`RangeStreams.stream()` gives back every byte it took, read whole or stopped early", async () => {
  const { data, budget, streams, segment } = await setup();
  let n = 0;
  for await (const chunk of streams.stream(streams.segmentParts(segment, 3, 40 * MiB - 3))) {
    assertEquals(chunk[0], data[3 + n]);
    n += chunk.length;
  }
  assertEquals(n, 40 * MiB - 3);
  assertEquals(budget.stats().used, 0);
  for await (const _ of streams.stream(streams.segmentParts(segment, 0, 40 * MiB))) break;
  await settle();
  assertEquals(budget.stats().used, 0);
});

Deno.test("`RangeStreams.sharedParts()` reads spans with one GET, dropping the gaps", async () => {
  const { data, budget, streams, segment } = await setup();
  const spans = [{ from: 100, to: 5 * MiB }, { from: 5 * MiB + 4096, to: 9 * MiB }, {
    from: 9 * MiB + 1,
    to: 12 * MiB,
  }];
  const chunks: Uint8Array[] = [];
  for await (const chunk of streams.stream(streams.sharedParts(segment, spans))) chunks.push(chunk);
  const got = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  chunks.reduce((at, c) => (got.set(c, at), at + c.length), 0);
  const want = new Uint8Array(got.length);
  spans.reduce((at, s) => (want.set(data.subarray(s.from, s.to), at), at + s.to - s.from), 0);
  assertEquals(got, want);
  assertEquals(streams.stats().gets, 1);
  assertEquals(budget.stats().used, 0);
  // Stopped after the first span: the GET is cancelled and its memory given back.
  for await (const _ of streams.stream(streams.sharedParts(segment, spans))) break;
  await settle();
  assertEquals(budget.stats().used, 0);
});

Deno.test("a disk-tier fill whose GET body stalls gives up, and the next fill runs", async () => {
  const store = new MemoryStore();
  const data = new Uint8Array(3 * MiB).map((_, i) => i % 249);
  await store.put("s/stuck", data);
  await store.put("s/fine", data);
  // The first GET of "s/stuck" sends 1 MiB and then nothing, never ending.
  const stalling: typeof store = Object.create(store);
  let stalls = 0;
  stalling.get = async (key, options) => {
    const result = await store.get(key, options);
    if (key !== "s/stuck" || result?.status !== "ok" || stalls++ > 0) return result;
    const first = new Uint8Array(await new Response(result.body).arrayBuffer()).slice(0, MiB);
    let sent = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent) return new Promise<void>(() => {});
        sent = true;
        controller.enqueue(first);
      },
    });
    return { ...result, body };
  };
  const dir = await Deno.makeTempDir({ prefix: "pagefs-fill-" });
  try {
    const disk = await DiskCache.open({ dir, maxBytes: 16 * MiB });
    const budget = new MemoryBudget(64 * MiB);
    const streams = new RangeStreams(stalling, { budget, disk, fillStallMs: 50 });
    streams.fill({ id: "stuck", key: "s/stuck", size: data.length }, 0, data.length);
    streams.fill({ id: "fine", key: "s/fine", size: data.length }, 0, data.length);
    await disk.flush();
    const has = (id: string) => [0, 1, 2].map((k) => disk.has(id, k, MiB));
    assertEquals([has("stuck"), has("fine")], [[true, false, false], [true, true, true]]);
    assertEquals([disk.stats().pending, budget.stats().used], [0, 0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`RangeStreams.direct()` asks for a body to pipe, the JavaScript paths for a bounded one", async () => {
  const segment = { id: "a", key: "s/a", size: 8 * MiB };
  const asked: (boolean | undefined)[] = [];
  const spy = new class extends MemoryStore {
    override get(...args: Parameters<MemoryStore["get"]>) {
      asked.push(args[1]?.piped);
      return super.get(...args);
    }
  }();
  await spy.put(segment.key, new Uint8Array(segment.size));
  const spied = new RangeStreams(spy, { budget: new MemoryBudget(64 * MiB) });
  // Handed to the runtime whole (a file written in one go, read whole): the GET's own body,
  // which a bounding wrapper would make a JavaScript stream (S3Store's, see its tests).
  const direct = await spied.direct(segment, 0, segment.size);
  await direct!.cancel();
  // Read by PageFS itself (pieces, the page cache's fills): bounded against a stall.
  for await (const _ of spied.stream(spied.segmentParts(segment, 0, MiB))) {
    // drain
  }
  assertEquals(asked, [true, undefined]);
});
