// An HTTP API GET whose path changes kind between its stat and its read: a symlink to a
// directory replaced by a file (a rename over it by another instance) after the stat said
// "directory". The GET answers what the path names when it reads: the file, not a 409
// ENOTDIR for a listing of what is now a file (found by the extended protocol fuzzer,
// seed 390033, session 21).

import { assertEquals } from "./_assert.ts";
import { BASE, mount } from "./rest_harness.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

Deno.test("a GET whose directory became a file between its stat and its listing answers the file", async () => {
  const store = new MemoryStore();
  const vfs = await Vfs.open(store);
  await vfs.mkdir("/d");
  await vfs.writeFile("/d/inside", new TextEncoder().encode("in d"));
  await vfs.symlink("/d", "/s");
  await vfs.writeFile("/f", new TextEncoder().encode("the file"));
  const other = await Vfs.open(store);
  let renamed = false;
  // Right after the GET's stat of /s (a directory, through the link), another instance
  // renames /f over /s.
  const racing = new Proxy(vfs, {
    get(target, property) {
      const value = Reflect.get(target, property);
      if (property !== "getattr") return typeof value === "function" ? value.bind(target) : value;
      return async (...args: Parameters<Vfs["getattr"]>) => {
        const stat = await target.getattr(...args);
        if (!renamed && args[0] === "/s") {
          renamed = true;
          await other.rename("/f", "/s");
        }
        return stat;
      };
    },
  });
  const res = await mount(racing).request(`${BASE}/fs/s`);
  assertEquals(renamed, true, "the interleaving did not happen");
  assertEquals([res.status, await res.text()], [200, "the file"]);
});
