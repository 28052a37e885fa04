// COPY and MOVE over an existing destination that the rename cannot replace in one step (a
// collection, or a file and a collection either way): the destination is moved aside, not
// deleted first, so a source removed by another instance in the window fails the request
// with the destination as it was. Each test runs the other instance's change exactly at the
// step where the source is used, through a hook on the first instance's filesystem.

import { assert, assertEquals } from "./_assert.ts";
import { type Dav, davTest, ORIGIN } from "./_dav.ts";

/** Runs `between` once, right before `dav`'s filesystem renames `from` (to anywhere). */
function beforeRenameOf(dav: Dav, from: string, between: () => Promise<void>): void {
  const rename = dav.vfs.rename.bind(dav.vfs);
  let first = true;
  dav.vfs.rename = async (source, target, options) => {
    if (first && source === from) {
      first = false;
      await between();
    }
    return await rename(source, target, options);
  };
}

/** Runs `between` once, right before `dav`'s filesystem copies `from` (to anywhere). */
function beforeCopyOf(dav: Dav, from: string, between: () => Promise<void>): void {
  const copy = dav.vfs.copy.bind(dav.vfs);
  let first = true;
  dav.vfs.copy = async (source, target, options) => {
    if (first && source === from) {
      first = false;
      await between();
    }
    return await copy(source, target, options);
  };
}

/**
 * Makes `/src` and `/dst`, each a file or a collection (a file and a subcollection with a
 * file: a tree COPY reads the subcollection only when it gets there), as `kinds` says.
 */
async function makePair(dav: Dav, kinds: { src: "dir" | "file"; dst: "dir" | "file" }) {
  for (const [name, kind] of [["src", kinds.src], ["dst", kinds.dst]] as const) {
    if (kind === "dir") {
      assertEquals(await dav.mkcol(`/${name}`), 201);
      assertEquals(await dav.put(`/${name}/${name}.txt`, `${name} member`), 201);
      assertEquals(await dav.mkcol(`/${name}/sub`), 201);
      assertEquals(await dav.put(`/${name}/sub/deep.txt`, `${name} deep`), 201);
    } else assertEquals(await dav.put(`/${name}`, `${name} file`), 201);
  }
}

/** The destination as `makePair` made it, read through `dav`. */
async function assertDestinationIntact(dav: Dav, kind: "dir" | "file", what: string) {
  if (kind === "dir") {
    assertEquals(await dav.members("/dst"), ["dst.txt", "sub"], what);
    assertEquals(await dav.text("/dst/dst.txt"), "dst member", what);
    assertEquals(await dav.text("/dst/sub/deep.txt"), "dst deep", what);
  } else assertEquals(await dav.text("/dst"), "dst file", what);
}

const PAIRS = [
  { src: "dir", dst: "dir" },
  { src: "file", dst: "dir" },
  { src: "dir", dst: "file" },
] as const;

function moveOrCopy(dav: Dav, method: "MOVE" | "COPY", headers: Record<string, string> = {}) {
  return dav.send(method, "/src", {
    headers: { destination: `${ORIGIN}/dav/dst`, overwrite: "T", ...headers },
  });
}

davTest(
  "a MOVE over a collection or across types keeps the destination when the source is deleted meanwhile",
  async (t) => {
    const b = await t.b();
    for (const kinds of PAIRS) {
      const what = `${kinds.src} over ${kinds.dst}`;
      await makePair(t.a, kinds);
      beforeRenameOf(t.a, "/src", async () => {
        assertEquals(await b.status("DELETE", "/src"), 204, what);
      });
      const res = await moveOrCopy(t.a, "MOVE");
      const text = await res.text();
      assertEquals(res.status, 404, `${what}: ${text}`);
      await assertDestinationIntact(b, kinds.dst, what);
      // Nothing else is left behind (no aside entry).
      assertEquals(await b.members("/"), ["dst"], what);
      assertEquals(await b.status("DELETE", "/dst"), 204);
    }
  },
);

