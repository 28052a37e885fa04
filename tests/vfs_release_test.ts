/**
 * The idempotent release of a hard link's name (docs/format.md, "A release cut short";
 * src/format/release.ts): a removal cut short after its name went is counted off by the
 * next removal of any name of the file, exactly once, whoever makes the count step.
 */

import { assert, assertEquals } from "./_assert.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { readAll } from "../src/store/_util.ts";
import { FaultyStore } from "../src/store/fault.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { fsck } from "../src/format/fsck.ts";
import { gc } from "../src/format/gc.ts";
import { dirKey, inodeKey } from "../src/format/keys.ts";
import { HOUR } from "./_fsck.ts";
import { hashShard } from "./_dir_layouts.ts";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

/** A file with names /d1/a, /d2/b and /d2/c (nlink 3). */
async function threeNames(store: ObjectStore) {
  const fs = await Vfs.open(store);
  await fs.mkdir("/d1");
  await fs.mkdir("/d2");
  await fs.writeFile("/d1/a", bytes(3000, 1));
  await fs.link("/d1/a", "/d2/b");
  await fs.link("/d1/a", "/d2/c");
  const ino = (await fs.lookup("/d1/a")).ino;
  return { fs, ino, d1: dirKey((await fs.lookup("/d1")).ino) };
}

/**
 * A view of `store` through an instance that dies at the call `at` picks (the call is
 * applied, or not, as `applied` says; its answer is lost): nothing it sends afterwards
 * arrives.
 */
function dyingAt(store: ObjectStore, at: (op: string, key: string | undefined) => boolean, {
  applied,
}: { applied: boolean }) {
  let dead = false;
  const dying = new FaultyStore(store, {
    plan: (call) => {
      if (dead) return { kind: "fail-before" };
      if (!at(call.op, call.key)) return null;
      const die = () => Promise.resolve(void (dead = true));
      return applied
        ? { kind: "fail-after", between: die }
        : { kind: "fail-before", ambiguous: true, between: die };
    },
  });
  return { dying, dead: () => dead };
}

/**
 * fsck finds nothing but the freed file's data (GC's), and two GC runs leave nothing.
 * `leftProof`: a proof whose clean-up was cut short, which fsck warns of and drops.
 */
async function cleanAfterGc(store: ObjectStore, { leftProof = false } = {}) {
  if (leftProof) {
    const repaired = await fsck(store, { now: Date.now() + HOUR, repair: true });
    const warned = repaired.problems.filter((p) => p.severity !== "info");
    assertEquals(warned.map((p) => [p.kind, p.path, p.repaired]), [
      ["released-record", "/d1/a", true],
    ]);
  }
  const report = await fsck(store, { now: Date.now() + HOUR });
  assertEquals(report.problems.filter((p) => p.severity !== "info"), []);
  assertEquals(report.problems.filter((p) => p.kind !== "garbage" && p.kind !== "in-flight"), []);
  await gc(store, { graceMs: 0 });
  await gc(store, { graceMs: 0 });
  const after = await fsck(store, { now: Date.now() + HOUR });
  assertEquals(after.problems, []);
}

Deno.test("a hard link's removal cut short after its name went is counted off by the next removal, and the last one frees the inode with no --repair", async () => {
  const store = new MemoryStore();
  const { ino, d1 } = await threeNames(store);
  // The instance dies right after the CAS that removes /d1/a: its count step never goes.
  let removed = false;
  const { dying, dead } = dyingAt(store, (op, key) => {
    if (op !== "PutObject" || key !== d1) return false;
    return removed = true;
  }, { applied: true });
  await (await Vfs.open(dying)).unlink("/d1/a").catch(() => {});
  assert(removed && dead(), "the remover died after removing the name");
  const other = await Vfs.open(store);
  assertEquals(await other.lookupOrNull("/d1/a"), null);
  // Owed, not damage: fsck counts the removal as made.
  const owed = await fsck(store, { now: Date.now() + HOUR });
  assertEquals(owed.problems.filter((p) => p.severity === "error"), []);
  assertEquals(owed.problems.filter((p) => p.kind === "release-owed").length, 1);
  // The next removal of another name counts the dead one's off too: one name, one link.
  await other.unlink("/d2/b");
  assertEquals((await other.getattr("/d2/c")).nlink, 1);
  await other.unlink("/d2/c");
  assertEquals(await store.head(inodeKey(ino)), null, "the inode went with its last name");
  await cleanAfterGc(store);
});

