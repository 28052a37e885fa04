// A name kept aside beside one in a closed age shard whose Bloom filter is sparse (a shard
// closed with a few names, by size or under tiny limits: 48 bits at least, 7 probes). Such
// a filter passes 1 name in 10^5 or fewer, so `nameBeside` drew hundreds of thousands of
// names (over a second of CPU) and at times ran out of its 2^20: EAGAIN, a 503 to a WebDAV
// COPY over the name, again on every retry of it (protocol fuzz seed 390156, directory
// objects of 2 entries). Now it gives up placing the name there when that would take more
// than 65,536 draws: the name goes where new names go, `renameAside` answers EXDEV, and
// WebDAV falls back to two renames (docs/format.md, "Age shards").

import { assert, assertEquals } from "./_assert.ts";
import { Dav } from "./_dav.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

/** A directory of closed shards of two names each: files of 1,000 bytes are inline. */
async function sparse() {
  const store = new MemoryStore();
  const fs = await Vfs.open(store, { dirLimits: { maxDecodedBytes: 900 } });
  await fs.mkdir("/d");
  for (let i = 0; i < 6; i++) await fs.writeFile(`/d/f${i}`, new Uint8Array(1000).fill(i));
  return { fs, dav: new Dav(fs, store) };
}

Deno.test("a name beside one in a closed shard of a sparse filter is drawn once", async () => {
  const { fs } = await sparse();
  for (let i = 0; i < 6; i++) {
    const name = await fs.nameBeside(`/d/f${i}`, ".aside-");
    // The prefix and one id ("<time>-<random>"), no "-<n>" of a further draw.
    assertEquals(name.split("-").length, 3, `f${i}: ${name}`);
  }
});

Deno.test("WebDAV COPY and MOVE over names in closed shards of sparse filters succeed", async () => {
  const { fs, dav } = await sparse();
  await fs.writeFile("/d/src", new Uint8Array([42]));
  for (let i = 0; i < 6; i++) {
    const copy = await dav.status("COPY", "/d/src", {
      headers: { destination: `http://localhost/dav/d/f${i}`, overwrite: "T" },
    });
    assertEquals(copy, 204, `COPY over f${i}`);
    assertEquals([...await fs.read(`/d/f${i}`, 0, 10)], [42]);
  }
  const move = await dav.status("MOVE", "/d/src", {
    headers: { destination: "http://localhost/dav/d/f0", overwrite: "T" },
  });
  assertEquals(move, 204);
  const names = (await fs.readdir("/d")).entries.map((e) => e.name).sort();
  assert(!names.some((n) => n.startsWith(".")), `names left aside: ${names}`);
  assertEquals(names, ["f0", "f1", "f2", "f3", "f4", "f5"]);
});
