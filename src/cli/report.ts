/**
 * How the maintenance commands print their reports for people: counts with thousands
 * separators, byte sizes, and one summary per report (fsck, gc, compact); `--json` prints the
 * reports themselves instead.
 *
 * @module
 */

import type { CompactReport } from "../vfs/mod.ts";
import type { FsckReport } from "../format/fsck.ts";
import type { GcReport } from "../format/gc.ts";

/** A count with thousands separators. */
export function n(value: number): string {
  return value.toLocaleString("en-US");
}

/**
 * A byte count for people: `0 B`, `512 B`, `1.50 KiB`, `41.2 MiB`, `3.00 GiB`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { size } from "./report.ts";
 * assert(size(1536) === "1.50 KiB" && size(1023) === "1,023 B");
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
  if (report.blind !== null) {
    lines.push(
      "  an object could not be read, so what it names is unknown: orphans, garbage and " +
        `link counts are not repaired (${report.blind})`,
    );
  }
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
    `xattr values: ${report.xattrs.scanned} scanned, ${verb} ${report.xattrs.deleted}, ` +
    `${report.xattrs.inFlight} kept as in flight`,
    `directory shards: ${report.shards.scanned} scanned, ${verb} ${report.shards.deleted}, ` +
    `${report.shards.inFlight} kept as in flight`,
    `leftovers (tombstones, unused inodes): ${verb} ${report.leftovers.deleted}, ` +
    `${report.leftovers.inFlight} kept as in flight`,
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
