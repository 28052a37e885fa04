/**
 * `deno task bench:compare`: the same workloads, with the same HTTP client and the same
 * concurrency, against direct S3 (the AWS SDK through the project's S3 adapter), `rclone
 * serve webdav` (durable: `--vfs-cache-mode off`) and PageFS through WebDAV and through the
 * HTTP API, each on its own bucket of one S3 server, in one run; then one table of figures
 * (medians of several rounds), ratios to direct S3 and rclone, the issue 12 goals and
 * whether they are met, S3 requests per operation from PageFS's /metrics, and the peak RSS
 * of each server process per workload. See docs/bench.md for the knobs and what each
 * figure means.
 *
 * A benchmark, not a test: nothing here runs in `deno task test`.
 *
 * @module
 */

import { S3Store } from "../src/store/mod.ts";
import {
  DISK_TIER,
  fixed,
  type Metrics,
  metricsDelta,
  type Op,
  type Proc,
  rssWatch,
  startBare,
  startPageFs,
  startRclone,
  type SystemKey,
} from "./compare_lib.ts";
import {
  C,
  fail,
  K,
  KiB,
  log,
  MiB,
  notes,
  record,
  runId,
  s3Base,
  selected,
  SYSTEMS,
} from "./compare_run.ts";
import { FIGURES, printTable } from "./compare_table.ts";
import { davTarget, delay, httpTarget, s3Target, type Target } from "./compare_targets.ts";

// ---------------------------------------------------------------------------------------
// Workload helpers

/** Runs `fn(0..n-1)` with `workers` in flight; the first failure stops the others. */
async function pool(n: number, workers: number, fn: (i: number) => Promise<void>) {
  let next = 0;
  let failed: unknown = null;
  const worker = async () => {
    while (next < n && failed === null) {
      const i = next++;
      try {
        await fn(i);
      } catch (error) {
        failed ??= error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, n) }, worker));
  if (failed !== null) throw failed;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

/** Runs a workload on `t`, recording its peak RSS (process targets) under `rss:<name>`. */
async function withRss<T>(t: Target, name: string, fn: () => Promise<T>): Promise<T> {
  if (!t.proc) return await fn();
  const watch = rssWatch(t.proc.pid());
  log(`${t.key}: ${name} starts at ${(Date.now() / 1000).toFixed(1)}`);
  try {
    return await fn();
  } finally {
    const peak = watch.stop();
    if (peak !== null) record(`rss:${name}`, t.key, peak / MiB);
  }
}

/** S3 requests the PageFS process made while `fn` ran (null for other targets). */
async function counted(t: Target, fn: () => Promise<void>): Promise<Metrics | null> {
  const metrics = t.proc?.metrics;
  if (!metrics) return await fn(), null;
  const before = await metrics();
  await fn();
  return metricsDelta(before, await metrics());
}

const smallBody = (i: number) => {
  const b = new Uint8Array(4 * KiB).fill(0x61 + (i % 26));
  b.set(new TextEncoder().encode(`${i}\n`));
  return b;
};
const name = (i: number) => `f${String(i).padStart(6, "0")}`;
const showOps = (ops: Map<Op, number>, per: number) =>
  [...ops].sort().map(([op, n]) => `${op} ${fixed(n / per, 2)}`).join(", ") || "none";

// ---------------------------------------------------------------------------------------
// The workloads

const SMALL_FIGURES = ["put4k", "get4k", "rss:4 KiB PUT", "rss:4 KiB GET"];

/** Round `r` of 4 KiB PUTs: {@linkcode K.smallOps} new files into `bench/put<r>`, c=16. */
async function putRound(t: Target, r: number): Promise<void> {
  await t.mkdir(`bench/put${r}`);
  const seconds = await withRss(
    t,
    "4 KiB PUT",
    () => timed(() => pool(K.smallOps, C, (i) => t.put(`bench/put${r}/${name(i)}`, smallBody(i)))),
  );
  record("put4k", t.key, K.smallOps / seconds);
  log(`${t.key}: 4 KiB PUT round ${r}: ${fixed(K.smallOps / seconds, 1)}/s`);
}

