// tus-js-client (the npm package browsers and Uppy use) against real server processes on
// S3, through a small TCP proxy the test controls, as a load balancer would sit in front:
// a 64 MiB file in 5 MiB chunks; the connection is cut mid-chunk once, and the first server
// is killed -9 mid-chunk while the proxy fails over to a second server on the same bucket.
// The file arrives byte-identical, the target never shows a partial file, and the bytes
// sent to S3 stay within 1.1x the file's size.

import { Buffer } from "node:buffer";
import * as tus from "tus-js-client";
import { assert, assertEquals } from "./_assert.ts";
import { startServer, type TestServer } from "./_server.ts";
import { pattern, s3Env } from "./_stores.ts";

const MiB = 1 << 20;
const SIZE = 64 * MiB;
const CHUNK = 5 * MiB;

/** A TCP proxy whose upstream can change and whose connections can be cut at once. */
class Proxy {
  readonly #listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  readonly #conns = new Set<Deno.Conn>();
  /** While set, nothing more goes from clients to the server. */
  #hold: { promise: Promise<void>; release: () => void } | null = null;
  upstream: number;
  readonly done: Promise<void>;

  constructor(upstream: number) {
    this.upstream = upstream;
    this.done = this.#accept();
  }

  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  async #accept(): Promise<void> {
    try {
      for await (const client of this.#listener) void this.#serve(client);
    } catch {
      // Closed.
    }
  }

  async #serve(client: Deno.Conn): Promise<void> {
    this.#conns.add(client);
    let up: Deno.Conn;
    try {
      up = await Deno.connect({ hostname: "127.0.0.1", port: this.upstream });
    } catch {
      this.#drop(client);
      return;
    }
    this.#conns.add(up);
    const pipe = async (from: Deno.Conn, to: Deno.Conn, gated: boolean) => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        for (;;) {
          const n = await from.read(buffer);
          if (n === null) break;
          if (gated && this.#hold) await this.#hold.promise;
          for (let at = 0; at < n;) at += await to.write(buffer.subarray(at, n));
        }
      } catch {
        // Cut, or the other side went away.
      }
      this.#drop(from);
      this.#drop(to);
    };
    await Promise.all([pipe(client, up, true), pipe(up, client, false)]);
  }

  #drop(conn: Deno.Conn): void {
    if (!this.#conns.delete(conn)) return;
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  }

  /** Stops forwarding request bytes (a request stays half sent) until the next cut. */
  hold(): void {
    let release = () => {};
    const promise = new Promise<void>((resolve) => release = resolve);
    this.#hold = { promise, release };
  }

  /** Cuts every connection in flight, as a network failure would. */
  cut(): void {
    for (const conn of [...this.#conns]) this.#drop(conn);
    this.#hold?.release();
    this.#hold = null;
  }

  async close(): Promise<void> {
    this.cut();
    this.#listener.close();
    await this.done;
  }
}

async function uploadedBytes(server: TestServer): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const match = /^pagefs_s3_bytes_total\{direction="upload"\} (\d+)$/m.exec(text);
  assert(match, text);
  return Number(match[1]);
}

Deno.test({
  name: "tus-js-client: 64 MiB in 5 MiB chunks survives a cut connection and a kill -9",
  ignore: s3Env() === null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const a = await startServer();
    let b: TestServer | null = null;
    const proxy = new Proxy(Number(new URL(a.url).port));
    try {
      b = await startServer({ bucket: a.bucket! });
      const data = pattern(SIZE, 13);
      const target = `${b.url}/api/v1/fs/big.bin`;

      // Watches the target through the second server the whole time: absent, or whole.
      let watching = true;
      const sightings: number[] = [];
      const watcher = (async () => {
        while (watching) {
          const res = await fetch(target, { method: "HEAD" });
          await res.body?.cancel();
          if (res.status === 200) sightings.push(Number(res.headers.get("content-length")));
          else assertEquals(res.status, 404);
          await new Promise((r) => setTimeout(r, 50));
        }
      })();

      let cut = false;
      let killed: Promise<number> | null = null;
      const errors: string[] = [];
      await new Promise<void>((resolve, reject) => {
        const upload = new tus.Upload(Buffer.from(data.buffer), {
          endpoint: `http://127.0.0.1:${proxy.port}/api/v1/uploads/`,
          chunkSize: CHUNK,
          metadata: { filename: "big.bin", dir: "/" },
          retryDelays: [0, 200, 500, 1000, 1000, 2000, 2000],
          removeFingerprintOnSuccess: true,
          onShouldRetry: (error) => {
            errors.push(error.message.split("\n")[0]!);
            return true;
          },
          onProgress(sent) {
            if (!cut && sent >= 12.5 * MiB) {
              // The connection breaks mid-chunk: the client retries from the durable offset.
              cut = true;
              proxy.cut();
            } else if (cut && killed === null && sent >= 42.5 * MiB) {
              // The first server dies mid-chunk (after its S3 bytes so far are read, with
              // the chunk held half sent); the proxy sends the retries to the second server.
              proxy.hold();
              killed = uploadedBytes(a).then(async (bytes) => {
                await a.kill();
                proxy.upstream = Number(new URL(b!.url).port);
                proxy.cut();
                return bytes;
              });
            }
          },
          onSuccess: () => resolve(),
          onError: (error) => reject(error),
        });
        upload.start();
      });
      watching = false;
      await watcher;

      assert(cut && killed !== null, "both faults happened");
      assert(errors.length >= 2, `the client saw both faults: ${errors.join("; ")}`);
      // Never a partial file at the target.
      for (const size of sightings) assertEquals(size, SIZE);
      const res = await fetch(target);
      const got = new Uint8Array(await res.arrayBuffer());
      assertEquals(got.length, SIZE);
      assert(got.every((x, i) => x === data[i]), "byte-identical");

      const sent = await killed! + await uploadedBytes(b);
      console.log(
        `tus: ${SIZE / MiB} MiB uploaded to S3 as ${(sent / MiB).toFixed(2)} MiB ` +
          `(${(sent / SIZE).toFixed(3)}x); client retries: ${errors.length}`,
      );
      assert(sent <= 1.1 * SIZE, `S3 upload bytes ${sent} > 1.1x ${SIZE}`);
    } finally {
      await proxy.close();
      await b?.close();
      await a.close();
    }
  },
});
