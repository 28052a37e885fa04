// Two Vfs instances on one store, as two service instances on one bucket: concurrent
// creates, writes, renames and unlinks in shared directories lose nothing acknowledged,
// contended operations have exactly one winner, and a change made through one instance
// is seen by the other on its next operation.

import { fsck } from "../src/format/fsck.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { MemoryStore } from "../src/store/memory.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { dirKey } from "../src/format/keys.ts";
import { FsError } from "../src/vfs/errors.ts";
import { Vfs, type VfsOptions } from "../src/vfs/vfs.ts";
import { assert, assertEquals } from "./_assert.ts";
import { HookStore } from "./_hook_store.ts";
import {
  applyModel,
  applyVfs,
  checkConsistency,
  describe,
  diffOutcome,
  diffTrees,
  findDir,
  Model,
  modelTree,
  type Op,
  readdirAll,
  Rng,
  type Tree,
  vfsTree,
} from "./_model.ts";
import { bytes, openS3, pattern, s3Env, text } from "./_stores.ts";

const SMALL: VfsOptions = { inlineMax: 64, spillExtents: 8, dirLimits: { maxEntries: 8 } };
const SHARED = ["/d0", "/d1", "/d2"];

/**
 * Two instances on `store`, each seeing it through its own random delays (0-2 ms on one
 * request in five) so that their requests interleave differently from run to run.
 */
async function pair(store: ObjectStore, options: VfsOptions = {}, jitter = true) {
  const view = (seed: number) => {
    if (!jitter) return store;
    const rng = new Rng(seed);
    return new FaultyStore(store, {
      plan: () => rng.chance(0.2) ? { kind: "delay", ms: rng.int(3) } : null,
    });
  };
  // One after the other: formatting at once is its own (known-bug) test below.
  const a = await Vfs.open(view(1), options);
  const b = await Vfs.open(view(2), options);
  return { a, b };
}

/** One worker's operation on its own names (`<lane>-<k>`) in the shared directories. */
function laneOp(rng: Rng, model: Model, lane: string): Op {
  const mine = model.paths().filter((p) => !SHARED.includes(p));
  const fresh = (): string => {
    const r = rng.next();
    const dir = rng.pick(SHARED);
    if (r < 0.1) return `${dir}/${lane}-D`;
    if (r < 0.25) return `${dir}/${lane}-D/${rng.pick(["f", "g"])}`;
    return `${dir}/${lane}-${rng.int(4)}`;
  };
  const path = () => mine.length > 0 && rng.chance(0.6) ? rng.pick(mine) : fresh();
  const data = () =>
    pattern(rng.chance(0.6) ? rng.range(1, 100) : rng.range(100, 6000), rng.int(1e9));
  const r = rng.int(100);
  if (r < 30) {
    return { op: "write", path: path(), offset: rng.int(3000), data: data(), create: true };
  }
  if (r < 38) return { op: "create", path: path(), exclusive: rng.chance(0.5) };
  if (r < 48) return { op: "read", path: path(), offset: 0, length: 10_000 };
  if (r < 54) return { op: "truncate", path: path(), size: rng.int(5000) };
  if (r < 64) return { op: "unlink", path: path() };
  if (r < 82) return { op: "rename", from: path(), to: path(), noReplace: rng.chance(0.2) };
  if (r < 87) return { op: "link", existing: path(), path: path() };
  if (r < 91) return { op: "mkdir", path: `${rng.pick(SHARED)}/${lane}-D` };
  if (r < 94) return { op: "rmdir", path: path() };
  if (r < 97) {
    return { op: "setxattr", path: path(), name: "user.x", value: data().slice(0, 9), flags: {} };
  }
  return { op: "getattr", path: path() };
}

/** Merges trees whose only common paths are directories. */
function merge(trees: readonly Tree[]): Tree {
  const out: Tree = new Map();
  for (const tree of trees) {
    for (const [path, node] of tree) if (!out.has(path)) out.set(path, node);
  }
  return out;
}

/**
 * Workers on both instances, each with its own names, all in the same directories: every
 * answer must be what the worker's own model predicts (no one else touches its names),
 * and the final tree the union of the workers' models.
 */
