// Crash consistency: a fixed workload is cut at every request it makes, in two ways.
//
// - crash: request n and every later one fail before reaching the store (the process
//   died there). A fresh instance must then see every acknowledged operation, the cut
//   operation either whole or not at all, and a tree whose every entry leads somewhere;
//   the rest of the workload must then run on it as if nothing had happened.
// - ambiguous: only request n fails, after the store applied it (the connection dropped
//   before the answer). The operation may report failure or success; either way the tree
//   must hold its effect whole or not at all, and the same instance must carry on.

import { fsck, type FsckProblem } from "../src/format/fsck.ts";
import { type FaultOptions, FaultyStore } from "../src/store/fault.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs, type VfsOptions } from "../src/vfs/vfs.ts";
import { FsError } from "../src/vfs/errors.ts";
import { assert } from "./_assert.ts";
import {
  applyModel,
  applyVfs,
  checkConsistency,
  describe,
  diffOutcome,
  diffTrees,
  Model,
  modelTree,
  type Op,
  type Tree,
  vfsTree,
} from "./_model.ts";
import { pattern } from "./_stores.ts";

const data = (length: number, seed: number) => pattern(length, seed);

/** Every kind of change, with data both inline (up to 1 KiB) and in segments. */
const WORKLOAD: readonly Op[] = [
  { op: "mkdir", path: "/a" },
  { op: "mkdir", path: "/b" },
  { op: "mkdir", path: "/a/sub" },
  { op: "write", path: "/a/small", offset: 0, data: data(100, 1), create: true },
  { op: "write", path: "/a/big", offset: 0, data: data(3000, 2), create: true },
  { op: "write", path: "/a/big", offset: 1000, data: data(500, 3), create: false },
  // Outgrows inline storage: its bytes move to a segment.
  { op: "write", path: "/a/small", offset: 50, data: data(2000, 4), create: false },
  { op: "setxattr", path: "/a/small", name: "user.k", value: data(10, 5), flags: {} },
  { op: "rename", from: "/a/small", to: "/b/moved", noReplace: false },
  { op: "link", existing: "/b/moved", path: "/a/hard" },
  { op: "write", path: "/a/hard", offset: 10, data: data(20, 6), create: false },
  { op: "unlink", path: "/b/moved" },
  { op: "truncate", path: "/a/big", size: 1500 },
  { op: "truncate", path: "/a/hard", size: 5000 },
  { op: "rename", from: "/a/sub", to: "/b/sub", noReplace: false },
  { op: "write", path: "/b/sub/f", offset: 0, data: data(200, 7), create: true },
  // Replaces a file across directories.
  { op: "rename", from: "/a/big", to: "/b/sub/f", noReplace: false },
  { op: "symlink", target: "/b/sub/f", path: "/a/link" },
  { op: "mkdir", path: "/c" },
  // Replaces an empty directory.
  { op: "rename", from: "/b/sub", to: "/c", noReplace: false },
  { op: "write", path: "/c/f", offset: 4090, data: data(10, 8), create: false },
  {
    op: "writes",
    path: "/c/g",
    steps: [{ offset: 0, data: data(700, 9) }, { size: 100 }, { offset: 5000, data: data(30, 10) }],
    create: true,
    truncate: false,
  },
  // Enough names in one directory to split it under the small limits.
  ...Array.from({ length: 10 }, (_, i): Op => ({
    op: "write",
    path: `/b/n${i}`,
    offset: 0,
    data: data(30 + i, 20 + i),
    create: true,
  })),
  { op: "rename", from: "/b/n3", to: "/b/n7", noReplace: false },
  { op: "unlink", path: "/a/hard" },
  { op: "rename", from: "/a/link", to: "/c/link", noReplace: false },
  { op: "rmdir", path: "/a" },
  { op: "link", existing: "/c/f", path: "/b/n0-link" },
  { op: "unlink", path: "/c/f" },
];

const CONFIGS: readonly { name: string; options: VfsOptions }[] = [
  { name: "defaults", options: {} },
  {
    name: "small limits",
    options: { inlineMax: 64, spillExtents: 2, dirLimits: { maxEntries: 8 } },
  },
];

/** Operations whose interruption may leave a link count too high (never too low). */
const LINK_COUNTING = new Set(["link", "unlink", "rename"]);

/** fsck findings a crash may leave: unreferenced objects, and what is still "in flight". */
const TOLERATED = new Set(["orphan", "garbage", "in-flight", "unknown-key"]);

interface Cut {
  /** Index of the first operation that failed, or -1 if none did. */
  failedAt: number;
}

