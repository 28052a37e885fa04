import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { MetaStore } from "../src/format/cas.ts";
import { Directories } from "../src/format/dir.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { dirKey, ROOT_INO } from "../src/format/keys.ts";
import { assert, assertEquals } from "./_assert.ts";
import { checkConsistency } from "./_model.ts";
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

/**
 * Opens `/p` and `/q` (with a file in `/p`) and a renamer instance that, right before its
 * intent for moving `/p` reaches the bucket (its first write of the root), lets a crossing
 * intent (`/q` into `/p`, with id `otherId`) be written, as by another instance that then
 * died: the renamer has resolved its paths already, so only its check after the intent
 * can meet it.
 */
async function crossedByDeadRenamer(otherId: string) {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/p");
  await fs.mkdir("/q");
  await fs.writeFile("/p/data", new Uint8Array([7]));
  const p = (await fs.lookup("/p")).ino;
  const dirs = new Directories(new MetaStore(store));
  let planted: Promise<unknown> | null = null;
  const renamer = await Vfs.open(
    new FaultyStore(store, {
      plan(call) {
        if (planted || call.op !== "PutObject" || call.key !== dirKey(ROOT_INO)) return null;
        planted = dirs.update(ROOT_INO, ["q"], (d) => {
          const q = d.get("q")!;
          const moving = {
            id: otherId,
            dir: p,
            name: "q",
            replaces: null,
            noReplace: false,
            at: 0,
          };
          d.set("q", { ...q, moving });
        });
        return { kind: "delay", ms: 20 };
      },
    }),
  );
  const renamed = await renamer.rename("/p", "/q/p").then(() => "ok", (e) => e.code);
  assert(planted, "the crossing intent was not planted");
  await planted;
  return { store, fs, renamed };
}

Deno.test("a newer crossing directory rename met after the intent is rolled back", async () => {
  const { store, fs, renamed } = await crossedByDeadRenamer("ffffffffffff-00000000000000000000");
  assertEquals(renamed, "ok");
  assertEquals((await fs.readdir("/")).entries.map((e) => e.name), ["q"]);
  assertEquals(await fs.read("/q/p/data", 0, 10), new Uint8Array([7]));
  assertEquals(await checkConsistency(store), []);
});

Deno.test("an older crossing directory rename met after the intent goes first", async () => {
  const { store, fs, renamed } = await crossedByDeadRenamer("000000000001-00000000000000000000");
  // Ours yields and tries again; the older one is settled on the way: /q is now in /p.
  assertEquals(renamed, "ENOENT");
  assertEquals((await fs.readdir("/")).entries.map((e) => e.name), ["p"]);
  assertEquals(await fs.read("/p/data", 0, 10), new Uint8Array([7]));
  assertEquals((await fs.readdir("/p/q")).entries, []);
  assertEquals(await checkConsistency(store), []);
});

Deno.test("a directory rename rolled back after its target was added points it back", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/x");
  await fs.mkdir("/y");
  await fs.mkdir("/x/d");
  await fs.writeFile("/x/d/f", new Uint8Array([1]));
  const dirs = new Directories(new MetaStore(store));
  const x = (await fs.lookup("/x")).ino, y = (await fs.lookup("/y")).ino;
  const d = (await fs.lookup("/x/d")).ino;
  const entry = (await dirs.lookup((await dirs.get(x))!.value, "d"))!;
  const id = "0000000000aa-00000000000000000000";
  // A renamer added the target and moved the parent pointer; then someone rolled the
  // intent back (its mark cleared), and the renamer died before taking its target back.
  await dirs.update(
    y,
    ["d"],
    (t) => t.set("d", { ...entry, movedFrom: { id, dir: x, name: "d" } }),
  );
  await dirs.updateSelf(d, (obj) => {
    obj.parent = y;
  });
  // Whoever looks the target up finds the rollback, and takes the target back.
  assertEquals(await fs.lookup("/y/d").then(() => "found", (e) => e.code), "ENOENT");
  assertEquals((await fs.readdir("/y")).entries.map((e) => e.name), []);
  assertEquals((await fs.readdir("/x")).entries.map((e) => e.name), ["d"]);
  assertEquals((await dirs.get(d))!.value.parent, x);
  assertEquals(await checkConsistency(store), []);
});
