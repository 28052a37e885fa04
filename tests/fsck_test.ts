import { assert, assertEquals } from "./_assert.ts";
import { readAll } from "../src/store/_util.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { MeteredStore, StoreMetrics } from "../src/store/metrics.ts";
import { FaultyStore } from "../src/store/fault.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";
import { fsck, type FsckReport } from "../src/format/fsck.ts";
import {
  dirKey,
  inodeKey,
  mapKey,
  newId,
  newIno,
  ROOT_INO,
  segmentKey,
} from "../src/format/keys.ts";
import type { DirObject, Entry, InodeObject } from "../src/format/meta.ts";
import { fsckCommand, HOUR } from "./_fsck.ts";
import { hashShard } from "./_dir_layouts.ts";
import { APPLIED_RECORD_MS } from "../src/format/_dir_applied.ts";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

/**
 * A tree with one of everything: nested and sharded directories, inline and segment
 * files, a hard link, a symlink, a cross-directory rename, a spilled page map, a
 * truncate and an unlink.
 */
async function buildTree(store: ObjectStore = new MemoryStore()) {
  const fs = await Vfs.open(store, { dirLimits: { maxEntries: 8 } });
  await fs.mkdir("/docs");
  await fs.mkdir("/docs/sub");
  await fs.mkdir("/empty");
  await fs.mkdir("/many");
  // Hash-sharded, as directories that filled before age shards are (age shards: in
  // tests/age_shards_test.ts); its shards split further as it fills.
  for (let i = 0; i < 6; i++) await fs.writeFile(`/many/f${i}`, bytes(10, i));
  await hashShard(store, (await fs.lookup("/many")).ino);
  for (let i = 6; i < 12; i++) await fs.writeFile(`/many/f${i}`, bytes(10, i));
  await fs.writeFile("/docs/small.txt", new TextEncoder().encode("hello"));
  await fs.writeFile("/docs/big.bin", bytes(3000, 1));
  await fs.link("/docs/big.bin", "/docs/sub/big-link");
  await fs.symlink("/docs/small.txt", "/sym");
  await fs.writeFile("/docs/moved.bin", bytes(2000, 2));
  await fs.rename("/docs/moved.bin", "/docs/sub/moved.bin");
  // 70 one-byte overwrites: 141 extents, more than the 64 that stay inline.
  await fs.writeFile("/frag.bin", bytes(8192, 3));
  for (let i = 0; i < 70; i++) await fs.write("/frag.bin", i * 100, bytes(1, 100 + i));
  await fs.truncate("/frag.bin", 6000);
  await fs.writeFile("/gone.bin", bytes(2000, 4));
  await fs.unlink("/gone.bin");
  return fs;
}

async function readJson<T>(store: ObjectStore, key: string): Promise<T> {
  const got = await store.get(key);
  assert(got?.status === "ok", `${key} exists`);
  return JSON.parse(new TextDecoder().decode(await readAll(got.body)));
}

async function writeJson(store: ObjectStore, key: string, value: unknown): Promise<void> {
  await store.put(key, new TextEncoder().encode(JSON.stringify(value)));
}

const errors = (report: FsckReport) =>
  report.problems.filter((p) => p.severity === "error").map((p) => p.kind).sort();

/**
 * A store through which an instance dies right after its first PutObject of `key` is
 * durable: nothing it sends afterwards arrives. `dead()`: whether that happened.
 */
function dyingAfterPut(store: MemoryStore, key: string) {
  let dead = false;
  const dying = new FaultyStore(store, {
    plan: (call) => {
      if (dead) return { kind: "fail-before" };
      if (call.op !== "PutObject" || call.key !== key) return null;
      return { kind: "pass", between: () => Promise.resolve(void (dead = true)) };
    },
  });
  return { dying, dead: () => dead };
}