davTest(
  "a COPY over an existing destination keeps it when the source is deleted meanwhile",
  async (t) => {
    const b = await t.b();
    for (const kinds of [...PAIRS, { src: "file", dst: "file" } as const]) {
      const what = `${kinds.src} over ${kinds.dst}`;
      await makePair(t.a, kinds);
      beforeCopyOf(t.a, "/src", async () => {
        assertEquals(await b.status("DELETE", "/src"), 204, what);
      });
      const res = await moveOrCopy(t.a, "COPY");
      const text = await res.text();
      // The COPY may have read the source before the DELETE (the copy is then whole, as
      // in that order); otherwise it fails and the destination is as it was.
      assert(res.status === 404 || res.status === 204, `${what}: ${res.status} ${text}`);
      if (res.status === 404) await assertDestinationIntact(b, kinds.dst, what);
      else if (kinds.src === "dir") assertEquals(await b.text("/dst/sub/deep.txt"), "src deep");
      else assertEquals(await b.text("/dst"), "src file", what);
      assertEquals(await b.members("/"), ["dst"], what);
      assertEquals(await b.status("DELETE", "/dst"), 204);
    }
  },
);

davTest("a COPY or MOVE over a collection replaces it and leaves nothing aside", async (t) => {
  const b = await t.b();
  for (const method of ["COPY", "MOVE"] as const) {
    for (const kinds of PAIRS) {
      const what = `${method} ${kinds.src} over ${kinds.dst}`;
      await makePair(t.a, kinds);
      const res = await moveOrCopy(t.a, method);
      assertEquals(res.status, 204, `${what}: ${await res.text()}`);
      if (kinds.src === "dir") {
        assertEquals(await b.members("/dst"), ["src.txt", "sub"], what);
        assertEquals(await b.text("/dst/src.txt"), "src member", what);
        assertEquals(await b.text("/dst/sub/deep.txt"), "src deep", what);
      } else assertEquals(await b.text("/dst"), "src file", what);
      assertEquals(await b.members("/"), method === "MOVE" ? ["dst"] : ["dst", "src"], what);
      for (const path of method === "MOVE" ? ["/dst"] : ["/dst", "/src"]) {
        assertEquals(await b.status("DELETE", path), 204);
      }
    }
  }
});

davTest(
  "a MOVE whose destination is taken again while it failed keeps the old destination aside and says where",
  async (t) => {
    const b = await t.b();
    await makePair(t.a, { src: "dir", dst: "dir" });
    beforeRenameOf(t.a, "/src", async () => {
      assertEquals(await b.status("DELETE", "/src"), 204);
      assertEquals(await b.put("/dst", "acknowledged"), 201);
    });
    const res = await moveOrCopy(t.a, "MOVE");
    const text = await res.text();
    assertEquals(res.status, 404, text);
    assertEquals(await b.text("/dst"), "acknowledged");
    const members = await b.members("/");
    assertEquals(members.length, 2, `${members}`);
    const aside = members.find((name) => name.startsWith(".pagefs-replaced-"));
    assert(aside, `no aside entry in ${members}`);
    assert(text.includes(encodeURIComponent(aside)), `the answer does not name it: ${text}`);
    assertEquals(await b.text(`/${aside}/dst.txt`), "dst member");
  },
);

davTest(
  "a MOVE or COPY over a collection answers 204 when removing the replaced collection fails",
  async (t) => {
    const b = await t.b();
    for (const method of ["COPY", "MOVE"] as const) {
      await makePair(t.a, { src: "file", dst: "dir" });
      const removeTree = t.a.vfs.removeTree.bind(t.a.vfs);
      t.a.vfs.removeTree = () => Promise.reject(new Error("injected: store unreachable"));
      const res = await moveOrCopy(t.a, method);
      t.a.vfs.removeTree = removeTree;
      assertEquals(res.status, 204, `${method}: ${await res.text()}`);
      assertEquals(await b.text("/dst"), "src file", method);
      // The replaced collection is a leftover under its aside name, its data intact.
      const aside = (await b.members("/")).find((name) => name.startsWith(".pagefs-replaced-"));
      assert(aside, method);
      assertEquals(await b.text(`/${aside}/dst.txt`), "dst member", method);
      for (const path of [`/${aside}`, "/dst", "/src"]) await b.status("DELETE", path);
    }
  },
);

davTest("a COPY with Overwrite F does not replace a file created after it looked", async (t) => {
  const b = await t.b();
  assertEquals(await t.a.put("/src", "copied"), 201);
  beforeCopyOf(t.a, "/src", async () => {
    assertEquals(await b.put("/dst", "acknowledged"), 201);
  });
  const res = await moveOrCopy(t.a, "COPY", { overwrite: "F" });
  assertEquals(res.status, 412, await res.text());
  assertEquals(await b.text("/dst"), "acknowledged", "the acknowledged PUT was overwritten");
});