/** Round `r` of 4 KiB GETs: the files of the first PUT round, c=16. */
async function getRound(t: Target, r: number): Promise<void> {
  const seconds = await withRss(
    t,
    "4 KiB GET",
    () =>
      timed(() =>
        pool(K.smallOps, C, async (i) => {
          const n = await t.get(`bench/put1/${name(i)}`);
          if (n !== 4 * KiB) throw new Error(`GET ${name(i)}: ${n} bytes, not 4096`);
        })
      ),
  );
  record("get4k", t.key, K.smallOps / seconds);
  log(`${t.key}: 4 KiB GET round ${r}: ${fixed(K.smallOps / seconds, 1)}/s`);
}

async function manyFiles(t: Target): Promise<void> {
  const one = new Uint8Array([0x61]);
  try {
    await t.mkdir("bench/many");
    let seconds = 0;
    // The rate per tenth of the files: does creating slow down as the directory grows?
    const tenth = Math.max(1, Math.ceil(K.files / 10));
    const tenths: string[] = [];
    let done = 0;
    let mark = performance.now();
    const s3 = await counted(t, async () => {
      seconds = await withRss(
        t,
        `create ${K.files} files`,
        () =>
          timed(() =>
            pool(K.files, C, async (i) => {
              await t.put(`bench/many/${name(i)}`, one);
              if (++done % tenth === 0 || done === K.files) {
                const now = performance.now();
                const n = done % tenth || tenth;
                tenths.push(fixed(n / ((now - mark) / 1000), 0));
                log(`${t.key}: ${done} files created, ${tenths.at(-1)}/s lately`);
                mark = now;
              }
            })
          ),
      );
    });
    record("create", t.key, K.files / seconds);
    log(`${t.key}: created ${K.files} files in ${fixed(seconds, 1)} s`);
    notes.push(
      `${t.key}: creating ${K.files} 1-byte files at c=${C} took ${fixed(seconds, 1)} s; ` +
        `creates/s per tenth of them: ${tenths.join(" ")}`,
    );
    if (s3) {
      record("writesPerCreate", t.key, s3.writes / K.files);
      record("requestsPerCreate", t.key, s3.total / K.files);
      notes.push(`${t.key}: S3 requests per create at c=${C}: ${showOps(s3.ops, K.files)}`);
    }
  } catch (error) {
    fail(["create", "writesPerCreate", "requestsPerCreate", "propfind"], t.key, error);
    return;
  }
  try {
    const first = await timed(async () => {
      const n = await t.list("bench/many");
      if (n !== K.files) throw new Error(`listed ${n} entries, not ${K.files}`);
    });
    const samples: number[] = [];
    for (let r = 1; r <= Math.max(K.rounds, 3); r++) {
      const s = await withRss(t, `list ${K.files}`, () =>
        timed(async () => {
          const n = await t.list("bench/many");
          if (n !== K.files) throw new Error(`listed ${n} entries, not ${K.files}`);
        }));
      record("propfind", t.key, s);
      samples.push(s);
    }
    notes.push(
      `${t.key}: listing ${K.files}: first ${fixed(first, 3)} s, then ${
        samples.map((s) => fixed(s, 3)).join(" ")
      } s`,
    );
  } catch (error) {
    fail(["propfind"], t.key, error);
  }
}