async function disjointWorkers(
  store: ObjectStore,
  options: { vfs?: VfsOptions; lanes: number; ops: number; seed: number },
): Promise<void> {
  const { a, b } = await pair(store, options.vfs);
  for (const dir of SHARED) await a.mkdir(dir);
  const models: Model[] = [];
  const running: string[] = [];
  const lane = async (fs: Vfs, id: string, seed: number) => {
    const rng = new Rng(seed);
    const model = new Model();
    for (const dir of SHARED) model.mkdir(dir);
    models.push(model);
    for (let i = 0; i < options.ops; i++) {
      const op = laneOp(rng, model, id);
      const expected = applyModel(model, op);
      running.push(`lane ${id} #${i} ${describe(op)}`);
      const actual = await applyVfs(fs, op);
      running.splice(running.indexOf(`lane ${id} #${i} ${describe(op)}`), 1);
      const diff = diffOutcome(actual, expected);
      if (diff) throw new Error(`seed ${seed}, lane ${id}, #${i} ${describe(op)}: ${diff}`);
    }
  };
  await watchdog(
    `seed ${options.seed}`,
    running,
    Promise.all(
      Array.from({ length: options.lanes }, (_, i) => {
        const fs = i % 2 === 0 ? a : b;
        return lane(fs, `${i % 2 === 0 ? "a" : "b"}${i}`, options.seed * 100 + i);
      }),
    ),
  );
  const expected = merge(models.map(modelTree));
  for (const [name, fs] of [["a", a], ["b", b], ["fresh", await Vfs.open(store)]] as const) {
    const diff = diffTrees(await vfsTree(fs), expected);
    assert(
      diff.length === 0,
      `seed ${options.seed}: instance ${name} sees:\n  ${diff.join("\n  ")}`,
    );
  }
  const problems = await checkConsistency(store);
  assert(problems.length === 0, `seed ${options.seed}: ${problems.join("\n  ")}`);
}

/**
 * Waits for `work`, failing with the operations still running if it takes over 30 s: an
 * operation that never settles would otherwise end the test with no clue which it was.
 */
async function watchdog<T>(what: string, running: readonly string[], work: Promise<T>) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${what}: operations hang:\n  ${running.join("\n  ")}`)),
      30_000,
    );
  });
  try {
    return await Promise.race([work, hung]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs one operation of a lane, naming it while it runs so that a hang can say where. */
type Track = <T>(label: string, op: Promise<T>) => Promise<T>;

/**
 * Runs `lanes` workers under the watchdog: even lanes on `a`, odd ones on `b`, each with
 * its own random stream derived from `seed`.
 */
async function runLanes(
  seed: number,
  lanes: number,
  [a, b]: readonly [Vfs, Vfs],
  work: (fs: Vfs, rng: Rng, lane: number, track: Track) => Promise<void>,
): Promise<void> {
  const running: string[] = [];
  const track: Track = async (label, op) => {
    running.push(label);
    const result = await op;
    running.splice(running.indexOf(label), 1);
    return result;
  };
  await watchdog(
    `seed ${seed}`,
    running,
    Promise.all(
      Array.from(
        { length: lanes },
        (_, lane) => work(lane % 2 === 0 ? a : b, new Rng(seed * 1000 + lane), lane, track),
      ),
    ),
  );
}

/** Both instances, and a fresh third one, see the same tree. */
async function assertInstancesAgree(store: ObjectStore, a: Vfs, b: Vfs, seed: number) {
  const trees = [await vfsTree(a), await vfsTree(b), await vfsTree(await Vfs.open(store))];
  assertEquals(diffTrees(trees[1]!, trees[0]!), [], `seed ${seed}: b and a disagree`);
  assertEquals(diffTrees(trees[2]!, trees[0]!), [], `seed ${seed}: a fresh instance`);
}

/**
 * Errors a racing operation may meet; anything else (EIO above all) is a bug. ESTALE: a
 * write whose file was unlinked or replaced between its open and its commit.
 */
const RACE_ERRORS = new Set([
  "ESTALE",
  "ENOENT",
  "EEXIST",
  "ENOTDIR",
  "EISDIR",
  "ENOTEMPTY",
  "EINVAL",
  "EPERM",
  "ENODATA",
]);

/** A random operation on names that every worker shares. */
function sharedOp(rng: Rng, moveDirs: boolean): Op {
  const dir = () => rng.pick(["/s0", "/s1", "/s0/t", "/s1/u"]);
  const path = () => `${dir()}/${rng.pick(["a", "b", "c", "d", "e"])}`;
  const r = rng.int(100);
  const data = pattern(rng.chance(0.7) ? rng.range(1, 200) : rng.range(200, 9000), rng.int(1e9));
  if (r < 25) return { op: "write", path: path(), offset: rng.int(2000), data, create: true };
  if (r < 32) return { op: "create", path: path(), exclusive: rng.chance(0.5) };
  if (r < 40) return { op: "read", path: path(), offset: 0, length: 20_000 };
  if (r < 46) return { op: "truncate", path: path(), size: rng.int(3000) };
  if (r < 56) return { op: "unlink", path: path() };
  if (r < 74) return { op: "rename", from: path(), to: path(), noReplace: rng.chance(0.2) };
  if (r < 80) return { op: "link", existing: path(), path: path() };
  if (r < 84) {
    return { op: "setxattr", path: path(), name: "user.k", value: data.slice(0, 5), flags: {} };
  }
  if (r < 88) return { op: "readdir", path: dir() };
  if (r < 92) return { op: "mkdir", path: `${rng.pick(["/s0", "/s1"])}/${rng.pick(["t", "u"])}` };
  if (r < 96) return { op: "rmdir", path: `${rng.pick(["/s0", "/s1"])}/${rng.pick(["t", "u"])}` };
  // Directories move across parents, into each other too (/s0/t -> /s1/u/t while
  // /s1/u -> /s0/t/u: at most one may win).
  if (moveDirs) {
    const sub = () => `${rng.pick(["/s0", "/s1"])}/${rng.pick(["t", "u"])}`;
    return {
      op: "rename",
      from: sub(),
      to: rng.chance(0.5) ? sub() : `${sub()}/v`,
      noReplace: false,
    };
  }
  return { op: "getattr", path: path() };
}

/**
 * Workers on both instances racing on the same names: outcomes are unpredictable, but no
 * operation may fail with anything but a race's errno, the bucket must stay consistent,
 * and every instance must see the same tree.
 */
async function sharedChaos(
  store: ObjectStore,
  options: { vfs?: VfsOptions; lanes: number; ops: number; seed: number },
): Promise<Record<string, number>> {
  const { a, b } = await pair(store, options.vfs);
  for (const dir of ["/s0", "/s1", "/s0/t", "/s1/u"]) await a.mkdir(dir);
  const outcomes: Record<string, number> = {};
  await runLanes(options.seed, options.lanes, [a, b], async (fs, rng, lane, track) => {
    for (let i = 0; i < options.ops; i++) {
      const op = sharedOp(rng, lane < 2);
      const label = `lane ${lane} #${i} ${describe(op)}`;
      const result = await track(label, applyVfs(fs, op));
      const key = `${op.op}:${result.ok ? "ok" : result.code}`;
      outcomes[key] = (outcomes[key] ?? 0) + 1;
      // EAGAIN only for meeting another worker's rename intent (not for contention).
      const renaming = !result.ok && result.code === "EAGAIN" &&
        /being renamed/.test(result.message ?? "");
      if (!result.ok && !RACE_ERRORS.has(result.code) && !renaming) {
        throw new Error(`seed ${options.seed}, ${label}: ${result.code} ${result.message}`);
      }
    }
  });
  await assertInstancesAgree(store, a, b, options.seed);
  const problems = await checkConsistency(store);
  assert(problems.length === 0, `seed ${options.seed}: ${problems.join("\n  ")}`);
  const report = await fsck(store);
  const bad = report.problems.filter((p) => p.severity === "error");
  assert(bad.length === 0, `seed ${options.seed}: fsck: ${JSON.stringify(bad, null, 1)}`);
  return outcomes;
}

