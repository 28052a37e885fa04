import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { MetaStore } from "../src/format/cas.ts";
import { Directories } from "../src/format/dir.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { dirKey, LOCKS_KEY, ROOT_INO } from "../src/format/keys.ts";
import { checkDir, type DirObject } from "../src/format/meta.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { checkLockTable, type LockTable } from "../src/vfs/locks.ts";
import { assert, assertEquals } from "./_assert.ts";
import { checkConsistency } from "./_model.ts";
import { HookStore, type SeenCall } from "./_hook_store.ts";
Deno.test("an interrupted cross-directory rename cannot resurrect an unlinked target", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/src");
  await fs.mkdir("/dst");
  await fs.writeFile("/src/f", new Uint8Array([1, 2, 3]));
  // A renamer that dies after adding the target, before removing the source:
  const dirs = new Directories(new MetaStore(store));
  const src = (await fs.lookup("/src")).ino, dst = (await fs.lookup("/dst")).ino;
  const root = (await dirs.get(src))!.value;
  const entry = (await dirs.lookup(root, "f"))!;
  const moving = {
    id: "0000000000aa-00000000000000000000",
    dir: dst,
    name: "f",
    replaces: null,
    noReplace: false,
    at: 0,
  };
  await dirs.update(src, ["f"], (d) => d.set("f", { ...entry, moving }));
  await dirs.update(
    dst,
    ["f"],
    (d) => d.set("f", { ...entry, movedFrom: { id: moving.id, dir: src, name: "f" } }),
  );
  await fs.unlink("/dst/f");
  assertEquals((await fs.readdir("/src")).entries.map((e) => e.name), []);
  assertEquals((await fs.readdir("/dst")).entries.map((e) => e.name), []);
});

/**
 * Opens `/p` and `/q` (with a file in `/p`) and a renamer instance that, right before its
 * intent for moving `/p` reaches the bucket (its first write of the root), lets a crossing
 * intent (`/q` into `/p`, with id `otherId`) be written, as by another instance that then
 * died: the renamer has resolved its paths already, so only its check after the intent
 * can meet it.
 */
async function crossedByDeadRenamer(otherId: string) {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/p");
  await fs.mkdir("/q");
  await fs.writeFile("/p/data", new Uint8Array([7]));
  const p = (await fs.lookup("/p")).ino;
  const dirs = new Directories(new MetaStore(store));
  let planted: Promise<unknown> | null = null;
  const renamer = await Vfs.open(
    new FaultyStore(store, {
      plan(call) {
        if (planted || call.op !== "PutObject" || call.key !== dirKey(ROOT_INO)) return null;
        planted = dirs.update(ROOT_INO, ["q"], (d) => {
          const q = d.get("q")!;
          const moving = {
            id: otherId,
            dir: p,
            name: "q",
            replaces: null,
            noReplace: false,
            at: 0,
          };
          d.set("q", { ...q, moving });
        });
        return { kind: "delay", ms: 20 };
      },
    }),
  );
  const renamed = await renamer.rename("/p", "/q/p").then(() => "ok", (e) => e.code);
  assert(planted, "the crossing intent was not planted");
  await planted;
  return { store, fs, renamed };
}

Deno.test("a newer crossing directory rename met after the intent is rolled back", async () => {
  const { store, fs, renamed } = await crossedByDeadRenamer("ffffffffffff-00000000000000000000");
  assertEquals(renamed, "ok");
  assertEquals((await fs.readdir("/")).entries.map((e) => e.name), ["q"]);
  assertEquals(await fs.read("/q/p/data", 0, 10), new Uint8Array([7]));
  assertEquals(await checkConsistency(store), []);
});

Deno.test("an older crossing directory rename met after the intent goes first", async () => {
  const { store, fs, renamed } = await crossedByDeadRenamer("000000000001-00000000000000000000");
  // Ours yields and tries again; the older one is settled on the way: /q is now in /p.
  assertEquals(renamed, "ENOENT");
  assertEquals((await fs.readdir("/")).entries.map((e) => e.name), ["p"]);
  assertEquals(await fs.read("/p/data", 0, 10), new Uint8Array([7]));
  assertEquals((await fs.readdir("/p/q")).entries, []);
  assertEquals(await checkConsistency(store), []);
});

