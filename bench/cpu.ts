/**
 * CPU per request: the PageFS server's CPU time (user + system, from /proc) per small-file
 * operation through WebDAV (or the HTTP API, BENCH_CPU_FRONT=http) at c=16, next to the S3
 * requests it made, and the CPU the same
 * S3Store spends in this process per direct 4 KiB PutObject / GetObject. On a shared 2-core
 * machine CPU time per operation moves far less than operations per second, so it is the
 * figure to compare before and after a change to the request path; to compare two copies
 * of the code side by side, name their directories in BENCH_CPU_ROOTS (comma-separated,
 * each ending in "/"): the rounds then alternate between them.
 *
 * `bash infra/s3-server.sh run -- deno run --allow-all bench/cpu.ts`. Knobs: BENCH_CPU_OPS
 * (default 600 per phase and round), BENCH_CPU_ROUNDS (3), BENCH_CPU_PHASES (default
 * "s3,put,get,create"; "dirsize" adds creates into an empty directory and into one of
 * BENCH_CPU_FULL_DIR entries, default 5,000, filled once untimed), BENCH_SERVER_FLAGS as
 * for bench/compare.ts.
 *
 * @module
 */

import { S3Store } from "../src/store/mod.ts";
import { s3FromEnv } from "./_s3_env.ts";
import { metricsDelta, type Proc, startPageFs } from "./compare_lib.ts";

const s3Base = s3FromEnv("run under infra/s3-server.sh run --");
const N = Number(Deno.env.get("BENCH_CPU_OPS") ?? 600);
const ROUNDS = Number(Deno.env.get("BENCH_CPU_ROUNDS") ?? 3);
const ONLY = (Deno.env.get("BENCH_CPU_PHASES") ?? "s3,put,get,create").split(",");
const FULL_DIR = Number(Deno.env.get("BENCH_CPU_FULL_DIR") ?? 5000);
const ROOTS = (Deno.env.get("BENCH_CPU_ROOTS") ?? "").split(",").filter((r) => r !== "");
/** The front end driven: `dav` (WebDAV, the default) or `http` (the HTTP file API). */
const FRONT = Deno.env.get("BENCH_CPU_FRONT") ?? "dav";
if (FRONT !== "dav" && FRONT !== "http") throw new Error("BENCH_CPU_FRONT is dav or http");
const MOUNT = FRONT === "dav" ? "/dav" : "/api/v1/fs";
const LABEL = FRONT === "dav" ? "PageFS WebDAV" : "PageFS HTTP API";
/** A directory (`url` ends with "/"): MKCOL through WebDAV, `PUT dir/` through the HTTP API. */
const mkdir = (url: string) => send(url, { method: FRONT === "dav" ? "MKCOL" : "PUT" });
const C = 16;
const TICK_MS = 10; // USER_HZ is 100 on Linux
/**
 * The S3 server's pids (comma-separated: for Ceph RGW, radosgw and ceph-osd), when known:
 * their CPU per operation is then a column too.
 */
const S3_PIDS = (Deno.env.get("BENCH_CPU_S3_PID") ?? "").split(",").filter((p) => p !== "")
  .map(Number);
const S3_PID = S3_PIDS.length > 0 ? S3_PIDS : null;
const s3CpuMs = () => S3_PIDS.reduce((sum, pid) => sum + cpuMs(pid), 0);

function cpuMs(pid: number | "self"): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

async function pool(n: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: C }, async () => {
    while (next < n) await fn(next++);
  }));
}

/** A request, sent again (after a pause) while it is answered 503 (EAGAIN: contention). */
async function send(url: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 1;; attempt++) {
    const res = await fetch(url, init);
    if (res.status !== 503 || attempt === 5) return res;
    await res.body?.cancel();
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
  }
}

async function check(res: Response, ok: number[], what: string): Promise<void> {
  await res.body?.cancel();
  if (!ok.includes(res.status)) throw new Error(`${what}: ${res.status}`);
}

interface Sample {
  rate: number;
  cpu: number;
  /** The S3 server's CPU ms per operation, when BENCH_CPU_S3_PID names it. */
  s3cpu: number | null;
  requests: string;
}
/** Samples by row name, then by code root. */
const samples = new Map<string, Map<string, Sample[]>>();
function record(name: string, root: string, sample: Sample): void {
  const byRoot = samples.get(name) ?? new Map<string, Sample[]>();
  samples.set(name, byRoot);
  byRoot.set(root, [...(byRoot.get(root) ?? []), sample]);
  const s3cpu = sample.s3cpu === null ? "" : `, S3 server ${sample.s3cpu.toFixed(2)} ms`;
  console.error(
    `${name} [${root}]: ${sample.rate.toFixed(0)}/s, ${sample.cpu.toFixed(2)} ms CPU${s3cpu}`,
  );
}

async function phase(pid: number | "self", fn: () => Promise<void>) {
  const cpu0 = cpuMs(pid);
  const s30 = s3CpuMs();
  const t0 = performance.now();
  await fn();
  return {
    rate: N / ((performance.now() - t0) / 1000),
    cpu: (cpuMs(pid) - cpu0) / N,
    s3cpu: S3_PID === null ? null : (s3CpuMs() - s30) / N,
  };
}