for (const applied of [true, false]) {
  Deno.test(`a count step whose answer was lost (${applied ? "applied" : "not applied"}) and whose remover died lowers the count exactly once`, async () => {
    const store = new MemoryStore();
    const { ino } = await threeNames(store);
    const key = inodeKey(ino);
    // The inode's writes of the removal: its intent, then its count (the one that fails);
    // before the release was built, the count was the only one.
    const countWrite = await releasesBuilt() ? 2 : 1;
    let writes = 0;
    const { dying, dead } = dyingAt(store, (op, k) => {
      return op === "PutObject" && k === key && ++writes === countWrite;
    }, { applied });
    await (await Vfs.open(dying)).unlink("/d1/a").catch(() => {});
    assert(dead(), "the remover died at its count step");
    const other = await Vfs.open(store);
    await other.unlink("/d2/b");
    assertEquals((await other.getattr("/d2/c")).nlink, 1, "two names went, two links counted");
    await other.unlink("/d2/c");
    assertEquals(await store.head(key), null, "the inode went with its last name");
    // Applied, the count's clean-up (the proof's drop) never went: a warning fsck drops.
    await cleanAfterGc(store, { leftProof: applied });
  });
}

/** Whether this build writes release intents (a removal then writes the inode twice). */
async function releasesBuilt(): Promise<boolean> {
  const store = new MemoryStore();
  const { ino } = await threeNames(store);
  let puts = 0;
  const counting = new FaultyStore(store, {
    plan: (call) => {
      if (call.op === "PutObject" && call.key === inodeKey(ino)) puts++;
      return null;
    },
  });
  await (await Vfs.open(counting)).unlink("/d1/a");
  return puts > 1;
}

Deno.test("two instances removing two names of one file at once free the inode, whichever makes which count step", async () => {
  for (let round = 0; round < 20; round++) {
    const store = new MemoryStore();
    const fs = await Vfs.open(store);
    await fs.mkdir("/d1");
    await fs.mkdir("/d2");
    await fs.writeFile("/d1/a", bytes(100, round));
    await fs.link("/d1/a", "/d2/b");
    const ino = (await fs.lookup("/d1/a")).ino;
    const [one, two] = [await Vfs.open(store), await Vfs.open(store)];
    await Promise.all([one.unlink("/d1/a"), two.unlink("/d2/b")]);
    assertEquals(await store.head(inodeKey(ino)), null, `round ${round}: the inode was freed`);
    const report = await fsck(store, { now: Date.now() + HOUR });
    assertEquals(report.problems.filter((p) => p.severity !== "info"), []);
  }
});

Deno.test("a removal whose remover dies after its name went, while another instance removes the other name, still frees the inode", async () => {
  // A removes /d1/a; right after its CAS (before its count step) B removes /d2/b, then A
  // dies: B's count step (or its settling after it) must count A's removal off as well.
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/d1");
  await fs.mkdir("/d2");
  await fs.writeFile("/d1/a", bytes(3000, 2));
  await fs.link("/d1/a", "/d2/b");
  const ino = (await fs.lookup("/d1/a")).ino;
  const d1 = dirKey((await fs.lookup("/d1")).ino);
  const other = await Vfs.open(store);
  let dead = false;
  const dying = new FaultyStore(store, {
    plan: (call) => {
      if (dead) return { kind: "fail-before" };
      if (call.op !== "PutObject" || call.key !== d1) return null;
      return {
        kind: "pass",
        between: async () => {
          await other.unlink("/d2/b");
          dead = true;
        },
      };
    },
  });
  await (await Vfs.open(dying)).unlink("/d1/a").catch(() => {});
  assert(dead, "the remover died after its removal");
  assertEquals(await store.head(inodeKey(ino)), null, "the inode was freed");
  await cleanAfterGc(store);
});

Deno.test("a count step whose answer was lost while another instance settled it lowers the count once", async () => {
  // A's count step is sent and its answer lost (the store never got it); meanwhile B
  // removes /d2/b, counting off A's removal (its intent and proof are there) and its own.
  // A then resolves its lost write and makes its step again: it must lower nothing.
  const store = new MemoryStore();
  const { ino } = await threeNames(store);
  const key = inodeKey(ino);
  const countWrite = await releasesBuilt() ? 2 : 1;
  const other = await Vfs.open(store);
  let writes = 0;
  const lossy = new FaultyStore(store, {
    plan: (call) => {
      if (call.op !== "PutObject" || call.key !== key || ++writes !== countWrite) return null;
      return { kind: "fail-before", ambiguous: true, between: () => other.unlink("/d2/b") };
    },
  });
  await (await Vfs.open(lossy)).unlink("/d1/a");
  assertEquals((await other.getattr("/d2/c")).nlink, 1, "two names went, two links counted");
  await other.unlink("/d2/c");
  assertEquals(await store.head(key), null, "the inode went with its last name");
  await cleanAfterGc(store);
});