type Settled<T> = PromiseSettledResult<T>;

/** The one fulfilled result of two, asserting the other failed with `code`. */
function oneWinner<T>(results: Settled<T>[], code: string, what: string): number {
  const won = results.flatMap((r, i) => r.status === "fulfilled" ? [i] : []);
  assertEquals(won.length, 1, `${what}: exactly one should succeed, got ${won.length}`);
  const lost = results[1 - won[0]!]! as PromiseRejectedResult;
  assert(
    lost.reason instanceof FsError && lost.reason.code === code,
    `${what}: the loser should fail with ${code}, got ${lost.reason}`,
  );
  return won[0]!;
}

async function exists(fs: Vfs, path: string): Promise<boolean> {
  try {
    await fs.lookup(path);
    return true;
  } catch (error) {
    if (error instanceof FsError && error.code === "ENOENT") return false;
    throw error;
  }
}

/** Contended operations: exactly one of the two instances wins each race. */
async function contended(store: ObjectStore, rounds: number, options: VfsOptions = {}) {
  const { a, b } = await pair(store, options);
  const both = [a, b];
  await a.mkdir("/x");
  await a.mkdir("/y");
  for (let i = 0; i < rounds; i++) {
    const what = `round ${i}`;
    const data = [pattern(100 + i * 37, 2 * i + 1), pattern(3000 + i, 2 * i + 2)];

    // Both create the same name exclusively: one wins, its bytes are the file's.
    const created = await Promise.allSettled(
      both.map((fs, k) => fs.write(`/x/new${i}`, 0, data[k]!, { create: true, exclusive: true })),
    );
    const winner = oneWinner(created, "EEXIST", `${what}: exclusive create`);
    for (const fs of both) assertEquals(await fs.read(`/x/new${i}`, 0, 10_000), data[winner]);

    // Both rename the same source, across directories or within one: one wins, the file
    // exists exactly once.
    const across = i % 2 === 0;
    const targets = across ? [`/y/a${i}`, `/y/b${i}`] : [`/x/a${i}`, `/x/b${i}`];
    const renamed = await Promise.allSettled(
      both.map((fs, k) => fs.rename(`/x/new${i}`, targets[k]!)),
    );
    const mover = oneWinner(renamed, "ENOENT", `${what}: rename of one source`);
    for (const fs of both) {
      assertEquals(await exists(fs, `/x/new${i}`), false, `${what}: the source is gone`);
      assertEquals(await exists(fs, targets[1 - mover]!), false, `${what}: the loser's target`);
      assertEquals(await fs.read(targets[mover]!, 0, 10_000), data[winner]);
    }

    // Two sources renamed onto one target without replacing: one wins, the other's
    // source stays.
    await a.write(`/x/s${i}`, 0, data[0]!, { create: true });
    await b.write(`/y/s${i}`, 0, data[1]!, { create: true });
    const sources = [`/x/s${i}`, `/y/s${i}`];
    const onto = await Promise.allSettled(
      both.map((fs, k) => fs.rename(sources[k]!, `/x/t${i}`, { noReplace: true })),
    );
    const first = oneWinner(onto, "EEXIST", `${what}: noReplace renames onto one target`);
    for (const fs of both) {
      assertEquals(await fs.read(`/x/t${i}`, 0, 10_000), data[first]);
      assertEquals(await exists(fs, sources[first]!), false);
      assertEquals(await fs.read(sources[1 - first]!, 0, 10_000), data[1 - first]);
    }

    // Both unlink one file; both make the same directory; both link one name.
    oneWinner(
      await Promise.allSettled(both.map((fs) => fs.unlink(targets[mover]!))),
      "ENOENT",
      `${what}: unlink`,
    );
    oneWinner(
      await Promise.allSettled(both.map((fs) => fs.mkdir(`/y/dir${i}`))),
      "EEXIST",
      `${what}: mkdir`,
    );
    const linked = await Promise.allSettled(
      both.map((fs, k) => fs.link(k === 0 ? `/x/t${i}` : sources[1 - first]!, `/y/l${i}`)),
    );
    const linker = oneWinner(linked, "EEXIST", `${what}: link`);
    const linkedFrom = linker === 0 ? `/x/t${i}` : sources[1 - first]!;
    for (const fs of both) {
      assertEquals((await fs.lookup(`/y/l${i}`)).nlink, 2);
      assertEquals((await fs.lookup(linkedFrom)).ino, (await fs.lookup(`/y/l${i}`)).ino);
    }

    // Both link one plain file (its inode moves out of its entry): both links count.
    await a.write(`/x/plain${i}`, 0, data[1]!, { create: true });
    const links = await Promise.allSettled(
      both.map((fs, k) => fs.link(`/x/plain${i}`, `/y/pl${i}-${k}`)),
    );
    for (const r of links) {
      assert(r.status === "fulfilled", `${what}: link: ${(r as PromiseRejectedResult).reason}`);
    }
    for (const fs of both) {
      for (const p of [`/x/plain${i}`, `/y/pl${i}-0`, `/y/pl${i}-1`]) {
        assertEquals((await fs.lookup(p)).nlink, 3, `${what}: ${p}`);
        assertEquals(await fs.read(p, 0, 10_000), data[1]);
      }
    }

    // rmdir against a create inside: either the directory is gone and the create failed,
    // or the create won and rmdir saw a non-empty directory.
    const race = await Promise.allSettled([
      a.rmdir(`/y/dir${i}`),
      b.write(`/y/dir${i}/f`, 0, data[0]!, { create: true }),
    ]);
    const [rm, put] = race;
    if (rm.status === "fulfilled") {
      assert(put.status === "rejected" && (put.reason as FsError).code === "ENOENT", `${what}`);
      for (const fs of both) assertEquals(await exists(fs, `/y/dir${i}`), false);
    } else {
      assertEquals((rm.reason as FsError).code, "ENOTEMPTY", `${what}: rmdir`);
      assert(put.status === "fulfilled", `${what}: the create should have won`);
      for (const fs of both) {
        assertEquals(await fs.read(`/y/dir${i}/f`, 0, 10_000), data[0]);
      }
    }

    // Disjoint writes to one file from both instances: every acknowledged byte is there.
    const path = `/x/shared${i}`;
    await a.create(path);
    const chunk = 700 + i;
    const expected = new Uint8Array(chunk * 8);
    await Promise.all(Array.from({ length: 8 }, (_, k) => {
      const piece = pattern(chunk, 1000 * i + k + 1);
      expected.set(piece, k * chunk);
      return both[k % 2]!.write(path, k * chunk, piece);
    }));
    for (const fs of both) assertEquals(await fs.read(path, 0, expected.length + 1), expected);
  }
  for (const fs of [a, b]) await vfsTree(fs);
  const problems = await checkConsistency(store);
  assert(problems.length === 0, problems.join("\n"));
  const trees = await Promise.all([vfsTree(a), vfsTree(b), vfsTree(await Vfs.open(store))]);
  assertEquals(diffTrees(trees[1], trees[0]), []);
  assertEquals(diffTrees(trees[2], trees[0]), []);
}

