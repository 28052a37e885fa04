/**
 * Maintenance commands on the configured bucket (the same environment as `main.ts`):
 *
 * ```sh
 * deno task fsck [--repair] [--json] [--grace-ms N]
 * deno task gc [--dry-run] [--json] [--grace-ms N] [--upload-grace-ms N] [--compact-below F]
 * ```
 *
 * GC is two-phase: a run deletes only what an earlier run, at least the grace period
 * before, already found unreferenced (see docs/format.md); run it periodically.
 *
 * fsck exits 1 when it finds damage that is left unrepaired; a usage or configuration
 * error exits 2.
 *
 * @module
 */

import { type CompactReport, Vfs } from "./vfs/mod.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { fsck, type FsckReport } from "./format/fsck.ts";
import { gc, type GcReport } from "./format/gc.ts";
import { openStore, StoreMetrics } from "./store/mod.ts";

const USAGE = `Usage:
  cli.ts fsck [--repair] [--json] [--grace-ms N]
  cli.ts gc [--dry-run] [--json] [--grace-ms N] [--upload-grace-ms N] [--compact-below F]`;

/** A bad command line; the message says what is wrong. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** A parsed command line. */
export interface Command {
  readonly name: "fsck" | "gc";
  readonly repair: boolean;
  readonly json: boolean;
  readonly dryRun: boolean;
  readonly graceMs?: number;
  readonly compactBelow?: number;
  readonly uploadGraceMs?: number;
}

/**
 * Parses the arguments of `cli.ts`.
 *
 * @example
 * ```ts
 * import { parseArgs } from "./cli.ts";
 * const command = parseArgs(["gc", "--dry-run", "--grace-ms", "0"]);
 * console.assert(command.name === "gc" && command.dryRun && command.graceMs === 0);
 * ```
 * @throws {UsageError} for an unknown command or option, or a bad number.
 */
export function parseArgs(args: readonly string[]): Command {
  const [name, ...rest] = args;
  if (name !== "fsck" && name !== "gc") throw new UsageError(`Unknown command "${name ?? ""}"`);
  let repair = false, json = false, dryRun = false;
  let graceMs: number | undefined;
  let compactBelow: number | undefined;
  let uploadGraceMs: number | undefined;
  const number = (flag: string, value: string | undefined, max = Infinity) => {
    const n = Number(value);
    if (value === undefined || value === "" || !Number.isFinite(n) || n < 0 || n > max) {
      throw new UsageError(`${flag} needs a number from 0 to ${max}, got "${value ?? ""}"`);
    }
    return n;
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    const [flag, inline] = arg.includes("=") ? arg.split("=", 2) : [arg, undefined];
    const value = () => inline ?? rest[++i];
    if (flag === "--json") json = true;
    else if (flag === "--repair" && name === "fsck") repair = true;
    else if (flag === "--dry-run" && name === "gc") dryRun = true;
    else if (flag === "--grace-ms") graceMs = number(flag, value());
    else if (flag === "--compact-below" && name === "gc") compactBelow = number(flag, value(), 1);
    else if (flag === "--upload-grace-ms" && name === "gc") uploadGraceMs = number(flag, value());
    else throw new UsageError(`Unknown option "${arg}" for ${name}`);
  }
  return {
    name,
    repair,
    json,
    dryRun,
    ...(graceMs === undefined ? {} : { graceMs }),
    ...(compactBelow === undefined ? {} : { compactBelow }),
    ...(uploadGraceMs === undefined ? {} : { uploadGraceMs }),
  };
}

/** A human summary of an fsck report. */
export function formatFsck(report: FsckReport): string {
  const c = report.counts;
  const lines = [
    `${report.ok ? "OK" : "PROBLEMS FOUND"}: ${c.dirs} directories, ${c.files} files, ` +
    `${c.symlinks} symlinks, ${c.hardlinked} hard-linked inodes`,
    `  ${c.segments} segments referenced, ${c.bytesReferenced} bytes in use; ` +
    `${c.objects} objects, ${c.bytesStored} bytes stored`,
  ];
  if (!report.consistent) lines.push("  the tree changed during the check: nothing was repaired");
  const byKind = new Map<string, typeof report.problems>();
  for (const p of report.problems) byKind.set(p.kind, [...byKind.get(p.kind) ?? [], p]);
  for (const [kind, list] of byKind) {
    lines.push(`  ${kind} (${list[0]!.severity}): ${list.length}`);
    for (const p of list.slice(0, 20)) {
      const where = [p.path, p.key].filter(Boolean).join(" ");
      const fixed = p.repaired === undefined ? "" : p.repaired ? " [repaired]" : " [not repaired]";
      lines.push(`    ${where ? where + ": " : ""}${p.detail}${fixed}`);
    }
    if (list.length > 20) lines.push(`    … ${list.length - 20} more`);
  }
  if (report.repaired > 0) lines.push(`  repaired ${report.repaired} problems`);
  return lines.join("\n");
}

