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

import http from "node:http";
import { S3Store } from "../src/store/mod.ts";
import { s3FromEnv } from "./_s3_env.ts";
import {
  CACHE_DISK_MIB,
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

const KiB = 1024;
const MiB = 1024 * KiB;

function knob(name: string, fallback: number): number {
  const text = Deno.env.get(name);
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name}: expected a count, got "${text}"`);
  return n;
}

/** The knobs (docs/bench.md). */
const K = {
  rounds: Math.max(1, knob("BENCH_ROUNDS", 3)),
  concurrency: Math.max(1, knob("BENCH_CONCURRENCY", 16)),
  smallOps: Math.max(1, knob("BENCH_SMALL_OPS", 500)),
  files: Math.max(1, knob("BENCH_FILES", 10_000)),
  bigMiB: Math.max(1, knob("BENCH_BIG_MIB", 256)),
  seqOps: Math.max(1, knob("BENCH_SEQ_OPS", 20)),
  uploads: knob("BENCH_UPLOADS", 16),
  uploadMiB: Math.max(1, knob("BENCH_UPLOAD_MIB", 64)),
  fullDir: knob("BENCH_FULL_DIR", 5_000),
  dirCreates: Math.max(1, knob("BENCH_DIR_CREATES", 500)),
  patches: knob("BENCH_PATCHES", 1000),
  patchClients: Math.max(1, knob("BENCH_PATCH_CLIENTS", 8)),
  patchFileMiB: Math.max(1, knob("BENCH_PATCH_FILE_MIB", 256)),
};
const SYSTEMS = (Deno.env.get("BENCH_SYSTEMS") ?? "s3,rclone,bare,dav,http").split(",")
  .map((s) => s.trim()).filter(Boolean) as SystemKey[];
const ONLY = (Deno.env.get("BENCH_WORKLOADS") ?? "").split(",").map((s) => s.trim())
  .filter(Boolean);
const selected = (workload: string) => ONLY.length === 0 || ONLY.includes(workload);

const s3Base = s3FromEnv("run `deno task bench:compare`");
const runId = crypto.randomUUID().slice(0, 8);

const started = performance.now();
function log(message: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(0).padStart(5);
  console.error(`[${s} s] ${message}`);
}

// ---------------------------------------------------------------------------------------
// Results

type Cell = number[] | { error: string };
/** figure id -> system -> samples (or the error that stopped the workload). */
const results = new Map<string, Map<SystemKey, Cell>>();
/** Free text per figure and system: what the median hides (all samples, op breakdowns). */
const notes: string[] = [];

function record(figure: string, system: SystemKey, value: number): void {
  const bySystem = results.get(figure) ?? new Map<SystemKey, Cell>();
  results.set(figure, bySystem);
  const cell = bySystem.get(system);
  if (cell && !Array.isArray(cell)) return;
  bySystem.set(system, [...(cell ?? []), value]);
}

function fail(figures: string[], system: SystemKey, error: unknown): void {
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!
    .slice(0, 120);
  log(`${system}: error: ${message}`);
  for (const figure of figures) {
    const bySystem = results.get(figure) ?? new Map<SystemKey, Cell>();
    results.set(figure, bySystem);
    bySystem.set(system, { error: message });
  }
}

const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---------------------------------------------------------------------------------------
// Targets: one interface over direct S3, WebDAV (rclone and PageFS) and the HTTP API

interface Target {
  readonly key: SystemKey;
  /** The server process, for RSS and (PageFS) /metrics; null for direct S3. */
  readonly proc: Proc | null;
  put(path: string, body: Uint8Array<ArrayBuffer>): Promise<void>;
  /**
   * Streams `size` bytes to `path`, chunked (Deno `fetch` with a stream body); multipart
   * from memory for direct S3.
   */
  putStream(path: string, size: number): Promise<void>;
  /**
   * Sends `size` bytes to `path` with a `Content-Length`, as curl, rclone and davfs2 send a
   * file of known size; for direct S3 the same as {@linkcode putStream}.
   */
  putSized(path: string, size: number): Promise<void>;
  /** Reads `path` to its end; resolves to the byte count. */
  get(path: string): Promise<number>;
  mkdir(path: string): Promise<void>;
  /** One directory listing (PROPFIND Depth 1, the API's listing, ListObjectsV2): entries. */
  list(dir: string): Promise<number>;
  /** Writes `body` at `offset` of an existing file (HTTP API only). */
  patch?(path: string, offset: number, body: Uint8Array<ArrayBuffer>): Promise<void>;
  close(): Promise<void>;
}

const REQUEST_TIMEOUT = 15 * 60_000;

/** Requests answered 503 (EAGAIN) and sent again, by system, with the reasons given. */
const retried = new Map<SystemKey, Map<string, number>>();
const RETRIES = 5;
/**
 * Tries of a refused upload (a stream body made afresh each time): a server that admits a
 * few uploads at once refuses the others until one ends, which takes as long as an upload;
 * rclone too goes on re-sending (10 low-level retries, then the whole transfer again).
 */
const UPLOAD_RETRIES = 120;

/**
 * One request; a 503 is sent again after its Retry-After (at most {@linkcode RETRIES} times,
 * {@linkcode UPLOAD_RETRIES} for a streamed upload, each counted in {@linkcode retried}):
 * every request the workloads send is idempotent (a PUT of the same bytes, a PATCH of the
 * same bytes at the same offset, a read). A stream
 * body cannot be sent twice: one made by `fresh` is made again for each try (as rclone
 * re-opens its source), any other is not retried.
 */
async function call(
  system: SystemKey,
  method: string,
  url: string,
  ok: readonly number[],
  init: RequestInit = {},
  fresh?: () => ReadableStream<Uint8Array>,
): Promise<Response> {
  for (let attempt = 0;; attempt++) {
    const res = await fetch(url, {
      method,
      ...init,
      ...(fresh ? { body: fresh(), duplex: "half" } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT),
    });
    if (ok.includes(res.status)) return res;
    const text = await res.text().catch(() => "");
    let reason = text.slice(0, 200).replace(/\s+/g, " ");
    try {
      const problem = JSON.parse(text) as { detail?: string; title?: string };
      reason = problem.detail ?? problem.title ?? reason;
    } catch {
      // Not a problem document.
    }
    const replayable = fresh !== undefined || !(init.body instanceof ReadableStream);
    if (res.status === 503 && replayable && attempt < (fresh ? UPLOAD_RETRIES : RETRIES)) {
      await retryLater(
        system,
        `${method} ${res.status}: ${reason}`,
        res.headers.get("retry-after"),
      );
      continue;
    }
    throw new Error(`${method} ${new URL(url).pathname} answered ${res.status}: ${reason}`);
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts a 503 sent again (in {@linkcode retried}), then waits its Retry-After (1-5 s). */
async function retryLater(system: SystemKey, why: string, retryAfter: string | null) {
  const reasons = retried.get(system) ?? new Map<string, number>();
  retried.set(system, reasons);
  const key = why.slice(0, 120);
  reasons.set(key, (reasons.get(key) ?? 0) + 1);
  const after = Number(retryAfter ?? 1);
  await delay(Math.min(Number.isFinite(after) ? after : 1, 5) * 1000);
}

async function drainCount(res: Response): Promise<number> {
  let n = 0;
  if (res.body) { for await (const chunk of res.body) n += chunk.length; }
  return n;
}

/** A body of `size` bytes in 1 MiB chunks, generated as it is sent. */
function stream(size: number, seed: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(MiB);
  for (let i = 0; i < chunk.length; i += 4096) chunk[i] = (i / 4096 + seed) & 0xff;
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close();
      const n = Math.min(chunk.length, size - sent);
      const out = chunk.slice(0, n);
      out[0] = (sent / MiB) & 0xff;
      controller.enqueue(out);
      sent += n;
    },
  });
}

/**
 * A PUT of `size` bytes (the bytes of {@linkcode stream}) with a `Content-Length`, through
 * `node:http`: Deno's `fetch` sends any stream body chunked, and `Deno.serve` spends far more
 * CPU receiving a chunked body (docs/bench.md). A 503 is sent again as {@linkcode call} does.
 */
async function sizedPut(system: SystemKey, url: string, size: number): Promise<void> {
  for (let attempt = 0;; attempt++) {
    const { status, text, retryAfter } = await sizedPutOnce(url, size);
    if (status >= 200 && status < 300) return;
    if (status === 503 && attempt < UPLOAD_RETRIES) {
      await retryLater(system, `PUT ${status}: ${text}`, retryAfter);
      continue;
    }
    throw new Error(`PUT ${new URL(url).pathname} answered ${status}: ${text.slice(0, 200)}`);
  }
}

function sizedPutOnce(
  url: string,
  size: number,
): Promise<{ status: number; text: string; retryAfter: string | null }> {
  const target = new URL(url);
  const body = stream(size, target.pathname.length).getReader();
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.hostname,
      port: target.port,
      path: target.pathname + target.search,
      method: "PUT",
      headers: { "content-length": String(size) },
      timeout: REQUEST_TIMEOUT,
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (piece: string) => text = (text + piece).slice(0, 1000));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          text,
          retryAfter: res.headers["retry-after"] ?? null,
        }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`PUT ${target.pathname}: timed out`)));
    const write = async () => {
      for (;;) {
        const { done, value } = await body.read();
        if (done) return void req.end();
        if (!req.write(value)) await new Promise((drained) => req.once("drain", drained));
      }
    };
    write().catch((error) => req.destroy(error));
  });
}

const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");

/** What rclone's webdav backend sends to list a directory (also used for PageFS). */
const PROPFIND_BODY = '<?xml version="1.0"?>' +
  '<d:propfind xmlns:d="DAV:"><d:prop><d:displayname/><d:getlastmodified/>' +
  "<d:getcontentlength/><d:resourcetype/><d:getcontenttype/><d:getetag/></d:prop></d:propfind>";

/** The WebDAV client: the same code for rclone and PageFS. */
function davTarget(key: SystemKey, proc: Proc, root: () => string): Target {
  const url = (path: string) => root() + encodePath(path);
  return {
    key,
    proc,
    async put(path, body) {
      await (await call(key, "PUT", url(path), [200, 201, 204], { body })).body?.cancel();
    },
    async putStream(path, size) {
      const res = await call(
        key,
        "PUT",
        url(path),
        [200, 201, 204],
        {},
        () => stream(size, path.length),
      );
      await res.body?.cancel();
    },
    putSized(path, size) {
      return sizedPut(key, url(path), size);
    },
    async get(path) {
      return await drainCount(await call(key, "GET", url(path), [200]));
    },
    async mkdir(path) {
      await (await call(key, "MKCOL", url(path) + "/", [201])).body?.cancel();
    },
    async list(dir) {
      const res = await call(key, "PROPFIND", url(dir) + "/", [207], {
        headers: { depth: "1", "content-type": "application/xml; charset=utf-8" },
        body: PROPFIND_BODY,
      });
      const text = await res.text();
      // The directory itself is the first response; the rest are its members.
      return (text.match(/<(?:[\w.-]+:)?response[\s>]/g) ?? []).length - 1;
    },
    close: () => proc.close(),
  };
}

/** The HTTP API's client (also the bare server's, which speaks that much of it). */
function httpTarget(proc: Proc, key: SystemKey = "http"): Target {
  const url = (path: string) => `${proc.url()}/api/v1/fs/${encodePath(path)}`;
  return {
    key,
    proc,
    async put(path, body) {
      await (await call(key, "PUT", url(path), [200, 201, 204], { body })).body?.cancel();
    },
    async putStream(path, size) {
      const res = await call(
        key,
        "PUT",
        url(path),
        [200, 201, 204],
        {},
        () => stream(size, path.length),
      );
      await res.body?.cancel();
    },
    putSized(path, size) {
      return sizedPut(key, url(path), size);
    },
    async get(path) {
      return await drainCount(await call(key, "GET", url(path), [200]));
    },
    async mkdir(path) {
      await (await call(key, "PUT", url(path) + "/", [201])).body?.cancel();
    },
    async list(dir) {
      let entries = 0;
      for (let cursor: string | null = null;;) {
        const query: string = `?limit=10000${
          cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""
        }`;
        const page = await (await call(key, "GET", url(dir) + "/" + query, [200])).json() as {
          entries: unknown[];
          cursor: string | null;
        };
        entries += page.entries.length;
        cursor = page.cursor;
        if (!cursor) return entries;
      }
    },
    async patch(path, offset, body) {
      const res = await call(key, "PATCH", url(path), [204], {
        headers: { "content-range": `bytes ${offset}-${offset + body.length - 1}/*` },
        body,
      });
      await res.body?.cancel();
    },
    close: () => proc.close(),
  };
}

function s3Target(store: S3Store): Target {
  return {
    key: "s3",
    proc: null,
    async put(path, body) {
      await store.put(path, body);
    },
    async putStream(path, size) {
      // The shape of PageFS's segment writer: 8 MiB parts, 2 in flight.
      const upload = await store.createMultipart(path);
      const parts: { partNumber: number; etag: string }[] = [];
      const inFlight = new Set<Promise<void>>();
      const part = new Uint8Array(8 * MiB).fill(7);
      for (let n = 1, at = 0; at < size; n++, at += part.length) {
        const body = part.subarray(0, Math.min(part.length, size - at));
        const p: Promise<void> = store.uploadPart(upload, n, body).then((r) => {
          parts.push(r);
          inFlight.delete(p);
        });
        inFlight.add(p);
        if (inFlight.size >= 2) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      parts.sort((a, b) => a.partNumber - b.partNumber);
      await store.completeMultipart(upload, parts);
    },
    putSized(path, size) {
      return this.putStream(path, size);
    },
    async get(path) {
      const r = await store.get(path);
      if (r?.status !== "ok") throw new Error(`GetObject ${path}: missing`);
      let n = 0;
      for await (const chunk of r.body) n += chunk.length;
      return n;
    },
    async mkdir() {
      // S3 has no directories.
    },
    async list(dir) {
      let entries = 0;
      for (let cursor: string | null = null;;) {
        const page = await store.list({
          prefix: `${dir}/`,
          delimiter: "/",
          ...(cursor ? { cursor } : {}),
        });
        entries += page.objects.length + page.prefixes.length;
        cursor = page.cursor;
        if (!cursor) return entries;
      }
    },
    close: async () => {},
  };
}

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

const C = K.concurrency;

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
  // The same bytes sent chunked, to another file (read by nothing).
  const chunked = await withRss(
    t,
    `PUT ${K.bigMiB} MiB chunked`,
    () => timed(() => t.putStream(`bench/big${r}-chunked`, size)),
  );
  record("bigPutChunked", t.key, chunked);
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

// ---------------------------------------------------------------------------------------
// The table

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

const FIGURES: readonly Figure[] = [
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

function printTable(): void {
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

log(`knobs ${JSON.stringify(K)}; systems ${SYSTEMS.join(",")}; S3 ${s3Base.endpoint}`);
await run();
printTable();