Deno.test("fsck() finds a freshly built tree clean, with exact counts", async () => {
  const fs = await buildTree();
  const root = await readJson<DirObject>(fs.store, dirKey((await fs.lookup("/many")).ino));
  assert(root.shards && root.shards.length > 1, "/many is sharded");
  const report = await fsck(fs.store, { graceMs: 0 });
  assertEquals(errors(report), []);
  assert(report.ok && report.consistent);
  assertEquals(report.counts.dirs, 5);
  assertEquals(report.counts.files, 16);
  assertEquals(report.counts.symlinks, 1);
  assertEquals(report.counts.hardlinked, 1);
  // big.bin, moved.bin, frag.bin's first segment and the 60 writes below 6000.
  assertEquals(report.counts.segments, 63);
  assertEquals(report.counts.bytesReferenced, 3000 + 2000 + 6000);
  assertEquals(report.counts.maps, 1);
  // The unlinked file's and the truncated writes' segments are garbage, not damage.
  const garbage = report.problems.filter((p) => p.kind === "garbage" && p.key?.startsWith("s/"));
  assertEquals(garbage.length, 11);
});

Deno.test("fsck() only reads when not repairing", async () => {
  const fs = await buildTree();
  const metrics = new StoreMetrics();
  const report = await fsck(new MeteredStore(fs.store, metrics), { graceMs: 0 });
  assert(report.ok);
  assertEquals(metrics.total(["PutObject", "DeleteObject", "DeleteObjects"]), 0);
});

Deno.test("fsck() reports a missing segment", async () => {
  const fs = await buildTree();
  const inode = await readJson<InodeObject>(
    fs.store,
    inodeKey((await fs.lookup("/docs/big.bin")).ino),
  );
  const id = inode.map![0]![2].split(":")[0]!;
  await fs.store.delete(segmentKey(id));
  const report = await fsck(fs.store, { graceMs: 0 });
  assertEquals(errors(report), ["missing-segment"]);
  assertEquals(report.problems.find((p) => p.kind === "missing-segment")!.key, segmentKey(id));
});

Deno.test("fsck() reports a missing directory object", async () => {
  const fs = await buildTree();
  await fs.store.delete(dirKey((await fs.lookup("/docs/sub")).ino));
  const report = await fsck(fs.store, { graceMs: 0 });
  assert(!report.ok);
  const missing = report.problems.filter((p) => p.kind === "missing-dir");
  assertEquals(missing.map((p) => p.path), ["/docs/sub"]);
  // The hard link in it is no longer counted: the inode's nlink is now one too high.
  assertEquals(errors(report), ["missing-dir", "nlink"]);
});

Deno.test("fsck() reports and repairs a wrong link count", async () => {
  const fs = await buildTree();
  const key = inodeKey((await fs.lookup("/docs/big.bin")).ino);
  const inode = await readJson<InodeObject>(fs.store, key);
  await writeJson(fs.store, key, { ...inode, nlink: 5 });
  const report = await fsck(fs.store, { graceMs: 0, repair: true });
  assertEquals(errors(report), ["nlink"]);
  assertEquals(report.problems.find((p) => p.kind === "nlink")!.repaired, true);
  assertEquals((await readJson<InodeObject>(fs.store, key)).nlink, 2);
  assert((await fsck(fs.store, { graceMs: 0 })).ok);
  assertEquals((await fs.getattr("/docs/sub/big-link")).nlink, 2);
});

Deno.test("fsck() calls a recently raised link count in flight and leaves it", async () => {
  const fs = await buildTree();
  const key = inodeKey((await fs.lookup("/docs/big.bin")).ino);
  const inode = await readJson<InodeObject>(fs.store, key);
  await writeJson(fs.store, key, {
    ...inode,
    nlink: 3,
    attr: { ...inode.attr, ctime: Date.now() },
  });
  const report = await fsck(fs.store, { repair: true });
  assert(report.ok);
  assertEquals(report.problems.filter((p) => p.key === key).map((p) => p.kind), ["in-flight"]);
  assertEquals((await readJson<InodeObject>(fs.store, key)).nlink, 3);
});

