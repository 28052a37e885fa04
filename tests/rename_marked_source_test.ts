// A rename's source directory under a removal mark that an rmdir puts on a sharded directory
// before it finds a shard holding names (and takes it off again): a settler that meets the
// mark while it settles the rename from its target must not take the source for gone. It
// did (DirectoryGone), cleared the target's mark, and whoever settled the source's intent
// next found the target unmarked, applied the rename without the proof of the hard link it
// replaced, and that link was never counted off (found by tests/age_shards_sched_test.ts,
// seed 380225 with faults).

import { assert, assertEquals } from "./_assert.ts";
import { MetaStore } from "../src/format/cas.ts";
import { dirKey } from "../src/format/keys.ts";
import { checkDir, type DirObject } from "../src/format/meta.ts";
import { fsck } from "../src/format/fsck.ts";
import { gc } from "../src/format/gc.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { HookStore, type SeenCall } from "./_hook_store.ts";

const text = (s: string) => new TextEncoder().encode(s);
const limits = { dirLimits: { maxEntries: 4 } };

/**
 * A store, the folders /e (sharded: eight files past a limit of four a shard) and /d, and
 * whatever `more` makes there; with the inos of both folders.
 */
async function folders(more: (fs: Vfs) => Promise<unknown> = async () => {}) {
  const inner = new MemoryStore();
  const setup = await Vfs.open(inner, limits);
  await setup.mkdir("/e");
  await setup.mkdir("/d");
  for (let i = 0; i < 8; i++) await setup.writeFile(`/e/e${i}`, text(`e${i}`));
  await more(setup);
  const eIno = (await setup.getattr("/e")).ino;
  const dIno = (await setup.getattr("/d")).ino;
  return { inner, eIno, dIno };
}

/** A renamer's instance, another one, and the hooks the renamer's calls run into. */
async function instances(inner: MemoryStore) {
  const hooks = new HookStore(inner);
  const renamer = await Vfs.open(hooks, limits);
  const other = await Vfs.open(inner, limits);
  return { hooks, renamer, other, meta: new MetaStore(inner) };
}

/** A store on `inner` that fails every call after the first PUT of `key` (a crash then). */
function cutAfterPut(inner: MemoryStore, key: string) {
  const state = { cut: false };
  const store = new FaultyStore(inner, {
    plan: (call) => {
      if (state.cut) return { kind: "fail-before" };
      if (call.op === "PutObject" && call.key === key) state.cut = true;
      return null;
    },
  });
  return { store, state };
}

/** fsck's errors, with no grace for anything left in flight. */
async function errors(inner: MemoryStore) {
  return (await fsck(inner, { graceMs: 0 })).problems.filter((p) => p.severity === "error");
}

/** Puts (`mark`) or takes off (null) a removal mark on directory `ino`'s own object. */
async function setMark(meta: MetaStore, ino: string, mark: string | null): Promise<void> {
  await meta.update<DirObject, void>(dirKey(ino), checkDir, (dir) => {
    if (mark === null) delete dir!.value.removing;
    else dir!.value.removing = mark;
    return { write: dir!.value, result: undefined };
  });
}

Deno.test("a rename settled from its target while an rmdir's mark is on its sharded source directory keeps the replaced link counted", async () => {
  const { inner, eIno, dIno } = await folders(async (fs) => {
    await fs.writeFile("/d/k", text("k"));
    await fs.link("/d/k", "/d/n6");
  });
  const { hooks, renamer, other, meta } = await instances(inner);
  // Right after the renamer's target write (the PUT of /d's object, which is unsharded),
  // before it removes its source: an rmdir of /e marks it (and will take the mark off, /e
  // holding names); meanwhile another instance meets the target and settles from there;
  // then, the mark gone, it meets the source's intent and settles it too.
  hooks.after((call) => call.op === "PutObject" && call.key === dirKey(dIno), async () => {
    await setMark(meta, eIno, "rmdir-1");
    await other.getattr("/d/n6").catch(() => null);
    await setMark(meta, eIno, null);
    await other.readdir("/e");
    await other.getattr("/e/e4").catch(() => null);
  });
  await renamer.rename("/e/e4", "/d/n6");
  assert(hooks.fired === 1, "the hook ran");
  const fresh = await Vfs.open(inner, limits);
  assertEquals(new TextDecoder().decode(await fresh.read("/d/n6", 0, 10)), "e4");
  assertEquals((await fresh.getattr("/d/k")).nlink, 1);
  const report = await fsck(inner, { graceMs: 0 });
  assertEquals(report.problems.filter((p) => p.severity !== "info"), []);
});

