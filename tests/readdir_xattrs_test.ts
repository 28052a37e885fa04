// Listings that carry every entry's xattrs (a PROPFIND with dead properties): a sharded
// directory is paged in hash order, one shard at a time, each page holding at most 8 MiB
// of xattrs (src/vfs/ops/readdir.ts), so that a folder full of dead properties is not
// decoded and held whole by one listing (docs/architecture.md, memory).

import { assert, assertEquals } from "./_assert.ts";
import { HookStore } from "./_hook_store.ts";
import { fatFolder } from "./_fat_folder.ts";
import { MetaStore } from "../src/format/cas.ts";
import { Directories, isSharded, isSlim } from "../src/format/dir.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";

type Page = Awaited<ReturnType<Vfs["readdir"]>>;

/**
 * Writes xattrs inline whatever their size, as instances before session 21 did: the folders
 * below hold entries with large xattrs in their objects, which listings must still bound.
 * Since then such xattrs go to objects of their own (tests/xattr_spill_test.ts, and the
 * last test here).
 */
const INLINE = { xattrSpillBytes: Infinity };

/**
 * Every page of `/x` listed with xattrs (up to 5,000 entries a page), each asserted to hold
 * at most 6 MiB of them (the pages' bound is 8 MiB of stored base64).
 */
async function xattrPages(fs: Vfs): Promise<Page["entries"][]> {
  const pages: Page["entries"][] = [];
  for (let cursor: string | null = null;;) {
    const page: Page = await fs.readdir("/x", {
      limit: 5000,
      xattrs: true,
      ...(cursor ? { cursor } : {}),
    });
    let bytes = 0;
    for (const e of page.entries) for (const v of Object.values(e.xattrs!)) bytes += v.length;
    assert(bytes <= 6 << 20, `a page of ${page.entries.length} entries, ${bytes} bytes`);
    pages.push(page.entries);
    if (!(cursor = page.cursor)) return pages;
  }
}

