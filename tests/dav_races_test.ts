// Races between a request's early checks and its commit, through the whole app on memory
// and S3: a LOCK taken (through another instance) while a PUT body is still in flight, two
// create-only PUTs of one path, and COPY/MOVE between a path and its own ancestor or
// descendant. Bodies are streams the test feeds by hand, so every interleaving is exact.

import { assert, assertEquals } from "./_assert.ts";
import { Dav, davTest, ORIGIN } from "./_dav.ts";
import { snapshot } from "./rest_harness.ts";
import { STAGING_PREFIX } from "../src/webdav/copymove.ts";

/** A request body fed by hand; `started` resolves once the server has begun reading it. */
class Feed {
  readonly body: ReadableStream<Uint8Array>;
  readonly started: Promise<void>;
  #controller!: ReadableStreamDefaultController<Uint8Array>;

  constructor() {
    let begin!: () => void;
    this.started = new Promise((resolve) => begin = resolve);
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => begin(),
    }, { highWaterMark: 0 });
  }

  /** Sends `text` and ends the body. */
  finish(text: string): void {
    this.#controller.enqueue(new TextEncoder().encode(text));
    this.#controller.close();
  }
}

/** Starts a request with a hand-fed body; resolves with its status and response text. */
function start(
  dav: Dav,
  method: string,
  url: string,
  feed: Feed,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const init: RequestInit & { duplex: "half" } = {
    method,
    headers,
    body: feed.body,
    duplex: "half",
  };
  return Promise.resolve(dav.app.request(ORIGIN + url, init)).then(async (res) => ({
    status: res.status,
    text: await res.text(),
  }));
}

davTest(
  "a LOCK through another instance while a PUT body is in flight stops the PUT",
  async (t) => {
    const { a } = t;
    const b = await t.b();
    // The last body is larger than a multipart part: it streams out before the check.
    const cases = [["/f.txt", true, 9], ["/new.txt", false, 9], ["/big.bin", true, 6 << 20]];
    for (const [path, existing, size] of cases as [string, boolean, number][]) {
      if (existing) assertEquals(await a.put(path, "old"), 201);
      const feed = new Feed();
      const put = start(a, "PUT", `/dav${path}`, feed);
      await feed.started; // A checked the locks and is reading the body.
      const lock = await b.lock(path);
      assertEquals(lock.status, existing ? 200 : 201, lock.body);
      feed.finish("x".repeat(size));
      const res = await put;
      assertEquals(res.status, 423, `${path}: ${res.text}`);
      assertEquals(await b.text(path), existing ? "old" : "");
      assertEquals(await a.text(path), existing ? "old" : "");
    }
  },
);

davTest("a LOCK while an HTTP API PUT body is in flight stops the PUT", async (t) => {
  const { a } = t;
  const b = await t.b();
  assertEquals(await a.put("/f.txt", "old"), 201);
  const feed = new Feed();
  const put = start(a, "PUT", "/api/v1/fs/f.txt", feed);
  await feed.started;
  const lock = await b.lock("/f.txt");
  assertEquals(lock.status, 200, lock.body);
  feed.finish("new bytes");
  const res = await put;
  assertEquals(res.status, 423, res.text);
  assertEquals(await b.text("/f.txt"), "old");

  // A PATCH at an offset and an append likewise.
  let token = lock.token!;
  for (const query of ["offset=0", "append=1"]) {
    assertEquals(await b.unlock("/f.txt", token), 204);
    const patchFeed = new Feed();
    const patch = start(a, "PATCH", `/api/v1/fs/f.txt?${query}`, patchFeed);
    await patchFeed.started;
    const again = await b.lock("/f.txt");
    assertEquals(again.status, 200);
    token = again.token!;
    patchFeed.finish("XY");
    const r = await patch;
    assertEquals(r.status, 423, `${query}: ${r.text}`);
    assertEquals(await b.text("/f.txt"), "old");
  }
});

davTest("an If header entity tag that stops holding during the body fails the PUT", async (t) => {
  const { a } = t;
  const b = await t.b();
  assertEquals(await a.put("/f.txt", "old"), 201);
  const etag = (await a.send("HEAD", "/f.txt")).headers.get("etag");
  assert(etag);
  const feed = new Feed();
  const put = start(a, "PUT", "/dav/f.txt", feed, { if: `([${etag}])` });
  await feed.started;
  assertEquals(await b.put("/f.txt", "theirs"), 204);
  feed.finish("mine");
  const res = await put;
  assertEquals(res.status, 412, res.text);
  assertEquals(await a.text("/f.txt"), "theirs");
});

davTest("two create-only WebDAV PUTs of one path: one 201, one 412", async (t) => {
  const { a } = t;
  const b = await t.b();
  for (const [first, second] of [[a, a], [a, b]] as const) {
    const path = first === second ? "/same.txt" : "/two.txt";
    const one = new Feed();
    const two = new Feed();
    const headers = { "if-none-match": "*" };
    const p1 = start(first, "PUT", `/dav${path}`, one, headers);
    const p2 = start(second, "PUT", `/dav${path}`, two, headers);
    await Promise.all([one.started, two.started]); // both passed the early check
    one.finish("winner");
    const r1 = await p1;
    assertEquals(r1.status, 201, r1.text);
    two.finish("loser");
    const r2 = await p2;
    assertEquals(r2.status, 412, r2.text);
    assertEquals(await a.text(path), "winner");
    assertEquals(await b.text(path), "winner");
  }
});

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