Deno.test("a rename's target unlinked while an rmdir's mark is on its sharded source directory does not bring the source back over freed data", async () => {
  const big = new Uint8Array(100_000).fill(7);
  const { inner, eIno, dIno } = await folders((fs) => fs.writeFile("/e/big", big));
  const { hooks, renamer, other, meta } = await instances(inner);
  // After the renamer's target write, before it removes its source: another instance meets
  // the target (/e under an rmdir's mark meanwhile) and then unlinks it, as the rename has
  // happened for every reader from its target write on; then it meets the source's intent.
  hooks.after((call) => call.op === "PutObject" && call.key === dirKey(dIno), async () => {
    await setMark(meta, eIno, "rmdir-1");
    await other.getattr("/d/moved").catch(() => null);
    await setMark(meta, eIno, null);
    await other.unlink("/d/moved");
    await other.getattr("/e/big").catch(() => null);
  });
  await renamer.rename("/e/big", "/d/moved").catch(() => null);
  assert(hooks.fired === 1, "the hook ran");
  const fresh = await Vfs.open(inner, limits);
  const names = [
    ...(await fresh.readdir("/e")).entries.map((e) => `/e/${e.name}`),
    ...(await fresh.readdir("/d")).entries.map((e) => `/d/${e.name}`),
  ];
  const left = names.filter((n) => n.endsWith("big") || n.endsWith("moved"));
  for (let i = 0; i < 2; i++) await gc(inner, { graceMs: 0 });
  // A name left would have to read as written (before: its data collected, as unlinked).
  for (const name of left) {
    const read = await Vfs.open(inner).then((fs) => fs.read(name, 0, big.length));
    assertEquals(read.filter((b) => b === 7).length, big.length, `${name} reads as written`);
  }
  // The file was unlinked (at its new name): it has no name left, whatever the renamer saw.
  assertEquals(left, []);
  assertEquals(await errors(inner), []);
});

Deno.test("a rename's target is settled past a dead rmdir's mark on its source folder once that mark is stale", async () => {
  const { inner, eIno, dIno } = await folders();
  // The renamer is cut off right after its target write; an rmdir that marked /e died.
  const faulty = cutAfterPut(inner, dirKey(dIno));
  const renamer = await Vfs.open(faulty.store, limits);
  await renamer.rename("/e/e4", "/d/moved").catch(() => null);
  assert(faulty.state.cut, "the renamer was cut off after its target write");
  await setMark(new MetaStore(inner), eIno, "rmdir-dead");
  // An instance that takes a mark it meets for dead at once (its lease 0).
  const other = await Vfs.open(inner, { ...limits, removingLeaseMs: 0 });
  assertEquals(new TextDecoder().decode(await other.read("/d/moved", 0, 10)), "e4");
  assertEquals(
    (await other.readdir("/e")).entries.map((e) => e.name).filter((n) => n === "e4"),
    [],
  );
  assertEquals(await errors(inner), []);
});

