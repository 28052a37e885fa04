// Readers of age-sharded directories (docs/format.md, "Age shards"): tables written by hand
// (`_age_table.ts`) from a directory filled as usual, read by a fresh instance.

import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";
import { MetaStore } from "../src/format/cas.ts";
import { Directories } from "../src/format/dir.ts";
import { dirKey, shardKey } from "../src/format/keys.ts";
import { checkDir, type DirObject, type ShardObject } from "../src/format/meta.ts";
import { closedCandidates } from "../src/format/_dir_ages.ts";
import { fsck } from "../src/format/fsck.ts";
import { gc } from "../src/format/gc.ts";
import { HookStore } from "./_hook_store.ts";
import { Dav, davUrl } from "./_dav.ts";
import { type AgeLayout, ageShard } from "./_dir_layouts.ts";

const text = (s: string) => new TextEncoder().encode(s);
const HOUR = 3_600_000;

/** `/big` of `n` files (`f000`…, each holding its name), age-sharded 16 a shard. */
async function aged(n: number, mtimes?: number[]) {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/big");
  for (let i = 0; i < n; i++) {
    const name = `f${String(i).padStart(3, "0")}`;
    await fs.writeFile(`/big/${name}`, text(name));
  }
  const ino = (await fs.getattr("/big")).ino;
  const layout = await ageShard(store, ino, { perShard: 16, ...(mtimes ? { mtimes } : {}) });
  return { store, ino, layout };
}

const allNames = (layout: AgeLayout) => [...layout.closed, layout.open].flatMap((s) => s.names);

Deno.test("A fresh instance lists, looks up and reads the files of an age-sharded directory", async () => {
  const { store, layout } = await aged(50);
  assertEquals(layout.closed.length, 3);
  assertEquals(layout.open.names.length, 2);
  const fs = await Vfs.open(store);
  const page = await fs.readdir("/big");
  assertEquals(page.entries.map((e) => e.name), allNames(layout));
  for (const name of allNames(layout)) {
    assertEquals(new TextDecoder().decode(await fs.read(`/big/${name}`, 0, 10)), name);
  }
  assertEquals(await fs.lookupOrNull("/big/f999"), null);
  assertEquals(await fs.lookupOrNull("/big/f0"), null);
});

Deno.test("An age-sharded directory's stat takes the time of its latest changed shard", async () => {
  const later = Date.now() + HOUR;
  const { store } = await aged(40, [1, later, 2]);
  const stat = await (await Vfs.open(store)).getattr("/big");
  assertEquals(stat.mtime, later);
  assertEquals(stat.ctime, later);
});

Deno.test("A lookup in an age-sharded directory reads the shards whose filters pass the name, then the open one only if none holds it", async () => {
  const { store, ino, layout } = await aged(64);
  const hooked = new HookStore(store);
  const meta = new MetaStore(hooked);
  const dirs = new Directories(meta);
  const dir = (await dirs.get(ino))!.value;
  const shardReads = async (name: string) => {
    const from = hooked.calls.length;
    const entry = await dirs.lookup(dir, name);
    const keys = hooked.calls.slice(from).filter((c) => c.op === "GetObject").map((c) => c.key);
    return { entry, keys: keys.sort() };
  };
  const open = shardKey(ino, layout.open.id);
  for (const [i, shard] of layout.closed.entries()) {
    const name = shard.names[5]!;
    const { entry, keys } = await shardReads(name);
    assert(entry !== null, `${name} found`);
    const passed = closedCandidates(dir.ages!, name).map((c) => shardKey(ino, c.id)).sort();
    assertEquals(keys, passed, `closed shard ${i}: only the shards whose filters pass it`);
    assert(keys.includes(shardKey(ino, shard.id)) && !keys.includes(open));
  }
  const missing = await shardReads("absent-name");
  assertEquals(missing.entry, null);
  assert(missing.keys.includes(open), "an absent name is looked for in the open shard");
  assert(missing.keys.length <= 1 + layout.closed.length);
});

Deno.test("fsck finds an age-sharded directory clean, and GC keeps its shards", async () => {
  const { store, ino, layout } = await aged(50);
  const report = await fsck(store);
  assert(report.ok, JSON.stringify(report.problems));
  for (let i = 0; i < 2; i++) await gc(store, { graceMs: 0, now: Date.now() + HOUR });
  for (const { id } of [...layout.closed, layout.open]) {
    assert(await store.head(shardKey(ino, id)) !== null, `shard ${id} kept`);
  }
  const fs = await Vfs.open(store);
  assertEquals((await fs.readdir("/big")).entries.length, 50);
});

/** Puts entry `name` of shard `from` into shard `to` as well (by hand: damage). */
async function copyEntry(store: MemoryStore, ino: string, name: string, from: string, to: string) {
  const meta = new MetaStore(store);
  const source = (await meta.read<ShardObject>(shardKey(ino, from), checkShardOf))!;
  const target = (await meta.read<ShardObject>(shardKey(ino, to), checkShardOf))!;
  const entries = { ...target.value.entries, [name]: source.value.entries[name]! };
  assert(await meta.write(shardKey(ino, to), { ...target.value, entries }, target));
}
const checkShardOf = (v: unknown) => (v && typeof v === "object" ? null : "not an object");

