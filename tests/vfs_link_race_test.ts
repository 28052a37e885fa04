// An unlink or a rename over a file racing a link() to that same file, on two instances:
// the link turns the plain file into a hard-linked one (its inode moves to its own object,
// counted 2) between the unlink's look and its commit. The unlink must then count its link
// off: before, it removed the promoted name but released what the plain file it had looked
// at held (nothing), so the file kept a count of 2 with one name left (protocol fuzz ext).

import { assertEquals } from "./_assert.ts";
import { MemoryStore } from "../src/store/mod.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";
import { dirKey, inodeKey } from "../src/format/keys.ts";
import { HookStore } from "./_hook_store.ts";

const bytes = new TextEncoder().encode("data");

Deno.test("an unlink racing a link of the same file leaves the right link count", async () => {
  for (let round = 0; round < 20; round++) {
    const store = new MemoryStore();
    const a = await Vfs.open(store, {});
    const b = await Vfs.open(store, {});
    await a.writeFile("/a", bytes);
    await a.lookup("/a");
    const [unlinked, linked] = await Promise.allSettled([a.removeTree("/a"), b.link("/a", "/c")]);
    assertEquals(unlinked.status, "fulfilled", `round ${round}`);
    const fresh = await Vfs.open(store, {});
    const c = await fresh.lookup("/c").catch((error) => isFsError(error, "ENOENT") ? null : error);
    if (linked.status === "fulfilled") {
      assertEquals(c?.nlink, 1, `round ${round}: /c after both`);
    } else {
      assertEquals(c, null, `round ${round}: the link failed, so no /c`);
    }
  }
});

for (
  const [where, from] of [["in one directory", "/x"], ["from another directory", "/d/x"]] as const
) {
  Deno.test(`a rename over a file ${where} racing a link of that file leaves the right link count`, async () => {
    let linked = 0;
    // The rename starts a few microtasks after the link, so that its look comes before the
    // link's promotion and its commit after it in some of the rounds.
    for (let yields = 0; yields < 40; yields++) {
      const store = new MemoryStore();
      const a = await Vfs.open(store, {});
      const b = await Vfs.open(store, {});
      await a.writeFile("/a", bytes);
      await a.mkdir("/d");
      await a.writeFile(from, new TextEncoder().encode("x"));
      await a.lookup("/a");
      await b.lookup("/a");
      const link = b.link("/a", "/c");
      for (let i = 0; i < yields; i++) await Promise.resolve();
      const [renamed] = await Promise.allSettled([a.rename(from, "/a"), link]);
      assertEquals(renamed.status, "fulfilled", `yields ${yields}`);
      const fresh = await Vfs.open(store, {});
      const c = await fresh.lookup("/c").catch((e) => isFsError(e, "ENOENT") ? null : e);
      if (c === null) continue;
      linked++;
      // Linked after the rename: /a and /c are one file; before it: /c is the old file's
      // only name left.
      const same = (await fresh.lookup("/a")).ino === c.ino;
      assertEquals(c.nlink, same ? 2 : 1, `yields ${yields}`);
    }
    assertEquals(linked > 0, true);
  });
}

/** A file written in segments (not inline), so that appends to it merge (file_commits.ts). */
const big = new Uint8Array(10_000).fill(7);

const writes = {
  "a whole-file write": (fs: Vfs) => fs.writeFile("/c", new TextEncoder().encode("new")),
  "an append with O_CREAT": (fs: Vfs) =>
    fs.append("/c", new TextEncoder().encode("new"), { create: true }),
};

