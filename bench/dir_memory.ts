/**
 * Memory and CPU of a PageFS server while directories fill: `deno task bench:dirmem`.
 *
 * Starts its own PageFS process (as `deno task start` runs it) on a fresh bucket of the
 * bench's S3 server, creates `DIRMEM_FILES` one-byte files in each of `DIRMEM_DIRS`
 * directories over WebDAV (c=16, names spread), optionally lists each (`DIRMEM_LIST=1`),
 * and prints the server's RSS, high-water mark and CPU seconds (from /proc) as it goes.
 * With `DIRMEM_INSPECT=1` the server runs under the inspector and the figures add V8's heap
 * (used / total) at the end and after a forced full collection: what is live, apart from
 * garbage not yet collected. The inspector slows the server: compare CPU only without it.
 *
 * Knobs: `DIRMEM_V8_FLAGS` (default the start task's flags, e.g.
 * `--max-semi-space-size=4` alone to compare), `DIRMEM_ENV` (JSON of extra server
 * variables, e.g. `{"PAGEFS_META_CACHE_MIB":"100000"}`). Figures: docs/architecture.md,
 * memory.
 *
 * @module
 */

import { S3Store } from "../src/store/mod.ts";
import { s3FromEnv } from "./_s3_env.ts";
import { removeBucket } from "./_server.ts";
import { SERVER_ENV, SERVER_V8_FLAGS } from "./compare_lib.ts";

const env = (name: string, fallback: string) => Deno.env.get(name) ?? fallback;
const DIRS = Number(env("DIRMEM_DIRS", "1"));
const FILES = Number(env("DIRMEM_FILES", "20000"));
const LIST = env("DIRMEM_LIST", "0") === "1";
const INSPECT = env("DIRMEM_INSPECT", "0") === "1";
const V8_FLAGS = Deno.env.get("DIRMEM_V8_FLAGS");
const EXTRA_ENV = JSON.parse(env("DIRMEM_ENV", "{}")) as Record<string, string>;
const INSPECTOR = "127.0.0.1:9339";

const settings = s3FromEnv("run `deno task bench:dirmem`");
const bucket = `pagefs-dirmem-${crypto.randomUUID().slice(0, 8)}`;
const s3 = new S3Store({ bucket, ...settings });
await s3.createBucket();
const port = 19_000 + Math.floor(Math.random() * 1000);
const server = new Deno.Command(Deno.execPath(), {
  args: [
    "run",
    "--allow-net",
    "--allow-env",
    ...(V8_FLAGS ? [`--v8-flags=${V8_FLAGS}`] : SERVER_V8_FLAGS),
    ...(INSPECT ? [`--inspect=${INSPECTOR}`] : []),
    new URL("../main.ts", import.meta.url).pathname,
    "--listen",
  ],
  env: {
    ...SERVER_ENV,
    ...EXTRA_ENV,
    PAGEFS_BUCKET: bucket,
    PORT: String(port),
    HOST: "127.0.0.1",
  },
  stdout: "null",
  stderr: "null",
}).spawn();
const base = `http://127.0.0.1:${port}`;
await waitHealthy();
const heap = INSPECT ? await inspector() : null;

const started = performance.now();
const say = async (what: string) => {
  const s = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`${what.padEnd(24)} ${process()}${heap ? ` ${await heap.usage()}` : ""} (${s} s)`);
};
try {
  await say("start");
  await send("MKCOL", "bench");
  for (let d = 0; d < DIRS; d++) {
    await send("MKCOL", `bench/d${d}`);
    let next = 0;
    await Promise.all(Array.from({ length: 16 }, async () => {
      while (next < FILES) {
        // Spread over the name space, as files arrive in a real directory.
        const i = (next++ * 7919) % FILES;
        await send("PUT", `bench/d${d}/f${String(i).padStart(6, "0")}.txt`, "x");
      }
    }));
    await say(`${(d + 1) * FILES} files`);
  }
  if (LIST) {
    for (let d = 0; d < DIRS; d++) await send("PROPFIND", `bench/d${d}/`, undefined, "1");
    await say(`listed ${DIRS} directories`);
  }
  if (heap) {
    await heap.collect();
    await say("after a full collection");
  }
} finally {
  heap?.close();
  server.kill("SIGTERM");
  await server.status;
  await removeBucket(s3);
}

async function send(method: string, path: string, body?: string, depth?: string) {
  const res = await fetch(`${base}/dav/${path}`, {
    method,
    ...(body !== undefined ? { body } : {}),
    ...(depth ? { headers: { Depth: depth } } : {}),
  });
  await res.arrayBuffer();
  if (res.status >= 300 && res.status !== 207) throw new Error(`${method} ${path}: ${res.status}`);
}

/** RSS, its high-water mark and CPU time (user + system) of the server, from /proc. */
function process(): string {
  const status = Deno.readTextFileSync(`/proc/${server.pid}/status`);
  const mib = (field: string) =>
    Math.round(Number(status.match(new RegExp(`${field}:\\s+(\\d+) kB`))![1]) / 1024);
  const stat = Deno.readTextFileSync(`/proc/${server.pid}/stat`).split(") ")[1]!.split(" ");
  const cpu = (Number(stat[11]) + Number(stat[12])) / 100;
  return `RSS ${mib("VmRSS")} MiB, peak ${mib("VmHWM")} MiB, CPU ${cpu.toFixed(1)} s`;
}

async function waitHealthy(): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`${base}/healthz`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("PageFS did not become healthy in 30 s");
}

/** V8's heap figures over the Chrome DevTools protocol. */
async function inspector() {
  const targets = await (await fetch(`http://${INSPECTOR}/json/list`)).json();
  const ws = new WebSocket(targets[0].webSocketDebuggerUrl);
  await new Promise((resolve) => ws.onopen = resolve);
  let id = 0;
  const waiting = new Map<number, (result: Record<string, number>) => void>();
  ws.onmessage = (event) => {
    const message = JSON.parse(event.data);
    waiting.get(message.id)?.(message.result ?? {});
    waiting.delete(message.id);
  };
  const call = (method: string) =>
    new Promise<Record<string, number>>((resolve) => {
      waiting.set(++id, resolve);
      ws.send(JSON.stringify({ id, method }));
    });
  const MiB = 1024 * 1024;
  return {
    async usage() {
      const { usedSize, totalSize } = await call("Runtime.getHeapUsage");
      return `V8 heap ${Math.round(usedSize! / MiB)} / ${Math.round(totalSize! / MiB)} MiB`;
    },
    collect: () => call("HeapProfiler.collectGarbage"),
    close: () => ws.close(),
  };
}
