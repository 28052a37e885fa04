// A WebDAV COPY of a collection that fails half way (a member removed by another client,
// a lock taken on the destination meanwhile): nothing is made at the destination, and a
// failure of a member is answered with a 207 naming it (RFC 4918 section 9.8.8), not with
// a 404 for a source that is there. Before, the part copied stayed at the destination and
// the answer was 404 "/s/d".

import { assert, assertEquals } from "./_assert.ts";
import { Dav } from "./_dav.ts";
import { HookStore } from "./_hook_store.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

async function world() {
  const inner = new MemoryStore();
  const other = await Vfs.open(inner);
  await other.mkdir("/s/sub", { parents: true });
  for (const x of ["a", "b", "c", "d"]) await other.writeFile(`/s/${x}`, new Uint8Array([1]));
  await other.writeFile("/s/sub/z", new Uint8Array([2]));
  await other.mkdir("/keep");
  await other.writeFile("/keep/mine", new Uint8Array([3]));
  const hook = new HookStore(inner);
  const fs = await Vfs.open(hook);
  return { inner, other, hook, fs, dav: new Dav(fs, hook) };
}

/** Runs `then` before the `n`th PUT of a directory object from `hook`'s instance. */
function onPut(hook: HookStore, n: number, then: () => Promise<unknown>): void {
  let puts = 0;
  hook.before(
    (c) => c.op === "PutObject" && c.key?.startsWith("d/") === true && ++puts === n,
    then,
  );
}

for (const n of [2, 4]) {
  Deno.test(`a COPY of a collection whose member another client removes half way makes nothing, and says which member (PUT ${n})`, async () => {
    const { other, hook, fs, dav } = await world();
    onPut(hook, n, async () => {
      await other.removeTree("/s/sub");
      await other.unlink("/s/d");
    });
    const res = await dav.send("COPY", "/s/", {
      headers: { Destination: "http://localhost/dav/n/" },
    });
    const text = await res.text();
    assertEquals(await fs.lookup("/n").catch((e) => e.code), "ENOENT", "nothing made");
    assertEquals(res.status, 207, text);
    assert(/<D:href>\/dav\/s\/(d|sub\/z)<\/D:href>/.test(text), text);
    assert(/HTTP\/1.1 404/.test(text), text);
    // No staging name left beside the destination; nothing else touched.
    assertEquals((await fs.readdir("/")).entries.map((e) => e.name).sort(), ["keep", "s"]);
    assertEquals(await fs.read("/keep/mine", 0, 10), new Uint8Array([3]));
    // Asked again, it copies what is there now.
    const again = await dav.send("COPY", "/s/", {
      headers: { Destination: "http://localhost/dav/n/" },
    });
    assertEquals(again.status, 201, await again.text());
    assertEquals((await fs.readdir("/n")).entries.map((e) => e.name).sort(), ["a", "b", "c"]);
  });
}

Deno.test("a COPY of a collection over an existing one that fails half way leaves the existing one whole", async () => {
  const { other, hook, fs, dav } = await world();
  onPut(hook, 2, async () => {
    await other.removeTree("/s/sub");
    await other.unlink("/s/d");
  });
  const res = await dav.send("COPY", "/s/", {
    headers: { Destination: "http://localhost/dav/keep/", Overwrite: "T" },
  });
  const text = await res.text();
  assertEquals(res.status, 207, text);
  assertEquals((await fs.readdir("/keep")).entries.map((e) => e.name), ["mine"]);
  assertEquals((await fs.readdir("/")).entries.map((e) => e.name).sort(), ["keep", "s"]);
});

Deno.test("a COPY of a collection that succeeds makes it whole, as before", async () => {
  const { fs, dav } = await world();
  const res = await dav.send("COPY", "/s/", {
    headers: { Destination: "http://localhost/dav/n/" },
  });
  assertEquals(res.status, 201, await res.text());
  assertEquals((await fs.readdir("/n")).entries.map((e) => e.name).sort(), [
    "a",
    "b",
    "c",
    "d",
    "sub",
  ]);
  assertEquals(await fs.read("/n/sub/z", 0, 10), new Uint8Array([2]));
  assertEquals((await fs.readdir("/")).entries.map((e) => e.name).sort(), ["keep", "n", "s"]);
});
