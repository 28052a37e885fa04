// A WebDAV MOVE over a collection whose swap fails and whose source cannot be put back nor
// even looked at (the store failing every read): the answer says where the source is kept.
// Before, the failed look was taken as "the source went", and the MOVE answered a plain
// 503 while its source sat under a `.pagefs-moving-` name no answer named (protocol fuzz
// seed 390005 under store faults, directory objects of two entries).

import { assert, assertEquals } from "./_assert.ts";
import { Dav } from "./_dav.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { FsError, Vfs } from "../src/vfs/mod.ts";

Deno.test("a MOVE whose source cannot be put back nor looked at says where it is kept", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/src");
  await fs.writeFile("/src/f", new Uint8Array([1]));
  await fs.mkdir("/to");
  await fs.mkdir("/to/dst");
  const dav = new Dav(fs, store);
  // The swap fails, and from then on every look and rename fails in the store.
  const failing = () => Promise.reject(new FsError("EAGAIN", "Object store failed"));
  fs.renameAside = () => {
    fs.lookup = failing;
    fs.lookupOrNull = failing;
    fs.getattr = failing;
    fs.getattrOrNull = failing;
    fs.rename = failing;
    fs.pathOf = failing;
    return failing();
  };
  const res = await dav.send("MOVE", "/src", {
    headers: { destination: "http://localhost/dav/to/dst", overwrite: "T" },
  });
  const body = await res.text();
  assertEquals(res.status, 503, body);
  const kept = /is kept at \S*\/dav\/to\/(\.pagefs-moving-[^\s<;/]+)/.exec(body);
  assert(kept, `the answer names no place the source is kept: ${body}`);
  const fresh = await Vfs.open(store);
  const names = (await fresh.readdir("/to")).entries.map((e) => e.name);
  assert(names.includes(decodeURIComponent(kept[1]!)), `${kept[1]} not in /to: ${names}`);
});
