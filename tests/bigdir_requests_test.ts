// Creating a file in a large (sharded) directory costs the requests it costs in a small
// one (issue 12, item 7): deterministic counts from a store that logs every call.

import { assert, assertEquals } from "./_assert.ts";
import { contract } from "./_stores.ts";
import { HookStore, type SeenCall } from "./_hook_store.ts";
import type { ObjectStore } from "../src/store/mod.ts";
import { StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { createApp } from "../src/app.ts";

/** What a call touched: the lock table, a directory object, one of its shards, data. */
function kind(call: SeenCall): string {
  const key = call.key ?? "";
  if (key === "locks") return "locks";
  if (/^d\/[0-9a-f]{16}\/s\//.test(key)) return "dir object"; // a shard holds the names
  if (key.startsWith("d/")) return "dir object";
  return key.split("/")[0]!;
}
const shape = (calls: readonly SeenCall[]) => calls.map((c) => `${c.op} ${kind(c)}`).sort();

contract(
  "a warm create through WebDAV or the HTTP API costs the same requests in a sharded directory as in a small one",
  async (store: ObjectStore) => {
    const counted = new HookStore(store);
    // Objects of at most 8 entries: 200 names make a directory of many shards.
    const fs = await Vfs.open(counted, { dirLimits: { maxEntries: 8 } });
    await fs.mkdir("/small");
    await fs.mkdir("/big");
    for (let i = 0; i < 3; i++) await fs.writeFile(`/small/f${i}`, new Uint8Array([1]));
    await Promise.all(
      Array.from({ length: 200 }, (_, i) => fs.writeFile(`/big/f${i}`, new Uint8Array([1]))),
    );
    const app = createApp({ store: fs.store, metrics: new StoreMetrics(), vfs: fs });
    let n = 0;
    const create = async (url: string) => {
      const res = await app.request(url, {
        method: "PUT",
        body: new Uint8Array([0x62]).buffer,
        headers: { "content-length": "1" },
      });
      await res.arrayBuffer();
      assertEquals(res.status, 201, `PUT ${url}`);
    };
    /** The calls of a create into `dir`, after one create there (warm). */
    const costOf = async (base: string, dir: string) => {
      await create(`${base}${dir}/warm${n++}`);
      const from = counted.calls.length;
      await create(`${base}${dir}/new${n++}`);
      return counted.calls.slice(from);
    };
    for (const base of ["/dav", "/api/v1/fs"]) {
      const small = await costOf(base, "/small");
      const big = await costOf(base, "/big");
      const show = (calls: readonly SeenCall[]) => {
        const counts = new Map<string, number>();
        for (const call of shape(calls)) counts.set(call, (counts.get(call) ?? 0) + 1);
        return [...counts].map(([what, k]) => `${k} x ${what}`).join(", ");
      };
      assertEquals(shape(big), shape(small), `${base}: ${show(big)} against ${show(small)}`);
      // The lock table (epoch) and the CAS of the object holding the name; inline data.
      assert(big.length <= 2, `${base}: ${show(big)}`);
    }
    assert((await fs.readdir("/big")).entries.length >= 204);
  },
);
