// A MOVE from another collection over a collection first takes its source beside the
// destination (`.pagefs-moving-<id>`), then swaps it in. When the swap fails, the source goes
// back to the collection it came from; when that collection was deleted in between (it was
// empty then: the source had left it), it cannot. Protocol fuzz seed 5162 (700 operations):
// A moved `/c/a/c` over `/b` while B moved `/b/a/b` over `/c/a/c`; A's replacement of `/b`
// deleted `/b/a`, B's swap found its destination gone (409), and B's source stayed at its
// `.pagefs-moving-` name, visible to all. No order of the two explains that: B failed, so
// it came after A, whose overwrite of `/b` took `/b/a/b` with it. Now the source is deleted
// and B answers 404 (its source was gone), unless a lock on the entry forbids that. Each
// test runs the other instance's requests exactly between B's two steps, through a hook on
// B's filesystem.

import { assert, assertEquals } from "./_assert.ts";
import { type Dav, davTest, ORIGIN } from "./_dav.ts";

/** Every path below `path` with "dir" or the file's text, as `dav` serves it. */
async function treeOf(dav: Dav, path = "/", out: Record<string, string> = {}) {
  for (const entry of (await dav.vfs.readdir(path, { limit: 1000 })).entries) {
    const child = `${path === "/" ? "" : path}/${entry.name}`;
    if (entry.stat.type === "directory") {
      out[child] = "dir";
      await treeOf(dav, child, out);
    } else out[child] = (await dav.text(child)) ?? "(gone)";
  }
  return out;
}

/**
 * As seed 5162 had it: `/b/a/b` (B's source, a file or a collection) and `/c/a/c` (the
 * collection B replaces, and A moves over `/b`).
 */
async function setUp(dav: Dav, source: "file" | "dir"): Promise<void> {
  for (const path of ["/b", "/b/a", "/c", "/c/a", "/c/a/c"]) {
    assertEquals(await dav.mkcol(path), 201, path);
  }
  assertEquals(await dav.put("/c/a/c/kept.txt", "A's source"), 201);
  if (source === "file") assertEquals(await dav.put("/b/a/b", "B's source"), 201);
  else {
    assertEquals(await dav.mkcol("/b/a/b"), 201);
    assertEquals(await dav.mkcol("/b/a/b/sub"), 201);
    assertEquals(await dav.put("/b/a/b/sub/deep.txt", "B's source"), 201);
  }
}

/** What A then B leaves: A's source at `/b`, `/c/a` empty, B's source nowhere. */
const A_THEN_B = { "/b": "dir", "/b/kept.txt": "A's source", "/c": "dir", "/c/a": "dir" };

/** Runs `between` once, right after `dav`'s filesystem took `/b/a/b` beside its destination. */
function afterStaging(dav: Dav, between: (staged: string) => Promise<void>): void {
  const rename = dav.vfs.rename.bind(dav.vfs);
  dav.vfs.rename = async (from, to, options) => {
    const done = await rename(from, to, options);
    if (from !== "/b/a/b") return done;
    dav.vfs.rename = rename;
    assert(to.startsWith("/c/a/.pagefs-moving-"), to);
    await between(to);
    return done;
  };
}

function moveOver(dav: Dav, from: string, to: string, headers: Record<string, string> = {}) {
  return dav.send("MOVE", from, {
    headers: { destination: `${ORIGIN}/dav${to}`, overwrite: "T", ...headers },
  });
}

davTest(
  "crossing MOVEs, each over the other's source's collection, end as one after the other (seed 5162)",
  async (t) => {
    const other = await t.b();
    for (const source of ["file", "dir"] as const) {
      await setUp(t.a, source);
      // B's source is beside /c/a/c; A moves /c/a/c over /b, deleting /b/a (empty now).
      afterStaging(t.a, async () => {
        const res = await moveOver(other, "/c/a/c", "/b");
        assertEquals(res.status, 204, `A: ${await res.text()}`);
      });
      const res = await moveOver(t.a, "/b/a/b", "/c/a/c");
      const text = await res.text();
      // A first, then B, which finds no source: 404 (before: 409, and the source kept at
      // /c/a/.pagefs-moving-…, visible to all, a state no order of the two explains).
      assertEquals(res.status, 404, `${source}: ${text}`);
      assert(!text.includes(".pagefs-moving-"), text);
      assertEquals(await treeOf(other), A_THEN_B, source);
      assertEquals(await other.status("DELETE", "/b"), 204);
      assertEquals(await other.status("DELETE", "/c"), 204);
    }
  },
);

davTest(
  "crossing MOVEs: a source does not go back into a collection that took its old collection's name",
  async (t) => {
    const other = await t.b();
    await setUp(t.a, "dir");
    // A's source has a collection `a` too: after A, /b/a is A's, not the one B's source
    // came from (before, B's source went back there: 409, with it inside A's tree).
    assertEquals(await t.a.mkcol("/c/a/c/a"), 201);
    afterStaging(t.a, async () => {
      assertEquals((await moveOver(other, "/c/a/c", "/b")).status, 204);
    });
    const res = await moveOver(t.a, "/b/a/b", "/c/a/c");
    assertEquals(res.status, 404, await res.text());
    assertEquals(await treeOf(other), { ...A_THEN_B, "/b/a": "dir" });
  },
);

