// Creates, removals, renames (within and between folders), links, writes and xattrs of the
// names of two age-sharded folders from three instances whose store calls a seeded
// scheduler interleaves (tests/_scheduler.ts), and rmdirs of the second, emptied or not:
// each instance holds its own cached tables, so some write from before a roll-over or a
// closed shard's split and others from after. Among the names some are placed in closed
// shards (their hash admitted and passed by a closed shard's filter, docs/format.md "Where a
// name held nowhere goes"). Whatever the order, every name is in one shard (fsck: no
// misplaced-name), every link is counted, and a listing names each entry once. Seed 380225
// with AGE_FAULTS=1 AGE_DECODED=2000 AGE_OPS=40 found a rename settled from its target while
// an rmdir's mark was on its source folder (tests/rename_marked_source_test.ts); seed 380676
// a link() into a closed shard that answered EIO, its proof noted without its link flag
// (tests/age_link_proof_test.ts); seed 382121 (AGE_DECODED=3000) a settler taking a rename
// back when its target's folder was under an rmdir's mark, and the renamer's target landing
// after (tests/rename_marked_source_test.ts).
//
// AGE_S0..AGE_S1 (default 1..12) are the seeds, AGE_OPS (default 25) the operations per lane.

import { fsck } from "../src/format/fsck.ts";
import { MetaStore } from "../src/format/cas.ts";
import { Directories } from "../src/format/dir.ts";
import { admits, mayHold } from "../src/format/_bloom.ts";
import { nameHash } from "../src/format/_dir_entries.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { FsError } from "../src/vfs/errors.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { Rng } from "./_model.ts";
import { ScheduledStore, Scheduler } from "./_scheduler.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { RetryStore } from "../src/store/retry.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { bytes } from "./_stores.ts";

/** AGE_DECODED=<bytes>: closed shards also split by their JSON's size (setxattr grows them). */
const limits = {
  dirLimits: {
    maxEntries: 4,
    ...Deno.env.get("AGE_DECODED") ? { maxDecodedBytes: Number(Deno.env.get("AGE_DECODED")) } : {},
  },
};
/** ESTALE: a write whose file was replaced or removed meanwhile (as tests/vfs_concurrency_test.ts). */
const ALLOWED = new Set([
  "ok",
  "ENOENT",
  "EEXIST",
  "EAGAIN",
  "EXDEV",
  "ENOSPC",
  "ESTALE",
  "ENOTEMPTY",
]);
/**
 * AGE_FAULTS=1: 4% of PUTs are applied and their answers lost, 2% of calls fail before the
 * store (then an outcome may be unknown: EIO).
 */
const FAULTS = Deno.env.get("AGE_FAULTS") === "1";
if (FAULTS) ALLOWED.add("EIO");

/** An instance's view of `store`: scheduled, and with AGE_FAULTS faulty and retried. */
function view(store: ObjectStore, scheduler: Scheduler, rng: Rng): ObjectStore {
  const scheduled = new ScheduledStore(store, scheduler);
  if (!FAULTS) return scheduled;
  const faulty = new FaultyStore(scheduled, {
    plan: (call) => {
      const [a, b] = [rng.next(), rng.next()];
      if (call.op === "PutObject" && a < 0.04) return { kind: "fail-after" };
      return b < 0.02 ? { kind: "fail-before" } : null;
    },
  });
  return new RetryStore(faulty, { baseDelayMs: 1, maxDelayMs: 5 });
}

/** Names a closed shard of `/d`'s table would take (placed there), a few per shard. */
async function placedNames(store: MemoryStore, ino: string): Promise<string[]> {
  const dir = (await new Directories(new MetaStore(store)).get(ino))!.value;
  const out: string[] = [];
  for (const closed of dir.ages?.closed ?? []) {
    let found = 0;
    for (let i = 0; found < 2 && i < 2_000_000; i++) {
      const name = `p${i}`;
      const h = nameHash(name);
      if (admits(h) && mayHold(closed, h)) {
        out.push(name);
        found++;
      }
    }
  }
  return out;
}

/** The operations a lane draws from, in `scheduled`'s order (AGE_KINDS: the first n). */
const KINDS = [
  "create",
  "create",
  "unlink",
  "rename",
  "link",
  "write",
  "xattr",
  "rmdir /e",
  "mkdir /e",
];

