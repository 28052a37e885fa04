// A COPY or MOVE over a collection whose swap falls back to two renames (the destination and
// the staged entry in two shards of a large collection: `swapIn` in copymove.ts) first
// renames the destination aside. When the store fails that rename after its intent is
// written, the rename is in flight, and whoever meets the intent next rolls it forward: the
// destination under a `.pagefs-replaced-` name, which is deleted as a leftover. Before, the
// request answered a plain 503 with its destination gone so (protocol fuzz seeds 390058 and
// 390080 under harsh store faults, directory objects of two entries). Now it settles the
// intent with fresh reads and puts the destination back, or says where it is kept.

import { assertEquals } from "./_assert.ts";
import { Dav } from "./_dav.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { Vfs } from "../src/vfs/mod.ts";

const limits = { dirLimits: { maxEntries: 2 } };

for (const method of ["COPY", "MOVE"] as const) {
  Deno.test(`a ${method} whose swap falls back to two renames and the first fails in the store keeps its destination`, async () => {
    const inner = new MemoryStore();
    /** Counts the directory writes once armed: the intent, then the target write. */
    let puts = -1;
    const store = new FaultyStore(inner, {
      plan: (call) => {
        if (puts < 0 || call.op !== "PutObject" || !call.key?.startsWith("d/")) return null;
        return ++puts === 2 ? { kind: "fail-before" } : null;
      },
    });
    const fs = await Vfs.open(store, limits);
    await fs.mkdir("/to");
    await fs.mkdir("/to/dst");
    await fs.writeFile("/to/dst/old", new Uint8Array([2]));
    for (let i = 0; i < 4; i++) await fs.writeFile(`/to/x${i}`, new Uint8Array([i]));
    await fs.mkdir("/to/src");
    await fs.writeFile("/to/src/f", new Uint8Array([1]));
    // The destination renamed aside: armed right before that rename.
    const rename = fs.rename.bind(fs);
    fs.rename = (from, to, options) => {
      if (from === "/to/dst" && to.includes(".pagefs-replaced-")) puts = 0;
      return rename(from, to, options);
    };
    const dav = new Dav(fs, store);
    const res = await dav.send(method, "/to/src", {
      headers: { destination: "http://localhost/dav/to/dst", overwrite: "T" },
    });
    const body = await res.text();
    assertEquals(puts >= 2, true, "the rename aside was made and failed");
    const other = await Vfs.open(inner, limits);
    // The first look at each name settles an intent it meets; the second sees the outcome.
    const look = async () => {
      const names = (await other.readdir("/to")).entries.map((e) => e.name);
      for (const n of names) await other.lookupOrNull(`/to/${n}`);
      return names.filter((n) => !n.startsWith(".pagefs-copying-")).sort();
    };
    await look();
    const names = await look();
    if (res.status < 300) {
      assertEquals((await other.readdir("/to/dst")).entries.map((e) => e.name), ["f"]);
    } else {
      // Not done: the destination as it was (a kept entry would be named in the answer).
      const kept = names.filter((n) => n.startsWith(".pagefs-"));
      for (const n of kept) assertEquals(body.includes(n), true, `${n} not named: ${body}`);
      if (kept.length === 0) {
        assertEquals((await other.readdir("/to/dst")).entries.map((e) => e.name), ["old"], body);
      }
    }
  });
}