/**
 * Crossed renames of two directories into each other, from two instances: exactly one
 * may succeed; both would make a cycle cut off from the root (everything in it lost).
 */
async function crossedRenames(store: ObjectStore, rounds: number) {
  const { a, b } = await pair(store);
  for (let i = 0; i < rounds; i++) {
    await a.mkdir(`/p${i}`);
    await a.mkdir(`/q${i}`);
    await a.writeFile(`/p${i}/data`, bytes("keep me"));
    const crossed = await Promise.allSettled([
      a.rename(`/p${i}`, `/q${i}/p`),
      b.rename(`/q${i}`, `/p${i}/q`),
    ]);
    const moved = crossed.filter((r) => r.status === "fulfilled").length;
    assert(moved <= 1, `round ${i}: crossed directory renames both succeeded (a cycle)`);
    // And one does: the loser only sees the winner's effect (its source or target gone,
    // or its target inside its own subtree).
    const lost = crossed.find((r) => r.status === "rejected") as PromiseRejectedResult;
    assert(
      moved === 1 && ["ENOENT", "EINVAL"].includes((lost.reason as FsError).code),
      `round ${i}: one should win, the other fail with ENOENT or EINVAL: ${lost?.reason}`,
    );
    const found = await exists(a, `/p${i}/data`) || await exists(a, `/q${i}/p/data`);
    assert(found, `round ${i}: the file is no longer reachable`);
  }
  assertEquals(await checkConsistency(store), []);
  await noDamage(store, "crossed renames");
}

