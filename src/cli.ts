/**
 * The `pagefs` command line (`deno task pagefs <command>`):
 *
 * ```sh
 * deno task pagefs serve                       # the server (same as deno task start)
 * deno task pagefs fsck [--repair] [--json] [--quiet] [--grace-ms N]
 * deno task pagefs gc [--dry-run] [--json] [--quiet] [--grace-ms N] [--upload-grace-ms N]
 *                     [--compact-below F]
 * deno task pagefs compact [--below F] [--json] [--quiet] [--grace-ms N]
 * deno task pagefs stats [--json] [--quiet]
 * deno task pagefs auth entry NAME [--read-only] [--prefix /path] [--token]
 * deno task pagefs version
 * ```
 *
 * Every command takes `--help`. The store comes from the same environment as the server.
 * `deno task fsck` and `deno task gc` are aliases of the commands of the same name.
 *
 * Exit status, one meaning each: 0 clean (or done), 1 damage found (fsck) or GC blocked by
 * it, 2 usage or configuration error, 3 could not run (the store is unreachable, say).
 * Long runs print progress to stderr (once a second; `--quiet` turns it off).
 *
 * Over 500 lines on purpose: every command's usage text, options and report formatting in
 * one file, so `--help` and what a command prints are read and changed together.
 *
 * @module
 */

import { parseArgs as parseNodeArgs } from "node:util";
import { type CompactReport, Vfs } from "./vfs/mod.ts";
import { ConfigError, loadConfig } from "./config.ts";
import { fsck, type FsckReport } from "./format/fsck.ts";
import { gc, type GcReport } from "./format/gc.ts";
import { CorruptError } from "./format/meta.ts";
import { causeChain } from "./observe/mod.ts";
import { type ListPage, type ObjectStore, openStore, StoreMetrics } from "./store/mod.ts";
import { PREFIX } from "./format/keys.ts";
import { VERSION } from "./version.ts";

/** Exit statuses: each means one thing. */
export const EXIT = { ok: 0, damage: 1, usage: 2, failed: 3 } as const;

const EXIT_CODES = `Exit status: 0 clean, 1 damage found, 2 usage or configuration error,
3 could not run (store unreachable or failing).`;

const USAGE = `Usage: deno task pagefs <command> [options]

Commands:
  serve     serve the HTTP API and WebDAV (same as deno task start)
  fsck      check the filesystem in the configured store (--repair to fix)
  gc        delete objects nothing references (two-phase, see docs/format.md)
  compact   rewrite files out of mostly dead segments (GC then reclaims them)
  stats     objects and bytes in the store, by kind
  auth      make credentials: a whole PAGEFS_USERS entry, password hashes, tokens
  version   print the version

Run "deno task pagefs <command> --help" for a command's options. The store is configured
through the environment, as for the server (PAGEFS_BUCKET, AWS_*, PAGEFS_DATA_DIR, …).

${EXIT_CODES}`;

const FSCK_USAGE = `Usage: deno task pagefs fsck [options]

Checks the filesystem in the configured store: walks the tree from the root, reads every
directory, inode and page map, lists the bucket, and reports damage and garbage.

Options:
  --repair        repair what is safe to repair (stale rename intents, link counts, …)
  --json          print the report as JSON on stdout
  --quiet, -q     no progress on stderr
  --metrics-file F
                  write the run's figures to F in Prometheus text format (for the
                  node_exporter textfile collector)
  --grace-ms N    objects younger than this may be in flight: not damage (default 600000)
  --help, -h      this text

${EXIT_CODES}`;

const GC_USAGE = `Usage: deno task pagefs gc [options]

Deletes segments and page maps that nothing references, in two phases: a run deletes only
what an earlier run, at least the grace period before, already found unreferenced. Run it
periodically. Refuses to delete anything while fsck-level damage is found (exit 1).

Options:
  --dry-run              report only, delete nothing
  --json                 print the report as JSON on stdout
  --quiet, -q            no progress on stderr
  --metrics-file F       write the run's figures to F in Prometheus text format (for the
                         node_exporter textfile collector)
  --grace-ms N           the grace period in ms (default 600000)
  --upload-grace-ms N    abort incomplete multipart uploads older than this (default 1 day)
  --compact-below F      first rewrite files out of segments less than F (0..1) live
  --help, -h             this text

${EXIT_CODES}`;

