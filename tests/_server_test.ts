// `startServer()`: a real server process on the memory store and on S3, two on one bucket.

import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { startServer } from "./_server.ts";
import { s3Env } from "./_stores.ts";
import { S3Store } from "../src/store/mod.ts";

// The S3 SDK keeps sockets and timers alive between requests.
const sanitize = { sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "startServer() serves /healthz on the memory store and stops on close()",
  ...sanitize,
  async fn() {
    const server = await startServer({ store: "memory" });
    let closed = false;
    try {
      assertEquals(server.bucket, null);
      assert(/^http:\/\/127\.0\.0\.1:\d+$/.test(server.url), server.url);
      const res = await fetch(`${server.url}/healthz`);
      await res.body?.cancel();
      assertEquals(res.status, 200);
      await server.close();
      closed = true;
      await assertRejects(() => fetch(`${server.url}/healthz`), "the server still answers");
    } finally {
      if (!closed) await server.close();
    }
  },
});

Deno.test({
  name: "startServer() reports the server's stderr when it cannot start",
  ...sanitize,
  async fn() {
    const error = await assertRejects(() =>
      startServer({ store: "memory", env: { PORT: "not-a-port" } })
    );
    assert(error instanceof Error);
    assert(error.message.includes("PORT"), error.message);
  },
});

Deno.test({
  name: "startServer() lets two servers share a bucket and removes it with its creator",
  ignore: !s3Env(),
  ...sanitize,
  async fn() {
    const first = await startServer();
    const bucket = first.bucket;
    assert(bucket !== null);
    const second = await startServer({ bucket });
    try {
      const put = await fetch(`${first.url}/api/v1/fs/shared.txt`, {
        method: "PUT",
        body: "written by the first",
      });
      await put.body?.cancel();
      assert(put.ok, `PUT answered ${put.status}`);
      const got = await fetch(`${second.url}/api/v1/fs/shared.txt`);
      assertEquals(await got.text(), "written by the first");
    } finally {
      await second.close();
    }
    const store = new S3Store({ bucket, forcePathStyle: true, ...s3Env()! });
    // The second server did not create the bucket, so it is still there.
    assert((await store.list()).objects.length > 0, "the bucket was emptied by the second");
    await first.close();
    await assertRejects(() => store.list(), "the bucket outlived its creator");
  },
});
