/**
 * `deno task bench:dav`: PROPFIND Depth 1 on a directory of many files (default 10,000),
 * through a real PageFS server process (`main.ts --listen` on a real S3 server) and through
 * `rclone serve webdav` over the same bucket: seconds, PROPFINDs/s, entries/s, response
 * bytes and the S3 requests each PROPFIND costs, cold (first call after a fresh process
 * start, nothing cached) and warm (median of sequential calls, servers interleaved).
 *
 * PageFS keeps its own format under the prefix `pagefs/`; rclone serves plain objects of
 * the same names and sizes under `plain/`. PageFS's S3 requests come from its /metrics;
 * rclone's from its `--dump headers` log (one "HTTP REQUEST" block per S3 request, read
 * by byte offset before and after each PROPFIND). Dumping makes rclone log at -vv, which
 * slows it, so one more rclone process runs without it: its times are rclone's real ones.
 * rclone rows: defaults (mtime from object metadata: a HEAD per file), with
 * `--use-server-modtime`, the same with a PROPFIND body without `getcontenttype` (rclone
 * needs a HEAD per file for the content type), and defaults without `--dump`. All use
 * `--dir-cache-time 1h` so that warm calls are served from rclone's cache.
 *
 * Environment: BENCH_DAV_FILES (default 10000), BENCH_DAV_ROUNDS (warm calls per server,
 * default 5), BENCH_DAV_SIZE (bytes per file, default 100).
 *
 * @module
 */

import { S3Store } from "../src/store/mod.ts";

const FILES = Number(Deno.env.get("BENCH_DAV_FILES") ?? 10_000);
const ROUNDS = Number(Deno.env.get("BENCH_DAV_ROUNDS") ?? 5);
const SIZE = Number(Deno.env.get("BENCH_DAV_SIZE") ?? 100);
const IN_FLIGHT = 32;
const DIR = "d";
const endpoint = Deno.env.get("AWS_ENDPOINT_URL_S3") ?? Deno.env.get("AWS_ENDPOINT_URL");
if (!endpoint) throw new Error("No S3 endpoint: run `deno task bench:dav`");
const region = Deno.env.get("AWS_REGION") ?? "us-east-1";
const accessKeyId = Deno.env.get("AWS_ACCESS_KEY_ID") ?? "";
const secretAccessKey = Deno.env.get("AWS_SECRET_ACCESS_KEY") ?? "";
const bucket = `pagefs-dav-${crypto.randomUUID().slice(0, 8)}`;
const storeOptions = {
  bucket,
  endpoint,
  forcePathStyle: true,
  region,
  credentials: { accessKeyId, secretAccessKey },
};
const s3 = new S3Store(storeOptions);
const plain = new S3Store({ ...storeOptions, prefix: "plain/" });

/** What rclone sends (rclone's webdav backend, listing a directory). */
const PROPFIND_BODY = '<?xml version="1.0"?>' +
  '<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" ' +
  'xmlns:nc="http://nextcloud.org/ns"><d:prop><d:displayname/><d:getlastmodified/>' +
  "<d:getcontentlength/><d:resourcetype/><d:getcontenttype/><d:getetag/></d:prop></d:propfind>";

const name = (i: number) => `f${String(i).padStart(6, "0")}.txt`;
const content = (i: number) => {
  const bytes = new Uint8Array(SIZE).fill(0x61 + (i % 26));
  bytes.set(new TextEncoder().encode(`${i}\n`).subarray(0, SIZE));
  return bytes;
};

type Counts = Map<string, number>;

