/**
 * The table `bench:compare` prints: every figure with its medians per system, ratios to
 * direct S3 and rclone, the issue 12 goal and whether PageFS meets it, then the notes.
 *
 * @module
 */

import { CACHE_DISK_MIB, DISK_TIER, fixed, type SystemKey } from "./compare_lib.ts";
import { C, K, median, notes, record, results, retried, started, SYSTEMS } from "./compare_run.ts";

interface Figure {
  readonly id: string;
  readonly label: string;
  readonly digits: number;
  readonly unit?: string;
  /** Ratios to these systems' medians, printed next to PageFS's figures. */
  readonly ratios?: readonly ("s3" | "rclone")[];
  readonly goal?: string;
  /** Whether `v` meets the goal, given the other systems' medians. */
  readonly met?: (v: number, ref: Partial<Record<SystemKey, number>>) => boolean | null;
}

const vs = (ref: number | undefined, f: (r: number) => boolean) =>
  ref === undefined ? null : f(ref);

export const FIGURES: readonly Figure[] = [
  {
    id: "put4k",
    label: `4 KiB PUT/s, c=${C}`,
    digits: 0,
    ratios: ["s3", "rclone"],
    goal: ">= 2x rclone, >= 1.5x direct",
    met: (v, r) =>
      r.s3 === undefined || r.rclone === undefined ? null : v >= 2 * r.rclone && v >= 1.5 * r.s3,
  },
  {
    id: "get4k",
    label: `4 KiB GET/s, c=${C}`,
    digits: 0,
    ratios: ["s3", "rclone"],
    goal: ">= 1x direct",
    met: (v, r) => vs(r.s3, (s) => v >= s),
  },
  {
    id: "create",
    label: `create ${K.files} 1-byte files /s, c=${C}`,
    digits: 0,
    ratios: ["s3", "rclone"],
    goal: ">= 2x rclone",
    met: (v, r) => vs(r.rclone, (s) => v >= 2 * s),
  },
  {
    id: "propfind",
    label: `PROPFIND Depth 1 of those ${K.files}, repeated (s)`,
    digits: 3,
    ratios: ["s3", "rclone"],
    goal: "<= 0.08 s",
    met: (v) => v <= 0.08,
  },
  {
    id: "bigGetCold",
    label: `GET ${K.bigMiB} MiB cold (s)`,
    digits: 2,
    ratios: ["s3", "rclone"],
    goal: "<= 1.1x direct",
    met: (v, r) => vs(r.s3, (s) => v <= 1.1 * s),
  },
  {
    id: "bigGetWarm",
    label: `GET ${K.bigMiB} MiB re-read (s)`,
    digits: 2,
    ratios: ["s3", "rclone"],
    goal: "<= 0.5x direct",
    met: (v, r) => vs(r.s3, (s) => v <= 0.5 * s),
  },
  {
    id: "bigPut",
    label: `PUT ${K.bigMiB} MiB with Content-Length (s)`,
    digits: 2,
    ratios: ["s3", "rclone"],
    goal: "<= 1.1x direct",
    met: (v, r) => vs(r.s3, (s) => v <= 1.1 * s),
  },
  {
    id: "bigPutChunked",
    label: `PUT ${K.bigMiB} MiB chunked (s)`,
    digits: 2,
    ratios: ["s3", "rclone"],
    goal: "<= 1.1x direct",
    met: (v, r) => vs(r.s3, (s) => v <= 1.1 * s),
  },
  {
    id: "reqGet",
    label: "S3 requests per small-file GET (seq, warm, 3 deep)",
    digits: 2,
    goal: "<= 2",
    met: (v) => v <= 2,
  },
  {
    id: "reqPut",
    label: "S3 requests per small-file PUT creating it (seq, warm, 3 deep)",
    digits: 2,
    goal: "<= 3",
    met: (v) => v <= 3,
  },
  {
    id: "reqOverwrite",
    label: "S3 requests per small-file PUT replacing one (seq, warm, 3 deep)",
    digits: 2,
    goal: "<= 3",
    met: (v) => v <= 3,
  },
  {
    id: "reqList",
    label: "S3 requests per PROPFIND Depth 1 of 50 entries",
    digits: 2,
    goal: "<= 2",
    met: (v) => v <= 2,
  },
  {
    id: "writesPerCreate",
    label: `S3 writes per file created, ${C} writers in one directory`,
    digits: 3,
    goal: "<= 0.25",
    met: (v) => v <= 0.25,
  },
  {
    id: "requestsPerCreate",
    label: `S3 requests per file created, ${C} writers in one directory`,
    digits: 2,
  },
  {
    id: "createEmpty",
    label: `creates/s into an empty directory (${K.dirCreates}, c=${C})`,
    digits: 0,
  },
  {
    id: "createFull",
    label: `creates/s into a directory of ${K.fullDir} entries`,
    digits: 0,
    goal: "within 20% of empty",
    met: () => null,
  },
  { id: "reqCreateEmpty", label: "S3 requests per create, empty directory", digits: 2 },
  {
    id: "reqCreateFull",
    label: `S3 requests per create, directory of ${K.fullDir}`,
    digits: 2,
    goal: "same as empty",
    met: () => null,
  },
  {
    id: "uploadsSeconds",
    label: `${K.uploads} concurrent ${K.uploadMiB} MiB uploads (s)`,
    digits: 1,
  },
  {
    id: "patchAmplification",
    label:
      `${K.patches} random 4 KiB PATCHes by ${K.patchClients} clients in one ${K.patchFileMiB} MiB file: S3 bytes up / bytes written`,
    digits: 2,
    goal: "<= 2",
    met: (v) => v <= 2,
  },
  { id: "patchPerSecond", label: "  those PATCHes /s", digits: 0 },
  { id: "retried", label: "requests answered 503 and sent again (whole run)", digits: 0 },
];