Deno.test("fsck() reports and deletes orphan inodes, directories and maps", async () => {
  const fs = await buildTree();
  const inode = await readJson<InodeObject>(
    fs.store,
    inodeKey((await fs.lookup("/docs/big.bin")).ino),
  );
  const orphanInode = inodeKey(newIno());
  const orphanDir = dirKey(newIno());
  const orphanMap = mapKey(newId(Date.now() - 1000));
  await writeJson(fs.store, orphanInode, { ...inode, ino: orphanInode.slice(2), nlink: 1 });
  await writeJson(fs.store, orphanDir, {
    ...await readJson<DirObject>(fs.store, dirKey(ROOT_INO)),
    ino: orphanDir.slice(2),
  });
  await writeJson(fs.store, orphanMap, []);
  // Young orphans may be an operation in flight: reported as such, and kept.
  const young = await fsck(fs.store, { repair: true });
  assert(young.ok);
  assertEquals(young.repaired, 0);
  assert(await fs.store.head(orphanInode));

  const report = await fsck(fs.store, { graceMs: 0, repair: true });
  assertEquals(errors(report), ["orphan"]);
  assertEquals(report.problems.filter((p) => p.kind === "orphan").map((p) => p.key), [orphanDir]);
  // An inode object of a file no entry names (it cannot be named again): garbage, as an
  // unreferenced map (tests/fsck_orphans_test.ts).
  assert(report.problems.some((p) => p.kind === "garbage" && p.key === orphanMap));
  assert(report.problems.some((p) => p.kind === "garbage" && p.key === orphanInode));
  for (const key of [orphanInode, orphanDir, orphanMap]) {
    assertEquals(await fs.store.head(key), null, `${key} deleted`);
  }
  const again = await fsck(fs.store, { graceMs: 0 });
  assertEquals(errors(again), []);
});

/** Adds `entry` as `name` to directory `ino` behind the VFS's back. */
async function addEntry(store: ObjectStore, ino: string, name: string, entry: Entry) {
  const dir = await readJson<DirObject>(store, dirKey(ino));
  await writeJson(store, dirKey(ino), { ...dir, entries: { ...dir.entries, [name]: entry } });
}

function staleIntent(fs: Vfs, target: string, name: string, at = 1) {
  return fs.lookup(target).then(({ ino }) => ({
    id: newId(),
    dir: ino,
    name,
    replaces: null,
    noReplace: false,
    at,
  }));
}

Deno.test("fsck() rolls back a stale rename intent that was not applied", async () => {
  const fs = await buildTree();
  const docs = (await fs.lookup("/docs")).ino;
  const moving = await staleIntent(fs, "/docs/sub", "half.txt");
  // Its target was taken meanwhile, so it can only roll back (a target still free rolls
  // it forward, as the VFS does: tests/rename_intent_repair_test.ts).
  await fs.writeFile("/docs/sub/half.txt", new TextEncoder().encode("taken"));
  const entry = await readJson<DirObject>(fs.store, dirKey(docs));
  await addEntry(fs.store, docs, "half.txt", {
    ...entry.entries!["small.txt"]!,
    ino: newIno(),
    moving,
  });
  const report = await fsck(fs.store, { graceMs: 60_000, repair: true });
  assertEquals(errors(report), ["stale-intent"]);
  assertEquals(report.problems.find((p) => p.kind === "stale-intent")!.path, "/docs/half.txt");
  assertEquals(report.repaired, 1);
  const after = await readJson<DirObject>(fs.store, dirKey(docs));
  assertEquals(after.entries!["half.txt"]!.moving, undefined);
  assert((await fsck(fs.store, { graceMs: 0 })).ok);
  assertEquals(new TextDecoder().decode(await fs.read("/docs/half.txt", 0, 100)), "hello");
});

Deno.test("fsck() finishes a stale rename intent that was applied", async () => {
  const fs = await buildTree();
  const sub = (await fs.lookup("/docs/sub")).ino;
  const moved = (await readJson<DirObject>(fs.store, dirKey(sub))).entries!["moved.bin"]!;
  const moving = await staleIntent(fs, "/docs/sub", "moved.bin");
  await addEntry(fs.store, ROOT_INO, "moved-from.bin", { ...moved, moving });
  const report = await fsck(fs.store, { graceMs: 60_000, repair: true });
  // Counted once: the target holds it, the marked source is a shadow.
  assertEquals(report.counts.files, 16);
  assertEquals(errors(report), ["stale-intent"]);
  assertEquals(report.repaired, 1);
  const root = await readJson<DirObject>(fs.store, dirKey(ROOT_INO));
  assertEquals(root.entries!["moved-from.bin"], undefined);
  assert((await fsck(fs.store, { graceMs: 0 })).ok);
});

