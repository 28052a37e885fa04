/**
 * A rename, a copy or a swap aside that replaces a hard-linked file counts its link off
 * once, whoever finishes it and wherever its instance dies (docs/format.md, "A release cut
 * short"): the replaced link goes under a release intent on its inode, and the CAS that
 * removes the name (a rename's source, or the one CAS of a rename or copy within one
 * object) leaves the proof. Each test kills the instance at every write of the operation
 * in turn, then checks with another instance that counts are right, fsck finds no error
 * without a repair, removing the last name frees the inode and nothing is left after GC.
 */

import { assert, assertEquals } from "./_assert.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { FaultyStore } from "../src/store/fault.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { fsck } from "../src/format/fsck.ts";
import { gc } from "../src/format/gc.ts";
import { dirKey, inodeKey } from "../src/format/keys.ts";
import { readAll } from "../src/store/_util.ts";
import { HOUR } from "./_fsck.ts";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

/** The names a test's file may have, and its inode. */
interface Linked {
  readonly ino: string;
  readonly names: readonly string[];
}

/** A file with names /d1/a, /d2/b and /d2/c (nlink 3), and plain files /d3/src, /d2/src. */
async function linkedFile(store: ObjectStore): Promise<Linked> {
  const fs = await Vfs.open(store);
  await fs.mkdir("/d1");
  await fs.mkdir("/d2");
  await fs.mkdir("/d3");
  await fs.writeFile("/d1/a", bytes(3000, 1));
  await fs.link("/d1/a", "/d2/b");
  await fs.link("/d1/a", "/d2/c");
  await fs.writeFile("/d3/src", bytes(2000, 2));
  await fs.writeFile("/d2/src", bytes(2000, 3));
  const ino = (await fs.lookup("/d1/a")).ino;
  return { ino, names: ["/d1/a", "/d2/b", "/d2/c"] };
}

/**
 * A view of `store` through an instance that dies at its `k`-th write (PUT or DELETE),
 * which lands (`applied`, its answer lost) or not: nothing it sends afterwards arrives.
 */
function dyingAtWrite(store: ObjectStore, k: number, applied: boolean) {
  let dead = false;
  let writes = 0;
  const dying = new FaultyStore(store, {
    plan: (call) => {
      if (dead) return { kind: "fail-before" };
      if (call.op !== "PutObject" && call.op !== "DeleteObject") return null;
      if (++writes !== k) return null;
      const die = () => Promise.resolve(void (dead = true));
      return applied
        ? { kind: "fail-after", between: die }
        : { kind: "fail-before", ambiguous: true, between: die };
    },
  });
  return { dying, dead: () => dead };
}

/**
 * After an operation cut short: another instance looks at every name (settling renames in
 * flight), fsck finds no error without a repair (a decrement owed is a warning), each
 * name's removal leaves the count at the names left, the last frees the inode, and a repair of what is only left over
 * (proofs whose clean-up was cut short) and two GC runs leave nothing.
 */
async function countsRight(
  store: ObjectStore,
  { ino, names }: Linked,
  label: string,
  { linking = false }: { linking?: boolean } = {},
) {
  const fs = await Vfs.open(store);
  for (const path of [...names, "/d3/src", "/d2/src"]) await fs.lookupOrNull(path);
  const report = await fsck(store, { now: Date.now() + HOUR });
  const errors = report.problems.filter((p) => p.severity === "error");
  assertEquals(errors.map((p) => [p.kind, p.detail]), [], `${label}: no error`);
  const left: string[] = [];
  for (const path of names) if ((await fs.lookupOrNull(path))?.ino === ino) left.push(path);
  // A stat settles a link() cut short after its name went in: never a count too low.
  if (linking && left[0]) {
    assertEquals((await fs.getattr(left[0])).nlink, left.length, `${label}: stat ${left}`);
  }
  // Each removal settles what a release cut short owes (a stat alone may show it owed).
  while (left.length > 0) {
    await fs.unlink(left.shift()!);
    if (left[0]) assertEquals((await fs.getattr(left[0])).nlink, left.length, `${label}: ${left}`);
  }
  // Only a link() cut short may leave the object, GC's (below): before its name went in,
  // its intent keeps it (at 0, no name); before its promotion's entry swap, it was never
  // used (nlink 1: "unused-inode", as before).
  const kept = await store.get(inodeKey(ino));
  if (kept?.status === "ok") {
    const inode = JSON.parse(new TextDecoder().decode(await readAll(kept.body)));
    const intent = inode.nlink === 0 && inode.links?.length === 1;
    const unused = inode.nlink === 1;
    assert(linking && (intent || unused), `${label}: inode left`);
  }
  await fsck(store, { now: Date.now() + HOUR, repair: true });
  await gc(store, { graceMs: 0 });
  await gc(store, { graceMs: 0 });
  const after = await fsck(store, { now: Date.now() + HOUR });
  assertEquals(after.problems.map((p) => [p.kind, p.detail]), [], `${label}: nothing left`);
  assertEquals(await store.head(inodeKey(ino)), null, `${label}: the inode went`);
}

