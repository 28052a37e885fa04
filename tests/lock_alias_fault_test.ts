// A write through a symlink to a locked file, without the lock's token, while the store
// fails the look that resolves the symlink: refused (503, try again), never let through.
// Before, the lock check took any failure to resolve the path as "no other name" and
// checked the locks of the name as sent only, so the write went through without the token
// (protocol fuzz seed 390038 under store faults: an API PUT of /b/c, /b a symlink to /,
// answered 204 over a lock on /c).

import { assert, assertEquals } from "./_assert.ts";
import { Dav } from "./_dav.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { FsError, Vfs } from "../src/vfs/mod.ts";

const LOCKINFO = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>` +
  `</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`;

Deno.test("a write through a symlink to a locked file is refused when the store fails its look", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.writeFile("/c", new Uint8Array([1, 2]));
  await fs.symlink("/", "/b");
  const dav = new Dav(fs, store);
  const lock = await dav.send("LOCK", "/c", {
    headers: { depth: "0", "content-type": "application/xml" },
    body: LOCKINFO,
  });
  assertEquals(lock.status, 200);
  await lock.body?.cancel();
  // Another instance whose store fails the resolution of the path (a transient error).
  const other = await Vfs.open(store);
  other.realpath = () => Promise.reject(new FsError("EAGAIN", "Object store failed"));
  const writer = new Dav(other, store);
  for (const url of ["/api/v1/fs/b/c", "/dav/b/c"]) {
    const res = await writer.app.request(`http://localhost${url}`, { method: "PUT", body: "x" });
    await res.body?.cancel();
    assert(res.status >= 400 && res.status !== 404, `PUT ${url}: ${res.status}`);
  }
  assertEquals([...await fs.read("/c", 0, 10)], [1, 2]);
});