Deno.test("a directory rename rolled back after its target was added points it back", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/x");
  await fs.mkdir("/y");
  await fs.mkdir("/x/d");
  await fs.writeFile("/x/d/f", new Uint8Array([1]));
  const dirs = new Directories(new MetaStore(store));
  const x = (await fs.lookup("/x")).ino, y = (await fs.lookup("/y")).ino;
  const d = (await fs.lookup("/x/d")).ino;
  const entry = (await dirs.lookup((await dirs.get(x))!.value, "d"))!;
  const id = "0000000000aa-00000000000000000000";
  // A renamer added the target and moved the parent pointer; then someone rolled the
  // intent back (its mark cleared), and the renamer died before taking its target back.
  await dirs.update(
    y,
    ["d"],
    (t) => t.set("d", { ...entry, movedFrom: { id, dir: x, name: "d" } }),
  );
  await dirs.updateSelf(d, (obj) => {
    obj.parent = y;
  });
  // Whoever looks the target up finds the rollback, and takes the target back.
  assertEquals(await fs.lookup("/y/d").then(() => "found", (e) => e.code), "ENOENT");
  assertEquals((await fs.readdir("/y")).entries.map((e) => e.name), []);
  assertEquals((await fs.readdir("/x")).entries.map((e) => e.name), ["d"]);
  assertEquals((await dirs.get(d))!.value.parent, x);
  assertEquals(await checkConsistency(store), []);
});

/** `/p`, `/q` and a directory `/p/x` (with a file), and its parts' inos. */
async function movedDirFixture() {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/p");
  await fs.mkdir("/q");
  await fs.mkdir("/p/x");
  await fs.writeFile("/p/x/keep", new Uint8Array([5]));
  const ino = async (path: string) => (await fs.lookup(path)).ino;
  const dirs = new Directories(new MetaStore(store));
  return { store, fs, dirs, p: await ino("/p"), q: await ino("/q"), x: await ino("/p/x") };
}

/** Adds rename `id` to the namespace epoch's pending set, as a renamer does first. */
async function announce(store: ObjectStore, id: string): Promise<void> {
  await new MetaStore(store).update<LockTable, void>(LOCKS_KEY, checkLockTable, (current) => {
    const table: LockTable = current?.value ?? { v: 1, locks: [] };
    const pending = [...(table.pending ?? []), id];
    return { write: { ...table, ns: (table.ns ?? 0) + 1, pending }, result: undefined };
  });
}

const getOf = (ino: string) => (call: SeenCall) =>
  call.op === "GetObject" && call.key === dirKey(ino);

Deno.test("a helper settling a stale intent does not add its target again", async () => {
  const { store, fs, dirs, p, q, x } = await movedDirFixture();
  // A renamer of /p/x to /q/x that died after writing its intent.
  const entry = (await dirs.lookup((await dirs.get(p))!.value, "x"))!;
  const id = "0000000000aa-00000000000000000000";
  const moving = { id, dir: q, name: "x", replaces: null, noReplace: false, at: 0 };
  await announce(store, id); // as every directory rename does first (docs/format.md)
  await dirs.update(p, ["x"], (d) => d.set("x", { ...entry, moving }));
  // A helper meets the intent; before it looks at the target, another instance finishes
  // that rename (and clears the target's mark); before the helper's target change, the
  // directory moves on (to the root). The helper's copy of the intent is stale by then.
  const hook = new HookStore(store);
  const helper = await Vfs.open(hook);
  hook.before(getOf(q), async () => {
    await fs.lookup("/p/x").catch(() => {}); // settles the intent: gone from here...
    await fs.lookup("/q/x"); // ...and there for good
    // The helper's next request on /q (its target change reads afresh, or is a CAS built
    // on the copy it has): the rename lands right before it.
    hook.before((call) => call.key === dirKey(q), () => fs.rename("/q/x", "/x"));
  });
  await helper.lookup("/p/x").catch(() => {});
  assertEquals(hook.fired, 2, "the interleaving did not happen");
  assertEquals((await fs.readdir("/q")).entries.map((e) => e.name), [], "named again in /q");
  assertEquals((await dirs.get(x))!.value.parent, ROOT_INO, "parent pointer");
  assertEquals(await checkConsistency(store), []);
});