/**
 * Runs `op` on an instance that dies at each of its writes in turn, then checks. `file`:
 * the file whose count is checked (the hard-linked one, by default); `extra`: names the
 * operation may give it.
 */
async function atEveryWrite(
  op: (fs: Vfs) => Promise<unknown>,
  { extra = [], file = "/d1/a", linking = false }: {
    extra?: readonly string[];
    file?: string;
    linking?: boolean;
  } = {},
): Promise<number> {
  let steps = 0;
  for (const applied of [true, false]) {
    for (let k = 1;; k++) {
      const store = new MemoryStore();
      const linked = await linkedFile(store);
      const ino = file === "/d1/a" ? linked.ino : (await (await Vfs.open(store)).lookup(file)).ino;
      const names = file === "/d1/a" ? linked.names : [file];
      const { dying, dead } = dyingAtWrite(store, k, applied);
      await op(await Vfs.open(dying)).catch(() => {});
      if (!dead()) break; // finished before its k-th write
      steps = Math.max(steps, k);
      const label = `write ${k}, ${applied ? "applied" : "not applied"}`;
      await countsRight(store, { ino, names: [...names, ...extra] }, label, { linking });
    }
  }
  return steps;
}

Deno.test("a rename across directories over a hard link cut short at any write counts the link off once", async () => {
  const steps = await atEveryWrite((fs) => fs.rename("/d3/src", "/d2/b"));
  assert(steps >= 4, `the rename writes ${steps} times`);
});

Deno.test("a rename within one directory over a hard link cut short at any write counts the link off once", async () => {
  const steps = await atEveryWrite((fs) => fs.rename("/d2/src", "/d2/b"));
  assert(steps >= 1, `the rename writes ${steps} times`);
});

Deno.test("a copy over a hard link cut short at any write counts the link off once", async () => {
  const steps = await atEveryWrite((fs) => fs.copy("/d3/src", "/d2/b"));
  assert(steps >= 1, `the copy writes ${steps} times`);
});

Deno.test("a swap aside over a hard link, then the aside's removal, cut short at any write counts the link off once", async () => {
  // WebDAV COPY and MOVE over a resource: the swap keeps the replaced link as the aside
  // entry (it counts nothing off), whose removal is an unlink.
  const steps = await atEveryWrite(async (fs) => {
    await fs.renameAside("/d2/src", "/d2/b", "aside");
    await fs.unlink("/d2/aside");
  }, { extra: ["/d2/aside"] });
  assert(steps >= 2, `the swap and removal write ${steps} times`);
});

