// S3 requests per operation, warm and sequential, three directories deep: what the floor
// of issue 12 promises (docs/format.md, "Requests per operation"). Deterministic counts
// from a store that logs every call.

import { assert, assertEquals } from "./_assert.ts";
import { contract, pattern } from "./_stores.ts";
import { HookStore, type SeenCall } from "./_hook_store.ts";
import type { ObjectStore } from "../src/store/mod.ts";
import { StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { createApp } from "../src/app.ts";

const DIR = "/a/b/c";

async function setUp(store: ObjectStore) {
  const counted = new HookStore(store);
  const fs = await Vfs.open(counted);
  await fs.mkdir(DIR, { parents: true });
  for (let i = 0; i < 50; i++) await fs.writeFile(`${DIR}/f${i}`, pattern(4096, i + 1));
  await fs.writeFile(`${DIR}/small`, pattern(100));
  /** The calls `op` makes the second time it runs (the first warms the caches). */
  const warm = async (op: () => Promise<unknown>): Promise<SeenCall[]> => {
    await op();
    const from = counted.calls.length;
    await op();
    return counted.calls.slice(from);
  };
  return { fs, warm };
}

const show = (calls: readonly SeenCall[]) => calls.map((c) => `${c.op} ${c.key}`).join(", ");

function atMost(calls: readonly SeenCall[], n: number, what: string): void {
  assert(calls.length <= n, `${what}: ${calls.length} requests (${show(calls)}), at most ${n}`);
}

type Warm = Awaited<ReturnType<typeof setUp>>["warm"];

/**
 * A warm GET, 4 KiB PUT and inline PUT through each front end cost at most 2, 3 and 2
 * requests (the epoch, the segment, and the directory's CAS built on this instance's
 * copy); returns the app's request function for more checks.
 */
async function warmFloor(fs: Vfs, warm: Warm) {
  const app = createApp({ store: fs.store, metrics: new StoreMetrics(), vfs: fs });
  const call = async (path: string, init: RequestInit = {}, status?: number) => {
    const res = await app.request(path, init);
    await res.arrayBuffer();
    if (status !== undefined) assertEquals(res.status, status, `${init.method ?? "GET"} ${path}`);
  };
  const put = (body: Uint8Array): RequestInit => ({
    method: "PUT",
    body: body.slice().buffer,
    headers: { "content-length": String(body.length) },
  });
  for (const base of ["/dav", "/api/v1/fs"]) {
    atMost(await warm(() => call(`${base}${DIR}/f1`, {}, 200)), 2, `GET ${base}`);
    atMost(
      await warm(() => call(`${base}${DIR}/f3`, put(pattern(4096, 7)), 204)),
      3,
      `PUT ${base} of 4 KiB`,
    );
    atMost(
      await warm(() => call(`${base}${DIR}/small`, put(pattern(99)), 204)),
      2,
      `PUT ${base} inline`,
    );
  }
  return call;
}

contract("warm VFS operations three directories deep cost the floor of requests", async (store) => {
  const { fs, warm } = await setUp(store);
  atMost(await warm(() => fs.read(`${DIR}/f1`, 0, 4096)), 2, "read of 4 KiB");
  atMost(await warm(() => fs.getattr(`${DIR}/f1`)), 2, "stat of a file");
  atMost(await warm(() => fs.getattr(DIR)), 2, "stat of a directory");
  const listing = await warm(() => fs.readdir(DIR));
  atMost(listing, 2, "listing of 50");
  assertEquals((await fs.readdir(DIR)).entries.length, 51);
  // The lock table (epoch) and the directory, both conditional (304 when unchanged).
  assertEquals(listing.map((c) => c.op), ["GetObject", "GetObject"]);
  // A write: the epoch, the directory, the data, the directory's CAS; inline, no data.
  atMost(await warm(() => fs.writeFile(`${DIR}/f2`, pattern(4096, 9))), 4, "write of 4 KiB");
  atMost(await warm(() => fs.writeFile(`${DIR}/small`, pattern(100, 3))), 3, "inline write");
  assertEquals(await fs.read(`${DIR}/f2`, 0, 4096), pattern(4096, 9));
});

contract(
  "warm GET, PUT and PROPFIND through the HTTP API and WebDAV cost the floor",
  async (store) => {
    const { fs, warm } = await setUp(store);
    const call = await warmFloor(fs, warm);
    const propfind = { method: "PROPFIND", headers: { depth: "1" } };
    atMost(await warm(() => call(`/dav${DIR}/`, propfind, 207)), 2, "PROPFIND Depth 1 of 51");
    const allprop = {
      method: "PROPFIND",
      headers: { depth: "1", "content-type": "application/xml" },
      body: `<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>`,
    };
    atMost(await warm(() => call(`/dav${DIR}/`, allprop, 207)), 2, "PROPFIND allprop");
    atMost(await warm(() => call(`/api/v1/fs${DIR}/`, {}, 200)), 2, "API listing");
  },
);

contract(
  "a lock elsewhere adds no request to a warm GET or PUT through either front end",
  async (store) => {
    const { fs, warm } = await setUp(store);
    // A live lock makes every write check for locks on its path as its symlinks resolve.
    await fs.locks.lock({
      root: "/elsewhere",
      depth: "0",
      scope: "exclusive",
      owner: "",
      timeout: null,
    });
    await warmFloor(fs, warm);
  },
);