Deno.test("fsck() calls a fresh rename intent in flight and leaves it", async () => {
  const fs = await buildTree();
  const moving = await staleIntent(fs, "/docs", "x", Date.now());
  await addEntry(fs.store, ROOT_INO, "x", {
    t: "l",
    ino: newIno(),
    attr: (await readJson<DirObject>(fs.store, dirKey(ROOT_INO))).attr,
    target: "/",
    moving,
  });
  const report = await fsck(fs.store, { repair: true });
  assert(report.ok);
  assertEquals(report.problems.filter((p) => p.path === "/x").map((p) => p.kind), ["in-flight"]);
  const root = await readJson<DirObject>(fs.store, dirKey(ROOT_INO));
  assertEquals(root.entries!["x"]!.moving, moving);
});

Deno.test("fsck() reports a directory reachable twice and a cycle", async () => {
  const fs = await buildTree();
  const docs = (await fs.lookup("/docs")).ino;
  const sub = (await fs.lookup("/docs/sub")).ino;
  const empty = (await fs.lookup("/empty")).ino;
  await addEntry(fs.store, sub, "again", { t: "d", ino: empty });
  await addEntry(fs.store, sub, "loop", { t: "d", ino: docs });
  const report = await fsck(fs.store, { graceMs: 0 });
  assertEquals(errors(report), ["double-link", "double-link"]);
  assertEquals(
    report.problems.filter((p) => p.kind === "double-link").map((p) => p.path).sort(),
    ["/docs/sub/again", "/docs/sub/loop"],
  );
  assertEquals(report.counts.dirs, 5);
});

Deno.test("fsck() points a wrong parent back and reports a directory left marked as removed", async () => {
  const fs = await buildTree();
  const empty = (await fs.lookup("/empty")).ino;
  const dir = await readJson<DirObject>(fs.store, dirKey(empty));
  await writeJson(fs.store, dirKey(empty), { ...dir, parent: newIno(), removing: 1 });
  const report = await fsck(fs.store, { graceMs: 0, repair: true });
  assertEquals(errors(report), ["parent-mismatch", "removing-dir"]);
  assertEquals(report.problems.find((p) => p.kind === "parent-mismatch")?.repaired, true);
  assertEquals(report.unrepaired, 1);
  assertEquals((await readJson<DirObject>(fs.store, dirKey(empty))).parent, dir.parent);
  assertEquals(errors(await fsck(fs.store, { graceMs: 0 })), ["removing-dir"]);
});

Deno.test("fsck() reports a missing superblock and an unknown key", async () => {
  const fs = await buildTree();
  await fs.store.delete("superblock");
  await fs.store.put("stray", new Uint8Array(1));
  const report = await fsck(fs.store, { graceMs: 0 });
  assertEquals(errors(report), ["superblock"]);
  assert(report.problems.some((p) => p.kind === "unknown-key" && p.key === "stray"));
});

Deno.test("fsck() repairs several kinds of damage at once, and a second run is clean", async () => {
  const fs = await buildTree();
  const key = inodeKey((await fs.lookup("/docs/big.bin")).ino);
  const inode = await readJson<InodeObject>(fs.store, key);
  await writeJson(fs.store, key, { ...inode, nlink: 1 });
  const unnamed = inodeKey(newIno());
  await writeJson(fs.store, unnamed, { ...inode, nlink: 1 });
  const docs = (await fs.lookup("/docs")).ino;
  // A rename into a directory that has since been removed: it can only roll back.
  const moving = { ...await staleIntent(fs, "/empty", "gone"), dir: newIno() };
  const small = (await readJson<DirObject>(fs.store, dirKey(docs))).entries!["small.txt"]!;
  await addEntry(fs.store, docs, "small.txt", { ...small, moving });
  const report = await fsck(fs.store, { graceMs: 0, repair: true });
  assertEquals(errors(report), ["nlink", "stale-intent"]);
  assert(report.problems.some((p) => p.kind === "garbage" && p.key === unnamed && p.repaired));
  assertEquals(report.unrepaired, 0);
  const again = await fsck(fs.store, { graceMs: 0 });
  assertEquals(errors(again), []);
  assertEquals(again.counts.files, 16);
  assertEquals((await fs.getattr("/docs/big.bin")).nlink, 2);
  assertEquals(new TextDecoder().decode(await fs.read("/docs/small.txt", 0, 10)), "hello");
});

