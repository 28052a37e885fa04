/**
 * A directory filled with large, highly compressible extended attributes, and what a server
 * that reads it back costs in memory: `deno run --allow-all bench/xattr_dir_memory.ts`.
 *
 * One user with write access to one folder sets, through the HTTP API, three 30 KiB
 * all-zero xattrs (120 KiB of base64 "AAAA…", compressed about 1,000:1) on each of
 * `XBOMB_FILES` files. The script then prints the directory objects in the store (stored
 * vs decoded bytes), stops that server, and for each read starts a fresh one on the same data
 * and prints its RSS and high-water mark (`/proc/<pid>/status`) after it: a lookup of a
 * sibling (a stat, then a create), a listing through the HTTP API, a PROPFIND Depth 1 with
 * every dead property (`allprop`). The servers run as `deno task start` does, on the local store
 * (`PAGEFS_STORE=local`, a temporary directory). Knobs: `XBOMB_FILES` (default 1024),
 * `XBOMB_CONC` (8), `XBOMB_V8_FLAGS` (default the start task's, e.g. add
 * `--max-old-space-size=400` to see whether a smaller isolate survives), `XBOMB_ENV` (JSON
 * of extra server variables). Figures: docs/architecture.md, memory.
 *
 * @module
 */

import { gunzipSync } from "node:zlib";
import { LocalStore } from "../src/store/local.ts";
import { SERVER_ENV, SERVER_V8_FLAGS } from "./compare_lib.ts";

const env = (name: string, fallback: string) => Deno.env.get(name) ?? fallback;
const FILES = Number(env("XBOMB_FILES", "1024"));
const CONC = Number(env("XBOMB_CONC", "8"));
const V8_FLAGS = Deno.env.get("XBOMB_V8_FLAGS");
const EXTRA_ENV = JSON.parse(env("XBOMB_ENV", "{}")) as Record<string, string>;
const VALUE = new Uint8Array(30 * 1024);
const VALUE_B64 = btoa(String.fromCharCode(...VALUE));
const MiB = 1024 * 1024;
/** WebDAV dead properties (`props.ts`): a PROPFIND allprop lists them. */
const DEAD = ["a", "b", "c"].map((p) => `dav:{urn:x}${p}`);

const dataDir = await Deno.makeTempDir({ prefix: "pagefs-xbomb-" });
let server = spawn();
try {
  await say("start (writer)");
  await send("POST", "x", JSON.stringify({ op: "mkdir" }));
  // All names first, then 64 small files, then the xattrs: a directory object stores its
  // last (growing) chunk of entries uncompressed; the files set later sit in compressed ones.
  const names = Array.from({ length: FILES }, (_, i) => `x/${chunkEnding(`f${pad(i)}`)}`);
  const padding = Array.from({ length: 64 }, (_, i) => `x/${chunkEnding(`p${pad(i)}`)}`);
  await parallel(names, (name) => send("PUT", name, "x"));
  await parallel(padding, (name) => send("PUT", name, "x"));
  await say(`${FILES} + 64 files`);
  await parallel(names, async (name) => {
    for (const k of DEAD) {
      await send("POST", name, JSON.stringify({ op: "setxattr", name: k, value: VALUE_B64 }));
    }
  });
  await say(`${FILES} files with xattrs`);
  await stop();
  await objects();

  // Each read on a fresh server of its own: what it costs, not what an earlier one left.
  const sibling = `x/${chunkEnding(`f${pad(0)}`)}`;
  const reads: [string, () => Promise<number>][] = [
    ["stat of a sibling", () => send("GET", sibling, undefined, "stat")],
    ["create a sibling", () => send("PUT", "x/new", "y")],
    ["HTTP listing", () => send("GET", "x/")],
    ["PROPFIND allprop", () => propfind("x/")],
  ];
  for (const [i, [what, step]] of reads.entries()) {
    if (i !== 1) { // the create follows the stat on the same server
      server = spawn();
      await say("start (fresh reader)");
    }
    await timed(what, step);
    if (i !== 0) await stop();
  }
} finally {
  await stop().catch(() => {});
  await Deno.remove(dataDir, { recursive: true });
}

function spawn() {
  const port = 19_000 + Math.floor(Math.random() * 1000);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      ...(V8_FLAGS ? [`--v8-flags=${V8_FLAGS}`] : SERVER_V8_FLAGS),
      new URL("../main.ts", import.meta.url).pathname,
      "--listen",
    ],
    env: {
      ...SERVER_ENV,
      ...EXTRA_ENV,
      PAGEFS_STORE: "local",
      PAGEFS_DATA_DIR: dataDir,
      PORT: String(port),
      HOST: "127.0.0.1",
    },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  return { child, base: `http://127.0.0.1:${port}`, stderr, ready: healthy(port) };
}