/** Waits (up to 2 minutes) until PageFS's disk tier has no write or fill pending. */
async function tierSettled(proc: Proc): Promise<void> {
  for (const end = Date.now() + 120_000; Date.now() < end;) {
    const res = await fetch(`${proc.url()}/metrics`, { signal: AbortSignal.timeout(10_000) });
    const pending = (await res.text()).match(/^pagefs_disk_cache_pending (\d+)$/m);
    if (!pending || pending[1] === "0") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the disk tier did not settle within 2 minutes");
}

const BIG_FIGURES = ["bigPut", "bigPutChunked", "bigGetCold", "bigGetWarm"];
/** Seconds each cold GET's disk tier fill took after the GET was answered, by system. */
const tierFills = new Map<SystemKey, number[]>();

/**
 * Round `r` of the big file: a PUT with Content-Length, one chunked, then (from a fresh
 * process, for PageFS) a cold GET and a re-read of the first.
 */
async function bigRound(t: Target, r: number): Promise<void> {
  const size = K.bigMiB * MiB;
  const path = `bench/big${r}`;
  const put = await withRss(t, `PUT ${K.bigMiB} MiB`, () => timed(() => t.putSized(path, size)));
  record("bigPut", t.key, put);
  log(`${t.key}: PUT ${K.bigMiB} MiB took ${fixed(put, 3)} s`);
  // The same bytes sent chunked, to another file (read by nothing).
  const chunked = await withRss(
    t,
    `PUT ${K.bigMiB} MiB chunked`,
    () => timed(() => t.putStream(`bench/big${r}-chunked`, size)),
  );
  record("bigPutChunked", t.key, chunked);
  log(`${t.key}: PUT ${K.bigMiB} MiB chunked took ${fixed(chunked, 3)} s`);
  // Cold: nothing of it in the server's memory (a fresh process for PageFS).
  await t.proc?.restart?.();
  for (const [figure, label] of [["bigGetCold", "cold"], ["bigGetWarm", "re-read"]]) {
    // PageFS fills its disk tier after a cold read was answered: the re-read is of a
    // file the tier holds once it has settled (how long that took is in the notes).
    if (figure === "bigGetWarm" && DISK_TIER && t.proc?.metrics) {
      const waited = await timed(() => tierSettled(t.proc!));
      tierFills.set(t.key, [...tierFills.get(t.key) ?? [], waited]);
      log(`${t.key}: disk tier settled ${fixed(waited, 2)} s after the cold GET`);
    }
    const s = await withRss(t, `GET ${K.bigMiB} MiB ${label}`, () =>
      timed(async () => {
        const n = await t.get(path);
        if (n !== size) throw new Error(`GET ${path}: ${n} bytes, not ${size}`);
      }));
    record(figure!, t.key, s);
    log(`${t.key}: GET ${K.bigMiB} MiB ${label} took ${fixed(s, 3)} s`);
  }
  log(`${t.key}: ${K.bigMiB} MiB round ${r} done`);
}

/** Sequential, warm, three directories deep: S3 requests per operation (PageFS only). */
async function requestsPerOp(t: Target): Promise<void> {
  const figures = ["reqGet", "reqPut", "reqOverwrite", "reqList"];
  try {
    for (const dir of ["deep", "deep/a", "deep/a/b", "deep/a/b/c", "deep/a/b/c/d50"]) {
      await t.mkdir(`bench/${dir}`);
    }
    const base = "bench/deep/a/b/c";
    await t.put(`${base}/warm`, smallBody(0));
    for (let i = 0; i < 50; i++) await t.put(`${base}/d50/${name(i)}`, smallBody(i));
    // Warm: one of each first.
    await t.get(`${base}/warm`);
    await t.put(`${base}/new-warm`, smallBody(1));
    await t.list(`${base}/d50`);
    const get = await counted(t, async () => {
      for (let i = 0; i < K.seqOps; i++) await t.get(`${base}/warm`);
    });
    const put = await counted(t, async () => {
      for (let i = 0; i < K.seqOps; i++) await t.put(`${base}/new${i}`, smallBody(i));
    });
    const overwrite = await counted(t, async () => {
      for (let i = 0; i < K.seqOps; i++) await t.put(`${base}/warm`, smallBody(i));
    });
    const list = await counted(t, async () => {
      for (let i = 0; i < K.seqOps; i++) {
        const n = await t.list(`${base}/d50`);
        if (n !== 50) throw new Error(`listed ${n} entries, not 50`);
      }
    });
    for (
      const [figure, m, what] of [
        ["reqGet", get, "4 KiB GET"],
        ["reqPut", put, "4 KiB PUT (new file)"],
        ["reqOverwrite", overwrite, "4 KiB PUT (overwrite)"],
        ["reqList", list, "list of 50"],
      ] as const
    ) {
      if (!m) continue;
      record(figure, t.key, m.total / K.seqOps);
      notes.push(`${t.key}: S3 requests per ${what}, 3 deep, warm: ${showOps(m.ops, K.seqOps)}`);
    }
  } catch (error) {
    fail(figures, t.key, error);
  }
}

async function concurrentUploads(t: Target): Promise<void> {
  if (K.uploads === 0) return;
  const name = `${K.uploads} x ${K.uploadMiB} MiB uploads`;
  try {
    await t.mkdir("bench/up");
    const s = await withRss(
      t,
      name,
      () =>
        timed(() =>
          pool(K.uploads, K.uploads, (i) => t.putStream(`bench/up/u${i}`, K.uploadMiB * MiB))
        ),
    );
    record("uploadsSeconds", t.key, s);
    log(`${t.key}: ${name} in ${fixed(s, 1)} s`);
  } catch (error) {
    fail(["uploadsSeconds", `rss:${name}`], t.key, error);
  }
}

/** Creates into an empty directory and into one of K.fullDir entries (PageFS only). */
async function directorySize(t: Target): Promise<void> {
  if (K.fullDir === 0) return;
  const figures = ["createEmpty", "createFull", "reqCreateEmpty", "reqCreateFull"];
  const one = new Uint8Array([0x62]);
  try {
    await t.mkdir("bench/full");
    await t.mkdir("bench/empty");
    const fill = await timed(() => pool(K.fullDir, C, (i) => t.put(`bench/full/${name(i)}`, one)));
    log(`${t.key}: filled a directory with ${K.fullDir} entries in ${fixed(fill, 1)} s`);
    notes.push(
      `${t.key}: filling the directory with ${K.fullDir} entries at c=${C} took ${
        fixed(fill, 1)
      } s`,
    );
    for (
      const [dir, rate, req] of [
        ["empty", "createEmpty", "reqCreateEmpty"],
        ["full", "createFull", "reqCreateFull"],
      ] as const
    ) {
      let seconds = 0;
      const m = await counted(t, async () => {
        seconds = await timed(() =>
          pool(K.dirCreates, C, (i) => t.put(`bench/${dir}/n${name(i)}`, one))
        );
      });
      record(rate, t.key, K.dirCreates / seconds);
      if (m) {
        record(req, t.key, m.total / K.dirCreates);
        notes.push(
          `${t.key}: S3 requests per create into the ${dir} directory: ${
            showOps(m.ops, K.dirCreates)
          }`,
        );
      }
    }
  } catch (error) {
    fail(figures, t.key, error);
  }
}

/** PATCH clients doing random 4 KiB writes into one file (HTTP API only). */
async function patches(t: Target): Promise<void> {
  if (!t.patch || K.patches === 0) return;
  const figures = ["patchAmplification", "patchPerSecond", "rss:patches", "rss:fragmented GET"];
  const size = K.patchFileMiB * MiB;
  try {
    await t.putStream("bench/patched", size);
    let state = 12345;
    const random = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const offsets = Array.from(
      { length: K.patches },
      () => Math.floor(random() * (size / 4096 - 1)) * 4096,
    );
    let seconds = 0;
    const m = await counted(t, async () => {
      seconds = await withRss(
        t,
        "patches",
        () =>
          timed(() =>
            pool(
              K.patches,
              K.patchClients,
              (i) => t.patch!("bench/patched", offsets[i]!, smallBody(i)),
            )
          ),
      );
    });
    record("patchPerSecond", t.key, K.patches / seconds);
    if (m) record("patchAmplification", t.key, m.uploadBytes / (K.patches * 4096));
    const read = await withRss(t, "fragmented GET", () =>
      timed(async () => {
        const n = await t.get("bench/patched");
        if (n !== size) throw new Error(`GET patched: ${n} bytes, not ${size}`);
      }));
    notes.push(
      `${t.key}: ${K.patches} PATCHes by ${K.patchClients} clients in ${fixed(seconds, 1)} s; ` +
        `${m ? fixed(m.uploadBytes / MiB, 2) : "?"} MiB uploaded for ${
          fixed(K.patches * 4096 / MiB, 2)
        } MiB written; reading the fragmented file back took ${fixed(read, 2)} s`,
    );
  } catch (error) {
    fail(figures, t.key, error);
  }
}

// ---------------------------------------------------------------------------------------
// Systems

async function emptyBucket(store: S3Store): Promise<void> {
  for (let cursor: string | null = null;;) {
    const page = await store.listMultipart(cursor ? { cursor } : {});
    for (const upload of page.uploads) await store.abortMultipart(upload).catch(() => {});
    cursor = page.cursor;
    if (!cursor) break;
  }
  for (;;) {
    const page = await store.list({});
    if (page.objects.length === 0) break;
    await store.deleteMany(page.objects.map((o) => o.key));
  }
}

async function open(key: SystemKey, bucket: string): Promise<Target> {
  switch (key) {
    case "s3":
      return s3Target(new S3Store({ ...s3Base, bucket }));
    case "rclone": {
      const proc = await startRclone({ ...s3Base, bucket });
      return davTarget("rclone", proc, () => `${proc.url()}/`);
    }
    case "bare":
      return httpTarget(await startBare(), "bare");
    case "dav": {
      const proc = await startPageFs({ ...s3Base, bucket });
      return davTarget("dav", proc, () => `${proc.url()}/dav/`);
    }
    case "http":
      return httpTarget(await startPageFs({ ...s3Base, bucket }));
  }
}

/** One system under measurement: its bucket, and its client once it started. */
interface Opened {
  readonly key: SystemKey;
  readonly admin: S3Store;
  readonly bucket: string;
  readonly start: number;
  t: Target | null;
}

const processes = new Set<Target>();
Deno.addSignalListener("SIGINT", async () => {
  for (const t of processes) await t.close().catch(() => {});
  Deno.exit(130);
});

async function openSystem(key: SystemKey): Promise<Opened> {
  const bucket = `pagefs-cmp-${key}-${runId}`;
  const opened: Opened = {
    key,
    bucket,
    admin: new S3Store({ ...s3Base, bucket }),
    start: performance.now(),
    t: null,
  };
  try {
    await opened.admin.createBucket();
    opened.t = await open(key, bucket);
    processes.add(opened.t);
    log(`${key}: started on bucket ${bucket}`);
    await opened.t.mkdir("bench");
  } catch (error) {
    fail(FIGURES.map((f) => f.id), key, error);
  }
  return opened;
}

async function closeSystem(o: Opened): Promise<void> {
  if (o.t) {
    await o.t.close().catch((e) => log(`${o.key}: close: ${e}`));
    processes.delete(o.t);
  }
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      await emptyBucket(o.admin);
      await o.admin.deleteBucket();
      break;
    } catch (error) {
      log(`${o.key}: removing bucket ${o.bucket} (attempt ${attempt} of 3): ${error}`);
      await delay(2000);
    }
  }
  log(`${o.key}: done, ${fixed((performance.now() - o.start) / 1000, 0)} s after it started`);
}

