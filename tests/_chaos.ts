// The adversarial model-based harness: three Vfs instances on one store, each with its
// own skewed clock, GC and compaction running at the same time, slow streamed uploads,
// and store faults (answers lost after the write took effect, failures before it, stalls).
// Used by tests/vfs_chaos_test.ts (a few seeds in CI) and tests/soak.ts (`deno task soak`).
//
// Two kinds of workers run at once, their calls interleaved by the seeded scheduler of
// tests/_chaos_store.ts:
//
// - private lanes work on names of their own in shared directories, so every answer is
//   predicted exactly by the lane's own model (tests/_model.ts). An operation that fails
//   with an errno that means "outcome unknown" (EIO, EAGAIN) must have left the lane's
//   names as before it or as after it; the lane goes on from whichever it is.
// - shared lanes race on the same names, where only invariants can be checked: a read
//   returns the bytes of one whole write that was not superseded before the read began
//   (a register), every acknowledged append is in the log exactly once and nothing else
//   is, a directory that holds an acknowledged file is never removed, a hard-linked
//   file's link count matches its names.
//
// At the end a fresh instance must see each lane's model, the bucket must be consistent
// (no missing segment, map or directory) and fsck must find no error.

import { fsck } from "../src/format/fsck.ts";
import { gc } from "../src/format/gc.ts";
import { parseKey } from "../src/format/keys.ts";
import { type Fault, type FaultCall, FaultyStore } from "../src/store/fault.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { RetryStore } from "../src/store/retry.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Vfs, type VfsOptions } from "../src/vfs/vfs.ts";
import {
  applyModel,
  type ApplyOptions,
  applyVfs,
  checkConsistency,
  describe,
  diffBytes,
  diffOutcome,
  diffTrees,
  Model,
  modelTree,
  mutates,
  type Op,
  type Outcome,
  Rng,
  type Tree,
  vfsTree,
} from "./_model.ts";
import { ScheduledStore, Sim, slowBody } from "./_chaos_store.ts";
import { pattern } from "./_stores.ts";

/** The faults and adversities the harness can turn on, each with its own switch. */
export const FAULT_KINDS = [
  /** A metadata PUT (directory, inode, shard, page map) is applied, its answer lost. */
  "ambiguous-meta",
  /** A segment PUT or multipart completion is applied, its answer lost. */
  "ambiguous-segment",
  /** A request fails before reaching the store (the retry layer retries it). */
  "fail-before",
  /** A request is held for up to a few seconds (a hung connection). */
  "stall",
  /** Each instance's clock (and GC's) is off by up to 60 s. */
  "skew",
  /** GC runs during the workload. */
  "gc",
  /** Compaction (as `gc --compact-below`) runs during the workload. */
  "compact",
  /** Uploads arrive slowly, in pieces, over up to a minute. */
  "slow-body",
  /** Shared lanes replace the same files at once (else each writes its own register). */
  "racing-puts",
  /** Shared lanes link the same new name at once (else each links its own name). */
  "same-name-links",
  /**
   * Each instance holds WebDAV locks on a path of its own: a lock must stay in the table,
   * whoever writes the table, until it expires by its holder's clock.
   */
  "locks",
  /**
   * A check rather than a fault: a file's ETag changes when its bytes change, and stays
   * when only compaction moved them.
   */
  "etags",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Parses a fault switch: "all", "none", or a comma list where "-kind" removes one. */
export function parseFaults(spec: string, base: readonly FaultKind[] = []): Set<FaultKind> {
  const out = new Set<FaultKind>(base);
  for (const raw of spec.split(",").map((s) => s.trim()).filter(Boolean)) {
    if (raw === "all") FAULT_KINDS.forEach((k) => out.add(k));
    else if (raw === "none") out.clear();
    else {
      const name = raw.replace(/^[-+]/, "") as FaultKind;
      if (!FAULT_KINDS.includes(name)) throw new Error(`Unknown fault kind "${name}"`);
      if (raw.startsWith("-")) out.delete(name);
      else out.add(name);
    }
  }
  return out;
}

export interface ChaosOptions {
  readonly seed: number;
  /** Operations per lane. */
  readonly ops: number;
  readonly faults: ReadonlySet<FaultKind>;
  /** Lanes with names of their own (default 6, two per instance). */
  readonly privateLanes?: number;
  /** Lanes racing on shared names (default 3, one per instance). */
  readonly sharedLanes?: number;
  readonly vfs?: VfsOptions;
  /** The store; default a fresh MemoryStore, which makes the run deterministic. */
  readonly store?: ObjectStore;
  /**
   * GC's (and compaction's) grace period (default 10 s: less than the clock skew and the
   * slowest uploads, more than any request takes).
   */
  readonly gcGraceMs?: number;
  /** Longest pause between two pieces of a slow upload (default 8 s). */
  readonly slowPauseMs?: number;
  /** Longest stall of one request (default 3 s). */
  readonly stallMs?: number;
}

/** One way the filesystem disagreed with the model or broke an invariant. */
export interface Divergence {
  readonly seed: number;
  readonly where: string;
  readonly message: string;
  /** The last operations of the worker (or of the run) before it. */
  readonly log: readonly string[];
}

export interface ChaosReport {
  readonly seed: number;
  readonly faults: readonly FaultKind[];
  /** Operations done by the workers. */
  ops: number;
  divergences: Divergence[];
  /** Bytes of acknowledged writes that the final state does not hold. */
  lostBytes: number;
  /** "clean", or fsck's errors. */
  fsck: string;
  /** Objects fsck found unreachable and older than its grace period (leaked, not lost). */
  leaked: number;
  /** Faults injected, GC and compaction runs, store calls scheduled. */
  injected: number;
  gcRuns: number;
  gcDeleted: number;
  compactions: number;
  steps: number;
  /** Virtual (or, on S3, real) milliseconds the run took. */
  elapsedMs: number;
  outcomes: Record<string, number>;
  /** Every operation of the run, in order (for diagnosis; kept only while small). */
  fullLog: string[];
}

const SHARED_DIRS = ["/d0", "/d1"];
/** Errnos meaning "the outcome is not known": the state must be as before or as after. */
const UNKNOWN = new Set(["EIO", "EAGAIN"]);
const META_KINDS = new Set(["dir", "inode", "shard", "map"]);
const SKEWS = [-60_000, -45_000, -20_000, 0, 20_000, 45_000, 60_000];

/** Runs one seed; never throws for a divergence (it is in the report). */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const store = options.store ?? new MemoryStore();
  const sim = new Sim(options.seed, { deterministic: options.store === undefined });
  const started = sim.now();
  const report: ChaosReport = {
    seed: options.seed,
    faults: FAULT_KINDS.filter((k) => options.faults.has(k)),
    ops: 0,
    divergences: [],
    lostBytes: 0,
    fsck: "not run",
    leaked: 0,
    injected: 0,
    gcRuns: 0,
    gcDeleted: 0,
    compactions: 0,
    steps: 0,
    elapsedMs: 0,
    outcomes: {},
    fullLog: [],
  };
  try {
    await sim.run(() => new Chaos(sim, store, options, report).run());
  } catch (error) {
    report.divergences.push({
      seed: options.seed,
      where: "harness",
      message: `the run failed: ${(error as Error)?.stack ?? error}`,
      log: [],
    });
  }
  report.steps = sim.steps;
  report.elapsedMs = sim.now() - started;
  return report;
}