Deno.test("fsck() warns of an unlink mark whose remover died, and --repair clears it as the VFS would", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/d1");
  await fs.mkdir("/d2");
  await fs.writeFile("/d1/a", bytes(10, 1));
  await fs.link("/d1/a", "/d2/b");
  const d1 = dirKey((await fs.lookup("/d1")).ino);
  // A WebDAV MOVE from /d1/a to /d2/b (another name of the file) whose instance dies right
  // after its mark on /d1/a is durable: nothing it sends afterwards arrives.
  const { dying, dead } = dyingAfterPut(store, d1);
  const died = await (await Vfs.open(dying)).unlinkKeeping("/d1/a", "/d2/b").then(
    () => false,
    () => true,
  );
  assert(died && dead(), "the remover died after its mark");
  const marked = async () => (await readJson<DirObject>(store, d1)).entries!.a!.unlinking;
  assert(await marked(), "the mark stays");
  // It holds back such a MOVE on an instance that meets it for the first time.
  const held = await (await Vfs.open(store)).unlinkKeeping("/d1/a", "/d2/b")
    .then(() => null, (error) => isFsError(error, "EAGAIN"));
  assertEquals(held, true);
  // Young (by the time in its id): a removal that may be under way, left alone; so is its
  // release intent on the inode (src/format/release.ts), which changes no count.
  const young = await fsck(store, { repair: true });
  assertEquals(young.problems.filter((p) => p.path === "/d1/a").map((p) => p.kind), [
    "in-flight",
    "in-flight",
  ]);
  assert(await marked(), "a young mark stays");
  // Past the grace period: a warning, not damage (fsck exits 0), saying what it delays.
  const checked = await fsckCommand(store);
  assertEquals(checked.code, 0);
  const found = checked.problems.filter((p) => p.kind === "unlink-mark");
  assertEquals(found.map((p) => [p.path, p.severity]), [["/d1/a", "warning"]]);
  assert(/MOVE between the file's names/.test(found[0]!.detail), found[0]!.detail);
  assert(await marked(), "a check writes nothing");
  const repaired = await fsck(store, { repair: true, now: Date.now() + HOUR });
  assert(repaired.ok);
  const repair = repaired.problems.find((p) => p.kind === "unlink-mark");
  // The dead remover's release intent goes too (it never removed its name).
  const intent = repaired.problems.find((p) => p.kind === "release-intent");
  assertEquals([repair?.key, repair?.repaired, intent?.repaired, repaired.repaired], [
    d1,
    true,
    true,
    2,
  ]);
  assertEquals(await marked(), undefined);
  const entry = (await readJson<DirObject>(store, d1)).entries!.a!;
  assertEquals([entry.t, entry.ino], ["h", (await fs.lookup("/d2/b")).ino]);
  const again = await fsck(store, { now: Date.now() + HOUR });
  assertEquals(again.problems.filter((p) => p.kind === "unlink-mark"), []);
  // The MOVE goes through at once now.
  assertEquals(await (await Vfs.open(store)).unlinkKeeping("/d1/a", "/d2/b"), true);
  assertEquals((await fs.getattr("/d2/b")).nlink, 1);
});

Deno.test("fsck() passes after a rename across directories over the last link of a hard-linked file, before anyone looks the target up", async () => {
  // The replaced hard link rides in the target's `movedFrom` mark until the next lookup
  // clears it; the renamer has already released it, and with its last link its inode went.
  // Before: fsck reported the inode missing (an error) on a healthy filesystem.
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/d1");
  await fs.mkdir("/d2");
  await fs.writeFile("/d1/x", new TextEncoder().encode("kept"));
  await fs.link("/d1/x", "/k");
  await fs.writeFile("/d2/y", new TextEncoder().encode("replaced"));
  await fs.link("/d2/y", "/m");
  await fs.unlink("/m");
  assertEquals(await fs.rename("/d1/x", "/d2/y"), "renamed");
  const report = await fsck(store, { graceMs: 0 });
  assertEquals(report.problems.filter((p) => p.severity === "error"), []);
  // A name whose inode is missing is still damage.
  const y = await fs.lookup("/d2/y");
  await store.delete(inodeKey(y.ino));
  const broken = await fsck(store, { graceMs: 0 });
  assertEquals(broken.problems.filter((p) => p.severity === "error").map((p) => p.kind), [
    "missing-inode",
  ]);
});

