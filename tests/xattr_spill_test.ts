// Xattrs over 1 KiB spilled out of their entry into an immutable object `x/<id>` (docs/format.md,
// "Spilled xattrs"): read back through every front end, shared by copies, renames and hard
// links, reached by GC and fsck, written before the CAS that names them, claimed by a late one.

import { assert, assertEquals } from "./_assert.ts";
import { HookStore } from "./_hook_store.ts";
import { Dav, ORIGIN, parseMultistatus, propfindBody, responseOf } from "./_dav.ts";
import { textOf } from "../src/webdav/xml.ts";
import { MemoryStore } from "../src/store/memory.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";
import { gc } from "../src/format/gc.ts";
import { fsck } from "../src/format/fsck.ts";
import { dirKey, PREFIX, ROOT_INO, SUPERBLOCK_KEY } from "../src/format/keys.ts";
import { decode, type DirObject, encode, type Entry } from "../src/format/meta.ts";
import { readAll } from "../src/store/_util.ts";
import { contract } from "./_stores.ts";

const big = (fill: number) => new Uint8Array(3000).fill(fill);

/** Keys of the spilled xattr objects in `store`. */
async function spilled(store: ObjectStore): Promise<string[]> {
  return (await store.list({ prefix: PREFIX.xattr })).objects.map((o) => o.key).sort();
}

/** Entry `name` of the root as stored. */
async function rootEntry(store: ObjectStore, name: string): Promise<Entry | undefined> {
  const got = await store.get(dirKey(ROOT_INO));
  assert(got?.status === "ok");
  const dir = decode<DirObject>("d", await readAll(got.body), () => null);
  return dir.entries?.[name];
}

/** GC twice, a grace apart: what it deletes is what nothing reaches. */
async function collect(store: ObjectStore) {
  const t = Date.now();
  await gc(store, { now: t });
  return await gc(store, { now: t + 11 * 60_000 });
}

