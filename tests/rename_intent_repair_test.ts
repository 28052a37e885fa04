// One implementation settles rename intents, for the VFS and for fsck alike: fsck must
// never repair a bucket into a state the VFS would not have produced.

import { assert, assertEquals } from "./_assert.ts";
import { pattern } from "./_stores.ts";
import { vfsTree } from "./_model.ts";
import { MetaStore } from "../src/format/cas.ts";
import { Directories } from "../src/format/dir.ts";
import { fsck } from "../src/format/fsck.ts";
import type { Entry } from "../src/format/meta.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

const HOUR = 3_600_000;

/** How far the dead renamer got before it stopped. */
type Cut = "intent" | "target" | "parent";

/**
 * A bucket where a renamer of `/a/x` to `/b/x` died at `cut`: after writing its intent,
 * after adding the target too, or after also pointing a moved directory at `/b`.
 */
async function crashed(kind: "file" | "dir", cut: Cut): Promise<MemoryStore> {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/a");
  await fs.mkdir("/b");
  if (kind === "file") await fs.writeFile("/a/x", pattern(2000, 3));
  else {
    await fs.mkdir("/a/x");
    await fs.writeFile("/a/x/in", pattern(50, 4));
  }
  const dirs = new Directories(new MetaStore(store));
  const a = (await fs.lookup("/a")).ino;
  const b = (await fs.lookup("/b")).ino;
  const entry = (await dirs.lookup((await dirs.get(a))!.value, "x"))!;
  const id = "0000000003e8-00000000000000000001";
  const moving = { id, dir: b, name: "x", replaces: null, noReplace: false, at: 1000 };
  await dirs.update(a, ["x"], (d) => d.set("x", { ...entry, moving }), { touch: false });
  if (cut !== "intent") {
    const moved: Entry = { ...entry, movedFrom: { id, dir: a, name: "x" } };
    await dirs.update(b, ["x"], (d) => d.set("x", moved));
  }
  if (cut === "parent" && entry.t === "d") {
    await dirs.updateSelf(entry.ino, (dir) => {
      dir.parent = b;
    });
  }
  return store;
}

for (const kind of ["file", "dir"] as const) {
  for (const cut of ["intent", "target", "parent"] as const) {
    if (kind === "file" && cut === "parent") continue;
    Deno.test(`fsck --repair settles a dead ${kind} rename cut after its ${cut} as the VFS does`, async () => {
      // The VFS: a fresh instance meets the intent and settles it.
      const byVfs = await crashed(kind, cut);
      const settled = await vfsTree(await Vfs.open(byVfs));
      // fsck, long after (the intent is stale), repairs the same state.
      const byFsck = await crashed(kind, cut);
      const report = await fsck(byFsck, { repair: true, now: Date.now() + HOUR });
      assert(report.repaired > 0, JSON.stringify(report.problems));
      const repaired = await vfsTree(await Vfs.open(byFsck));
      assertEquals(repaired, settled);
      const after = await fsck(byFsck, { now: Date.now() + HOUR });
      assert(after.ok, JSON.stringify(after.problems));
    });
  }
}
