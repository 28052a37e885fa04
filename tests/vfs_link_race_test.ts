// An unlink or a rename over a file racing a link() to that same file, on two instances:
// the link turns the plain file into a hard-linked one (its inode moves to its own object,
// counted 2) between the unlink's look and its commit. The unlink must then count its link
// off: before, it removed the promoted name but released what the plain file it had looked
// at held (nothing), so the file kept a count of 2 with one name left (protocol fuzz ext).

import { assertEquals } from "./_assert.ts";
import { MemoryStore } from "../src/store/mod.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";
import { inodeKey } from "../src/format/keys.ts";
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
