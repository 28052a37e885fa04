// An adversarial review of spilled xattrs (docs/format.md, "Spilled xattrs"): listings of
// members whose spilled object is missing or corrupt, records an instance from before wrote
// with both inline xattrs and a reference, and changes from two instances at once.

import { assert, assertEquals } from "./_assert.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { HookStore, type SeenCall } from "./_hook_store.ts";
import { type ObjectStore, StoreError } from "../src/store/types.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";
import { dirKey, PREFIX, ROOT_INO, SUPERBLOCK_KEY } from "../src/format/keys.ts";
import { decode, type DirObject, encode } from "../src/format/meta.ts";
import { readAll } from "../src/store/_util.ts";
import { gc } from "../src/format/gc.ts";
import { fsck } from "../src/format/fsck.ts";
import { Dav, parseMultistatus, propfindBody } from "./_dav.ts";

const big = (fill: number, length = 3000) => new Uint8Array(length).fill(fill);

/** Keys of the spilled xattr objects in `store`. */
async function spilled(store: ObjectStore): Promise<string[]> {
  return (await store.list({ prefix: PREFIX.xattr })).objects.map((o) => o.key).sort();
}

/** Two instances on one store: `a`'s calls run into `hooked`'s hooks, `b`'s do not. */
async function pair() {
  const base = new MemoryStore();
  const hooked = new HookStore(base);
  return { base, hooked, a: await Vfs.open(hooked), b: await Vfs.open(base) };
}

/** The PUT of a spilled xattr object (before the CAS naming it). */
const valuesPut = (c: SeenCall) => c.op === "PutObject" && (c.key ?? "").startsWith(PREFIX.xattr);

/** The PUT of the root directory's object (a CAS of a change of a name in it). */
const rootPut = (c: SeenCall) => c.op === "PutObject" && c.key === dirKey(ROOT_INO);

/**
 * What an instance from before spilling writes: an inline value over 1 KiB (`user.old`)
 * beside the spilled reference of entry "f" in directory `ino`'s own object.
 */
async function oldInline(store: ObjectStore, ino: string): Promise<void> {
  const key = dirKey(ino);
  const got = await store.get(key);
  assert(got?.status === "ok");
  const dir = decode<DirObject>(key, await readAll(got.body), () => null);
  const entry = dir.entries!["f"]!;
  assert(entry.t === "f" && entry.xattrRef);
  entry.xattr = { "user.old": btoa(String.fromCharCode(...big(2, 2000))) };
  await store.put(key, encode(dir));
}

/** What `promise` fails with (its FsError code), or "ok". */
async function outcome(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    if (isFsError(error)) return error.code;
    throw error;
  }
}

for (const damage of ["missing", "corrupt"] as const) {
  Deno.test(`a listing with xattrs fails (EIO) when a hard-linked member's spilled xattrs are ${damage}, never leaves the member out`, async () => {
    // Before, readdir's per-member catch took the EIO of the object's read for the member
    // gone meanwhile: a PROPFIND allprop answered 207 without the file, which was there.
    const store = new MemoryStore();
    const fs = await Vfs.open(store);
    await fs.mkdir("/d");
    await fs.writeFile("/d/a", new Uint8Array(1));
    await fs.writeFile("/d/h", new Uint8Array(1));
    await fs.setxattr("/d/h", "user.big", big(3));
    await fs.link("/d/h", "/d/h2");
    const [key] = await spilled(store);
    assert(key);
    if (damage === "missing") await store.delete(key);
    else await store.put(key, new TextEncoder().encode("not gzip json"));
    const fresh = await Vfs.open(store);
    assertEquals(await outcome(fresh.readdir("/d", { xattrs: true })), "EIO");
    // Without xattrs the listing needs no value, and getxattr says EIO, not ENODATA.
    assertEquals((await fresh.readdir("/d")).entries.map((e) => e.name), ["a", "h", "h2"]);
    assertEquals(await outcome(fresh.getxattr("/d/h", "user.big")), "EIO");
  });

  Deno.test(`a listing with xattrs fails (EIO) when a file's spilled xattrs are ${damage}`, async () => {
    const store = new MemoryStore();
    const fs = await Vfs.open(store);
    await fs.mkdir("/d");
    await fs.writeFile("/d/a", new Uint8Array(1));
    await fs.writeFile("/d/f", new Uint8Array(1));
    await fs.setxattr("/d/f", "user.big", big(3));
    const [key] = await spilled(store);
    assert(key);
    if (damage === "missing") await store.delete(key);
    else await store.put(key, new TextEncoder().encode("not gzip json"));
    const fresh = await Vfs.open(store);
    assertEquals(await outcome(fresh.readdir("/d", { xattrs: true })), "EIO");
    assertEquals(await outcome(fresh.getxattr("/d/f", "user.big")), "EIO");
  });
}

