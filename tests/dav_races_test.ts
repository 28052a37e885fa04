// Races between a request's early checks and its commit, through the whole app on memory
// and S3: a LOCK taken (through another instance) while a PUT body is still in flight, two
// create-only PUTs of one path, and COPY/MOVE between a path and its own ancestor or
// descendant. Bodies are streams the test feeds by hand, so every interleaving is exact.

import { assert, assertEquals } from "./_assert.ts";
import { davTest, ORIGIN } from "./_dav.ts";
import { snapshot } from "./rest_harness.ts";

davTest("COPY and MOVE between a path and its ancestor or descendant change nothing", async (t) => {
  const { a } = t;
  for (const dir of ["/a", "/a/b", "/a/b/c"]) assertEquals(await a.mkcol(dir), 201);
  assertEquals(await a.put("/a/f.txt", "f"), 201);
  assertEquals(await a.put("/a/b/g.txt", "g"), 201);
  assertEquals(await a.put("/a/b/c/h.txt", "h"), 201);
  const before = await snapshot(a.vfs);
  const pairs: [string, string][] = [
    ["/a/b/", "/a/"], // onto its parent
    ["/a/b/c/", "/a/"], // onto its grandparent
    ["/a/b/g.txt", "/a/b/"], // a file onto its parent
    ["/a/b/c/h.txt", "/a"], // a file onto an ancestor
    ["/a/", "/a/b/"], // onto its child
    ["/a/", "/a/b/c/new/"], // into a descendant that does not exist yet
    ["/a/f.txt", "/a/f.txt"], // the same path
    ["/a/b/", "/a/b"],
  ];
  for (const method of ["COPY", "MOVE"]) {
    for (const overwrite of ["T", "F"]) {
      for (const [from, to] of pairs) {
        const res = await a.send(method, from.replace(/\/$/, ""), {
          raw: `/dav${from}`,
          headers: { destination: `${ORIGIN}/dav${to}`, overwrite },
        });
        const text = await res.text();
        assertEquals(res.status, 403, `${method} ${from} -> ${to} Overwrite ${overwrite}: ${text}`);
        assertEquals(await snapshot(a.vfs), before, `${method} ${from} -> ${to}`);
      }
    }
  }
});

davTest(
  "the HTTP API's copy and rename onto an ancestor or descendant change nothing",
  async (t) => {
    const { a } = t;
    for (const dir of ["/a", "/a/b", "/a/b/c"]) assertEquals(await a.mkcol(dir), 201);
    assertEquals(await a.put("/a/b/g.txt", "g"), 201);
    const before = await snapshot(a.vfs);
    const pairs: [string, string][] = [
      ["/a/b", "/a"],
      ["/a/b/g.txt", "/a/b"],
      ["/a/b/g.txt", "/a"],
      ["/a", "/a/b"],
      ["/a", "/a/b/c/new"],
      ["/a/b", "/a/b"],
    ];
    for (const op of ["copy", "rename"]) {
      for (const [from, to] of pairs) {
        const res = await a.app.request(`${ORIGIN}/api/v1/fs${from}`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ op, to }),
        });
        const text = await res.text();
        // rename(2) of a path onto itself succeeds and does nothing (POSIX).
        const noop = op === "rename" && from === to && res.status === 200;
        assert(
          noop || (res.status >= 400 && res.status < 500),
          `${op} ${from} -> ${to}: ${res.status} ${text}`,
        );
        assertEquals(await snapshot(a.vfs), before, `${op} ${from} -> ${to}`);
      }
    }
  },
);