/** Workloads that failed, by `system:workload`: their later rounds are skipped. */
const broken = new Set<string>();

/** Runs `fn` unless `workload` failed before for `t`; a failure marks `figures` failed. */
async function step(
  t: Target,
  workload: string,
  figures: readonly string[],
  fn: () => Promise<void>,
): Promise<void> {
  if (broken.has(`${t.key}:${workload}`)) return;
  try {
    await fn();
  } catch (error) {
    broken.add(`${t.key}:${workload}`);
    fail([...figures], t.key, error);
  }
}

/**
 * Round `r` of a workload for every system, each system starting a round in turn: on a
 * machine that warms up or slows down as the run goes on (the S3 server's store fills),
 * no system is always measured first or last, and each round's samples are taken minutes,
 * not a whole system's run, apart.
 */
async function interleaved(
  targets: readonly Target[],
  workload: string,
  figures: readonly string[],
  round: (t: Target, r: number) => Promise<void>,
): Promise<void> {
  for (let r = 1; r <= K.rounds; r++) {
    const k = (r - 1) % targets.length;
    for (const t of [...targets.slice(k), ...targets.slice(0, k)]) {
      await step(t, workload, figures, () => round(t, r));
    }
  }
}

async function run(): Promise<void> {
  const opened: Opened[] = [];
  try {
    for (const key of SYSTEMS) opened.push(await openSystem(key));
    const targets = opened.flatMap((o) => o.t ? [o.t] : []);
    if (selected("small")) {
      await interleaved(targets, "small", SMALL_FIGURES, putRound);
      await interleaved(targets, "small", SMALL_FIGURES, getRound);
    }
    if (selected("create")) { for (const t of targets) await manyFiles(t); }
    if (selected("big")) {
      await interleaved(targets, "big", BIG_FIGURES, bigRound);
      for (const [key, fills] of tierFills) {
        notes.push(
          `${key}: disk tier filled (no write or fill pending) ${
            fills.map((s) => fixed(s, 2)).join(" ")
          } s after each cold GET answered; the re-read waited for it`,
        );
      }
    }
    for (const t of targets) {
      if (t.key !== "dav" && t.key !== "http") continue;
      if (selected("requests")) await requestsPerOp(t);
      if (selected("uploads")) await concurrentUploads(t);
      if (selected("dirsize")) await directorySize(t);
      if (t.key === "http" && selected("patch")) await patches(t);
    }
  } finally {
    for (const o of opened) await closeSystem(o);
  }
}

log(`knobs ${JSON.stringify(K)}; systems ${SYSTEMS.join(",")}; S3 ${s3Base.endpoint}`);
await run();
printTable();
