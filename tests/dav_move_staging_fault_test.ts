// A WebDAV MOVE over a collection from another collection moves its source beside the
// destination first (a `.pagefs-moving-` name, copymove.ts). When the store fails that
// staging rename after its intent is written (its target write fails, or is made and its
// answer lost), the rename is in flight: whoever meets the intent next rolls it forward,
// to the staging name. Before, the MOVE answered a plain 503 and its source ended up under
// that hidden name, which no answer named (protocol fuzz seed 390005 and others under
// harsh store faults, directory objects of two entries). Now the MOVE settles the intent
// with fresh reads and puts the source back, or says where it is kept.

import { assert, assertEquals } from "./_assert.ts";
import { Dav } from "./_dav.ts";
import { dirKey } from "../src/format/keys.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { Vfs } from "../src/vfs/mod.ts";

for (const kind of ["fail-before", "fail-after"] as const) {
  Deno.test(`a MOVE whose staging rename fails in the store (${kind}) leaves no source under the staging name unannounced`, async () => {
    const inner = new MemoryStore();
    let armed = false;
    let failed = 0;
    let toIno = "";
    // The first write of /to's object once armed: the staging rename's target write.
    const store = new FaultyStore(inner, {
      plan: (call) => {
        if (!armed || call.op !== "PutObject" || call.key !== dirKey(toIno)) return null;
        armed = false;
        failed++;
        return { kind };
      },
    });
    const fs = await Vfs.open(store);
    await fs.mkdir("/src");
    await fs.writeFile("/src/f", new Uint8Array([1]));
    await fs.mkdir("/to");
    await fs.mkdir("/to/dst");
    await fs.writeFile("/to/dst/old", new Uint8Array([2]));
    toIno = (await fs.getattr("/to")).ino;
    const dav = new Dav(fs, store);
    armed = true;
    const res = await dav.send("MOVE", "/src", {
      headers: { destination: "http://localhost/dav/to/dst", overwrite: "T" },
    });
    const body = await res.text();
    assertEquals(failed, 1, "the staging rename's target write failed");
    // As another instance serves the tree once whatever was in flight is settled (the
    // first look at each name settles an intent it meets).
    const other = await Vfs.open(inner);
    const tree = async () => {
      const names: string[] = [];
      for (const dir of ["/", "/to"]) {
        for (const e of (await other.readdir(dir)).entries) {
          names.push(`${dir === "/" ? "" : dir}/${e.name}`);
          await other.lookupOrNull(`${dir === "/" ? "" : dir}/${e.name}`);
        }
      }
      await other.lookupOrNull("/src");
      return names.sort();
    };
    await tree();
    const names = await tree();
    const kept = /is kept at \S*\/dav(\/to\/\.pagefs-moving-[^\s<;/]+)/.exec(body);
    if (res.status < 300) {
      assertEquals(names, ["/to", "/to/dst"], body);
      assertEquals((await other.readdir("/to/dst")).entries.map((e) => e.name), ["f"]);
    } else if (kept) {
      const at = decodeURIComponent(kept[1]!);
      assertEquals(names, ["/to", at, "/to/dst"].sort(), body);
      assertEquals((await other.readdir(at)).entries.map((e) => e.name), ["f"]);
    } else {
      // Not applied: the source at its old name, the destination as it was.
      assertEquals(names, ["/src", "/to", "/to/dst"], `${res.status} ${body}`);
      assertEquals((await other.readdir("/src")).entries.map((e) => e.name), ["f"]);
      assertEquals((await other.readdir("/to/dst")).entries.map((e) => e.name), ["old"]);
    }
    assert(res.status !== 500, body);
  });
}
