// Cached path resolution stays strict: a namespace change made through one instance is
// what another instance's next operation resolves, however warm its remembered paths are
// (docs/format.md, "Namespace epoch").

import { assert, assertEquals } from "./_assert.ts";
import { bytes, contract, text } from "./_stores.ts";
import { HookStore } from "./_hook_store.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { LOCKS_KEY } from "../src/format/keys.ts";
import type { ObjectStore } from "../src/store/mod.ts";
import { FsError, isFsError, Vfs } from "../src/vfs/mod.ts";

/** Reads `path` through `fs` as text, or "ENOENT"/"ENOTDIR" when it is not a file. */
async function content(fs: Vfs, path: string): Promise<string> {
  try {
    return text(await fs.read(path, 0, 100));
  } catch (error) {
    if (isFsError(error, "ENOENT")) return "ENOENT";
    if (isFsError(error, "ENOTDIR")) return "ENOTDIR";
    throw error;
  }
}

/**
 * Renames `from` to `to` through `fs` and puts the lock table back as it was: a renamer
 * whose pending id others cleared as stale and that died after its change and before its
 * second bump, so that the epoch reads as it did before the rename.
 */
async function unseenRename(store: ObjectStore, fs: Vfs, from: string, to: string) {
  const locks = await store.get(LOCKS_KEY).catch(() => null);
  const before = locks?.status === "ok"
    ? new Uint8Array(await new Response(locks.body).arrayBuffer())
    : null;
  await fs.rename(from, to);
  if (before) await store.put(LOCKS_KEY, before);
  else await store.delete(LOCKS_KEY);
}

/** Warms `fs`'s remembered paths: each file read, its directory listed and stat'ed. */
async function warm(fs: Vfs, paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    await fs.read(path, 0, 100).catch(() => {});
    const dir = path.slice(0, path.lastIndexOf("/")) || "/";
    await fs.readdir(dir).catch(() => {});
    await fs.getattr(dir).catch(() => {});
  }
}

contract(
  "`rename()` of a directory by one instance is what another resolves next",
  async (store) => {
    const a = await Vfs.open(store);
    const b = await Vfs.open(store);
    await a.mkdir("/a/x", { parents: true });
    await a.mkdir("/b");
    await a.writeFile("/a/x/f", bytes("one"));
    await warm(a, ["/a/x/f"]);
    await b.rename("/a/x", "/b/x");
    assertEquals(await content(a, "/a/x/f"), "ENOENT");
    assertEquals(await content(a, "/b/x/f"), "one");
    assert(isFsError(await a.readdir("/a/x").catch((e) => e), "ENOENT"));
    assertEquals((await a.readdir("/b/x")).entries.map((e) => e.name), ["f"]);
  },
);

contract("two directories swapped by one instance are seen swapped by another", async (store) => {
  const a = await Vfs.open(store);
  const b = await Vfs.open(store);
  for (const name of ["p", "q"]) {
    await a.mkdir(`/top/${name}/in`, { parents: true });
    await a.writeFile(`/top/${name}/in/who`, bytes(name));
  }
  await warm(a, ["/top/p/in/who", "/top/q/in/who"]);
  const p = (await a.getattr("/top/p/in")).ino;
  // Both directories stay (nothing removed): only the epoch can tell A its paths moved.
  await b.rename("/top/p", "/top/t");
  await b.rename("/top/q", "/top/p");
  await b.rename("/top/t", "/top/q");
  assertEquals(await content(a, "/top/p/in/who"), "q");
  assertEquals(await content(a, "/top/q/in/who"), "p");
  assertEquals((await a.getattr("/top/q/in")).ino, p);
  assertEquals((await a.readdir("/top/p/in")).entries.map((e) => e.name), ["who"]);
});