Deno.test("a helper clearing a stale target mark does not point the directory there", async () => {
  const { store, fs, dirs, p, x } = await movedDirFixture();
  await fs.rename("/p/x", "/q/x"); // the target keeps its `movedFrom` mark until looked up
  // A helper reads the marked target; before it settles the source side, another instance
  // clears the mark and moves the directory on (to the root).
  const hook = new HookStore(store);
  const helper = await Vfs.open(hook);
  hook.before(getOf(p), async () => {
    await fs.lookup("/q/x");
    await fs.rename("/q/x", "/x");
  });
  await helper.lookup("/q/x").catch(() => {});
  assertEquals(hook.fired, 1, "the interleaving did not happen");
  assertEquals((await fs.readdir("/q")).entries.map((e) => e.name), []);
  assertEquals((await dirs.get(x))!.value.parent, ROOT_INO, "parent pointer");
  assertEquals(await checkConsistency(store), []);
});

Deno.test("a rename rolled back by someone else after it replaced its target puts the target back", async () => {
  const { store, fs, dirs, p, q, x } = await movedDirFixture();
  await fs.mkdir("/q/x"); // an empty directory, which the rename replaces
  const replaced = (await fs.lookup("/q/x")).ino;
  const hook = new HookStore(store);
  const renamer = await Vfs.open(hook);
  const putOf = (ino: string) => (call: SeenCall) =>
    call.op === "PutObject" && call.key === dirKey(ino);
  let atRetry: string | null = null;
  // Once the renamer has replaced the target, and before it removes its source entry,
  // someone rolls the intent back (as a crossing rename's mover that yields would).
  hook.before(putOf(q), () => {
    hook.before(putOf(p), async () => {
      await dirs.update(p, ["x"], (d) => {
        const { moving: _, ...restored } = d.get("x")!;
        d.set("x", restored);
      });
      // The renamer's next try starts from the root: what does /q/x hold then?
      hook.before(getOf(ROOT_INO), async () => {
        atRetry = await fs.lookup("/q/x").then((s) => s.ino, (e) => e.code);
      });
    });
    return Promise.resolve();
  });
  await renamer.rename("/p/x", "/q/x");
  assertEquals(hook.fired, 3, "the interleaving did not happen");
  assertEquals(atRetry, replaced, "the replaced directory, while the rename was rolled back");
  assertEquals((await fs.lookup("/q/x")).ino, x);
  assertEquals(await checkConsistency(store), []);
});

Deno.test("a rename over an empty directory whose write's outcome is unknown leaves it closed", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/p");
  await fs.mkdir("/p/t"); // empty: the rename replaces it
  await fs.writeFile("/p/f", new Uint8Array([1]));
  await fs.mkdir("/p/d");
  const p = (await fs.lookup("/p")).ino;
  const replaced = (await fs.lookup("/p/t")).ino;
  // The rename's write that replaces /p/t (the second within /p: a directory's rename goes
  // through its intent, then the target) is applied, but its answer is lost, and more
  // writes to /p than its history keeps come before the renamer can look again: the
  // outcome is unknown, so the rename may have replaced /p/t.
  let writes = 0;
  const renamer = await Vfs.open(
    new FaultyStore(store, {
      plan: (call) => {
        if (call.op !== "PutObject" || call.key !== dirKey(p) || ++writes !== 2) return null;
        return {
          kind: "fail-after",
          between: async () => {
            for (let i = 0; i < 40; i++) await fs.setxattr("/p", "user.n", new Uint8Array([i]));
          },
        };
      },
    }),
  );
  const failed = await renamer.rename("/p/d", "/p/t").then(() => "ok", (e) => e.code);
  assertEquals(failed, "EIO");
  assertEquals((await fs.lookup("/p/t")).ino === replaced, false, "the rename did replace it");
  // The replaced directory is unlinked: it must stay closed to new entries (a creator that
  // resolved it before would put a file where no name reaches it). The lookup above settled
  // the rename, and with it released what the rename replaced: the directory's object is
  // gone (before, only the renamer released it, and this one had failed: an orphan).
  const dirs = new Directories(new MetaStore(store));
  const left = await dirs.get(replaced);
  assert(left === null || left.value.removing !== undefined, "reopened");
  assertEquals(left, null, "the replaced directory was not released");
});

