// Directory objects and the length of the JSON they decode to: no writer makes one that
// decodes large, however compressible its entries (docs/format.md, "Limits"), and a reader
// refuses one that does (made by an earlier version, or by hand) without losing anything.

import { gunzipSync, gzipSync } from "node:zlib";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { Dav } from "./_dav.ts";
import { fatFolder } from "./_fat_folder.ts";
import { restTest } from "./rest_harness.ts";
import { shardIdsOf } from "../src/format/dir.ts";
import { dirKey, shardKey } from "../src/format/keys.ts";
import type { DirObject, ShardObject } from "../src/format/meta.ts";
import { readAll } from "../src/store/_util.ts";
import { MemoryStore } from "../src/store/memory.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { FsError } from "../src/vfs/errors.ts";
import { Vfs } from "../src/vfs/mod.ts";

/** The writers' limit on a directory object's JSON (`DirLimits.maxDecodedBytes`). */
const LIMIT = 4 << 20;

/** Every directory and shard object in `store`: key, stored bytes, JSON text. */
async function dirObjects(store: ObjectStore) {
  const out: { key: string; stored: number; json: string }[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list({ prefix: "d/", ...(cursor ? { cursor } : {}) });
    for (const { key } of page.objects) {
      const got = await store.get(key);
      if (got?.status !== "ok") continue;
      const bytes = await readAll(got.body);
      const json = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
      out.push({ key, stored: bytes.length, json: new TextDecoder().decode(json) });
    }
    cursor = page.cursor;
  } while (cursor);
  return out;
}

restTest(
  "a folder filled through the HTTP API with all-zero xattrs has no directory object that decodes past the limit",
  async ({ vfs, client }) => {
    // 100 files with 90 KiB of base64 zeros each, set by 8 clients at once (group commits
    // of several), after 64 small files that keep the object's last chunk (stored, not
    // compressed) small: before, one object of under 0.2 MiB stored held 9 MiB of JSON; a
    // folder of 4,096 such files 30 MiB per object (bench/xattr_dir_memory.ts).
    await client.mkdir("/x");
    const fat = Array.from({ length: 100 }, (_, i) => `/x/f${String(i).padStart(3, "0")}`);
    for (const name of fat) await client.put(name, "x");
    for (let i = 0; i < 64; i++) await client.put(`/x/pad${i}`, "x");
    const zeros = new Uint8Array(30 << 10);
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < fat.length) {
        const name = fat[next++]!;
        for (const k of ["a", "b", "c"]) await client.setxattr(name, `user.${k}`, { value: zeros });
      }
    }));
    const objects = await dirObjects(vfs.store);
    const entryMax = 3 * 41_000 + 1024; // one change: three base64 values and the rest
    for (const { key, stored, json } of objects) {
      assert(
        json.length <= LIMIT + entryMax,
        `${key}: ${json.length} bytes of JSON (${stored} stored)`,
      );
    }
    // Since session 21 the values live in x/<id> objects of their own: the folder's entries
    // are small, and it is no longer split by their decoded size (before: more than 3
    // objects, each up to 4 MiB of JSON).
    assertEquals(objects.length, 2, "root and /x, unsharded");
    for (const { key, json } of objects) assert(json.length < 256 << 10, `${key}: ${json.length}`);
    // Nothing lost on the way: every name, every value.
    const names: string[] = [];
    for (let cursor: string | null = null;;) {
      const page: Awaited<ReturnType<Vfs["readdir"]>> = await vfs.readdir("/x", {
        ...(cursor ? { cursor } : {}),
      });
      names.push(...page.entries.map((e) => e.name));
      if (!(cursor = page.cursor)) break;
    }
    assertEquals(names.length, 164);
    for (const name of [fat[0]!, fat[57]!, fat[99]!]) {
      assertEquals(await vfs.getxattr(name, "user.c"), zeros);
    }
  },
  { backends: ["memory"] },
);

/**
 * A sharded folder `/x` of 16 files whose shard holding `f0` was rewritten by hand with
 * three entries carrying 3.5 MiB xattrs each (10.5 MiB of JSON, 30 KiB stored).
 */
