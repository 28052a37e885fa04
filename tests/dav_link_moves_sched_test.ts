// WebDAV MOVEs between the hard links of one file in three directories, from three
// instances whose store calls a seeded scheduler interleaves (tests/_scheduler.ts): pairs
// that cross, cycles (`a` to `b`, `b` to `c`, `c` to `a`), two MOVEs of one source. Each
// seed is one reproducible interleaving. Whatever the order, the file keeps a name (every
// serial order of such MOVEs leaves one), its link count counts its names, and no unlink
// mark is left behind. tests/dav_link_moves_test.ts has the hand-made interleavings.

import { MetaStore } from "../src/format/cas.ts";
import { fsck } from "../src/format/fsck.ts";
import { dirKey } from "../src/format/keys.ts";
import { checkDir, type DirObject } from "../src/format/meta.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { Dav, davUrl } from "./_dav.ts";
import { Rng } from "./_model.ts";
import { ScheduledStore, Scheduler } from "./_scheduler.ts";

const NAMES = ["/d1/a", "/d2/b", "/d3/c"];
/** What such a MOVE may answer: done (201, 204), its source gone (404), busy (503). */
const ALLOWED = new Set([201, 204, 404, 503]);

async function scheduledLinkMoves(seed: number): Promise<Record<number, number>> {
  const store = new MemoryStore();
  const setup = await Vfs.open(store);
  for (const dir of ["/d1", "/d2", "/d3"]) await setup.mkdir(dir);
  await setup.writeFile(NAMES[0]!, new TextEncoder().encode("linked"));
  for (const name of NAMES.slice(1)) await setup.link(NAMES[0]!, name);
  const scheduler = new Scheduler(seed);
  const instances = await Promise.all([0, 1, 2].map(async () => {
    const scheduled = new ScheduledStore(store, scheduler);
    return new Dav(await Vfs.open(scheduled), scheduled);
  }));
  const rng = new Rng(seed);
  const log: string[] = [];
  const statuses: Record<number, number> = {};
  const lanes = rng.chance(0.5) ? 2 : 3;
  await Promise.all(Array.from({ length: lanes }, async (_, lane) => {
    for (let i = 0; i < 2; i++) {
      const from = rng.pick(NAMES);
      const to = rng.pick(NAMES.filter((n) => n !== from));
      const res = await instances[lane]!.app.request(davUrl(from), {
        method: "MOVE",
        headers: { destination: `http://localhost${davUrl(to)}`, overwrite: "T" },
      });
      const body = await res.text();
      log.push(`lane ${lane} #${i} MOVE ${from} -> ${to}: ${res.status} ${body.slice(0, 80)}`);
      statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      assert(ALLOWED.has(res.status), `seed ${seed}: ${log.at(-1)}\n  ${log.join("\n  ")}`);
    }
  }));
  const fresh = await Vfs.open(store);
  const left: string[] = [];
  let nlink = 0;
  for (const name of NAMES) {
    const stat = await fresh.lookupOrNull(name);
    if (!stat) continue;
    left.push(name);
    nlink = stat.nlink;
    assertEquals(new TextDecoder().decode(await fresh.read(name, 0, 10)), "linked");
  }
  const story = `seed ${seed}\n  ${log.join("\n  ")}`;
  assert(left.length > 0, `the file has no name left: ${story}`);
  assertEquals(nlink, left.length, `link count against names ${left}: ${story}`);
  // Every MOVE has ended: none left its mark on a name (one riding on a renamed entry
  // names its old place and does not count).
  const meta = new MetaStore(store);
  for (const dir of ["/d1", "/d2", "/d3"]) {
    const ino = (await fresh.getattr(dir)).ino;
    const object = await meta.read<DirObject>(dirKey(ino), checkDir);
    for (const [name, entry] of Object.entries(object!.value.entries ?? {})) {
      const mark = entry.unlinking;
      assert(mark?.dir !== ino || mark.name !== name, `${dir}/${name} keeps a mark: ${story}`);
    }
  }
  const bad = (await fsck(store, { graceMs: 0 })).problems.filter((p) => p.severity === "error");
  assert(bad.length === 0, `fsck: ${JSON.stringify(bad, null, 1)}\n${story}`);
  return statuses;
}

const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);

Deno.test("memory: MOVEs between hard links in three directories under a seeded schedule leave the file a name", async () => {
  const first = env("SCHED_S0", 1), last = env("SCHED_S1", 150);
  const total: Record<number, number> = {};
  for (let seed = first; seed <= last; seed++) {
    for (const [status, n] of Object.entries(await scheduledLinkMoves(seed))) {
      total[Number(status)] = (total[Number(status)] ?? 0) + n;
    }
  }
  // The sweep reached both outcomes of a MOVE between two names of the file.
  assert((total[204] ?? 0) > 0 && (total[201] ?? 0) > 0, JSON.stringify(total));
});
