// The HTTP API through a real server process (`main.ts --listen`) on real S3, driven by
// the typed client over TCP: what app.request() cannot show (streamed bodies on the wire,
// credentials from the environment, durability across a killed process).

import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { PageFsClient, PageFsError } from "../src/rest/mod.ts";
import { startServer, type TestServer } from "./_server.ts";
import { s3Env } from "./_stores.ts";

const ignore = s3Env() === null;
const TOKEN = "process-test-token";
const RO_TOKEN = "process-test-readonly";

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function users(): Promise<string> {
  return `rw:sha256$${await sha256Hex(TOKEN)}:rw,ro:sha256$${await sha256Hex(RO_TOKEN)}:ro`;
}

/** Deterministic bytes: byte i is a function of i, so any misplaced chunk shows. */
function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return out;
}

/** `bytes` as a stream of uneven chunks, so the request goes out chunked. */
function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close();
      const n = Math.min(bytes.length - at, 100_000 + (at % 7) * 10_000);
      controller.enqueue(bytes.slice(at, at + n));
      at += n;
    },
  });
}

function processTest(name: string, fn: (server: TestServer) => Promise<void>): void {
  Deno.test({
    name,
    ignore,
    async fn() {
      const server = await startServer({ env: { PAGEFS_USERS: await users() } });
      try {
        await fn(server);
      } catch (error) {
        console.error(server.stderr());
        throw error;
      } finally {
        await server.close();
      }
    },
  });
}

processTest(
  "a chunked 12 MiB PUT streams to S3 and reads back whole, by range and by HEAD",
  async (server) => {
    const client = new PageFsClient(`${server.url}/api/v1`, { token: TOKEN });
    const data = pattern(12 * 1024 * 1024 + 123, 7);
    const put = await client.put("/big/file.bin", chunked(data), { parents: true });
    ok(put.created && put.etag);
    const back = await client.readBytes("/big/file.bin");
    equal(back.length, data.length);
    ok(back.every((b, i) => b === data[i]), "the bytes read back differ");
    const res = await fetch(`${server.url}/api/v1/fs/big/file.bin`, {
      headers: { authorization: `Bearer ${TOKEN}`, range: "bytes=8388600-8388615" },
    });
    equal(res.status, 206);
    equal(res.headers.get("content-range"), `bytes 8388600-8388615/${data.length}`);
    deepStrictEqual(new Uint8Array(await res.arrayBuffer()), data.slice(8388600, 8388616));
    const head = await client.head("/big/file.bin");
    equal(head.size, data.length);
    equal(head.etag, put.etag);
  },
);

processTest(
  "two clients racing with the same If-Match: exactly one wins, the other gets 412",
  async (server) => {
    const client = new PageFsClient(`${server.url}/api/v1`, { token: TOKEN });
    const { etag } = await client.put("/race.txt", "v0");
    const results = await Promise.allSettled(
      ["a", "b", "c", "d"].map((v) => client.put("/race.txt", `v1-${v}`, { ifMatch: etag! })),
    );
    const won = results.filter((r) => r.status === "fulfilled");
    const lost = results.filter((r) => r.status === "rejected");
    equal(won.length, 1);
    for (const r of lost) {
      ok(r.reason instanceof PageFsError && r.reason.status === 412, String(r.reason));
    }
    ok((await client.readText("/race.txt")).startsWith("v1-"));
  },
);

processTest(
  "credentials: none is 401, read-only may read but not write, both change nothing",
  async (server) => {
    const rw = new PageFsClient(`${server.url}/api/v1`, { token: TOKEN });
    const ro = new PageFsClient(`${server.url}/api/v1`, { token: RO_TOKEN });
    const anonymous = new PageFsClient(`${server.url}/api/v1`);
    const wrong = new PageFsClient(`${server.url}/api/v1`, { token: "not-a-token" });
    await rw.put("/kept.txt", "original");
    await rejects(
      anonymous.readText("/kept.txt"),
      (e) => e instanceof PageFsError && e.status === 401,
    );
    await rejects(wrong.put("/kept.txt", "x"), (e) => e instanceof PageFsError && e.status === 401);
    await rejects(ro.put("/kept.txt", "x"), (e) => e instanceof PageFsError && e.status === 403);
    await rejects(ro.delete("/kept.txt"), (e) => e instanceof PageFsError && e.status === 403);
    equal(await ro.readText("/kept.txt"), "original");
    // WebDAV sits behind the same credentials.
    const dav = await fetch(`${server.url}/dav/kept.txt`, { method: "PUT", body: "x" });
    equal(dav.status, 401);
    await dav.body?.cancel();
    equal(await rw.readText("/kept.txt"), "original");
  },
);

Deno.test({
  name: "what a killed server acknowledged is there for the next one on the bucket",
  ignore,
  async fn() {
    const env = { PAGEFS_USERS: await users() };
    const first = await startServer({ env });
    const bucket = first.bucket!;
    let second: TestServer | null = null;
    try {
      const client = new PageFsClient(`${first.url}/api/v1`, { token: TOKEN });
      const data = pattern(3 * 1024 * 1024, 3);
      await client.put("/durable/a.bin", data, { parents: true });
      await client.patch("/durable/a.bin", "PATCHED", { offset: 1000 });
      await client.rename("/durable/a.bin", "/durable/b.bin");
      // SIGKILL: no shutdown hook may flush anything; a 2xx must already be in S3.
      await first.kill();
      second = await startServer({ env, bucket });
      const again = new PageFsClient(`${second.url}/api/v1`, { token: TOKEN });
      const back = await again.readBytes("/durable/b.bin");
      data.set(new TextEncoder().encode("PATCHED"), 1000);
      equal(back.length, data.length);
      ok(back.every((b, i) => b === data[i]), "acknowledged bytes were lost");
      deepStrictEqual((await again.listAll("/durable")).map((e) => e.name), ["b.bin"]);
    } finally {
      await second?.close();
      await first.close();
    }
  },
});

Deno.test({
  name: "deno serve with only --allow-net --allow-env (as on Deploy) serves the API and WebDAV",
  ignore,
  async fn() {
    const server = await startServer({ command: "serve", env: { PAGEFS_USERS: await users() } });
    try {
      const client = new PageFsClient(`${server.url}/api/v1`, { token: TOKEN });
      const data = pattern(9 * 1024 * 1024, 11);
      await client.put("/deploy.bin", data);
      const back = await client.readBytes("/deploy.bin");
      ok(back.length === data.length && back.every((b, i) => b === data[i]));
      const res = await fetch(`${server.url}/dav/`, {
        method: "PROPFIND",
        headers: { depth: "1", authorization: `Bearer ${TOKEN}` },
      });
      equal(res.status, 207);
      ok((await res.text()).includes("/dav/deploy.bin"));
      ok(!/PermissionDenied|NotCapable/.test(server.stderr()), server.stderr());
    } finally {
      await server.close();
    }
  },
});
