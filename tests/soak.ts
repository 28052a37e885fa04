// `deno task soak`: the chaos harness (tests/_chaos.ts) for as long as asked.
//
//   deno task soak [--ops N | --seconds N] [--seeds N] [--first-seed S] [--lane-ops N]
//                  [--faults all|none|kind,-kind,...] [--store memory|s3] [--config small|defaults]
//
// Runs seeds one after the other (three instances each, GC and compaction alongside, the
// chosen faults) until N operations are done, N seconds have passed, or N seeds have run;
// prints each seed's result, then ops, seeds, divergences, acknowledged bytes lost and
// fsck's verdict. Exits 1 on any divergence. Every fault kind is on by default. With
// `--store s3` it needs an endpoint: `bash infra/s3-server.sh run -- deno task soak --store s3`.

import {
  type ChaosReport,
  FAULT_KINDS,
  formatDivergence,
  parseFaults,
  runChaos,
} from "./_chaos.ts";
import { openS3, s3Env } from "./_stores.ts";

const USAGE = "usage: deno task soak [--ops N | --seconds N] [--seeds N] [--first-seed S] " +
  "[--lane-ops N] [--faults all|none|kind,-kind] [--store memory|s3] [--config small|defaults]";

function parse(args: readonly string[]) {
  const out = {
    ops: Infinity,
    seconds: Infinity,
    seeds: Infinity,
    firstSeed: 1,
    laneOps: 200,
    faults: "all",
    store: "memory",
    config: "mixed",
  };
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!;
    const value = args[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    const number = () => {
      const n = Number(value);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: not a number: ${value}`);
      return n;
    };
    if (flag === "--ops") out.ops = number();
    else if (flag === "--seconds") out.seconds = number();
    else if (flag === "--seeds") out.seeds = number();
    else if (flag === "--first-seed") out.firstSeed = number();
    else if (flag === "--lane-ops") out.laneOps = number();
    else if (flag === "--faults") out.faults = value;
    else if (flag === "--store" && ["memory", "s3"].includes(value)) out.store = value;
    else if (flag === "--config" && ["small", "defaults", "mixed"].includes(value)) {
      out.config = value;
    } else throw new Error(`Unknown flag ${flag} ${value}`);
  }
  if (out.ops === Infinity && out.seconds === Infinity && out.seeds === Infinity) out.seeds = 10;
  return out;
}

async function main(args: readonly string[]): Promise<number> {
  let opts: ReturnType<typeof parse>;
  let faults: Set<(typeof FAULT_KINDS)[number]>;
  try {
    opts = parse(args);
    faults = parseFaults(opts.faults);
  } catch (error) {
    console.error(`soak: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (opts.store === "s3" && !s3Env()) {
    console.error("soak: --store s3 needs an endpoint (bash infra/s3-server.sh run -- ...)");
    return 2;
  }
  const small = { inlineMax: 64, spillExtents: 8, dirLimits: { maxEntries: 8 } };
  console.log(`soak: faults ${[...faults].join(",") || "none"}, store ${opts.store}`);
  const started = performance.now();
  const totals = {
    ops: 0,
    seeds: 0,
    divergences: 0,
    lost: 0,
    fsckDirty: 0,
    injected: 0,
    leaked: 0,
  };
  const failing: ChaosReport[] = [];
  for (let seed = opts.firstSeed;; seed++) {
    const elapsed = (performance.now() - started) / 1000;
    if (totals.ops >= opts.ops || elapsed >= opts.seconds || totals.seeds >= opts.seeds) break;
    const useSmall = opts.config === "small" || (opts.config === "mixed" && seed % 2 === 1);
    const s3 = opts.store === "s3" ? await openS3() : null;
    let report: ChaosReport;
    try {
      report = await runChaos({
        seed,
        ops: opts.laneOps,
        faults,
        ...(useSmall ? { vfs: small } : {}),
        ...(s3 ? { store: s3.store, slowPauseMs: 30, stallMs: 200 } : {}),
      });
    } finally {
      await s3?.close();
    }
    totals.ops += report.ops;
    totals.seeds++;
    totals.divergences += report.divergences.length;
    totals.lost += report.lostBytes;
    totals.injected += report.injected;
    totals.leaked += report.leaked;
    if (report.fsck !== "clean") totals.fsckDirty++;
    console.log(
      `seed ${seed}: ${report.ops} ops, ${report.injected} faults, gc ${report.gcRuns} runs ` +
        `(${report.gcDeleted} deleted), ${report.compactions} compactions, ` +
        `${report.divergences.length} divergences, ${report.lostBytes} bytes lost, ` +
        `fsck ${report.fsck === "clean" ? "clean" : "ERRORS"}` +
        (report.leaked > 0 ? ` (${report.leaked} objects leaked)` : ""),
    );
    if (report.divergences.length > 0) {
      failing.push(report);
      for (const d of report.divergences.slice(0, 3)) console.log("  " + formatDivergence(d));
    }
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(
    `\nsoak: ${totals.ops} ops, ${totals.seeds} seeds, ${totals.injected} faults injected, ` +
      `${totals.divergences} divergences, ${totals.lost} acknowledged bytes lost, fsck ${
        totals.fsckDirty === 0 ? "clean" : `errors in ${totals.fsckDirty} seeds`
      }, ${totals.leaked} objects leaked, ${seconds} s`,
  );
  if (failing.length > 0) {
    console.log(
      `failing seeds: ${failing.map((r) => r.seed).join(" ")}; reproduce one with ` +
        `deno task soak --first-seed S --seeds 1 --lane-ops ${opts.laneOps} --faults ${opts.faults}`,
    );
  }
  return totals.divergences > 0 || totals.fsckDirty > 0 ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
