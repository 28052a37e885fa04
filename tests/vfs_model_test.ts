// Randomized operation sequences applied to the Vfs and to the reference model in
// tests/_model.ts: every answer (bytes, errno, stat) must agree, and so must the whole
// tree at the end, also as seen by a fresh instance.
//
// A failure prints its seed. Reproduce one run with
//   MODEL_SEED=<seed> [MODEL_OPS=<n>] [MODEL_CONFIG=<name>] deno test --allow-all tests/vfs_model_test.ts
// and run more seeds with MODEL_SEEDS=<n>, from MODEL_FIRST=<seed> (default 1) for fresh ones.

import { parseKey } from "../src/format/keys.ts";
import { fsck } from "../src/format/fsck.ts";
import { MemoryStore } from "../src/store/memory.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Vfs, type VfsOptions } from "../src/vfs/vfs.ts";
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
  Rng,
  type Step,
  vfsTree,
} from "./_model.ts";
import { openS3, s3Env } from "./_stores.ts";
import { assert } from "./_assert.ts";

const CONFIGS: readonly { name: string; options: VfsOptions }[] = [
  {
    name: "small limits",
    options: { inlineMax: 64, spillExtents: 8, dirLimits: { maxEntries: 8 } },
  },
  { name: "defaults", options: {} },
  // Objects of 2 entries: a directory becomes age-sharded at its third name and rolls over
  // every two new names after, so names live in closed shards and the open one alike. And
  // of 1 KiB of JSON (files of up to 1 KiB are inline, and xattrs): the open shard closes,
  // and a closed one is split in two, by the decoded size too.
  {
    name: "tiny directories",
    options: { dirLimits: { maxEntries: 2, maxDecodedBytes: 1 << 10 } },
  },
  // Xattrs spilled to x/<id> past 32 bytes (1 KiB by default, which these never reach):
  // renames, links, copies and removals of files and symlinks that name them.
  { name: "spilled xattrs", options: { xattrSpillBytes: 32, dirLimits: { maxEntries: 8 } } },
];

/** Names for the last component: enough for a directory to outgrow 8 entries. */
const NAMES = "abcdefghijklmnop".split("");
/** Names that tend to be directories (the first components of random paths). */
const DIR_NAMES = ["a", "b", "c", "d"];
const XATTRS = ["user.a", "user.b", "user.c"];
const PAGE = 4096;