Deno.test("a record with both a spilled reference and large inline xattrs (an instance from before) lists and changes with both", async () => {
  // An instance from before session 21 keeps `xattrRef` and writes its own (up to 128 KiB)
  // inline beside it; they are read over the spilled ones. A listing held such an entry
  // without its inline xattrs (over 1 KiB), and read only the spilled values for it.
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/d");
  await fs.writeFile("/d/f", new Uint8Array(1));
  await fs.setxattr("/d/f", "user.spilled", big(1));
  await fs.writeFile("/d/g", new Uint8Array(1));
  // What the old instance wrote: an inline value over 1 KiB beside the reference.
  await oldInline(store, (await fs.getattr("/d")).ino);
  const fresh = await Vfs.open(store);
  const listed = (await fresh.readdir("/d", { xattrs: true })).entries.find((e) => e.name === "f");
  assertEquals(Object.keys(listed?.xattrs ?? {}).sort(), ["user.old", "user.spilled"]);
  assertEquals(listed!.xattrs!["user.old"], big(2, 2000));
  assertEquals(await fresh.getxattr("/d/f", "user.old"), big(2, 2000));
  // A change keeps both (spilled together), as do a chmod before it and a rename.
  await fresh.setattr("/d/f", { mode: 0o600 });
  await fresh.setxattr("/d/f", "user.new", new Uint8Array([9]));
  await fresh.rename("/d/f", "/d/f2");
  const again = await Vfs.open(store);
  assertEquals(await again.listxattr("/d/f2"), ["user.new", "user.old", "user.spilled"]);
  assertEquals(await again.getxattr("/d/f2", "user.old"), big(2, 2000));
  assertEquals(await again.getxattr("/d/f2", "user.spilled"), big(1));
});

Deno.test("two instances changing xattrs of one file at once, across the 1 KiB cut both ways, lose none", async () => {
  const store = new MemoryStore();
  const a = await Vfs.open(store);
  const b = await Vfs.open(store);
  await a.writeFile("/f", new Uint8Array(1));
  const want = new Map<string, Uint8Array>();
  // Rounds: both small (inline, merge), one big and one small, both big, and removals of
  // the big ones that bring the set back inline while the other adds a small one.
  const rounds: [string, number][][] = [
    [["user.s1", 10], ["user.s2", 10]],
    [["user.b1", 3000], ["user.s3", 10]],
    [["user.b2", 3000], ["user.b3", 3000]],
    [["-user.b1", 0], ["user.s4", 10]],
    [["-user.b2", 0], ["-user.b3", 0]],
    [["user.b4", 3000], ["-user.s1", 0]],
  ];
  for (const [r, round] of rounds.entries()) {
    await Promise.all(round.map(([name, length], i) => {
      const fs = i === 0 ? a : b;
      if (name.startsWith("-")) {
        want.delete(name.slice(1));
        return fs.removexattr("/f", name.slice(1));
      }
      const value = big(r * 2 + i + 1, length);
      want.set(name, value);
      return fs.setxattr("/f", name, value);
    }));
    const fresh = await Vfs.open(store);
    assertEquals(await fresh.listxattr("/f"), [...want.keys()].sort(), `round ${r}`);
    for (const [name, value] of want) assertEquals(await fresh.getxattr("/f", name), value);
  }
});