for (const [what, write] of Object.entries(writes)) {
  // The inode's first read is the open's; the second the commit's (an append's in the
  // merged commit of its file, file_commits.ts).
  for (const [when, read] of [["it is opened", 1], ["it commits", 2]] as const) {
    Deno.test(`${what} to a hard-linked file whose last name goes as ${when} creates it anew`, async () => {
      // Seed 22037 of the protocol fuzz ext (FUZZ_PAIRS=0.6): a PUT through a symlink to a
      // file whose other link had been removed, at the same time as a DELETE of that file.
      // The write read the name (a hard link) and then its inode object, which the DELETE
      // had removed in between: 404 "File was removed", though the write, like any other
      // without conditions, comes after a removal and creates the file anew.
      const store = new MemoryStore();
      const a = await Vfs.open(store, {});
      await a.writeFile("/c", big);
      await a.link("/c", "/b");
      await a.unlink("/b");
      const ino = (await a.lookup("/c")).ino;
      const hook = new HookStore(store);
      const b = await Vfs.open(hook, {});
      await b.lookup("/c");
      let reads = 0;
      hook.before(
        (call) => call.op === "GetObject" && call.key === inodeKey(ino) && ++reads === read,
        () => a.unlink("/c"),
      );
      const stat = await write(b);
      assertEquals(hook.fired, 1, "the interleaving did not happen");
      assertEquals(stat.nlink, 1);
      const fresh = await Vfs.open(store, {});
      assertEquals(new TextDecoder().decode(await fresh.read("/c", 0, 10)), "new");
    });
  }
}

Deno.test("two renames of two hard links of one file onto one free name across directories keep the second link", async () => {
  // /d2/b and /d3/c are names of one file, /d1/a is free. The rename of /d2/b has found
  // /d1/a free and written its intent; the rename of /d3/c lands there first. Renaming a
  // name onto another name of the same file does nothing (POSIX), so /d2/b must stay. Before:
  // the intent's settling took the other link at /d1/a for its own target, "already
  // applied", and removed /d2/b: a name gone that no order removes, and the link count
  // one above the names left.
  const store = new MemoryStore();
  const hooks = new HookStore(store);
  const a = await Vfs.open(hooks);
  const b = await Vfs.open(store);
  for (const dir of ["/d1", "/d2", "/d3"]) await b.mkdir(dir);
  await b.writeFile("/d2/b", bytes);
  await b.link("/d2/b", "/d3/c");
  await b.link("/d2/b", "/x");
  const d2 = dirKey((await b.getattr("/d2")).ino);
  hooks.before((call) => call.op === "PutObject" && call.key === d2, async () => {
    assertEquals(await b.rename("/d3/c", "/d1/a"), "renamed");
  });
  const outcome = await a.rename("/d2/b", "/d1/a");
  assertEquals(hooks.fired, 1);
  assertEquals(outcome, "same file");
  const fresh = await Vfs.open(store);
  assertEquals((await fresh.lookupOrNull("/d2/b"))?.nlink, 3);
  assertEquals((await fresh.lookupOrNull("/d1/a"))?.nlink, 3);
  assertEquals(await fresh.lookupOrNull("/d3/c"), null);
});

/**
 * Two instances over one store (`a` through a hook store) and two files: `/d1/a` ("data";
 * also named `/x` with `linkA`) and `/d2/t` ("other", also named `/y`). Returns the key of
 * `/d2`'s object, where a rename of `/d1/a` onto `/d2/t` writes its target.
 */
async function twoLinkedFiles(options: { linkA: boolean }) {
  const store = new MemoryStore();
  const hooks = new HookStore(store);
  const a = await Vfs.open(hooks);
  const b = await Vfs.open(store);
  for (const dir of ["/d1", "/d2"]) await b.mkdir(dir);
  await b.writeFile("/d1/a", bytes);
  if (options.linkA) await b.link("/d1/a", "/x");
  await b.writeFile("/d2/t", new TextEncoder().encode("other"));
  await b.link("/d2/t", "/y");
  const d2 = dirKey((await b.getattr("/d2")).ino);
  return { store, hooks, a, b, d2 };
}

/** The other file (`/d2/t` and `/y` before the rename) whole, with one name left at each. */
async function otherFileKept(store: MemoryStore): Promise<Vfs> {
  const fresh = await Vfs.open(store);
  assertEquals((await fresh.lookupOrNull("/y"))?.nlink, 1, "/y");
  assertEquals(new TextDecoder().decode(await fresh.read("/y", 0, 100)), "other");
  assertEquals((await fresh.lookupOrNull("/d2/t"))?.nlink, 1, "/d2/t");
  assertEquals(await fresh.lookupOrNull("/d1/a"), null);
  return fresh;
}

