/**
 * `deno task bench`: PageFS workloads on a real S3 server, each with the S3 requests and
 * bytes it used (from the metrics wrapper) and, where it means something, its throughput
 * next to direct S3 doing the same with the same concurrency, in the same run.
 *
 * Figures are ratios and counts, not absolute times: these machines are noisy.
 *
 * @module
 */

import { MeteredStore, type MetricsSnapshot, S3Store, StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { directUpload } from "./_direct_upload.ts";
import { removeBucket } from "./_server.ts";

const MiB = 1024 * 1024;
const BIG = Number(Deno.env.get("BENCH_BIG_MIB") ?? 256) * MiB;
const DIR_ENTRIES = Number(Deno.env.get("BENCH_DIR_ENTRIES") ?? 10_000);

const endpoint = Deno.env.get("AWS_ENDPOINT_URL_S3") ?? Deno.env.get("AWS_ENDPOINT_URL");
const s3Options = {
  bucket: `pagefs-bench-${crypto.randomUUID().slice(0, 8)}`,
  forcePathStyle: true,
  region: Deno.env.get("AWS_REGION") ?? "us-east-1",
  ...(endpoint ? { endpoint } : {}),
  credentials: {
    accessKeyId: Deno.env.get("AWS_ACCESS_KEY_ID") ?? "",
    secretAccessKey: Deno.env.get("AWS_SECRET_ACCESS_KEY") ?? "",
  },
};

interface Row {
  workload: string;
  figures: Record<string, string | number>;
  target?: string;
  pass?: boolean;
}
const rows: Row[] = [];

function diff(a: MetricsSnapshot, b: MetricsSnapshot) {
  const ops = new Set([...Object.keys(a.requests), ...Object.keys(b.requests)]);
  const requests: Record<string, number> = {};
  for (const op of ops) {
    const n = ((b.requests as Record<string, number>)[op] ?? 0) -
      ((a.requests as Record<string, number>)[op] ?? 0);
    if (n) requests[op] = n;
  }
  const total = Object.values(requests).reduce((x, y) => x + y, 0);
  const writes = Object.entries(requests).filter(([op]) =>
    /^(Put|Delete|CreateMultipart|UploadPart|CompleteMultipart|AbortMultipart)/.test(op)
  ).reduce((x, [, n]) => x + n, 0);
  const gets = requests.GetObject ?? 0;
  return {
    requests,
    total,
    writes,
    gets,
    up: b.uploadBytes - a.uploadBytes,
    down: b.downloadBytes - a.downloadBytes,
  };
}

/** Measures requests, bytes, time and peak RSS of `fn`. */
async function measure<T>(metrics: StoreMetrics, fn: () => Promise<T>) {
  const before = metrics.snapshot();
  const startRss = Deno.memoryUsage().rss;
  let peak = startRss;
  const sampler = setInterval(() => peak = Math.max(peak, Deno.memoryUsage().rss), 20);
  const start = performance.now();
  const result = await fn();
  const seconds = (performance.now() - start) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, Deno.memoryUsage().rss);
  return { result, seconds, startRss, peakRss: peak, ...diff(before, metrics.snapshot()) };
}

function chunks(total: number, size: number, seed = 1): ReadableStream<Uint8Array> {
  let sent = 0;
  const block = new Uint8Array(size);
  for (let i = 0; i < size; i++) block[i] = (i * 31 + seed) & 0xff;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(size, total - sent);
      block[0] = (sent / size) & 0xff; // vary the content a little
      controller.enqueue(block.slice(0, n));
      sent += n;
    },
  });
}

const mibps = (bytes: number, seconds: number) => +(bytes / MiB / seconds).toFixed(1);