const COMPACT_USAGE = `Usage: deno task pagefs compact [options]

Rewrites the live bytes of files whose segments are mostly dead into new segments, so that a
later GC run can delete the old ones. Safe while the service runs (every change is a CAS).

Options:
  --below F       compact segments less than F (0..1) live (default 0.5)
  --json          print the report as JSON on stdout
  --quiet, -q     no progress on stderr
  --metrics-file F
                  write the run's figures to F in Prometheus text format (for the
                  node_exporter textfile collector)
  --grace-ms N    leave segments younger than this alone (default 600000)
  --help, -h      this text

${EXIT_CODES}`;

const STATS_USAGE = `Usage: deno task pagefs stats [options]

Lists the store and counts objects and bytes by kind (directories, inodes, segments, page
maps, other). One LIST request per 1,000 objects; reads no object.

Options:
  --json          print the figures as JSON on stdout
  --quiet, -q     no progress on stderr
  --metrics-file F
                  write the run's figures to F in Prometheus text format (for the
                  node_exporter textfile collector)
  --help, -h      this text

${EXIT_CODES}`;

const VERSION_USAGE = `Usage: deno task pagefs version

Prints PageFS's version and the Deno, V8 and TypeScript versions it runs on.`;

/** A bad command line; the message says what is wrong. */
export class UsageError extends Error {
  /** The usage text of the command concerned. */
  readonly usage: string;
  constructor(message: string, usage = USAGE) {
    super(message);
    this.name = "UsageError";
    this.usage = usage;
  }
}

/** A parsed command line. */
export type Command =
  | { readonly name: "help"; readonly text: string }
  | { readonly name: "serve" }
  | { readonly name: "version" }
  | { readonly name: "auth"; readonly args: readonly string[] }
  | {
    readonly name: "compact";
    readonly metricsFile?: string;
    readonly json: boolean;
    readonly quiet: boolean;
    readonly below?: number;
    readonly graceMs?: number;
  }
  | {
    readonly name: "stats";
    readonly metricsFile?: string;
    readonly json: boolean;
    readonly quiet: boolean;
  }
  | {
    readonly name: "fsck" | "gc";
    readonly metricsFile?: string;
    readonly repair: boolean;
    readonly json: boolean;
    readonly quiet: boolean;
    readonly dryRun: boolean;
    readonly graceMs?: number;
    readonly compactBelow?: number;
    readonly uploadGraceMs?: number;
  };

const COMMON = {
  help: { type: "boolean", short: "h" },
} as const;
const REPORTING = {
  ...COMMON,
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  "grace-ms": { type: "string" },
  "metrics-file": { type: "string" },
} as const;
const OPTIONS = {
  serve: COMMON,
  version: COMMON,
  compact: { ...REPORTING, below: { type: "string" } },
  stats: {
    ...COMMON,
    json: { type: "boolean" },
    quiet: { type: "boolean", short: "q" },
    "metrics-file": { type: "string" },
  },
  fsck: { ...REPORTING, repair: { type: "boolean" } },
  gc: {
    ...REPORTING,
    "dry-run": { type: "boolean" },
    "upload-grace-ms": { type: "string" },
    "compact-below": { type: "string" },
  },
} as const;
const USAGES = {
  serve: "",
  version: VERSION_USAGE,
  fsck: FSCK_USAGE,
  gc: GC_USAGE,
  compact: COMPACT_USAGE,
  stats: STATS_USAGE,
};

/**
 * Parses the arguments of `pagefs` (with `node:util`'s `parseArgs`, strict).
 *
 * @example
 * ```ts
 * import { parseArgs } from "./cli.ts";
 * const command = parseArgs(["gc", "--dry-run", "--grace-ms", "0"]);
 * console.assert(command.name === "gc" && command.dryRun && command.graceMs === 0);
 * console.assert(parseArgs(["fsck", "--help"]).name === "help");
 * ```
 * @throws {UsageError} for an unknown command or option, or a bad number.
 */