Deno.test("PROPFIND of a folder with a member whose spilled xattrs are lost: every member listed or the listing failed, never a 207 without the member", async () => {
  const store = new MemoryStore();
  const dav = new Dav(await Vfs.open(store), store);
  await dav.vfs.mkdir("/d");
  await dav.vfs.writeFile("/d/a", new Uint8Array(1));
  // A hard-linked file: its record is read per member (a file's entry fails the listing
  // through its own path).
  await dav.vfs.writeFile("/d/h", new Uint8Array(1));
  await dav.vfs.setxattr("/d/h", "dav:{urn:z}p", big(4));
  await dav.vfs.link("/d/h", "/d/h2");
  for (const key of await spilled(store)) await store.delete(key);
  const fresh = new Dav(await Vfs.open(store), store);
  // propname, allprop and a named dead property: each answers every member, or fails
  // whole (propname too reads the values today), never a 207 that leaves members out.
  const propname = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`;
  for (const body of [propname, undefined, propfindBody([["urn:z", "p"]])]) {
    const res = await fresh.send("PROPFIND", "/d", {
      headers: { depth: "1", "content-type": "application/xml" },
      ...(body === undefined ? {} : { body }),
    });
    const text = await res.text();
    if (res.status === 207) {
      const ms = parseMultistatus(text);
      for (const name of ["a", "h", "h2"]) assert(ms.has(`/d/${name}`), `${name}: ${text}`);
    } else {
      assertEquals(res.status, 500, text);
    }
  }
});

Deno.test("a PROPPATCH that spills is all or nothing: one refused property leaves the others unset, the old object named", async () => {
  const store = new MemoryStore();
  const dav = new Dav(await Vfs.open(store), store);
  assertEquals(await dav.put("/f.txt", "f"), 201);
  const patch = (inner: string) =>
    dav.send("PROPPATCH", "/f.txt", {
      headers: { "content-type": "application/xml" },
      body: `<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" ` +
        `xmlns:Z="urn:z">${inner}</D:propertyupdate>`,
    });
  const first = await patch(
    `<D:set><D:prop><Z:a>${"a".repeat(2000)}</Z:a><Z:b>b</Z:b></D:prop></D:set>`,
  );
  assertEquals(first.status, 207, await first.text());
  const before = await spilled(store);
  assertEquals(before.length, 1);
  // A set, a remove and a protected live property in one request: nothing applies.
  const mixed = await patch(
    `<D:set><D:prop><Z:c>${"c".repeat(3000)}</Z:c></D:prop></D:set>` +
      `<D:remove><D:prop><Z:a/></D:prop></D:remove>` +
      `<D:set><D:prop><D:getetag>x</D:getetag></D:prop></D:set>`,
  );
  const text = await mixed.text();
  assert(mixed.status >= 400 || !/HTTP\/1\.1 200/.test(text), text);
  const fresh = await Vfs.open(store);
  assertEquals(await fresh.listxattr("/f.txt"), ["dav:{urn:z}a", "dav:{urn:z}b"]);
  const kept = new TextDecoder().decode(await fresh.getxattr("/f.txt", "dav:{urn:z}a"));
  assert(kept.includes("a".repeat(2000)), kept);
  // Over the 128 KiB a record holds: refused whole too (several sets and a removal).
  const over = await patch(
    `<D:set><D:prop>${
      Array.from({ length: 3 }, (_, i) => `<Z:x${i}>${"x".repeat(60_000)}</Z:x${i}>`).join("")
    }</D:prop></D:set><D:remove><D:prop><Z:b/></D:prop></D:remove>`,
  );
  const overText = await over.text();
  assert(over.status >= 400 || !/HTTP\/1\.1 200/.test(overText), overText);
  assertEquals(await (await Vfs.open(store)).listxattr("/f.txt"), ["dav:{urn:z}a", "dav:{urn:z}b"]);
});

Deno.test("a spilled change racing a rename over its file, a truncate and a chmod from another instance: each lands on the file the path names, nothing dropped or resurrected", async () => {
  const { base, hooked, a, b } = await pair();
  await a.writeFile("/f", new Uint8Array(100));
  await a.setxattr("/f", "user.f", big(1));
  await a.writeFile("/g", new Uint8Array(10));
  await a.setxattr("/g", "user.g", big(2));
  // Between the values' PUT and the CAS naming them: /g renamed over /f.
  hooked.before(
    valuesPut,
    () => b.rename("/g", "/f"),
  );
  await a.setxattr("/f", "user.new", big(3));
  const fresh = await Vfs.open(base);
  assertEquals(await fresh.listxattr("/f"), ["user.g", "user.new"]);
  assertEquals(await fresh.getxattr("/f", "user.g"), big(2));
  assertEquals((await fresh.getattr("/f")).size, 10);
  // A truncate and a chmod between the PUT and the CAS: the CAS keeps them, they keep it.
  hooked.before(
    valuesPut,
    async () => {
      await b.truncate("/f", 4);
      await b.setattr("/f", { mode: 0o640 });
    },
  );
  await a.setxattr("/f", "user.more", big(4));
  assertEquals(hooked.fired, 2);
  // And a chmod, a truncate by another instance after the spill: the reference stays.
  await b.setattr("/f", { mode: 0o600 });
  await b.truncate("/f", 2);
  const last = await Vfs.open(base);
  assertEquals(await last.listxattr("/f"), ["user.g", "user.more", "user.new"]);
  assertEquals(await last.getxattr("/f", "user.more"), big(4));
  const stat = await last.getattr("/f");
  assertEquals([stat.size, stat.mode & 0o777], [2, 0o600]);
});

