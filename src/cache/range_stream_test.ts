import { assertEquals } from "../../tests/_assert.ts";
import { MemoryStore } from "../store/memory.ts";
import { MemoryBudget } from "./budget.ts";
import { RangeStreams } from "./range_stream.ts";

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
