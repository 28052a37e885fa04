// rmdir's removal mark: a stalled rmdir (one hung S3 request), judged by another
// instance whose clock runs a minute ahead, must never take an acknowledged file with it.

import { assertEquals } from "./_assert.ts";
import { contract, pattern } from "./_stores.ts";
import { GateStore } from "./_gate.ts";
import { dirKey } from "../src/format/keys.ts";
import { FsError, Vfs } from "../src/vfs/mod.ts";
import type { ObjectStore } from "../src/store/mod.ts";

/**
 * `store` with its GETs watched: `read` resolves at the first GET of the key passed to
 * `watch` (none is watched before), so a test can act once another instance looked.
 */
function watchGets(store: ObjectStore) {
  let seen: () => void;
  const read = new Promise<void>((resolve) => seen = resolve);
  let watched: string | null = null;
  const watching = new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key);
      if (key !== "get" || typeof value !== "function") return value?.bind?.(target) ?? value;
      return (k: string, ...rest: unknown[]) => {
        if (k === watched) seen();
        return value.call(target, k, ...rest);
      };
    },
  });
  return { store: watching, read, watch: (key: string) => void (watched = key) };
}

contract(
  "`rmdir()` stalled after its mark cannot remove a directory another instance reopened",
  async (store) => {
    const gate = new GateStore(store);
    const clockA = Date.now();
    let clockB = clockA + 60_000;
    const a = await Vfs.open(gate, { now: () => clockA });
    const b = await Vfs.open(store, { now: () => clockB });
    await a.mkdir("/d");
    const { ino } = await a.getattr("/d");
    // A's rmdir marks /d, then its next request hangs.
    let marked = false;
    gate.arm((call) => {
      if (marked) return true;
      if (call.op === "PutObject" && call.key === dirKey(ino)) marked = true;
      return false;
    });
    const removal = a.rmdir("/d").then(() => "removed", (e: FsError) => e.code);
    await gate.held;
    // B, a minute ahead, meets the mark; B retries while time passes on its own clock, and
    // eventually reopens the directory and writes a file into it (acknowledged).
    const data = pattern(3000, 7);
    let written = false;
    for (let attempt = 0; attempt < 4 && !written; attempt++) {
      try {
        await b.writeFile("/d/f", data);
        written = true;
      } catch (error) {
        if (!(error instanceof FsError) || error.code !== "ENOENT") throw error;
        clockB += 31_000;
      }
    }
    assertEquals(written, true, "the mark of a stalled rmdir is cleared eventually");
    gate.open();
    const outcome = await removal;
    // The file was acknowledged: it survives, and so does its directory.
    const fresh = await Vfs.open(store);
    assertEquals(await fresh.read("/d/f", 0, 4000), data);
    assertEquals(outcome, "ENOTEMPTY");
  },
  { backends: ["memory", "s3"] },
);

/**
 * A rename of `from` over the empty directory `/p/t` stalls right after marking it; another
 * instance, a minute ahead, reopens `/p/t` and saves a file in it. The rename, resumed,
 * must not unlink the directory that now holds an acknowledged file.
 */
async function renameStalledAfterMark(store: Parameters<typeof Vfs.open>[0], from: string) {
  const gate = new GateStore(store);
  const clockA = Date.now();
  let clockB = clockA + 60_000;
  const a = await Vfs.open(gate, { now: () => clockA });
  const b = await Vfs.open(store, { now: () => clockB });
  await a.mkdir("/p");
  await a.mkdir("/q");
  await a.mkdir(from);
  await a.writeFile(`${from}/keep`, pattern(10, 1));
  await a.mkdir("/p/t");
  const { ino } = await a.getattr("/p/t");
  // The rename's mark on /p/t goes through; its next request hangs.
  let marked = false;
  gate.arm((call) => {
    if (marked) return true;
    if (call.op === "PutObject" && call.key === dirKey(ino)) marked = true;
    return false;
  });
  const renamed = a.rename(from, "/p/t").then(() => "renamed", (e: FsError) => e.code);
  await gate.held;
  const data = pattern(3000, 9);
  let written = false;
  for (let attempt = 0; attempt < 4 && !written; attempt++) {
    try {
      await b.writeFile("/p/t/saved", data);
      written = true;
    } catch (error) {
      if (!(error instanceof FsError) || error.code !== "ENOENT") throw error;
      clockB += 31_000;
    }
  }
  assertEquals(written, true, "the mark of a stalled rename is cleared eventually");
  gate.open();
  const outcome = await renamed;
  const fresh = await Vfs.open(store);
  assertEquals(await fresh.read("/p/t/saved", 0, 4000), data);
  assertEquals(outcome, "ENOTEMPTY");
  assertEquals(await fresh.read(`${from}/keep`, 0, 10), pattern(10, 1));
}

contract(
  "`rename()` over an empty directory, stalled after its mark, cannot unlink it once reopened",
  (store) => renameStalledAfterMark(store, "/p/src"),
  { backends: ["memory", "s3"] },
);

contract(
  "`rename()` across directories over an empty directory, stalled after its mark, keeps what was saved in it",
  (store) => renameStalledAfterMark(store, "/q/src"),
  { backends: ["memory", "s3"] },
);