contract(
  "xattrs over 1 KiB live in an object of their own; the entry keeps their names and lengths",
  async (store) => {
    const fs = await Vfs.open(store);
    await fs.writeFile("/f", new Uint8Array(1));
    await fs.setxattr("/f", "user.small", new Uint8Array([1, 2]));
    assertEquals(await spilled(store), [], "a small one stays inline");
    await fs.setxattr("/f", "user.big", big(7));
    const entry = await rootEntry(store, "f");
    assert(entry?.t === "f");
    assertEquals(entry.xattr, undefined);
    assertEquals(Object.keys(entry.xattrRef!.sizes).sort(), ["user.big", "user.small"]);
    assertEquals(entry.xattrRef!.sizes["user.big"], 4000);
    assertEquals((await spilled(store)).length, 1);
    // Read back by a fresh instance; names without reading the object.
    const counted = new HookStore(store);
    const fresh = await Vfs.open(counted);
    assertEquals(await fresh.listxattr("/f"), ["user.big", "user.small"]);
    assertEquals(counted.calls.filter((c) => c.key?.startsWith(PREFIX.xattr)), []);
    assertEquals(await fresh.getxattr("/f", "user.big"), big(7));
    assertEquals(await fresh.getxattr("/f", "user.small"), new Uint8Array([1, 2]));
    assertEquals(await fresh.getxattr("/f", "user.none").catch((e) => e.code), "ENODATA");
    // A change writes a new object (the old one is GC's); below the cut, inline again.
    await fresh.setxattr("/f", "user.other", new Uint8Array([3]));
    assertEquals((await spilled(store)).length, 2);
    await fresh.removexattr("/f", "user.big");
    const back = await rootEntry(store, "f");
    assert(back?.t === "f");
    assertEquals(back.xattrRef, undefined);
    assertEquals(Object.keys(back.xattr!).sort(), ["user.other", "user.small"]);
    assertEquals((await collect(store)).xattrs.deleted, 2);
    assertEquals(await spilled(store), []);
    assertEquals(await fresh.getxattr("/f", "user.other"), new Uint8Array([3]));
    assertEquals((await fsck(store)).problems.filter((p) => p.severity === "error"), []);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "spilled dead properties through WebDAV PROPPATCH/PROPFIND and the HTTP API",
  async (store) => {
    const dav = new Dav(await Vfs.open(store), store);
    assertEquals(await dav.put("/d.txt", "d"), 201);
    const value = "v".repeat(2000);
    const res = await dav.send("PROPPATCH", "/d.txt", {
      headers: { "content-type": "application/xml" },
      body: `<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" ` +
        `xmlns:Z="urn:z"><D:set><D:prop><Z:a>${value}</Z:a><Z:b>b</Z:b></D:prop></D:set>` +
        `</D:propertyupdate>`,
    });
    assertEquals(res.status, 207, await res.text());
    assertEquals((await spilled(store)).length, 1);
    const fresh = new Dav(await Vfs.open(store), store);
    for (const depth of ["0", "1"] as const) {
      const at = depth === "0" ? "/d.txt" : "/";
      const ms = await fresh.propfind(at, depth, propfindBody([["urn:z", "a"], ["urn:z", "b"]]));
      const props = responseOf(ms, "/d.txt").props;
      assertEquals(textOf(props.get("{urn:z}a")!.element), value);
      assertEquals(textOf(props.get("{urn:z}b")!.element), "b");
    }
    const all = await fresh.propfind("/", "1");
    assertEquals(textOf(responseOf(all, "/d.txt").props.get("{urn:z}a")!.element), value);
    const names = await fresh.send("PROPFIND", "/", {
      headers: { depth: "1", "content-type": "application/xml" },
      body: `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`,
    });
    const listed = parseMultistatus(await names.text());
    assert(responseOf(listed, "/d.txt").props.has("{urn:z}a"));
    // The HTTP API: setxattr spills, xattr reads back.
    const api = (path: string, init: RequestInit = {}) =>
      fresh.app.request(`${ORIGIN}/api/v1${path}`, init);
    const b64 = big(9).toBase64();
    const set = await api("/fs/d.txt", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ op: "setxattr", name: "user.api", value: b64 }),
    });
    assertEquals(set.status, 200, await set.text());
    const got = await (await api("/xattr/d.txt?name=user.api")).json();
    assertEquals(got.value, b64);
    const list = await (await api("/xattr/d.txt")).json();
    assert(list.names.includes("user.api") && list.names.includes("dav:{urn:z}a"), list.names);
    assertEquals((await spilled(store)).length, 2);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "copy, rename and hard links share spilled values; GC keeps them while any names them",
  async (store) => {
    const fs = await Vfs.open(store);
    await fs.writeFile("/a", new Uint8Array(10));
    await fs.setxattr("/a", "user.x", big(1));
    await fs.copy("/a", "/b");
    await fs.rename("/a", "/c");
    await fs.link("/c", "/h"); // the inode object i/<ino> takes the reference over
    await fs.symlink("/c", "/l");
    await fs.setxattr("/l", "user.y", big(2)); // a symlink's own, spilled too
    assertEquals((await spilled(store)).length, 2);
    // A change through one hard link writes a new object the inode names; the copy keeps
    // the old one.
    await fs.setxattr("/h", "user.z", big(3));
    assertEquals(await fs.getxattr("/c", "user.z"), big(3));
    assertEquals(await fs.getxattr("/b", "user.z").catch((e) => e.code), "ENODATA");
    await fs.unlink("/c");
    await collect(store);
    const fresh = await Vfs.open(store);
    for (const path of ["/b", "/h"]) assertEquals(await fresh.getxattr(path, "user.x"), big(1));
    assertEquals(await fresh.getxattr("/h", "user.z"), big(3));
    assertEquals(await fresh.getxattr("/l", "user.y"), big(2));
    assertEquals((await spilled(store)).length, 3);
    const report = await fsck(store);
    assertEquals(report.problems.filter((p) => p.severity === "error"), []);
    // Compaction moves /b's bytes and keeps its reference.
    await fresh.writeFile("/b", new Uint8Array(6000).fill(3));
    await fresh.write("/b", 0, new Uint8Array(100).fill(4));
    await collect(store);
    const moved = await fresh.compact({ below: 0.99, graceMs: 0 });
    assertEquals(moved.filesRewritten, 1, JSON.stringify(moved));
    assertEquals(await (await Vfs.open(store)).getxattr("/b", "user.x"), big(1));
    await fresh.unlink("/b");
    await fresh.unlink("/h");
    await fresh.unlink("/l");
    await collect(store);
    assertEquals(await spilled(store), []);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "a crash between the values and the CAS names nothing missing; the orphan is swept after grace",
  async (store) => {
    await (await Vfs.open(store)).writeFile("/f", new Uint8Array(1));
    const crashing = new HookStore(store);
    crashing.after(
      (c) => c.op === "PutObject" && c.key?.startsWith(PREFIX.xattr) === true,
      () => Promise.reject(new Error("crash")),
    );
    const fs = await Vfs.open(crashing);
    const outcome = await fs.setxattr("/f", "user.x", big(3)).then(() => "ok", (e) => e.message);
    assert(outcome.includes("crash"), outcome);
    assertEquals((await spilled(store)).length, 1);
    const fresh = await Vfs.open(store);
    assertEquals(await fresh.listxattr("/f"), []);
    const report = await fsck(store, { graceMs: 0 });
    assertEquals(report.problems.filter((p) => p.severity === "error"), []);
    assert(report.problems.some((p) => p.kind === "garbage" && p.key?.startsWith(PREFIX.xattr)));
    const first = await gc(store, { now: Date.now() });
    assertEquals(first.xattrs.deleted, 0, "nothing is deleted at its first sighting");
    assertEquals((await collect(store)).xattrs.deleted, 1);
    assertEquals(await spilled(store), []);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "a change stalled past GC's grace between its values and its CAS fails EIO; nothing names missing values",
  async (store) => {
    let clock = Date.now();
    const stalled = new HookStore(store);
    stalled.after(
      (c) => c.op === "PutObject" && c.key?.startsWith(PREFIX.xattr) === true,
      async () => {
        // Another instance's GC runs twice, a grace apart, while this writer stalls.
        clock += 11 * 60_000;
        const t = Date.now();
        await gc(store, { now: t });
        await gc(store, { now: t + 11 * 60_000 });
      },
    );
    await (await Vfs.open(store)).writeFile("/f", new Uint8Array(1));
    const fs = await Vfs.open(stalled, { now: () => clock });
    const outcome = await fs.setxattr("/f", "user.x", big(4)).then(() => "ok", (e) => e.code);
    assertEquals(stalled.fired, 1, "the interleaving did not happen");
    assertEquals(outcome, "EIO");
    const fresh = await Vfs.open(store);
    assertEquals(await fresh.listxattr("/f"), []);
    assertEquals((await fsck(store)).problems.filter((p) => p.severity === "error"), []);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "fsck reports missing spilled values as an error; GC, to which they name nothing, goes on",
  async (store) => {
    const fs = await Vfs.open(store);
    await fs.writeFile("/f", new Uint8Array(1));
    await fs.setxattr("/f", "user.x", big(5));
    await fs.writeFile("/g", new Uint8Array(5000)); // a segment
    await fs.writeFile("/g", new Uint8Array(5000).fill(1)); // the first one unreferenced
    const [key] = await spilled(store);
    await store.delete(key!);
    const report = await fsck(store);
    assertEquals(report.problems.filter((p) => p.severity === "error").map((p) => p.kind), [
      "missing-xattrs",
    ]);
    // A value object names nothing: one missing hides no garbage, so GC does not read them
    // (a GET each per walk) and is not stopped; the unreferenced segment goes.
    const seen = new HookStore(store);
    const run = await collect(seen);
    assertEquals([run.blocked, run.segments.deleted], [null, 1]);
    const reads = seen.calls.filter((c) => c.op === "GetObject" && c.key?.startsWith(PREFIX.xattr));
    assertEquals(reads, [], "GC read a value object");
    const fresh = await Vfs.open(store);
    assertEquals(await fresh.listxattr("/f"), ["user.x"]);
    assert(isFsError(await fresh.getxattr("/f", "user.x").catch((e) => e), "EIO"));
  },
  { backends: ["memory", "s3"] },
);

contract(
  "fsck reports unreadable spilled values as corrupt; GC deletes only what nothing names",
  async (store) => {
    const fs = await Vfs.open(store);
    await fs.writeFile("/f", new Uint8Array(1));
    await fs.setxattr("/f", "user.x", big(5));
    await fs.setxattr("/f", "user.y", big(5)); // the first object is garbage now
    const keys = await spilled(store);
    const entry = await rootEntry(store, "f");
    assert(entry?.t === "f" && entry.xattrRef);
    const named = `${PREFIX.xattr}${entry.xattrRef.id}`;
    await store.put(named, new TextEncoder().encode("{not json"));
    const report = await fsck(store, { graceMs: 0 });
    const errors = report.problems.filter((p) => p.severity === "error");
    assertEquals(errors.map((p) => [p.kind, p.key]), [["corrupt-object", named]]);
    const run = await collect(store);
    assertEquals([run.blocked, run.xattrs.deleted], [null, 1]);
    assertEquals(await spilled(store), [named], "the named one kept, the garbage one deleted");
    assertEquals(keys.length, 2);
    assert(
      isFsError(await (await Vfs.open(store)).getxattr("/f", "user.x").catch((e) => e), "EIO"),
    );
  },
  { backends: ["memory", "s3"] },
);

contract(
  "large xattrs stored inline before stay readable and are spilled when next changed",
  async (store) => {
    const old = await Vfs.open(store, { xattrSpillBytes: Infinity });
    await old.writeFile("/f", new Uint8Array(1));
    await old.setxattr("/f", "user.x", big(6));
    assertEquals(await spilled(store), []);
    const fs = await Vfs.open(store);
    assertEquals(await fs.getxattr("/f", "user.x"), big(6));
    await fs.setxattr("/f", "user.y", new Uint8Array([1]));
    assertEquals((await spilled(store)).length, 1);
    assertEquals(await (await Vfs.open(store)).getxattr("/f", "user.x"), big(6));
  },
  { backends: ["memory", "s3"] },
);

Deno.test("a bucket of format version 1 is raised to 2 when opened; one of version 3 is refused", async () => {
  const store = new MemoryStore();
  await Vfs.open(store);
  const read = async () => {
    const got = await store.get(SUPERBLOCK_KEY);
    assert(got?.status === "ok");
    return decode<{ version: number }>("s", await readAll(got.body), () => null);
  };
  assertEquals((await read()).version, 2);
  await store.put(SUPERBLOCK_KEY, encode({ ...await read(), version: 1 }));
  await Vfs.open(store);
  assertEquals((await read()).version, 2);
  await store.put(SUPERBLOCK_KEY, encode({ ...await read(), version: 3 }));
  const refused = await Vfs.open(store).then(() => "opened", (e) => e.message);
  assert(/format version 3/.test(refused), refused);
});

Deno.test("a bucket raised past what this instance reads while it raises from 1 is refused, not opened", async () => {
  const store = new MemoryStore();
  await Vfs.open(store);
  const got = await store.get(SUPERBLOCK_KEY);
  assert(got?.status === "ok");
  const sb = decode<{ version: number }>("s", await readAll(got.body), () => null);
  await store.put(SUPERBLOCK_KEY, encode({ ...sb, version: 1 }));
  // Between this instance's read of version 1 and its raise, a newer one raises it to 3:
  // the raise fails its condition, and what it reads again is no version it reads.
  const hooks = new HookStore(store);
  hooks.before(
    (call) => call.op === "PutObject" && call.key === SUPERBLOCK_KEY,
    () => store.put(SUPERBLOCK_KEY, encode({ ...sb, version: 3 })),
  );
  const refused = await Vfs.open(hooks).then(() => "opened", (e) => e.message);
  assertEquals(hooks.fired, 1, "the interleaving did not happen");
  assert(/format version 3/.test(refused), refused);
});

Deno.test("concurrent changes of one file's spilled xattrs all land, each made again on the other's", async () => {
  // Each spilled change holds only if the record still names what it read: one of a group
  // commit lands, the others are made again from a fresh read (before session 21, inline
  // changes merged inside the CAS).
  const fs = await Vfs.open(new MemoryStore());
  await fs.writeFile("/f", new Uint8Array(1));
  await fs.setxattr("/f", "user.base", big(1));
  const names = Array.from({ length: 16 }, (_, i) => `user.k${i}`);
  await Promise.all(names.map((name, i) => fs.setxattr("/f", name, new Uint8Array(1000).fill(i))));
  const fresh = await Vfs.open(fs.store);
  assertEquals(await fresh.listxattr("/f"), ["user.base", ...names].sort());
  for (const [i, name] of names.entries()) {
    assertEquals(await fresh.getxattr("/f", name), new Uint8Array(1000).fill(i));
  }
});
