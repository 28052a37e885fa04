// Directory moves from two instances whose store calls a seeded scheduler interleaves
// (tests/_scheduler.ts): the same workload as tests/vfs_concurrency_test.ts's movingDirs,
// but each seed is one reproducible interleaving, and far more of them are tried.

import { fsck } from "../src/format/fsck.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { FsError } from "../src/vfs/errors.ts";
import { Vfs } from "../src/vfs/vfs.ts";
import { assert, assertEquals } from "./_assert.ts";
import { checkConsistency, findDir, Rng } from "./_model.ts";
import { ScheduledStore, Scheduler } from "./_scheduler.ts";
import { bytes, text } from "./_stores.ts";

/**
 * SCHED_DIR_ENTRIES=<n>: directory objects of at most n entries (1: a directory of two
 * names is age-sharded already), so that the same schedules run over shards.
 */
const dirLimits = Deno.env.get("SCHED_DIR_ENTRIES")
  ? { dirLimits: { maxEntries: Number(Deno.env.get("SCHED_DIR_ENTRIES")) } }
  : {};

const ALLOWED = new Set(["ok", "ENOENT", "EINVAL", "EEXIST", "EAGAIN"]);

/**
 * `lanes` workers on two instances moving five directories into one another at random,
 * their calls interleaved by a scheduler seeded with `seed`.
 */
async function scheduledMoves(
  seed: number,
  options: { lanes: number; ops: number },
): Promise<Record<string, number>> {
  const store = new MemoryStore();
  const setup = await Vfs.open(store, dirLimits);
  const names = ["a", "b", "c", "d", "e"];
  for (const name of names) {
    await setup.mkdir(`/${name}`);
    await setup.writeFile(`/${name}/keep`, bytes(name));
  }
  const scheduler = new Scheduler(seed);
  const a = await Vfs.open(new ScheduledStore(store, scheduler), dirLimits);
  const b = await Vfs.open(new ScheduledStore(store, scheduler), dirLimits);
  const outcomes: Record<string, number> = {};
  const log: string[] = [];
  await Promise.all(Array.from({ length: options.lanes }, async (_, lane) => {
    const fs = lane % 2 ? b : a;
    const rng = new Rng(seed * 1000 + lane);
    for (let i = 0; i < options.ops; i++) {
      const name = rng.pick(names);
      const from = await findDir(fs, name);
      const under = rng.chance(0.2) ? "" : await findDir(fs, rng.pick(names));
      if (from === null || under === null) continue;
      log.push(`lane ${lane} #${i} start ${from} -> ${under}/${name}`);
      const result = await fs.rename(from, `${under}/${name}`).then(
        () => "ok",
        (error) => error instanceof FsError ? error.code : `${error}`,
      );
      log.push(`lane ${lane} #${i} ${from} -> ${under}/${name}: ${result}`);
      outcomes[result] = (outcomes[result] ?? 0) + 1;
      assert(ALLOWED.has(result), `seed ${seed}, lane ${lane} #${i}: ${result}`);
    }
  }));
  const fresh = await Vfs.open(store, dirLimits);
  for (const name of names) {
    const path = await findDir(fresh, name);
    assert(path, `seed ${seed}: directory ${name} is no longer reachable\n  ${log.join("\n  ")}`);
    assertEquals(text(await fresh.read(`${path}/keep`, 0, 10)), name);
  }
  const problems = await checkConsistency(store);
  assertEquals(problems, [], `seed ${seed}\n  ${log.join("\n  ")}`);
  const bad = (await fsck(store, { graceMs: 0 })).problems.filter((p) => p.severity === "error");
  assert(bad.length === 0, `seed ${seed}: fsck: ${JSON.stringify(bad, null, 1)}`);
  return outcomes;
}

const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);

Deno.test("memory: directories moved into one another under a seeded schedule stay reachable", async () => {
  const first = env("SCHED_S0", 1), last = env("SCHED_S1", 20);
  const seen: Record<string, number> = {};
  for (let seed = first; seed <= last; seed++) {
    const outcomes = await scheduledMoves(seed, {
      lanes: env("SCHED_LANES", 6),
      ops: env("SCHED_OPS", 15),
    });
    for (const [k, n] of Object.entries(outcomes)) seen[k] = (seen[k] ?? 0) + n;
  }
  console.log(JSON.stringify(seen));
});

Deno.test("memory: a stale settler's late target at a directory's old name does not unname it", async () => {
  // Seed 474: a settler holding an old intent of `/e -> /b/e` adds its target once `e` had
  // moved on from `/b/e` to `/a/e`; the settler of that last move took the late target for
  // a rollback of its own move, pointed `e` back at `b` and dropped `/a/e`, and the late
  // target then went too: `e` was in no directory.
  await scheduledMoves(474, { lanes: 6, ops: 15 });
});

Deno.test("memory: a directory renamed onto its own name while it moves out and back stays named", async () => {
  // Seed 25296: `rename(/d/a/c/b, /d/a/c/b)` resolved its source in `c`, then its target
  // after `b` had moved out (no entry there), so it took the two for different names and
  // wrote a rename intent from `c/b` to `c/b`; `b` came back into `c` meanwhile, the intent
  // took it, and settling it found its target "already there" (the source itself) and
  // removed the source entry: `b`, and the file in it, were in no directory (fsck: orphan).
  await scheduledMoves(25296, { lanes: 6, ops: 15 });
});
