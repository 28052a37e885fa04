import { assert, assertEquals } from "../../tests/_assert.ts";
import { MemoryStore } from "../store/memory.ts";
import { readAll } from "../store/_util.ts";
import { MemoryBudget } from "./budget.ts";
import { DirtyData, type DirtyDeps, type DirtyPiece } from "./dirty.ts";

const PART = 5 << 20;

/** Dirty data over a memory store whose group commit is one PUT per call, counted. */
function setUp(budget: MemoryBudget) {
  const store = new MemoryStore();
  let sealed = 0;
  const deps: DirtyDeps = {
    store,
    budget,
    partSize: PART,
    commit: async (bytes) => {
      const key = `sealed-${sealed++}`;
      await store.put(key, bytes.slice());
      return { segment: key, offset: 0 };
    },
  };
  const read = async (pieces: readonly DirtyPiece[], size: number) => {
    const out = new Uint8Array(size);
    for (const p of pieces) {
      const key = p.segment.startsWith("sealed-") ? p.segment : `s/${p.segment.split(":")[0]}`;
      const got = await store.get(key);
      assert(got?.status === "ok", `piece ${p.segment}`);
      out.set((await readAll(got.body)).subarray(p.offset, p.offset + p.length), p.pos);
    }
    return out;
  };
  return { deps, read, sealed: () => sealed };
}

Deno.test("a dirty buffer held idle while another writer is stuck is sealed, and every byte lands", async () => {
  const budget = new MemoryBudget(PART + (1 << 20), { idleYieldMs: 20 });
  const { deps, read, sealed } = setUp(budget);
  // A slow writer: 2 MiB so far (it holds a whole part), then nothing for a while.
  const slow = new DirtyData(deps);
  const first = new Uint8Array(2 << 20).fill(1);
  await slow.append(first);
  assertEquals(budget.stats().used, PART);
  // Another writer wants two parts' worth: it waits, stuck behind the slow one's part.
  const fast = new DirtyData(deps);
  const big = new Uint8Array(PART + (1 << 20)).fill(2);
  // Once the slow writer has held its part for the threshold, it is asked: it seals its
  // buffer, and the fast one goes on.
  await fast.append(big);
  assertEquals(sealed(), 1);
  // The slow writer goes on in a new buffer; both finish with every byte in place.
  const second = new Uint8Array(3000).fill(3);
  await slow.append(second);
  const slowPieces = await slow.finish();
  const fastPieces = await fast.finish();
  const expected = new Uint8Array(first.length + second.length);
  expected.set(first);
  expected.set(second, first.length);
  assertEquals(slowPieces.length, 2);
  assert((await read(slowPieces, expected.length)).every((b, i) => b === expected[i]));
  assert((await read(fastPieces, big.length)).every((b) => b === 2));
  assertEquals(budget.stats().used - budget.spareBytes, 0);
});

Deno.test("a holder is not asked before it has held its buffer for the threshold", async () => {
  const budget = new MemoryBudget(PART + (1 << 20), { idleYieldMs: 3_600_000 });
  const { deps, sealed } = setUp(budget);
  const slow = new DirtyData(deps);
  await slow.append(new Uint8Array(2 << 20).fill(1));
  const fast = new DirtyData(deps);
  let done = false;
  const appended = fast.append(new Uint8Array(PART).fill(2)).then(() => done = true);
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setTimeout(resolve, 1));
  assertEquals(done, false, "waits: the slow writer's part is not idle long enough");
  assertEquals(sealed(), 0);
  // The slow writer fills its part and finishes: the part goes out, and its buffer comes
  // back to the waiter.
  await slow.append(new Uint8Array(PART - (2 << 20)).fill(1));
  const finished = slow.finish();
  await appended;
  await Promise.all([finished, fast.finish()]);
  assertEquals(sealed(), 0);
});