Deno.test("fsck() leaves a young record of a rename applied for its dead renamer, warns of an old one, and --repair drops it", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/d1");
  await fs.mkdir("/d2");
  await fs.writeFile("/d1/x", bytes(10, 1));
  const d1 = dirKey((await fs.lookup("/d1")).ino);
  // A rename whose instance dies right after its intent on /d1/x is durable.
  const { dying, dead } = dyingAfterPut(store, d1);
  const died = await (await Vfs.open(dying)).rename("/d1/x", "/d2/y").then(() => false, () => true);
  assert(died && dead(), "the renamer died after its intent");
  // Another instance meets the intent and applies it, noting it for the renamer.
  assertEquals(await fs.lookupOrNull("/d1/x"), null);
  assertEquals((await fs.lookup("/d2/y")).type, "file");
  const records = async () => (await readJson<DirObject>(store, d1)).applied ?? [];
  const [record] = await records();
  assertEquals(record?.name, "x");
  // Young: its renamer may still be looking. Not a problem, and a repair leaves it.
  const young = await fsck(store, { repair: true, now: record!.at + APPLIED_RECORD_MS - 1 });
  assert(young.ok);
  assertEquals(young.problems.filter((p) => p.key === d1), []);
  assertEquals((await records()).length, 1);
  // As old as its bound: a warning (fsck passes), a check writes nothing, a repair drops it.
  const old = record!.at + APPLIED_RECORD_MS;
  const checked = await fsck(store, { now: old });
  assert(checked.ok);
  const found = checked.problems.filter((p) => p.kind === "applied-record");
  assertEquals(found.map((p) => [p.key, p.path, p.severity]), [[d1, "/d1", "warning"]]);
  assertEquals((await records()).length, 1);
  const repaired = await fsck(store, { repair: true, now: old });
  assertEquals(repaired.problems.find((p) => p.kind === "applied-record")?.repaired, true);
  assertEquals(await records(), []);
  assertEquals((await fsck(store, { now: old })).problems.filter((p) => p.key === d1), []);
});

Deno.test({
  name:
    "an unlink of one of two hard links cut short after its name's removal: removing the last name frees the inode",
  // The count's CAS is a second step after the name's removal: before session 19 nothing
  // completed it when the remover died in between, and the inode kept nlink 1 with no name.
  // Now the removal leaves a proof and the inode an intent, which the next removal of a
  // name of the file counts off (docs/format.md, "A release cut short").
  async fn() {
    const store = new MemoryStore();
    const fs = await Vfs.open(store);
    await fs.mkdir("/d1");
    await fs.mkdir("/d2");
    await fs.writeFile("/d1/a", bytes(3000, 1));
    await fs.link("/d1/a", "/d2/b");
    const ino = (await fs.lookup("/d1/a")).ino;
    const d1 = dirKey((await fs.lookup("/d1")).ino);
    // The instance dies right after the CAS that removes /d1/a: its count's CAS never goes.
    const { dying, dead } = dyingAfterPut(store, d1);
    await (await Vfs.open(dying)).unlink("/d1/a").catch(() => {});
    assert(dead(), "the remover died after removing the name");
    // Another instance removes the last name, with no fsck in between.
    const other = await Vfs.open(store);
    assertEquals(await other.lookupOrNull("/d1/a"), null);
    await other.unlink("/d2/b");
    assertEquals(await store.head(inodeKey(ino)), null, "the inode was freed with its last name");
    // Clean: only the file's data is left, for GC (as after any unlink of a last name).
    const report = await fsck(store, { now: Date.now() + HOUR });
    assertEquals(report.problems.filter((p) => p.severity !== "info"), []);
    const left = report.problems.filter((p) => p.kind === "garbage").map((p) => p.key![0]);
    assertEquals(left, ["s"]);
  },
});