const SYSTEM_COLUMNS: readonly [SystemKey, string][] = [
  ["s3", "direct S3"],
  ["rclone", "rclone (vfs-cache off)"],
  ["bare", "bare Deno.serve (floor)"],
  ["dav", "PageFS WebDAV"],
  ["http", "PageFS HTTP"],
];

function medianOf(figure: string, system: SystemKey): number | undefined {
  const cell = results.get(figure)?.get(system);
  return Array.isArray(cell) && cell.length > 0 ? median(cell) : undefined;
}

function renderCell(f: Figure, system: SystemKey): string {
  const cell = results.get(f.id)?.get(system);
  if (cell === undefined) return "—";
  if (!Array.isArray(cell)) return `error: ${cell.error}`;
  const v = median(cell);
  let text = fixed(v, f.digits);
  if (system === "dav" || system === "http" || system === "bare") {
    const ratios = (f.ratios ?? []).flatMap((ref) => {
      const r = medianOf(f.id, ref);
      return r ? [`${fixed(v / r, 2)}x ${ref === "s3" ? "direct" : "rclone"}`] : [];
    });
    if (ratios.length) text += ` (${ratios.join(", ")})`;
  }
  return text;
}

function metCell(f: Figure): string {
  if (!f.met) return "";
  const refs: Partial<Record<SystemKey, number>> = {};
  for (const [k] of SYSTEM_COLUMNS) {
    const m = medianOf(f.id, k);
    if (m !== undefined) refs[k] = m;
  }
  const verdicts = (["dav", "http"] as const).flatMap((k) => {
    const v = refs[k];
    if (v === undefined) return [];
    let ok = f.met!(v, refs);
    if (f.id === "createFull") {
      const empty = medianOf("createEmpty", k);
      ok = empty === undefined ? null : v >= 0.8 * empty;
    }
    if (f.id === "reqCreateFull") {
      const empty = medianOf("reqCreateEmpty", k);
      ok = empty === undefined ? null : v <= empty * 1.05;
    }
    return [`${k === "dav" ? "WebDAV" : "HTTP"} ${ok === null ? "?" : ok ? "yes" : "no"}`];
  });
  return verdicts.join(", ");
}

export function printTable(): void {
  const rssFigures: Figure[] = [...results.keys()].filter((id) => id.startsWith("rss:")).map((
    id,
  ) => ({
    id,
    label: `peak RSS MiB: ${id.slice(4)}`,
    digits: 0,
    goal: "<= 256 (PageFS)",
    met: (v: number) => v <= 256,
  }));
  for (const [system] of SYSTEM_COLUMNS) {
    const n = [...(retried.get(system)?.values() ?? [])].reduce((a, b) => a + b, 0);
    if (SYSTEMS.includes(system)) record("retried", system, n);
  }
  const rows = [...FIGURES, ...rssFigures].filter((f) => results.has(f.id));
  const header = [
    "figure",
    ...SYSTEM_COLUMNS.filter(([k]) => SYSTEMS.includes(k)).map(([, l]) => l),
    "goal",
    "met?",
  ];
  const lines = [header, header.map(() => "---")];
  for (const f of rows) {
    lines.push([
      f.label,
      ...SYSTEM_COLUMNS.filter(([k]) => SYSTEMS.includes(k)).map(([k]) => renderCell(f, k)),
      f.goal ?? "",
      metCell(f),
    ]);
  }
  console.log(
    `\nbench:compare ${new Date().toISOString()}: medians of ${K.rounds} rounds` +
      ` (lists: of ${Math.max(K.rounds, 3)} calls after one untimed), c=${C}, ` +
      `${K.smallOps} small ops per round; ratios are PageFS / the other system\n`,
  );
  for (const cells of lines) console.log(`| ${cells.join(" | ")} |`);
  console.log("\nNotes:");
  if (SYSTEMS.some((s) => s === "dav" || s === "http")) {
    notes.unshift(
      DISK_TIER
        ? `PageFS runs with its disk tier on (PAGEFS_CACHE_DIR, a temporary directory per server, ` +
          `PAGEFS_CACHE_DISK_MIB=${CACHE_DISK_MIB}); memory: the defaults (64 MiB budget)`
        : "PageFS runs without a disk tier (BENCH_DISK_TIER=0): memory only, the defaults (64 MiB budget)",
    );
  }
  for (const note of notes) console.log(`- ${note}`);
  for (const [system, reasons] of retried) {
    for (const [reason, n] of reasons) {
      console.log(`- ${system}: ${n} requests answered ${reason} (sent again after Retry-After)`);
    }
  }
  console.log(`- total ${fixed((performance.now() - started) / 1000, 0)} s`);
}