export function parseArgs(args: readonly string[], serveUsage = ""): Command {
  const [name, ...rest] = args;
  if (name === undefined) throw new UsageError("Missing command");
  if (name === "--help" || name === "-h" || name === "help") return { name: "help", text: USAGE };
  // auth has subcommands of its own (src/auth/cli.ts): handed over as they are.
  if (name === "auth") return { name: "auth", args: rest };
  if (!(name in OPTIONS)) throw new UsageError(`Unknown command "${name}"`);
  const command = name as keyof typeof OPTIONS;
  const usage = command === "serve" ? serveUsage : USAGES[command];
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseNodeArgs({
      args: [...rest],
      options: OPTIONS[command],
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (error) {
    // node:util's messages name the option; drop its advice about "--" (no positionals).
    const message = (error as Error).message.replace(/\. To specify a positional.*$/s, "");
    throw new UsageError(message, usage);
  }
  if (values.help) return { name: "help", text: usage };
  if (command === "serve") return { name: "serve" };
  if (command === "version") return { name: "version" };
  const number = (flag: string, max = Infinity) => {
    const value = values[flag];
    if (value === undefined) return undefined;
    const n = Number(value);
    if (value === "" || typeof value !== "string" || !Number.isFinite(n) || n < 0 || n > max) {
      throw new UsageError(`--${flag} needs a number from 0 to ${max}, got "${value}"`, usage);
    }
    return n;
  };
  const graceMs = number("grace-ms");
  const metricsFile = typeof values["metrics-file"] === "string"
    ? { metricsFile: values["metrics-file"] }
    : {};
  if (command === "stats") {
    return {
      name: "stats",
      json: values.json === true,
      quiet: values.quiet === true,
      ...metricsFile,
    };
  }
  if (command === "compact") {
    const below = number("below", 1);
    return {
      name: "compact",
      ...metricsFile,
      json: values.json === true,
      quiet: values.quiet === true,
      ...(below === undefined ? {} : { below }),
      ...(graceMs === undefined ? {} : { graceMs }),
    };
  }
  const compactBelow = number("compact-below", 1);
  const uploadGraceMs = number("upload-grace-ms");
  return {
    name: command,
    ...metricsFile,
    repair: values.repair === true,
    json: values.json === true,
    quiet: values.quiet === true,
    dryRun: values["dry-run"] === true,
    ...(graceMs === undefined ? {} : { graceMs }),
    ...(compactBelow === undefined ? {} : { compactBelow }),
    ...(uploadGraceMs === undefined ? {} : { uploadGraceMs }),
  };
}

/** A count with thousands separators. */
function n(value: number): string {
  return value.toLocaleString("en-US");
}

/**
 * A byte count for people: `0 B`, `512 B`, `1.5 KiB`, `41.2 MiB`, `3.00 GiB`.
 *
 * @example
 * ```ts
 * import { size } from "./cli.ts";
 * console.assert(size(1536) === "1.5 KiB" && size(1023) === "1,023 B");
 * ```
 */
export function size(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${n(bytes)} B`;
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

/** What a run has looked at so far. */
interface Seen {
  listed: number;
  listedBytes: number;
  read: number;
}

/**
 * The store, counting what a maintenance run reads and lists: objects listed (and their
 * bytes) and objects read, for the progress line.
 */
function counting(store: ObjectStore, seen: Seen): ObjectStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function") return value;
      if (prop === "list") {
        return async (...args: Parameters<ObjectStore["list"]>) => {
          const page = await target.list(...args);
          seen.listed += page.objects.length;
          for (const o of page.objects) seen.listedBytes += o.size;
          return page;
        };
      }
      if (prop === "get" || prop === "head") {
        return (...args: unknown[]) => {
          seen.read++;
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return value.bind(target);
    },
  });
}

/** Prints progress to stderr at most once a second: one updated line on a terminal. */
class Progress {
  #label: string;
  #seen: Seen;
  #started = performance.now();
  #timer: ReturnType<typeof setInterval> | null = null;
  #tty: boolean;
  #write: (text: string) => void;

  constructor(label: string, seen: Seen, write: (text: string) => void, tty: boolean) {
    this.#label = label;
    this.#seen = seen;
    this.#write = write;
    this.#tty = tty;
  }

  start(intervalMs = 1000): void {
    this.#timer = setInterval(() => this.#print(false), intervalMs);
  }

  #line(): string {
    const s = this.#seen;
    const seconds = (performance.now() - this.#started) / 1000;
    return `${this.#label}: ${n(s.listed)} objects listed (${size(s.listedBytes)}), ` +
      `${n(s.read)} read, ${seconds.toFixed(1)} s`;
  }

  #print(final: boolean): void {
    if (this.#tty) this.#write(`\r\x1b[K${this.#line()}${final ? "\n" : ""}`);
    else this.#write(`${this.#line()}\n`);
  }

  stop(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
    this.#print(true);
  }
}

/** Where a run writes; replaceable in tests. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Whether stderr is a terminal (progress updates one line in place). */
  readonly tty: boolean;
  /** Progress interval in ms (default 1000). */
  readonly progressMs?: number;
  /** Reads a secret (for `auth`); default: stdin, without echo on a terminal. */
  readonly readSecret?: (prompt: string) => Promise<string>;
  /** Runs `pagefs serve` (the server never returns). */
  readonly serve?: () => Promise<number>;
  readonly serveUsage?: string;
}

const encoder = new TextEncoder();
const STD_IO: CliIo = {
  out: (text) => Deno.stdout.writeSync(encoder.encode(text)),
  err: (text) => Deno.stderr.writeSync(encoder.encode(text)),
  tty: Deno.stderr.isTerminal(),
};

/** Runs one command; returns the exit status. */
export async function run(
  args: readonly string[],
  env: Record<string, string>,
  io: CliIo = STD_IO,
): Promise<number> {
  let command: Command;
  try {
    command = parseArgs(args, io.serveUsage ?? "");
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`pagefs: ${error.message}\n\n${error.usage}\n`);
    return EXIT.usage;
  }
  if (command.name === "help") {
    io.out(`${command.text}\n`);
    return EXIT.ok;
  }
  if (command.name === "version") {
    const v = Deno.version;
    io.out(`pagefs ${VERSION} (deno ${v.deno}, v8 ${v.v8}, typescript ${v.typescript})\n`);
    return EXIT.ok;
  }
  if (command.name === "serve") {
    if (!io.serve) throw new Error("serve is not available here");
    return await io.serve();
  }
  if (command.name === "auth") {
    const auth = await import("./auth/cli.ts");
    if (command.args.length === 0 || ["--help", "-h"].includes(command.args[0]!)) {
      const text = `${auth.USAGE.replaceAll("cli.ts", "deno task pagefs auth")}\n`;
      if (command.args.length > 0) {
        io.out(text);
        return EXIT.ok;
      }
      io.err(`pagefs: Missing auth command\n\n${text}`);
      return EXIT.usage;
    }
    return await auth.run(command.args, {
      readSecret: io.readSecret ?? auth.readSecret,
      write: io.out,
      error: io.err,
    });
  }
  let config;
  try {
    // The commands serve nothing: where the service would listen does not matter here.
    config = loadConfig({ ...env, HOST: undefined, PORT: undefined });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.err(`pagefs: invalid configuration: ${error.message}\n`);
    return EXIT.usage;
  }
  const seen: Seen = { listed: 0, listedBytes: 0, read: 0 };
  const store = counting(
    openStore(config.store, { metrics: new StoreMetrics(), requestTimeoutMs: config.s3TimeoutMs }),
    seen,
  );
  const progress = new Progress(command.name, seen, io.err, io.tty);
  if (!command.quiet) progress.start(io.progressMs);
  const started = performance.now();
  let code: number;
  try {
    const done = await maintain(store, command);
    // The last progress line, then the report (not interleaved with it).
    progress.stop();
    io.out(done.report);
    code = done.code;
  } catch (error) {
    progress.stop();
    if (error instanceof CorruptError) {
      // A corrupt object that stops the run is a finding, not a crash.
      io.err(`pagefs ${command.name}: ${error.message}; run "deno task pagefs fsck"\n`);
      code = EXIT.damage;
    } else {
      io.err(`pagefs ${command.name}: could not run: ${causeChain(error)}\n`);
      code = EXIT.failed;
    }
  } finally {
    progress.stop();
  }
  if (command.metricsFile !== undefined) {
    try {
      await writeMetricsFile(command.metricsFile, command.name, {
        code,
        seconds: (performance.now() - started) / 1000,
        seen,
      });
    } catch (error) {
      io.err(`pagefs ${command.name}: cannot write ${command.metricsFile}: ${causeChain(error)}\n`);
      if (code === EXIT.ok) code = EXIT.failed;
    }
  }
  return code;
}