async function stop(): Promise<void> {
  try {
    server.child.kill("SIGTERM");
  } catch {
    // Already gone.
  }
  const status = await server.child.status;
  const err = (await server.stderr).trim().split("\n").filter((l) => /rror|memory/i.test(l));
  if (status.signal !== "SIGTERM" || err.length) {
    console.log(`server ended: code ${status.code}, signal ${status.signal}`);
    for (const line of err.slice(-5)) console.log(`  ${line.slice(0, 300)}`);
  }
}

async function healthy(port: number): Promise<void> {
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      await res.body?.cancel();
      if (res.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error("PageFS did not become healthy in 30 s");
}

async function send(method: string, path: string, body?: string, route = "fs") {
  await server.ready;
  const res = await fetch(`${server.base}/api/v1/${route}/${path}`, {
    method,
    ...(body !== undefined ? { body } : {}),
    ...(method === "POST" ? { headers: { "content-type": "application/json" } } : {}),
  });
  const bytes = (await res.arrayBuffer()).byteLength;
  if (res.status >= 300) {
    throw new Error(`${method} ${path}: ${res.status} ${
      new TextDecoder().decode(
        new Uint8Array(await res.clone().arrayBuffer().catch(() => new ArrayBuffer(0))),
      )
    }`);
  }
  return bytes;
}

async function propfind(path: string) {
  await server.ready;
  const res = await fetch(`${server.base}/dav/${path}`, {
    method: "PROPFIND",
    headers: { Depth: "1" },
    body: `<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>`,
  });
  const bytes = (await res.arrayBuffer()).byteLength;
  if (res.status !== 207) throw new Error(`PROPFIND ${path}: ${res.status}`);
  return bytes;
}

async function timed(what: string, step: () => Promise<number>) {
  const t = performance.now();
  try {
    const bytes = await step();
    await say(`${what}: ${(bytes / MiB).toFixed(1)} MiB answer`, t);
  } catch (error) {
    await say(`${what}: FAILED ${String(error).slice(0, 200)}`, t);
  }
}

/** The directory objects in the store: stored and decoded bytes, entries. */
async function objects() {
  const store = new LocalStore(dataDir);
  let cursor: string | null = null;
  let count = 0, stored = 0, decoded = 0, maxDecoded = 0, maxStored = 0;
  do {
    const page = await store.list({ prefix: "d/", ...(cursor ? { cursor } : {}) });
    for (const info of page.objects) {
      const got = await store.get(info.key);
      if (!got || got.status !== "ok") continue;
      const bytes = new Uint8Array(await new Response(got.body).arrayBuffer());
      const json = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
      count++;
      stored += bytes.length;
      decoded += json.length;
      maxStored = Math.max(maxStored, bytes.length);
      maxDecoded = Math.max(maxDecoded, json.length);
    }
    cursor = page.cursor;
  } while (cursor);
  const m = (n: number) => `${(n / MiB).toFixed(2)} MiB`;
  console.log(
    `directory objects: ${count}, stored ${m(stored)} (largest ${m(maxStored)}), ` +
      `decoded ${m(decoded)} (largest ${m(maxDecoded)})`,
  );
  // Spilled xattrs (since session 21): the values the directory objects name.
  let values = 0, valueBytes = 0;
  cursor = null;
  do {
    const page = await store.list({ prefix: "x/", ...(cursor ? { cursor } : {}) });
    values += page.objects.length;
    for (const info of page.objects) valueBytes += info.size;
    cursor = page.cursor;
  } while (cursor);
  console.log(`spilled xattr objects: ${values}, stored ${m(valueBytes)}`);
}

async function say(what: string, since?: number) {
  await server.ready;
  const s = since === undefined ? "" : ` (${((performance.now() - since) / 1000).toFixed(1)} s)`;
  let mem = "server gone";
  try {
    const status = Deno.readTextFileSync(`/proc/${server.child.pid}/status`);
    const mib = (field: string) =>
      Math.round(Number(status.match(new RegExp(`${field}:\\s+(\\d+) kB`))![1]) / 1024);
    mem = `RSS ${mib("VmRSS")} MiB, peak ${mib("VmHWM")} MiB`;
  } catch {
    // The server died.
  }
  console.log(`${what.padEnd(44)} ${mem}${s}`);
}

/**
 * `base` with a suffix that makes the name end a compressed chunk of its directory object
 * (`endsChunk` in src/format/meta.ts, an FNV-1a hash mod 32): what a writer who read the
 * code would pick, so that no entry sits in the stored (uncompressed) growing chunk.
 */
function chunkEnding(base: string): string {
  for (let i = 0;; i++) {
    const name = `${base}-${i}`;
    let hash = 0x811c9dc5;
    for (let j = 0; j < name.length; j++) hash = Math.imul(hash ^ name.charCodeAt(j), 16777619);
    if ((hash >>> 0) % 32 === 0) return name;
  }
}

function pad(i: number): string {
  return String(i).padStart(6, "0");
}

async function parallel(items: string[], step: (item: string) => Promise<unknown>) {
  let next = 0;
  await Promise.all(Array.from({ length: CONC }, async () => {
    while (next < items.length) await step(items[next++]!);
  }));
}
