/**
 * What the `pagefs` command line accepts: every command's usage text and options, their
 * parsing into a {@linkcode Command}, and the exit statuses (one meaning each). In one file so
 * `--help` and the options it describes are read and changed together.
 *
 * @module
 */

import { parseArgs as parseNodeArgs } from "node:util";

/** Exit statuses: each means one thing. */
export const EXIT = { ok: 0, damage: 1, usage: 2, failed: 3 } as const;

const EXIT_CODES = `Exit status: 0 clean, 1 damage found, 2 usage or configuration error,
3 could not run (store unreachable or failing).`;

/** The flags of how fsck, compact and stats report, as their usage texts list them. */
const REPORT_FLAGS = `  --quiet, -q     no progress on stderr
  --metrics-file F
                  write the run's figures to F in Prometheus text format (for the
                  node_exporter textfile collector)`;

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
directory, inode and page map, lists the bucket, and reports damage and garbage, and what
WebDAV COPY and MOVE left behind when they stopped between their steps (.pagefs-* names).

Options:
  --repair        repair what is safe to repair (stale rename intents, link counts, …;
                  deletes leftover .pagefs-replaced-* and .pagefs-copying-* trees, never
                  a .pagefs-moving-* one: see docs/webdav.md)
  --json          print the report as JSON on stdout
${REPORT_FLAGS}
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
${REPORT_FLAGS}
  --grace-ms N    leave segments younger than this alone (default 600000)
  --help, -h      this text

${EXIT_CODES}`;

const STATS_USAGE = `Usage: deno task pagefs stats [options]

Lists the store and counts objects and bytes by kind (directories, inodes, segments, page
maps, other). One LIST request per 1,000 objects; reads no object.

Options:
  --json          print the figures as JSON on stdout
${REPORT_FLAGS}
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
  "metrics-file": { type: "string" },
} as const;
const WITH_GRACE = { ...REPORTING, "grace-ms": { type: "string" } } as const;
const OPTIONS = {
  serve: COMMON,
  version: COMMON,
  compact: { ...WITH_GRACE, below: { type: "string" } },
  stats: REPORTING,
  fsck: { ...WITH_GRACE, repair: { type: "boolean" } },
  gc: {
    ...WITH_GRACE,
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
 * import assert from "node:assert/strict";
 * import { parseArgs } from "./args.ts";
 * const command = parseArgs(["gc", "--dry-run", "--grace-ms", "0"]);
 * assert(command.name === "gc" && command.dryRun && command.graceMs === 0);
 * assert(parseArgs(["fsck", "--help"]).name === "help");
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
