// rename() resolves two paths; a change of the namespace between the two resolutions
// (another instance swapping a directory out for a file, as a WebDAV MOVE over a collection
// does) must not let it combine a source found through the old tree with a target found in
// the new one: no moment had both (protocol fuzz seed 25 on S3, 300 operations: an API
// rename of `/a/a/b` over `/a` answered 200 while a MOVE put a file at `/a`).

import { assertEquals } from "./_assert.ts";
import { contract } from "./_stores.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";

const text = (s: string) => new TextEncoder().encode(s);
const read = async (fs: Vfs, path: string) =>
  new TextDecoder().decode(await fs.read(path, 0, 1 << 20));
const code = (p: Promise<unknown>) => p.then(() => "ok", (e) => isFsError(e) ? e.code : e);

contract(
  "`rename()` does not move a file from a directory swapped out of its path while the request runs",
  async (store) => {
    const a = await Vfs.open(store);
    const b = await Vfs.open(store);
    await a.mkdir("/a/a", { parents: true });
    await a.writeFile("/a/a/b", text("inner"));
    await a.writeFile("/c", text("c"));
    await a.lookup("/a/a/b"); // `a` remembers the path /a/a
    const aside = await b.nameBeside("/a", ".aside-");
    const result = await a.request(async () => {
      // The request reads the lock table first (its lock checks), then another instance
      // swaps the file /c in for the directory /a, keeping that aside.
      await a.locks.covering("/a/a/b");
      await b.renameAside("/c", "/a", aside);
      return await code(a.rename("/a/a/b", "/a"));
    });
    // Either order: before the swap, a file over a directory (EISDIR); after it, /a/a/b
    // leads through a file (ENOTDIR). Never the inner file at /a.
    assertEquals(["EISDIR", "ENOTDIR", "ENOENT"].includes(String(result)), true, String(result));
    assertEquals(await read(b, "/a"), "c");
    assertEquals(await read(b, `/${aside}/a/b`), "inner");
  },
);
