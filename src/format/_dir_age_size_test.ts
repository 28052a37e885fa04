// Age shards under the decoded-size bound (docs/format.md, "Limits" and "Age shards"): no
// shard of an age-sharded directory decodes past the writers' limit by more than one change,
// the open one because the write that passes it closes it, a closed one (which grows by
// changes of the names it holds) because that write seals it and a split follows.

import { assert, assertEquals } from "../../tests/_assert.ts";
import { MemoryStore } from "../store/memory.ts";
import { MetaStore } from "./cas.ts";
import { Directories, newDirObject, shardIdsOf } from "./dir.ts";
import { shardKey } from "./keys.ts";
import { checkShard, type Entry, type ShardObject } from "./meta.ts";
import { misplacedNames } from "./_dir_ages.ts";

const INO = "00000000000000a1";
const ATTR = { mode: 0o40755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ctime: 0, btime: 0 };
/** The writers' decoded limit in these tests, and the xattrs one change adds. */
const LIMIT = 64 << 10;
const XATTR = 6 << 10;

function fileEntry(n: number, xattr = 0): Entry {
  return {
    t: "f",
    ino: (0x1000000 + n).toString(16).padStart(16, "0"),
    attr: { mode: 0o100644, uid: 0, gid: 0, size: 1, atime: n, mtime: n, ctime: n, btime: n },
    data: "Yg==",
    gen: 1,
    cv: 1,
    ...(xattr > 0 ? { xattr: { "user.x": "A".repeat(xattr) } } : {}),
  };
}

async function setUp() {
  const store = new MemoryStore();
  const dirs = new Directories(new MetaStore(store), { maxDecodedBytes: LIMIT });
  await dirs.create(newDirObject(INO, INO, ATTR));
  /** Every shard object as stored now: its key, its JSON's length and its names. */
  const shards = async () => {
    const dir = (await dirs.get(INO))!.value;
    const fresh = new MetaStore(store);
    return await Promise.all((shardIdsOf(dir) ?? []).map(async (id) => {
      const key = shardKey(INO, id);
      const shard = (await fresh.read<ShardObject>(key, checkShard))!.value;
      const names = Object.keys(shard.entries);
      return { key, id, json: JSON.stringify(shard).length, names, shard };
    }));
  };
  return { store, dirs, shards };
}

/** The checks every test ends with: bounds, each name once and where filters say. */
async function checkBounded(
  { dirs, shards }: Awaited<ReturnType<typeof setUp>>,
  names: string[],
) {
  const all = await shards();
  for (const { key, json } of all) {
    assert(json <= LIMIT + XATTR + 1024, `${key}: ${json} bytes of JSON`);
  }
  const dir = (await dirs.get(INO))!.value;
  assert(dir.ages, "age-sharded");
  const held = all.flatMap(({ key, names }) => names.map((n) => [n, null, key] as const));
  assertEquals(misplacedNames(dir, held, "/x"), []);
  assertEquals(held.map(([n]) => n).sort(), [...names].sort());
  for (const name of names) assert(await dirs.lookup(dir, name), `${name} not found`);
  assertEquals((await dirs.list(dir)).length, names.length);
}

Deno.test("age shards: the write that takes the open shard past the decoded size closes it, and it rolls over", async () => {
  const env = await setUp();
  const names: string[] = [];
  // 40 files of 6 KiB of xattrs, 8 at a time (one group commit each): 240 KiB of JSON,
  // 40 entries, far under the entry limit. On the code before, the open shard took them
  // all (its writers closed it only by entries or stored bytes, and xattrs compress).
  for (let from = 0; from < 40; from += 8) {
    await Promise.all(Array.from({ length: 8 }, (_, i) => {
      const name = `fat-${from + i}`;
      names.push(name);
      return env.dirs.update(INO, [name], (d) => d.set(name, fileEntry(from + i, XATTR)));
    }));
  }
  await checkBounded(env, names);
  const all = await env.shards();
  assert(all.length >= 4, `${all.length} shards`);
});

Deno.test("age shards: a closed shard that its names' changes take past the decoded size is split in two, each half closed with its own filter", async () => {
  const env = await setUp();
  const names = Array.from({ length: 60 }, (_, i) => `f-${i}`);
  for (const [i, name] of names.entries()) {
    await env.dirs.update(INO, [name], (d) => d.set(name, fileEntry(i)));
  }
  // 60 small entries: unsharded. Xattrs on each in turn take it past the decoded size (it
  // becomes age-sharded, its names the first closed shard), then take that closed shard
  // past it: on the code before, it grew to 60 entries of 6 KiB (370 KiB of JSON).
  for (const [i, name] of names.entries()) {
    await env.dirs.update(INO, [name], (d) => d.set(name, fileEntry(i, XATTR)));
  }
  await checkBounded(env, names);
  const ages = (await env.dirs.get(INO))!.value.ages!;
  const lines = new Set(ages.closed.map((c) => c.line ?? c.id));
  assert(ages.closed.length > lines.size, "no closed shard was split");
  for (const c of ages.closed) {
    if (c.line) assert(c.depth !== undefined && c.bits !== undefined, "a half without range");
  }
  await checkBounded(env, names);
});
