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
 * This file dispatches a command; `cli/` holds the rest: `args.ts` (usage texts, options, exit
 * statuses), `maintain.ts` (the maintenance runs), `progress.ts`, `stats.ts` and `report.ts`
 * (what a run prints).
 *
 * @module
 */

import { ConfigError, loadConfig } from "./config.ts";
import { CorruptError } from "./format/meta.ts";
import { causeChain } from "./observe/mod.ts";
import { openStore, StoreMetrics } from "./store/mod.ts";
import { VERSION } from "./version.ts";
import { type Command, EXIT, parseArgs, UsageError } from "./cli/args.ts";
import { maintain, writeMetricsFile } from "./cli/maintain.ts";
import { counting, Progress, type Seen } from "./cli/progress.ts";

export { type Command, EXIT, parseArgs, UsageError } from "./cli/args.ts";
export { formatCompact, formatFsck, formatGc, size } from "./cli/report.ts";
export { formatStats, type StoreStats } from "./cli/stats.ts";

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
    openStore(config.store, {
      metrics: new StoreMetrics(),
      retry: { budgetMs: config.s3TimeoutMs },
      s3: {
        requestTimeoutMs: config.s3TimeoutMs,
        unreachableWaitMs: config.s3UnreachableWaitMs,
      },
    }),
    seen,
  );
  const progress = new Progress(command.name, seen, io.err, io.tty);
  if (!command.quiet) progress.start(io.progressMs);
  const started = performance.now();
  let code: number;
  try {
    const done = await maintain(store, command, { metaDecodeBytes: config.metaDecodeBytes });
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
