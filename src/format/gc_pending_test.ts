import { assertEquals } from "../../tests/_assert.ts";
import { MemoryStore } from "../store/memory.ts";
import { MetaStore } from "./cas.ts";
import { claim, recordRun } from "./gc_pending.ts";

const GRACE = 600_000;

Deno.test("recordRun() makes an object due only a full grace after it first saw it", async () => {
  const meta = new MetaStore(new MemoryStore());
  const first = await recordRun(meta, ["s/x"], { now: 1_000, graceMs: GRACE });
  assertEquals(first, { due: [], recorded: 1, waiting: 0, staleUploads: [] });
  const early = await recordRun(meta, ["s/x"], { now: 1_000 + GRACE - 1, graceMs: GRACE });
  assertEquals(early, { due: [], recorded: 0, waiting: 1, staleUploads: [] });
  // Referenced again meanwhile (absent from a run's list): forgotten, the clock restarts.
  await recordRun(meta, [], { now: 2_000 + GRACE, graceMs: GRACE });
  const again = await recordRun(meta, ["s/x"], { now: 3_000 + GRACE, graceMs: GRACE });
  assertEquals(again, { due: [], recorded: 1, waiting: 0, staleUploads: [] });
  const due = await recordRun(meta, ["s/x"], { now: 3_000 + 2 * GRACE, graceMs: GRACE });
  assertEquals(due, { due: ["s/x"], recorded: 0, waiting: 0, staleUploads: [] });
});

Deno.test("claim() rescues a pending object and refuses a doomed one", async () => {
  const meta = new MetaStore(new MemoryStore());
  assertEquals(await claim(meta, ["s/a"]), true, "no pending set yet");
  await recordRun(meta, ["s/a", "s/b"], { now: 0, graceMs: GRACE });
  // A writer about to name s/a takes it out of the set: the next run records it afresh.
  assertEquals(await claim(meta, ["s/a"]), true);
  const next = await recordRun(meta, ["s/a", "s/b"], { now: GRACE, graceMs: GRACE });
  assertEquals(next, { due: ["s/b"], recorded: 1, waiting: 0, staleUploads: [] });
  // s/b is doomed by that run: a writer must not name it.
  assertEquals(await claim(meta, ["s/b"]), false);
});
