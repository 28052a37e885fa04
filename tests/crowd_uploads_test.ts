// Many clients uploading at once (issue 12, item 5; bench/crowd.ts): only so many request
// bodies are read at once, and a connection that carried a large chunked body is closed
// after its answer, since the runtime's read buffer of that connection grew with it.

import { BODIES_AT_ONCE } from "../src/http/body_slots.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { Dav } from "./_dav.ts";

const KiB = 1024;

/**
 * A body of `chunks` chunks of 64 KiB that reports when it is first read and when it has
 * been read to its end (the first chunk is handed over on the second pull, so that a
 * stream pulled ahead by the runtime does not count as read).
 */
function body(chunks: number, on: { start(): void; end(): void }): ReadableStream<Uint8Array> {
  let pulls = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (++pulls === 2) on.start();
      if (pulls > chunks) {
        on.end();
        return controller.close();
      }
      controller.enqueue(new Uint8Array(64 * KiB).fill(pulls));
    },
  }, { highWaterMark: 0 });
}

Deno.test("no more than a bounded number of request bodies are read at once", async () => {
  const store = new MemoryStore();
  const dav = new Dav(await Vfs.open(store), store);
  assertEquals(await dav.mkcol("/up"), 201);
  let reading = 0;
  let most = 0;
  const on = {
    start: () => most = Math.max(most, ++reading),
    end: () => void reading--,
  };
  const count = BODIES_AT_ONCE + 8;
  const answers = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      dav.app.request(`http://localhost/api/v1/fs/up/f${i}`, {
        method: "PUT",
        body: body(32, on),
      })),
  );
  assertEquals(answers.map((res) => res.status), new Array(count).fill(201));
  assert(most <= BODIES_AT_ONCE, `${most} bodies read at once`);
  assert(most >= 2, "bodies are read concurrently");
  assertEquals((await dav.vfs.lookup("/up/f3")).size, 32 * 64 * KiB);
});

Deno.test("an answer to a chunked upload of a MiB or more closes its connection", async () => {
  const store = new MemoryStore();
  const dav = new Dav(await Vfs.open(store), store);
  const put = (path: string, chunks: number) =>
    dav.app.request(`http://localhost/dav/${path}`, {
      method: "PUT",
      body: body(chunks, { start() {}, end() {} }),
    });
  const large = await put("large", 16);
  assertEquals(large.status, 201);
  assertEquals(large.headers.get("connection"), "close");
  const small = await put("small", 2);
  assertEquals(small.status, 201);
  assertEquals(small.headers.get("connection"), null);
});