/** Runs `before` once, right before the first unlink `dav`'s filesystem makes. */
function onFirstUnlink(dav: Dav, before: () => Promise<void>): void {
  const unlink = dav.vfs.unlink.bind(dav.vfs);
  let first = true;
  dav.vfs.unlink = async (path: string) => {
    if (first) {
      first = false;
      await before();
    }
    return await unlink(path);
  };
}

davTest("a LOCK taken while a tree is being deleted stops the rest of the DELETE", async (t) => {
  const { a } = t;
  const b = await t.b();
  for (const front of ["dav", "api"] as const) {
    const root = `/${front}`;
    for (const dir of [root, `${root}/d`]) assertEquals(await a.mkcol(dir), 201);
    assertEquals(await a.put(`${root}/x.txt`, "x"), 201);
    assertEquals(await a.put(`${root}/d/y.txt`, "y"), 201);
    onFirstUnlink(a, async () => {
      assertEquals((await b.lock(root, { depth: "0" })).status, 200);
    });
    const res = front === "dav"
      ? await a.send("DELETE", root)
      : await a.app.request(`${ORIGIN}/api/v1/fs${root}?recursive=1`, { method: "DELETE" });
    const text = await res.text();
    assertEquals(res.status, 423, `${front}: ${text}`);
    // Members that went before the lock are gone; the locked collection is not.
    assertEquals((await b.vfs.lookup(root)).type, "directory");
  }
});

/** Runs `before` once, right before the first unlink or rename `dav`'s filesystem makes. */
function onFirstChange(dav: Dav, before: () => Promise<void>): void {
  const vfs = dav.vfs;
  const [unlink, rename, renameAside] = [vfs.unlink, vfs.rename, vfs.renameAside].map((f) =>
    f.bind(vfs)
  ) as [typeof vfs.unlink, typeof vfs.rename, typeof vfs.renameAside];
  let first = true;
  const once = async () => {
    if (!first) return;
    first = false;
    await before();
  };
  vfs.unlink = async (path) => {
    await once();
    return await unlink(path);
  };
  vfs.rename = async (from, to, options) => {
    await once();
    return await rename(from, to, options);
  };
  vfs.renameAside = async (from, to, aside) => {
    await once();
    return await renameAside(from, to, aside);
  };
}

davTest("a LOCK on the source taken while MOVE clears the target stops the MOVE", async (t) => {
  const { a } = t;
  const b = await t.b();
  // From another collection: the MOVE takes steps (within one collection it is one CAS).
  for (const dir of ["/in", "/in/src", "/dst"]) assertEquals(await a.mkcol(dir), 201);
  assertEquals(await a.put("/in/src/s.txt", "s"), 201);
  assertEquals(await a.put("/dst/old.txt", "old"), 201);
  // The lock comes as the MOVE starts to clear the target (the first unlink of its removal,
  // before; now the rename that takes the source next to it).
  onFirstChange(a, async () => {
    assertEquals((await b.lock("/in/src/s.txt")).status, 200);
  });
  const res = await a.send("MOVE", "/in/src", {
    headers: { destination: `${ORIGIN}/dav/dst`, overwrite: "T" },
  });
  const text = await res.text();
  assertEquals(res.status, 423, text);
  assertEquals(await b.text("/in/src/s.txt"), "s");
  // The MOVE that did not happen left its target as it was.
  assertEquals(await b.text("/dst/old.txt"), "old");
  assertEquals(await b.members("/"), ["dst", "in"]);
});

davTest("a LOCK on the destination taken during a tree COPY stops the rest of it", async (t) => {
  const { a } = t;
  const b = await t.b();
  assertEquals(await a.mkcol("/src"), 201);
  for (const name of ["1.txt", "2.txt", "3.txt"]) {
    assertEquals(await a.put(`/src/${name}`, name), 201);
  }
  // As soon as the copy has begun (its copy is built beside /dst since session 20: before,
  // at /dst itself, which was left there, empty, under the other client's lock), another
  // instance locks /dst (whole tree).
  const check = a.vfs.locks.check.bind(a.vfs.locks);
  let locked = false;
  const begun = async () =>
    (await b.vfs.readdir("/")).entries.some((e) => e.name.startsWith(STAGING_PREFIX));
  a.vfs.locks.check = async (...args: Parameters<typeof check>) => {
    if (!locked && await begun()) {
      locked = true;
      assertEquals((await b.lock("/dst", { depth: "infinity" })).status, 201);
    }
    return await check(...args);
  };
  const res = await a.send("COPY", "/src", { headers: { destination: `${ORIGIN}/dav/dst` } });
  const text = await res.text();
  assert(locked, "the copy never began");
  assertEquals(res.status, 423, text);
  // Nothing of the copy anywhere: /dst is what the LOCK made (an empty resource).
  assertEquals(await b.members("/"), ["dst", "src"]);
  assertEquals((await b.vfs.getattr("/dst")).size, 0);
});