Deno.test("a copy that read its source before the source's xattrs changed and GC reclaimed the old values fails, never names them", async () => {
  // The copy's clock for its claim started after it read the source, at its target's
  // look: a stall there (GC twice a grace apart, the source's change between) went
  // unnoticed, and the copy named spilled values GC had deleted (fsck: missing-xattrs).
  const store = new MemoryStore();
  const setup = await Vfs.open(store);
  await setup.mkdir("/s");
  await setup.mkdir("/t");
  await setup.writeFile("/s/a", new Uint8Array(1));
  await setup.setxattr("/s/a", "user.x", big(5));
  const t = (await setup.getattr("/t")).ino;
  let clock = Date.now();
  const hooked = new HookStore(store);
  const fs = await Vfs.open(hooked, { now: () => clock });
  await fs.getattr("/s/a");
  hooked.before((c) => c.op === "GetObject" && c.key === dirKey(t), async () => {
    await setup.setxattr("/s/a", "user.x", big(6));
    const at = Date.now();
    await gc(store, { now: at });
    await gc(store, { now: at + 11 * 60_000 });
    clock += 11 * 60_000;
  });
  const result = await outcome(fs.copy("/s/a", "/t/b"));
  assertEquals(hooked.fired, 1, "the interleaving did not happen");
  const errors = (await fsck(store)).problems.filter((p) => p.severity === "error");
  assertEquals(errors, []);
  const fresh = await Vfs.open(store);
  if (result === "ok") assertEquals(await fresh.getxattr("/t/b", "user.x"), big(5));
  else assertEquals(result, "EIO");
  assertEquals(await fresh.getxattr("/s/a", "user.x"), big(6));
});

Deno.test("instances opening a bucket at once, formatting it or raising its version 1 to 2, all open it at version 2", async () => {
  const read = async (store: ObjectStore) => {
    const got = await store.get(SUPERBLOCK_KEY);
    assert(got?.status === "ok");
    return decode<{ version: number; id: string }>("s", await readAll(got.body), () => null);
  };
  const empty = new MemoryStore();
  const opened = await Promise.all([1, 2, 3].map(() => Vfs.open(empty)));
  assertEquals((await read(empty)).version, 2);
  await opened[0]!.writeFile("/f", new Uint8Array(1));
  await opened[1]!.setxattr("/f", "user.x", big(1));
  assertEquals(await opened[2]!.getxattr("/f", "user.x"), big(1));
  // Version 1 (a bucket of before), raised by three at once: one CAS wins, the others
  // read it back; the bucket's id stays.
  const id = (await read(empty)).id;
  await empty.put(SUPERBLOCK_KEY, encode({ ...await read(empty), version: 1 }));
  const raised = await Promise.all([1, 2, 3].map(() => Vfs.open(empty)));
  assertEquals(await read(empty).then((s) => [s.version, s.id]), [2, id]);
  await raised[2]!.setxattr("/f", "user.y", big(2));
  assertEquals(await raised[0]!.getxattr("/f", "user.y"), big(2));
});

Deno.test("a spilled change racing link() of its file (the record moved to i/<ino>) lands once for both names; an unlink of one keeps it", async () => {
  const { base, hooked, a, b } = await pair();
  await a.writeFile("/f", new Uint8Array(3));
  await a.setxattr("/f", "user.old", big(1));
  hooked.before(
    valuesPut,
    () => b.link("/f", "/g"),
  );
  await a.setxattr("/f", "user.new", big(2));
  assertEquals(hooked.fired, 1);
  const fresh = await Vfs.open(base);
  for (const name of ["/f", "/g"]) {
    assertEquals(await fresh.listxattr(name), ["user.new", "user.old"]);
    assertEquals(await fresh.getxattr(name, "user.new"), big(2));
  }
  await fresh.unlink("/f");
  assertEquals(await (await Vfs.open(base)).getxattr("/g", "user.old"), big(1));
  const t = Date.now();
  await gc(base, { now: t });
  await gc(base, { now: t + 11 * 60_000 });
  assertEquals((await spilled(base)).length, 1);
  assertEquals(await (await Vfs.open(base)).getxattr("/g", "user.new"), big(2));
  assertEquals((await fsck(base)).problems.filter((p) => p.severity === "error"), []);
});

