// What an acknowledged operation cut short can leave behind without damage: objects that no
// name reaches and nothing can reach again. fsck calls them garbage (or a warning), not
// errors, and GC deletes what it can delete safely (two runs a grace period apart, its own
// clock). Found by the session 16 sweeps, which had to filter these "orphan" errors out.

import { assert, assertEquals } from "./_assert.ts";
import { HookStore } from "./_hook_store.ts";
import { fsck } from "../src/format/fsck.ts";
import { gc } from "../src/format/gc.ts";
import { dirKey, inodeKey } from "../src/format/keys.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { MemoryStore } from "../src/store/memory.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Vfs } from "../src/vfs/mod.ts";

const bytes = new TextEncoder().encode("data");

/** fsck's findings on `store` (grace 0) as "severity kind key". */
async function findings(store: ObjectStore): Promise<string[]> {
  return (await fsck(store, { graceMs: 0 })).problems.map((p) =>
    `${p.severity} ${p.kind} ${p.key ?? p.path}`
  );
}

/** `store` as an instance sees it whose every DELETE of `key` fails before reaching it. */
function failingDeletesOf(store: MemoryStore, key: string): FaultyStore {
  return new FaultyStore(store, {
    plan: (call) => call.op === "DeleteObject" && call.key === key ? { kind: "fail-before" } : null,
  });
}

Deno.test("an rmdir whose delete of the directory's object fails leaves garbage that GC deletes, not an fsck error", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/d");
  const key = dirKey((await fs.lookup("/d")).ino);
  // Every DELETE of the directory's object fails before reaching the store: the removal is
  // final (tombstone, entry gone) and its last step did not happen.
  const remover = await Vfs.open(
    failingDeletesOf(store, key),
  );
  const answer = await remover.rmdir("/d").then(() => "ok", (e) => e.code ?? String(e));
  assertEquals(answer, "ok"); // the removal is final: its answer does not wait for the delete
  assertEquals(await fs.lookupOrNull("/d"), null);
  assert(await store.head(key), "the tombstone is left");
  // Before: "error orphan d/…", which only fsck --repair removed.
  assertEquals(await findings(store), [`info garbage ${key}`]);
  assertEquals((await gc(store, { graceMs: 0 })).deletedKeys, []); // first sighting
  assertEquals((await gc(store, { graceMs: 0 })).deletedKeys, [key]);
  assertEquals(await store.head(key), null);
  assertEquals(await findings(store), []);
});

/**
 * `/d1/x` linked as `/d2/l` by an instance of its own; right before the linker's swap of
 * `/d1/x` to a hard link (its first write of `/d1` after it wrote the inode object), the
 * other instance runs `meanwhile`. Returns the link's answer and the inode's key.
 */
async function linkCutShort(meanwhile: (fs: Vfs) => Promise<unknown>) {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/d1");
  await fs.mkdir("/d2");
  await fs.writeFile("/d1/x", bytes);
  const d1 = dirKey((await fs.lookup("/d1")).ino);
  const inode = inodeKey((await fs.lookup("/d1/x")).ino);
  const hook = new HookStore(store);
  let written = false;
  hook.before((call) => {
    if (call.op === "PutObject" && call.key === inode) written = true;
    return written && call.op === "PutObject" && call.key === d1;
  }, () => meanwhile(fs));
  const linker = await Vfs.open(hook);
  const answer = await linker.link("/d1/x", "/d2/l").then(() => "ok", (e) => e.code);
  assertEquals(hook.fired, 1, "the interleaving did not happen");
  return { store, fs, answer, inode };
}

Deno.test("a link() whose file is renamed before its swap leaves an inode object that is a warning, not an fsck error", async () => {
  const { store, fs, answer, inode } = await linkCutShort((fs) => fs.rename("/d1/x", "/d2/x"));
  assertEquals(answer, "ENOENT");
  assertEquals((await fs.getattr("/d2/x")).nlink, 1);
  // The file is still a plain entry: its next link() replaces the object (written again by
  // CAS), so neither fsck nor GC may delete it while a link may be reusing it. Before:
  // "error orphan i/…".
  assertEquals(await findings(store), [`warning unused-inode ${inode}`]);
  await fs.link("/d2/x", "/d2/y");
  assertEquals(await findings(store), []);
});

Deno.test("a link() whose file is unlinked before its swap leaves garbage that GC deletes, not an fsck error", async () => {
  const { store, answer, inode } = await linkCutShort((fs) => fs.unlink("/d1/x"));
  assertEquals(answer, "ENOENT");
  // No entry names the file any more, and none can again (an ino is never reused): the
  // object is garbage. Before: "error orphan i/…".
  assertEquals(await findings(store), [`info garbage ${inode}`]);
  assertEquals((await gc(store, { graceMs: 0 })).deletedKeys, []);
  assertEquals((await gc(store, { graceMs: 0 })).deletedKeys, [inode]);
  assertEquals(await findings(store), []);
});

Deno.test("a rename over an empty directory whose delete of it fails leaves garbage that GC deletes, not an fsck error", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/a");
  await fs.mkdir("/b");
  await fs.mkdir("/p");
  const key = dirKey((await fs.lookup("/b")).ino);
  const renamer = await Vfs.open(
    failingDeletesOf(store, key),
  );
  // A directory's rename goes through its intent even within one directory object; the
  // replaced directory is released once the source entry is gone.
  const answer = await renamer.rename("/a", "/b").then(() => "ok", (e) => e.code ?? String(e));
  assertEquals(answer, "ok");
  assertEquals((await fs.readdir("/")).entries.map((e) => e.name).sort(), ["b", "p"]);
  // The target's mark holds the replaced directory until a lookup clears it.
  assertEquals(await findings(store), []);
  await fs.lookup("/b");
  // The replaced directory, closed under the rename's mark, unlinked: nothing names it again.
  // Before: "error orphan d/…"; and the rename answered EAGAIN, though it had happened.
  assertEquals(await findings(store), [`info garbage ${key}`]);
  assertEquals((await gc(store, { graceMs: 0 })).deletedKeys, []);
  assertEquals((await gc(store, { graceMs: 0 })).deletedKeys, [key]);
  assertEquals(await findings(store), []);
});
