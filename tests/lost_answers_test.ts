// Requests whose answers are lost (a dropped connection, a timeout, a 5xx from a proxy)
// on the HTTP API's write path: what the client is told must be what the bucket holds.

import { FaultyStore } from "../src/store/fault.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { mount } from "./rest_harness.ts";
import { assertEquals } from "./_assert.ts";

const BASE = "http://localhost/api/v1";

for (const kind of ["fail-before", "fail-after"] as const) {
  Deno.test(`mkdir whose new directory object's PUT is lost (${kind}) makes a usable directory`, async () => {
    // The first PUT of a directory object other than the root's, once armed: mkdir's
    // create of the new directory's object, sent before the parent's entry names it.
    let armed = false;
    let root = "";
    const store = new FaultyStore(new MemoryStore(), {
      plan: (call) => {
        if (!armed || call.op !== "PutObject" || !call.key?.startsWith("d/")) return null;
        if (call.key === root) return null;
        armed = false;
        return kind === "fail-before"
          ? { kind: "fail-before", ambiguous: true } // lost on the way: never applied
          : { kind: "fail-after" }; // applied, answer lost
      },
    });
    const vfs = await Vfs.open(store);
    root = `d/${(await vfs.lookup("/")).ino}`;
    const app = mount(vfs);
    armed = true;
    const made = await app.request(`${BASE}/fs/full/`, { method: "PUT" });
    await made.body?.cancel();
    assertEquals(armed, false, "the fault was injected");
    // A 201 promises a directory: files can be made in it (before: 404 for every one
    // after a request lost before it arrived, since its object was never written).
    if (made.status === 201) {
      const put = await app.request(`${BASE}/fs/full/a`, { method: "PUT", body: "b" });
      assertEquals(put.status, 201, await put.text());
      assertEquals((await vfs.readdir("/full")).entries.map((e) => e.name), ["a"]);
    } else {
      // Or an error, and then nothing names a directory that is not there.
      assertEquals((await vfs.readdir("/")).entries.map((e) => e.name), []);
    }
  });
}