for (const op of ["setxattr", "removexattr"] as const) {
  Deno.test(`a spilled ${op} whose CAS answer is lost (another instance's change landing after it) is answered as applied, once`, async () => {
    const { base, hooked, a, b } = await pair();
    await a.writeFile("/f", new Uint8Array(1));
    await a.setxattr("/f", "user.big", big(1));
    await a.setxattr("/f", "user.gone", big(2));
    // The CAS of the root naming the change lands, its answer is lost; meanwhile another
    // instance changes the file's xattrs on top of it.
    hooked.after(rootPut, async () => {
      await b.setxattr("/f", "user.other", big(3));
      throw new StoreError("transient", "connection dropped", {
        key: dirKey(ROOT_INO),
        ambiguous: true,
      });
    });
    const result = op === "setxattr"
      ? await outcome(a.setxattr("/f", "user.new", big(4), { create: true }))
      : await outcome(a.removexattr("/f", "user.gone"));
    assertEquals(hooked.fired, 1);
    assertEquals(result, "ok");
    const fresh = await Vfs.open(base);
    const want = op === "setxattr"
      ? ["user.big", "user.gone", "user.new", "user.other"]
      : ["user.big", "user.other"];
    assertEquals(await fresh.listxattr("/f"), want);
    assertEquals(await fresh.getxattr("/f", "user.other"), big(3));
  });
}

Deno.test("a name-ordered page of a sharded folder shows a mixed record's inline xattrs beside its spilled ones", async () => {
  // A listing of a sharded folder holds entries with over 1 KiB inline without them
  // (`isSlim`) and looks each up whole for a page in name order; one that also had a
  // reference was read by its reference alone, its inline values (an instance from before
  // wrote them, read over the spilled ones) missing from the page.
  const store = new MemoryStore();
  const fs = await Vfs.open(store, { dirLimits: { maxEntries: 4 } });
  await fs.mkdir("/d");
  await fs.writeFile("/d/a", new Uint8Array(1));
  await fs.writeFile("/d/f", new Uint8Array(1));
  await fs.setxattr("/d/f", "user.spilled", big(1));
  await oldInline(store, (await fs.getattr("/d")).ino);
  const fresh = await Vfs.open(store, { dirLimits: { maxEntries: 4 } });
  const first = await fresh.readdir("/d", { xattrs: true, limit: 1 });
  assertEquals([first.entries.map((e) => e.name), first.cursor], [["a"], "a"]);
  for (let i = 0; i < 8; i++) await fresh.writeFile(`/d/n${i}`, new Uint8Array(1));
  const rest = await fresh.readdir("/d", { xattrs: true, cursor: "a", limit: 100 });
  const f = rest.entries.find((e) => e.name === "f");
  assertEquals(Object.keys(f?.xattrs ?? {}).sort(), ["user.old", "user.spilled"]);
  assertEquals(f!.xattrs!["user.old"], big(2, 2000));
});

Deno.test("a change made between another's read and its CAS (spilling, or back inline) is kept, the other made again on it", async () => {
  const { base, hooked, a, b } = await pair();
  await a.writeFile("/f", new Uint8Array(1));
  // Both spilled: B's set lands while A's values are written.
  await a.setxattr("/f", "user.big", big(1));
  hooked.before(valuesPut, () => b.setxattr("/f", "user.b", big(2)));
  await a.setxattr("/f", "user.a", big(3));
  // Back to none: B removes the big ones while A (which read them spilled, and so was
  // writing a new object without its own) removes its own.
  hooked.before(rootPut, async () => {
    await b.removexattr("/f", "user.big");
    await b.removexattr("/f", "user.b");
  });
  await a.removexattr("/f", "user.a");
  assertEquals(await (await Vfs.open(base)).listxattr("/f"), []);
  await a.setxattr("/f", "user.s", new Uint8Array([1]));
  // Across the cut upwards: A's small change, read inline, meets B's spill.
  hooked.before(rootPut, () => b.setxattr("/f", "user.big2", big(4)));
  await a.setxattr("/f", "user.t", new Uint8Array([2]));
  assertEquals(hooked.fired, 3);
  const fresh = await Vfs.open(base);
  assertEquals(await fresh.listxattr("/f"), ["user.big2", "user.s", "user.t"]);
  assertEquals(await fresh.getxattr("/f", "user.big2"), big(4));
  assertEquals(await fresh.getxattr("/f", "user.t"), new Uint8Array([2]));
});
