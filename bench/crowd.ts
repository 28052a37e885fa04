/**
 * Peak RSS of one PageFS server under many clients at once (issue 12, item 5: "a server in a
 * 512 MB isolate must never be killed for memory, however many clients arrive"). Run by hand,
 * not part of the test suite:
 *
 * ```sh
 * bash infra/s3-server.sh run -- deno run --allow-all bench/crowd.ts          # S3 store
 * CROWD_STORE=memory deno run --allow-all bench/crowd.ts                      # memory store
 * CROWD_ROWS=put-dav,idle deno run --allow-all bench/crowd.ts                 # some rows
 * ```
 *
 * Starts `main.ts --listen` as `deno task start` does (its V8 flags and
 * `MALLOC_MMAP_THRESHOLD_`), puts the data the rows read, then runs each row alone on a
 * freshly started process (S3; the memory store keeps the same process, since its data lives
 * there) and prints the process's peak RSS during the row (VmHWM after a reset, and VmRSS
 * sampled every 25 ms). Rows: `CROWD_ROWS` (comma list of the keys below; default all).
 *
 * @module
 */

import { S3Store } from "../src/store/mod.ts";
import { s3FromEnv } from "./_s3_env.ts";
import { removeBucket } from "./_server.ts";
import { rssWatch, SERVER_ENV, SERVER_V8_FLAGS } from "./compare_lib.ts";

const KiB = 1024;
const MiB = 1024 * KiB;
const STORE = Deno.env.get("CROWD_STORE") ?? "s3";
/** How long a slow client reads or sends before it gives up (s). */
const SLOW_S = Number(Deno.env.get("CROWD_SLOW_S") ?? 15);
/** The chunks an uploading client writes its body in (KiB; Deno's fetch frames them so). */
const CHUNK_KIB = Number(Deno.env.get("CROWD_CHUNK_KIB") ?? 64);
/** Clients of the upload rows (256 as issue 12 asks; fewer to see how memory scales). */
const UPLOADERS = Number(Deno.env.get("CROWD_UPLOADERS") ?? 256);
const ROOT = new URL("..", import.meta.url).pathname;
const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the server ---------------------------------------------------------------------------

let s3: S3Store | null = null;
const extraEnv: Record<string, string> = {};
if (STORE === "s3") {
  const settings = s3FromEnv("run it under `bash infra/s3-server.sh run --`");
  const bucket = `pagefs-crowd-${crypto.randomUUID().slice(0, 8)}`;
  s3 = new S3Store({ bucket, ...settings });
  await s3.createBucket();
  Object.assign(extraEnv, {
    PAGEFS_BUCKET: bucket,
    AWS_ENDPOINT_URL_S3: settings.endpoint,
    AWS_REGION: settings.region,
    AWS_ACCESS_KEY_ID: settings.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: settings.credentials.secretAccessKey,
  });
} else {
  extraEnv.PAGEFS_STORE = "memory";
}

interface Server {
  readonly process: Deno.ChildProcess;
  readonly base: string;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function startServer(): Promise<Server> {
  const port = freePort();
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    if (!name.startsWith("PAGEFS_") && !name.startsWith("AWS_")) env[name] = value;
  }
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    if (name.startsWith("CROWD_PAGEFS_")) env[name.slice(6)] = value;
  }
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", ...SERVER_V8_FLAGS, `${ROOT}main.ts`, "--listen"],
    cwd: ROOT,
    clearEnv: true,
    env: {
      ...env,
      ...SERVER_ENV,
      ...extraEnv,
      NO_COLOR: "1",
      PORT: String(port),
      HOST: "127.0.0.1",
      PAGEFS_METRICS_PUBLIC: "true",
    },
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`${base}/healthz`).then(async (r) => {
      await r.body?.cancel();
      return r.ok;
    }, () => false);
    if (ok) return { process, base };
    await delay(100);
  }
  throw new Error("PageFS did not start");
}

async function stopServer(server: Server): Promise<void> {
  server.process.kill("SIGTERM");
  const timer = setTimeout(() => server.process.kill("SIGKILL"), 10_000);
  await server.process.status;
  clearTimeout(timer);
}

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Math.round(Number(status.match(/VmRSS:\s+(\d+) kB/)![1]) / 1024);
}

// --- clients ------------------------------------------------------------------------------