interface Server {
  readonly label: string;
  readonly process: Deno.ChildProcess;
  /** The directory to PROPFIND. */
  readonly url: string;
  /** The PROPFIND body sent to it. */
  readonly body: string;
  /** Whether {@linkcode counts} counts anything. */
  readonly counted: boolean;
  /** S3 requests made since the process started, by operation. */
  counts(): Promise<Counts>;
  close(): Promise<void>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function waitFor(ready: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (await ready().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start`);
}

function vmHwmMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Math.round(Number(status.match(/VmHWM:\s+(\d+) kB/)![1]) / 1024);
}

async function stop(process: Deno.ChildProcess): Promise<void> {
  try {
    process.kill("SIGTERM");
  } catch { /* already gone */ }
  await process.status;
}

async function startPageFs(label: string): Promise<Server> {
  const port = freePort();
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "main.ts", "--listen"],
    env: {
      PAGEFS_BUCKET: bucket,
      PAGEFS_PREFIX: "pagefs/",
      PORT: String(port),
      HOST: "127.0.0.1",
    },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  await waitFor(
    () => fetch(`${base}/healthz`).then(async (r) => (await r.body?.cancel(), r.ok)),
    label,
  );
  return {
    label,
    process,
    url: `${base}/dav/${DIR}/`,
    body: PROPFIND_BODY,
    counted: true,
    async counts() {
      const text = await (await fetch(`${base}/metrics`)).text();
      const counts: Counts = new Map();
      for (const m of text.matchAll(/^pagefs_s3_requests_total\{op="(\w+)"\} (\d+)$/gm)) {
        counts.set(m[1]!, Number(m[2]));
      }
      return counts;
    },
    close: () => stop(process),
  };
}

/** Names an S3 request from rclone's dump line ("GET /bucket/key?query HTTP/1.1"). */
function s3Operation(method: string, target: string): string {
  const [path = "", query = ""] = target.split("?", 2);
  const isBucket = path.split("/").filter(Boolean).length <= 1;
  if (method === "HEAD") return isBucket ? "HeadBucket" : "HeadObject";
  if (method === "GET" && isBucket) {
    return /(^|&)list-type=2(&|$)/.test(query) ? "ListObjectsV2" : "ListObjects";
  }
  if (method === "GET") return "GetObject";
  if (method === "PUT") return "PutObject";
  return method;
}

async function startRclone(
  label: string,
  flags: string[],
  { body = PROPFIND_BODY, dump = true }: { body?: string; dump?: boolean } = {},
): Promise<Server> {
  const port = freePort();
  const log = await Deno.makeTempFile({ prefix: "bench-dav-rclone-", suffix: ".log" });
  const process = new Deno.Command("rclone", {
    args: [
      "serve",
      "webdav",
      `s3:${bucket}/plain`,
      "--addr",
      `127.0.0.1:${port}`,
      ...(dump ? ["--dump", "headers"] : []),
      "--log-file",
      log,
      ...flags,
    ],
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/tmp",
      RCLONE_CONFIG: "/nonexistent/rclone.conf",
      RCLONE_CONFIG_S3_TYPE: "s3",
      RCLONE_CONFIG_S3_PROVIDER: "Ceph",
      RCLONE_CONFIG_S3_ENDPOINT: endpoint!,
      RCLONE_CONFIG_S3_ACCESS_KEY_ID: accessKeyId,
      RCLONE_CONFIG_S3_SECRET_ACCESS_KEY: secretAccessKey,
      RCLONE_CONFIG_S3_REGION: region,
      RCLONE_CONFIG_S3_FORCE_PATH_STYLE: "true",
    },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  await waitFor(async () => {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  }, label);
  // The log is read incrementally: an "HTTP REQUEST" line, then the request line.
  const counts: Counts = new Map();
  let offset = 0;
  let pending = "";
  let expectRequestLine = false;
  const decoder = new TextDecoder();
  return {
    label,
    process,
    url: `http://127.0.0.1:${port}/${DIR}/`,
    body,
    counted: dump,
    async counts() {
      const file = await Deno.open(log);
      try {
        await file.seek(offset, Deno.SeekMode.Start);
        const buf = new Uint8Array(1 << 20);
        for (let n; (n = await file.read(buf)) !== null;) {
          pending += decoder.decode(buf.subarray(0, n), { stream: true });
          offset += n;
        }
      } finally {
        file.close();
      }
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (expectRequestLine) {
          expectRequestLine = false;
          const m = line.match(/DEBUG : ([A-Z]+) (\S+) HTTP\/[\d.]+\s*$/);
          const op = m ? s3Operation(m[1]!, m[2]!) : "unparsed";
          counts.set(op, (counts.get(op) ?? 0) + 1);
        } else if (/DEBUG : HTTP REQUEST \(req /.test(line)) {
          expectRequestLine = true;
        }
      }
      return new Map(counts);
    },
    async close() {
      await stop(process);
      await Deno.remove(log).catch(() => {});
    },
  };
}

function delta(after: Counts, before: Counts): Counts {
  const d: Counts = new Map();
  for (const [op, n] of after) {
    if (n - (before.get(op) ?? 0) > 0) d.set(op, n - (before.get(op) ?? 0));
  }
  return d;
}

const total = (c: Counts) => [...c.values()].reduce((a, b) => a + b, 0);
const show = (c: Counts, per = 1) =>
  [...c].sort().map(([op, n]) => `${op} ${+(n / per).toFixed(1)}`).join(", ") || "none";

interface Call {
  seconds: number;
  bytes: number;
  entries: number;
  s3: Counts;
}

async function propfind(server: Server): Promise<Call> {
  const before = await server.counts();
  const start = performance.now();
  const res = await fetch(server.url, {
    method: "PROPFIND",
    headers: { depth: "1", "content-type": "application/xml; charset=utf-8" },
    body: server.body,
    signal: AbortSignal.timeout(15 * 60_000),
  });
  const body = new Uint8Array(await res.arrayBuffer());
  const seconds = (performance.now() - start) / 1000;
  const s3 = delta(await server.counts(), before);
  const text = new TextDecoder().decode(body);
  if (res.status !== 207) {
    throw new Error(`${server.label}: PROPFIND answered ${res.status}: ${text.slice(0, 500)}`);
  }
  // The directory itself is the first response; the rest are its members.
  const entries = (text.match(/<(?:[\w.-]+:)?response[\s>]/g) ?? []).length - 1;
  if (entries !== FILES) throw new Error(`${server.label}: listed ${entries}, not ${FILES}`);
  for (const i of [1, FILES]) {
    if (!text.includes(name(i))) throw new Error(`${server.label}: ${name(i)} missing`);
  }
  return { seconds, bytes: body.length, entries, s3 };
}

async function pool(n: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 1;
  const worker = async () => {
    while (next <= n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(IN_FLIGHT, n) }, worker));
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

await s3.createBucket();
const servers: Server[] = [];
try {
  // 1. The files: through PageFS's HTTP API, and as plain objects for rclone.
  const loader = await startPageFs("PageFS (loader)");
  servers.push(loader);
  const api = loader.url.replace(`/dav/${DIR}/`, "/api/v1/fs/");
  const mkdir = await fetch(`${api}${DIR}/`, { method: "PUT" });
  await mkdir.body?.cancel();
  if (!mkdir.ok) throw new Error(`mkdir answered ${mkdir.status}`);
  const loadStart = await loader.counts();
  const pageFsLoad = await timed(() =>
    pool(FILES, async (i) => {
      const res = await fetch(`${api}${DIR}/${name(i)}`, { method: "PUT", body: content(i) });
      await res.body?.cancel();
      if (res.status !== 201) throw new Error(`PUT ${name(i)} answered ${res.status}`);
    })
  );
  const loadS3 = delta(await loader.counts(), loadStart);
  await loader.close();
  servers.splice(servers.indexOf(loader), 1);
  const plainLoad = await timed(() =>
    pool(FILES, async (i) => void await plain.put(`${DIR}/${name(i)}`, content(i)))
  );
  console.log(
    `${FILES} files of ${SIZE} bytes, ${IN_FLIGHT} in flight: ${pageFsLoad.toFixed(1)} s through ` +
      `PageFS's HTTP API (${(FILES / pageFsLoad).toFixed(0)} files/s, ${
        total(loadS3)
      } S3 requests: ${show(loadS3)}); ${plainLoad.toFixed(1)} s as plain S3 PutObjects (${
        (FILES / plainLoad).toFixed(0)
      } objects/s)`,
  );

  // 2. Cold: a fresh process each, its first PROPFIND.
  // rclone keeps listings for --dir-cache-time (default 5 min): 1 h here, so that the warm
  // calls are always served from its cache however long the cold calls before them take.
  // A short cache time is no option: the webdav layer stats every member, and each stat
  // of a stale directory lists it again (quadratic in S3 LISTs).
  const cache = ["--dir-cache-time", "1h"];
  const setups: (() => Promise<Server>)[] = [
    () => startPageFs("PageFS"),
    () => startRclone("rclone", cache),
    () => startRclone("rclone --use-server-modtime", [...cache, "--use-server-modtime"]),
    () =>
      startRclone(
        "rclone --use-server-modtime, no getcontenttype",
        [...cache, "--use-server-modtime"],
        { body: PROPFIND_BODY.replace("<d:getcontenttype/>", "") },
      ),
    // The same as "rclone" without --dump, to see what dumping the headers costs.
    () => startRclone("rclone without --dump (not counted)", cache, { dump: false }),
  ];
  const cold = new Map<Server, Call>();
  const startup = new Map<Server, Counts>();
  for (const start of setups) {
    const server = await start();
    servers.push(server);
    startup.set(server, await server.counts());
    cold.set(server, await propfind(server));
  }

  // 3. Warm: one untimed call each, then ROUNDS rounds, servers interleaved (rotating).
  for (const server of servers) await propfind(server);
  const warm = new Map<Server, Call[]>(servers.map((s) => [s, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < servers.length; k++) {
      const server = servers[(r + k) % servers.length]!;
      warm.get(server)!.push(await propfind(server));
    }
  }

  // 4. The table.
  const rows = servers.map((server) => {
    const c = cold.get(server)!;
    const calls = warm.get(server)!;
    const m = median(calls.map((w) => w.seconds));
    const warmS3: Counts = new Map();
    for (const w of calls) for (const [op, n] of w.s3) warmS3.set(op, (warmS3.get(op) ?? 0) + n);
    return {
      server: server.label,
      "cold s": c.seconds.toFixed(3),
      "cold S3 req": server.counted ? String(total(c.s3)) : "n/a",
      "warm median s": m.toFixed(3),
      "warm PROPFIND/s": (1 / m).toFixed(2),
      "warm entries/s": (c.entries / m).toFixed(0),
      "warm S3 req/PROPFIND": server.counted ? (total(warmS3) / calls.length).toFixed(1) : "n/a",
      entries: String(c.entries),
      "response bytes": String(calls[0]!.bytes),
      "peak RSS MiB": String(vmHwmMiB(server.process.pid)),
      detail: `startup ${show(startup.get(server)!)}; cold ${show(c.s3)}; warm ${
        show(warmS3, calls.length)
      } per PROPFIND; warm s ${calls.map((w) => w.seconds.toFixed(3)).join(" ")}`,
    };
  });
  const columns = Object.keys(rows[0]!).filter((k) => k !== "detail") as (keyof typeof rows[0])[];
  const widths = columns.map((k) => Math.max(k.length, ...rows.map((r) => r[k].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ");
  console.log(
    `\nPROPFIND Depth 1 on /${DIR}/ (${FILES} files), cold = first call after a fresh start, ` +
      `warm = median of ${ROUNDS} interleaved calls after one untimed call`,
  );
  console.log(line(columns as string[]));
  console.log(widths.map((w) => "-".repeat(w)).join("-|-"));
  for (const r of rows) console.log(line(columns.map((k) => r[k])));
  console.log("\nS3 requests by operation:");
  for (const [i, r] of rows.entries()) {
    if (servers[i]!.counted) console.log(`  ${r.server}: ${r.detail}`);
  }
} finally {
  for (const server of servers) await server.close();
  const keys: string[] = [];
  for (let cursor: string | null = null;;) {
    const page = await s3.list(cursor ? { cursor } : {});
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.cursor;
    if (!cursor) break;
  }
  await s3.deleteMany(keys);
  await s3.deleteBucket();
}
