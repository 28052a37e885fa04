import { assert, assertEquals } from "../../tests/_assert.ts";
import { hashShard } from "../../tests/_dir_layouts.ts";
import { MemoryStore } from "../store/memory.ts";
import { MetaStore } from "./cas.ts";
import { Directories, newDirObject, objectOfName } from "./dir.ts";
import { dirKey, shardKey } from "./keys.ts";
import { checkDir, checkShard, type DirObject, type Entry, type ShardObject } from "./meta.ts";
import { APPLIED_RECORD_MS } from "./_dir_applied.ts";

const INO = "00000000000000d1";
const ATTR = { mode: 0o40755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ctime: 0, btime: 0 };

function fileEntry(n: number): Entry {
  const attr = { mode: 0o100644, uid: 0, gid: 0, size: 1, atime: n, mtime: n, ctime: n, btime: n };
  return { t: "f", ino: (0x1000000 + n).toString(16).padStart(16, "0"), attr, data: "Yg==" };
}

/** A directory holding `x`, on a store whose (host and store) clock the test moves. */
async function setUp(limits: { maxEntries?: number } = {}) {
  const store = new MemoryStore();
  const clock = { now: 1_000_000_000_000 };
  const meta = new MetaStore(store, { now: () => clock.now });
  const dirs = new Directories(meta, limits, () => clock.now);
  await dirs.create(newDirObject(INO, INO, ATTR));
  await dirs.update(INO, ["x"], (draft) => draft.set("x", fileEntry(0)));
  /** The records of the directory's object, read by another instance. */
  const records = async () =>
    (await new MetaStore(store).read<DirObject>(dirKey(INO), checkDir))!.value.applied ?? [];
  return { store, clock, dirs, records };
}

Deno.test("a record of a rename applied for its renamer is noted in the CAS that removes the source, and taken once", async () => {
  const { clock, dirs, records } = await setUp();
  const before = (await dirs.get(INO))!.value.attr.mtime;
  clock.now += 1000;
  await dirs.update(INO, ["x"], (draft) => {
    draft.delete("x");
    draft.noteApplied("intent-1", "x");
  });
  assertEquals(await records(), [{ id: "intent-1", name: "x", at: clock.now }]);
  clock.now += 1000;
  assertEquals(await dirs.update(INO, ["x"], (draft) => draft.takeApplied("intent-2")), false);
  assertEquals(await dirs.update(INO, ["x"], (draft) => draft.takeApplied("intent-1")), true);
  assertEquals(await records(), []);
  assertEquals(await dirs.update(INO, ["x"], (draft) => draft.takeApplied("intent-1")), false);
  // Taking a record changes no entry: the directory's times stay those of the removal.
  const dir = (await dirs.get(INO))!.value;
  assertEquals(dir.attr.mtime, before + 1000);
});

Deno.test("a record of a dead renamer is dropped by the next writer of its object once it is APPLIED_RECORD_MS old, not before", async () => {
  const { clock, dirs, records } = await setUp();
  await dirs.update(INO, ["x"], (draft) => {
    draft.delete("x");
    draft.noteApplied("intent-1", "x");
  });
  const at = clock.now;
  clock.now = at + APPLIED_RECORD_MS - 1;
  await dirs.update(INO, ["y"], (draft) => draft.set("y", fileEntry(1)));
  assertEquals(await records(), [{ id: "intent-1", name: "x", at }]);
  // A change that writes nothing does not write for the record either.
  clock.now = at + APPLIED_RECORD_MS;
  await dirs.update(INO, ["y"], () => {});
  assertEquals((await records()).length, 1);
  await dirs.update(INO, ["z"], (draft) => draft.set("z", fileEntry(2)));
  assertEquals(await records(), []);
});

Deno.test("records of applied renames go with their names when a directory splits into hash shards, and when a shard splits", async () => {
  const { store, dirs, records } = await setUp({ maxEntries: 4 });
  await dirs.update(INO, ["x"], (draft) => {
    draft.delete("x");
    draft.noteApplied("intent-x", "x");
  });
  // Split as writers before age shards split a full directory (`hashShard` uses their code).
  await hashShard(store, INO);
  const names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
  for (const [n, name] of names.entries()) {
    await dirs.update(INO, [name], (draft) => draft.set(name, fileEntry(n + 1)));
  }
  const dir = (await dirs.get(INO))!.value;
  const home = objectOfName(dir, "x")!;
  // x's record moved twice: into a half when the directory became two shards, into a
  // quarter when that half split.
  assertEquals(dir.shards!.find((s) => s.id === home)!.depth >= 2, true, "x's shard never split");
  // Not on the directory's own object any more: with the name, in the shard that holds it.
  assertEquals(await records(), []);
  const fresh = new MetaStore(store);
  const shard = async (id: string) =>
    (await fresh.read<ShardObject>(shardKey(INO, id), checkShard))!.value;
  for (const ref of dir.shards!) {
    const expected = ref.id === home ? ["intent-x"] : undefined;
    assertEquals((await shard(ref.id)).applied?.map((r) => r.id), expected, ref.id);
  }
  // The renamer takes it where its name is.
  assertEquals(await dirs.update(INO, ["x"], (draft) => draft.takeApplied("intent-x")), true);
  assertEquals((await shard(home)).applied, undefined);
});

