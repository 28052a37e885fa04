// A directory shard that no split can part: names that share their whole 32-bit hash (a
// user may pick them: FNV-1a multi-collisions are cheap). Splits go one hash bit deeper
// each; past 32 bits, a split's halves named prefixes the shard table could not match, and
// every name of that hash was lost to lookups ("Shard table does not cover hash").

import { assert, assertEquals } from "./_assert.ts";
import { collidingNames } from "./_hash_collisions.ts";
import { hashShard } from "./_dir_layouts.ts";
import { Directories, nameHash } from "../src/format/dir.ts";
import { MetaStore } from "../src/format/cas.ts";
import { fsck } from "../src/format/fsck.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { FsError } from "../src/vfs/errors.ts";
import { Vfs } from "../src/vfs/mod.ts";

Deno.test("the names are colliding ones", () => {
  const names = collidingNames(8);
  assertEquals(new Set(names).size, 256);
  assertEquals(new Set(names.map(nameHash)).size, 1);
});

Deno.test("a shard of names of one hash is never split past the hash's bits: writes past its limits are refused, every acknowledged one stays readable", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store, { dirLimits: { maxEntries: 4 } });
  await fs.mkdir("/c");
  // Hash shards, as a directory filled before age shards has them (a full directory is
  // age-sharded now: tests/age_shards_test.ts, src/format/_dir_age_size_test.ts).
  await hashShard(store, (await fs.getattr("/c")).ino);
  for (let i = 0; i < 8; i++) await fs.writeFile(`/c/pad${i}`, new Uint8Array([i]));
  const written: string[] = [];
  const refused: string[] = [];
  for (const [i, name] of collidingNames(6).entries()) {
    try {
      await fs.writeFile(`/c/${name}`, new Uint8Array([i]));
      written.push(name);
    } catch (error) {
      assert(error instanceof FsError && error.code === "ENOSPC", `${name}: ${error}`);
      refused.push(name);
    }
  }
  assert(written.length >= 4, `${written.length} written`);
  const fresh = await Vfs.open(store);
  for (const name of written) {
    const i = collidingNames(6).indexOf(name);
    assertEquals(await fresh.read(`/c/${name}`, 0, 10), new Uint8Array([i]), name);
  }
  const listed = (await fresh.readdir("/c")).entries.map((e) => e.name);
  assertEquals(listed.length, 8 + written.length);
  assert(refused.length > 0, "the shard's limits hold");
  // Other names still go in, the colliding ones can still be changed and removed.
  await fs.writeFile("/c/other", new Uint8Array([1]));
  await fs.writeFile(`/c/${written[1]}`, new Uint8Array([7]));
  await fs.rename(`/c/${written[2]}`, `/c/${refused[0]}`);
  await fs.unlink(`/c/${written[0]}`);
  const after = await Vfs.open(store);
  assertEquals(await after.read(`/c/${written[1]}`, 0, 10), new Uint8Array([7]));
  assertEquals((await after.readdir("/c")).entries.length, 8 + written.length);
});

Deno.test("a rename, link, mkdir, copy or symlink into a full shard of one hash is refused, and nothing is lost", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store, { dirLimits: { maxEntries: 4 } });
  await fs.mkdir("/c");
  // Hash shards, as a directory filled before age shards has them (a full directory is
  // age-sharded now: tests/age_shards_test.ts, src/format/_dir_age_size_test.ts).
  await hashShard(store, (await fs.getattr("/c")).ino);
  await fs.mkdir("/o");
  for (let i = 0; i < 8; i++) await fs.writeFile(`/c/pad${i}`, new Uint8Array([i]));
  const refused: string[] = [];
  for (const [i, name] of collidingNames(6).entries()) {
    await fs.writeFile(`/c/${name}`, new Uint8Array([i])).catch((error) => {
      assert(error instanceof FsError && error.code === "ENOSPC", String(error));
      refused.push(name);
    });
  }
  assert(refused.length >= 5, `${refused.length} refused`);
  await fs.writeFile("/o/x", new Uint8Array([42]));
  await fs.mkdir("/o/d");
  const code = (step: Promise<unknown>) => step.then(() => "ok", (e) => e.code);
  // A rename's target write refused: before, its intent stayed on the source, and every
  // instance that met it could neither apply it nor take it back (ENOSPC on /o's listing).
  assertEquals([
    await code(fs.rename("/o/x", `/c/${refused[0]}`)),
    await code(fs.rename("/o/d", `/c/${refused[1]}`)),
    await code(fs.link("/o/x", `/c/${refused[2]}`)),
    await code(fs.mkdir(`/c/${refused[3]}`)),
    await code(fs.copy("/o/x", `/c/${refused[4]}`)),
    await code(fs.symlink("/o/x", `/c/${refused[4]}`)),
  ], ["ENOSPC", "ENOSPC", "ENOSPC", "ENOSPC", "ENOSPC", "ENOSPC"]);
  const fresh = await Vfs.open(store);
  assertEquals((await fresh.readdir("/o")).entries.map((e) => e.name).sort(), ["d", "x"]);
  assertEquals(await fresh.read("/o/x", 0, 10), new Uint8Array([42]));
  assertEquals((await fresh.getattr("/o/x")).nlink, 1);
  const report = await fsck(store, { now: Date.now() + 3600_000 });
  assert(report.ok && report.problems.length === 0, JSON.stringify(report.problems));
});

Deno.test("a closed age shard of names of one hash is split down to the hash's bits by its size, and no further: growing it past then is refused, every acknowledged change stays readable", async () => {
  const store = new MemoryStore();
  // Xattrs kept inline whatever their size (as before session 21, when they spill past 1
  // KiB): they are what grows the entries here.
  const fs = await Vfs.open(store, {
    dirLimits: { maxEntries: 4, maxDecodedBytes: 8 << 10 },
    xattrSpillBytes: Infinity,
  });
  await fs.mkdir("/c");
  const names = collidingNames(3).slice(0, 5);
  // The fifth name makes the folder age-sharded: all five in its first closed shard.
  for (const [i, name] of names.entries()) await fs.writeFile(`/c/${name}`, new Uint8Array([i]));
  const value = new Uint8Array(512);
  const kept: [string, string][] = [];
  let refused = 0;
  for (let i = 0; i < 80; i++) {
    const name = names[i % names.length]!;
    try {
      await fs.updatexattrs(`/c/${name}`, { set: { [`user.k${i}`]: value } });
      kept.push([name, `user.k${i}`]);
    } catch (error) {
      assert(error instanceof FsError && error.code === "ENOSPC", `${i}: ${error}`);
      refused++;
    }
  }
  assert(refused > 0, "the shard's limits hold");
  const ino = (await fs.getattr("/c")).ino;
  const dir = (await new Directories(new MetaStore(store)).get(ino))!.value;
  const depths = dir.ages!.closed.map((c) => c.depth ?? 0);
  assertEquals(Math.max(...depths), 32);
  const fresh = await Vfs.open(store);
  assertEquals((await fresh.readdir("/c")).entries.map((e) => e.name).sort(), [...names].sort());
  for (const [name, key] of kept) assertEquals(await fresh.getxattr(`/c/${name}`, key), value);
  const report = await fsck(store);
  assert(report.ok, JSON.stringify(report.problems));
});
