// A directory whose table names a shard object that is not there (damage: a shard deleted
// by hand, a bucket restored in part). A write into it went round `Directories.update`'s
// loop for good: the missing shard reads as "resharded", so the table was read again and
// named it again, thousands of GETs a second, and the request never answered.

import { assert } from "./_assert.ts";
import { ageShard, hashShard } from "./_dir_layouts.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

/** A memory store that stops a writer spinning on it: past 5,000 GETs, each GET throws. */
class SpinStop extends MemoryStore {
  gets = 0;
  override get(...args: Parameters<MemoryStore["get"]>): ReturnType<MemoryStore["get"]> {
    if (++this.gets > 5000) throw new Error("spun: over 5000 GETs");
    return super.get(...args);
  }
}

for (const layout of ["hash", "age"] as const) {
  Deno.test(`a write into a missing shard of ${layout} shards fails instead of looping`, async () => {
    const store = new SpinStop();
    const fs = await Vfs.open(store);
    await fs.mkdir("/c");
    for (let i = 0; i < 16; i++) await fs.writeFile(`/c/f${i}`, new Uint8Array([i]));
    const ino = (await fs.getattr("/c")).ino;
    if (layout === "hash") await hashShard(store, ino);
    else await ageShard(store, ino, { perShard: 4 });
    const shards = (await store.list({ prefix: `d/${ino}/s/` })).objects.map((o) => o.key);
    assert(shards.length >= 2, `${shards.length} shards`);
    for (const key of shards) await store.delete(key);
    store.gets = 0;
    const fresh = await Vfs.open(store);
    const ended = await fresh.writeFile("/c/new", new Uint8Array([1])).then(() => null, (e) => e);
    assert(ended instanceof Error, "the write failed");
    assert(!ended.message.startsWith("spun"), ended.message);
    assert(store.gets < 1000, `${store.gets} GETs`);
  });
}