Deno.test("a record of an applied rename goes into the first closed shard when a directory becomes age-sharded, and its renamer takes it there", async () => {
  const { store, dirs, records } = await setUp({ maxEntries: 4 });
  await dirs.update(INO, ["x"], (draft) => {
    draft.delete("x");
    draft.noteApplied("intent-x", "x");
  });
  const names = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"];
  for (const [n, name] of names.entries()) {
    await dirs.update(INO, [name], (draft) => draft.set(name, fileEntry(n + 1)));
  }
  const dir = (await dirs.get(INO))!.value;
  assert(dir.ages && dir.ages.closed.length >= 2, "age-sharded, rolled over since");
  const ages = dir.ages;
  assertEquals(await records(), []);
  const fresh = new MetaStore(store);
  const shard = async (id: string) =>
    (await fresh.read<ShardObject>(shardKey(INO, id), checkShard))!.value;
  const first = ages.closed[0]!.id;
  assertEquals((await shard(first)).applied?.map((r) => r.id), ["intent-x"]);
  // A change that would add x does not go to the closed shard with the record: a closed
  // shard gains no name.
  await dirs.update(INO, ["x"], (draft) => draft.set("x", fileEntry(99)));
  assertEquals((await shard(first)).entries.x, undefined, "a closed shard gained a name");
  assertEquals((await shard(ages.open)).entries.x?.ino, fileEntry(99).ino);
  // A change of x that does not take the record sees x where it is: not absent (before, it
  // ran in the closed shard with the record, where x is not, and failed; a renamer's lookup
  // that failed so tried again forever).
  const seen = await dirs.update(INO, ["x"], (draft) => {
    if (!draft.get("x")) throw new Error("x absent");
    return draft.get("x")!.ino;
  });
  assertEquals(seen, fileEntry(99).ino);
  await dirs.update(INO, ["x"], (draft) => draft.set("x", fileEntry(7)));
  assertEquals((await shard(ages.open)).entries.x?.ino, fileEntry(7).ino);
  // The renamer takes its record where it is, though the name is held elsewhere now.
  assertEquals(await dirs.update(INO, ["x"], (draft) => draft.takeApplied("intent-y")), false);
  assertEquals(await dirs.update(INO, ["x"], (draft) => draft.takeApplied("intent-x")), true);
  assertEquals((await shard(first)).applied, undefined);
  assertEquals((await shard(ages.open)).entries.x?.ino, fileEntry(7).ino);
});

Deno.test("a record's age is judged on the store's clock: a host two hours ahead does not drop it early, one two hours behind drops it on time", async () => {
  const HOURS_2 = 2 * 3600_000;
  let t = 2_000_000_000_000; // the store's clock
  const store = new MemoryStore({ clock: () => t });
  const host = (skew: number) => {
    const meta = new MetaStore(store, { now: () => t + skew });
    return new Directories(meta, {}, () => t + skew);
  };
  const ahead = host(HOURS_2);
  const behind = host(-HOURS_2);
  await ahead.create(newDirObject(INO, INO, ATTR));
  await ahead.update(INO, ["x"], (draft) => draft.set("x", fileEntry(0)));
  await behind.update(INO, ["w"], (draft) => draft.set("w", fileEntry(9))); // learns the clock
  await ahead.update(INO, ["x"], (draft) => {
    draft.delete("x");
    draft.noteApplied("intent-1", "x");
  });
  const records = async () =>
    (await new MetaStore(store).read<DirObject>(dirKey(INO), checkDir))!.value.applied ?? [];
  const [record] = await records();
  // Stamped on the store's clock (at the latest: S3 dates are whole seconds).
  assertEquals(record!.at >= t && record!.at <= t + 1000, true, `${record!.at - t}`);
  t += APPLIED_RECORD_MS - 2000;
  await ahead.update(INO, ["y"], (draft) => draft.set("y", fileEntry(1)));
  assertEquals((await records()).length, 1, "dropped early by the host ahead");
  t += 3000;
  await behind.update(INO, ["z"], (draft) => draft.set("z", fileEntry(2)));
  assertEquals(await records(), [], "kept past its bound by the host behind");
});