/**
 * Runs the workload from operation `from` on `fs`, checking each answer against `model`.
 * A failed operation goes to `onFailure`, which returns the model to go on with (the one
 * before the operation, to do it again, or the one after), or null to stop.
 */
async function runWorkload(
  fs: Vfs,
  model: Model,
  options: {
    from: number;
    what: string;
    onFailure: (
      index: number,
      before: Model,
      after: Model,
      error: string,
    ) => Promise<Model | null>;
  },
): Promise<{ model: Model; cut: Cut }> {
  const cut: Cut = { failedAt: -1 };
  for (let i = options.from; i < WORKLOAD.length; i++) {
    const op = WORKLOAD[i]!;
    const before = model.clone();
    const expected = applyModel(model, op);
    assert(expected.ok, `${options.what}: the workload itself fails at #${i} ${describe(op)}`);
    const actual = await applyVfs(fs, op);
    if (actual.ok) {
      const diff = diffOutcome(actual, expected);
      assert(diff === null, `${options.what}: #${i} ${describe(op)}: ${diff}`);
      continue;
    }
    if (cut.failedAt < 0) cut.failedAt = i;
    const error = `${actual.code}: ${actual.message}`;
    const next = await options.onFailure(i, before, model, error);
    if (next === null) return { model, cut };
    model = next;
    // The state is as before the operation: do it again, as an application would.
    if (next === before) i--;
  }
  return { model, cut };
}

/**
 * Which of `before` (the operation had no effect) and `after` (it took effect) a fresh
 * instance sees; fails if neither. Interrupted link counting may leave a count too high
 * (fsck repairs it); it is then repaired and checked again.
 */
async function settled(
  store: MemoryStore,
  vfs: VfsOptions,
  cut: { op: Op; before: Model; after: Model; crashed: boolean },
  what: string,
): Promise<Model> {
  const { op, before, after, crashed } = cut;
  const seen = await walk(store, vfs, what, crashed);
  const candidates = [before, after];
  for (const model of candidates) {
    if (diffTrees(seen, modelTree(model)).length === 0) return model;
  }
  if (LINK_COUNTING.has(op.op)) {
    for (const model of candidates) {
      if (diffTrees(seen, modelTree(model), { nlink: "at-least" }).length > 0) continue;
      const report = await fsck(store, { repair: true, graceMs: 0 });
      const again = await walk(store, vfs, what, crashed);
      const diff = diffTrees(again, modelTree(model));
      assert(
        diff.length === 0,
        `${what}: a link count left too high is not repaired by fsck:\n  ${diff.join("\n  ")}\n  ${
          JSON.stringify(report.problems)
        }`,
      );
      return model;
    }
  }
  throw new Error(
    `${what}: the tree is neither as before nor as after ${describe(op)}:\n  before: ${
      diffTrees(seen, modelTree(before)).join("\n    ")
    }\n  after: ${diffTrees(seen, modelTree(after)).join("\n    ")}`,
  );
}

/**
 * rmdir, and rename onto an empty directory, first mark the directory `removing` (closed
 * to new entries), then unlink it. A crash in between leaves a linked directory marked;
 * whoever opens it after the mark's lease rolls the mark back. After a crash nothing is in
 * flight, so the instance that checks the tree uses a lease of 0 and reopens every such
 * directory it meets, as any instance would 30 s later.
 */
async function clearStaleMarks(store: MemoryStore, vfs: VfsOptions): Promise<void> {
  // A removal that became final (a tombstone) but died before unlinking the directory is
  // finished by whoever opens it: the walk that finishes one sees the directory vanish
  // after listing it, and walks again.
  for (let pass = 0;; pass++) {
    try {
      return void await vfsTree(await Vfs.open(store, { ...vfs, removingLeaseMs: 0 }));
    } catch (error) {
      if (pass >= 5 || !(error instanceof FsError && error.code === "ENOENT")) throw error;
    }
  }
}

/**
 * The tree as a fresh instance sees it; every listed entry must be readable. After a
 * crash, stale `removing` marks are rolled back first (see above).
 */
async function walk(
  store: MemoryStore,
  vfs: VfsOptions,
  what: string,
  crashed: boolean,
): Promise<Tree> {
  if (crashed) await clearStaleMarks(store, vfs);
  try {
    return await vfsTree(await Vfs.open(store, vfs));
  } catch (error) {
    throw new Error(`${what}: the tree cannot be walked: ${error}`);
  }
}

/** The bucket is consistent: raw references hold, and fsck finds only tolerated leftovers. */
async function checkBucket(store: MemoryStore, what: string): Promise<void> {
  const problems = await checkConsistency(store);
  assert(problems.length === 0, `${what}: ${problems.join("\n  ")}`);
  const report = await fsck(store);
  const bad = report.problems.filter((p: FsckProblem) => !TOLERATED.has(p.kind));
  assert(bad.length === 0, `${what}: fsck: ${JSON.stringify(bad, null, 1)}`);
}

