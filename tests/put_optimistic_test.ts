// A small PUT decides from this instance's cached copy of the directory (no GET of it) and
// lets its commit check that copy: when another instance changed what it decided from, the
// PUT is decided again from fresh reads, and answers as if it had read them first.

import { assertEquals } from "./_assert.ts";
import { bytes, contract, text } from "./_stores.ts";
import { HookStore } from "./_hook_store.ts";
import type { ObjectStore } from "../src/store/mod.ts";
import { StoreMetrics } from "../src/store/mod.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";
import { createApp } from "../src/app.ts";

const DIR = "/a/b/c";

/** Instance A behind both front ends (counting its requests) and instance B. */
async function setUp(store: ObjectStore) {
  const counted = new HookStore(store);
  const a = await Vfs.open(counted);
  const b = await Vfs.open(store);
  await a.mkdir(DIR, { parents: true });
  await a.writeFile(`${DIR}/warm`, bytes("w"));
  const app = createApp({ store: a.store, metrics: new StoreMetrics(), vfs: a });
  const put = async (path: string, body: string, headers: Record<string, string> = {}) => {
    const data = bytes(body);
    const res = await app.request(path, {
      method: "PUT",
      body: data.slice().buffer,
      headers: { "content-length": String(data.length), ...headers },
    });
    await res.arrayBuffer();
    return res.status;
  };
  // Warm A: its copy of the directory, and the path remembered.
  await put(`/dav${DIR}/warm`, "w");
  await put(`/dav${DIR}/warm`, "w");
  return { a, b, counted, put };
}

const read = async (fs: Vfs, path: string) =>
  await fs.read(path, 0, 100).then(text, (e) => isFsError(e, "ENOENT") ? "ENOENT" : `${e}`);

for (const base of ["/dav", "/api/v1/fs"]) {
  contract(`${base} PUT of a new small file costs 3 requests warm`, async (store) => {
    const { counted, put } = await setUp(store);
    for (let i = 0; i < 3; i++) {
      const from = counted.calls.length;
      assertEquals(await put(`${base}${DIR}/new${i}`, "x".repeat(4096)), 201);
      // The lock table (epoch), the segment, the directory's CAS.
      assertEquals(counted.calls.length - from, 3, JSON.stringify(counted.calls.slice(from)));
    }
  });

  contract(
    `${base} PUT of a file another instance just created replaces it (204)`,
    async (store) => {
      const { a, b, put } = await setUp(store);
      await b.writeFile(`${DIR}/f`, bytes("from b")); // A's copy of the directory lacks it
      assertEquals(await put(`${base}${DIR}/f`, "from a"), 204);
      assertEquals(await read(b, `${DIR}/f`), "from a");
      assertEquals(await read(a, `${DIR}/f`), "from a");
    },
  );

  contract(
    `${base} PUT of a file another instance just removed creates it (201)`,
    async (store) => {
      const { b, put } = await setUp(store);
      await put(`${base}${DIR}/f`, "one");
      await put(`${base}${DIR}/f`, "two"); // A's copy of the directory holds it
      await b.unlink(`${DIR}/f`);
      assertEquals(await put(`${base}${DIR}/f`, "three"), 201);
      assertEquals(await read(b, `${DIR}/f`), "three");
    },
  );

  contract(
    `${base} PUT into a directory another instance removed creates nothing`,
    async (store) => {
      const { a, b, put } = await setUp(store);
      await b.unlink(`${DIR}/warm`);
      await b.rmdir(DIR);
      const status = await put(`${base}${DIR}/f`, "x");
      assertEquals(status, base === "/dav" ? 409 : 404);
      assertEquals(await read(a, `${DIR}/f`), "ENOENT");
      assertEquals(await read(b, `${DIR}/f`), "ENOENT");
    },
  );
}

contract(
  "a PUT decided on a stale copy still needs the token of its collection's lock",
  async (store) => {
    const { b, put } = await setUp(store);
    await put(`/dav${DIR}/f`, "one");
    await put(`/dav${DIR}/f`, "two"); // A's copy of the directory holds it
    await b.unlink(`${DIR}/f`);
    // A depth-0 lock on the collection: adding a member needs its token, changing one not.
    await b.locks.lock({ root: DIR, depth: "0", scope: "exclusive", owner: "", timeout: null });
    assertEquals(await put(`/dav${DIR}/f`, "three"), 423);
    assertEquals(await read(b, `${DIR}/f`), "ENOENT");
  },
);
