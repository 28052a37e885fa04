// Listings answered from what was rendered before: a repeated PROPFIND Depth 1 (or HTTP API
// listing) of an unchanged directory sends the bytes rendered last time, and any change that
// alters the answer (through this instance or another on the same bucket), another property
// set or another caller's view makes it render again.

import { Hono } from "hono";
import { MetaStore } from "../src/format/cas.ts";
import { nameHash } from "../src/format/dir.ts";
import { dirKey, newId, newIno, shardKey } from "../src/format/keys.ts";
import { checkDir, type DirObject, FORMAT_VERSION, type ShardObject } from "../src/format/meta.ts";
import { type StoreMethod, WrappedStore } from "../src/store/_wrapper.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { createWebDav } from "../src/webdav/mod.ts";
import { DAV } from "../src/webdav/xml.ts";
import { assert, assertEquals } from "./_assert.ts";
import { dateCalls } from "./_dates.ts";
import { child, Dav, davTest, kids, prop, propfindBody } from "./_dav.ts";

const LISTED = propfindBody([[DAV, "getlastmodified"], [DAV, "getcontentlength"], [
  DAV,
  "getetag",
]]);

async function propfindText(dav: Dav, path: string, body: string | null = LISTED) {
  const res = await dav.send("PROPFIND", path, {
    headers: { depth: "1", "content-type": "application/xml" },
    body,
  });
  assertEquals(res.status, 207);
  return await res.text();
}

/**
 * `count` files in a new `dir`, each last modified in a second of its own (and the
 * directory in another): the HTTP date of one second is rendered once and kept
 * (`httpDate`), so only distinct seconds count a member's rendering.
 */
async function fill(dav: Dav, dir: string, count: number): Promise<void> {
  assertEquals(await dav.mkcol(dir), 201);
  const base = Date.UTC(2020, 0, 1);
  for (let i = 0; i < count; i++) {
    assertEquals(await dav.put(`${dir}/f${i}`, "x".repeat(i)), 201);
    await dav.vfs.setattr(`${dir}/f${i}`, { mtime: base + (i + 1) * 1000 });
  }
  await dav.vfs.setattr(dir, { mtime: base });
}

Deno.test("a repeated PROPFIND Depth 1 of an unchanged directory sends what it rendered, rendering no member again", async () => {
  const store = new MemoryStore();
  const dav = new Dav(await Vfs.open(store), store);
  await fill(dav, "/d", 30);
  const first = await dateCalls("toUTCString", () => propfindText(dav, "/d"));
  assertEquals(first.calls, 31); // getlastmodified of the directory and of 30 members
  const again = await dateCalls("toUTCString", () => propfindText(dav, "/d"));
  assertEquals(again.result, first.result);
  assertEquals(again.calls, 1); // the directory's own response only
});

Deno.test("a repeated HTTP API listing of an unchanged directory sends what it rendered", async () => {
  const store = new MemoryStore();
  const dav = new Dav(await Vfs.open(store), store);
  await fill(dav, "/d", 30);
  const list = async () => {
    const res = await dav.app.request("http://localhost/api/v1/fs/d/?limit=20");
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), "application/json");
    return await res.text();
  };
  const first = await dateCalls("toISOString", list);
  assertEquals(first.calls, 20);
  assertEquals(JSON.parse(first.result).entries.length, 20);
  const again = await dateCalls("toISOString", list);
  assertEquals(again, { result: first.result, calls: 0 });
  // A file changed through another instance: listed anew, with its new size.
  const other = new Dav(await Vfs.open(store), store);
  assertEquals(await other.put("/d/f1", "changed"), 204);
  const changed = JSON.parse(await list());
  assertEquals(changed.entries.find((e: { name: string }) => e.name === "f1").size, 7);
});

/** Sizes by member name of a Depth 1 PROPFIND through `dav`. */
async function sizes(dav: Dav, dir: string): Promise<Record<string, string>> {
  const ms = await dav.propfind(dir, "1", LISTED);
  const out: Record<string, string> = {};
  for (const [path, r] of ms) {
    if (path === dir) continue;
    const length = r.props.get(`{${DAV}}getcontentlength`);
    out[path.slice(dir.length + 1)] = length?.status === 200
      ? (length.element.children.join("") as string)
      : "dir";
  }
  return out;
}

