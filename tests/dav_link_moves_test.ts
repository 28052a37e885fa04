// Crossing WebDAV MOVEs between hard links of one file whose names are in two directory
// objects, through two instances on one store. A MOVE from one link of a file to another
// removes its source and keeps its destination; two crossing ones (`/d1/a` to `/d2/b` and
// `/d2/b` to `/d1/a`) must leave one of the two names, as either serial order does. The
// one-directory version of this race is in tests/dav_commit_races_test.ts.

import { assert, assertEquals } from "./_assert.ts";
import { Dav, davUrl } from "./_dav.ts";
import { GateStore } from "./_gate.ts";
import { HookStore } from "./_hook_store.ts";
import { MetaStore } from "../src/format/cas.ts";
import { objectOfName } from "../src/format/_dir_entries.ts";
import { Directories } from "../src/format/dir.ts";
import { locateAged } from "../src/format/_dir_ages.ts";
import { hashShard } from "./_dir_layouts.ts";
import { dirKey, shardKey } from "../src/format/keys.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { REMOVING_LEASE_MS, Vfs } from "../src/vfs/mod.ts";

const text = (s: string) => new TextEncoder().encode(s);

async function move(dav: Dav, from: string, to: string): Promise<Response> {
  return await dav.app.request(davUrl(from), {
    method: "MOVE",
    headers: { destination: `http://localhost${davUrl(to)}`, overwrite: "T" },
  });
}

/** One file, /d1/a, with two more names: /d2/b and /c. */
async function layOut(vfs: Vfs): Promise<void> {
  await vfs.mkdir("/d1");
  await vfs.mkdir("/d2");
  await vfs.writeFile("/d1/a", text("linked"));
  await vfs.link("/d1/a", "/d2/b");
  await vfs.link("/d1/a", "/c");
}

/**
 * One file with three names, `/d1/a`, `/d2/b` and `/c` (which keeps it alive whatever the
 * MOVEs do, so that its link count tells how many names are left); `a` goes through
 * `gate`, `b` straight to the store; both with `options`.
 */
async function linked(options: { removingLeaseMs?: number; now?: () => number } = {}) {
  const store = new MemoryStore();
  const gate = new GateStore(store);
  const a = new Dav(await Vfs.open(gate, options), gate);
  const b = new Dav(await Vfs.open(store, options), store);
  await layOut(b.vfs);
  const d2 = dirKey((await b.vfs.getattr("/d2")).ino);
  return { store, gate, a, b, d2 };
}

/**
 * Holds the first MOVE (`/d2/b` to `/d1/a`, through `a`) at its `nth` write of `/d2`, runs
 * `meanwhile`, then the crossing MOVE (`/d1/a` to `/d2/b`), which must answer 204; lets
 * the first go on, which must succeed too. What is left is the caller's to check.
 */
async function crossing(
  { gate, a, b, d2 }: Awaited<ReturnType<typeof linked>>,
  nth: number,
  meanwhile: () => Promise<unknown> = () => Promise.resolve(),
): Promise<void> {
  let puts = 0;
  gate.arm((call) => call.op === "PutObject" && call.key === d2 && ++puts === nth);
  const first = move(a, "/d2/b", "/d1/a");
  await gate.held;
  await meanwhile();
  const second = await move(b, "/d1/a", "/d2/b");
  assertEquals(second.status, 204, await second.text());
  gate.open();
  const answer = await first;
  assertEquals(answer.status < 300, true, `${answer.status} ${await answer.text()}`);
}

/** The names of the file left, and its link count, as a fresh instance sees them. */
async function names(store: MemoryStore): Promise<{ left: string[]; nlink: number }> {
  const fresh = await Vfs.open(store);
  const left: string[] = [];
  for (const path of ["/d1/a", "/d2/b"]) {
    const stat = await fresh.lookupOrNull(path);
    if (stat) {
      assertEquals(new TextDecoder().decode(await fresh.read(path, 0, 10)), "linked");
      left.push(path);
    }
  }
  return { left, nlink: (await fresh.lookup("/c")).nlink };
}

