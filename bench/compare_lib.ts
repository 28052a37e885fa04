/**
 * The processes `bench/compare.ts` measures: PageFS (`main.ts --listen`) and `rclone serve
 * webdav`, each on its own bucket, and the bare server of its floor column
 * (`_bare_server.ts`); PageFS's /metrics; peak RSS from /proc.
 *
 * @module
 */

export type SystemKey = "s3" | "rclone" | "bare" | "dav" | "http";
export type Op = string;

/** S3 requests by operation, their sum, the writes among them, and bytes uploaded. */
export interface Metrics {
  readonly ops: Map<Op, number>;
  readonly total: number;
  readonly writes: number;
  readonly uploadBytes: number;
}

/** A server process under measurement. */
export interface Proc {
  /** `http://127.0.0.1:PORT` (changes on restart). */
  url(): string;
  pid(): number;
  /** S3 requests made since the process started (PageFS's /metrics). */
  readonly metrics?: () => Promise<Metrics>;
  /** Stops the process and starts a fresh one on the same bucket (nothing cached). */
  readonly restart?: () => Promise<void>;
  close(): Promise<void>;
}

export interface S3Settings {
  readonly bucket: string;
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

/** `n` with `digits` decimals, without trailing noise. */
export function fixed(n: number, digits: number): string {
  return n.toFixed(digits);
}

const WRITE = /^(Put|Delete|Copy|CreateMultipart|UploadPart|CompleteMultipart|AbortMultipart)/;

function metricsOf(ops: Map<Op, number>, uploadBytes: number): Metrics {
  let total = 0;
  let writes = 0;
  for (const [op, n] of ops) {
    total += n;
    if (WRITE.test(op)) writes += n;
  }
  return { ops, total, writes, uploadBytes };
}

/** What happened between two readings of /metrics. */
export function metricsDelta(before: Metrics, after: Metrics): Metrics {
  const ops = new Map<Op, number>();
  for (const [op, n] of after.ops) {
    const d = n - (before.ops.get(op) ?? 0);
    if (d > 0) ops.set(op, d);
  }
  return metricsOf(ops, after.uploadBytes - before.uploadBytes);
}

/** Parses PageFS's Prometheus text. */
export function parseMetrics(text: string): Metrics {
  const ops = new Map<Op, number>();
  for (const m of text.matchAll(/^pagefs_s3_requests_total\{op="(\w+)"\} (\d+)$/gm)) {
    ops.set(m[1]!, Number(m[2]));
  }
  const up = text.match(/^pagefs_s3_bytes_total\{direction="upload"\} (\d+)$/m);
  return metricsOf(ops, Number(up?.[1] ?? 0));
}

function status(pid: number): string | null {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/status`);
  } catch {
    return null;
  }
}

function kib(text: string | null, field: string): number | null {
  const m = text?.match(new RegExp(`${field}:\\s+(\\d+) kB`));
  return m ? Number(m[1]) * 1024 : null;
}

/**
 * Watches a process's resident memory: resets its high-water mark (`/proc/PID/clear_refs`,
 * "5") and samples VmRSS every 25 ms; `stop()` gives the larger of the sampled peak and
 * VmHWM (when the reset worked), in bytes, or null when nothing could be read.
 */
export function rssWatch(pid: number): { stop(): number | null } {
  let reset = false;
  try {
    Deno.writeTextFileSync(`/proc/${pid}/clear_refs`, "5");
    reset = true;
  } catch {
    // Not permitted here: the samples alone.
  }
  let peak = kib(status(pid), "VmRSS") ?? 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, kib(status(pid), "VmRSS") ?? 0);
  }, 25);
  return {
    stop() {
      clearInterval(timer);
      const text = status(pid);
      peak = Math.max(peak, kib(text, "VmRSS") ?? 0);
      if (reset) peak = Math.max(peak, kib(text, "VmHWM") ?? 0);
      return peak || null;
    },
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Keeps the last 64 KiB a process wrote, for error messages. */
function tail(stream: ReadableStream<Uint8Array>): () => string {
  let text = "";
  const decoder = new TextDecoder();
  (async () => {
    try {
      for await (const chunk of stream) {
        text += decoder.decode(chunk, { stream: true });
        if (text.length > 128 * 1024) text = text.slice(-64 * 1024);
      }
    } catch {
      // Killed mid-write.
    }
  })();
  return () => text;
}

interface Child {
  readonly process: Deno.ChildProcess;
  readonly url: string;
  readonly stderr: () => string;
}

async function stopChild(child: Child): Promise<void> {
  try {
    child.process.kill("SIGTERM");
  } catch {
    // Gone already.
  }
  const timer = setTimeout(() => {
    try {
      child.process.kill("SIGKILL");
    } catch {
      // Gone already.
    }
  }, 10_000);
  await child.process.status;
  clearTimeout(timer);
}

async function waitReady(child: Child, ready: () => Promise<boolean>, what: string) {
  let exited = false;
  child.process.status.then(() => exited = true);
  for (let i = 0; i < 300; i++) {
    if (exited) break;
    if (await ready().catch(() => false)) return;
    await delay(100);
  }
  await stopChild(child);
  throw new Error(`${what} did not start: ${child.stderr().slice(-500) || "(no stderr)"}`);
}

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);

/** The environment minus PAGEFS_* and AWS_* (and AWS_CA_BUNDLE, which breaks rclone). */
function inherited(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) =>
      !name.startsWith("PAGEFS_") && !name.startsWith("AWS_") && !name.startsWith("RCLONE_")
    ),
  );
}

/**
 * Disk tier given to each PageFS server (`PAGEFS_CACHE_DIR`), MiB: room for the big file
 * twice over (a 1 GiB re-read must fit whole, or LRU evicts each block before its turn).
 */
export const CACHE_DISK_MIB = String(
  Math.max(1024, 3 * Number(Deno.env.get("BENCH_BIG_MIB") ?? 256)),
);

/** PageFS's memory budget (`BENCH_MEMORY_MIB`, MiB); unset: PageFS's default. */
const MEMORY_MIB = Deno.env.get("BENCH_MEMORY_MIB") ?? "";

/** Whether PageFS runs with a disk tier (`BENCH_DISK_TIER=1`; default 0: memory only, as configured by default). */
export const DISK_TIER = (Deno.env.get("BENCH_DISK_TIER") ?? "0") === "1";

/**
 * The V8 flags `deno task start` runs PageFS with (deno.json): young-generation semi-spaces
 * of at most 4 MiB, and a heap grown to twice what is live at most (docs/architecture.md,
 * memory).
 */
export const SERVER_V8_FLAGS = ["--v8-flags=--max-semi-space-size=4,--heap-growing-percent=100"];

/**
 * The environment `deno task start` adds (deno.json): glibc's malloc with a fixed mmap
 * threshold of 256 KiB, so that freed large buffers go back to the system instead of
 * staying in its heap (docs/architecture.md, memory).
 */
export const SERVER_ENV = { MALLOC_MMAP_THRESHOLD_: "262144" };

async function spawnPageFs(s3: S3Settings, root: string, cacheDir: string | null): Promise<Child> {
  const port = freePort();
  // BENCH_SERVER_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the server: it
  // then runs through a wrapper that exits on SIGTERM, so that the profile gets written.
  const extra = (Deno.env.get("BENCH_SERVER_FLAGS") ?? "").split(" ").filter((f) => f !== "");
  const entry = extra.length > 0 ? `${root}bench/_profiled_main.ts` : `${root}main.ts`;
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      ...SERVER_V8_FLAGS,
      ...extra,
      entry,
      "--listen",
    ],
    cwd: root,
    clearEnv: true,
    env: {
      ...inherited(),
      ...SERVER_ENV,
      NO_COLOR: "1",
      PORT: String(port),
      HOST: "127.0.0.1",
      PAGEFS_BUCKET: s3.bucket,
      PAGEFS_METRICS_PUBLIC: "true",
      ...(cacheDir ? { PAGEFS_CACHE_DIR: cacheDir, PAGEFS_CACHE_DISK_MIB: CACHE_DISK_MIB } : {}),
      ...(MEMORY_MIB ? { PAGEFS_MEMORY_MIB: MEMORY_MIB } : {}),
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_REGION: s3.region,
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  });
  return await spawnHealthy(command, port, "PageFS");
}

/** Starts `command` (a server on `port`, stderr piped) and waits until /healthz is 200. */
async function spawnHealthy(command: Deno.Command, port: number, what: string): Promise<Child> {
  const process = command.spawn();
  const child = { process, url: `http://127.0.0.1:${port}`, stderr: tail(process.stderr) };
  await waitReady(child, async () => {
    const res = await fetch(`${child.url}/healthz`, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.status === 200;
  }, what);
  return child;
}

/**
 * `main.ts --listen` on `s3.bucket`, loopback, without users (so /metrics answers); `root`
 * (a directory ending in "/") runs another copy of the code, for before/after comparisons.
 */
export async function startPageFs(s3: S3Settings, root = ROOT): Promise<Proc> {
  // Its own disk cache, kept across the restart before a cold read (the file read cold
  // was only written, never read, so nothing of it is there), removed at the end.
  const cacheDir = DISK_TIER ? await Deno.makeTempDir({ prefix: "pagefs-bench-cache-" }) : null;
  let child = await spawnPageFs(s3, root, cacheDir);
  return {
    url: () => child.url,
    pid: () => child.process.pid,
    async metrics() {
      const res = await fetch(`${child.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
      if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
      return parseMetrics(await res.text());
    },
    async restart() {
      await stopChild(child);
      child = await spawnPageFs(s3, root, cacheDir);
    },
    async close() {
      await stopChild(child);
      if (cacheDir) await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * `rclone serve webdav` over an S3 remote (provider Ceph, path style) configured by
 * environment variables, durable (`--vfs-cache-mode off`: a PUT is answered once the
 * object is in S3). `--dir-cache-time 1h` so that repeated listings are served from its
 * directory cache (the default 5 min could expire in the middle of a run).
 */
export async function startRclone(s3: S3Settings): Promise<Proc> {
  const port = freePort();
  const process = new Deno.Command("rclone", {
    args: [
      "serve",
      "webdav",
      `rgw:${s3.bucket}`,
      "--addr",
      `127.0.0.1:${port}`,
      "--vfs-cache-mode",
      "off",
      "--dir-cache-time",
      "1h",
    ],
    clearEnv: true,
    env: {
      ...inherited(),
      RCLONE_CONFIG: "/dev/null",
      RCLONE_CONFIG_RGW_TYPE: "s3",
      RCLONE_CONFIG_RGW_PROVIDER: "Ceph",
      RCLONE_CONFIG_RGW_ENDPOINT: s3.endpoint,
      RCLONE_CONFIG_RGW_REGION: s3.region,
      RCLONE_CONFIG_RGW_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      RCLONE_CONFIG_RGW_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      RCLONE_CONFIG_RGW_FORCE_PATH_STYLE: "true",
    },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const child = { process, url: `http://127.0.0.1:${port}`, stderr: tail(process.stderr) };
  await waitReady(child, async () => {
    const res = await fetch(`${child.url}/`, {
      method: "PROPFIND",
      headers: { depth: "0" },
      signal: AbortSignal.timeout(2000),
    });
    await res.body?.cancel();
    return res.status === 207;
  }, "rclone serve webdav");
  return {
    url: () => child.url,
    pid: () => child.process.pid,
    close: () => stopChild(child),
  };
}

/**
 * The floor: `bench/_bare_server.ts` (a `Deno.serve` that keeps nothing but sizes), run as
 * PageFS is (same runtime, same V8 flags), so that its figures are what this machine's HTTP
 * stack and client cost without any file server behind them.
 */
export async function startBare(): Promise<Proc> {
  const port = freePort();
  const command = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", ...SERVER_V8_FLAGS, `${ROOT}bench/_bare_server.ts`],
    clearEnv: true,
    env: { ...inherited(), ...SERVER_ENV, NO_COLOR: "1", PORT: String(port), HOST: "127.0.0.1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  });
  const child = await spawnHealthy(command, port, "the bare server");
  return {
    url: () => child.url,
    pid: () => child.process.pid,
    close: () => stopChild(child),
  };
}