/** Generates one operation from the model's current state. */
function nextOp(rng: Rng, model: Model): Op {
  const existing = model.paths();
  const dirs = ["/", ...existing.filter((p) => model.nodeAt(p)?.kind === "directory")];
  const anyPath = (): string => {
    const r = rng.next();
    if (r < 0.02) return "/";
    if (existing.length > 0 && r < 0.5) return rng.pick(existing);
    // A name, often new, in an existing directory; mostly the same few, so that
    // directories grow past the shard limit.
    if (r < 0.85) {
      const dir = rng.chance(0.5) ? "/" : rng.pick(dirs);
      return `${dir === "/" ? "" : dir}/${rng.pick(NAMES)}`;
    }
    const depth = rng.range(1, 3);
    const names = Array.from({ length: depth - 1 }, () => rng.pick(DIR_NAMES));
    return "/" + [...names, rng.pick(NAMES)].join("/");
  };
  const filePath = (): string => {
    const files = existing.filter((p) => model.nodeAt(p)?.kind === "file");
    return files.length > 0 && rng.chance(0.8) ? rng.pick(files) : anyPath();
  };
  const dirPath = (): string =>
    dirs.length > 1 && rng.chance(0.7) ? rng.pick(dirs.slice(1)) : anyPath();
  const sizeOf = (path: string): number => {
    const node = model.nodeAt(path);
    return node?.kind === "file" ? node.data.length : 0;
  };
  const dataLength = (): number => {
    const r = rng.next();
    if (r < 0.4) return rng.range(1, 100);
    if (r < 0.7) return rng.range(100, 5000);
    return rng.range(5000, 20 * 1024);
  };
  const offsetFor = (size: number): number => {
    const r = rng.next();
    if (r < 0.2) return 0;
    if (r < 0.35) return size; // append
    if (r < 0.55) {
      // Near a page boundary, unaligned.
      const page = rng.int(Math.max(1, Math.ceil((size + 1) / PAGE)) + 1);
      return Math.max(0, page * PAGE + rng.range(-3, 3));
    }
    if (r < 0.7) return size + rng.range(1, 9000); // past EOF: a hole
    return rng.int(size + 1);
  };
  const r = rng.int(100);
  if (r < 8) return { op: "mkdir", path: anyPath() };
  if (r < 14) return { op: "create", path: anyPath(), exclusive: rng.chance(0.5) };
  if (r < 32) {
    const path = rng.chance(0.85) ? filePath() : anyPath();
    const offset = offsetFor(sizeOf(path));
    return { op: "write", path, offset, data: rng.bytes(dataLength()), create: rng.chance(0.6) };
  }
  if (r < 38) {
    const path = rng.chance(0.85) ? filePath() : anyPath();
    let size = sizeOf(path);
    const steps: Step[] = [];
    for (let i = rng.range(1, 5); i > 0; i--) {
      if (rng.chance(0.25)) {
        size = rng.chance(0.5) ? rng.int(size + 1) : size + rng.range(1, 6000);
        steps.push({ size });
      } else {
        const offset = offsetFor(size);
        const data = rng.bytes(rng.chance(0.5) ? rng.range(1, 200) : dataLength());
        steps.push({ offset, data });
        size = Math.max(size, offset + data.length);
      }
    }
    return { op: "writes", path, steps, create: rng.chance(0.5), truncate: rng.chance(0.15) };
  }
  if (r < 48) {
    const path = rng.chance(0.85) ? filePath() : anyPath();
    const size = sizeOf(path);
    const offset = rng.chance(0.1) ? size + rng.range(0, 100) : rng.int(size + 1);
    return { op: "read", path, offset, length: rng.range(0, size + 10) };
  }
  if (r < 55) {
    const path = rng.chance(0.85) ? filePath() : anyPath();
    const size = sizeOf(path);
    const to = rng.chance(0.5)
      ? rng.int(size + 1)
      : rng.chance(0.5)
      ? size + rng.range(1, 10000)
      : 0;
    return { op: "truncate", path, size: to };
  }
  if (r < 61) return { op: "unlink", path: rng.chance(0.8) ? filePath() : anyPath() };
  if (r < 65) return { op: "rmdir", path: rng.chance(0.8) ? dirPath() : anyPath() };
  if (r < 77) {
    const from = rng.chance(0.3) ? dirPath() : anyPath();
    return { op: "rename", from, to: anyPath(), noReplace: rng.chance(0.2) };
  }
  if (r < 81) return { op: "link", existing: filePath(), path: anyPath() };
  if (r < 84) {
    const target = rng.pick([anyPath(), rng.pick(NAMES), `../${rng.pick(NAMES)}`, "/nowhere"]);
    return { op: "symlink", target, path: anyPath() };
  }
  if (r < 85) return { op: "readlink", path: anyPath() };
  if (r < 90) {
    return {
      op: "setxattr",
      path: anyPath(),
      name: rng.pick(XATTRS),
      value: rng.bytes(rng.range(0, 40)),
      flags: rng.pick([{}, {}, { create: true }, { replace: true }]),
    };
  }
  if (r < 92) return { op: "getxattr", path: anyPath(), name: rng.pick(XATTRS) };
  if (r < 93) return { op: "removexattr", path: anyPath(), name: rng.pick(XATTRS) };
  if (r < 94) return { op: "listxattr", path: anyPath() };
  if (r < 97) return { op: "readdir", path: dirPath() };
  if (r < 98) return { op: "lookup", path: anyPath() };
  return { op: "getattr", path: anyPath() };
}

