/**
 * The maintenance commands' work (fsck, gc, compact, stats) once the store is open, and the
 * figures a run leaves for the node_exporter textfile collector.
 *
 * @module
 */

import { isFsError, REMOVING_LEASE_MS, Vfs } from "../vfs/mod.ts";
import { fsck } from "../format/fsck.ts";
import { gc } from "../format/gc.ts";
import type { ObjectStore } from "../store/mod.ts";
import { type Command, EXIT } from "./args.ts";
import type { Seen } from "./progress.ts";
import { formatCompact, formatFsck, formatGc } from "./report.ts";
import { formatStats, storeStats } from "./stats.ts";

/** Options of {@linkcode maintain}, for tests. */
export interface MaintainOptions {
  /** fsck's clock (ms): by default the host's, or the store's for a repair. */
  readonly now?: number;
  /** The VFS's removing lease, for what fsck --repair removes. */
  readonly removingLeaseMs?: number;
  /**
   * The longest JSON a metadata object may decode to (`PAGEFS_META_DECODE_MIB`): raised for
   * a run, fsck and GC read an object an instance with a larger bound wrote.
   */
  readonly metaDecodeBytes?: number;
}

/** Runs fsck, gc, compact or stats; returns the exit status and the report to print. */
export async function maintain(
  store: ObjectStore,
  command: Extract<Command, { name: "fsck" | "gc" | "compact" | "stats" }>,
  options: MaintainOptions = {},
): Promise<{ code: number; report: string }> {
  if (command.name === "stats") {
    const stats = await storeStats(store);
    return {
      code: EXIT.ok,
      report: `${command.json ? JSON.stringify(stats, null, 2) : formatStats(stats)}\n`,
    };
  }
  const grace = command.graceMs === undefined ? {} : { graceMs: command.graceMs };
  const bound = options.metaDecodeBytes;
  const decode = bound === undefined ? {} : { decodeBytes: bound };
  const vfsDecode = bound === undefined ? {} : { metaDecodeBytes: bound };
  if (command.name === "compact") {
    const below = command.below ?? 0.5;
    const report = await (await Vfs.open(store, vfsDecode)).compact({ below, ...grace });
    return {
      code: EXIT.ok,
      report: `${command.json ? JSON.stringify(report, null, 2) : formatCompact(report, below)}\n`,
    };
  }
  if (command.name === "fsck") {
    // Leftovers of WebDAV COPY and MOVE go as a recursive delete would: through the VFS,
    // opened only when there is one to remove (fsck sits below it).
    let vfs: Promise<Vfs> | null = null;
    const lease = options.removingLeaseMs ?? REMOVING_LEASE_MS;
    const removeTree = async (path: string, { again }: { again: boolean }) => {
      const fs = await (vfs ??= Vfs.open(store, { removingLeaseMs: lease, ...vfsDecode }));
      // A directory in it whose rmdir died halfway (its removal mark) is opened again only
      // by an instance that has seen the mark for the removing lease: the first call has
      // seen it. Waited out only for the leftovers that need it.
      if (again) await new Promise((resolve) => setTimeout(resolve, lease));
      // Whether it went is for fsck to see: nothing there (or nothing this instance can
      // open yet) is not an error here.
      await fs.removeTree(path).catch((error) => {
        if (!isFsError(error, "ENOENT")) throw error;
      });
    };
    const clock = options.now === undefined ? {} : { now: options.now };
    const report = await fsck(store, {
      repair: command.repair,
      removeTree,
      ...grace,
      ...clock,
      ...decode,
    });
    return {
      code: report.unrepaired > 0 ? EXIT.damage : EXIT.ok,
      report: `${command.json ? JSON.stringify(report, null, 2) : formatFsck(report)}\n`,
    };
  }
  let compaction = "";
  if (command.compactBelow !== undefined && !command.dryRun) {
    // Compaction first: GC then records the segments it released (deleted by a later run).
    const fs = await Vfs.open(store, vfsDecode);
    const compacted = await fs.compact({ below: command.compactBelow, ...grace });
    if (!command.json) compaction = `${formatCompact(compacted, command.compactBelow)}\n`;
  }
  const report = await gc(store, {
    dryRun: command.dryRun,
    ...grace,
    ...decode,
    ...(command.compactBelow === undefined ? {} : { compactBelow: command.compactBelow }),
    ...(command.uploadGraceMs === undefined ? {} : { uploadGraceMs: command.uploadGraceMs }),
  });
  return {
    code: report.blocked ? EXIT.damage : EXIT.ok,
    report: compaction + `${command.json ? JSON.stringify(report, null, 2) : formatGc(report)}\n`,
  };
}

/**
 * Writes a maintenance run's figures in Prometheus text format, replacing the file whole
 * (written beside it, then renamed), as the node_exporter textfile collector expects: the
 * way a periodic GC shows up in the same dashboards as the servers' `/metrics`.
 */
export async function writeMetricsFile(
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
