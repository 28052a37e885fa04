// A streamed request body is read into the writer's own buffer, reused for the whole body
// (a BYOB read of the byte stream `Deno.serve` gives), not in chunks allocated afresh for
// every read: under concurrent uploads those chunks were garbage several times the memory
// budget. The length checks and the 400 of a body that breaks off hold on that path too.

import { assert, assertEquals } from "./_assert.ts";
import { contract, pattern } from "./_stores.ts";
import { createApp } from "../src/app.ts";
import { StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";

const KiB = 1024;

/** A byte-stream body (as a server's) of `data`; counts reads with and without a buffer. */
function byteBody(data: Uint8Array, options: { failAt?: number } = {}) {
  const reads = { intoBuffer: 0, allocated: 0 };
  let at = 0;
  const body = new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (options.failAt !== undefined && at >= options.failAt) {
        controller.error(new TypeError("connection reset by peer"));
        return;
      }
      const request = controller.byobRequest;
      if (at >= data.length) {
        controller.close();
        request?.respond(0);
        return;
      }
      // A connection gives at most what arrived: 16 KiB per read here.
      if (request?.view) {
        reads.intoBuffer++;
        const view = new Uint8Array(
          request.view.buffer,
          request.view.byteOffset,
          request.view.byteLength,
        );
        const n = Math.min(view.length, 16 * KiB, data.length - at);
        view.set(data.subarray(at, at + n));
        at += n;
        request.respond(n);
      } else {
        reads.allocated++;
        const n = Math.min(16 * KiB, data.length - at);
        controller.enqueue(data.slice(at, at + n));
        at += n;
      }
    },
  });
  return { body, reads };
}

const init = (method: string, body: ReadableStream, headers: Record<string, string> = {}) =>
  ({ method, headers, body, duplex: "half" }) as RequestInit;

contract(
  "a streamed PUT or PATCH reads its body into one reused buffer, byte for byte",
  async (store) => {
    const vfs = await Vfs.open(store);
    const app = createApp({ store, metrics: new StoreMetrics(), vfs, auth: null });
    const size = 3 * 1024 * KiB + 123;
    for (const url of ["/dav/put.bin", "/api/v1/fs/put.bin"]) {
      const data = pattern(size, url.length);
      const { body, reads } = byteBody(data);
      const res = await app.request(
        "http://localhost" + url,
        init("PUT", body, { "content-length": String(size) }),
      );
      assert(res.status === 201 || res.status === 204, `${url}: ${res.status} ${await res.text()}`);
      assertEquals(reads.allocated, 0, `${url}: reads that allocated a chunk`);
      assert(reads.intoBuffer >= size / (16 * KiB), `${url}: ${reads.intoBuffer} reads`);
      assertEquals(await vfs.read("/put.bin", 0, size + 1), data, url);
    }
    // A PATCH at an offset, through the HTTP API.
    const patch = pattern(200 * KiB, 99);
    const { body, reads } = byteBody(patch);
    const res = await app.request(
      "http://localhost/api/v1/fs/put.bin",
      init("PATCH", body, {
        "content-range": `bytes 1000-${1000 + patch.length - 1}/*`,
        "content-type": "application/octet-stream",
      }),
    );
    assertEquals(res.status, 204, await res.text());
    assertEquals(reads.allocated, 0, "PATCH: reads that allocated a chunk");
    assertEquals(await vfs.read("/put.bin", 1000, patch.length), patch);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "a byte-stream body that is too long or breaks off is a 400 and commits nothing",
  async (store) => {
    const vfs = await Vfs.open(store);
    const app = createApp({ store, metrics: new StoreMetrics(), vfs, auth: null });
    await vfs.writeFile("/old.bin", new TextEncoder().encode("old"));
    for (const url of ["/dav/old.bin", "/api/v1/fs/old.bin"]) {
      const cases: [string, ReturnType<typeof byteBody>, Record<string, string>][] = [
        ["too long", byteBody(pattern(300 * KiB, 1)), { "content-length": String(100 * KiB) }],
        ["too short", byteBody(pattern(100 * KiB, 1)), { "content-length": String(300 * KiB) }],
        ["broken off", byteBody(pattern(300 * KiB, 1), { failAt: 100 * KiB }), {}],
      ];
      for (const [what, { body }, headers] of cases) {
        const res = await app.request("http://localhost" + url, init("PUT", body, headers));
        assertEquals(res.status, 400, `${url} ${what}: ${await res.text()}`);
        assertEquals(await vfs.read("/old.bin", 0, 10), new TextEncoder().encode("old"));
      }
    }
  },
  { backends: ["memory"] },
);