/** A human summary of a GC report. */
export function formatGc(report: GcReport): string {
  const s = report.segments;
  const verb = report.dryRun ? "would delete" : "deleted";
  const lines = [
    `segments: ${s.scanned} scanned (${report.bytes.scanned} bytes), ${s.referenced} referenced ` +
    `(${report.bytes.live} live bytes), ${verb} ${s.deleted} (${report.bytes.reclaimed} bytes), ` +
    `${s.inFlight} kept as in flight`,
    `maps: ${report.maps.scanned} scanned, ${verb} ${report.maps.deleted}, ` +
    `${report.maps.inFlight} kept as in flight`,
    `directory shards: ${report.shards.scanned} scanned, ${verb} ${report.shards.deleted}, ` +
    `${report.shards.inFlight} kept as in flight`,
    `pending: ${report.pending.recorded} newly found unreferenced, ${report.pending.waiting} ` +
    `waiting out the grace period; multipart uploads: ${report.uploads.scanned} incomplete, ` +
    `${report.dryRun ? "would abort" : "aborted"} ${report.uploads.aborted}`,
  ];
  if (report.blocked) lines.unshift(`BLOCKED, nothing deleted: ${report.blocked}`);
  const k = report.compaction;
  if (k.threshold !== null) {
    lines.push(
      `segments still below the compaction threshold (live < ${k.threshold}): ` +
        `${k.candidates}, ${k.candidateBytes} bytes holding ${k.candidateLiveBytes} live` +
        (report.dryRun ? " (a dry run does not compact)" : ""),
    );
  }
  return lines.join("\n");
}

/** A human summary of a compaction. */
export function formatCompact(report: CompactReport, below: number): string {
  return `compaction (live < ${below}): ${report.candidates} segments, ` +
    `${report.filesRewritten} files rewritten (${report.filesSkipped} skipped, changed meanwhile), ` +
    `${report.bytesCopied} live bytes copied, ${report.bytesFreeable} bytes left for GC`;
}

/** Runs one command; returns the exit code. */
export async function run(args: readonly string[], env: Record<string, string>): Promise<number> {
  let command: Command;
  let config;
  try {
    command = parseArgs(args);
    // The commands serve nothing: where the service would listen does not matter here.
    config = loadConfig({ ...env, HOST: undefined, PORT: undefined });
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof ConfigError)) throw error;
    console.error(`pagefs: ${error.message}\n${USAGE}`);
    return 2;
  }
  const store = openStore(config.store, { metrics: new StoreMetrics() });
  const grace = command.graceMs === undefined ? {} : { graceMs: command.graceMs };
  if (command.name === "fsck") {
    const report = await fsck(store, { repair: command.repair, ...grace });
    console.log(command.json ? JSON.stringify(report, null, 2) : formatFsck(report));
    return report.unrepaired > 0 ? 1 : 0;
  }
  if (command.compactBelow !== undefined && !command.dryRun) {
    // Compaction first: GC then records the segments it released (deleted by a later run).
    const fs = await Vfs.open(store);
    const compacted = await fs.compact({ below: command.compactBelow, ...grace });
    if (!command.json) console.log(formatCompact(compacted, command.compactBelow));
  }
  const report = await gc(store, {
    dryRun: command.dryRun,
    ...grace,
    ...(command.compactBelow === undefined ? {} : { compactBelow: command.compactBelow }),
    ...(command.uploadGraceMs === undefined ? {} : { uploadGraceMs: command.uploadGraceMs }),
  });
  console.log(command.json ? JSON.stringify(report, null, 2) : formatGc(report));
  return report.blocked ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await run(Deno.args, Deno.env.toObject()));
}