Deno.test("a hard link renamed onto the source name of an earlier rename does not undo that rename", async () => {
  const store = new MemoryStore();
  const fs = await Vfs.open(store);
  await fs.mkdir("/d0");
  await fs.mkdir("/d1");
  await fs.writeFile("/d0/a", new TextEncoder().encode("acknowledged"));
  await fs.link("/d0/a", "/d1/b"); // one inode, two names
  await fs.rename("/d1/b", "/d0/c"); // its target keeps a `movedFrom` mark until looked up
  // The inode's other name moves to where the first rename came from, before anyone has
  // looked at that rename's target.
  await fs.rename("/d0/a", "/d1/b", { noReplace: true });
  const fresh = await Vfs.open(store);
  assertEquals((await fresh.getattr("/d0/c")).nlink, 2);
  assertEquals((await fresh.getattr("/d1/b")).nlink, 2);
  assertEquals(new TextDecoder().decode(await fresh.read("/d0/c", 0, 100)), "acknowledged");
  assertEquals(await checkConsistency(store), []);
});

Deno.test("a late target of a settled directory rename does not undo the rename that moved it on", async () => {
  // Seed 474 of tests/vfs_rename_sched_test.ts, reduced. A renamer's target write (/p/x to
  // /q/x) loses its CAS; meanwhile others settle that rename and move the directory on to
  // /r/x (acknowledged; its target keeps its `movedFrom` mark until looked up). The
  // renamer's retry then adds its target late, a second name of the directory at /q/x,
  // where the second rename came from. Before the renamer takes that late target back, a
  // reader looks up /r/x: the inode at the second rename's source name must not be read as
  // that rename's rollback, or both names go and the directory is lost.
  const { store, fs, dirs, q, x } = await movedDirFixture();
  await fs.mkdir("/r");
  const r = (await fs.lookup("/r")).ino;
  const hook = new HookStore(store);
  const renamer = await Vfs.open(hook);
  const putOf = (ino: string) => (call: SeenCall) =>
    call.op === "PutObject" && call.key === dirKey(ino);
  hook.before(putOf(q), async () => {
    // The renamer's first target write (its CAS now stale): others settle the rename...
    await fs.lookup("/p/x").catch(() => {});
    await fs.lookup("/q/x");
    // ...and move the directory on.
    await fs.rename("/q/x", "/r/x");
    // The renamer's retry adds the late target; its next write to /q takes it back.
    hook.before(putOf(q), () => {
      hook.before(putOf(q), async () => {
        const reader = await Vfs.open(store);
        await reader.lookup("/r/x").catch(() => {});
      });
      return Promise.resolve();
    });
  });
  await renamer.rename("/p/x", "/q/x").catch(() => {});
  // Since session 16 the renamer's retry, built on a version of /q it read after the
  // others' changes, looks at its source first, finds the intent gone and writes no target:
  // the two later hooks (on the late target and its taking back) never run.
  assertEquals(hook.fired, 1, "the renamer wrote to /q after its rename was settled");
  const fresh = await Vfs.open(store);
  assertEquals((await fresh.readdir("/q")).entries.map((e) => e.name), [], "named in /q");
  assertEquals(await fresh.read("/r/x/keep", 0, 10), new Uint8Array([5]), "lost from /r");
  assertEquals((await dirs.get(x))!.value.parent, r, "parent pointer");
  assertEquals(await checkConsistency(store), []);
});

