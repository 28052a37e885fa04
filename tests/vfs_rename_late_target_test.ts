// A renamer whose own target write comes after others finished its rename and the target
// name was then removed: the renamer must not add that target again. Found by a scheduled
// sweep of MOVEs, renames, links, unlinks and rmdirs over the hard links of one file in
// three directories (session 16): a MOVE's rename of a hard link wrote its target after
// another instance had settled the rename and a crossing MOVE had removed that name (its
// link counted off), so the name came back uncounted: four names, a link count of 3.

import { assertEquals } from "./_assert.ts";
import { HookStore } from "./_hook_store.ts";
import { fsck } from "../src/format/fsck.ts";
import { MetaStore } from "../src/format/cas.ts";
import { dirKey } from "../src/format/keys.ts";
import { checkDir, type DirObject } from "../src/format/meta.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

const bytes = new TextEncoder().encode("data");

/** The records of renames applied on their renamers' behalf in directory `path`'s object. */
/** A bucket with the directories `/d1` and `/d2`, and the instance that made them. */
async function twoDirs(): Promise<{ store: MemoryStore; other: Vfs }> {
  const store = new MemoryStore();
  const other = await Vfs.open(store);
  await other.mkdir("/d1");
  await other.mkdir("/d2");
  return { store, other };
}

async function appliedRecords(store: MemoryStore, path: string): Promise<unknown[]> {
  const ino = (await (await Vfs.open(store)).getattr(path)).ino;
  const dir = await new MetaStore(store).read<DirObject>(dirKey(ino), checkDir);
  return (dir?.value as { applied?: unknown[] } | undefined)?.applied ?? [];
}

/**
 * `from` (`/d1/x`) renamed to `to` (`/d2/y`) by an instance of its own; right before the
 * renamer's `nth` write of the target's directory (its target write), the `other` instance
 * meets the intent (which settles it: `to` added, `from` gone) and removes `to` (`remove`,
 * an unlink). Returns what the rename answered.
 */
async function lateTarget(
  store: MemoryStore,
  other: Vfs,
  { from = "/d1/x", to = "/d2/y", nth = 1, settle = true, remove = () => other.unlink(to) } = {},
): Promise<string> {
  const hook = new HookStore(store);
  const renamer = await Vfs.open(hook);
  const target = dirKey((await other.getattr(to.slice(0, to.lastIndexOf("/")))).ino);
  let puts = 0;
  hook.before(
    (call) => call.op === "PutObject" && call.key === target && ++puts === nth,
    async () => {
      if (settle) assertEquals(await other.lookupOrNull(from), null, "the intent was not settled");
      await remove();
    },
  );
  const answer = await renamer.rename(from, to).then(
    (outcome) => `${outcome}`,
    (error) => `${error?.code ?? error}`,
  );
  assertEquals(hook.fired, 1, "the interleaving did not happen");
  return answer;
}

Deno.test("a renamer whose target write comes after its rename was settled and the target unlinked does not bring the file back", async () => {
  const { store, other } = await twoDirs();
  await other.writeFile("/d1/x", bytes);
  await lateTarget(store, other);
  // The unlink came after the rename took effect: the file is gone. Before: the renamer
  // wrote its target again and `/d2/y` was back, after its unlink had answered success.
  const fresh = await Vfs.open(store);
  assertEquals((await fresh.readdir("/d2")).entries.map((e) => e.name), []);
  assertEquals((await fresh.readdir("/d1")).entries.map((e) => e.name), []);
});

Deno.test("a renamer of a hard link whose target write comes late does not add a name the link count misses", async () => {
  const { store, other } = await twoDirs();
  await other.writeFile("/k", bytes);
  await other.link("/k", "/d1/x");
  // The rename happened (the other instance applied it): success (before: ENOENT).
  assertEquals(await lateTarget(store, other), "renamed");
  // Before: `/d2/y` came back with the count at 1 for two names, and unlinking `/k` then
  // freed the file under `/d2/y`.
  assertEquals(
    (await fsck(store, { graceMs: 0 })).problems.filter((p) => p.severity === "error"),
    [],
  );
  await other.unlink("/k");
  const fresh = await Vfs.open(store);
  assertEquals(await fresh.lookupOrNull("/d2/y"), null);
  assertEquals(
    (await fsck(store, { graceMs: 0 })).problems.filter((p) => p.severity === "error"),
    [],
  );
});