/** Runs `count` random operations on `store` and checks each one and the final tree. */
async function runSeed(
  store: ObjectStore,
  seed: number,
  count: number,
  options: VfsOptions,
): Promise<Record<string, number>> {
  const rng = new Rng(seed);
  const model = new Model();
  const fs = await Vfs.open(store, options);
  const log: string[] = [];
  const fail = (message: string): never => {
    throw new Error(
      `seed ${seed}: ${message}\n  last operations:\n    ${log.slice(-12).join("\n    ")}`,
    );
  };
  for (let i = 0; i < count; i++) {
    const op = nextOp(rng, model);
    log.push(`#${i} ${describe(op)}`);
    const expected = applyModel(model, op);
    const actual = await applyVfs(fs, op);
    const diff = diffOutcome(actual, expected);
    if (diff) fail(`operation #${i} ${describe(op)}: ${diff}`);
  }
  const expected = modelTree(model);
  const seen = diffTrees(await vfsTree(fs), expected);
  if (seen.length > 0) fail(`final tree differs:\n    ${seen.join("\n    ")}`);
  // A fresh instance has no cached state: it must see the same tree.
  const fresh = diffTrees(await vfsTree(await Vfs.open(store, options)), expected);
  if (fresh.length > 0) {
    fail(`final tree differs for a fresh instance:\n    ${fresh.join("\n    ")}`);
  }
  const problems = await checkConsistency(store);
  if (problems.length > 0) fail(`inconsistent bucket:\n    ${problems.join("\n    ")}`);
  // And fsck finds no damage (every name of an age-sharded directory in one shard, each
  // closed shard's names passed by its filter, among the rest).
  const damage = (await fsck(store, { graceMs: 0 })).problems.filter((p) => p.severity === "error");
  if (damage.length > 0) fail(`fsck: ${JSON.stringify(damage, null, 1)}`);
  return await countKinds(store);
}

/** How many objects of each kind the store holds (to check what a run exercised). */
async function countKinds(store: ObjectStore): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (let cursor: string | null = null;;) {
    const page = await store.list(cursor ? { cursor } : {});
    for (const { key } of page.objects) {
      const kind = parseKey(key)?.kind ?? "other";
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
    cursor = page.cursor;
    if (!cursor) return counts;
  }
}

const only = {
  seed: Deno.env.get("MODEL_SEED"),
  ops: Deno.env.get("MODEL_OPS"),
  config: Deno.env.get("MODEL_CONFIG"),
  seeds: Deno.env.get("MODEL_SEEDS"),
  first: Deno.env.get("MODEL_FIRST"),
};

for (const config of CONFIGS) {
  Deno.test({
    name: `memory (${config.name}): random operations agree with the model`,
    ignore: only.config !== undefined && only.config !== config.name,
    async fn() {
      const seeds = only.seed
        ? [Number(only.seed)]
        : Array.from({ length: Number(only.seeds ?? 40) }, (_, i) => i + Number(only.first ?? 1));
      const ops = Number(only.ops ?? 400);
      const seen: Record<string, number> = {};
      for (const seed of seeds) {
        const counts = await runSeed(new MemoryStore(), seed, ops, config.options);
        for (const [kind, n] of Object.entries(counts)) seen[kind] = (seen[kind] ?? 0) + n;
      }
      if (Deno.env.get("MODEL_DEBUG")) console.log(config.name, seen);
      // The runs reached the paths the limits are there to exercise.
      if (!only.seed) {
        const kinds = config.name === "small limits"
          ? ["segment", "inode", "shard", "map"]
          : config.name === "tiny directories"
          ? ["segment", "inode", "shard"]
          : ["segment", "inode"];
        for (const kind of kinds) assert(seen[kind], `no ${kind} object was ever written`);
      }
    },
  });
}

Deno.test({
  name: "s3: random operations agree with the model",
  ignore: s3Env() === null || only.seed !== undefined,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    for (const [i, config] of CONFIGS.entries()) {
      const { store, close } = await openS3();
      try {
        await runSeed(store, 1000 + i, 200, config.options);
      } finally {
        await close();
      }
    }
  },
});