/**
 * Writes a maintenance run's figures in Prometheus text format, replacing the file whole
 * (written beside it, then renamed), as the node_exporter textfile collector expects: the
 * way a periodic GC shows up in the same dashboards as the servers' `/metrics`.
 */
async function writeMetricsFile(
  path: string,
  task: string,
  run: { code: number; seconds: number; seen: Seen },
): Promise<void> {
  const label = `{task="${task}"}`;
  const metric = (name: string, help: string, type: string, value: number) =>
    `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}${label} ${value}\n`;
  const text = [
    metric(
      "pagefs_maintenance_last_run_timestamp_seconds",
      "When the last maintenance run of this task ended (Unix time).",
      "gauge",
      Math.round(Date.now() / 1000),
    ),
    metric(
      "pagefs_maintenance_last_run_duration_seconds",
      "How long it took.",
      "gauge",
      Math.round(run.seconds * 1000) / 1000,
    ),
    metric(
      "pagefs_maintenance_last_run_exit_status",
      "Its exit status: 0 clean, 1 damage found, 3 could not run.",
      "gauge",
      run.code,
    ),
    metric(
      "pagefs_maintenance_objects_listed",
      "Objects it listed.",
      "gauge",
      run.seen.listed,
    ),
    metric(
      "pagefs_maintenance_bytes_listed",
      "Bytes of the objects it listed.",
      "gauge",
      run.seen.listedBytes,
    ),
    metric("pagefs_maintenance_objects_read", "Objects it read.", "gauge", run.seen.read),
  ].join("");
  const temporary = `${path}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  await Deno.writeTextFile(temporary, text);
  await Deno.rename(temporary, path);
}

/** Runs fsck, gc, compact or stats; returns the exit status and the report to print. */
async function maintain(
  store: ObjectStore,
  command: Extract<Command, { name: "fsck" | "gc" | "compact" | "stats" }>,
): Promise<{ code: number; report: string }> {
  if (command.name === "stats") {
    const stats = await storeStats(store);
    return {
      code: EXIT.ok,
      report: `${command.json ? JSON.stringify(stats, null, 2) : formatStats(stats)}\n`,
    };
  }
  const grace = command.graceMs === undefined ? {} : { graceMs: command.graceMs };
  if (command.name === "compact") {
    const below = command.below ?? 0.5;
    const report = await (await Vfs.open(store)).compact({ below, ...grace });
    return {
      code: EXIT.ok,
      report: `${command.json ? JSON.stringify(report, null, 2) : formatCompact(report, below)}\n`,
    };
  }
  if (command.name === "fsck") {
    const report = await fsck(store, { repair: command.repair, ...grace });
    return {
      code: report.unrepaired > 0 ? EXIT.damage : EXIT.ok,
      report: `${command.json ? JSON.stringify(report, null, 2) : formatFsck(report)}\n`,
    };
  }
  let compaction = "";
  if (command.compactBelow !== undefined && !command.dryRun) {
    // Compaction first: GC then records the segments it released (deleted by a later run).
    const fs = await Vfs.open(store);
    const compacted = await fs.compact({ below: command.compactBelow, ...grace });
    if (!command.json) compaction = `${formatCompact(compacted, command.compactBelow)}\n`;
  }
  const report = await gc(store, {
    dryRun: command.dryRun,
    ...grace,
    ...(command.compactBelow === undefined ? {} : { compactBelow: command.compactBelow }),
    ...(command.uploadGraceMs === undefined ? {} : { uploadGraceMs: command.uploadGraceMs }),
  });
  return {
    code: report.blocked ? EXIT.damage : EXIT.ok,
    report: compaction + `${command.json ? JSON.stringify(report, null, 2) : formatGc(report)}\n`,
  };
}

/** Objects and bytes in a store, by kind. */
export interface StoreStats {
  readonly kinds: Record<string, { objects: number; bytes: number }>;
  readonly objects: number;
  readonly bytes: number;
}

const KINDS: [string, string][] = [
  [PREFIX.dir, "directories"],
  [PREFIX.inode, "inodes"],
  [PREFIX.segment, "segments"],
  [PREFIX.map, "page maps"],
];

async function storeStats(store: ObjectStore): Promise<StoreStats> {
  const kinds: Record<string, { objects: number; bytes: number }> = {};
  for (const [, kind] of KINDS) kinds[kind] = { objects: 0, bytes: 0 };
  kinds.other = { objects: 0, bytes: 0 };
  let objects = 0, bytes = 0;
  for (let cursor: string | null = null;;) {
    const page: ListPage = await store.list(cursor ? { cursor } : {});
    for (const o of page.objects) {
      const kind = KINDS.find(([prefix]) => o.key.startsWith(prefix))?.[1] ?? "other";
      kinds[kind]!.objects++;
      kinds[kind]!.bytes += o.size;
      objects++;
      bytes += o.size;
    }
    cursor = page.cursor;
    if (!cursor) break;
  }
  return { kinds, objects, bytes };
}

/** A human summary of {@linkcode StoreStats}. */
export function formatStats(stats: StoreStats): string {
  const rows = Object.entries(stats.kinds).map(([kind, k]) =>
    `  ${kind.padEnd(12)} ${n(k.objects).padStart(12)} objects ${size(k.bytes).padStart(11)}`
  );
  return [
    ...rows,
    `  ${"total".padEnd(12)} ${n(stats.objects).padStart(12)} objects ${
      size(stats.bytes).padStart(11)
    }`,
  ].join("\n");
}

/** A human summary of an fsck report. */
export function formatFsck(report: FsckReport): string {
  const c = report.counts;
  const lines = [
    `${report.ok ? "OK" : "PROBLEMS FOUND"}: ${n(c.dirs)} directories, ${n(c.files)} files, ` +
    `${n(c.symlinks)} symlinks, ${n(c.hardlinked)} hard-linked inodes`,
    `  ${n(c.segments)} segments referenced, ${size(c.bytesReferenced)} in use; ` +
    `${n(c.objects)} objects, ${size(c.bytesStored)} stored`,
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
    `segments: ${n(s.scanned)} scanned (${size(report.bytes.scanned)}), ${n(s.referenced)} ` +
    `referenced (${size(report.bytes.live)} live), ${verb} ${n(s.deleted)} ` +
    `(${size(report.bytes.reclaimed)}), ` +
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
        `${k.candidates}, ${size(k.candidateBytes)} holding ${size(k.candidateLiveBytes)} live` +
        (report.dryRun ? " (a dry run does not compact)" : ""),
    );
  }
  return lines.join("\n");
}

/** A human summary of a compaction. */
export function formatCompact(report: CompactReport, below: number): string {
  return `compaction (live < ${below}): ${report.candidates} segments, ` +
    `${report.filesRewritten} files rewritten (${report.filesSkipped} skipped, changed meanwhile), ` +
    `${size(report.bytesCopied)} live copied, ${size(report.bytesFreeable)} left for GC`;
}

if (import.meta.main) {
  const { listenService, SERVE_USAGE, startService } = await import("./service.ts");
  Deno.exit(
    await run(Deno.args, Deno.env.toObject(), {
      ...STD_IO,
      serveUsage: SERVE_USAGE,
      async serve() {
        const { config, app, logger } = await startService(Deno.env.toObject(), { listen: true });
        await listenService(config, app, logger).finished;
        return EXIT.ok;
      },
    }),
  );
}