Deno.test("fsck reports a name in two shards of an age-sharded directory", async () => {
  const { store, ino, layout } = await aged(40);
  const name = layout.closed[0]!.names[3]!;
  await copyEntry(store, ino, name, layout.closed[0]!.id, layout.open.id);
  const report = await fsck(store);
  assert(!report.ok);
  const found = report.problems.filter((p) => p.kind === "misplaced-name");
  assertEquals(found.length, 1, JSON.stringify(report.problems));
  assert(found[0]!.detail.includes("two shards"));
});

Deno.test("fsck reports a name in a closed shard whose filter misses it", async () => {
  const { store, ino, layout } = await aged(40);
  const { id } = layout.closed[0]!;
  const dir = (await new Directories(new MetaStore(store)).get(ino))!.value;
  // A name of the open shard that the first closed shard's filter does not pass.
  const name = layout.open.names.find((n) =>
    !closedCandidates(dir.ages!, n).some((c) => c.id === id)
  )!;
  assert(name !== undefined);
  await copyEntry(store, ino, name, layout.open.id, id);
  const report = await fsck(store);
  const found = report.problems.filter((p) => p.kind === "misplaced-name");
  assert(found.some((p) => p.detail.includes("filter misses")), JSON.stringify(report.problems));
});

Deno.test("rmdir removes an empty age-sharded directory and its shards, and refuses one whose names are all in closed shards", async () => {
  const { store, layout } = await aged(32);
  assertEquals(layout.open.names.length, 0);
  const fs = await Vfs.open(store);
  const error = await assertRejects(() => fs.rmdir("/big"));
  assert(isFsError(error) && error.code === "ENOTEMPTY", String(error));
  assertEquals((await fs.readdir("/big")).entries.length, 32);

  await fs.mkdir("/empty");
  const ino = (await fs.getattr("/empty")).ino;
  const emptied = await ageShard(store, ino, { perShard: 16 });
  const fresh = await Vfs.open(store);
  await fresh.rmdir("/empty");
  assertEquals(await fresh.lookupOrNull("/empty"), null);
  assertEquals(await store.head(dirKey(ino)), null);
  assertEquals(await store.head(shardKey(ino, emptied.open.id)), null);
});

Deno.test("Changes in an age-sharded directory write the shard that holds the name, new names the open shard", async () => {
  const { store, ino, layout } = await aged(40);
  const fs = await Vfs.open(store);
  const shardOf = async (id: string) => {
    const read = await new MetaStore(store).read<ShardObject>(shardKey(ino, id), checkShardOf);
    return Object.keys(read!.value.entries).sort();
  };
  const [first, second] = layout.closed;
  await fs.writeFile("/big/new", text("new"));
  await fs.unlink(`/big/${first!.names[0]}`);
  await fs.writeFile(`/big/${second!.names[1]}`, text("changed"));
  // Within one closed shard; and out of it to a new name (the open shard's).
  await fs.rename(`/big/${first!.names[1]}`, `/big/${first!.names[2]}`);
  await fs.rename(`/big/${second!.names[2]}`, "/big/moved");
  assertEquals(await shardOf(first!.id), first!.names.slice(2));
  assertEquals(
    await shardOf(second!.id),
    second!.names.filter((_, i) => i !== 2),
  );
  assertEquals(await shardOf(layout.open.id), [...layout.open.names, "moved", "new"].sort());
  const fresh = await Vfs.open(store);
  const read = async (name: string) =>
    new TextDecoder().decode(await fresh.read(`/big/${name}`, 0, 20));
  assertEquals(await read(second!.names[1]!), "changed");
  assertEquals(await read(first!.names[2]!), first!.names[1]);
  assertEquals(await read("moved"), second!.names[2]);
  assertEquals((await fresh.readdir("/big")).entries.length, 40 - 2 + 1 + 1 - 1);
  const report = await fsck(store);
  assert(report.ok, JSON.stringify(report.problems));
});

Deno.test("A directory that fills up becomes age-sharded and rolls over; fsck finds it clean", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store, { dirLimits: { maxEntries: 8 } });
  await fs.mkdir("/d");
  await Promise.all(
    Array.from({ length: 60 }, (_, i) => fs.writeFile(`/d/f${i}`, text(`${i}`))),
  );
  const ino = (await fs.getattr("/d")).ino;
  const dir = (await new Directories(new MetaStore(store)).get(ino))!.value;
  assert(dir.ages && !dir.shards && !dir.entries, "age-sharded");
  assert(dir.ages.closed.length >= 6, `${dir.ages.closed.length} closed shards`);
  const fresh = await Vfs.open(store);
  assertEquals((await fresh.readdir("/d")).entries.length, 60);
  for (let i = 0; i < 60; i += 7) {
    assertEquals(new TextDecoder().decode(await fresh.read(`/d/f${i}`, 0, 5)), `${i}`);
  }
  const report = await fsck(store);
  assert(report.ok, JSON.stringify(report.problems));
});