Deno.test("a renamer of a directory within one directory whose target write comes late does not name it again after its removal", async () => {
  const store = new MemoryStore();
  const other = await Vfs.open(store);
  await other.mkdir("/d");
  await other.mkdir("/d/x");
  // The intent is the renamer's first write of /d, its target the second.
  await lateTarget(store, other, {
    from: "/d/x",
    to: "/d/y",
    nth: 2,
    remove: () => other.rmdir("/d/y"),
  });
  // Before: `/d/y` named the removed directory again (fsck: missing-dir).
  assertEquals(
    (await fsck(store, { graceMs: 0 })).problems.filter((p) => p.severity === "error"),
    [],
  );
  assertEquals((await (await Vfs.open(store)).readdir("/d")).entries.map((e) => e.name), []);
});

Deno.test("a rename of a file over a hard link settled by another instance, its target then unlinked, counts the replaced link off (seed 104333)", async () => {
  // Seed 104333 of tests/vfs_links_sched_test.ts, minimised: a MOVE of a plain file over a
  // link of `/k`, settled by another instance (which released nothing: only the renamer
  // did, once it knew the rename had happened), the moved file then unlinked. The renamer,
  // finding its intent gone and its target empty, took the rename for rolled back and did
  // not count the replaced link off: `/k` kept nlink 2 with one name (fsck: nlink).
  const { store, other } = await twoDirs();
  await other.writeFile("/k", bytes);
  await other.link("/k", "/d2/y");
  await other.writeFile("/d1/x", new TextEncoder().encode("other"));
  const answer = await lateTarget(store, other);
  assertEquals(
    (await fsck(store, { graceMs: 0 })).problems.filter((p) => p.severity === "error"),
    [],
  );
  assertEquals((await other.getattr("/k")).nlink, 1);
  // The rename took effect (the unlink removed the file it had moved there): the settler
  // recorded it in the source's object for the renamer (before: ENOENT, see below).
  assertEquals(answer, "renamed");
});

Deno.test("a renamer whose rename another instance applied, its target then unlinked, answers success", async () => {
  // The renamer stalls between its intent and its target write; another instance meets the
  // intent (rolls it forward: the rename happens) and unlinks the target. Before, the
  // renamer found its source and its target gone, could not tell that from a rollback, and
  // answered ENOENT (WebDAV MOVE: 404) for a rename that had happened: no order explains it.
  const { store, other } = await twoDirs();
  await other.writeFile("/d1/x", bytes);
  assertEquals(await lateTarget(store, other), "renamed");
  // The record was the renamer's to read, and it dropped it.
  assertEquals(await appliedRecords(store, "/d1"), []);
  const fresh = await Vfs.open(store);
  assertEquals((await fresh.readdir("/d1")).entries.map((e) => e.name), []);
  assertEquals((await fresh.readdir("/d2")).entries.map((e) => e.name), []);
});

Deno.test("a renamer whose rename another instance applied, its target then renamed away, answers success", async () => {
  const { store, other } = await twoDirs();
  await other.writeFile("/d1/x", bytes);
  const answer = await lateTarget(store, other, {
    remove: async () => void await other.rename("/d2/y", "/d2/z"),
  });
  assertEquals(answer, "renamed");
  assertEquals(await appliedRecords(store, "/d1"), []);
  const fresh = await Vfs.open(store);
  assertEquals(await fresh.read("/d2/z", 0, 100), bytes);
  assertEquals(await fresh.lookupOrNull("/d1/x"), null);
});

Deno.test("a renamer whose rename another instance rolled back, its source then unlinked, still answers ENOENT", async () => {
  // The target is taken before the other instance meets the intent: it rolls the rename
  // back (the source entry stays, with the rollback's trace) and then unlinks the source.
  // No record: the rename did not happen, and ENOENT is what a serial order answers (the
  // renamer after the unlink).
  const { store, other } = await twoDirs();
  await other.writeFile("/d1/x", bytes);
  const answer = await lateTarget(store, other, {
    settle: false,
    remove: async () => {
      await other.writeFile("/d2/y", new TextEncoder().encode("taken"));
      assertEquals(await other.read("/d1/x", 0, 100), bytes, "the rename was not rolled back");
      await other.unlink("/d1/x");
    },
  });
  assertEquals(answer, "ENOENT");
  assertEquals(await appliedRecords(store, "/d1"), []);
  const taken = await (await Vfs.open(store)).read("/d2/y", 0, 100);
  assertEquals(new TextDecoder().decode(taken), "taken");
});
