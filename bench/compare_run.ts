/**
 * The state of one `bench:compare` run, shared by its modules: the knobs (docs/bench.md), the
 * systems and workloads asked for, the progress log, and the results (samples per figure
 * and system, the notes under the table, the 503s sent again).
 *
 * @module
 */

import { s3FromEnv } from "./_s3_env.ts";
import type { SystemKey } from "./compare_lib.ts";

export const KiB = 1024;
export const MiB = 1024 * KiB;

function knob(name: string, fallback: number): number {
  const text = Deno.env.get(name);
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a count, got "${text}"`);
  return n;
}

/** The knobs (docs/bench.md). */
export const K = {
  rounds: Math.max(1, knob("BENCH_ROUNDS", 3)),
  concurrency: Math.max(1, knob("BENCH_CONCURRENCY", 16)),
  smallOps: Math.max(1, knob("BENCH_SMALL_OPS", 500)),
  files: Math.max(1, knob("BENCH_FILES", 10_000)),
  bigMiB: Math.max(1, knob("BENCH_BIG_MIB", 256)),
  seqOps: Math.max(1, knob("BENCH_SEQ_OPS", 20)),
  uploads: knob("BENCH_UPLOADS", 16),
  uploadMiB: Math.max(1, knob("BENCH_UPLOAD_MIB", 64)),
  fullDir: knob("BENCH_FULL_DIR", 50_000),
  dirCreates: Math.max(1, knob("BENCH_DIR_CREATES", 500)),
  patches: knob("BENCH_PATCHES", 1000),
  patchClients: Math.max(1, knob("BENCH_PATCH_CLIENTS", 8)),
  patchFileMiB: Math.max(1, knob("BENCH_PATCH_FILE_MIB", 256)),
};
export const SYSTEMS = (Deno.env.get("BENCH_SYSTEMS") ?? "s3,rclone,bare,dav,http").split(",")
  .map((s) => s.trim()).filter(Boolean) as SystemKey[];
const ONLY = (Deno.env.get("BENCH_WORKLOADS") ?? "").split(",").map((s) => s.trim())
  .filter(Boolean);
export const selected = (workload: string) => ONLY.length === 0 || ONLY.includes(workload);

export const s3Base = s3FromEnv("run `deno task bench:compare`");
export const runId = crypto.randomUUID().slice(0, 8);

export const started = performance.now();
export function log(message: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(0).padStart(5);
  console.error(`[${s} s] ${message}`);
}

// ---------------------------------------------------------------------------------------
// Results

export type Cell = number[] | { error: string };
/** figure id -> system -> samples (or the error that stopped the workload). */
export const results = new Map<string, Map<SystemKey, Cell>>();
/** Free text per figure and system: what the median hides (all samples, op breakdowns). */
export const notes: string[] = [];

export function record(figure: string, system: SystemKey, value: number): void {
  const bySystem = results.get(figure) ?? new Map<SystemKey, Cell>();
  results.set(figure, bySystem);
  const cell = bySystem.get(system);
  if (cell && !Array.isArray(cell)) return;
  bySystem.set(system, [...(cell ?? []), value]);
}

export function fail(figures: string[], system: SystemKey, error: unknown): void {
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!
    .slice(0, 120);
  log(`${system}: error: ${message}`);
  for (const figure of figures) {
    const bySystem = results.get(figure) ?? new Map<SystemKey, Cell>();
    results.set(figure, bySystem);
    bySystem.set(system, { error: message });
  }
}

export const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Requests answered 503 (EAGAIN) and sent again, by system, with the reasons given. */
export const retried = new Map<SystemKey, Map<string, number>>();

/** Requests in flight per system in the concurrent workloads. */
export const C = K.concurrency;