contract(
  "a directory replaced by a symlink to another is followed by the next lookup",
  async (store) => {
    const a = await Vfs.open(store);
    const b = await Vfs.open(store);
    await a.mkdir("/s/d", { parents: true });
    await a.mkdir("/o");
    await a.writeFile("/s/d/f", bytes("dir"));
    await a.writeFile("/o/f", bytes("other"));
    await warm(a, ["/s/d/f", "/o/f"]);
    // Moved away (the old directory lives on elsewhere), a symlink in its place.
    await b.rename("/s/d", "/o/old");
    await b.symlink("/o", "/s/d");
    assertEquals(await content(a, "/s/d/f"), "other");
    assertEquals((await a.getattr("/s/d")).type, "directory");
    assertEquals((await a.lookup("/s/d")).type, "symlink");
    // And back: the symlink renamed away, a directory in its place.
    await b.rename("/s/d", "/s/link");
    await b.rename("/o/old", "/s/d");
    assertEquals(await content(a, "/s/d/f"), "dir");
    assertEquals(await content(a, "/s/link/f"), "other");
  },
);

/**
 * B renames /a/x to /b/x and dies after the change, before its second bump (its write of
 * the lock table fails). A keeps resolving in full, from the root, while the rename is
 * pending, and never serves its remembered chain; once A has seen the pending id for the
 * removing lease by its own clock, it removes it and remembers paths again.
 */
async function renameDiesBeforeItsSecondBump(store: ObjectStore) {
  let now = 1_000_000;
  const counted = new HookStore(store);
  const a = await Vfs.open(counted, { now: () => now, removingLeaseMs: 30_000 });
  let lockWrites = 0;
  let armed = false;
  const dying = new FaultyStore(store, {
    plan: (call) =>
      armed && call.op === "PutObject" && call.key === "locks" && ++lockWrites === 2
        ? { kind: "fail-before" }
        : null,
  });
  const hooked = new HookStore(dying);
  const b = await Vfs.open(hooked);
  await a.mkdir("/a/x", { parents: true });
  await a.mkdir("/b");
  await a.writeFile("/a/x/f", bytes("one"));
  await warm(a, ["/a/x/f"]);
  // Warm: the lock table and the directory.
  let before = counted.calls.length;
  assertEquals(await content(a, "/a/x/f"), "one");
  assertEquals(counted.calls.length - before, 2);
  armed = true;
  // Between B's first bump and its change, A looks the path up: in full (a rename is
  // pending), and without remembering what it found, which B is about to change.
  hooked.before(
    (call) => call.op === "PutObject" && call.key?.startsWith("d/") === true,
    async () => assertEquals(await content(a, "/a/x/f"), "one"),
  );
  await b.rename("/a/x", "/b/x");
  assertEquals(hooked.fired, 1);
  assertEquals(lockWrites, 2, "the second bump was attempted and failed");
  const resolvedFully = async (path: string, expected: string) => {
    const from = counted.calls.length;
    assertEquals(await content(a, path), expected, path);
    const reads = counted.calls.slice(from).filter((c) => c.op === "GetObject");
    assert(reads.some((c) => c.key === "d/0000000000000001"), `${path} resolved from the root`);
  };
  await resolvedFully("/a/x/f", "ENOENT");
  await resolvedFully("/b/x/f", "one");
  now += 29_999;
  await resolvedFully("/b/x/f", "one");
  await resolvedFully("/a/x/f", "ENOENT");
  now += 1;
  // Stale by A's own clock: A removes it (and resolves this one in full) ...
  await resolvedFully("/b/x/f", "one");
  // ... and then paths are remembered again.
  await content(a, "/b/x/f");
  before = counted.calls.length;
  assertEquals(await content(a, "/b/x/f"), "one");
  assertEquals(counted.calls.length - before, 2);
  // Another instance, with its own clock, still sees the tree as it is.
  assertEquals(await content(await Vfs.open(store), "/b/x/f"), "one");
}

contract(
  "a rename that dies before its second bump leaves others resolving in full until stale",
  renameDiesBeforeItsSecondBump,
);