Deno.test("two crossing MOVEs between hard links in two directories leave one of the two names", async () => {
  // The first MOVE has looked at both names; its first write to /d2 is held while the
  // second MOVE runs whole. Before: each found the other's name holding the file and
  // removed its own; both answered 204 and neither name was left (nlink 1, /c alone).
  const linkedFile = await linked();
  await crossing(linkedFile, 1);
  // In the serial order (second, then first): the first finds its destination gone and
  // renames its source onto it.
  assertEquals(await names(linkedFile.store), { left: ["/d1/a"], nlink: 2 });
});

Deno.test("a MOVE between hard links that stalls after its look does not remove its name once another cleared its mark", async () => {
  // The first MOVE has marked /d2/b and found /d1/a holding the file; its removal of /d2/b
  // is held. The second instance takes that mark for dead at once (a lease of 0), clears
  // it and removes /d1/a. When the first wakes up its mark is gone: it decides again,
  // finds its destination gone and renames its source onto it.
  const linkedFile = await linked({ removingLeaseMs: 0 });
  await crossing(linkedFile, 2);
  assertEquals(await names(linkedFile.store), { left: ["/d1/a"], nlink: 2 });
});

Deno.test("a MOVE between hard links whose remover died holds the other MOVE back only for the removing lease", async () => {
  // The first MOVE marks /d2/b, looks, and never comes back (its removal is held). The
  // second one waits for it, answers 503 and changes nothing while that mark is younger
  // than the lease by its own clock; once it has seen the mark for the lease it clears it
  // and goes on. The first, woken up at last, must not remove /d2/b then.
  let clock = 1_000_000;
  const { store, gate, a, b, d2 } = await linked({ now: () => clock });
  let puts = 0;
  gate.arm((call) => call.op === "PutObject" && call.key === d2 && ++puts === 2);
  const first = move(a, "/d2/b", "/d1/a");
  await gate.held;
  clock += 1_000; // the second MOVE comes later: its mark is the newer one
  const early = await move(b, "/d1/a", "/d2/b");
  assertEquals(early.status, 503, await early.text());
  assertEquals(await names(store), { left: ["/d1/a", "/d2/b"], nlink: 3 });
  clock += REMOVING_LEASE_MS;
  const late = await move(b, "/d1/a", "/d2/b");
  assertEquals(late.status, 204, await late.text());
  assertEquals(await names(store), { left: ["/d2/b"], nlink: 2 });
  gate.open();
  const answer = await first;
  assertEquals(answer.status < 300, true, `${answer.status} ${await answer.text()}`);
  assertEquals(await names(store), { left: ["/d1/a"], nlink: 2 });
});

Deno.test("of two MOVEs between hard links that both marked their names before looking, the newer one waits and removes nothing", async () => {
  // Both raise their flag (the unlink mark on their source) before either looks at the
  // other's name; both then find the other's name holding the file. The older mark goes
  // on: its remover clears the newer mark and removes its name; the newer one, meeting
  // the older mark on its destination, must not remove its own (before marks: both did).
  const store = new MemoryStore();
  const hooks = new HookStore(store);
  const gate = new GateStore(store);
  const a = new Dav(await Vfs.open(hooks), hooks);
  const b = new Dav(await Vfs.open(gate), gate);
  await layOut(b.vfs);
  const d1 = dirKey((await b.vfs.getattr("/d1")).ino);
  const d2 = dirKey((await b.vfs.getattr("/d2")).ino);
  let second: Promise<Response> | null = null;
  // Right after the first MOVE's mark on /d2/b: the second marks /d1/a and is held before
  // its first read after that (its look at /d2/b).
  hooks.after((call) => call.op === "PutObject" && call.key === d2, async () => {
    let marked = false;
    gate.arm((call) => {
      if (call.op === "PutObject" && call.key === d1) marked = true;
      return marked && call.op === "GetObject";
    });
    second = move(b, "/d1/a", "/d2/b");
    await gate.held;
  });
  // Right before the first MOVE's removal of /d2/b (its second write there), after its
  // look: the second one looks now, and answers.
  let puts = 0;
  let answered: Response | null = null;
  hooks.before((call) => call.op === "PutObject" && call.key === d2 && ++puts === 2, async () => {
    gate.open();
    answered = await second;
  });
  const first = await move(a, "/d2/b", "/d1/a");
  assertEquals(hooks.fired, 2);
  assertEquals(first.status, 204, await first.text());
  assertEquals(answered!.status, 503, await answered!.text());
  assertEquals(await names(store), { left: ["/d1/a"], nlink: 2 });
});