async function main() {
  if (!endpoint) throw new Error("No S3 endpoint: run `deno task bench`");
  const raw = new S3Store(s3Options);
  await raw.createBucket();
  const metrics = new StoreMetrics();
  const store = new MeteredStore(raw, metrics);
  const fs = await Vfs.open(store);
  console.log(`bucket ${s3Options.bucket} on ${endpoint}; big file ${BIG / MiB} MiB`);

  // 1. create and write a 1 KiB file (and a 64 KiB one, for the segment path)
  await fs.mkdir("/small");
  const small = await measure(
    metrics,
    () => fs.writeFile("/small/one-kib", new Uint8Array(1024).fill(1)),
  );
  const medium = await measure(
    metrics,
    () => fs.writeFile("/small/64-kib", new Uint8Array(65536).fill(2)),
  );
  rows.push({
    workload: "create + write 1 KiB file",
    figures: { writes: small.writes, requests: small.total, ...small.requests },
    target: "<= 2 S3 write requests",
    pass: small.writes <= 2,
  });
  rows.push({
    workload: "create + write 64 KiB file",
    figures: { writes: medium.writes, requests: medium.total, ...medium.requests },
  });

  // 2. write BIG sequentially through a handle in 1 MiB writes, then fsync
  const seq = await measure(metrics, async () => {
    const handle = await fs.open("/big", { create: true });
    let at = 0;
    for await (const chunk of chunks(BIG, MiB)) {
      await handle.write(at, chunk);
      at += chunk.length;
    }
    return await handle.fsync();
  });
  const direct = await measure(metrics, () => directUpload(store, "bench/direct-upload", BIG));
  rows.push({
    workload: `write ${BIG / MiB} MiB sequentially, fsync`,
    figures: {
      requests: seq.total,
      ...seq.requests,
      "peak RSS MiB": Math.round(seq.peakRss / MiB),
      "RSS before MiB": Math.round(seq.startRss / MiB),
      "MiB/s": mibps(BIG, seq.seconds),
      "direct S3 multipart MiB/s": mibps(BIG, direct.seconds),
      ratio: +(direct.seconds / seq.seconds).toFixed(2),
    },
    target: "<= 60 requests, peak RSS < 256 MiB",
    pass: seq.total <= 60 && seq.peakRss < 256 * MiB,
  });

  // 3. overwrite 4 KiB in the middle, fsync
  const over = await measure(metrics, async () => {
    const handle = await fs.open("/big");
    await handle.write(BIG / 2 + 123, new Uint8Array(4096).fill(9));
    return await handle.fsync();
  });
  rows.push({
    workload: "overwrite 4 KiB in the middle, fsync",
    figures: {
      writes: over.writes,
      "bytes uploaded": over.up,
      requests: over.total,
      ...over.requests,
    },
    target: "<= 3 write requests, <= 64 KiB uploaded",
    pass: over.writes <= 3 && over.up <= 64 * 1024,
  });

  // 4. cold sequential read, next to a direct streamed GET of an object of the same size.
  // Both are one streamed GET, so single runs differ by noise: three interleaved rounds,
  // each with a new (cold) instance, and the median ratio.
  const rounds = [];
  for (let round = 0; round < 3; round++) {
    const cold = await Vfs.open(store);
    const read = await measure(metrics, async () => {
      const { body } = await cold.readStream("/big");
      let n = 0;
      for await (const chunk of body) n += chunk.length;
      return n;
    });
    const get = await measure(metrics, async () => {
      const r = await store.get("bench/direct-upload");
      if (r?.status !== "ok") throw new Error("direct object missing");
      let n = 0;
      for await (const chunk of r.body) n += chunk.length;
      return n;
    });
    if (read.result !== BIG) throw new Error(`read ${read.result} bytes, expected ${BIG}`);
    rounds.push({ read, get, ratio: get.seconds / read.seconds });
  }
  rounds.sort((a, b) => a.ratio - b.ratio);
  const { read, get, ratio: median } = rounds[1]!;
  const ratio = +median.toFixed(2);
  rows.push({
    workload: `cold sequential read of ${BIG / MiB} MiB (median of 3 rounds)`,
    figures: {
      GETs: read.gets,
      "MiB/s": mibps(BIG, read.seconds),
      "direct streamed GET MiB/s": mibps(BIG, get.seconds),
      ratio,
      "ratios of the 3 rounds": rounds.map((r) => r.ratio.toFixed(2)).join(", "),
      "peak RSS MiB": Math.round(read.peakRss / MiB),
      "RSS before MiB": Math.round(read.startRss / MiB),
    },
    target: "<= 64 GETs, >= 0.9x direct",
    pass: read.gets <= 64 && ratio >= 0.9,
  });

  // 5. a directory of DIR_ENTRIES files, listed with sizes and times by a fresh instance
  await fs.mkdir("/many");
  const fill = await measure(metrics, async () => {
    let next = 0;
    const worker = async () => {
      while (next < DIR_ENTRIES) {
        const i = next++;
        // Random bytes: inline data that does not compress, as real small files.
        const data = crypto.getRandomValues(new Uint8Array(100));
        await fs.writeFile(`/many/file-${String(i).padStart(6, "0")}`, data);
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
  });
  const lister = await Vfs.open(store);
  const list = await measure(metrics, async () => {
    const page = await lister.readdir("/many", { limit: 100_000 });
    return page.entries.length;
  });
  rows.push({
    workload: `create ${DIR_ENTRIES} files (64 concurrent)`,
    figures: {
      "files/s": Math.round(DIR_ENTRIES / fill.seconds),
      "S3 writes": fill.writes,
      "writes per file": +(fill.writes / DIR_ENTRIES).toFixed(3),
    },
  });
  rows.push({
    workload: `list a directory of ${DIR_ENTRIES} entries (sizes, times)`,
    figures: { entries: list.result, GETs: list.gets, requests: list.total, ...list.requests },
    target: "<= 5 GETs",
    pass: list.result === DIR_ENTRIES && list.gets <= 5,
  });

  // 6. renames
  const within = await measure(metrics, () => fs.rename("/small/one-kib", "/small/renamed"));
  await fs.mkdir("/other");
  const across = await measure(metrics, () => fs.rename("/small/64-kib", "/other/moved"));
  await fs.mkdir("/small/sub");
  await fs.writeFile("/small/sub/x", new Uint8Array(10));
  const acrossDir = await measure(metrics, () => fs.rename("/small/sub", "/other/sub"));
  rows.push({
    workload: "rename within one directory",
    figures: { writes: within.writes, ...within.requests },
    target: "1 conditional write",
    pass: within.writes === 1,
  });
  rows.push({
    workload: "rename a file across directories",
    figures: { writes: across.writes, ...across.requests },
    target: "<= 4 writes",
    pass: across.writes <= 4,
  });
  rows.push({
    workload: "rename a non-empty directory across directories",
    figures: { writes: acrossDir.writes, ...acrossDir.requests },
    target: "<= 4 writes",
    pass: acrossDir.writes <= 4,
  });

  // 7. bad arguments change nothing
  const before = metrics.snapshot();
  const bad: [string, () => Promise<unknown>, string][] = [
    ["negative offset", () => fs.write("/other/moved", -1, new Uint8Array(1)), "EINVAL"],
    [
      "offset past the size limit",
      () => fs.write("/other/moved", 2 ** 53, new Uint8Array(1)),
      "EINVAL",
    ],
    ["huge offset", () => fs.write("/other/moved", 2 ** 51, new Uint8Array(1)), "EFBIG"],
    ["negative length", () => fs.read("/other/moved", 0, -5), "EINVAL"],
    ["name of 256 bytes", () => fs.mkdir("/" + "x".repeat(256)), "ENAMETOOLONG"],
    ["name '..'", () => fs.mkdir("/small/.."), "EINVAL"],
    ["NUL in name", () => fs.writeFile("/a\0b", new Uint8Array(1)), "EINVAL"],
    ["relative path", () => fs.getattr("small"), "EINVAL"],
    ["negative truncate", () => fs.truncate("/other/moved", -1), "EINVAL"],
    ["mode out of range", () => fs.setattr("/other/moved", { mode: 0o17777 }), "EINVAL"],
  ];
  const outcomes: string[] = [];
  for (const [what, fn, code] of bad) {
    const got = await fn().then(() => "ok", (e) => e.code ?? String(e));
    outcomes.push(`${what}: ${got}${got === code ? "" : ` (expected ${code})`}`);
  }
  const changed = diff(before, metrics.snapshot()).writes;
  rows.push({
    workload: "bad arguments",
    figures: { cases: bad.length, "S3 writes": changed },
    target: "right errno each, 0 writes",
    pass: changed === 0 && outcomes.every((o) => !o.includes("expected")),
  });

  for (const row of rows) {
    const verdict = row.pass === undefined
      ? ""
      : row.pass
      ? "  [meets target]"
      : "  [MISSES target]";
    console.log(`\n${row.workload}${verdict}`);
    if (row.target) console.log(`  target: ${row.target}`);
    for (const [k, v] of Object.entries(row.figures)) console.log(`  ${k}: ${v}`);
  }
  console.log("\nbad-argument outcomes:\n  " + outcomes.join("\n  "));
  console.log(`\ncache: ${JSON.stringify(fs.cacheStats())}`);

  // Clean up the bucket so the test server's memory is released.
  await removeBucket(raw);
}

await main();
