import { assert, assertEquals } from "../../tests/_assert.ts";
import { MemoryStore } from "../store/memory.ts";
import { MetaStore } from "./cas.ts";
import { Directories, isSharded, nameHash, newDirObject, shardIdsOf } from "./dir.ts";
import { hashShard } from "../../tests/_dir_layouts.ts";
import { type DirObject, draftStats, type Entry } from "./meta.ts";

const INO = "00000000000000d1";
const ATTR = { mode: 0o40755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ctime: 0, btime: 0 };

function fileEntry(n: number): Entry {
  return {
    t: "f",
    ino: (0x1000000 + n).toString(16).padStart(16, "0"),
    attr: { mode: 0o100644, uid: 0, gid: 0, size: 1, atime: n, mtime: n, ctime: n, btime: n },
    data: "Yg==",
    gen: 1,
    cv: 1,
  };
}

/** A directory of `count` entries, filled in two group commits; its store and objects. */
async function filled(count: number, maxEntries: number) {
  const store = new MemoryStore();
  const dirs = new Directories(new MetaStore(store), { maxEntries });
  await dirs.create(newDirObject(INO, INO, ATTR));
  const create = (name: string, n: number) =>
    dirs.update(INO, [name], (draft) => draft.set(name, fileEntry(n)));
  // Concurrent creates into one object share a CAS; a split between them moves some to
  // another shard, which then commits them on its own.
  for (let from = 0; from < count; from += 256) {
    await Promise.all(
      Array.from(
        { length: Math.min(256, count - from) },
        (_, i) => create(`file-${from + i}`, from + i),
      ),
    );
  }
  return { store, dirs, create };
}

for (const [what, maxEntries] of [["an unsharded", 4096], ["a sharded", 512]] as const) {
  Deno.test(
    `\`Directories.update()\`: a create into ${what} directory of 2,000 entries touches what it changes, not the object`,
    async () => {
      const { store, dirs, create } = await filled(2000, maxEntries);
      const dir = (await dirs.get(INO))!.value;
      assertEquals(isSharded(dir), maxEntries < 2000);
      // Warm: the first commit to an object read or split since builds what later ones reuse.
      for (let i = 0; i < 16; i++) await create(`warm-${i}`, 3000 + i);
      const before = draftStats.entriesTouched;
      for (let i = 0; i < 64; i++) await create(`new-${i}`, 4000 + i);
      const touched = draftStats.entriesTouched - before;
      // Copying the object's entries for each commit and walking them to encode it touched
      // 2 x 2,000 (or 2 x its shard's 500) per create; a chain of drafts is flattened
      // (2 x the object) once in 32.
      assert(touched <= 64 * 400, `64 creates touched ${touched} entries one by one`);
      // Another instance reads every entry, in objects that decode as usual.
      const other = new Directories(new MetaStore(store));
      const fresh = (await other.get(INO))!;
      const names = (await other.list(fresh.value)).map(([name]) => name);
      assertEquals(names.length, 2080);
      for (const name of ["file-0", "file-1999", "warm-15", "new-0", "new-63"]) {
        assert(names.includes(name), name);
        assertEquals((await other.lookup(fresh.value, name))?.t, "f");
      }
      // This instance's own view (built on its drafts) says the same.
      const mine = (await dirs.get(INO))!.value;
      assertEquals((await dirs.lookup(mine, "new-7"))?.ino, fileEntry(4007).ino);
      assertEquals((await dirs.list(mine)).length, 2080);
    },
  );
}

Deno.test("`Directories.update()`: removes and replaces in a large directory land as a full rewrite would", async () => {
  const { store, dirs, create } = await filled(1500, 4096);
  await create("again", 1);
  const changes: [string, "rm" | "set"][] = [["file-3", "rm"], ["file-4", "set"], ["again", "rm"]];
  for (const [name, kind] of changes) {
    await dirs.update(INO, [name], (draft) => {
      if (kind === "rm") draft.delete(name);
      else draft.set(name, fileEntry(77));
    });
  }
  await create("again", 2);
  const other = new Directories(new MetaStore(store));
  const dir = (await other.get(INO))!.value as DirObject;
  const listed = new Map(await other.list(dir));
  assertEquals(listed.size, 1500);
  assertEquals(listed.has("file-3"), false);
  const mtime = (name: string) => (listed.get(name) as { attr: { mtime: number } }).attr.mtime;
  assertEquals(mtime("file-4"), 77);
  assertEquals(mtime("again"), 2);
});