/** fsck finds nothing wrong, and no directory object is left unreachable (a cycle). */
async function noDamage(store: ObjectStore, what: string): Promise<void> {
  const report = await fsck(store, { graceMs: 0 });
  const bad = report.problems.filter((p) => p.severity === "error");
  assert(bad.length === 0, `${what}: fsck: ${JSON.stringify(bad, null, 1)}`);
}

/** Three directories renamed into one another in a ring, from three instances at once. */
async function ringRenames(store: ObjectStore, rounds: number) {
  const { a, b } = await pair(store);
  const c = await Vfs.open(store);
  for (let i = 0; i < rounds; i++) {
    const names = [`r${i}a`, `r${i}b`, `r${i}c`];
    for (const name of names) {
      await a.mkdir(`/${name}`);
      await a.writeFile(`/${name}/data`, bytes(name));
    }
    const ring = await Promise.allSettled(
      [a, b, c].map((fs, k) => fs.rename(`/${names[k]}`, `/${names[(k + 1) % 3]}/${names[k]}`)),
    );
    const moved = ring.filter((r) => r.status === "fulfilled").length;
    assert(moved >= 1 && moved <= 2, `round ${i}: ${moved} of the three ring renames succeeded`);
    for (const name of names) {
      assert(await findDir(a, name), `round ${i}: ${name} is no longer reachable`);
    }
  }
  assertEquals(await checkConsistency(store), []);
  await noDamage(store, "ring renames");
}

/**
 * Workers on two instances moving five directories into one another at random, wherever
 * each one is at the time: every directory stays reachable with its contents, and the
 * bucket holds no cycle, no unreachable directory and no intent left behind.
 */
async function movingDirs(
  store: ObjectStore,
  options: { lanes: number; ops: number; seed: number },
): Promise<Record<string, number>> {
  const { a, b } = await pair(store);
  const names = ["a", "b", "c", "d", "e"];
  for (const name of names) {
    await a.mkdir(`/${name}`);
    await a.writeFile(`/${name}/keep`, bytes(name));
  }
  const outcomes: Record<string, number> = {};
  await runLanes(options.seed, options.lanes, [a, b], async (fs, rng, lane, track) => {
    for (let i = 0; i < options.ops; i++) {
      const name = rng.pick(names);
      const from = await findDir(fs, name);
      const under = rng.chance(0.2) ? "" : await findDir(fs, rng.pick(names));
      if (from === null || under === null) continue;
      const label = `lane ${lane} #${i} rename ${from} -> ${under}/${name}`;
      const result = await track(
        label,
        fs.rename(from, `${under}/${name}`).then(
          () => "ok",
          (error) => error instanceof FsError ? error.code : `${error}`,
        ),
      );
      outcomes[result] = (outcomes[result] ?? 0) + 1;
      assert(
        RACE_ERRORS.has(result) || result === "ok",
        `seed ${options.seed}, ${label}: ${result}`,
      );
    }
  });
  for (const name of names) {
    const path = await findDir(a, name);
    assert(path, `seed ${options.seed}: directory ${name} is no longer reachable`);
    assertEquals(text(await a.read(`${path}/keep`, 0, 10)), name);
  }
  await assertInstancesAgree(store, a, b, options.seed);
  assertEquals(await checkConsistency(store), [], `seed ${options.seed}`);
  await noDamage(store, `seed ${options.seed}`);
  return outcomes;
}

