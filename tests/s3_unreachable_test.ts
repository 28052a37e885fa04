// An S3 endpoint that accepts connections and stops answering: PageFS answers its clients
// 503 (or 500 where a write's outcome is unknown) within one request bound, not after every
// attempt of every request has waited out its own; it serves again as soon as the endpoint
// answers, and nothing it acknowledged is lost.

import type { Hono } from "hono";
import { startService } from "../src/service.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { type FakeS3, startFakeS3 } from "./_fake_s3.ts";
import { fsckCommand } from "./_fsck.ts";

/** Per attempt: a request with no answer this long fails (PAGEFS_S3_TIMEOUT_MS). */
const TIMEOUT_MS = 400;

async function serving(fake: FakeS3): Promise<Hono> {
  // Formatted beforehand: the fake answers object requests only, not the listing that
  // formatting an empty bucket begins with.
  await Vfs.open(fake.store);
  const { app } = await startService({
    HOST: "127.0.0.1",
    PAGEFS_BUCKET: fake.bucket,
    AWS_ENDPOINT_URL_S3: fake.endpoint,
    AWS_ACCESS_KEY_ID: "fake",
    AWS_SECRET_ACCESS_KEY: "fake-secret",
    AWS_REGION: "us-east-1",
    PAGEFS_S3_TIMEOUT_MS: String(TIMEOUT_MS),
    PAGEFS_S3_UNREACHABLE_WAIT_MS: "200",
    PAGEFS_LOG_LEVEL: "warn",
  }, { listen: true });
  return app;
}

const api = (path: string) => `http://localhost/api/v1/fs${path}`;

/** Status, Retry-After and body text of one request to `app`. */
async function send(app: Hono, url: string, init: RequestInit = {}) {
  const res = await app.request(url, init);
  return { status: res.status, retryAfter: res.headers.get("retry-after"), text: await res.text() };
}

/** The requests the endpoint received since `from`, its reachability probes left out. */
const sentSince = (fake: FakeS3, from: number) =>
  fake.seen.slice(from).filter((r) => r !== "GET probe/reachability");

/** Polls GET `path` until it answers 200 (at most 50 tries, 100 ms apart). */
async function recovered(app: Hono, path: string): Promise<{ status: number; text: string }> {
  let last = { status: 0, text: "" };
  for (let i = 0; i < 50; i++) {
    last = await send(app, api(path));
    if (last.status === 200) return last;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return last;
}

Deno.test("a store that stops answering: 503s without waiting out every attempt, then service again once it answers", async () => {
  const fake = startFakeS3();
  try {
    const app = await serving(fake);
    assertEquals((await send(app, api("/a.txt"), { method: "PUT", body: "hello" })).status, 201);
    assertEquals((await send(app, api("/d/"), { method: "PUT" })).status, 201);

    fake.mode = "silent";
    const from = fake.seen.length;
    const get = await send(app, api("/a.txt"));
    // Before: every attempt waited out its timeout (5 GETs sent); now the first one that gets
    // no answer marks the store unreachable and the rest are not sent.
    assertEquals(get.status, 503, get.text);
    assertEquals(get.retryAfter, "1");
    assertEquals(sentSince(fake, from), ["GET d/0000000000000001"], "one GET sent, not five");
    const marked = fake.seen.length;
    const put = await send(app, api("/b.txt"), { method: "PUT", body: "never stored" });
    const propfind = await send(app, "http://localhost/dav/d/", {
      method: "PROPFIND",
      headers: { depth: "1" },
    });
    const mkdir = await send(app, api("/e/"), { method: "PUT" });
    assertEquals([put.status, propfind.status, mkdir.status], [503, 503, 503], put.text);
    assertEquals(sentSince(fake, marked), [], "nothing sent while the store is unreachable");
    assertEquals((await send(app, "http://localhost/healthz")).status, 200);
    assertEquals((await send(app, "http://localhost/readyz")).status, 503);
    const metric = async (name: string) =>
      new RegExp(`^${name} (\\d+)$`, "m").exec(
        (await send(app, "http://localhost/metrics")).text,
      )?.[1];
    assertEquals(await metric("pagefs_s3_unreachable"), "1");

    fake.mode = "answer";
    const back = await recovered(app, "/a.txt");
    assertEquals([back.status, back.text], [200, "hello"]);
    assertEquals(
      [await metric("pagefs_s3_unreachable"), await metric("pagefs_s3_unreachable_total")],
      ["0", "1"],
    );
    assertEquals((await send(app, api("/b.txt"))).status, 404, "the refused PUT stored nothing");
    assertEquals((await send(app, api("/d/c.txt"), { method: "PUT", body: "c" })).status, 201);
    assertEquals((await send(app, api("/d/c.txt"))).text, "c");
    const { code, problems } = await fsckCommand(fake.store);
    assertEquals([code, problems], [0, []]);
  } finally {
    await fake.close();
  }
});

Deno.test("a store that applies a write and never answers: the write is reported unknown, not lost or done twice", async () => {
  const fake = startFakeS3();
  try {
    const app = await serving(fake);
    assertEquals((await send(app, api("/a.txt"), { method: "PUT", body: "a" })).status, 201);
    fake.mode = "lose";
    const put = await send(app, api("/b.txt"), { method: "PUT", body: "applied, answer lost" });
    // The directory's CAS was applied and its answer lost; reading it back is refused while
    // the store is unreachable: the outcome is unknown, said so, and not applied again.
    assertEquals(put.status, 500, put.text);
    fake.mode = "answer";
    const back = await recovered(app, "/b.txt");
    assertEquals([back.status, back.text], [200, "applied, answer lost"]);
    assertEquals((await send(app, api("/a.txt"))).text, "a");
    const { code, problems } = await fsckCommand(fake.store);
    assertEquals([code, problems], [0, []]);
  } finally {
    await fake.close();
  }
});

Deno.test("a store whose answers stop after their first bytes: 503 after one bound per request, then service again", async () => {
  // Such a store still answers HEADs, 304s and PUTs whole, so it is not taken for
  // unreachable; each request that needs a body fails once its read got nothing for the
  // bound, and is not tried again (before: 5 attempts, each waiting out the bound).
  const fake = startFakeS3();
  try {
    const app = await serving(fake);
    const data = "x".repeat(64 << 10);
    assertEquals((await send(app, api("/d/"), { method: "PUT" })).status, 201);
    assertEquals((await send(app, api("/d/big"), { method: "PUT", body: data })).status, 201);
    fake.mode = "stall";
    for (
      const [path, init] of [["/dav/d/", { method: "PROPFIND", headers: { depth: "1" } }], [
        "/api/v1/fs/d/c",
        { method: "PUT", body: "c" },
      ]] as const
    ) {
      const from = fake.seen.length;
      const res = await send(app, `http://localhost${path}`, init);
      assertEquals(res.status, 503, res.text);
      const sent = sentSince(fake, from);
      assert(sent.length > 0);
      assertEquals(sent.length, new Set(sent).size, `nothing sent twice: ${sent}`);
    }
    fake.mode = "answer";
    const back = await recovered(app, "/d/big");
    assertEquals([back.status, back.text.length], [200, data.length]);
    assertEquals((await send(app, api("/d/c"), { method: "PUT", body: "c" })).status, 201);
  } finally {
    await fake.close();
  }
});
