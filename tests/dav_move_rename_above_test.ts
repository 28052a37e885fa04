// COPY and MOVE over a collection go in steps, and the steps after the first used to find
// what the first made (the replaced collection kept aside, the source moved beside the
// destination) by its path. A rename through another instance of a collection above the
// destination, between two steps, then left that entry under its recognisable name at the
// collection's new place, visible to every client (protocol fuzz seed 5147, 700 operations:
// `.pagefs-replaced-…` at the new place after a MOVE answered 204). Each test runs the other
// instance's rename exactly between two steps of the first, through a hook on its filesystem.

import { assert, assertEquals } from "./_assert.ts";
import { type Dav, davTest, ORIGIN } from "./_dav.ts";

/** `/p/c/src` and `/p/c/dst` (or `/in/src` with `base`), each a collection with a file and a subcollection. */
async function setUp(a: Dav, base = "/p/c") {
  for (const path of ["/p", "/p/c", ...(base === "/p/c" ? [] : [base])]) {
    assertEquals(await a.mkcol(path), 201, path);
  }
  for (const [path, name] of [[`${base}/src`, "src"], ["/p/c/dst", "dst"]] as const) {
    assertEquals(await a.mkcol(path), 201);
    assertEquals(await a.put(`${path}/${name}.txt`, `${name} member`), 201);
    assertEquals(await a.mkcol(`${path}/sub`), 201);
    assertEquals(await a.put(`${path}/sub/deep.txt`, `${name} deep`), 201);
  }
}

function transfer(method: "MOVE" | "COPY", from = "/p/c/src") {
  return {
    method,
    from,
    headers: { destination: `${ORIGIN}/dav/p/c/dst`, overwrite: "T" },
  };
}

/**
 * The answer and the tree are as if the rename of /p came first: the destination's parent
 * is gone (409), and nothing else changed: the destination whole at its new place, the
 * source at its name, nothing copied.
 */
async function assertRenameCameFirst(b: Dav, res: Response): Promise<void> {
  assertEquals(res.status, 409, await res.text());
  assertEquals(await b.members("/q/c"), ["dst"]);
  assertEquals(await b.text("/q/c/dst/sub/deep.txt"), "dst deep");
  assertEquals(await b.text("/in/src/sub/deep.txt"), "src deep");
}

davTest(
  "a MOVE or COPY over a collection removes the replaced collection when its parent is moved right after the swap",
  async (t) => {
    const b = await t.b();
    for (const method of ["MOVE", "COPY"] as const) {
      await setUp(t.a);
      // The swap has put the new collection at /p/c/dst and kept the old one beside it;
      // before it is removed, another instance renames /p (and with it the aside entry).
      const renameAside = t.a.vfs.renameAside.bind(t.a.vfs);
      t.a.vfs.renameAside = async (from, to, aside, options) => {
        t.a.vfs.renameAside = renameAside;
        const holder = await renameAside(from, to, aside, options);
        await b.vfs.rename("/p", "/q");
        return holder;
      };
      const { from, headers } = transfer(method);
      const res = await t.a.send(method, from, { headers });
      assertEquals(res.status, 204, `${method}: ${await res.text()}`);
      // As if the MOVE or COPY came first, then the rename: nothing else in /q/c.
      assertEquals(await b.members("/q/c"), method === "MOVE" ? ["dst"] : ["dst", "src"], method);
      assertEquals(await b.text("/q/c/dst/sub/deep.txt"), "src deep", method);
      assertEquals(await b.status("DELETE", "/q"), 204);
    }
  },
);

davTest(
  "a MOVE over a collection removes the replaced collection when its parent is moved while it is removed",
  async (t) => {
    const b = await t.b();
    await setUp(t.a);
    // The removal of the aside collection has begun; before its first member goes,
    // another instance renames /p.
    const unlink = t.a.vfs.unlink.bind(t.a.vfs);
    t.a.vfs.unlink = async (path, options) => {
      if (path.includes("/.pagefs-replaced-")) {
        t.a.vfs.unlink = unlink;
        await b.vfs.rename("/p", "/q");
      }
      return await unlink(path, options);
    };
    const { from, headers } = transfer("MOVE");
    const res = await t.a.send("MOVE", from, { headers });
    assertEquals(res.status, 204, await res.text());
    assertEquals(await b.members("/q/c"), ["dst"]);
    assertEquals(await b.text("/q/c/dst/sub/deep.txt"), "src deep");
  },
);

