/**
 * A PageFS server process (`main.ts --listen`) on a fresh bucket of the S3 server that the
 * bench task started, with the figures the benches read from it: its peak RSS (VmHWM from
 * /proc) and the bytes it sent to S3 (its /metrics).
 *
 * @module
 */

import { S3Store } from "../src/store/mod.ts";
import { s3FromEnv } from "./_s3_env.ts";

export interface BenchServer {
  /** The bucket, for direct S3 work next to the server's. */
  readonly s3: S3Store;
  readonly base: string;
  /** The server's peak RSS so far, in MiB. */
  vmHwmMiB(): number;
  /** Bytes the server has uploaded to S3 so far. */
  uploadBytes(): Promise<number>;
  /** Stops the server and removes the bucket with everything in it. */
  close(): Promise<void>;
}

/** Starts a server on a new bucket named `pagefs-<name>-<random>`; `task` names the deno task. */
export async function startBenchServer(name: string, task: string): Promise<BenchServer> {
  const settings = s3FromEnv(`run \`deno task ${task}\``);
  const bucket = `pagefs-${name}-${crypto.randomUUID().slice(0, 8)}`;
  const s3 = new S3Store({ bucket, ...settings });
  await s3.createBucket();
  const port = 18_000 + Math.floor(Math.random() * 1000);
  const server = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "main.ts", "--listen"],
    env: { PAGEFS_BUCKET: bucket, PORT: String(port), HOST: "127.0.0.1" },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  const base = `http://127.0.0.1:${port}`;
  return {
    s3,
    base,
    vmHwmMiB() {
      const status = Deno.readTextFileSync(`/proc/${server.pid}/status`);
      return Math.round(Number(status.match(/VmHWM:\s+(\d+) kB/)![1]) / 1024);
    },
    async uploadBytes() {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Number(text.match(/pagefs_s3_bytes_total\{direction="upload"\} (\d+)/)?.[1] ?? 0);
    },
    async close() {
      server.kill("SIGTERM");
      await server.status;
      await removeBucket(s3);
    },
  };
}

/** Deletes every object of `s3`'s bucket, then the bucket. */
export async function removeBucket(s3: S3Store): Promise<void> {
  for (let cursor: string | null = null;;) {
    const page = await s3.list(cursor ? { cursor } : {});
    await s3.deleteMany(page.objects.map((o) => o.key));
    cursor = page.cursor;
    if (!cursor) break;
  }
  await s3.deleteBucket();
}
