// Listings that carry every entry's xattrs (a PROPFIND with dead properties): a sharded
// directory is paged in hash order, one shard at a time, each page holding at most 8 MiB
// of xattrs (src/vfs/ops/readdir.ts), so that a folder full of dead properties is not
// decoded and held whole by one listing (docs/architecture.md, memory).

import { assert, assertEquals } from "./_assert.ts";
import { HookStore } from "./_hook_store.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

type Page = Awaited<ReturnType<Vfs["readdir"]>>;

/** `/x` with `count` files carrying `bytes` of zeros each as three WebDAV dead properties. */
async function fatFolder(fs: Vfs, count: number, bytes: number) {
  await fs.mkdir("/x");
  const value = new Uint8Array(bytes / 3);
  for (let i = 0; i < count; i++) {
    const path = `/x/f${String(i).padStart(4, "0")}`;
    await fs.writeFile(path, new Uint8Array(1));
    const set = Object.fromEntries(["a", "b", "c"].map((p) => [`dav:{urn:x}${p}`, value]));
    await fs.updatexattrs(path, { set });
  }
}

Deno.test("a listing with xattrs of a sharded folder comes in pages of at most 8 MiB of them, each shard read once", async () => {
  // Before, a page was 5,000 entries whatever they carried, out of a sorted listing of
  // every shard: a PROPFIND of 4,096 files of 120 KiB dead properties peaked at 2.2 GiB.
  const store = new MemoryStore();
  await fatFolder(await Vfs.open(store), 200, 90 << 10);
  const counted = new HookStore(store);
  const fs = await Vfs.open(counted); // nothing cached: every shard is a whole GET
  const names: string[] = [];
  let pages = 0;
  for (let cursor: string | null = null;;) {
    const page: Page = await fs.readdir("/x", {
      limit: 5000,
      xattrs: true,
      ...(cursor ? { cursor } : {}),
    });
    let bytes = 0;
    for (const e of page.entries) for (const v of Object.values(e.xattrs!)) bytes += v.length;
    assert(bytes <= 6 << 20, `a page of ${page.entries.length} entries, ${bytes} bytes`);
    for (const e of page.entries) assertEquals(Object.keys(e.xattrs!).length, 3);
    names.push(...page.entries.map((e) => e.name));
    pages++;
    if (!(cursor = page.cursor)) break;
  }
  assertEquals(names.length, 200);
  assertEquals(new Set(names).size, 200);
  assert(pages >= 3, `${pages} pages`);
  const shards = (await fs.store.list({ prefix: "d/" })).objects.length - 2; // root, /x
  assert(shards >= 4, `${shards} shards`);
  const gets = counted.calls.filter((c) => c.op === "GetObject" && /^d\/.*\/s\//.test(c.key ?? ""));
  // Each shard once, and the one a page ended in once more by the next (a conditional GET);
  // not every shard per page, as a sorted listing forgotten between pages would cost.
  assert(
    gets.length <= shards + pages,
    `${gets.length} GETs of ${shards} shards for ${pages} pages`,
  );
  // Without xattrs: name order, one page.
  const plain = await fs.readdir("/x", { limit: 5000 });
  assertEquals(plain.cursor, null);
  assertEquals(plain.entries.map((e) => e.name), [...names].sort());
});

Deno.test("a listing with xattrs in hash order goes on where it ended when shards split between its pages", async () => {
  const fs = await Vfs.open(new MemoryStore(), { dirLimits: { maxEntries: 8 } });
  await fs.mkdir("/x");
  const tag = { "user.t": new Uint8Array([1]) };
  for (let i = 0; i < 60; i++) {
    await fs.writeFile(`/x/f${i}`, new Uint8Array(1));
    await fs.updatexattrs(`/x/f${i}`, { set: tag });
  }
  const seen: string[] = [];
  let added = 0;
  for (let cursor: string | null = null;;) {
    const page: Page = await fs.readdir("/x", {
      limit: 7,
      xattrs: true,
      ...(cursor ? { cursor } : {}),
    });
    assert(page.entries.length <= 7);
    seen.push(...page.entries.map((e) => e.name));
    // Between pages, more files: the shards fill and split under the listing.
    for (let k = 0; k < 8; k++) await fs.writeFile(`/x/g${added++}`, new Uint8Array(1));
    if (!(cursor = page.cursor)) break;
  }
  assertEquals(new Set(seen).size, seen.length, "a name listed twice");
  for (let i = 0; i < 60; i++) assert(seen.includes(`f${i}`), `f${i} missed`);
  assert(added > 60, `${added} files added`);
});