/** Counts answers by status (or by error name). */
class Tally {
  readonly #counts = new Map<string, number>();
  add(what: string | number): void {
    this.#counts.set(String(what), (this.#counts.get(String(what)) ?? 0) + 1);
  }
  toString(): string {
    return [...this.#counts].sort().map(([k, n]) => `${k} x${n}`).join(", ");
  }
}

async function send(base: string, method: string, path: string, init: RequestInit = {}) {
  const res = await fetch(`${base}${path}`, { method, ...init });
  await res.arrayBuffer();
  if (res.status >= 300 && res.status !== 207) {
    throw new Error(`${method} ${path}: ${res.status}`);
  }
  return res;
}

/** A chunked body (no Content-Length) of `size` bytes in `chunk`-byte chunks. */
function chunkedBody(
  size: number,
  chunk = CHUNK_KIB * KiB,
  pauseMs = 0,
): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    async pull(controller) {
      if (sent >= size) return controller.close();
      if (pauseMs) await delay(pauseMs);
      const n = Math.min(chunk, size - sent);
      const bytes = new Uint8Array(n).fill(sent & 0xff);
      sent += n;
      controller.enqueue(bytes);
    },
  }, { highWaterMark: 0 });
}

/** Reads a response's body at about `bytesPerS` for at most `seconds`, then cancels. */
async function readSlowly(res: Response, bytesPerS: number, seconds: number): Promise<number> {
  const reader = res.body!.getReader();
  const until = performance.now() + seconds * 1000;
  let got = 0;
  const start = performance.now();
  try {
    while (performance.now() < until) {
      const { value, done } = await reader.read();
      if (done) return got;
      got += value.length;
      const due = start + (got / bytesPerS) * 1000;
      const wait = due - performance.now();
      const left = until - performance.now();
      if (wait > 0 && left > 0) await delay(Math.min(wait, left));
    }
    await reader.cancel();
  } catch {
    // The connection broke: what was read counts.
  }
  return got;
}

/** `n` workers over `jobs` jobs. */
async function pool(n: number, jobs: number, job: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (next < jobs) await job(next++);
  }));
}

/** A raw TCP connection that sends `head` (and `body`), for idle and stalled clients. */
async function rawConnect(port: number, text: string): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const bytes = new TextEncoder().encode(text);
  for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
  return conn;
}

// --- data ---------------------------------------------------------------------------------

const DIR_ENTRIES = Number(Deno.env.get("CROWD_DIR_ENTRIES") ?? 10_000);

