// A GET of a small file (or a small range) is answered with the bytes read whole, not a
// stream (src/http/file_body.ts): through WebDAV and the HTTP API, ranges included, and the
// version sent is the one whose validators the answer carries, even when the file is
// replaced between the look and the read.

import { assert, assertEquals } from "./_assert.ts";
import { createApp } from "../src/app.ts";
import { WHOLE_BODY_MAX } from "../src/http/file_body.ts";
import { MemoryStore, StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";

const FRONTS = [
  { front: "WebDAV", url: (name: string) => `/dav/${name}` },
  { front: "HTTP API", url: (name: string) => `/api/v1/fs/${name}` },
];

function bytesOf(length: number, seed: number): Uint8Array<ArrayBuffer> {
  return Uint8Array.from({ length }, (_, i) => (i * 31 + seed) & 0xff);
}

async function setup() {
  const store = new MemoryStore();
  const vfs = await Vfs.open(store);
  const app = createApp({ store, metrics: new StoreMetrics(), vfs });
  const calls = { whole: 0, stream: 0 };
  const readWithStat = vfs.readWithStat.bind(vfs);
  const readStream = vfs.readStream.bind(vfs);
  let beforeWholeRead: (() => Promise<void>) | null = null;
  vfs.readWithStat = async (...args) => {
    calls.whole++;
    const hook = beforeWholeRead;
    beforeWholeRead = null;
    await hook?.();
    return await readWithStat(...args);
  };
  vfs.readStream = (...args) => {
    calls.stream++;
    return readStream(...args);
  };
  return { app, calls, onWholeRead: (fn: () => Promise<void>) => beforeWholeRead = fn };
}

Deno.test("a small file's GET is answered with its bytes read whole, ranges included", async () => {
  const { app, calls } = await setup();
  for (const { front, url } of FRONTS) {
    const small = bytesOf(3000, 1);
    const big = bytesOf(WHOLE_BODY_MAX + 1, 2);
    for (const [name, body] of [["small.bin", small], ["big.bin", big]] as const) {
      const put = await app.request(url(`${front}-${name}`), { method: "PUT", body });
      assert(put.status === 201 || put.status === 204, `${front} PUT ${put.status}`);
    }
    calls.whole = calls.stream = 0;
    const whole = await app.request(url(`${front}-small.bin`));
    assertEquals(whole.status, 200);
    assertEquals(new Uint8Array(await whole.arrayBuffer()), small);
    assertEquals(whole.headers.get("content-length"), "3000");
    const part = await app.request(url(`${front}-small.bin`), {
      headers: { range: "bytes=10-19" },
    });
    assertEquals(part.status, 206);
    assertEquals(part.headers.get("content-range"), "bytes 10-19/3000");
    assertEquals(new Uint8Array(await part.arrayBuffer()), small.subarray(10, 20));
    assertEquals(calls, { whole: 2, stream: 0 }, `${front}: small answers are not streamed`);
    const large = await app.request(url(`${front}-big.bin`));
    assertEquals(new Uint8Array(await large.arrayBuffer()), big);
    assertEquals(calls, { whole: 2, stream: 1 }, `${front}: a large answer is streamed`);
    // A small range of a large file is small too.
    const tail = await app.request(url(`${front}-big.bin`), { headers: { range: "bytes=-100" } });
    assertEquals(new Uint8Array(await tail.arrayBuffer()), big.subarray(big.length - 100));
    assertEquals(calls, { whole: 3, stream: 1 });
  }
});

Deno.test("a small file replaced between the look and the read is answered as its new version", async () => {
  const { app, onWholeRead } = await setup();
  for (const { front, url } of FRONTS) {
    const path = url(`${front}-swap.txt`);
    await (await app.request(path, { method: "PUT", body: "old version" })).body?.cancel();
    onWholeRead(async () => {
      const put = await app.request(path, { method: "PUT", body: "the new version" });
      await put.body?.cancel();
    });
    const res = await app.request(path);
    assertEquals(res.status, 200);
    assertEquals(await res.text(), "the new version");
    const head = await app.request(path, { method: "HEAD" });
    assertEquals(res.headers.get("etag"), head.headers.get("etag"), `${front}: validators`);
    assertEquals(res.headers.get("content-length"), "15");
  }
});