Deno.test("A directory object with an age table beside entries or shards is corrupt", () => {
  const attr = { mode: 0o40755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ctime: 0, btime: 0 };
  const ino = "00000000000000d1";
  const base: DirObject = {
    v: 1,
    ino,
    parent: ino,
    attr,
    ages: {
      closed: [{ id: "0000018c0000-00000000000000000001", filter: "AAAA", k: 7 }],
      open: "0000018c0000-00000000000000000002",
    },
  };
  assertEquals(checkDir(base), null);
  assert(checkDir({ ...base, entries: {} }) !== null);
  assert(checkDir({ ...base, shards: [] }) !== null);
  assert(checkDir({ ...base, ages: { closed: [], open: "x" } }) !== null);
  assert(
    checkDir({
      ...base,
      ages: { ...base.ages!, closed: [{ id: base.ages!.open, filter: "A", k: 7 }] },
    }) !== null,
  );
});

Deno.test("A create checks a closed shard as it is now, not a version held from before it closed", async () => {
  const store = new MemoryStore();
  const [a, b] = [0, 1].map(() => new Directories(new MetaStore(store), { maxEntries: 4 }));
  const ino = "00000000000000d1";
  const attr = { mode: 0o40755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ctime: 0, btime: 0 };
  await a!.create({ v: 1, ino, parent: ino, attr, entries: {} });
  const entry = (n: number) => ({
    t: "f" as const,
    ino: (0x1000000 + n).toString(16).padStart(16, "0"),
    attr: { ...attr, mode: 0o100644, size: 1 },
    data: "Yg==",
  });
  const create = (dirs: Directories, name: string, n: number) =>
    dirs.update(ino, [name], (draft) => {
      if (draft.get(name)) return "exists";
      draft.set(name, entry(n));
      return "created";
    });
  for (let i = 0; i < 5; i++) await create(a!, `a${i}`, i);
  await create(a!, "x0", 10); // a holds the open shard with x0 only
  const open = (await a!.get(ino))!.value.ages!.open;
  // b adds n to that shard and fills it: it closes and rolls over.
  for (const [i, name] of ["n", "x1", "x2", "x3"].entries()) await create(b!, name, 20 + i);
  const table = (await a!.get(ino))!.value.ages!;
  assert(table.closed.some((c) => c.id === open), "the shard a held rolled over");
  assertEquals(await create(a!, "n", 99), "exists");
  const names = (await a!.list((await a!.get(ino))!.value)).map(([name]) => name);
  assertEquals(names.filter((name) => name === "n").length, 1);
});

Deno.test("A WebDAV MOVE over a collection in a closed shard replaces it in one commit: the name is never missing", async () => {
  const store = new MemoryStore();
  const hooked = new HookStore(store);
  const fs = await Vfs.open(hooked, { dirLimits: { maxEntries: 4 } });
  await fs.mkdir("/many");
  await fs.mkdir("/many/f1");
  await fs.writeFile("/many/f1/old", text("old"));
  for (const i of [0, 2, 3, 4, 5]) await fs.writeFile(`/many/f${i}`, text(`${i}`));
  // f0…f4 are the first closed shard. A file moved over the collection f1 is swapped in
  // by renameAside (a rename may not replace a collection), the collection kept aside
  // until the MOVE has happened, then deleted.
  await fs.writeFile("/many/f1.new", text("new"));
  const dav = new Dav(fs, hooked);
  // After every write of the folder's objects, a fresh instance looks for f1. Before, the
  // swap's names were in two shards (EXDEV) and WebDAV fell back to two renames: f1 aside,
  // then the new one in, with f1 missing between them (a crash there left no f1).
  const missing: string[] = [];
  let looks = 0;
  const ino = (await fs.getattr("/many")).ino;
  const watch = () =>
    hooked.after((c) => c.op === "PutObject" && (c.key ?? "").startsWith(`d/${ino}`), async () => {
      looks++;
      if (await (await Vfs.open(store)).lookupOrNull("/many/f1") === null) missing.push("f1");
      watch();
    });
  watch();
  const answer = await dav.app.request(davUrl("/many/f1.new"), {
    method: "MOVE",
    headers: { destination: `http://localhost${davUrl("/many/f1")}`, overwrite: "T" },
  });
  assertEquals(answer.status, 204, await answer.text());
  assertEquals(missing, []);
  assert(looks >= 2, `${looks} writes of the folder`); // the staging rename, the swap
  const fresh = await Vfs.open(store);
  assertEquals(new TextDecoder().decode(await fresh.read("/many/f1", 0, 10)), "new");
  assertEquals(await fresh.lookupOrNull("/many/f1.new"), null);
  const names = (await fresh.readdir("/many")).entries.map((e) => e.name);
  assertEquals(names.sort(), ["f0", "f1", "f2", "f3", "f4", "f5"]);
  const report = await fsck(store);
  assert(report.ok, JSON.stringify(report.problems));
});