Deno.test("a directory's parent pointer left stale by a late settler heals when a rename next walks or moves it", async () => {
  // Seed 87 of tests/vfs_rename_sched_test.ts (SCHED_LANES=3 SCHED_OPS=20), reduced. A
  // settler of /p/x -> /q/x (here the renamer) has read x's object to move its parent
  // pointer (p -> q, only if it is p); before its CAS lands, others settle that rename and
  // move x on, to /r/x, and back to /p/x (pointer q -> r -> p). The CAS fails, and its
  // retry found the pointer at p again: it pointed x at q, while /p named x. Renames'
  // ancestry walks through x then never confirmed a step and gave up (EAGAIN), and renames
  // of x moved the pointer only from where they moved x from: stale until fsck --repair.
  // A settler now writes the pointer only while the intent is live (seed 1608), so that
  // write no longer lands; the pointer is made stale by hand below, as another late write
  // (a rollback's) still could.
  const { store, fs, dirs, p, q, x } = await movedDirFixture();
  await fs.mkdir("/r");
  await fs.mkdir("/s");
  await fs.mkdir("/t");
  const t = (await fs.lookup("/t")).ino;
  const hook = new HookStore(store);
  const renamer = await Vfs.open(hook);
  hook.before((call) => call.op === "PutObject" && call.key === dirKey(x), async () => {
    await fs.lookup("/p/x").catch(() => {}); // settles the rename: x is in /q
    await fs.rename("/q/x", "/r/x");
    await fs.rename("/r/x", "/p/x");
  });
  await renamer.rename("/p/x", "/q/x");
  assertEquals(hook.fired, 1, "the interleaving did not happen");
  const fresh = await Vfs.open(store);
  assertEquals(await fresh.read("/p/x/keep", 0, 10), new Uint8Array([5]));
  assertEquals((await dirs.get(x))!.value.parent, p, "left stale by the late settler");
  const makeStale = () =>
    dirs.meta.update<DirObject, void>(dirKey(x), checkDir, (dir) => ({
      write: { ...dir!.value, parent: q },
      result: undefined,
    }));
  await makeStale();
  // A directory moved beneath x: the walk up from x finds the pointer disagreeing with the
  // entry that names x, points it back and goes on.
  await fresh.rename("/s", "/p/x/s");
  assertEquals((await dirs.get(x))!.value.parent, p, "healed by the walk");
  assertEquals(await checkConsistency(store), []);
  // The same stale pointer again, and then x itself moved: its rename points it at where
  // x is now although the pointer was not where x came from.
  await makeStale();
  await fresh.rename("/p/x", "/t/x");
  await fresh.lookup("/t/x");
  assertEquals((await dirs.get(x))!.value.parent, t, "healed by the move");
  assertEquals((await fresh.readdir("/t/x")).entries.map((e) => e.name), ["keep", "s"]);
  assertEquals(await checkConsistency(store), []);
});

