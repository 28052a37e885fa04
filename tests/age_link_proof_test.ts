// A link() whose new name an age-sharded folder places in a closed shard (docs/format.md,
// "Where a name held nowhere goes"), its linker stopped between the name and the count:
// the proof noted with the name must say it is a link's, so that whoever meets the intent
// raises the count (release.ts, `settleLinks`). The closed shard's view of the draft
// dropped that flag, the proof read as a removal's, and the count stayed one short: the
// file's object went with its last counted name while a name still led to it.

import { assert, assertEquals } from "./_assert.ts";
import { MetaStore } from "../src/format/cas.ts";
import { Directories } from "../src/format/dir.ts";
import { admits, mayHold } from "../src/format/_bloom.ts";
import { nameHash } from "../src/format/_dir_entries.ts";
import { shardKey } from "../src/format/keys.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

const text = (s: string) => new TextEncoder().encode(s);
const limits = { dirLimits: { maxEntries: 4 } };

Deno.test("a link() into a closed age shard cut short after its name is counted by the next stat", async () => {
  const inner = new MemoryStore();
  const setup = await Vfs.open(inner, limits);
  await setup.mkdir("/d");
  for (let i = 0; i < 12; i++) await setup.writeFile(`/d/f${i}`, text(`f${i}`));
  await setup.writeFile("/k", text("the data"));
  await setup.link("/k", "/k2");
  const ino = (await setup.getattr("/d")).ino;
  const table = (await new Directories(new MetaStore(inner)).get(ino))!.value.ages!;
  const closed = table.closed[0]!;
  let name = "";
  for (let i = 0; !name; i++) {
    const h = nameHash(`p${i}`);
    if (admits(h) && mayHold(closed, h)) name = `p${i}`;
  }
  // The linker's store: the name's write into the closed shard is applied and its answer
  // lost, and every call after it fails (the linker is cut off there).
  let cut = false;
  const key = shardKey(ino, closed.id);
  const faulty = new FaultyStore(inner, {
    plan: (call) => {
      if (cut) return { kind: "fail-before" };
      if (call.op !== "PutObject" || call.key !== key) return null;
      cut = true;
      return { kind: "fail-after" };
    },
  });
  const linker = await Vfs.open(faulty, limits);
  const outcome = await linker.link("/k", `/d/${name}`).then(() => "ok", (e) => e.code ?? `${e}`);
  assert(cut, `the name went into the closed shard (${outcome})`);
  const fresh = await Vfs.open(inner, limits);
  assertEquals((await fresh.getattr(`/d/${name}`)).nlink, 3, "three names, three links");
  await fresh.unlink("/k");
  await fresh.unlink("/k2");
  const again = await Vfs.open(inner, limits);
  assertEquals(new TextDecoder().decode(await again.read(`/d/${name}`, 0, 100)), "the data");
});