/**
 * A rename whose intent was rolled back by someone who met it (its target was taken then)
 * must not be applied afterwards by its own, delayed, renamer (the target is free again).
 */
async function lateApplyAfterRollback(store: ObjectStore) {
  const a = await Vfs.open(store);
  await a.mkdir("/d1");
  await a.mkdir("/d2");
  await a.writeFile("/d1/x", bytes("x"));
  const d2 = (await a.lookup("/d2")).ino;
  // The renamer's target change of /d2 (its first write there: a CAS built on the
  // version its lookup read, with no read of its own) waits.
  let writes = 0;
  const renamer = await Vfs.open(
    new FaultyStore(store, {
      plan: (call) =>
        call.op === "PutObject" && call.key?.endsWith(d2) && ++writes === 1
          ? { kind: "delay", ms: 60 }
          : null,
    }),
  );
  const rename = renamer.rename("/d1/x", "/d2/t").then(() => true, () => false);
  await new Promise((resolve) => setTimeout(resolve, 10));
  await a.writeFile("/d2/t", bytes("other")); // the target is taken...
  await a.lookup("/d1/x"); // ...so whoever meets the intent rolls the rename back...
  await a.unlink("/d2/t"); // ...and the target is free again.
  const renamed = await rename;
  assert(writes >= 1, "the renamer's change of /d2 was held back");
  const there = [await exists(a, "/d1/x"), await exists(a, "/d2/t")];
  assertEquals(there, renamed ? [false, true] : [true, false], "the file is in exactly one place");
}

/** Two instances formatting one empty store at once: one superblock wins, both use it. */
async function formatRace(rounds: number) {
  for (let i = 0; i < rounds; i++) {
    const store = new MemoryStore();
    // The second instance's list (its second request) comes after the first has formatted.
    const late = new FaultyStore(store, {
      plan: (call) => call.n === 2 ? { kind: "delay", ms: 5 } : null,
    });
    const [a, b] = await Promise.all([Vfs.open(store), Vfs.open(late)]);
    assertEquals(a.superblock.id, b.superblock.id);
  }
}

/**
 * A write that lands while a cross-directory rename of the same file is between its
 * lookup and its intent must move with the file, not be dropped by it.
 */