for (
  const [what, op] of [
    ["a rename across directories", (fs: Vfs) => fs.rename("/d3/src", "/d2/b")],
    ["a rename within one directory", (fs: Vfs) => fs.rename("/d2/src", "/d2/b")],
    ["a copy", (fs: Vfs) => fs.copy("/d3/src", "/d2/b")],
  ] as const
) {
  Deno.test(`${what} over a hard link whose count step's answer was lost lowers the count once`, async () => {
    // Each write of the inode in turn is applied and its answer lost (the instance lives).
    for (let k = 1;; k++) {
      const round = new MemoryStore();
      const linked = await linkedFile(round);
      let writes = 0;
      const lossy = new FaultyStore(round, {
        plan: (call) =>
          call.op === "PutObject" && call.key === inodeKey(linked.ino) && ++writes === k
            ? { kind: "fail-after" }
            : null,
      });
      await op(await Vfs.open(lossy));
      if (writes < k) break;
      const fs = await Vfs.open(round);
      assertEquals((await fs.getattr("/d1/a")).nlink, 2, `inode write ${k}: one link counted off`);
      await countsRight(round, linked, `inode write ${k}`);
    }
  });
}

Deno.test("a link() of a hard-linked file cut short at any write leaves its count right", async () => {
  const steps = await atEveryWrite((fs) => fs.link("/d1/a", "/d3/new"), {
    extra: ["/d3/new"],
    linking: true,
  });
  assert(steps >= 2, `the link writes ${steps} times`);
});

Deno.test("a link() of a plain file cut short at any write leaves its count right", async () => {
  const steps = await atEveryWrite((fs) => fs.link("/d3/src", "/d1/new"), {
    file: "/d3/src",
    extra: ["/d1/new"],
    linking: true,
  });
  assert(steps >= 3, `the link writes ${steps} times`);
});

for (
  const [what, from] of [["a hard-linked file", "/d1/a"], ["a plain file", "/d3/src"]] as const
) {
  Deno.test(`a link() of ${what} whose inode writes' answers were lost raises the count once`, async () => {
    for (let k = 1;; k++) {
      const store = new MemoryStore();
      await linkedFile(store);
      const ino = (await (await Vfs.open(store)).lookup(from)).ino;
      let writes = 0;
      const lossy = new FaultyStore(store, {
        plan: (call) =>
          call.op === "PutObject" && call.key === inodeKey(ino) && ++writes === k
            ? { kind: "fail-after" }
            : null,
      });
      const before = (await (await Vfs.open(store)).getattr(from)).nlink;
      await (await Vfs.open(lossy)).link(from, "/d2/new");
      if (writes < k) break;
      const fs = await Vfs.open(store);
      assertEquals((await fs.getattr("/d2/new")).nlink, before + 1, `inode write ${k}`);
      const names = from === "/d1/a" ? ["/d1/a", "/d2/b", "/d2/c"] : [from];
      await countsRight(store, { ino, names: [...names, "/d2/new"] }, `inode write ${k}`);
    }
  });
}

Deno.test("a rename intent from before session 20 over a hard link (no release intent) is counted off as before", async () => {
  const store = new MemoryStore();
  const { ino } = await linkedFile(store);
  const d3 = dirKey((await (await Vfs.open(store)).lookup("/d3")).ino);
  // The renamer dies right after its rename intent (its second write: the first is the
  // release intent on the replaced inode).
  const { dying, dead } = dyingAtWrite(store, 2, true);
  await (await Vfs.open(dying)).rename("/d3/src", "/d2/b").catch(() => {});
  assert(dead(), "the renamer died after its intent");
  // As a session 19 renamer wrote it: no `release` on the intent, no intent on the inode.
  // deno-lint-ignore no-explicit-any
  const edit = async (key: string, change: (o: Record<string, any>) => void) => {
    const got = await store.get(key);
    assert(got?.status === "ok", key);
    const object = JSON.parse(new TextDecoder().decode(await readAll(got.body)));
    change(object);
    await store.put(key, new TextEncoder().encode(JSON.stringify(object)));
  };
  await edit(d3, (dir) => {
    assertEquals(dir.entries.src.moving.release, true);
    delete dir.entries.src.moving.release;
  });
  await edit(inodeKey(ino), (inode) => {
    assertEquals(inode.releases.length, 1);
    delete inode.releases;
  });
  const fs = await Vfs.open(store);
  assertEquals(await fs.lookupOrNull("/d3/src"), null, "settled forward");
  assertEquals((await fs.getattr("/d1/a")).nlink, 2, "counted off by whoever removed the source");
  await countsRight(store, { ino, names: ["/d1/a", "/d2/c"] }, "old intent");
});