const body = new Uint8Array(4096).fill(97);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const s3 = ONLY.includes("s3")
  ? new S3Store({ ...s3Base, bucket: `pagefs-cpu-s3-${crypto.randomUUID().slice(0, 8)}` })
  : null;
await s3?.createBucket();

const servers: { root: string; proc: Proc }[] = [];
for (const root of ROOTS.length > 0 ? ROOTS : [""]) {
  const bucket = `pagefs-cpu-dav-${crypto.randomUUID().slice(0, 8)}`;
  await new S3Store({ ...s3Base, bucket }).createBucket();
  const proc = await (root ? startPageFs({ ...s3Base, bucket }, root) : startPageFs({
    ...s3Base,
    bucket,
  }));
  servers.push({ root: root || "this", proc });
}

try {
  for (let round = 0; round < ROUNDS; round++) {
    if (s3) {
      await pool(C, (i) => s3.put(`warm/${i}`, body).then(() => {}));
      const put = await phase(
        "self",
        () => pool(N, (i) => s3.put(`put${round}/${i}`, body).then(() => {})),
      );
      record("direct S3 4 KiB PutObject (bench process)", "-", { ...put, requests: "1" });
      const get = await phase("self", () =>
        pool(N, async (i) => {
          const r = await s3.get(`put${round}/${i}`);
          if (r?.status === "ok") await new Response(r.body).arrayBuffer();
        }));
      record("direct S3 4 KiB GetObject (bench process)", "-", { ...get, requests: "1" });
    }
    for (const { root, proc } of servers) {
      const dav = `${proc.url()}${MOUNT}/r${round}`;
      const pid = proc.pid();
      for (const d of ["", "/put", "/many", "/warm"]) {
        await check(await mkdir(`${dav}${d}/`), [201], "MKCOL");
      }
      await pool(C * 2, async (i) => {
        await check(await fetch(`${dav}/warm/${i}`, { method: "PUT", body }), [201], "PUT");
        await check(await fetch(`${dav}/warm/${i}`), [200], "GET");
      });
      const measure = async (key: string, name: string, fn: () => Promise<void>) => {
        if (!ONLY.includes(key)) return;
        const m0 = await proc.metrics!();
        const r = await phase(pid, fn);
        const d = metricsDelta(m0, await proc.metrics!());
        const requests = [...d.ops].map(([op, n]) => `${op} ${(n / N).toFixed(2)}`).join(", ");
        record(name, root, { ...r, requests });
      };
      const put = async (i: number) => {
        await check(await fetch(`${dav}/put/${i}`, { method: "PUT", body }), [201], "PUT");
      };
      await measure("put", `${LABEL} 4 KiB PUT (new files, one dir)`, () => pool(N, put));
      if (!ONLY.includes("put") && ONLY.includes("get")) await pool(N, put);
      await measure("get", `${LABEL} 4 KiB GET`, () =>
        pool(N, async (i) => {
          const res = await fetch(`${dav}/put/${i}`);
          const got = (await res.arrayBuffer()).byteLength;
          if (res.status !== 200 || got !== 4096) throw new Error(`GET: ${res.status} ${got}`);
        }));
      if (ONLY.includes("dirsize")) {
        const full = `${proc.url()}${MOUNT}/full`;
        if (round === 0) {
          await check(await mkdir(`${full}/`), [201], "MKCOL");
          await pool(FULL_DIR, async (i) => {
            await check(await send(`${full}/f${i}`, { method: "PUT", body: "x" }), [201], "PUT");
          });
        }
        await check(await mkdir(`${dav}/empty/`), [201], "MKCOL");
        for (
          const [dir, name] of [[`${dav}/empty`, "an empty dir"], [full, `a dir of ${FULL_DIR}`]]
        ) {
          await measure(
            "dirsize",
            `${LABEL} create 1-byte files into ${name}`,
            () =>
              pool(N, async (i) => {
                const res = await send(`${dir}/r${round}n${i}`, { method: "PUT", body: "x" });
                await check(res, [201], "PUT");
              }),
          );
        }
      }
      await measure(
        "create",
        `${LABEL} create 1-byte files (one dir)`,
        () =>
          pool(N, async (i) => {
            const res = await fetch(`${dav}/many/${i}`, { method: "PUT", body: "x" });
            await check(res, [201], "PUT");
          }),
      );
    }
  }
} finally {
  for (const { proc } of servers) await proc.close();
}

console.log(`\nbench/cpu.ts: ${N} operations per row and round, c=${C}, medians of ${ROUNDS}\n`);
console.log(
  "| operation | code | ops/s | CPU ms per op | S3 server CPU ms per op | S3 requests per op |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const [name, byRoot] of samples) {
  for (const [root, list] of byRoot) {
    const rate = median(list.map((s) => s.rate)).toFixed(0);
    const cpu = median(list.map((s) => s.cpu)).toFixed(2);
    const s3cpu = S3_PID === null ? "—" : median(list.map((s) => s.s3cpu ?? 0)).toFixed(2);
    console.log(`| ${name} | ${root} | ${rate} | ${cpu} | ${s3cpu} | ${list.at(-1)!.requests} |`);
  }
}