async function scheduled(seed: number, ops: number): Promise<void> {
  const store = new MemoryStore();
  const setup = await Vfs.open(store, limits);
  await setup.mkdir("/d");
  for (let i = 0; i < 14; i++) await setup.writeFile(`/d/f${i}`, bytes(`f${i}`));
  await setup.writeFile("/d/k", bytes("k"));
  const ino = (await setup.getattr("/d")).ino;
  const names = [
    ...Array.from({ length: 8 }, (_, i) => `n${i}`),
    "f1",
    "f5",
    "f9",
    ...await placedNames(store, ino),
  ];
  // /e fills past the limit (age-sharded), empties and is removed and made again.
  await setup.mkdir("/e");
  const paths = [
    ...names.map((n) => `/d/${n}`),
    ...["e0", "e1", "e2", "e3", "e4", "e5"].map((n) => `/e/${n}`),
  ];
  const scheduler = new Scheduler(seed);
  const instances = await Promise.all(
    [0, 1, 2].map((i) => Vfs.open(view(store, scheduler, new Rng(seed * 7 + i)), limits)),
  );
  // Every instance caches the table as it is now.
  for (const fs of instances) await fs.readdir("/d");
  const log: string[] = [];
  await Promise.all(Array.from({ length: 6 }, async (_, lane) => {
    const fs = instances[lane % 3]!;
    const rng = new Rng(seed * 1000 + lane);
    for (let i = 0; i < ops; i++) {
      const a = rng.pick(paths);
      const b = rng.pick(paths);
      const kind = rng.int(env("AGE_KINDS", 9));
      const run = () =>
        kind <= 1
          ? fs.create(a, { exclusive: true })
          : kind === 2
          ? fs.unlink(a)
          : kind === 3
          ? fs.rename(a, b)
          : kind === 4
          ? fs.link("/d/k", a)
          : kind === 5
          ? fs.writeFile(a, bytes(`${lane}.${i}`))
          : kind === 6
          ? fs.setxattr(a, `user.${lane}`, new Uint8Array(300).fill(lane))
          : kind === 7
          ? fs.rmdir("/e")
          : fs.mkdir("/e");
      const result = await run().then(
        () => "ok",
        (error) => error instanceof FsError ? error.code : `${error?.stack ?? error}`,
      );
      log.push(`lane ${lane} #${i} ${KINDS[kind]} ${a} ${b}: ${result}`);
      assert(ALLOWED.has(result), `seed ${seed}: ${log.at(-1)}\n${log.join("\n")}`);
    }
  }));
  const fresh = await Vfs.open(store, limits);
  // A rename whose renamer met an rmdir's mark on its source folder (or answered EIO) may
  // leave its intent for the next look to settle: this one's.
  for (const path of paths) await fresh.getattr(path).catch(() => null);
  const listed = (await fresh.readdir("/d")).entries.map((e) => e.name);
  assertEquals(
    listed.length,
    new Set(listed).size,
    `seed ${seed}: listed twice\n${log.join("\n")}`,
  );
  const bad = (await fsck(store, { graceMs: 0 })).problems.filter((p) => p.severity === "error");
  assert(
    bad.length === 0,
    `seed ${seed}: fsck: ${JSON.stringify(bad, null, 1)}\n${log.join("\n")}`,
  );
  const k = await fresh.getattr("/d/k").catch(() => null);
  if (k) {
    const e = await fresh.readdir("/e").then((r) => r.entries.map((x) => `/e/${x.name}`), () => []);
    let names = 0;
    for (const path of [...listed.map((n) => `/d/${n}`), ...e]) {
      if ((await fresh.getattr(path)).ino === k.ino) names++;
    }
    assertEquals(k.nlink, names, `seed ${seed}: nlink\n${log.join("\n")}`);
  }
}

const env = (name: string, fallback: number) => Number(Deno.env.get(name) ?? fallback);

Deno.test("creates, removals, renames and links in an age-sharded folder from three instances keep every name in one shard", async () => {
  for (let seed = env("AGE_S0", 1); seed <= env("AGE_S1", 12); seed++) {
    await scheduled(seed, env("AGE_OPS", 25));
  }
});