Deno.test("a stale clean-up of a target's mark does not make a late target of the same rename a second name", async () => {
  // Seed 7 of tests/vfs_rename_sched_test.ts with a small metadata cache, reduced. A helper
  // meets the target /q/x of a settled rename and decides to clear its `movedFrom` mark;
  // before its CAS lands, the directory moves on to /r/x, and the renamer (whose first
  // target write had lost its CAS) adds its target again, late, with the same intent id.
  // The helper's retry must not take that late target for the one it judged: cleared, it
  // was a second name of x (in /q and /r: a cycle once x held /q), which the renamer could
  // no longer take back.
  const { store, fs, dirs, x } = await movedDirFixture();
  await fs.mkdir("/r");
  const r = (await fs.lookup("/r")).ino;
  const q = (await fs.lookup("/q")).ino;
  const putOf = (ino: string) => (call: SeenCall) =>
    call.op === "PutObject" && call.key === dirKey(ino);
  const renamerStore = new HookStore(store);
  const renamer = await Vfs.open(renamerStore);
  const helperStore = new HookStore(store);
  const helper = await Vfs.open(helperStore);
  const reached = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  let helped: Promise<unknown> = Promise.resolve();
  renamerStore.before(putOf(q), async () => {
    // The renamer's first target write (its CAS now stale): another instance settles the
    // rename forward; the target keeps its mark.
    await fs.lookup("/p/x").catch(() => {});
    // The helper looks the target up and is about to clear the mark...
    helperStore.before(putOf(q), () => {
      reached.resolve();
      return gate.promise;
    });
    helped = helper.lookup("/q/x").catch(() => {});
    await reached.promise;
    // ...when the directory moves on.
    await fs.rename("/q/x", "/r/x");
    // The renamer's retry adds its late target; right after, the helper's CAS goes.
    renamerStore.after(putOf(q), async () => {
      gate.resolve();
      await helped;
    });
  });
  await renamer.rename("/p/x", "/q/x").catch(() => {});
  // Since session 16 the renamer's retry looks at its source first, finds the intent gone
  // and adds no late target (the second hook, on that write, never runs); the helper's CAS
  // goes once the test ends the wait below.
  assertEquals(renamerStore.fired, 1, "the renamer wrote to /q after its rename was settled");
  gate.resolve();
  await helped;
  assertEquals(helperStore.fired, 1, "the helper did not clear a mark");
  const fresh = await Vfs.open(store);
  assertEquals((await fresh.readdir("/q")).entries.map((e) => e.name), [], "named in /q");
  assertEquals(await fresh.read("/r/x/keep", 0, 10), new Uint8Array([5]), "lost from /r");
  assertEquals((await dirs.get(x))!.value.parent, r, "parent pointer");
  assertEquals(await checkConsistency(store), []);
});

Deno.test("a late target of a directory rename does not take the directory from the name it came back to", async () => {
  // Seed 1608 of tests/vfs_rename_sched_test.ts with a small metadata cache, reduced. A
  // renamer's target write (/p/x to /q/x) loses its CAS; meanwhile others settle that rename
  // and move the directory on, to /r/x and back to /p/x (acknowledged; its target keeps its
  // `movedFrom` mark until looked up). The renamer's retry adds its target late, and its
  // pointer write, guarded only by the pointer's value, found x pointing at /p again and
  // pointed it at /q. Its own check for a late target then followed that pointer and found
  // nothing amiss; a reader of /p/x, following it too, took /p/x for the late one and
  // dropped it: x was named by /q alone (in the seed, /q was inside x: a cycle).
  const { store, fs, dirs, p, q, x } = await movedDirFixture();
  await fs.mkdir("/r");
  const hook = new HookStore(store);
  const renamer = await Vfs.open(hook);
  hook.before((call) => call.op === "PutObject" && call.key === dirKey(q), async () => {
    // The renamer's first target write (its CAS now stale): others settle the rename...
    await fs.lookup("/p/x").catch(() => {});
    await fs.lookup("/q/x");
    // ...and move the directory on, and back where the rename started.
    await fs.rename("/q/x", "/r/x");
    await fs.rename("/r/x", "/p/x");
  });
  // It happened (settled by others): tried again, it would move x to /q a second time.
  const outcome = await renamer.rename("/p/x", "/q/x").then(() => "ok", (e) => `${e}`);
  assertEquals(hook.fired, 1, "the interleaving did not happen");
  assertEquals(outcome, "ok");
  const reader = await Vfs.open(store);
  assertEquals(await reader.read("/p/x/keep", 0, 10), new Uint8Array([5]), "lost from /p");
  assertEquals((await reader.readdir("/q")).entries.map((e) => e.name), [], "named in /q");
  assertEquals((await dirs.get(x))!.value.parent, p, "parent pointer");
  assertEquals(await checkConsistency(store), []);
});