async function formatted(vfs: VfsOptions): Promise<MemoryStore> {
  const store = new MemoryStore();
  await Vfs.open(store, vfs);
  return store;
}

/** Requests the whole workload makes, opening included. */
async function countRequests(vfs: VfsOptions): Promise<number> {
  const counter = new FaultyStore(await formatted(vfs));
  const fs = await Vfs.open(counter, vfs);
  const { cut } = await runWorkload(fs, new Model(), {
    from: 0,
    what: "clean run",
    onFailure: () => Promise.reject(new Error("the clean run failed")),
  });
  assert(cut.failedAt < 0);
  return counter.calls;
}

/** Crash at request `n`; recover with a fresh instance and finish the workload on it. */
async function crashAt(n: number, vfs: VfsOptions, name: string): Promise<boolean> {
  const what = `${name}, crash at request ${n}`;
  const store = await formatted(vfs);
  const faulty = new FaultyStore(store, { crashAt: n });
  let stopped: { index: number; model: Model } | null = null;
  const fs = await Vfs.open(faulty, vfs).catch(() => null);
  let model = new Model();
  if (fs) {
    const run = await runWorkload(fs, model, {
      from: 0,
      what,
      onFailure: async (index, before, after) => {
        const cut = { op: WORKLOAD[index]!, before, after, crashed: true };
        const state = await settled(store, vfs, cut, `${what}, #${index}`);
        stopped = { index: state === before ? index : index + 1, model: state };
        return null;
      },
    });
    model = run.model;
  }
  const resume = stopped as { index: number; model: Model } | null;
  if (!fs || resume) {
    await checkBucket(store, what);
    // Later operations work: the rest of the workload runs on a fresh instance.
    const fresh = await Vfs.open(store, vfs);
    const rest = await runWorkload(fresh, resume?.model ?? new Model(), {
      from: resume?.index ?? 0,
      what: `${what}, after recovery`,
      onFailure: (i, _b, _a, error) =>
        Promise.reject(new Error(`${what}: #${i} fails after recovery: ${error}`)),
    });
    model = rest.model;
  }
  const diff = diffTrees(await walk(store, vfs, what, true), modelTree(model));
  assert(diff.length === 0, `${what}: final tree:\n  ${diff.join("\n  ")}`);
  await checkBucket(store, what);
  return resume !== null || !fs;
}

/**
 * Request `n` is applied but answered with a dropped connection; the same instance goes
 * on (retrying an operation that failed without effect).
 */
async function ambiguousAt(n: number, vfs: VfsOptions, name: string): Promise<boolean> {
  const what = `${name}, ambiguous failure of request ${n}`;
  const store = await formatted(vfs);
  const plan: FaultOptions["plan"] = (call) => call.n === n ? { kind: "fail-after" } : null;
  const faulty = new FaultyStore(store, { plan });
  const fs = await Vfs.open(faulty, vfs).catch(() => null) ?? await Vfs.open(faulty, vfs);
  let failures = 0;
  const { model } = await runWorkload(fs, new Model(), {
    from: 0,
    what,
    onFailure: async (index, before, after, error) => {
      if (++failures > 1) throw new Error(`${what}: #${index} failed after the fault: ${error}`);
      const cut = { op: WORKLOAD[index]!, before, after, crashed: false };
      return await settled(store, vfs, cut, `${what}, #${index}`);
    },
  });
  const diff = diffTrees(await walk(store, vfs, what, false), modelTree(model));
  assert(diff.length === 0, `${what}: final tree:\n  ${diff.join("\n  ")}`);
  await checkBucket(store, what);
  return failures > 0;
}

for (const config of CONFIGS) {
  Deno.test(`memory (${config.name}): a crash at any request loses nothing acknowledged`, async () => {
    const total = await countRequests(config.options);
    let cut = 0;
    for (let n = 1; n <= total; n++) if (await crashAt(n, config.options, config.name)) cut++;
    // Every request but the last few (reads after the last change) interrupted something.
    assert(cut > total / 2, `only ${cut} of ${total} crash points interrupted an operation`);
  });

  Deno.test(`memory (${config.name}): an ambiguous failure at any request is resolved`, async () => {
    const total = await countRequests(config.options);
    let failed = 0;
    for (let n = 1; n <= total; n++) {
      if (await ambiguousAt(n, config.options, config.name)) failed++;
    }
    assert(failed > 0, "no ambiguous failure ever reached the caller");
  });
}
