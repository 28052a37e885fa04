// A small body read whole goes to the VFS as it is (vfs/whole_body.ts): no copy of it into
// dirty data, which took a buffer from the memory budget for every small PUT. Its bytes are
// placed as dirty data's were: inline when they fit, else in the group-committed segment
// sent once the checks are done; mixed with other writes on one handle, they are buffered.

import { assertEquals } from "./_assert.ts";
import { bytes, contract, text } from "./_stores.ts";
import { HookStore, type SeenCall } from "./_hook_store.ts";
import type { ObjectStore } from "../src/store/mod.ts";
import { StoreMetrics } from "../src/store/mod.ts";
import { Vfs, WholeBody } from "../src/vfs/mod.ts";
import { createApp } from "../src/app.ts";

const DIR = "/a/b/c";
const isSegmentPut = (call: SeenCall) =>
  call.op === "PutObject" && (call.key?.startsWith("s/") ?? false);

async function setUp(store: ObjectStore) {
  const hooked = new HookStore(store);
  const a = await Vfs.open(hooked);
  await a.mkdir(DIR, { parents: true });
  const app = createApp({ store: a.store, metrics: new StoreMetrics(), vfs: a });
  const put = async (path: string, body: string) => {
    const data = bytes(body);
    const res = await app.request(path, {
      method: "PUT",
      body: data.slice().buffer,
      headers: { "content-length": String(data.length) },
    });
    await res.arrayBuffer();
    return res.status;
  };
  return { a, hooked, put };
}

const read = async (fs: Vfs, path: string) => text(await fs.read(path, 0, 100_000));

for (const base of ["/dav", "/api/v1/fs"]) {
  contract(`${base} PUT of 4 KiB holds nothing of the memory budget`, async (store) => {
    const { a, hooked, put } = await setUp(store);
    for (let i = 0; i < 3; i++) {
      // Seen while the segment is written: the body is held by the request already, so
      // nothing more of the budget (cached blocks of earlier PUTs aside).
      let used = -1;
      const before = a.memoryStats().used;
      hooked.before(isSegmentPut, () => Promise.resolve(used = a.memoryStats().used));
      assertEquals(await put(`${base}${DIR}/f${i}`, `${i}`.repeat(4096)), 201);
      assertEquals(used - before, 0, "budget taken while the segment was written");
      assertEquals(await read(a, `${DIR}/f${i}`), `${i}`.repeat(4096));
    }
  });

  contract(`${base} PUT of 1 KiB or less stays inline: no segment`, async (store) => {
    const { a, hooked, put } = await setUp(store);
    await put(`${base}${DIR}/warm`, "w");
    const from = hooked.calls.length;
    assertEquals(await put(`${base}${DIR}/f`, "x".repeat(1024)), 201);
    assertEquals(hooked.calls.slice(from).filter(isSegmentPut), []);
    assertEquals(await read(a, `${DIR}/f`), "x".repeat(1024));
  });
}

contract("a whole body written with more bytes on one handle keeps every byte", async (store) => {
  const fs = await Vfs.open(store);
  const handle = await fs.open("/f", { create: true });
  await handle.writeWhole(0, new WholeBody(bytes("a".repeat(3000))));
  await handle.write(2000, bytes("b".repeat(2000)));
  await handle.writeWhole(4000, new WholeBody(bytes("c".repeat(10))));
  await handle.close();
  assertEquals(await read(fs, "/f"), "a".repeat(2000) + "b".repeat(2000) + "c".repeat(10));
  // A whole body over a file's middle, its other bytes kept.
  await fs.write("/f", 1000, new WholeBody(bytes("d".repeat(1500))));
  assertEquals(
    await read(fs, "/f"),
    "a".repeat(1000) + "d".repeat(1500) + "b".repeat(1500) + "c".repeat(10),
  );
  // Small enough to be inline, then replaced by one that is not.
  await fs.writeFile("/g", new WholeBody(bytes("small")));
  assertEquals(await read(fs, "/g"), "small");
  await fs.writeFile("/g", new WholeBody(bytes("e".repeat(5000))));
  assertEquals(await read(fs, "/g"), "e".repeat(5000));
});