davTest(
  "a MOVE from another collection whose swap fails after that collection was deleted deletes its source",
  async (t) => {
    const other = await t.b();
    await setUp(t.a, "dir");
    // The source is beside the destination; its old collection, empty now, is deleted, and
    // the destination moved away: as if the DELETE came first, taking the source with it.
    afterStaging(t.a, async () => {
      assertEquals(await other.status("DELETE", "/b/a"), 204);
      assertEquals(
        await other.status("MOVE", "/c/a/c", {
          headers: { destination: `${ORIGIN}/dav/c/moved`, overwrite: "F" },
        }),
        201,
      );
    });
    const res = await moveOver(t.a, "/b/a/b", "/c/a/c");
    assertEquals(res.status, 404, await res.text());
    assertEquals(await treeOf(other), {
      "/b": "dir",
      "/c": "dir",
      "/c/a": "dir",
      "/c/moved": "dir",
      "/c/moved/kept.txt": "A's source",
    });
  },
);

davTest(
  "a MOVE from another collection keeps its source, and says where, when it cannot go back and another client locked it",
  async (t) => {
    const other = await t.b();
    await setUp(t.a, "dir");
    // As seed 5162, and meanwhile another client locks the source at its staging name (it
    // shows in listings): that client's lock is not this request's to break.
    let staged = "";
    afterStaging(t.a, async (to) => {
      staged = to;
      assertEquals((await other.lock(to)).status, 200);
      assertEquals((await moveOver(other, "/c/a/c", "/b")).status, 204);
    });
    const res = await moveOver(t.a, "/b/a/b", "/c/a/c");
    const text = await res.text();
    // The swap's own failure (its destination went), and where the source is kept.
    assertEquals(res.status, 409, text);
    assert(text.includes(staged.slice("/c/a/".length)), text);
    assertEquals(await other.text(`${staged}/sub/deep.txt`), "B's source");
    assertEquals(await other.members("/c/a"), [staged.slice("/c/a/".length)]);
  },
);

davTest(
  "a lock on a MOVE's source stops a MOVE over its collection's ancestor while the source is beside its destination",
  async (t) => {
    const other = await t.b();
    await setUp(t.a, "dir");
    // B's client holds a lock on its source. While the source is at its staging name, the
    // lock still covers /b/a/b, so A (without the token) cannot replace /b: the crossing
    // of seed 5162 does not happen, and nothing B's client locked is deleted.
    const { status, token } = await t.a.lock("/b/a/b");
    assertEquals(status, 200);
    afterStaging(t.a, async () => {
      const res = await moveOver(other, "/c/a/c", "/b");
      assertEquals(res.status, 423, `A: ${await res.text()}`);
    });
    const res = await moveOver(t.a, "/b/a/b", "/c/a/c", { if: `(<${token}>)` });
    assertEquals(res.status, 204, await res.text());
    assertEquals(await treeOf(other), {
      "/b": "dir",
      "/b/a": "dir",
      "/c": "dir",
      "/c/a": "dir",
      "/c/a/c": "dir",
      "/c/a/c/sub": "dir",
      "/c/a/c/sub/deep.txt": "B's source",
    });
  },
);

davTest(
  "crossing MOVEs: a source does not go back into its collection while the other MOVE deletes that",
  async (t) => {
    const other = await t.b();
    await setUp(t.a, "dir");
    // As seed 5162, but A's deletion of the /b it replaced (kept aside at the root's
    // `.pagefs-replaced-<id>`) is between listing /b/a (empty: B's source left it) and
    // removing it when B's swap fails and B's source looks for its way back.
    let reached!: () => void;
    const atRmdir = new Promise<void>((resolve) => reached = resolve);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    const rmdir = other.vfs.rmdir.bind(other.vfs);
    other.vfs.rmdir = async (path) => {
      if (/^\/\.pagefs-replaced-[^/]+\/a$/.test(path)) {
        other.vfs.rmdir = rmdir;
        reached();
        await gate;
      }
      return await rmdir(path);
    };
    let first: Promise<Response> | null = null;
    afterStaging(t.a, async () => {
      first = moveOver(other, "/c/a/c", "/b");
      await atRmdir;
    });
    const res = await moveOver(t.a, "/b/a/b", "/c/a/c");
    release();
    const answer = await first!;
    assertEquals(answer.status, 204, `A: ${await answer.text()}`);
    // Before, B's source went back into /b/a where A's deletion had it now, and that
    // deletion then failed (not empty): 204 for A with its replaced /b left at its
    // `.pagefs-replaced-` name, B's source in it, visible to all.
    assertEquals(res.status, 404, await res.text());
    assertEquals(await treeOf(other), A_THEN_B);
  },
);
