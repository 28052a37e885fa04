/**
 * `deno task bench:tus`: a resumable upload of 1 GiB (`BENCH_TUS_MIB`) with tus-js-client
 * in chunks of 64 MiB (`BENCH_TUS_CHUNK_MIB`, under a proxy's typical 100 MB body limit)
 * through a real server process on a real S3 server. Prints the server's peak RSS (VmHWM
 * from /proc), the bytes it sent to S3 (its /metrics) against the file's size, and the
 * throughput. The target is read back and checked against the bytes sent.
 *
 * @module
 */

import { createReadStream } from "node:fs";
import * as tus from "tus-js-client";
import { startBenchServer } from "./_server.ts";

const MiB = 1024 * 1024;
const SIZE = Number(Deno.env.get("BENCH_TUS_MIB") ?? 1024) * MiB;
const CHUNK = Number(Deno.env.get("BENCH_TUS_CHUNK_MIB") ?? 64) * MiB;
const { base, vmHwmMiB, uploadBytes, close } = await startBenchServer("tus", "bench:tus");

/** 1 MiB blocks, each stamped with its index, so a misplaced block is seen on read-back. */
function block(index: number): Uint8Array {
  const out = new Uint8Array(MiB);
  const view = new DataView(out.buffer);
  for (let i = 0; i < MiB; i += 4096) view.setUint32(i, index * 256 + i / 4096);
  return out;
}

/**
 * The file to upload, on disk: tus-js-client reads each chunk of a file by range. (Fed a
 * generator stream instead, it sends whatever the stream has ready as one PATCH: 1 MiB
 * chunks here, not the chunk size asked for.)
 */
async function sourceFile(): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "pagefs-bench-tus-" });
  using file = await Deno.open(path, { write: true });
  for (let i = 0; i < SIZE / MiB; i++) {
    const data = block(i);
    for (let at = 0; at < data.length;) at += await file.write(data.subarray(at));
  }
  return path;
}

const path = await sourceFile();
try {
  for (let i = 0; i < 100; i++) {
    if (await fetch(`${base}/healthz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const rssStart = vmHwmMiB();
  const bytesStart = await uploadBytes();
  const start = performance.now();
  let patches = 0;
  await new Promise<void>((resolve, reject) => {
    new tus.Upload(createReadStream(path), {
      endpoint: `${base}/api/v1/uploads/`,
      chunkSize: CHUNK,
      metadata: { filename: "big.bin" },
      retryDelays: [],
      onChunkComplete: () => void patches++,
      onSuccess: () => resolve(),
      onError: reject,
    }).start();
  });
  const seconds = (performance.now() - start) / 1000;
  const rssPeak = vmHwmMiB();
  const sent = await uploadBytes() - bytesStart;

  // Read back and compare block by block.
  const res = await fetch(`${base}/api/v1/fs/big.bin`);
  let at = 0;
  let pending = new Uint8Array(0);
  for await (const piece of res.body!) {
    const joined = new Uint8Array(pending.length + piece.length);
    joined.set(pending);
    joined.set(piece, pending.length);
    let off = 0;
    for (; off + MiB <= joined.length; off += MiB, at++) {
      const expected = block(at);
      const got = joined.subarray(off, off + MiB);
      if (!got.every((x, i) => x === expected[i])) throw new Error(`Block ${at} differs`);
    }
    pending = joined.slice(off);
  }
  if (at * MiB !== SIZE || pending.length !== 0) throw new Error("Read back a different size");

  console.log(
    `tus upload of ${SIZE / MiB} MiB in ${patches} PATCHes of ${CHUNK / MiB} MiB (tus-js-client):`,
  );
  console.log(`  ${seconds.toFixed(1)} s, ${(SIZE / MiB / seconds).toFixed(0)} MiB/s`);
  console.log(
    `  server peak RSS (VmHWM): ${rssStart} MiB at start, ${rssPeak} MiB after (target <= 256)`,
  );
  console.log(
    `  S3 upload bytes: ${(sent / MiB).toFixed(2)} MiB for ${SIZE / MiB} MiB ` +
      `(${(sent / SIZE).toFixed(3)}x; target <= 1.1x)`,
  );
  console.log(`  read back: identical`);
} finally {
  await Deno.remove(path).catch(() => {});
  await close();
}
