/**
 * `deno task bench:http`: the HTTP file API through a real server process (`main.ts
 * --listen` on a real S3 server), with the server's peak RSS (VmHWM from /proc) and its
 * S3 traffic (from its /metrics), next to direct S3 doing the same in the same run.
 *
 * @module
 */

import { directUpload } from "./_direct_upload.ts";
import { startBenchServer } from "./_server.ts";

const MiB = 1024 * 1024;
const BIG = Number(Deno.env.get("BENCH_HTTP_MIB") ?? 1024) * MiB;
const PATCHES = Number(Deno.env.get("BENCH_PATCHES") ?? 1000);
const { s3, base, vmHwmMiB, uploadBytes, close } = await startBenchServer("http", "bench:http");

function body(total: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(MiB);
  crypto.getRandomValues(chunk.subarray(0, 65536));
  let sent = 0;
  return new ReadableStream({
    pull(c) {
      if (sent >= total) return c.close();
      const n = Math.min(chunk.length, total - sent);
      chunk[0] = sent & 0xff;
      c.enqueue(chunk.slice(0, n));
      sent += n;
    },
  });
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  return [result, (performance.now() - start) / 1000];
}

try {
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const rssStart = vmHwmMiB();

  const [put, putSeconds] = await timed(() =>
    fetch(`${base}/api/v1/fs/big.bin`, {
      method: "PUT",
      body: body(BIG),
      duplex: "half",
    } as RequestInit)
  );
  if (put.status !== 201) throw new Error(`PUT answered ${put.status}: ${await put.text()}`);
  const rssAfterPut = vmHwmMiB();
  const [got, getSeconds] = await timed(async () => {
    const res = await fetch(`${base}/api/v1/fs/big.bin`);
    let n = 0;
    for await (const c of res.body!) n += c.length;
    return n;
  });
  if (got !== BIG) throw new Error(`GET returned ${got} bytes`);
  const rssAfterBig = vmHwmMiB();

  // Direct S3, same bytes and shape: 8 MiB parts, 2 in flight; one streamed GET.
  const [, directPut] = await timed(async () => {
    const part = new Uint8Array(8 * MiB);
    crypto.getRandomValues(part.subarray(0, 65536));
    await directUpload(s3, "direct.bin", BIG, part);
  });
  const [, directGet] = await timed(async () => {
    const r = await s3.get("direct.bin");
    if (r?.status !== "ok") throw new Error("direct object missing");
    for await (const _ of r.body) { /* drain */ }
  });

  // PATCHes: random 4 KiB writes into a 256 MiB file, checked against a local reference.
  const size = 256 * MiB;
  const reference = new Uint8Array(size);
  crypto.getRandomValues(reference.subarray(0, 65536));
  for (let at = 65536; at < size; at += 65536) reference.copyWithin(at, 0, 65536);
  const seed = await fetch(`${base}/api/v1/fs/patched.bin`, { method: "PUT", body: reference });
  if (seed.status !== 201) throw new Error(`PUT answered ${seed.status}`);
  const rssAfterSeed = vmHwmMiB();
  const before = await uploadBytes();
  let state = 12345;
  const random = () => (state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const [, patchSeconds] = await timed(async () => {
    for (let i = 0; i < PATCHES; i++) {
      const offset = Math.floor(random() * (size - 4096));
      const block = crypto.getRandomValues(new Uint8Array(4096));
      reference.set(block, offset);
      const res = await fetch(`${base}/api/v1/fs/patched.bin`, {
        method: "PATCH",
        headers: { "content-range": `bytes ${offset}-${offset + 4095}/*` },
        body: block,
      });
      if (res.status !== 204) throw new Error(`PATCH answered ${res.status}`);
    }
  });
  const uploaded = (await uploadBytes()) - before;
  const rssAfterPatches = vmHwmMiB();
  const back = new Uint8Array(await (await fetch(`${base}/api/v1/fs/patched.bin`)).arrayBuffer());
  const identical = back.length === size && back.every((b, i) => b === reference[i]);

  const mibps = (bytes: number, s: number) => (bytes / MiB / s).toFixed(1);
  console.log(
    `server peak RSS (VmHWM): ${rssStart} MiB at start, ${rssAfterPut} MiB after the ${
      BIG / MiB
    } MiB PUT, ${rssAfterBig} MiB after the GET (target < 256)`,
  );
  console.log(
    `PUT  ${BIG / MiB} MiB: ${mibps(BIG, putSeconds)} MiB/s via PageFS, ${
      mibps(BIG, directPut)
    } MiB/s direct S3 multipart (ratio ${(directPut / putSeconds).toFixed(2)})`,
  );
  console.log(
    `GET  ${BIG / MiB} MiB: ${mibps(BIG, getSeconds)} MiB/s via PageFS, ${
      mibps(BIG, directGet)
    } MiB/s direct S3 GET (ratio ${(directGet / getSeconds).toFixed(2)})`,
  );
  console.log(
    `${PATCHES} random 4 KiB PATCHes in ${patchSeconds.toFixed(1)} s: ${
      (uploaded / MiB).toFixed(2)
    } MiB uploaded to S3 for ${(PATCHES * 4096 / MiB).toFixed(2)} MiB written (${
      (uploaded / (PATCHES * 4096)).toFixed(2)
    }x, target <= 2x); file reads back ${
      identical ? "identical to" : "DIFFERENT from"
    } the reference`,
  );
  console.log(
    `server peak RSS: ${rssAfterSeed} MiB after the 256 MiB seed PUT, ${rssAfterPatches} MiB ` +
      `after the PATCHes, ${vmHwmMiB()} MiB after reading the patched file back`,
  );
} finally {
  await close();
}
