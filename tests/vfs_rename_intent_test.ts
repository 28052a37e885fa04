import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { MetaStore } from "../src/format/cas.ts";
import { Directories } from "../src/format/dir.ts";
import { assertEquals } from "./_assert.ts";
Deno.test("an interrupted cross-directory rename cannot resurrect an unlinked target", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/src");
  await fs.mkdir("/dst");
  await fs.writeFile("/src/f", new Uint8Array([1, 2, 3]));
  // A renamer that dies after adding the target, before removing the source:
  const dirs = new Directories(new MetaStore(store));
  const src = (await fs.lookup("/src")).ino, dst = (await fs.lookup("/dst")).ino;
  const root = (await dirs.get(src))!.value;
  const entry = (await dirs.lookup(root, "f"))!;
  const moving = {
    id: "0000000000aa-00000000000000000000",
    dir: dst,
    name: "f",
    replaces: null,
    noReplace: false,
    at: 0,
  };
  await dirs.update(src, ["f"], (d) => d.set("f", { ...entry, moving }));
  await dirs.update(
    dst,
    ["f"],
    (d) => d.set("f", { ...entry, movedFrom: { id: moving.id, dir: src, name: "f" } }),
  );
  await fs.unlink("/dst/f");
  assertEquals((await fs.readdir("/src")).entries.map((e) => e.name), []);
  assertEquals((await fs.readdir("/dst")).entries.map((e) => e.name), []);
});