Deno.test("`nameHash()` is FNV-1a of the name's UTF-8 bytes, ASCII or not", () => {
  // The hash places names in shards already written: it may never change.
  const reference = (name: string) => {
    let h = 0x811c9dc5;
    for (const byte of new TextEncoder().encode(name)) h = Math.imul(h ^ byte, 0x01000193);
    return h >>> 0;
  };
  assertEquals(nameHash(""), 0x811c9dc5);
  assertEquals(nameHash("a"), 0xe40c292c);
  for (const name of ["file-0001.txt", "é", "a✓b", "日本語.txt", "x😀y", "\u007f", "\u0080"]) {
    assertEquals(nameHash(name), reference(name), name);
  }
});

Deno.test("`Directories.list()`: a sorted listing is kept only while the metadata cache holds its versions", async () => {
  // A budget of about two directories of 1,000 entries: listing six forgets the first
  // ones' objects, and their sorted listings (which held those objects) go with them.
  const store = new MemoryStore();
  const dirs = new Directories(new MetaStore(store, { cacheBytes: 1400 << 10 }));
  const inos = Array.from({ length: 6 }, (_, d) => `00000000000000e${d}`);
  for (const ino of inos) {
    await dirs.create(newDirObject(ino, INO, ATTR));
    await dirs.update(ino, [], (draft) => {
      for (let n = 0; n < 1000; n++) draft.set(`file-${n}`, fileEntry(n));
    });
  }
  for (const ino of inos) {
    const listing = await dirs.list((await dirs.get(ino))!.value);
    assertEquals(listing.length, 1000);
  }
  assert(dirs.sortedListings <= 3, `${dirs.sortedListings} listings kept`);
  // The listing of a directory still cached is reused as it is.
  const last = (await dirs.get(inos[5]!))!.value;
  assert((await dirs.list(last)) === (await dirs.list(last)));
});

// Hash shards lost such races only when the directory itself split (in one CAS of its
// object): an age-sharded directory's roll-overs race the same way, and delete through the
// same `deleteShards`.
Deno.test("`Directories.update()`: a roll-over that lost its race leaves no deleted shard in the metadata cache", async () => {
  const deleted: string[] = [];
  const store = new class extends MemoryStore {
    override deleteMany(keys: readonly string[]): Promise<void> {
      deleted.push(...keys);
      return super.deleteMany(keys);
    }
  }();
  const metas = [new MetaStore(store), new MetaStore(store)];
  const [a, b] = metas.map((meta) => new Directories(meta, { maxEntries: 16 }));
  await a!.create(newDirObject(INO, INO, ATTR));
  // Two instances fill one directory at once: both meet each full open shard and roll it
  // over, and the one whose shard table swap fails deletes the open shard it wrote.
  await Promise.all([a!, b!].map(async (dirs, k) => {
    for (let from = 0; from < 200; from += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, i) => {
        const name = `file-${k}-${from + i}`;
        return dirs.update(INO, [name], (draft) => draft.set(name, fileEntry(from + i)));
      }));
    }
  }));
  assert(deleted.length > 0, "no roll-over lost a race");
  const kept = deleted.filter((key) => metas.some((meta) => meta.held(key) !== null));
  assertEquals(kept, []);
});

for (const layout of ["hash", "age"] as const) {
  Deno.test(`\`Directories.update()\`: writers of one instance that meet one full shard ${layout === "hash" ? "split" : "roll"} it once (${layout} shards)`, async () => {
    const created: string[] = [];
    const deleted: string[] = [];
    const store = new class extends MemoryStore {
      override put(...args: Parameters<MemoryStore["put"]>) {
        const [key, , options] = args;
        if (options?.mode?.kind === "create" && key.includes("/s")) created.push(key);
        return super.put(...args);
      }
      override deleteMany(keys: readonly string[]): Promise<void> {
        deleted.push(...keys);
        return super.deleteMany(keys);
      }
    }();
    const dirs = new Directories(new MetaStore(store), { maxEntries: 16 });
    await dirs.create(newDirObject(INO, INO, ATTR));
    if (layout === "hash") await hashShard(store, INO);
    // 16 writers at a time, as 16 clients creating files into one directory: every writer of
    // the group that sealed a shard, and every one arriving while it is sealed, must wait
    // for the split; each of them splitting on its own wrote two halves per writer, and all
    // but one pair were deleted again.
    for (let from = 0; from < 320; from += 16) {
      await Promise.all(Array.from({ length: 16 }, (_, i) => {
        const name = `file-${from + i}`;
        return dirs.update(INO, [name], (draft) => draft.set(name, fileEntry(from + i)));
      }));
    }
    const dir = (await dirs.get(INO))!.value;
    const shards = shardIdsOf(dir)?.length ?? 0;
    assert(shards >= 16 && !!dir.shards === (layout === "hash"), `${shards} ${layout} shards`);
    assertEquals((await dirs.list(dir)).length, 320);
    assertEquals(deleted.filter((key) => created.includes(key)), []);
  });
}
