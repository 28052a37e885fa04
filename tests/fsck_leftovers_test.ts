// What WebDAV COPY and MOVE over a collection leave behind when they stop between their steps
// (`.pagefs-replaced-<id>`, `.pagefs-copying-<id>`, `.pagefs-moving-<id>`, docs/webdav.md):
// `deno task fsck` reports each once it is older than fsck's grace, and `--repair` deletes the
// replaced destinations and unfinished copies but never a moved source. Driven through the
// command's own entry point (`maintain`) and its `--json` report.

import { assert, assertEquals } from "./_assert.ts";
import { fsckCommand, HOUR, leftoversOf } from "./_fsck.ts";
import { contract } from "./_stores.ts";
import { newId } from "../src/format/keys.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { ASIDE_PREFIX, MOVING_PREFIX, STAGING_PREFIX } from "../src/webdav/copymove.ts";

/** A small tree at `path`: a file and a subdirectory with a file. */
async function fill(fs: Vfs, path: string, text: string): Promise<void> {
  await fs.mkdir(`${path}/sub`, { parents: true });
  await fs.writeFile(`${path}/f.txt`, new TextEncoder().encode(text));
  await fs.writeFile(`${path}/sub/deep.txt`, new TextEncoder().encode(text));
}

const names = async (fs: Vfs, path: string) =>
  (await fs.readdir(path)).entries.map((e) => e.name).sort();

contract(
  "fsck reports COPY and MOVE leftovers older than its grace, and --repair removes all but a moved source",
  async (store) => {
    // fsck runs an hour after the requests that left these stopped; `now` is an instance
    // working at fsck's time.
    const then = await Vfs.open(store);
    const now = await Vfs.open(store, { now: () => Date.now() + HOUR });
    await then.mkdir("/d/x", { parents: true });
    const old = {
      replaced: `/d/${await then.nameBeside("/d/x", ASIDE_PREFIX)}`,
      copying: `/d/${await then.nameBeside("/d/x", STAGING_PREFIX)}`,
      moving: `/d/${await then.nameBeside("/d/x", MOVING_PREFIX)}`,
    };
    for (const [kind, path] of Object.entries(old)) await fill(then, path, kind);
    // A request between its steps right now: never reported, never touched.
    const young = `/d/${await now.nameBeside("/d/x", ASIDE_PREFIX)}`;
    await fill(now, young, "young");
    // One still at work under an old name (a COPY of a large file, still writing it):
    // only in flight.
    const busy = `/d/${await then.nameBeside("/d/x", STAGING_PREFIX)}`;
    await then.writeFile(busy, new TextEncoder().encode("busy"));
    await now.write(busy, 4, new TextEncoder().encode(" still"));
    // Names a client may choose that only look like leftovers.
    const id = newId(Date.now());
    const alike = [
      `${ASIDE_PREFIX}foo`,
      `${MOVING_PREFIX}`,
      `${STAGING_PREFIX}${id}.txt`,
      `${ASIDE_PREFIX}${id.toUpperCase()}`,
      `${ASIDE_PREFIX}${id}-0`,
      `x${ASIDE_PREFIX}${id}`,
      `.pagefs-removed-${id}`,
    ];
    for (const name of alike) await fill(then, `/d/${name}`, "mine");

    const check = await fsckCommand(store);
    const found = leftoversOf(check.problems);
    assertEquals([...found.keys()].sort(), Object.values(old).sort());
    for (const [kind, path] of Object.entries(old)) {
      const p = found.get(path)!;
      assertEquals(p.severity, "error", path);
      assert(p.detail.includes(kind), `${path}: ${p.detail}`);
      // Its age, from the time in its id, by fsck's clock.
      assert(/\b(59|60) min\b/.test(p.detail), `${path}: ${p.detail}`);
      assertEquals(p.repaired, undefined);
    }
    assert(found.get(old.moving)!.detail.includes("docs/webdav.md"), "says what to do");
    assertEquals(check.code, 1, "leftovers are worth an alert");
    const working = check.problems.filter((p) => p.path === busy);
    assertEquals(working.map((p) => p.kind), ["in-flight"]);
    assert(working[0]!.detail.includes("changed 0 min ago"), working[0]!.detail);

    const repair = await fsckCommand(store, ["--repair"]);
    const fixed = leftoversOf(repair.problems);
    assertEquals(fixed.get(old.replaced)?.repaired, true);
    assertEquals(fixed.get(old.copying)?.repaired, true);
    assertEquals(fixed.has(old.moving), true);
    assertEquals(fixed.get(old.moving)?.repaired, undefined, "not for repair");
    assertEquals(repair.code, 1, "the moved source still needs a person");

    const base = (path: string) => path.slice("/d/".length);
    assertEquals(
      await names(now, "/d"),
      [...alike, base(old.moving), base(young), base(busy), "x"].sort(),
    );
    // Whole, as the requests left them.
    const texts = [
      [old.moving, "moving"],
      [young, "young"],
      ...alike.map((n) => [`/d/${n}`, "mine"]),
    ];
    for (const [path, text] of texts) {
      assertEquals(await now.read(`${path}/sub/deep.txt`, 0, 100), new TextEncoder().encode(text));
    }
    assertEquals(await now.read(busy, 0, 100), new TextEncoder().encode("busy still"));
    const again = await fsckCommand(store);
    assertEquals([...leftoversOf(again.problems).keys()], [old.moving]);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "fsck --repair keeps a replaced or copied tree that holds a moved source, and removes nested leftovers once",
  async (store) => {
    const then = await Vfs.open(store);
    const now = await Vfs.open(store, { now: () => Date.now() + HOUR });
    await then.mkdir("/d/x", { parents: true });
    // A replaced collection that holds a moved source (a MOVE that stopped beside its
    // destination, inside a collection that another request then replaced and stopped).
    const outer = `/d/${await then.nameBeside("/d/x", ASIDE_PREFIX)}`;
    await then.mkdir(`${outer}/y`, { parents: true });
    const moving = `${outer}/${await then.nameBeside(`${outer}/y`, MOVING_PREFIX)}`;
    await fill(then, moving, "the only copy");
    // A copy that stopped, holding a replaced tree of its own (copied along).
    const copying = `/d/${await then.nameBeside("/d/x", STAGING_PREFIX)}`;
    await then.mkdir(`${copying}/z`, { parents: true });
    const inner = `${copying}/${await then.nameBeside(`${copying}/z`, ASIDE_PREFIX)}`;
    await fill(then, inner, "copied");

    const repair = await fsckCommand(store, ["--repair"]);
    const found = leftoversOf(repair.problems);
    assertEquals([...found.keys()].sort(), [copying, inner, moving, outer].sort());
    assertEquals(found.get(outer)?.repaired, undefined);
    assert(found.get(outer)!.detail.includes(moving), found.get(outer)!.detail);
    assertEquals(found.get(moving)?.repaired, undefined);
    assertEquals(found.get(copying)?.repaired, true);
    assertEquals(found.get(inner)?.repaired, true);
    assertEquals(await names(now, "/d"), [outer.slice(3), "x"].sort());
    assertEquals(
      await now.read(`${moving}/sub/deep.txt`, 0, 100),
      new TextEncoder().encode("the only copy"),
    );
  },
  { backends: ["memory", "s3"] },
);