async function folderWithLongShard() {
  const store = new MemoryStore();
  const fs = await Vfs.open(store, { dirLimits: { maxEntries: 4 } });
  await fs.mkdir("/x");
  for (let i = 0; i < 16; i++) await fs.writeFile(`/x/f${i}`, new Uint8Array([i]));
  const ino = (await fs.lookup("/x")).ino;
  const dir = JSON.parse((await dirObjects(store)).find((o) => o.key === dirKey(ino))!.json);
  // The shard objects by the names they hold (age shards since session 20, or hash shards).
  const shards = await Promise.all((shardIdsOf(dir as DirObject) ?? []).map(async (id) => {
    const key = shardKey(ino, id);
    const json = (await dirObjects(store)).find((o) => o.key === key)!.json;
    return { key, shard: JSON.parse(json) as ShardObject };
  }));
  const shardOf = (name: string) => shards.find((s) => name in s.shard.entries)!;
  const { key, shard } = shardOf("f0");
  const entries = (shard as ShardObject).entries;
  const names = Object.keys(entries);
  assert(names.length >= 2, `${names.length} entries in f0's shard`);
  for (const name of names.slice(0, 3)) {
    const entry = entries[name] as unknown as { xattr?: Record<string, string> };
    entry.xattr = { "user.big": "A".repeat(3.5 * (1 << 20)) };
  }
  const bytes = new Uint8Array(gzipSync(JSON.stringify(shard)));
  await store.put(key, bytes, { contentType: "application/json" });
  const elsewhere = Array.from({ length: 16 }, (_, i) => `f${i}`)
    .find((n) => shardOf(n).key !== key)!;
  return { store, key, bytes, names, elsewhere };
}

Deno.test("a directory object over the decode bound is refused with EIO; the rest of its folder stays reachable and nothing is lost", async () => {
  const { store, key, bytes, names, elsewhere } = await folderWithLongShard();
  const reader = await Vfs.open(store, { metaDecodeBytes: 8 << 20 });
  // The other shards answer as before.
  assertEquals((await reader.read(`/x/${elsewhere}`, 0, 10)).length, 1);
  await reader.writeFile(`/x/${elsewhere}`, new Uint8Array([9]));
  // The long one is refused, clearly, for reads and writes alike; before, it was inflated.
  for (
    const step of [
      () => reader.lookup(`/x/${names[0]}`),
      () => reader.readdir("/x"),
      () => reader.writeFile(`/x/${names[0]}`, new Uint8Array([1])),
    ]
  ) {
    const error = await assertRejects(step);
    assert(error instanceof FsError && error.code === "EIO", String(error));
    assert(/decodes to more than 8 MiB/.test(error.message), error.message);
  }
  // Nothing rewrote it.
  const got = await store.get(key);
  assert(got?.status === "ok");
  assertEquals(await readAll(got.body), bytes);
  // Raising the bound reads it whole; the next change of it splits it.
  const rescuer = await Vfs.open(store);
  const big = await rescuer.getxattr(`/x/${names[0]}`, "user.big");
  assertEquals(big.length, (3.5 * (1 << 20) * 3) / 4);
  await rescuer.writeFile(`/x/${names[0]}`, new Uint8Array([2]));
  assertEquals(await store.get(key), null);
  const page = await rescuer.readdir("/x");
  assertEquals(page.entries.length, 16);
});

Deno.test("PROPFIND Depth infinity with allprop is refused past 32 MiB of dead properties", async () => {
  // The walk holds every member's properties before it sends the first: 10,000 members
  // (the count allowed) of 93 KiB each were 0.9 GiB. Before, this answered 207.
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fatFolder(fs, 360, 93 << 10);
  const dav = new Dav(fs, store);
  const body = `<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>`;
  const res = await dav.send("PROPFIND", "/x/", { headers: { Depth: "infinity" }, body });
  const text = await res.text();
  assertEquals(res.status, 403, text.slice(0, 200));
  // 361 members, far under the count allowed (10,000): the bytes refused it.
  assert(/propfind-finite-depth/.test(text), text);
  // Depth 1 answers, in pages.
  const one = await dav.send("PROPFIND", "/x/", { headers: { Depth: "1" }, body });
  assertEquals(one.status, 207);
  assertEquals((await one.text()).match(/<D:response>/g)?.length, 361);
});