for (const layout of ["hash", "age"] as const) {
  Deno.test(`two crossing MOVEs between hard links in two shards of one large directory leave one of the two names (${layout} shards)`, async () => {
    // As the first test, with both names in one directory split into shards: one CAS cannot
    // check both, so it is the cross-object case.
    const small = { dirLimits: { maxEntries: 4 } };
    const store = new MemoryStore();
    const gate = new GateStore(store);
    const a = new Dav(await Vfs.open(gate, small), gate);
    const b = new Dav(await Vfs.open(store, small), store);
    await b.vfs.mkdir("/big");
    const ino = (await b.vfs.getattr("/big")).ino;
    // Hash shards as a directory filled before age shards has them; in an age-sharded one,
    // "a" is in the first closed shard, and a new name in the open one.
    if (layout === "hash") await hashShard(store, ino);
    await b.vfs.writeFile("/big/a", text("linked"));
    for (let i = 0; i < 12; i++) await b.vfs.writeFile(`/big/f${i}`, text("filler"));
    await b.vfs.link("/big/a", "/c");
    const dirs = new Directories(new MetaStore(store));
    const shardOf = async (name: string) => {
      const dir = (await dirs.get(ino))!.value;
      if (dir.ages) {
        const holder = (await locateAged(dirs.meta, dir, name))!;
        return holder.key;
      }
      const shard = objectOfName(dir, name);
      assert(shard !== null, "the directory is not sharded");
      return shardKey(ino, shard);
    };
    let other = "";
    for (let i = 0; other === ""; i++) {
      if (await shardOf(`b${i}`) !== await shardOf("a")) other = `b${i}`;
    }
    await b.vfs.link("/big/a", `/big/${other}`);
    const held = await shardOf(other);
    assert(held !== await shardOf("a"), "both names in one shard");
    gate.arm((call) => call.op === "PutObject" && call.key === held);
    const first = move(a, `/big/${other}`, "/big/a");
    await gate.held;
    const second = await move(b, "/big/a", `/big/${other}`);
    assertEquals(second.status, 204, await second.text());
    gate.open();
    const answer = await first;
    assertEquals(answer.status < 300, true, `${answer.status} ${await answer.text()}`);
    const fresh = await Vfs.open(store);
    assertEquals(new TextDecoder().decode(await fresh.read("/big/a", 0, 10)), "linked");
    assertEquals(await fresh.lookupOrNull(`/big/${other}`), null);
    assertEquals((await fresh.lookup("/c")).nlink, 2);
  });
}

Deno.test("a rename of a name under a dead MOVE's unlink mark clears the mark, also when the name comes back", async () => {
  // The first MOVE marks /d2/b, looks, and never comes back. /d2/b is renamed away and back
  // meanwhile: the mark stays behind with the first move (before: it travelled with the
  // entry and named /d2/b again once back, so the next MOVE keeping /d2/b waited for it).
  const linkedFile = await linked();
  // The first then finds its mark gone: it decides again, and renames onto /d1/a, gone now.
  await crossing(linkedFile, 2, async () => {
    await linkedFile.b.vfs.rename("/d2/b", "/d1/x");
    await linkedFile.b.vfs.rename("/d1/x", "/d2/b");
  });
  assertEquals(await names(linkedFile.store), { left: ["/d1/a"], nlink: 2 });
});