davTest(
  "a MOVE from another collection puts its source back when the destination's parent is moved after the source moved beside it",
  async (t) => {
    const b = await t.b();
    await setUp(t.a, "/in");
    // The source is at its staging name beside /p/c/dst; before the swap, another instance
    // renames /p (and with it the staged source).
    let staged = "";
    const rename = t.a.vfs.rename.bind(t.a.vfs);
    t.a.vfs.rename = async (from, to, options) => {
      const done = await rename(from, to, options);
      if (from !== "/in/src") return done;
      t.a.vfs.rename = rename;
      staged = to;
      await b.vfs.rename("/p", "/q");
      return done;
    };
    const { from, headers } = transfer("MOVE", "/in/src");
    const res = await t.a.send("MOVE", from, { headers });
    assert(staged.startsWith("/p/c/.pagefs-moving-"), staged);
    await assertRenameCameFirst(b, res);
  },
);

davTest(
  "a COPY over a collection removes its unfinished copy when the destination's parent is moved while it copies",
  async (t) => {
    const b = await t.b();
    await setUp(t.a, "/in");
    // The copy is being built beside /p/c/dst; after its first entries, another instance
    // renames /p (and with it the unfinished copy), so the next entry finds no parent.
    const copy = t.a.vfs.copy.bind(t.a.vfs);
    t.a.vfs.copy = (from, to, options) => {
      t.a.vfs.copy = copy;
      let entries = 0;
      return copy(from, to, {
        ...options,
        beforeEach: async () => {
          if (++entries === 3) await b.vfs.rename("/p", "/q");
          await options?.beforeEach?.();
        },
      });
    };
    const { from, headers } = transfer("COPY", "/in/src");
    const res = await t.a.send("COPY", from, { headers });
    await assertRenameCameFirst(b, res);
  },
);

davTest(
  "a COPY over a collection removes its finished copy and answers 409 when the destination's parent is moved before the swap",
  async (t) => {
    const b = await t.b();
    await setUp(t.a, "/in");
    // The copy is whole beside /p/c/dst; before the swap, another instance renames /p.
    const copy = t.a.vfs.copy.bind(t.a.vfs);
    t.a.vfs.copy = async (from, to, options) => {
      t.a.vfs.copy = copy;
      const made = await copy(from, to, options);
      await b.vfs.rename("/p", "/q");
      return made;
    };
    const { from, headers } = transfer("COPY", "/in/src");
    const res = await t.a.send("COPY", from, { headers });
    await assertRenameCameFirst(b, res);
  },
);

davTest(
  "a MOVE from another collection that fails after taking its source beside the destination puts it back where its collection was moved",
  async (t) => {
    const b = await t.b();
    await setUp(t.a, "/in");
    // The source is beside the destination; before the swap, the destination is locked
    // through the other instance (the MOVE fails: 423) and the source's collection renamed.
    const rename = t.a.vfs.rename.bind(t.a.vfs);
    t.a.vfs.rename = async (from, to, options) => {
      const done = await rename(from, to, options);
      if (from !== "/in/src") return done;
      t.a.vfs.rename = rename;
      assertEquals((await b.lock("/p/c/dst")).status, 200);
      await b.vfs.rename("/in", "/out");
      return done;
    };
    const { from, headers } = transfer("MOVE", "/in/src");
    const res = await t.a.send("MOVE", from, { headers });
    const text = await res.text();
    assertEquals(res.status, 423, text);
    // As if the MOVE had not begun: the source in its collection, at its new place.
    assertEquals(await b.members("/p/c"), ["dst"]);
    assertEquals(await b.text("/p/c/dst/sub/deep.txt"), "dst deep");
    assertEquals(await b.text("/out/src/sub/deep.txt"), "src deep");
  },
);