async function writeDuringRename(store: ObjectStore) {
  const a = await Vfs.open(store);
  await a.mkdir("/x");
  await a.mkdir("/y");
  const dirX = (await a.lookup("/x")).ino;
  // The renamer's intent (its first write of /x, a CAS built on the version its lookup
  // read, with no read of its own) waits while the writer writes.
  let reads = 0;
  const slow = new FaultyStore(store, {
    plan: (call) =>
      call.op === "PutObject" && call.key?.endsWith(dirX) && ++reads === 1
        ? { kind: "delay", ms: 50 }
        : null,
  });
  const renamer = await Vfs.open(slow);
  for (const [i, link] of [[0, false], [1, true]] as const) {
    await a.writeFile(`/x/f${i}`, bytes("old"));
    reads = 0;
    const rename = renamer.rename(`/x/f${i}`, `/y/f${i}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
    // A write (or a link, which moves the inode out of the entry) meanwhile.
    if (link) await a.link(`/x/f${i}`, `/y/l${i}`);
    else await a.write(`/x/f${i}`, 0, bytes("new"));
    await rename;
    const expected = link ? "old" : "new";
    assertEquals(text(await a.read(`/y/f${i}`, 0, 10)), expected, `f${i}`);
    if (link) {
      assertEquals((await a.lookup(`/y/f${i}`)).ino, (await a.lookup(`/y/l${i}`)).ino);
      assertEquals((await a.lookup(`/y/l${i}`)).nlink, 2);
    }
  }
  // An unlink that looked a hard link up before a rename's intent and removes it after the
  // rename added its target (each paused at its read of /x that comes next): exactly one
  // of them may win, and the link count must stay right.
  await a.writeFile("/x/h", bytes("linked"));
  await a.link("/x/h", "/x/other");
  const pausing = (at: number, ms: number) => {
    let n = 0;
    return new FaultyStore(store, {
      plan: (call) =>
        call.op === "GetObject" && call.key?.endsWith(dirX) && ++n === at
          ? { kind: "delay", ms }
          : null,
    });
  };
  const unlink = (await Vfs.open(pausing(2, 30))).unlink("/x/h");
  await new Promise((resolve) => setTimeout(resolve, 5));
  const rename = (await Vfs.open(pausing(4, 60))).rename("/x/h", "/y/h");
  const [unlinked, renamed] = await Promise.allSettled([unlink, rename]);
  assert(
    (renamed.status === "fulfilled") !== (unlinked.status === "fulfilled"),
    `rename ${renamed.status}, unlink ${unlinked.status}`,
  );
  const names = renamed.status === "fulfilled" ? ["/x/other", "/y/h"] : ["/x/other"];
  for (const path of names) {
    assertEquals(text(await a.read(path, 0, 10)), "linked", path);
    assertEquals((await a.lookup(path)).nlink, names.length, path);
  }
  assertEquals(await checkConsistency(store), []);
}

/** A change made through one instance is what the other sees on its next operation. */
async function visibility(store: ObjectStore) {
  const { a, b } = await pair(store, {}, false);
  await a.mkdir("/v");
  assertEquals((await b.readdir("/v")).entries, []);
  await a.writeFile("/v/f", bytes("one"));
  assertEquals(text(await b.read("/v/f", 0, 100)), "one");
  await b.write("/v/f", 0, bytes("TWO"));
  assertEquals(text(await a.read("/v/f", 0, 100)), "TWO");
  // Past the inline limit: the bytes move to a segment.
  const big = pattern(50_000, 9);
  await a.writeFile("/v/f", big);
  assertEquals(await b.read("/v/f", 0, 100_000), big);
  await b.write("/v/f", 4090, bytes("xyz"));
  big.set(bytes("xyz"), 4090);
  assertEquals(await a.read("/v/f", 0, 100_000), big);
  await a.truncate("/v/f", 10);
  assertEquals((await b.getattr("/v/f")).size, 10);
  assertEquals(await b.read("/v/f", 0, 100), big.slice(0, 10));
  await b.setxattr("/v/f", "user.k", bytes("v"));
  assertEquals(text(await a.getxattr("/v/f", "user.k")), "v");
  await a.mkdir("/w");
  await a.rename("/v/f", "/w/g");
  assertEquals(await exists(b, "/v/f"), false);
  assertEquals(await b.read("/w/g", 0, 100), big.slice(0, 10));
  await b.link("/w/g", "/v/h");
  assertEquals((await a.getattr("/w/g")).nlink, 2);
  await a.write("/v/h", 0, bytes("linked"));
  assertEquals(text(await b.read("/w/g", 0, 6)), "linked");
  await b.unlink("/w/g");
  assertEquals((await a.getattr("/v/h")).nlink, 1);
  assertEquals((await a.readdir("/w")).entries, []);
  await a.rmdir("/w");
  assertEquals(await exists(b, "/w"), false);
  assertEquals((await b.readdir("/")).entries.map((e) => e.name), ["v"]);
  await b.symlink("/v/h", "/v/link");
  assertEquals(text(await a.read("/v/link", 0, 6)), "linked");
  assertEquals((await readdirAll(a, "/v")).map((e) => e.name), ["h", "link"]);
}

const SEEDS = 3;

Deno.test("memory: workers on two instances with their own names in shared directories", async () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    await disjointWorkers(new MemoryStore(), { lanes: 8, ops: 120, seed });
    await disjointWorkers(new MemoryStore(), { vfs: SMALL, lanes: 8, ops: 120, seed: seed + 50 });
  }
});

Deno.test("memory: contended operations from two instances have exactly one winner", async () => {
  await contended(new MemoryStore(), 15);
  await contended(new MemoryStore(), 15, SMALL);
});

Deno.test("memory: workers racing on shared names keep the bucket consistent", async () => {
  const seen: Record<string, number> = {};
  for (let seed = 1; seed <= 4; seed++) {
    const options = { vfs: seed % 2 ? SMALL : {}, lanes: 6, ops: 120, seed };
    for (const [k, n] of Object.entries(await sharedChaos(new MemoryStore(), options))) {
      seen[k] = (seen[k] ?? 0) + n;
    }
  }
  // The races happened: operations both succeeded and lost.
  for (const key of ["rename:ok", "rename:ENOENT", "link:ok", "unlink:ok", "write:ok"]) {
    assert(seen[key], `no ${key} in ${JSON.stringify(seen)}`);
  }
});

Deno.test("memory: a write, link or unlink racing a cross-directory rename is not lost", async () => {
  await writeDuringRename(new MemoryStore());
});

Deno.test("memory: a change through one instance is seen by the other", async () => {
  await visibility(new MemoryStore());
});

Deno.test({
  // Each mover checks the target's ancestry after its intent is durable (see
  // src/vfs/rename.ts), so the one that looks last sees the other's intent or its effect.
  name: "memory: crossed directory renames from two instances never make a cycle",
  fn: () => crossedRenames(new MemoryStore(), 30),
});

Deno.test("memory: a ring of directory renames from three instances never makes a cycle", () =>
  ringRenames(new MemoryStore(), 15));

// A heavier run finds a still open race that loses a directory now and then (timing
// dependent, not replayable by seed): PAGEFS_MOVING="13-40,12,60" (seeds, lanes, ops).
const MOVING = (Deno.env.get("PAGEFS_MOVING") ?? "1-3,6,40").split(/[-,]/).map(Number);

Deno.test("memory: directories moved into one another at random stay reachable", async () => {
  const seen: Record<string, number> = {};
  const [first = 1, last = 3, lanes = 6, ops = 40] = MOVING;
  for (let seed = first; seed <= last; seed++) {
    for (
      const [k, n] of Object.entries(
        await movingDirs(new MemoryStore(), { lanes, ops, seed }),
      )
    ) {
      seen[k] = (seen[k] ?? 0) + n;
    }
  }
  // The races happened: moves both succeeded and lost to a crossing one.
  for (const key of ["ok", "EINVAL"]) assert(seen[key], `no ${key} in ${JSON.stringify(seen)}`);
});

Deno.test({
  // A reader that meets the intent while the target is taken rolls the rename back; the
  // delayed renamer must not add the target once it is free again (two names for one
  // inode). Whoever finds the source still there without the intent drops that target.
  name: "memory: a rename rolled back by a reader is not applied later",
  fn: () => lateApplyAfterRollback(new MemoryStore()),
});

Deno.test({
  // The second instance may list the store after the first wrote its superblock: it must
  // re-read the superblock instead of refusing a "foreign" store.
  name: "memory: two instances formatting one empty store at once both open it",
  fn: () => formatRace(5),
});

const s3 = { ignore: s3Env() === null, sanitizeOps: false, sanitizeResources: false };

async function onS3(fn: (store: ObjectStore) => Promise<unknown>): Promise<void> {
  const { store, close } = await openS3();
  try {
    await fn(store);
  } finally {
    await close();
  }
}

Deno.test({
  name: "s3: workers on two instances with their own names in shared directories",
  ...s3,
  fn: () => onS3((store) => disjointWorkers(store, { vfs: SMALL, lanes: 6, ops: 40, seed: 7 })),
});

Deno.test({
  name: "s3: workers racing on shared names keep the bucket consistent",
  ...s3,
  fn: () => onS3((store) => sharedChaos(store, { vfs: SMALL, lanes: 4, ops: 40, seed: 9 })),
});

Deno.test({
  name: "s3: contended operations from two instances have exactly one winner",
  ...s3,
  fn: () => onS3((store) => contended(store, 6)),
});

Deno.test({
  name: "s3: a change through one instance is seen by the other",
  ...s3,
  fn: () => onS3(visibility),
});

Deno.test({
  name: "s3: crossed directory renames from two instances never make a cycle",
  ...s3,
  fn: () => onS3((store) => crossedRenames(store, 5)),
});

Deno.test({
  name: "s3: directories moved into one another at random stay reachable",
  ...s3,
  fn: () => onS3((store) => movingDirs(store, { lanes: 4, ops: 10, seed: 3 })),
});

Deno.test("two links racing to one new name count one link", async () => {
  const store = new MemoryStore();
  const a = await Vfs.open(store);
  await a.mkdir("/d");
  await a.writeFile("/d/f", bytes("data"));
  await a.link("/d/f", "/d/g"); // an inode of its own, so both links count on it
  const hook = new HookStore(store);
  const b = await Vfs.open(hook);
  const dirIno = (await a.lookup("/d")).ino;
  // b has looked the name up (free) and counted its link; right before its entry goes in,
  // a links the same file to the same name.
  hook.before(
    (call) => call.op === "PutObject" && call.key === dirKey(dirIno),
    () => a.link("/d/f", "/d/h"),
  );
  const second = await b.link("/d/f", "/d/h").then(() => "ok", (e) => e.code);
  assertEquals(hook.fired, 1, "the interleaving did not happen");
  assertEquals(second, "EEXIST");
  assertEquals((await a.getattr("/d/f")).nlink, 3);
  assertEquals(await checkConsistency(store), []);
});

Deno.test("a directory split that loses its race leaves no shard behind", async () => {
  const store = new MemoryStore();
  const options: VfsOptions = { dirLimits: { maxEntries: 4 } };
  const a = await Vfs.open(store, options);
  await a.mkdir("/d");
  for (let i = 0; i < 4; i++) await a.writeFile(`/d/a${i}`, bytes("x"));
  const hook = new HookStore(store);
  const b = await Vfs.open(hook, options);
  const dirIno = (await a.lookup("/d")).ino;
  // b's create fills the directory past its limit: it writes two shards, then its CAS
  // turns the directory into their table. Right before that CAS, a's create does the same.
  hook.before(
    (call) => call.op === "PutObject" && call.key === dirKey(dirIno),
    () => a.writeFile("/d/from-a", bytes("a")),
  );
  await b.writeFile("/d/from-b", bytes("b"));
  assertEquals(hook.fired, 1, "the interleaving did not happen");
  const names = (await readdirAll(a, "/d")).map((e) => e.name).sort();
  assertEquals(names, ["a0", "a1", "a2", "a3", "from-a", "from-b"]);
  const report = await fsck(store, { graceMs: 0 });
  assertEquals(report.problems.filter((p) => p.severity === "error"), []);
});
