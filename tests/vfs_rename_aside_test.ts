// renameAside(): a rename within one directory object that keeps what it replaces under a
// second name in the same commit (WebDAV COPY and MOVE over a collection use it).

import { assert, assertEquals } from "./_assert.ts";
import { contract } from "./_stores.ts";
import { dirKey } from "../src/format/keys.ts";
import { HookStore } from "./_hook_store.ts";
import { hashShard } from "./_dir_layouts.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";
import { fsck } from "../src/format/fsck.ts";

const text = (s: string) => new TextEncoder().encode(s);
const read = async (fs: Vfs, path: string) =>
  new TextDecoder().decode(await fs.read(path, 0, 1 << 20));
const code = (p: Promise<unknown>) => p.then(() => "ok", (e) => isFsError(e) ? e.code : e);

contract("`renameAside()` replaces a non-empty directory and keeps it whole", async (store) => {
  const fs = await Vfs.open(store);
  await fs.mkdir("/d/old/sub", { parents: true });
  await fs.writeFile("/d/old/sub/f", text("kept"));
  await fs.writeFile("/d/new", text("new"));
  const aside = await fs.nameBeside("/d/old", ".aside-");
  assert(aside.startsWith(".aside-"), aside);
  await fs.renameAside("/d/new", "/d/old", aside);
  const other = await Vfs.open(store);
  assertEquals(await read(other, "/d/old"), "new");
  assertEquals(await read(other, `/d/${aside}/sub/f`), "kept");
  assertEquals((await other.readdir("/d")).entries.map((e) => e.name).sort(), [aside, "old"]);
  // A directory over a file, the other way round.
  await fs.mkdir("/d/dir");
  const again = await fs.nameBeside("/d/old", ".aside-");
  await fs.renameAside("/d/dir", "/d/old", again);
  assertEquals((await other.getattr("/d/old")).type, "directory");
  assertEquals(await read(other, `/d/${again}`), "new");
  // Nothing at the target: a plain rename, nothing kept.
  await fs.writeFile("/d/x", text("x"));
  await fs.renameAside("/d/x", "/d/y", await fs.nameBeside("/d/y", ".aside-"));
  assertEquals(await read(other, "/d/y"), "x");
});

contract(
  "`renameAside()` commits once, and refuses what it cannot do in one commit",
  async (store) => {
    const counted = new HookStore(store);
    const fs = await Vfs.open(counted);
    await fs.mkdir("/a/t", { parents: true });
    await fs.mkdir("/b");
    await fs.writeFile("/a/t/f", text("t"));
    await fs.writeFile("/a/s", text("s"));
    const { ino } = await fs.getattr("/a");
    const aside = await fs.nameBeside("/a/t", ".aside-");
    const from = counted.calls.length;
    await fs.renameAside("/a/s", "/a/t", aside);
    // A file moved over a directory: one write of the directory /a, and the namespace
    // epoch around it (paths through /a/t now lead elsewhere).
    const dirWrites = counted.calls.slice(from).filter((c) =>
      c.op === "PutObject" && c.key === dirKey(ino)
    );
    assertEquals(dirWrites.length, 1);
    assertEquals(await code(fs.renameAside("/a/none", "/a/t", "z")), "ENOENT");
    assertEquals(await code(fs.renameAside("/a/t", "/a/u", aside)), "EEXIST");
    assertEquals(await code(fs.renameAside("/b", "/a/t", "z")), "EXDEV");
    assertEquals(await code(fs.renameAside("/a/t", "/a/u", "u")), "EINVAL");
    assertEquals(await read(fs, "/a/t"), "s");
  },
);

contract("`renameAside()` keeps a replaced hard link's count", async (store) => {
  const fs = await Vfs.open(store);
  await fs.writeFile("/f", text("linked"));
  await fs.link("/f", "/g");
  await fs.writeFile("/h", text("other"));
  const aside = await fs.nameBeside("/f", ".aside-");
  await fs.renameAside("/h", "/f", aside);
  assertEquals((await fs.getattr("/g")).nlink, 2);
  assertEquals(await read(fs, `/${aside}`), "linked");
  await fs.unlink(`/${aside}`);
  assertEquals((await fs.getattr("/g")).nlink, 1);
  assertEquals(await read(fs, "/g"), "linked");
});

contract(
  "`nameBeside()` keeps the name in the same shard of a hash-sharded directory",
  async (store) => {
    const fs = await Vfs.open(store, { dirLimits: { maxEntries: 4 } });
    await fs.mkdir("/many");
    // Hash shards, as a directory filled before age shards has them (age shards: below).
    await hashShard(store, (await fs.getattr("/many")).ino);
    for (let i = 0; i < 40; i++) await fs.writeFile(`/many/f${i}`, text(`${i}`));
    let otherShard = 0;
    for (let i = 0; i < 40; i += 7) {
      // Another file of the same shard replaces it (the count of entries stays, so no
      // split comes in between); one of another shard is EXDEV.
      const aside = await fs.nameBeside(`/many/f${i}`, ".aside-");
      const results: string[] = [];
      let j = 0;
      for (; j < 40; j++) {
        if (j === i || !await fs.getattr(`/many/f${j}`).then(() => true, () => false)) continue;
        const result = await code(fs.renameAside(`/many/f${j}`, `/many/f${i}`, aside));
        results.push(result);
        if (result === "ok") break;
      }
      assert(results.includes("ok"), `f${i}: ${results}`);
      assert(results.every((r) => r === "ok" || r === "EXDEV"), `f${i}: ${results}`);
      assertEquals(await read(fs, `/many/f${i}`), `${j}`);
      assertEquals(await read(fs, `/many/${aside}`), `${i}`);
      otherShard += results.filter((r) => r === "EXDEV").length;
    }
    assert(otherShard > 0, "the directory is not sharded");
  },
);

