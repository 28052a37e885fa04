// An rmdir of a non-empty age-sharded directory, or a rename over one, answers ENOTEMPTY;
// before, it first marked the directory's own object as being removed (it holds no
// entries) and only then found a shard non-empty, and a marked directory opens as ENOENT:
// meanwhile a lookup of a file in it, on any instance, failed, though the directory was
// never removed (protocol fuzz seed 390187, directory objects of two entries: a WebDAV GET
// of /f/b/a answered 404 "No such directory" while a rename of /f/b/c over /f/b failed).

import { assertEquals } from "./_assert.ts";
import { HookStore } from "./_hook_store.ts";
import { dirKey } from "../src/format/keys.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";

const TINY = { dirLimits: { maxEntries: 2 } };

/** What a lookup of /d/f0 on another instance says after each write of /d's own object. */
async function lookupsDuring(change: (fs: Vfs) => Promise<unknown>) {
  const store = new MemoryStore();
  const setup = await Vfs.open(store, TINY);
  await setup.mkdir("/d");
  await setup.mkdir("/e");
  for (let i = 0; i < 5; i++) await setup.writeFile(`/d/f${i}`, new Uint8Array([i]));
  const key = dirKey((await setup.lookup("/d")).ino);
  const hook = new HookStore(store);
  const fs = await Vfs.open(hook, TINY);
  const reader = await Vfs.open(store, TINY);
  const seen: string[] = [];
  for (let n = 0; n < 4; n++) {
    hook.after((call) => call.op === "PutObject" && call.key === key, async () => {
      seen.push(await reader.lookup("/d/f0").then(() => "found", (e) => e.code ?? String(e)));
    });
  }
  const outcome = await change(fs).then(() => "ok", (e) => isFsError(e) ? e.code : String(e));
  return { outcome, seen };
}

Deno.test("an rmdir of a non-empty sharded directory hides none of its names", async () => {
  const { outcome, seen } = await lookupsDuring((fs) => fs.rmdir("/d"));
  assertEquals(outcome, "ENOTEMPTY");
  assertEquals(seen.filter((s) => s !== "found"), []);
});

Deno.test("a rename over a non-empty sharded directory hides none of its names", async () => {
  const { outcome, seen } = await lookupsDuring((fs) => fs.rename("/e", "/d"));
  assertEquals(outcome, "ENOTEMPTY");
  assertEquals(seen.filter((s) => s !== "found"), []);
});