contract(
  "a write through a directory that a rename is replacing lands in the directory put there",
  async (store) => {
    // Found by the protocol fuzz (seed 1111): PUT /c/c while /a/c moved over the empty /c.
    const gate = new GateStore(store);
    const a = await Vfs.open(gate);
    const { store: watching, read: marked, watch } = watchGets(store);
    const b = await Vfs.open(watching);
    await a.mkdir("/a/c", { parents: true });
    await a.writeFile("/a/c/moved", pattern(10, 1));
    await a.mkdir("/c");
    const source = (await a.getattr("/a")).ino;
    watch(dirKey((await a.getattr("/c")).ino));
    // A's rename has marked the empty /c it replaces; its intent (a CAS of /a) is held.
    gate.arm((call) => call.op === "PutObject" && call.key === dirKey(source));
    const renaming = a.rename("/a/c", "/c");
    await gate.held;
    const data = pattern(3000, 7);
    const writing = b.writeFile("/c/c", data);
    // B has met the marked directory (before: ENOENT at once); the rename then goes on.
    await marked;
    gate.open();
    await renaming;
    await writing;
    assertEquals(await b.read("/c/c", 0, 10_000), data);
    assertEquals(await b.read("/c/moved", 0, 100), pattern(10, 1));
  },
);

contract(
  "a write whose directory a rename replaced before its commit commits into the new one",
  async (store) => {
    const gate = new GateStore(store);
    const a = await Vfs.open(store);
    const b = await Vfs.open(gate);
    await a.mkdir("/a/c", { parents: true });
    await a.writeFile("/a/c/x", pattern(10, 1));
    await a.mkdir("/c");
    const replaced = dirKey((await a.getattr("/c")).ino);
    // B has looked /c up and placed its data; its commit (a CAS of /c's object) is held.
    gate.arm((call) => call.op === "PutObject" && call.key === replaced);
    const data = pattern(5000, 9);
    const writing = b.writeFile("/c/x", data).then(() => "ok", (e: FsError) => e.code);
    await gate.held;
    await a.rename("/a/c", "/c");
    gate.open();
    // Before: ENOENT "Directory was removed", which no order of the two explains.
    assertEquals(await writing, "ok");
    assertEquals(await a.read("/c/x", 0, 10_000), data);
  },
);

const RENAMES: readonly (readonly [string, string])[] = [
  ["to another directory", "/q/c"],
  ["within its directory", "/p/d"],
];
for (const [where, target] of RENAMES) {
  contract(
    `an rmdir between its check and its tombstone does not remove the directory a rename moved ${where}`,
    async (store) => {
      // Found by the protocol fuzz (seed 1609, 400 ops): `API rename /b/a/c -> /b/c` and
      // `DELETE /b/a/c` both succeeded, and the directory was gone from both names.
      const gate = new GateStore(store);
      const a = await Vfs.open(gate);
      const { store: watching, read: marked, watch } = watchGets(store);
      const b = await Vfs.open(watching);
      await a.mkdir("/p/c", { parents: true });
      await a.mkdir("/q");
      const key = dirKey((await a.getattr("/p/c")).ino);
      // A's rmdir has marked /p/c and checked its name; its tombstone (the second write of the
      // directory's object) is held.
      let writes = 0;
      gate.arm((call) => call.op === "PutObject" && call.key === key && ++writes === 2);
      const removing = a.rmdir("/p/c").then(() => "removed", (e: FsError) => e.code);
      await gate.held;
      watch(key);
      const renaming = b.rename("/p/c", target).then(() => "renamed", (e: FsError) => e.code);
      await marked;
      gate.open();
      const outcome = [await removing, await renaming];
      const at = async (path: string) => await b.getattr(path).then(() => true, () => false);
      const there = [await at("/p/c"), await at(target)];
      // One order or the other: removed then not found, or (had the rmdir backed off)
      // renamed and kept. Never both done with the directory gone from both names.
      const serial =
        (outcome[0] === "removed" && outcome[1] === "ENOENT" && !there[0] && !there[1]) ||
        (outcome[0] === "ENOENT" && outcome[1] === "renamed" && !there[0] && there[1]);
      assertEquals(
        serial,
        true,
        `rmdir ${outcome[0]}, rename ${outcome[1]}, at /p/c ${there[0]}, at ${target} ${there[1]}`,
      );
    },
  );
}

contract(
  "a rename within one directory that looked before an rmdir's mark does not lose the directory",
  async (store) => {
    // Found by the protocol fuzz (seed 2745, 500 ops): `API DELETE /a` and `API rename /a ->
    // /b` both succeeded, and the directory was gone. The rename had looked at /a before the
    // rmdir marked it, and its one CAS landed between the rmdir's check and its tombstone.
    const gateA = new GateStore(store);
    const { store: watching, read, watch } = watchGets(store);
    const gateB = new GateStore(watching);
    const a = await Vfs.open(gateA);
    const b = await Vfs.open(gateB);
    await a.mkdir("/p/c", { parents: true });
    const key = dirKey((await a.getattr("/p/c")).ino);
    // B's rename has looked (the directory open); its first write is held.
    gateB.arm((call) => call.op === "PutObject");
    const renaming = b.rename("/p/c", "/p/d").then(() => "renamed", (e: FsError) => e.code);
    await gateB.held;
    // A's rmdir marks the directory and checks its name; its tombstone is held.
    let writes = 0;
    gateA.arm((call) => call.op === "PutObject" && call.key === key && ++writes === 2);
    const removing = a.rmdir("/p/c").then(() => "removed", (e: FsError) => e.code);
    await gateA.held;
    watch(key);
    gateB.open();
    await Promise.race([read, renaming]);
    gateA.open();
    const outcome = [await removing, await renaming];
    const at = async (path: string) => await a.getattr(path).then(() => true, () => false);
    const there = [await at("/p/c"), await at("/p/d")];
    const serial =
      (outcome[0] === "removed" && outcome[1] !== "renamed" && !there[0] && !there[1]) ||
      (outcome[0] !== "removed" && outcome[1] === "renamed" && !there[0] && there[1]);
    assertEquals(
      serial,
      true,
      `rmdir ${outcome[0]}, rename ${outcome[1]}, at /p/c ${there[0]}, at /p/d ${there[1]}`,
    );
  },
);