Deno.test("a hard link's rename taken back and its source unlinked meanwhile does not take another name of the file at its target for its own", async () => {
  // /d1/a and /x are names of one file, /d2/t and /y of another. The rename of /d1/a onto
  // /d2/t has written its intent; before its target write lands, /x is renamed onto /d2/t
  // (replacing that name of the other file), the intent is met and taken back (its target
  // now holds another name of its own file), and /d1/a is unlinked. The renamer's target
  // write then finds another name of the file, and its source gone: nothing it did, so
  // the rename must fail (ENOENT: no /d1/a). Before, the final look took the other name
  // at /d2/t for this rename's target, "applied": the rename answered success, and counted
  // off a link of the file it had meant to replace, which only /y names now.
  const { store, hooks, a, b, d2 } = await twoLinkedFiles({ linkA: true });
  hooks.before((call) => call.op === "PutObject" && call.key === d2, async () => {
    assertEquals(await b.rename("/x", "/d2/t"), "renamed");
    await b.lookup("/d2/t"); // settles that rename: its target's mark goes
    await b.lookup("/d1/a"); // meets the intent and takes it back
    await b.unlink("/d1/a");
  });
  const outcome = await a.rename("/d1/a", "/d2/t").then((r) => r, (e) => e.code);
  assertEquals(hooks.fired, 1, "the interleaving did not happen");
  const fresh = await otherFileKept(store);
  assertEquals(await fresh.lookupOrNull("/x"), null);
  assertEquals(outcome, "ENOENT");
});

Deno.test("a file's rename taken back, the file then linked and its source unlinked, does not take the new link at its target for its own", async () => {
  // As above, with the moving name a plain file when the intent is written: it is
  // hard-linked (/x) only after its rename was taken back (its target, a name of the other
  // file, unlinked meanwhile). Before, the renamer's target write took /x, renamed onto the
  // target, for "already applied", since the intent's entry was not a hard link.
  const { store, hooks, a, b, d2 } = await twoLinkedFiles({ linkA: false });
  hooks.before((call) => call.op === "PutObject" && call.key === d2, async () => {
    await b.unlink("/d2/t");
    await b.lookup("/d1/a"); // meets the intent and takes it back: its target is gone
    await b.link("/d1/a", "/x");
    assertEquals(await b.rename("/x", "/d2/t"), "renamed");
    await b.lookup("/d2/t"); // settles that rename: its target's mark goes
    await b.unlink("/d1/a");
  });
  const outcome = await a.rename("/d1/a", "/d2/t").then((r) => r, (e) => e.code);
  assertEquals(hooks.fired, 1, "the interleaving did not happen");
  await otherFileKept(store);
  assertEquals(outcome, "ENOENT");
});

Deno.test("a hard link's rename that others finish and tidy up before its own target write still counts as done", async () => {
  // The other side of the two tests above: another instance meets the intent and rolls it
  // forward (target added, source removed), and a third look clears the target's mark, all
  // before the renamer's own target write. The target now holds the file with no mark, as
  // another name of it would; the rename did happen, so it answers success and counts off
  // the link of the file it replaced.
  const { store, hooks, a, b, d2 } = await twoLinkedFiles({ linkA: true });
  hooks.before((call) => call.op === "PutObject" && call.key === d2, async () => {
    assertEquals(await b.lookupOrNull("/d1/a"), null); // rolled forward
    await b.lookup("/d2/t"); // its target's mark goes
  });
  assertEquals(await a.rename("/d1/a", "/d2/t"), "renamed");
  assertEquals(hooks.fired, 1, "the interleaving did not happen");
  const fresh = await Vfs.open(store);
  assertEquals((await fresh.lookupOrNull("/y"))?.nlink, 1, "/y");
  assertEquals((await fresh.lookupOrNull("/d2/t"))?.nlink, 2, "/d2/t");
  assertEquals(new TextDecoder().decode(await fresh.read("/d2/t", 0, 100)), "data");
  assertEquals(await fresh.lookupOrNull("/d1/a"), null);
});