contract(
  "a remembered path is walked again once it is a minute old, even if the epoch never moved",
  async (store) => {
    let now = 1_000_000;
    const a = await Vfs.open(store, { now: () => now });
    const b = await Vfs.open(store);
    await a.mkdir("/a/x", { parents: true });
    await a.mkdir("/b");
    await a.writeFile("/a/x/f", bytes("one"));
    await warm(a, ["/a/x/f"]);
    // A renamer whose pending id others cleared as stale, and that died after its change
    // and before its second bump: the epoch reads as it did before the rename.
    await unseenRename(store, b, "/a/x", "/b/x");
    now += 61_000;
    assertEquals(await content(a, "/a/x/f"), "ENOENT");
    assertEquals(await content(a, "/b/x/f"), "one");
  },
);

contract(
  "a path resolved from its parent's remembered path is forgotten when the parent's is",
  async (store) => {
    let now = 1_000_000;
    const a = await Vfs.open(store, { now: () => now });
    const b = await Vfs.open(store);
    await b.mkdir("/p/x", { parents: true });
    await b.mkdir("/q");
    await b.writeFile("/p/x/f", bytes("one"));
    await warm(a, ["/p/f"]); // a remembers /p only
    // A rename of /p that no epoch shows (as in the test above) ...
    await unseenRename(store, b, "/p", "/q/p");
    // ... may be followed through /p's remembered path while that is under a minute old,
    // and /p/x be resolved from it (since session 19, from the parent's chain) ...
    now += 59_000;
    assert(["one", "ENOENT"].includes(await content(a, "/p/x/f")));
    // ... but not once /p's is a minute old: /p/x is as old as the path it came from.
    now += 2_000;
    assertEquals(await content(a, "/p/x/f"), "ENOENT");
    assertEquals(await content(a, "/q/p/x/f"), "one");
  },
);

contract(
  "a path walked after this request's own epoch bump is not remembered from reads made before it",
  async (store) => {
    const a = await Vfs.open(store);
    const b = await Vfs.open(store);
    await a.mkdir("/s/t", { parents: true });
    await a.mkdir("/x");
    await a.writeFile("/s/t/f", bytes("old"));
    await b.request(async () => {
      // b's request reads the epoch and /s ...
      await b.readdir("/s");
      // ... another instance moves /s/t away and makes a new /s/t meanwhile ...
      await a.rename("/s/t", "/s/u");
      await a.mkdir("/s/t");
      await a.writeFile("/s/t/f", bytes("new"));
      // ... b's request renames a directory (its CAS leaves b the newest epoch) and then
      // walks /s/t: with /s as read before a's rename, under an epoch read after it.
      await b.rename("/x", "/y");
      await b.getattr("/s/t/f").catch(() => {});
    });
    assertEquals(await content(b, "/s/t/f"), "new");
    assertEquals(await content(b, "/s/u/f"), "old");
  },
);

contract(
  "a tree removal's walk remembers what it finds no younger than the path it came from",
  async (store) => {
    let now = 1_000_000;
    const a = await Vfs.open(store, { now: () => now });
    const b = await Vfs.open(store);
    await b.mkdir("/p/x/m", { parents: true });
    await b.mkdir("/q");
    await b.writeFile("/p/x/m/f", bytes("one"));
    await warm(a, ["/p/x/f"]); // a remembers /p and /p/x
    // A rename of /p that no epoch shows (as in the tests above) ...
    await unseenRename(store, b, "/p", "/q/p");
    // ... followed by a removal of /p/x that lists it and its folder m (m's file refused,
    // so m stays) while /p's remembered path is under a minute old ...
    now += 59_000;
    await a.removeTree("/p/x", {
      beforeEach: (path) => {
        if (path.endsWith("/m/f")) throw new FsError("EACCES", "kept", { path });
        return Promise.resolve();
      },
    });
    // ... must not have remembered /p/x/m afresh: once /p's path is a minute old, /p/x/m
    // is walked in full.
    now += 2_000;
    assertEquals(await content(a, "/p/x/m/f"), "ENOENT");
    assertEquals(await content(a, "/q/p/x/m/f"), "one");
  },
);