davTest(
  "a kept PROPFIND listing is not sent after a create, remove, rename or setattr through another instance",
  async (t) => {
    const a = t.a;
    await fill(a, "/d", 3);
    const b = await t.b();
    const expect = { f0: "0", f1: "1", f2: "2" } as Record<string, string>;
    assertEquals(await sizes(a, "/d"), expect);
    assertEquals(await sizes(a, "/d"), expect); // kept

    assertEquals(await b.put("/d/new", "abcd"), 201);
    expect.new = "4";
    assertEquals(await sizes(a, "/d"), expect);

    assertEquals(await b.status("DELETE", "/d/f0"), 204);
    delete expect.f0;
    assertEquals(await sizes(a, "/d"), expect);

    assertEquals(
      await b.status("MOVE", "/d/f1", {
        headers: { destination: "http://localhost/dav/d/moved" },
      }),
      201,
    );
    delete expect.f1;
    expect.moved = "1";
    assertEquals(await sizes(a, "/d"), expect);

    // setattr: a truncate changes the size in the entry, a subdirectory's mtime its own object.
    await b.vfs.truncate("/d/moved", 0);
    expect.moved = "0";
    assertEquals(await sizes(a, "/d"), expect);
    assertEquals(await a.mkcol("/d/sub"), 201);
    expect.sub = "dir";
    const before = await a.propfind("/d", "1", LISTED);
    await b.vfs.setattr("/d/sub", { mtime: Date.UTC(2001, 0, 1) });
    const after = await a.propfind("/d", "1", LISTED);
    const modified = (ms: typeof before) =>
      prop(ms, "/d/sub", DAV, "getlastmodified").children.join("");
    assert(modified(before) !== modified(after), "the subdirectory's new mtime is listed");
    assertEquals(modified(after), "Mon, 01 Jan 2001 00:00:00 GMT");
  },
);

davTest(
  "a kept PROPFIND listing shows a lock taken or released through another instance",
  async (t) => {
    const a = t.a;
    await fill(a, "/d", 2);
    const b = await t.b();
    const body = propfindBody([[DAV, "lockdiscovery"]]);
    const locksOf = async () => {
      const ms = await a.propfind("/d", "1", body);
      return kids(prop(ms, "/d/f1", DAV, "lockdiscovery"), DAV, "activelock").length;
    };
    assertEquals(await locksOf(), 0);
    assertEquals(await locksOf(), 0); // kept
    const lock = await b.lock("/d/f1");
    assertEquals(lock.status, 200);
    assertEquals(await locksOf(), 1);
    assertEquals(await b.unlock("/d/f1", lock.token!), 204);
    assertEquals(await locksOf(), 0);
    // A lock on the directory itself covers its members (depth infinity).
    const deep = await b.lock("/d", { depth: "infinity" });
    assertEquals(deep.status, 200);
    const ms = await a.propfind("/d", "1", body);
    const active = child(prop(ms, "/d/f0", DAV, "lockdiscovery"), DAV, "activelock");
    assert(active, "the member shows the directory's lock");
  },
);

davTest(
  "a kept PROPFIND listing is per requested property set, and per dead property change",
  async (t) => {
    const a = t.a;
    await fill(a, "/d", 2);
    const sizesOnly = propfindBody([[DAV, "getcontentlength"]]);
    const typesOnly = propfindBody([[DAV, "resourcetype"]]);
    const first = await propfindText(a, "/d", sizesOnly);
    assert(first.includes("getcontentlength") && !first.includes("resourcetype"));
    const second = await propfindText(a, "/d", typesOnly);
    assert(second.includes("resourcetype") && !second.includes("getcontentlength"));
    // allprop lists dead properties: a PROPPATCH through another instance shows.
    const all = await propfindText(a, "/d", null);
    assert(!all.includes("colour"));
    const b = await t.b();
    const patch = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">` +
      `<D:set><D:prop><Z:colour>red</Z:colour></D:prop></D:set></D:propertyupdate>`;
    const res = await b.send("PROPPATCH", "/d/f1", {
      headers: { "content-type": "application/xml" },
      body: patch,
    });
    assertEquals(res.status, 207);
    await res.body?.cancel();
    assert((await propfindText(a, "/d", null)).includes("colour"));
  },
);