/** A write whose bytes a register may hold, and when it ran (in harness order). */
interface WriteRecord {
  readonly id: number;
  readonly path: string;
  readonly data: Uint8Array;
  readonly start: number;
  end: number;
  status: "running" | "ok" | "failed" | "unknown";
}

const REGISTERS = ["/x/r0", "/x/r1", "/x/r2"];
const LINKS = ["/x/h0", "/x/h1", "/x/h2", "/x/h3"];
const QDIRS = ["/x/q0", "/x/q1"];
const LOG = "/x/log";
const MAGIC = 0x50465321;
/** The smallest part S3 allows: an upload past it streams out as a multipart upload. */
const PART_SIZE = 5 << 20;

class Chaos {
  readonly #sim: Sim;
  readonly #store: ObjectStore;
  readonly #options: ChaosOptions;
  readonly #report: ChaosReport;
  readonly #faults: ReadonlySet<FaultKind>;
  #faulty: FaultyStore[] = [];
  #armed = false;
  /** Harness order: a counter bumped at every operation's start and end. */
  #clock = 0;
  #writes = new Map<number, WriteRecord>();
  #nextWrite = 1;
  #appends = new Map<number, { data: Uint8Array; status: WriteRecord["status"] }>();
  /** Successful rmdirs of a shared directory: when they started. */
  #rmdirs: { path: string; start: number; end: number }[] = [];
  #models: { lane: string; model: Model; include: (path: string) => boolean }[] = [];
  #log: string[] = [];
  /** Each instance's clock. */
  #lockClocks = new Map<Vfs, () => number>();

  constructor(sim: Sim, store: ObjectStore, options: ChaosOptions, report: ChaosReport) {
    this.#sim = sim;
    this.#store = store;
    this.#options = options;
    this.#report = report;
    this.#faults = options.faults;
  }