Deno.test("a listing with xattrs of a sharded folder comes in pages of at most 8 MiB of them, each shard read once", async () => {
  // Before, a page was 5,000 entries whatever they carried, out of a sorted listing of
  // every shard: a PROPFIND of 4,096 files of 120 KiB dead properties peaked at 2.2 GiB.
  const store = new MemoryStore();
  await fatFolder(await Vfs.open(store, INLINE), 200, 90 << 10);
  const counted = new HookStore(store);
  const fs = await Vfs.open(counted); // nothing cached: every shard is a whole GET
  const all = await xattrPages(fs);
  for (const e of all.flat()) assertEquals(Object.keys(e.xattrs!).length, 3);
  const names = all.flat().map((e) => e.name);
  const pages = all.length;
  assertEquals(names.length, 200);
  assertEquals(new Set(names).size, 200);
  assert(pages >= 3, `${pages} pages`);
  const shards = (await fs.store.list({ prefix: "d/" })).objects.length - 2; // root, /x
  assert(shards >= 4, `${shards} shards`);
  const gets = counted.calls.filter((c) => c.op === "GetObject" && /^d\/.*\/s\//.test(c.key ?? ""));
  // Each shard once, and the one a page ended in once more by the next (a conditional GET);
  // not every shard per page, as a sorted listing forgotten between pages would cost. The
  // first page also lists the folder to learn that it holds entries kept without their
  // xattrs (a folder without any is served from its kept sorted listing): one more read of
  // each shard, outside a request (inside one, the hash pages reuse those reads).
  assert(
    gets.length <= 2 * shards + pages,
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

Deno.test("a listing in name order of a sharded folder holds no large xattrs, and its copies cannot be written back", async () => {
  // Before, the sorted listing kept every entry whole: the HTTP listing of 4,096 files of
  // 120 KiB dead properties held their 480 MiB of JSON (754 MiB of RSS) to show none.
  const fs = await Vfs.open(new MemoryStore(), { dirLimits: { maxEntries: 8 }, ...INLINE });
  await fs.mkdir("/x");
  const big = new Uint8Array(2000);
  for (let i = 0; i < 40; i++) {
    await fs.writeFile(`/x/f${i}`, new Uint8Array(1));
    await fs.updatexattrs(`/x/f${i}`, {
      set: i % 2 ? { "user.big": big } : { "user.s": big.subarray(0, 9) },
    });
  }
  const ino = (await fs.lookup("/x")).ino;
  const dirs = new Directories(new MetaStore(fs.store));
  const dir = (await dirs.get(ino))!.value;
  assert(isSharded(dir));
  const listed = await dirs.list(dir);
  assertEquals(listed.length, 40);
  for (const [name, entry] of listed) {
    const i = Number(name.slice(1));
    const xattr = (entry as { xattr?: Record<string, string> }).xattr;
    // Small xattrs stay; large ones are left out of the listing, not out of the folder.
    assertEquals(xattr === undefined, i % 2 === 1, name);
    assertEquals(isSlim(entry), i % 2 === 1, name);
  }
  const [name, slim] = listed.find(([, e]) => isSlim(e))!;
  const full = await dirs.lookup(dir, name);
  assertEquals((full as { xattr?: Record<string, string> }).xattr?.["user.big"]?.length, 2668);
  // Written back, the copy would drop the xattrs: refused.
  let refused: unknown;
  await dirs.update(ino, [name], (draft) => {
    try {
      draft.set(name, slim);
    } catch (error) {
      refused = error;
    }
  });
  assert(refused instanceof Error && /without its xattrs/.test(refused.message), String(refused));
  assertEquals((await fs.getxattr(`/x/${name}`, "user.big")).length, 2000);
  // A page with xattrs after a name (a listing begun in name order) shows them whole.
  const page = await fs.readdir("/x", { xattrs: true, cursor: "f0" });
  assert(page.entries.length > 0);
  for (const e of page.entries) {
    const key = Number(e.name.slice(1)) % 2 ? "user.big" : "user.s";
    assert(e.xattrs?.[key] !== undefined, `${e.name} without ${key}`);
  }
});

for (const sharded of [false, true]) {
  Deno.test(`a listing with xattrs of ${sharded ? "a sharded" : "an unsharded"} folder of subfolders and hard links is cut at 8 MiB of them too`, async () => {
    // Their xattrs live in their own objects (d/<ino>, i/<ino>), up to 128 KiB each, and
    // 5,000 hard links to one file carry its xattrs 5,000 times into a page: before, a page
    // of them was 5,000 members whatever they carried.
    const fs = await Vfs.open(new MemoryStore(), sharded ? { dirLimits: { maxEntries: 16 } } : {});
    await fs.mkdir("/x");
    const value = new Uint8Array(30 << 10);
    const set = Object.fromEntries(["a", "b", "c"].map((p) => [`dav:{urn:x}${p}`, value]));
    await fs.writeFile("/x/file", new Uint8Array(1));
    await fs.updatexattrs("/x/file", { set });
    for (let i = 0; i < 60; i++) {
      await fs.mkdir(`/x/d${i}`);
      await fs.updatexattrs(`/x/d${i}`, { set });
      await fs.link("/x/file", `/x/l${i}`);
    }
    const names = (await xattrPages(fs)).flat().map((e) => e.name);
    assertEquals(names.length, 121);
    assertEquals(new Set(names).size, 121);
  });
}

Deno.test("a listing with xattrs of a sharded folder without large ones comes in name order, from the kept listing", async () => {
  // A PROPFIND asking for `displayname` (rclone's, Windows') is one with dead properties.
  // Before, every such listing of a sharded folder went in hash order, reading and walking
  // every shard again on each repeat; only a folder holding entries kept without their
  // xattrs (over 1 KiB) needs that.
  const fs = await Vfs.open(new MemoryStore(), { dirLimits: { maxEntries: 8 } });
  await fs.mkdir("/x");
  const names = Array.from({ length: 40 }, (_, i) => `f${String(i).padStart(2, "0")}`);
  for (const name of names) await fs.writeFile(`/x/${name}`, new Uint8Array(1));
  await fs.updatexattrs("/x/f07", { set: { "dav:{urn:x}a": new TextEncoder().encode("<a/>") } });
  assert((await fs.store.list({ prefix: "d/" })).objects.length > 3, "the folder is sharded");
  const first = await fs.readdir("/x", { xattrs: true });
  assertEquals(first.entries.map((e) => e.name), names);
  assertEquals(first.cursor, null);
  assertEquals(Object.keys(first.entries[7]!.xattrs!), ["dav:{urn:x}a"]);
  const again = await fs.readdir("/x", { xattrs: true });
  assertEquals(again.version, first.version);
});

Deno.test("a listing with xattrs of an age-sharded folder comes in hash order line by line, each name once, though shards roll over and split between its pages", async () => {
  // Before, such a folder was listed in name order from a sorted listing of every shard,
  // read again for each page (its large xattrs looked up one by one), as hash-sharded ones
  // were before session 19.
  const store = new MemoryStore();
  const fs = await Vfs.open(store, {
    dirLimits: { maxEntries: 16, maxDecodedBytes: 48 << 10 },
    ...INLINE,
  });
  await fs.mkdir("/x");
  const big = { "user.big": new Uint8Array(1500) }; // over 1 KiB: kept without it, hash order
  const more = { "user.more": new Uint8Array(1500) };
  for (let i = 0; i < 80; i++) {
    await fs.writeFile(`/x/f${i}`, new Uint8Array(1));
    await fs.updatexattrs(`/x/f${i}`, { set: big });
  }
  const ino = (await fs.lookup("/x")).ino;
  const dirs = new Directories(new MetaStore(store));
  const table = async () => (await dirs.get(ino))!.value.ages;
  assert((await table())?.closed.length, "age-sharded");
  const seen: string[] = [];
  const cursors: string[] = [];
  let added = 0;
  let grown = 0;
  for (let cursor: string | null = null;;) {
    const page: Page = await fs.readdir("/x", {
      limit: 7,
      xattrs: true,
      ...(cursor ? { cursor } : {}),
    });
    for (const e of page.entries) assertEquals(e.xattrs?.["user.big"]?.length, 1500, e.name);
    seen.push(...page.entries.map((e) => e.name));
    // Between pages: new files (the open shard rolls over) and more xattrs on old ones (their
    // closed shards pass the decoded size and split).
    for (let k = 0; k < 4; k++) {
      await fs.writeFile(`/x/g${added}`, new Uint8Array(1));
      await fs.updatexattrs(`/x/g${added++}`, { set: big });
      await fs.updatexattrs(`/x/f${(grown++ * 7) % 80}`, { set: more });
    }
    if (!(cursor = page.cursor)) break;
    cursors.push(cursor);
  }
  assertEquals(new Set(seen).size, seen.length, "a name listed twice");
  for (let i = 0; i < 80; i++) assert(seen.includes(`f${i}`), `f${i} missed`);
  assert(cursors.every((c) => /^\/h\/[0-9a-f]{8}\.[^/]+\//.test(c)), cursors.join(" "));
  assert((await table())!.closed.some((c) => c.line !== undefined), "no closed shard split");
  // A cursor of a line the folder does not have: refused, not a listing from elsewhere.
  const forged = fs.readdir("/x", { xattrs: true, cursor: "/h/00000000.nosuchline/f0" });
  await forged.then(() => assert(false, "forged cursor listed"), (e) => {
    assert(isFsError(e, "EINVAL"), String(e));
  });
});

Deno.test("a folder full of large xattrs written since they spill is one small object; a listing with them reads them page by page", async () => {
  // The folder of the first test, written with xattrs spilled to x/<id>: no longer split by
  // the decoded size of its entries (before session 21: at least 4 shards of up to 4 MiB of
  // JSON), and a listing with xattrs holds at most 8 MiB of values a page.
  const store = new MemoryStore();
  await fatFolder(await Vfs.open(store), 200, 90 << 10);
  const dirs = (await store.list({ prefix: "d/" })).objects;
  assertEquals(dirs.length, 2, "root and /x, unsharded");
  const counted = new HookStore(store);
  const fs = await Vfs.open(counted);
  const all = await xattrPages(fs);
  assert(all.length >= 3, `${all.length} pages`);
  const names = all.flat().map((e) => e.name);
  assertEquals(names, [...names].sort());
  assertEquals(new Set(names).size, 200);
  for (const e of all.flat()) {
    assertEquals(e.xattrs!["dav:{urn:x}b"]?.length, 30 << 10, e.name);
  }
  const values = counted.calls.filter((c) => c.op === "GetObject" && c.key?.startsWith("x/"));
  assertEquals(values.length, 200, "each file's values read once");
  // Without xattrs, none is read.
  const before = counted.calls.length;
  const plain = await (await Vfs.open(counted)).readdir("/x");
  assertEquals(plain.entries.length, 200);
  assertEquals(counted.calls.slice(before).filter((c) => c.key?.startsWith("x/")), []);
});