contract(
  "`renameAside()` in an age-sharded directory: within the open shard in one commit, and over a name in a closed shard in one commit too",
  async (store) => {
    const hooked = new HookStore(store);
    const fs = await Vfs.open(hooked, { dirLimits: { maxEntries: 4 } });
    await fs.mkdir("/many");
    for (let i = 0; i < 6; i++) await fs.writeFile(`/many/f${i}`, text(`${i}`));
    // f0…f4 became the first closed shard; f5 and what follows are in the open one.
    await fs.writeFile("/many/g", text("g"));
    const aside = await fs.nameBeside("/many/f5", ".aside-");
    assertEquals(await code(fs.renameAside("/many/g", "/many/f5", aside)), "ok");
    assertEquals(await read(fs, "/many/f5"), "g");
    assertEquals(await read(fs, `/many/${aside}`), "5");
    // Over f1, in the closed shard: the aside name is one that shard takes (its filter
    // passes it), so the swap is one CAS of that shard, and f1 is never missing. Before,
    // the aside name went to the open shard: EXDEV, and WebDAV's two renames.
    const other = await fs.nameBeside("/many/f1", ".aside-");
    const from = hooked.calls.length;
    assertEquals(await code(fs.renameAside("/many/f2", "/many/f1", other)), "ok");
    const writes = hooked.calls.slice(from).filter((c) => c.op === "PutObject");
    assertEquals(writes.length, 1, JSON.stringify(writes));
    assert(/^d\/[0-9a-f]+\/s\//.test(writes[0]!.key ?? ""), "not a shard's CAS");
    const fresh = await Vfs.open(store);
    assertEquals(await read(fresh, "/many/f1"), "2");
    assertEquals(await read(fresh, `/many/${other}`), "1");
    assertEquals(await fresh.lookupOrNull("/many/f2"), null);
    // A name that shard takes lives there: the filter passes it (fsck: misplaced-name).
    const report = await fsck(store);
    assert(report.ok, JSON.stringify(report.problems));
  },
);

contract("`renameAside()` with `replaces` refuses a target changed since", async (store) => {
  const fs = await Vfs.open(store);
  await fs.writeFile("/t", text("seen"));
  await fs.writeFile("/s", text("s"));
  const seen = (await fs.getattr("/t")).ino;
  await fs.unlink("/t");
  await fs.writeFile("/t", text("new"));
  const aside = await fs.nameBeside("/t", ".aside-");
  assertEquals(await code(fs.renameAside("/s", "/t", aside, { replaces: seen })), "EEXIST");
  assertEquals(await code(fs.renameAside("/s", "/t", aside, { replaces: null })), "EEXIST");
  assertEquals(await read(fs, "/t"), "new");
  await fs.renameAside("/s", "/t", aside, { replaces: (await fs.getattr("/t")).ino });
  assertEquals(await read(fs, "/t"), "s");
  assertEquals(await read(fs, `/${aside}`), "new");
});

contract(
  "`renameAside()` names the directory that keeps the aside entry, and `pathOf()` finds it after a rename above",
  async (store) => {
    const fs = await Vfs.open(store);
    const other = await Vfs.open(store);
    await fs.mkdir("/p/c/old", { parents: true });
    await fs.writeFile("/p/c/old/f", text("kept"));
    await fs.writeFile("/p/c/new", text("new"));
    const aside = await fs.nameBeside("/p/c/old", ".aside-");
    const holder = await fs.renameAside("/p/c/new", "/p/c/old", aside);
    assertEquals(holder, (await fs.getattr("/p/c")).ino);
    assertEquals(await fs.pathOf(holder), "/p/c");
    // Another instance moves the collection above: the holder is found at its new place.
    await other.mkdir("/x");
    await other.rename("/p", "/x/q");
    assertEquals(await fs.pathOf(holder), "/x/q/c");
    assertEquals(await read(fs, `/x/q/c/${aside}/f`), "kept");
    // A removal by the holder follows it there, even from the old path.
    assertEquals((await fs.removeTree(`/p/c/${aside}`, { holder })).size, 0);
    assertEquals((await fs.readdir("/x/q/c")).entries.map((e) => e.name), ["old"]);
    assertEquals(await code(fs.removeTree(`/p/c/${aside}`, { holder })), "ENOENT");
    assertEquals(await fs.pathOf((await fs.getattr("/")).ino), "/");
    await other.unlink("/x/q/c/old");
    await other.rmdir("/x/q/c");
    assertEquals(await fs.pathOf(holder), null);
  },
);