Deno.test("a rename its settler meets while an rmdir's mark is on the target's sharded folder is not taken back under its renamer", async () => {
  const { inner, eIno, dIno } = await folders(async (fs) => {
    await fs.writeFile("/k", text("k"));
    await fs.link("/k", "/e/t");
    await fs.writeFile("/d/src", text("src"));
  });
  const { hooks, renamer, other, meta } = await instances(inner);
  // After the renamer's intent (the PUT of /d's object), before its target write: another
  // instance meets the intent while an rmdir's mark is on /e; then, the mark gone, it
  // renames the source on.
  hooks.after((call) => call.op === "PutObject" && call.key === dirKey(dIno), async () => {
    await setMark(meta, eIno, "rmdir-1");
    await other.getattr("/d/src").catch(() => null);
    await setMark(meta, eIno, null);
    await other.rename("/d/src", "/d/src2").catch(() => null);
  });
  await renamer.rename("/d/src", "/e/t").catch(() => null);
  assert(hooks.fired === 1, "the hook ran");
  const fresh = await Vfs.open(inner, limits);
  const names: string[] = [];
  for (const dir of ["/d", "/e"]) {
    for (const e of (await fresh.readdir(dir)).entries) {
      if (new TextDecoder().decode(await fresh.read(`${dir}/${e.name}`, 0, 10)) === "src") {
        names.push(`${dir}/${e.name}`);
      }
    }
  }
  assertEquals(names.length, 1, `one name for the file: ${names}`);
  const k = await fresh.getattr("/k");
  const t = await fresh.getattr("/e/t");
  assertEquals(k.nlink, t.ino === k.ino ? 2 : 1, "the link /e/t counted as it is");
  assertEquals(await errors(inner), []);
});

Deno.test("a rename's intent is settled past a dead rmdir's mark on its target's folder once that mark is stale", async () => {
  const { inner, eIno, dIno } = await folders((fs) => fs.writeFile("/d/src", text("src")));
  // The renamer is cut off right after its intent; an rmdir that marked /e died.
  const faulty = cutAfterPut(inner, dirKey(dIno));
  await (await Vfs.open(faulty.store, limits)).rename("/d/src", "/e/moved").catch(() => null);
  assert(faulty.state.cut, "the renamer was cut off after its intent");
  await setMark(new MetaStore(inner), eIno, "rmdir-dead");
  const other = await Vfs.open(inner, { ...limits, removingLeaseMs: 0 });
  await other.getattr("/d/src").catch(() => null);
  const names = [
    ...(await other.readdir("/d")).entries.map((e) => `/d/${e.name}`),
    ...(await other.readdir("/e")).entries.map((e) => `/e/${e.name}`),
  ].filter((n) => n === "/d/src" || n === "/e/moved");
  assertEquals(names.length, 1, `${names}`);
  assertEquals(await errors(inner), []);
});

Deno.test("a renamer that meets an rmdir's mark on its sharded source folder at its source step finishes that step", async () => {
  const inner = new MemoryStore();
  const setup = await Vfs.open(inner, limits);
  await setup.mkdir("/e");
  await setup.mkdir("/d");
  for (let i = 0; i < 8; i++) await setup.writeFile(`/e/e${i}`, text(`e${i}`));
  const eIno = (await setup.getattr("/e")).ino;
  const dIno = (await setup.getattr("/d")).ino;
  const hooks = new HookStore(inner);
  // No versions kept (a metadata cache too small for any): each step reads afresh.
  const renamer = await Vfs.open(hooks, { ...limits, metaCacheBytes: 1 });
  const meta = new MetaStore(inner);
  // Right after the renamer's target write (the PUT of /d's object), before its source
  // step: an rmdir marks /e, which holds names, and takes its mark off again right after
  // the renamer's source step met it (its read of /e's object, and the second read that
  // believes the mark). Before, the renamer took the mark for /e gone, answered success
  // and left its intent on /e/e4 until someone looked there
  // (tests/age_shards_sched_test.ts seed 380396: fsck's stale-intent).
  const rootRead = (call: SeenCall) => call.op === "GetObject" && call.key === dirKey(eIno);
  hooks.after((call) => call.op === "PutObject" && call.key === dirKey(dIno), async () => {
    await setMark(meta, eIno, "rmdir-1");
    hooks.after(rootRead, () => {
      hooks.after(rootRead, () => setMark(meta, eIno, null));
      return Promise.resolve();
    });
  });
  await renamer.rename("/e/e4", "/d/moved");
  assertEquals(hooks.fired, 3, "the hooks ran");
  // Before anyone reads the names: the renamer left no intent behind.
  const report = await fsck(inner, { graceMs: 0 });
  assertEquals(report.problems.filter((p) => p.severity !== "info"), []);
  const fresh = await Vfs.open(inner, limits);
  assertEquals(new TextDecoder().decode(await fresh.read("/d/moved", 0, 10)), "e4");
  assertEquals((await fresh.readdir("/e")).entries.some((e) => e.name === "e4"), false);
});