Deno.test("rmdir of the directory that holds a dead remover's proof counts its removal off first", async () => {
  // The proof goes with the directory's object: counted off by rmdir, or never.
  const store = new MemoryStore();
  const { ino, d1 } = await threeNames(store);
  const { dying, dead } = dyingAt(store, (op, key) => op === "PutObject" && key === d1, {
    applied: true,
  });
  await (await Vfs.open(dying)).unlink("/d1/a").catch(() => {});
  assert(dead(), "the remover died after removing the name");
  const other = await Vfs.open(store);
  await other.rmdir("/d1");
  assertEquals((await other.getattr("/d2/b")).nlink, 2, "two names, two links");
  await other.unlink("/d2/b");
  await other.unlink("/d2/c");
  assertEquals(await store.head(inodeKey(ino)), null, "the inode went with its last name");
  await cleanAfterGc(store);
});

Deno.test("fsck --repair makes an owed count step and sets a count too high besides in one run", async () => {
  const store = new MemoryStore();
  const { ino, d1 } = await threeNames(store);
  // A removal of /d1/a cut short after its name went (one decrement owed) ...
  const cut = dyingAt(store, (op, key) => op === "PutObject" && key === d1, { applied: true });
  await (await Vfs.open(cut.dying)).unlink("/d1/a").catch(() => {});
  // ... and a count one too high besides (a link() from before session 20 cut short after
  // raising it: a link() now raises it only after its name went in).
  const got = await store.get(inodeKey(ino));
  assert(got?.status === "ok", "the inode is there");
  const inode = JSON.parse(new TextDecoder().decode(await readAll(got.body)));
  inode.nlink++;
  await store.put(inodeKey(ino), new TextEncoder().encode(JSON.stringify(inode)));
  assert(cut.dead(), "the remover died between its steps");
  const repaired = await fsck(store, { now: Date.now() + HOUR, repair: true });
  const kinds = repaired.problems.filter((p) => p.severity !== "info");
  assertEquals(kinds.map((p) => [p.kind, p.repaired]).sort(), [
    ["nlink", true],
    ["release-owed", true],
  ]);
  const fs = await Vfs.open(store);
  assertEquals((await fs.getattr("/d2/b")).nlink, 2, "two names, two links");
  await fs.unlink("/d2/b");
  await fs.unlink("/d2/c");
  assertEquals(await store.head(inodeKey(ino)), null, "the inode went with its last name");
  await cleanAfterGc(store);
});

for (const layout of ["hash", "age"] as const) {
  Deno.test(`a dead remover's proof follows its name when the directory becomes sharded (${layout} shards)`, async () => {
    const store = new MemoryStore();
    const options = { dirLimits: { maxEntries: 4 } };
    const fs = await Vfs.open(store, options);
    await fs.mkdir("/d1");
    await fs.mkdir("/d2");
    await fs.writeFile("/d1/a", bytes(3000, 3));
    await fs.link("/d1/a", "/d2/b");
    await fs.link("/d1/a", "/d2/c");
    const ino = (await fs.lookup("/d1/a")).ino;
    const d1 = dirKey((await fs.lookup("/d1")).ino);
    const { dying, dead } = dyingAt(store, (op, key) => op === "PutObject" && key === d1, {
      applied: true,
    });
    await (await Vfs.open(dying, options)).unlink("/d1/a").catch(() => {});
    assert(dead(), "the remover died after removing the name");
    // Hash shards as a directory filled before age shards has them (the proof goes into a
    // half, then a quarter); age shards: into the first closed shard, found by its filter.
    if (layout === "hash") await hashShard(store, d1.slice(2));
    const other = await Vfs.open(store, options);
    for (let i = 0; i < 24; i++) await other.writeFile(`/d1/f${i}`, bytes(10, i));
    const got = await store.get(d1);
    assert(got?.status === "ok", "/d1 is there");
    const root = JSON.parse(new TextDecoder().decode(await readAll(got.body)));
    const shards = layout === "hash" ? root.shards : root.ages?.closed;
    assert(Array.isArray(shards) && shards.length > 2, `/d1 is ${layout}-sharded`);
    await other.unlink("/d2/b");
    assertEquals((await other.getattr("/d2/c")).nlink, 1, "the proof was found in its shard");
    await other.unlink("/d2/c");
    assertEquals(await store.head(inodeKey(ino)), null, "the inode went with its last name");
  });
}