async function setup(base: string, rows: Set<string>): Promise<void> {
  const t0 = performance.now();
  for (const dir of ["up", "up/dav", "up/http", "slow", "stall", "big", "zip", "files"]) {
    await send(base, "MKCOL", `/dav/${dir}/`);
  }
  if (rows.has("propfind") || rows.has("list")) {
    await pool(64, DIR_ENTRIES, async (i) => {
      await send(base, "PUT", `/api/v1/fs/big/f${String(i).padStart(6, "0")}.txt`, { body: "x" });
    });
  }
  if (rows.has("zip")) {
    await pool(16, 200, async (i) => {
      await send(base, "PUT", `/api/v1/fs/zip/z${i}.bin`, { body: new Uint8Array(MiB).fill(i) });
    });
  }
  if (rows.has("get-one")) {
    await send(base, "PUT", "/api/v1/fs/one.bin", { body: chunkedBody(64 * MiB) });
  }
  if (rows.has("get-many")) {
    await pool(16, 200, async (i) => {
      await send(base, "PUT", `/api/v1/fs/files/g${i}.bin`, {
        body: new Uint8Array(4 * MiB).fill(i),
      });
    });
  }
  console.error(`setup ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

// --- rows ---------------------------------------------------------------------------------

interface Row {
  readonly key: string;
  readonly what: string;
  /** Done before the measurement starts (a cached row's first render). */
  warm?(server: Server): Promise<void>;
  run(server: Server, tally: Tally): Promise<void>;
}

/** {@linkcode UPLOADERS} chunked PUTs of 4 MiB at once into folder `url`, answers tallied. */
async function chunkedPuts(url: string, tally: Tally): Promise<void> {
  await Promise.all(Array.from({ length: UPLOADERS }, async (_, i) => {
    const res = await fetch(`${url}/p${i}.bin`, { method: "PUT", body: chunkedBody(4 * MiB) })
      .catch((e) => e as Error);
    tally.add(res instanceof Error ? res.name : res.status);
    if (!(res instanceof Error)) await res.body?.cancel();
  }));
}

const ROWS: Row[] = [
  {
    key: "put-dav",
    what: `${UPLOADERS} x 4 MiB chunked PUT, WebDAV`,
    run: ({ base }, tally) => chunkedPuts(`${base}/dav/up/dav`, tally),
  },
  {
    key: "put-http",
    what: `${UPLOADERS} x 4 MiB chunked PUT, HTTP API`,
    run: ({ base }, tally) => chunkedPuts(`${base}/api/v1/fs/up/http`, tally),
  },
  {
    key: "put-slow",
    what: `256 slow PUTs (1 KiB / 100 ms, ${SLOW_S} s), HTTP + WebDAV`,
    async run({ base }, tally) {
      const size = SLOW_S * 10 * KiB;
      await Promise.all(Array.from({ length: 256 }, async (_, i) => {
        const url = i % 2 ? `${base}/dav/slow/s${i}.bin` : `${base}/api/v1/fs/slow/s${i}.bin`;
        const res = await fetch(url, { method: "PUT", body: chunkedBody(size, KiB, 100) })
          .catch((e) => e as Error);
        tally.add(res instanceof Error ? res.name : res.status);
        if (!(res instanceof Error)) await res.body?.cancel();
      }));
    },
  },
  ...[false, true].map((cached): Row => ({
    key: "propfind",
    what: `100 x PROPFIND Depth 1 of ${DIR_ENTRIES} entries, ${cached ? "cached" : "uncached"}`,
    async warm({ base }) {
      if (cached) await send(base, "PROPFIND", "/dav/big/", { headers: { Depth: "1" } });
    },
    async run({ base }, tally) {
      await Promise.all(Array.from({ length: 100 }, async () => {
        const res = await fetch(`${base}/dav/big/`, {
          method: "PROPFIND",
          headers: { Depth: "1" },
        }).catch((e) => e as Error);
        tally.add(res instanceof Error ? res.name : res.status);
        if (!(res instanceof Error)) await res.arrayBuffer();
      }));
    },
  })),
  ...[false, true].map((cached): Row => ({
    key: "list",
    what: `100 x HTTP API listing (limit 10000), ${cached ? "cached" : "uncached"}`,
    async warm({ base }) {
      if (cached) await send(base, "GET", "/api/v1/fs/big/?limit=10000");
    },
    async run({ base }, tally) {
      const url = `${base}/api/v1/fs/big/?limit=10000`;
      await Promise.all(Array.from({ length: 100 }, async () => {
        const res = await fetch(url).catch((e) => e as Error);
        tally.add(res instanceof Error ? res.name : res.status);
        if (!(res instanceof Error)) await res.arrayBuffer();
      }));
    },
  })),
  {
    key: "zip",
    what: `20 x zip of 200 x 1 MiB, read at 1 MiB/s for ${SLOW_S} s`,
    async run({ base }, tally) {
      let got = 0;
      await Promise.all(Array.from({ length: 20 }, async () => {
        const res = await fetch(`${base}/api/v1/zip/zip/`).catch((e) => e as Error);
        tally.add(res instanceof Error ? res.name : res.status);
        if (!(res instanceof Error)) {
          const n = await readSlowly(res, MiB, SLOW_S);
          got += n;
        }
      }));
      tally.add(`read ${Math.round(got / MiB)} MiB`);
    },
  },
  {
    key: "get-one",
    what: `200 x GET of one 64 MiB file, read at 256 KiB/s for ${SLOW_S} s`,
    async run({ base }, tally) {
      let got = 0;
      await Promise.all(Array.from({ length: 200 }, async () => {
        const res = await fetch(`${base}/api/v1/fs/one.bin`).catch((e) => e as Error);
        tally.add(res instanceof Error ? res.name : res.status);
        if (!(res instanceof Error)) {
          const n = await readSlowly(res, 256 * KiB, SLOW_S);
          got += n;
        }
      }));
      tally.add(`read ${Math.round(got / MiB)} MiB`);
    },
  },
  {
    key: "get-many",
    what: `200 x GET of 200 different 4 MiB files, read at 512 KiB/s`,
    async run({ base }, tally) {
      let got = 0;
      await Promise.all(Array.from({ length: 200 }, async (_, i) => {
        const res = await fetch(`${base}/api/v1/fs/files/g${i}.bin`).catch((e) => e as Error);
        tally.add(res instanceof Error ? res.name : res.status);
        if (!(res instanceof Error)) {
          const n = await readSlowly(res, 512 * KiB, 60);
          got += n;
        }
      }));
      tally.add(`read ${Math.round(got / MiB)} MiB`);
    },
  },
  {
    key: "tus",
    what: "100 parallel tus uploads of 16 MiB, 8 MiB PATCHes",
    async run({ base }, tally) {
      await Promise.all(Array.from({ length: 100 }, async (_, i) => {
        try {
          const size = 16 * MiB;
          const created = await fetch(`${base}/api/v1/uploads/`, {
            method: "POST",
            headers: {
              "tus-resumable": "1.0.0",
              "upload-length": String(size),
              "upload-metadata": `path ${btoa(`/up/t${i}.bin`)}`,
            },
          });
          await created.body?.cancel();
          const location = new URL(created.headers.get("location")!, base).href;
          for (let offset = 0; offset < size; offset += 8 * MiB) {
            const res = await fetch(location, {
              method: "PATCH",
              headers: {
                "tus-resumable": "1.0.0",
                "upload-offset": String(offset),
                "content-type": "application/offset+octet-stream",
              },
              body: new Uint8Array(8 * MiB).fill(i),
            });
            await res.body?.cancel();
            if (res.status !== 204) {
              tally.add(res.status);
              return;
            }
          }
          tally.add(204);
        } catch (e) {
          tally.add((e as Error).name);
        }
      }));
    },
  },
  {
    key: "idle",
    what: "2,000 idle keep-alive connections (one GET /healthz each), held 10 s",
    async run({ base }, tally) {
      const port = Number(new URL(base).port);
      const conns: Deno.TcpConn[] = [];
      await pool(100, 2000, async () => {
        const conn = await rawConnect(port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
        const buf = new Uint8Array(4096);
        const n = await conn.read(buf);
        tally.add(n ? new TextDecoder().decode(buf.subarray(0, n)).split(" ")[1]! : "closed");
        conns.push(conn);
      });
      await delay(10_000);
      for (const conn of conns) conn.close();
    },
  },
  {
    key: "stall",
    what: "500 connections that send half of a 1 MiB body and stall, 15 s",
    async run({ base }, tally) {
      const port = Number(new URL(base).port);
      const conns: Deno.TcpConn[] = [];
      const half = "y".repeat(512 * KiB);
      await pool(50, 500, async (i) => {
        const path = i % 2 ? `/dav/stall/h${i}` : `/api/v1/fs/stall/h${i}`;
        conns.push(
          await rawConnect(
            port,
            `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${MiB}\r\n\r\n${half}`,
          ),
        );
      });
      await delay(15_000);
      tally.add(`${conns.length} stalled`);
      for (const conn of conns) conn.close();
    },
  },
];

// --- run ----------------------------------------------------------------------------------

const wanted = new Set(
  (Deno.env.get("CROWD_ROWS") ?? ROWS.map((r) => r.key).join(",")).split(","),
);
let server = await startServer();
const table: string[] = [];
try {
  await setup(server.base, wanted);
  for (const row of ROWS.filter((r) => wanted.has(r.key))) {
    if (s3) {
      await stopServer(server);
      server = await startServer();
    }
    await row.warm?.(server);
    await delay(1000);
    const before = rssMiB(server.process.pid);
    const watch = rssWatch(server.process.pid);
    const tally = new Tally();
    const t0 = performance.now();
    await row.run(server, tally);
    const seconds = (performance.now() - t0) / 1000;
    const peak = Math.round((watch.stop() ?? 0) / MiB);
    const line = `| ${row.what} | ${before} | ${peak} | ${seconds.toFixed(1)} | ${tally} |`;
    console.error(line);
    table.push(line);
  }
} finally {
  await stopServer(server);
  if (s3) await removeBucket(s3);
}
console.log(`\nstore: ${STORE}\n`);
console.log("| row | RSS before (MiB) | peak RSS (MiB) | s | answers |");
console.log("| --- | --- | --- | --- | --- |");
for (const line of table) console.log(line);