Deno.test("a kept PROPFIND listing is not sent to a caller whose view does not reach it", async () => {
  const store = new MemoryStore();
  const vfs = await Vfs.open(store);
  const dav = createWebDav(vfs, {
    scopeOf: (c) => c.req.header("x-scope") ?? "/",
    principalOf: (c) => c.req.header("x-user") ?? null,
  });
  const app = new Hono().route("/dav", dav);
  await vfs.mkdir("/home/alice", { parents: true });
  await vfs.writeFile("/home/alice/a", new Uint8Array([1]));
  await vfs.writeFile("/home/b", new Uint8Array([2]));
  const propfind = async (path: string, headers: Record<string, string>) => {
    const res = await app.request(`http://localhost/dav${path}`, {
      method: "PROPFIND",
      headers: { depth: "1", ...headers },
      body: LISTED,
    });
    return { status: res.status, text: await res.text() };
  };
  const root = { "x-user": "root" };
  const alice = { "x-user": "alice", "x-scope": "/home/alice" };
  assertEquals((await propfind("/home/", root)).status, 207);
  assertEquals((await propfind("/home/", root)).status, 207); // kept for root
  // Alice may not list /home: the kept answer is not hers.
  assertEquals((await propfind("/home/", alice)).status, 403);
  const hers = await propfind("/home/alice/", alice);
  assertEquals(hers.status, 207);
  assert(hers.text.includes("/dav/home/alice/a") && !hers.text.includes("/dav/home/b"));
});

/** Counts GETs by key. */
class GetCounter extends WrappedStore {
  gets = new Map<string, number>();
  protected override call<T>(
    method: StoreMethod,
    detail: unknown,
    run: () => Promise<T>,
  ): Promise<T> {
    if (method === "get") {
      const key = String((detail as { key?: string })?.key ?? detail);
      this.gets.set(key, (this.gets.get(key) ?? 0) + 1);
    }
    return run();
  }
}

Deno.test("a PROPFIND Depth 1 of more than one page reads each index object of the directory once", async () => {
  const inner = new MemoryStore();
  const store = new GetCounter(inner);
  const dav = new Dav(await Vfs.open(store), store);
  assertEquals(await dav.mkcol("/d"), 201);
  const ino = (await dav.vfs.lookup("/d")).ino;
  // 6,000 entries in 4 shards, written directly (fast): the listing streams in two pages.
  const meta = new MetaStore(inner);
  const now = Date.UTC(2026, 0, 1);
  const attr = {
    mode: 0o100644,
    uid: 0,
    gid: 0,
    size: 1,
    atime: now,
    mtime: now,
    ctime: now,
    btime: now,
  };
  const shards = Array.from({ length: 4 }, (_, bits) => ({
    ref: { bits, depth: 2, id: newId(now) },
    shard: { v: FORMAT_VERSION, ino, entries: {} } as ShardObject,
  }));
  for (let i = 0; i < 6000; i++) {
    const name = `f${i}`;
    shards[nameHash(name) >>> 30]!.shard.entries[name] = {
      t: "f",
      ino: newIno(),
      attr,
      data: "AQ==",
      gen: 1,
      cv: 1,
    };
  }
  for (const { ref, shard } of shards) assert(await meta.write(shardKey(ino, ref.id), shard, null));
  const dir = (await meta.read<DirObject>(dirKey(ino), checkDir))!;
  const { entries: _, ...rest } = dir.value;
  assert(await meta.write(dirKey(ino), { ...rest, shards: shards.map((s) => s.ref) }, dir));
  for (let round = 0; round < 2; round++) {
    store.gets.clear();
    const ms = await dav.propfind("/d", "1", LISTED);
    assertEquals(ms.size, 6001);
    for (const { ref } of shards) {
      assertEquals(store.gets.get(shardKey(ino, ref.id)), 1, `round ${round}`);
    }
  }
});

Deno.test("a listed file's stat follows every change of its entry (stats kept per entry object)", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/d");
  for (let i = 0; i < 5; i++) await fs.writeFile(`/d/f${i}`, new Uint8Array(i));
  const statOf = async (name: string) =>
    (await fs.readdir("/d")).entries.find((e) => e.name === name)!.stat;
  const before = await statOf("f3");
  assertEquals(before.size, 3);
  assert((await statOf("f3")) === before || (await statOf("f3")).etag === before.etag);
  await fs.truncate("/d/f3", 1);
  assertEquals((await statOf("f3")).size, 1);
  await fs.setattr("/d/f3", { mode: 0o600, mtime: Date.UTC(2000, 0, 1) });
  const changed = await statOf("f3");
  assertEquals([changed.mode, changed.mtime], [0o600, Date.UTC(2000, 0, 1)]);
  await fs.writeFile("/d/f3", new Uint8Array(9));
  const rewritten = await statOf("f3");
  assertEquals(rewritten.size, 9);
  assert(rewritten.etag !== changed.etag, "new content, new ETag");
  // Through another instance as well.
  const other = await Vfs.open(store);
  await other.writeFile("/d/f4", new Uint8Array(2));
  assertEquals((await statOf("f4")).size, 2);
});
