// A change by path (chmod, utimes, xattrs, an append, a truncate) whose entry is removed or
// replaced between its look and its commit acts as if it came after that change: on what
// the path names then, or ENOENT. Before, it failed with ESTALE, which WebDAV answered
// 412 to a PROPPATCH without any precondition (found by tests/protocol_fuzz_ext_test.ts,
// a PROPPATCH and a DELETE at once).

import { MemoryStore } from "../src/store/memory.ts";
import { dirKey, inodeKey } from "../src/format/keys.ts";
import { Vfs, type VfsOptions } from "../src/vfs/vfs.ts";
import { assertEquals } from "./_assert.ts";
import { HookStore } from "./_hook_store.ts";
import { bytes } from "./_stores.ts";
import { BASE, json, mount } from "./rest_harness.ts";

const CHANGES = {
  setxattr: (fs: Vfs, path: string) => fs.setxattr(path, "user.x", bytes("1")),
  updatexattrs: (fs: Vfs, path: string) => fs.updatexattrs(path, { set: { "user.x": bytes("1") } }),
  removexattr: (fs: Vfs, path: string) => fs.removexattr(path, "user.x"),
  chmod: (fs: Vfs, path: string) => fs.setattr(path, { mode: 0o600 }),
  // By-path writes: the same (before: ESTALE, 409 through the API; protocol fuzz ext
  // memory seeds 66, 108, 214, a PATCH append or a truncate racing a DELETE or a rename).
  append: (fs: Vfs, path: string) => fs.append(path, bytes("+")),
  truncate: (fs: Vfs, path: string) => fs.truncate(path, 2),
};

for (const [name, change] of Object.entries(CHANGES)) {
  Deno.test(`${name} of a file removed or replaced before its commit`, async () => {
    const store = new MemoryStore();
    const a = await Vfs.open(store);
    await a.mkdir("/d");
    const hook = new HookStore(store);
    const b = await Vfs.open(hook);
    const dirIno = (await a.lookup("/d")).ino;
    for (const how of ["removed", "replaced"] as const) {
      await a.writeFile("/d/f", bytes("old"));
      await a.setxattr("/d/f", "user.x", bytes("0"));
      await a.writeFile("/d/g", bytes("new"));
      await a.setxattr("/d/g", "user.x", bytes("0"));
      await b.lookup("/d/f"); // b has the file in view
      hook.before(
        (call) => call.op === "PutObject" && call.key === dirKey(dirIno),
        () => how === "removed" ? a.unlink("/d/f") : a.rename("/d/g", "/d/f"),
      );
      const fired = hook.fired;
      const got = await change(b, "/d/f").then(() => "ok", (e) => e.code);
      assertEquals(hook.fired, fired + 1, "the interleaving did not happen");
      // Before: ESTALE both times.
      assertEquals(got, how === "removed" ? "ENOENT" : "ok", how);
      if (how === "replaced") {
        const content = new TextDecoder().decode(await a.read("/d/f", 0, 10));
        const want = { append: "new+", truncate: "ne" }[name as "append"] ?? "new";
        assertEquals(content, want);
        if (name === "chmod") assertEquals((await a.getattr("/d/f")).mode, 0o600);
        else if (name.endsWith("xattr") || name === "updatexattrs") {
          const names = await a.listxattr("/d/f");
          assertEquals(names, name === "removexattr" ? [] : ["user.x"]);
        }
        await a.unlink("/d/f");
      }
    }
  });
}

/**
 * File /f hard-linked as /g by instance `a`, and a second instance `b` on the same store
 * whose requests `hook` sees; `ino` is the file's inode.
 */
async function linkedPair(options: VfsOptions = {}) {
  const store = new MemoryStore();
  const a = await Vfs.open(store);
  await a.writeFile("/f", bytes("x"));
  await a.link("/f", "/g");
  const ino = (await a.lookup("/f")).ino;
  const hook = new HookStore(store);
  const b = await Vfs.open(hook, options);
  return { a, b, hook, ino };
}

Deno.test("a chmod of a hard-linked file answers the mode it set, though another follows at once", async () => {
  // Protocol fuzz ext seed 21085 (FUZZ_OPS=800): two chmods of one hard-linked file at once,
  // both 200, and the first answered the second's mode: the answer was a getattr made after
  // the commit, which read the inode again and found the later change.
  const { a, b, hook, ino } = await linkedPair();
  await b.lookup("/f");
  // Right after b's commit of the inode, a's chmod lands.
  hook.after(
    (call) => call.op === "PutObject" && call.key === inodeKey(ino),
    () => a.setattr("/g", { mode: 0o644 }),
  );
  const stat = await b.setattr("/f", { mode: 0o600, mtime: 1_000_000 });
  assertEquals(hook.fired, 1, "the interleaving did not happen");
  assertEquals([stat.mode, stat.mtime, stat.nlink], [0o600, 1_000_000, 2]);
  assertEquals((await a.getattr("/f")).mode, 0o644);
});

Deno.test("an xattr change through the HTTP API answers what it did though the name goes right after", async () => {
  // Protocol fuzz ext seed 60002 (FUZZ_OPS=800) with a 4 KiB metadata cache: a setxattr of
  // a hard-linked file and a DELETE of that name at once; the xattr was set, and the
  // answer was 404. It was a lookup made after the commit: the version of the directory it
  // had read was evicted (a small cache, or a busy instance), so the lookup read it again
  // and found the name gone. Now the answer is the stat the commit left.
  const { a, b, hook, ino } = await linkedPair({ metaCacheBytes: 1 }); // one version at a time
  const app = mount(b);
  const bodies = {
    setxattr: { op: "setxattr", name: "user.x", value: "MQ==" },
    removexattr: { op: "removexattr", name: "user.x" },
  };
  for (const [op, body] of Object.entries(bodies)) {
    if (op === "removexattr") await a.link("/g", "/f");
    // Right after b's commit of the inode, a removes the name b changed it by.
    hook.after(
      (call) => call.op === "PutObject" && call.key === inodeKey(ino),
      () => a.unlink("/f"),
    );
    const fired = hook.fired;
    const res = await app.request(`${BASE}/fs/f`, json(body));
    assertEquals(hook.fired, fired + 1, "the interleaving did not happen");
    const answer = await res.json();
    assertEquals(res.status, 200, `${op}: ${JSON.stringify(answer)}`); // before: 404
    assertEquals([answer.ino, answer.nlink], [ino, 2], op);
    assertEquals(await a.listxattr("/g"), op === "setxattr" ? ["user.x"] : [], op);
  }
});