  #diverge(where: string, message: string, log: readonly string[] = this.#log.slice(-12)) {
    this.#report.divergences.push({ seed: this.#options.seed, where, message, log });
  }

  #count(key: string) {
    this.#report.outcomes[key] = (this.#report.outcomes[key] ?? 0) + 1;
  }

  /** A clock off by a seeded skew (when skew is on). */
  #skewedClock(rng: Rng): () => number {
    const skew = this.#faults.has("skew") ? rng.pick(SKEWS) : 0;
    return () => this.#sim.now() + skew;
  }

  /** An instance's view of the store: scheduled, faulty, and retried as in production. */
  #view(rng: Rng): ObjectStore {
    const faulty = new FaultyStore(new ScheduledStore(this.#store, this.#sim), {
      plan: (call) => this.#plan(rng, call),
    });
    this.#faulty.push(faulty);
    return new RetryStore(faulty, { baseDelayMs: 20, maxDelayMs: 500 });
  }

  #plan(rng: Rng, call: FaultCall): Fault | null {
    // The same number of draws for every call, so one switch does not shift the others.
    const [a, b, c, d] = [rng.next(), rng.next(), rng.next(), rng.next()];
    if (!this.#armed) return null;
    const kind = call.key === undefined ? null : parseKey(call.key)?.kind ?? null;
    const f = this.#faults;
    if (f.has("ambiguous-meta") && call.op === "PutObject" && META_KINDS.has(kind ?? "")) {
      if (a < 0.04) return { kind: "fail-after" };
    }
    if (
      f.has("ambiguous-segment") && kind === "segment" &&
      (call.op === "PutObject" || call.op === "CompleteMultipartUpload") && b < 0.05
    ) {
      return { kind: "fail-after" };
    }
    if (f.has("fail-before") && c < 0.02) return { kind: "fail-before" };
    if (f.has("stall") && d < 0.01) {
      return { kind: "delay", ms: rng.int(this.#options.stallMs ?? 3000) };
    }
    return null;
  }

  async #open(rng: Rng): Promise<Vfs> {
    const now = this.#skewedClock(rng);
    const fs = await Vfs.open(this.#view(rng), { partSize: PART_SIZE, ...this.#options.vfs, now });
    this.#lockClocks.set(fs, now);
    return fs;
  }

  async run(): Promise<void> {
    const seed = this.#options.seed;
    const setup = await Vfs.open(this.#store, this.#options.vfs);
    for (const dir of [...SHARED_DIRS, "/x"]) await setup.mkdir(dir);
    await setup.writeFile(LINKS[0]!, pattern(3000, seed));
    await setup.writeFile(LOG, new Uint8Array(0));
    const instances: Vfs[] = [];
    for (let i = 0; i < 3; i++) instances.push(await this.#open(new Rng(seed * 7919 + i)));
    this.#armed = true;
    let running = 0;
    const lanes: Promise<void>[] = [];
    const privateLanes = this.#options.privateLanes ?? 6;
    const sharedLanes = this.#options.sharedLanes ?? 3;
    for (let k = 0; k < privateLanes; k++) {
      running++;
      lanes.push(
        this.#privateLane(instances[k % 3]!, `p${k}`, new Rng(seed * 1000 + k))
          .finally(() => running--),
      );
    }
    for (let k = 0; k < sharedLanes; k++) {
      running++;
      lanes.push(
        this.#sharedLane(instances[k % 3]!, k, new Rng(seed * 1000 + 500 + k))
          .finally(() => running--),
      );
    }
    if (this.#faults.has("locks")) {
      for (let k = 0; k < 3; k++) {
        running++;
        lanes.push(
          this.#lockLane(instances[k]!, k, new Rng(seed * 1000 + 700 + k))
            .finally(() => running--),
        );
      }
    }
    const janitor = this.#janitor(new Rng(seed * 1000 + 900), () => running > 0);
    await Promise.all([...lanes, janitor]);
    this.#armed = false;
    this.#report.injected = this.#faulty.reduce((n, f) => n + f.injected, 0);
    await this.#finalChecks();
    if (this.#log.length <= 100_000) this.#report.fullLog = this.#log;
  }

  // --- private lanes: exact per-operation checking ---

  #laneOps(rng: Rng, model: Model, lane: string): Op[] {
    const mine = model.paths().filter((p) => !SHARED_DIRS.includes(p));
    const files = mine.filter((p) => model.nodeAt(p)?.kind === "file");
    const fresh = (): string => {
      const r = rng.next();
      const dir = rng.pick(SHARED_DIRS);
      if (r < 0.1) return `${dir}/${lane}-D`;
      if (r < 0.25) return `${dir}/${lane}-D/${rng.pick(["f", "g"])}`;
      return `${dir}/${lane}-${rng.int(4)}`;
    };
    const path = () => mine.length > 0 && rng.chance(0.6) ? rng.pick(mine) : fresh();
    const file = () => files.length > 0 && rng.chance(0.8) ? rng.pick(files) : path();
    const size = (p: string) => {
      const node = model.nodeAt(p);
      return node?.kind === "file" ? node.data.length : 0;
    };
    const data = () => {
      const r = rng.next();
      const n = r < 0.5
        ? rng.range(1, 100)
        : r < 0.85
        ? rng.range(100, 6000)
        : rng.range(6000, 40_000);
      return pattern(n, rng.int(1e9) + 1);
    };
    const r = rng.int(100);
    if (r < 18) {
      const p = file();
      const offset = rng.chance(0.3) ? size(p) : rng.int(size(p) + 1);
      return [{ op: "write", path: p, offset, data: data(), create: true }];
    }
    if (r < 26) return [{ op: "append", path: file(), data: data(), create: true }];
    if (r < 36) return [{ op: "writeFile", path: file(), data: data() }];
    if (r < 42) {
      // An editor's safe save: write a temporary file, rename it over the original. Half
      // of them go to a file only ever saved so (its every version has the same
      // generation), with bytes that live in segments (so compaction moves them).
      const saved = rng.chance(0.5);
      const target = saved ? `${SHARED_DIRS[0]}/${lane}-S` : file();
      if (saved) {
        const tmp = `${SHARED_DIRS[0]}/${lane}-tmp`;
        const bytes = pattern(rng.range(1500, 8000), rng.int(1e9) + 1);
        // An overwrite of most of it leaves the first segment mostly dead: a candidate.
        const over = pattern(Math.floor(bytes.length * 0.7), rng.int(1e9) + 1);
        return [
          { op: "writeFile", path: tmp, data: bytes },
          { op: "write", path: tmp, offset: 0, data: over, create: false },
          { op: "rename", from: tmp, to: target, noReplace: false },
          { op: "read", path: target, offset: 0, length: 1 << 20 },
        ];
      }
      const tmp = `${target.slice(0, target.lastIndexOf("/"))}/${lane}-tmp`;
      return [
        { op: "writeFile", path: tmp, data: data() },
        { op: "rename", from: tmp, to: target, noReplace: false },
      ];
    }
    if (r < 52) {
      if (rng.chance(0.4)) {
        // Many small scattered writes in one commit: a fragmented file (a spilled map).
        const p = file();
        const steps = Array.from({ length: rng.range(8, 14) }, () => ({
          offset: rng.int(size(p) + 20_000),
          data: pattern(rng.range(1, 300), rng.int(1e9) + 1),
        }));
        return [{ op: "writes", path: p, steps, create: true, truncate: false }];
      }
      return [{ op: "read", path: file(), offset: 0, length: 1 << 20 }];
    }
    if (r < 58) return [{ op: "truncate", path: file(), size: rng.int(size(file()) + 3000) }];
    if (r < 65) return [{ op: "unlink", path: file() }];
    if (r < 75) return [{ op: "rename", from: path(), to: path(), noReplace: rng.chance(0.2) }];
    if (r < 82) return [{ op: "link", existing: file(), path: path() }];
    if (r < 86) return [{ op: "mkdir", path: `${rng.pick(SHARED_DIRS)}/${lane}-D` }];
    if (r < 90) return [{ op: "rmdir", path: path() }];
    if (r < 94) {
      return [{
        op: "setxattr",
        path: path(),
        name: "user.x",
        value: data().slice(0, 9),
        flags: {},
      }];
    }
    if (r < 97) return [{ op: "create", path: path(), exclusive: rng.chance(0.5) }];
    return [{ op: "getattr", path: path() }];
  }

  /** How an operation's data is sent: sometimes as a slow client's upload. */
  #body(rng: Rng, op: Op): ApplyOptions {
    if (!this.#faults.has("slow-body")) return {};
    if (op.op !== "write" && op.op !== "append" && op.op !== "writeFile") return {};
    const big = op.data.length > PART_SIZE;
    if (op.data.length < 200 || !(big || rng.chance(0.3))) return {};
    const chunks = big ? 12 : rng.range(2, 8);
    const pauseMs = (this.#options.slowPauseMs ?? 8000) * (big ? 2 : 1);
    return { body: (data) => slowBody(this.#sim, data, { chunks, pauseMs }) };
  }

  async #privateLane(fs: Vfs, lane: string, rng: Rng): Promise<void> {
    let model = new Model();
    for (const dir of SHARED_DIRS) model.mkdir(dir);
    const include = (path: string) =>
      SHARED_DIRS.includes(path) || SHARED_DIRS.some((d) => path.startsWith(`${d}/${lane}-`));
    const entry = { lane, model, include };
    this.#models.push(entry);
    const log: string[] = [];
    const etags = new Map<string, { etag: string; data: Uint8Array }>();
    let queue: Op[] = [];
    for (let i = 0; i < this.#options.ops; i++) {
      if (queue.length === 0) queue = this.#laneOps(rng, model, lane);
      const op = queue.shift()!;
      const line = `${lane} #${i} ${describe(op)}`;
      log.push(line);
      this.#log.push(line);
      const before = model.clone();
      const expected = applyModel(model, op);
      const body = this.#body(rng, op);
      const actual = await applyVfs(fs, op, body);
      this.#report.ops++;
      this.#count(`${op.op}:${actual.ok ? "ok" : actual.code}`);
      log.push(`  -> ${brief(actual)}${body.body ? " (slow body)" : ""}`);
      const diff = diffOutcome(actual, expected);
      if (diff === null) {
        if (this.#faults.has("etags")) {
          const problem = await this.#checkEtag(fs, op, model, etags);
          if (problem) {
            this.#diverge(`lane ${lane} #${i}`, `${describe(op)}: ${problem}`, log.slice(-16));
            return;
          }
        }
        continue;
      }
      if (!actual.ok && UNKNOWN.has(actual.code) && (mutates(op) || actual.code === "EAGAIN")) {
        // Outcome unknown: the lane's names must be exactly as before or as after.
        const seen = await this.#walk(fs, include);
        if (seen && diffTrees(seen, modelTree(before)).length === 0) {
          model = before;
          entry.model = model;
          queue = [];
          continue;
        }
        if (seen && diffTrees(seen, modelTree(model)).length === 0) continue;
        const state = seen
          ? `\n    vs before: ${diffTrees(seen, modelTree(before)).join("; ")}` +
            `\n    vs after: ${diffTrees(seen, modelTree(model)).join("; ")}`
          : " (the names cannot be walked)";
        this.#diverge(
          `lane ${lane} #${i}`,
          `${describe(op)} failed with ${actual.code} (${actual.message}) and left neither ` +
            `the state before nor after it:${state}`,
          log.slice(-16),
        );
        return;
      }
      this.#diverge(`lane ${lane} #${i}`, `${describe(op)}: ${diff}`, log.slice(-16));
      return;
    }
  }

  /**
   * After a successful operation on a file: its ETag must differ from the one seen for
   * different bytes (else a client's cached copy or `If-Match` passes for stale bytes),
   * and must not change across an operation that changed nothing (a read: only
   * compaction may have moved its bytes meanwhile).
   */
  async #checkEtag(
    fs: Vfs,
    op: Op,
    model: Model,
    etags: Map<string, { etag: string; data: Uint8Array }>,
  ): Promise<string | null> {
    // Names moved or changed their link counts: start afresh.
    if (op.op === "rename" || op.op === "unlink" || op.op === "link" || op.op === "rmdir") {
      etags.clear();
      return null;
    }
    if (!("path" in op)) return null;
    const node = model.nodeAt(op.path);
    if (node?.kind !== "file" || model.lookup(op.path).nlink !== 1) return null;
    let etag: string;
    try {
      etag = (await fs.lookup(op.path)).etag;
    } catch {
      return null;
    }
    const seen = etags.get(op.path);
    etags.set(op.path, { etag, data: node.data.slice() });
    if (!seen) return null;
    const same = diffBytes(seen.data, node.data) === null;
    if (!same && seen.etag === etag) return `the ETag ${etag} did not change with the bytes`;
    if (same && seen.etag !== etag && !mutates(op)) {
      return `the ETag changed (${seen.etag} -> ${etag}) although the bytes did not`;
    }
    return null;
  }

  /** A lane's names as `fs` sees them, or null if they cannot be walked (faults). */
  async #walk(fs: Vfs, include: (path: string) => boolean): Promise<Tree | null> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        return await vfsTree(fs, { include });
      } catch {
        await this.#sim.sleep(100);
      }
    }
    return null;
  }

  // --- shared lanes: invariants under any interleaving ---

  async #sharedLane(fs: Vfs, lane: number, rng: Rng): Promise<void> {
    const name = `s${lane}`;
    for (let i = 0; i < this.#options.ops; i++) {
      const r = rng.int(100);
      const start = ++this.#clock;
      const note = (what: string, outcome: Outcome) => {
        this.#log.push(`${name} #${i} ${what} -> ${brief(outcome)}`);
        this.#count(`shared ${what.split(" ")[0]}:${outcome.ok ? "ok" : outcome.code}`);
        this.#report.ops++;
      };
      if (r < 30) {
        const register = this.#faults.has("racing-puts")
          ? rng.pick(REGISTERS)
          : REGISTERS[lane % REGISTERS.length]!;
        const qfile = `${rng.pick(QDIRS)}/f${this.#faults.has("racing-puts") ? rng.int(2) : lane}`;
        const path = rng.chance(0.6) ? register : qfile;
        const record = this.#newWrite(path, rng, start);
        const op: Op = { op: "writeFile", path, data: record.data };
        const outcome = await applyVfs(fs, op, this.#body(rng, op));
        record.end = ++this.#clock;
        record.status = outcome.ok ? "ok" : UNKNOWN.has(outcome.code) ? "unknown" : "failed";
        note(`writeFile ${path} w${record.id}`, outcome);
        if (
          !outcome.ok && !UNKNOWN.has(outcome.code) && !["ESTALE", "ENOENT"].includes(outcome.code)
        ) {
          this.#diverge(`lane ${name} #${i}`, `writeFile ${path}: unexpected ${brief(outcome)}`);
        }
      } else if (r < 50) {
        const path = rng.pick(REGISTERS);
        const slow = this.#faults.has("slow-body") && rng.chance(0.4);
        const outcome = slow
          ? await this.#slowRead(fs, path, rng)
          : await applyVfs(fs, { op: "read", path, offset: 0, length: 8 << 20 });
        const end = ++this.#clock;
        note(`read ${path}`, outcome);
        const problem = this.#checkRegister(path, outcome, start, end);
        if (problem) this.#diverge(`lane ${name} #${i}`, `read ${path}: ${problem}`);
      } else if (r < 63) {
        const id = this.#nextWrite++;
        const data = logRecord(id, pattern(rng.range(10, 300), rng.int(1e9) + 1));
        const entry = { data, status: "running" as WriteRecord["status"] };
        this.#appends.set(id, entry);
        const op: Op = { op: "append", path: LOG, data, create: false };
        const outcome = await applyVfs(fs, op, this.#body(rng, op));
        entry.status = outcome.ok ? "ok" : UNKNOWN.has(outcome.code) ? "unknown" : "failed";
        note(`append a${id}`, outcome);
        if (!outcome.ok && !UNKNOWN.has(outcome.code)) {
          this.#diverge(`lane ${name} #${i}`, `append: unexpected ${brief(outcome)}`);
        }
      } else if (r < 70) {
        const to = this.#faults.has("same-name-links")
          ? rng.pick(LINKS.slice(1))
          : LINKS[1 + lane % (LINKS.length - 1)]!;
        const outcome = await applyVfs(fs, { op: "link", existing: LINKS[0]!, path: to });
        note(`link ${to}`, outcome);
        this.#allow(name, i, `link ${to}`, outcome, ["EEXIST"]);
      } else if (r < 76) {
        const path = rng.pick(LINKS.slice(1));
        const outcome = await applyVfs(fs, { op: "unlink", path });
        note(`unlink ${path}`, outcome);
        this.#allow(name, i, `unlink ${path}`, outcome, ["ENOENT"]);
      } else if (r < 80) {
        const path = rng.pick(LINKS);
        const data = pattern(rng.range(1, 2000), rng.int(1e9) + 1);
        const outcome = await applyVfs(fs, { op: "write", path, offset: 0, data, create: false });
        note(`write ${path}`, outcome);
        this.#allow(name, i, `write ${path}`, outcome, ["ENOENT", "ESTALE"]);
      } else if (r < 88) {
        const path = rng.pick(QDIRS);
        const outcome = await applyVfs(fs, { op: "mkdir", path });
        note(`mkdir ${path}`, outcome);
        this.#allow(name, i, `mkdir ${path}`, outcome, ["EEXIST"]);
      } else {
        const path = rng.pick(QDIRS);
        const outcome = await applyVfs(fs, { op: "rmdir", path });
        const end = ++this.#clock;
        note(`rmdir ${path}`, outcome);
        this.#allow(name, i, `rmdir ${path}`, outcome, ["ENOENT", "ENOTEMPTY"]);
        if (outcome.ok) {
          this.#rmdirs.push({ path, start, end });
          // Files in these directories are never unlinked: once one was acknowledged,
          // the directory can never be empty again.
          const held = [...this.#writes.values()].find((w) =>
            w.path.startsWith(`${path}/`) && w.status === "ok" && w.end < start
          );
          if (held) {
            this.#diverge(
              `lane ${name} #${i}`,
              `rmdir ${path} succeeded although it held ${held.path}, acknowledged (w${held.id})`,
            );
          }
        }
      }
    }
  }

  /** A download read slowly, as by a slow client: the body must arrive whole. */
  async #slowRead(fs: Vfs, path: string, rng: Rng): Promise<Outcome> {
    try {
      const { body } = await fs.readStream(path, { chunkSize: 4096 });
      const chunks: Uint8Array[] = [];
      for await (const chunk of body) {
        chunks.push(chunk);
        await this.#sim.sleep(rng.int(this.#options.slowPauseMs ?? 8000));
      }
      const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return { ok: true, value: out };
    } catch (error) {
      const code = (error as { code?: string }).code ?? "EIO";
      return { ok: false, code, message: `slow download: ${(error as Error).message}` };
    }
  }

  #allow(lane: string, i: number, what: string, outcome: Outcome, codes: string[]) {
    if (outcome.ok || UNKNOWN.has(outcome.code) || codes.includes(outcome.code)) return;
    this.#diverge(`lane ${lane} #${i}`, `${what}: unexpected ${brief(outcome)}`);
  }

  #newWrite(path: string, rng: Rng, start: number): WriteRecord {
    const id = this.#nextWrite++;
    // Now and then a file past one part: a multipart upload that (slow) takes minutes.
    const big = this.#faults.has("slow-body") && rng.chance(0.04);
    const size = big
      ? rng.range(PART_SIZE + 1, PART_SIZE + (1 << 20))
      : rng.chance(0.5)
      ? rng.range(8, 900)
      : rng.range(900, 30_000);
    const data = pattern(size, id);
    new DataView(data.buffer).setUint32(0, id);
    const record: WriteRecord = { id, path, data, start, end: Infinity, status: "running" };
    this.#writes.set(id, record);
    return record;
  }

  /**
   * What is wrong with a read of register `path` that ran from `start` to `end`, or
   * null: it must return one whole write's bytes, from a write that began before the
   * read ended and that no acknowledged write replaced before the read began.
   */
  #checkRegister(path: string, outcome: Outcome, start: number, end: number): string | null {
    const acked = [...this.#writes.values()].filter((w) => w.path === path && w.status === "ok");
    if (!outcome.ok) {
      // A read changes nothing: only contention (EAGAIN) may excuse its failure.
      if (outcome.code === "EAGAIN") return null;
      if (outcome.code !== "ENOENT") return `unexpected ${brief(outcome)}`;
      const before = acked.find((w) => w.end < start);
      return before ? `ENOENT although w${before.id} was acknowledged before the read` : null;
    }
    const bytes = outcome.value as Uint8Array;
    if (bytes.length === 0) {
      // Only a create still in flight can show an empty file.
      const before = acked.find((w) => w.end < start);
      return before ? `an empty file although w${before.id} was acknowledged before` : null;
    }
    const id = bytes.length >= 4 ? new DataView(bytes.buffer, bytes.byteOffset).getUint32(0) : 0;
    const write = this.#writes.get(id);
    if (!write || write.path !== path) {
      return `${bytes.length} bytes that no write to ${path} wrote (tag ${id})`;
    }
    const diff = diffBytes(bytes, write.data);
    if (diff) return `not whole write w${write.id} (${write.status}): ${diff}`;
    if (write.status === "failed") return `the bytes of w${write.id}, which failed`;
    if (write.start > end) return `the bytes of w${write.id}, which began after the read`;
    const newer = acked.find((w) => w.start > write.end && w.end < start);
    if (newer) {
      return `stale: w${write.id}'s bytes, but w${newer.id} replaced them (acknowledged) before`;
    }
    return null;
  }

  // --- locks ---

  /**
   * Takes, checks and releases a lock on a path of its own, through one instance, while
   * the other instances write the lock table for theirs: the holder must find its lock
   * in the table until the lock expires by the holder's own clock.
   */
  async #lockLane(fs: Vfs, k: number, rng: Rng): Promise<void> {
    const root = `/x/lk${k}`;
    const name = `l${k}`;
    const rounds = Math.max(3, Math.floor(this.#options.ops / 10));
    for (let i = 0; i < rounds; i++) {
      let token: string;
      let expires: number;
      try {
        const info = await fs.locks.lock({
          root,
          depth: "0",
          scope: "exclusive",
          owner: name,
          timeout: rng.range(30, 120),
        });
        token = info.token;
        expires = info.expires;
        this.#log.push(`${name} #${i} lock ${root} -> ok, expires ${info.expires}`);
      } catch (error) {
        this.#log.push(`${name} #${i} lock ${root} -> ${error}`);
        const code = (error as { code?: string }).code;
        if (!UNKNOWN.has(code ?? "")) {
          this.#diverge(`lane ${name} #${i}`, `lock ${root}: unexpected ${error}`);
          return;
        }
        continue;
      }
      this.#report.ops++;
      for (let check = rng.range(1, 4); check > 0; check--) {
        // Seconds apart (scaled down with the other pauses on a real-time store).
        const scale = (this.#options.slowPauseMs ?? 8000) / 8000;
        await this.#sim.sleep(Math.ceil(rng.range(1000, 20_000) * scale));
        const held = await fs.locks.covering(root).catch(() => null);
        if (held === null) continue;
        this.#report.ops++;
        const clock = this.#lockClocks.get(fs)!;
        if (clock() < expires - 1000 && !held.some((l) => l.token === token)) {
          this.#diverge(
            `lane ${name} #${i}`,
            `the lock on ${root} is gone ${Math.round((expires - clock()) / 1000)} s before ` +
              `it expires by its holder's clock`,
          );
          return;
        }
      }
      await fs.locks.unlock(token, root).catch(() => {});
    }
  }

  // --- GC and compaction during the workload ---

  async #janitor(rng: Rng, busy: () => boolean): Promise<void> {
    const gcOn = this.#faults.has("gc");
    const compactOn = this.#faults.has("compact");
    if (!gcOn && !compactOn) return;
    const now = this.#skewedClock(rng);
    const view = new ScheduledStore(this.#store, this.#sim);
    const fs = await Vfs.open(view, { ...this.#options.vfs, now });
    const graceMs = this.#options.gcGraceMs ?? 10_000;
    while (busy()) {
      await this.#sim.sleep(rng.range(200, 3000));
      if (!busy()) break;
      try {
        if (compactOn && (!gcOn || rng.chance(0.5))) {
          // As `gc --compact-below`: compaction, then GC at once.
          const below = rng.pick([0.5, 0.8, 0.95]);
          // Sometimes with no grace at all (`--grace-ms 0`): young segments are compacted
          // too, so compaction meets files that change under it more often.
          const compacted = await fs.compact({ below, graceMs: rng.pick([0, graceMs]) });
          this.#report.compactions++;
          this.#log.push(`janitor: compaction rewrote ${compacted.filesRewritten} files`);
        }
        if (gcOn) {
          const report = await gc(view, { now: now(), graceMs });
          this.#report.gcRuns++;
          this.#report.gcDeleted += report.segments.deleted + report.maps.deleted;
          this.#log.push(`janitor: gc deleted ${report.deletedKeys.length} objects`);
        }
      } catch (error) {
        this.#log.push(`janitor: ${error}`);
      }
    }
  }

  // --- at the end ---

  async #finalChecks(): Promise<void> {
    const fresh = await Vfs.open(this.#store, this.#options.vfs);
    const whole = await vfsTree(fresh, {
      onError: (path, error) => this.#diverge("final", `${path} cannot be read: ${error}`),
    });
    for (const { lane, model, include } of this.#models) {
      const seen = new Map([...whole].filter(([path]) => path === "/" || include(path)));
      const expected = modelTree(model);
      const diff = diffTrees(seen, expected);
      if (diff.length > 0) {
        this.#diverge(`final, lane ${lane}`, `the tree differs:\n    ${diff.join("\n    ")}`);
        for (const [path, node] of expected) {
          const got = seen.get(path);
          if (node.data && (!got?.data || diffBytes(got.data, node.data))) {
            this.#report.lostBytes += node.data.length;
          }
        }
      }
    }
    for (const [path, node] of whole) {
      if (node.type !== "file") continue;
      const names = node.links?.split(" ").length ?? 1;
      if (node.nlink !== names) {
        this.#diverge("final", `${path}: nlink ${node.nlink}, but ${names} names (${node.links})`);
      }
    }
    for (const path of REGISTERS) {
      const node = whole.get(path);
      const outcome: Outcome = node?.data ? { ok: true, value: node.data } : {
        ok: false,
        code: "ENOENT",
      };
      const problem = this.#checkRegister(path, outcome, Infinity, Infinity);
      if (problem) {
        this.#diverge("final", `${path}: ${problem}`);
        const last = [...this.#writes.values()].filter((w) => w.path === path && w.status === "ok")
          .at(-1);
        this.#report.lostBytes += last?.data.length ?? 0;
      }
    }
    for (const w of this.#writes.values()) {
      if (!w.path.startsWith("/x/q") || w.status !== "ok") continue;
      if (!whole.has(w.path)) {
        this.#diverge("final", `${w.path}: acknowledged (w${w.id}) but gone`);
        this.#report.lostBytes += w.data.length;
      }
    }
    this.#checkLog(whole.get(LOG)?.data ?? new Uint8Array(0));
    const problems = await checkConsistency(this.#store);
    if (problems.length > 0) {
      this.#diverge("final", `inconsistent bucket:\n    ${problems.join("\n    ")}`);
    }
    const report = await fsck(this.#store, { now: this.#sim.now() });
    // Unreachable objects older than fsck's grace are leaks, not damage: counted apart.
    const errors = report.problems.filter((p) => p.severity === "error" && p.kind !== "orphan");
    this.#report.leaked = report.problems.filter((p) => p.kind === "orphan").length;
    this.#report.fsck = errors.length === 0 ? "clean" : JSON.stringify(errors);
    if (errors.length > 0) this.#diverge("final", `fsck: ${this.#report.fsck}`);
  }

  /** The log holds every acknowledged append once, unknown ones at most once, nothing else. */
  #checkLog(log: Uint8Array): void {
    const seen = new Map<number, number>();
    const view = new DataView(log.buffer, log.byteOffset, log.byteLength);
    let at = 0;
    while (at < log.length) {
      if (at + 12 > log.length || view.getUint32(at) !== MAGIC) {
        this.#diverge("final", `${LOG}: bytes nobody appended at ${at} of ${log.length}`);
        return;
      }
      const id = view.getUint32(at + 4);
      const length = view.getUint32(at + 8);
      const append = this.#appends.get(id);
      const record = log.subarray(at, at + 12 + length);
      if (!append || diffBytes(record, append.data)) {
        this.#diverge("final", `${LOG}: a record at ${at} that append a${id} did not write`);
        return;
      }
      seen.set(id, (seen.get(id) ?? 0) + 1);
      at += 12 + length;
    }
    for (const [id, append] of this.#appends) {
      const n = seen.get(id) ?? 0;
      if (n > 1) {
        this.#diverge("final", `${LOG}: append a${id} (${append.status}) landed ${n} times`);
      }
      if (n === 0 && append.status === "ok") {
        this.#diverge("final", `${LOG}: acknowledged append a${id} is missing`);
        this.#report.lostBytes += append.data.length;
      }
      if (n > 0 && append.status === "failed") {
        this.#diverge("final", `${LOG}: append a${id} failed but landed`);
      }
    }
  }
}

function logRecord(id: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC);
  view.setUint32(4, id);
  view.setUint32(8, payload.length);
  out.set(payload, 12);
  return out;
}

function brief(outcome: Outcome): string {
  if (!outcome.ok) return `${outcome.code}${outcome.message ? ` (${outcome.message})` : ""}`;
  const v = outcome.value;
  if (v instanceof Uint8Array) return `ok <${v.length} bytes>`;
  return `ok ${JSON.stringify(v) ?? ""}`;
}

/** A divergence as text: seed, where, what, and the operations before it. */
export function formatDivergence(d: Divergence): string {
  return `seed ${d.seed}, ${d.where}: ${d.message}` +
    (d.log.length > 0 ? `\n  last operations:\n    ${d.log.join("\n    ")}` : "");
}
