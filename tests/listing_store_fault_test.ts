// A listing whose read of a member's object (a directory's, a hard-linked file's) fails in
// the store fails (503), never answers 200 without that member. Before, the failed read
// left the member out as if it had been removed meanwhile (protocol fuzz seed 390054 under
// store faults: an API listing of / answered 200 without /c, a hard-linked file).

import { assert, assertEquals } from "./_assert.ts";
import { Dav, davUrl, parseMultistatus } from "./_dav.ts";
import { dirKey } from "../src/format/keys.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

async function setup() {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/d");
  await fs.mkdir("/d/sub");
  await fs.writeFile("/d/f", new Uint8Array([1]));
  await fs.link("/d/f", "/d/h");
  const sub = dirKey((await fs.lookup("/d/sub")).ino);
  // A fresh instance whose store fails every read of a member's own object.
  const faulty = new FaultyStore(store, {
    plan: (call) =>
      call.op === "GetObject" && (call.key?.startsWith("i/") || call.key === sub)
        ? { kind: "fail-before" }
        : null,
  });
  return new Dav(await Vfs.open(faulty), store);
}

Deno.test("an API listing fails when the store fails a member's read", async () => {
  const dav = await setup();
  const res = await dav.app.request("http://localhost/api/v1/fs/d/");
  const body = await res.text();
  if (res.status === 200) {
    const names = (JSON.parse(body) as { entries: { name: string }[] }).entries.map((e) => e.name);
    assertEquals(names.sort(), ["f", "h", "sub"]);
  } else assertEquals(res.status, 503, body);
});

Deno.test("a WebDAV PROPFIND fails when the store fails a member's read", async () => {
  const dav = await setup();
  const res = await dav.app.request(`http://localhost${davUrl("/d")}`, {
    method: "PROPFIND",
    headers: { depth: "1" },
  });
  const body = await res.text();
  assert(res.status !== 200, "PROPFIND answers 207 or an error");
  if (res.status === 207) {
    const hrefs = [...parseMultistatus(body).keys()].map((p) => p.replace(/\/$/, "")).sort();
    assertEquals(hrefs, ["/d", "/d/f", "/d/h", "/d/sub"]);
  } else assertEquals(res.status, 503, body);
});
