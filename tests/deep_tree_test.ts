// Folders deeper than the path limit (4,096 bytes): a rename may put a folder so deep that
// its deepest paths pass it (nothing checks the depth of what is moved, as on Linux). A
// recursive delete must still delete all of it, a copy that would pass the limit must be
// refused before it makes anything, and fsck and GC must still reach all of it. The whole
// app in process on a memory store; names of 255 bytes make a tree deep in a few levels.

import { assert, assertEquals } from "./_assert.ts";
import { createApp } from "../src/app.ts";
import { Authenticator, hashPassword } from "../src/auth/mod.ts";
import { fsck } from "../src/format/fsck.ts";
import { gc } from "../src/format/gc.ts";
import { MemoryStore, type ObjectStore, StoreMetrics } from "../src/store/mod.ts";
import type { ListPage } from "../src/store/types.ts";
import { PATH_MAX, Vfs } from "../src/vfs/mod.ts";

const ORIGIN = "http://pagefs.test";
type Who = "alice" | "root";

/** A name of 255 bytes (the longest there is), told apart by `tag`. */
function long(tag: string): string {
  return tag + "n".repeat(255 - tag.length);
}

/** `levels` folders of long names below `top`, a file in each: the paths, top first. */
async function chain(vfs: Vfs, top: string, levels: number): Promise<string[]> {
  const dirs = [top];
  for (let i = 0; i < levels; i++) dirs.push(`${dirs.at(-1)}/${long(`L${i}`)}`);
  await vfs.mkdir(dirs.at(-1)!, { parents: true });
  for (const dir of dirs) {
    await vfs.writeFile(`${dir}/f`, new TextEncoder().encode(dir.length + ""));
  }
  return dirs;
}

async function world() {
  const store = new MemoryStore();
  const vfs = await Vfs.open(store);
  const hash = await hashPassword("pw", { iterations: 1000 });
  const auth = await Authenticator.load({
    PAGEFS_USERS: [`alice:${hash}:rw:/home/alice`, `root:${hash}:rw`].join(","),
  });
  const app = createApp({
    store,
    metrics: new StoreMetrics(),
    vfs,
    auth,
    secret: "a test secret that is long enough to use",
  });
  await vfs.mkdir("/home/alice", { parents: true });
  // What a symlink deep in alice's tree leads to: a delete removes the link, never this.
  await vfs.mkdir("/outside");
  await vfs.writeFile("/outside/keep", new Uint8Array(1));
  const send = async (
    as: Who,
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: string } = {},
  ) => {
    const res = await app.request(`${ORIGIN}${path}`, {
      method,
      headers: { authorization: `Basic ${btoa(`${as}:pw`)}`, ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body }),
    });
    return { status: res.status, body: await res.text() };
  };
  return { store, vfs, send };
}

/**
 * `/home/alice/u` (8 long levels) holding `/home/alice/t` (9 long levels) moved into it: its
 * deepest paths pass PATH_MAX. Returns the deepest folder's path.
 */
async function overDeep(vfs: Vfs): Promise<string> {
  const u = await chain(vfs, "/home/alice/u", 8);
  const t = await chain(vfs, "/home/alice/t", 9);
  // A file whose data is a segment of its own (not inline), for GC to keep.
  await vfs.writeFile(`${t.at(-1)}/big`, new Uint8Array(200_000).fill(7));
  await vfs.symlink("/outside", `${t.at(-1)}/out`);
  const into = `${u.at(-1)}/t`;
  await vfs.rename("/home/alice/t", into);
  const deepest = into + t.at(-1)!.slice("/home/alice/t".length);
  assert(new TextEncoder().encode(deepest).length > PATH_MAX);
  return deepest;
}

/** Keys of directory objects and their shards in the store. */
async function dirKeys(store: ObjectStore): Promise<string[]> {
  const keys: string[] = [];
  for (let cursor: string | null = null;;) {
    const page: ListPage = await store.list({ prefix: "d/", ...(cursor ? { cursor } : {}) });
    keys.push(...page.objects.map((o) => o.key));
    if (!page.cursor) return keys.sort();
    cursor = page.cursor;
  }
}

for (const [how, as] of [["WebDAV", "alice"], ["WebDAV", "root"], ["HTTP API", "alice"]] as const) {
  Deno.test(`a ${how} recursive delete by ${as} removes a folder whose paths pass the limit whole`, async () => {
    const { store, vfs, send } = await world();
    const before = await dirKeys(store);
    await overDeep(vfs);
    const res = how === "WebDAV"
      ? await send(as, "DELETE", "/dav/home/alice/u/")
      : await send(as, "DELETE", "/api/v1/fs/home/alice/u?recursive=1");
    assertEquals(res.status, 204, res.body);
    assertEquals((await vfs.readdir("/home/alice")).entries.map((e) => e.name), []);
    // Nothing is left unreachable: every directory object of the tree is gone.
    assertEquals(await dirKeys(store), before);
    assert((await fsck(store)).ok);
    assertEquals((await vfs.getattr("/outside/keep")).size, 1);
  });
}

Deno.test("a MOVE over a folder whose paths pass the limit deletes the replaced folder whole", async () => {
  const { store, vfs, send } = await world();
  await vfs.mkdir("/home/alice/v");
  const before = await dirKeys(store);
  await overDeep(vfs);
  const res = await send("alice", "MOVE", "/dav/home/alice/v/", {
    headers: { destination: `${ORIGIN}/dav/home/alice/u/`, overwrite: "T" },
  });
  assertEquals(res.status, 204, res.body);
  assertEquals((await vfs.readdir("/home/alice")).entries.map((e) => e.name), ["u"]);
  assertEquals((await vfs.readdir("/home/alice/u")).entries.length, 0);
  assertEquals((await dirKeys(store)).length, before.length);
});

for (const how of ["WebDAV", "HTTP API"] as const) {
  for (
    const where of [
      "a tree whose own paths pass the limit",
      "a tree to where it would pass the limit",
    ]
  ) {
    Deno.test(`a ${how} copy of ${where} is refused and makes nothing`, async () => {
      const { store, vfs, send } = await world();
      let from = "/home/alice/u";
      let to = "/home/alice/c";
      if (where.includes("to where")) {
        const deep = await chain(vfs, "/home/alice/deep", 12);
        await chain(vfs, "/home/alice/u", 7);
        from = "/home/alice/u";
        to = `${deep.at(-3)}/c`;
      } else await overDeep(vfs);
      const before = await dirKeys(store);
      const res = how === "WebDAV"
        ? await send("alice", "COPY", `/dav${from}/`, {
          headers: { destination: `${ORIGIN}/dav${encodeURI(to)}/` },
        })
        : await send("alice", "POST", `/api/v1/fs${from}`, {
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ op: "copy", to }),
        });
      assertEquals(res.status, how === "WebDAV" ? 414 : 400, res.body);
      assert(res.body.includes("ENAMETOOLONG") || how === "WebDAV", res.body);
      assertEquals(await vfs.lookup(to).catch((e) => e.code), "ENOENT");
      assertEquals(await dirKeys(store), before);
    });
  }
}

Deno.test("a COPY staged beside its destination is refused when the destination's name would pass the limit", async () => {
  // The copy is built as `.pagefs-copying-<id>` (about 50 bytes) and then renamed to the
  // destination's name (255 bytes): the paths it ends at are the ones held to the limit.
  const { store, vfs, send } = await world();
  const src = await chain(vfs, "/home/alice/s", 8);
  const deep = await chain(vfs, "/home/alice/d", 7);
  const to = `${deep.at(-1)}/${long("dest")}`;
  const depth = new TextEncoder().encode(src.at(-1)!.slice("/home/alice/s".length) + "/big").length;
  await vfs.writeFile(`${src.at(-1)}/big`, new Uint8Array(1));
  const bytes = (p: string) => new TextEncoder().encode(p).length;
  assert(
    bytes(to) + depth > PATH_MAX &&
      bytes(`${deep.at(-1)}/.pagefs-copying-`) + 40 + depth < PATH_MAX,
  );
  await vfs.mkdir(to);
  await vfs.writeFile(`${to}/old`, new Uint8Array(2));
  const before = await dirKeys(store);
  const res = await send("alice", "COPY", "/dav/home/alice/s/", {
    headers: { destination: `${ORIGIN}/dav${encodeURI(to)}/`, overwrite: "T" },
  });
  assertEquals(res.status, 414, res.body);
  assertEquals((await vfs.readdir(to)).entries.map((e) => e.name), ["old"]);
  assertEquals((await vfs.readdir(deep.at(-1)!)).entries.map((e) => e.name).sort(), [
    long("dest"),
    "f",
  ]);
  assertEquals(await dirKeys(store), before);
});

Deno.test("fsck and GC reach what lies past the limit, and it reads back once moved up", async () => {
  const { store, vfs } = await world();
  const deepest = await overDeep(vfs);
  const report = await fsck(store);
  assert(report.ok, JSON.stringify(report.problems));
  for (let i = 0; i < 2; i++) {
    const swept = await gc(store, { graceMs: 0 });
    assertEquals(swept.blocked, null);
    assertEquals(swept.segments.deleted, 0);
  }
  // Moved back up, every path is within the limit again and the bytes are all there.
  const t = deepest.slice(0, deepest.indexOf("/t/") + 2);
  await vfs.rename(t, "/home/alice/t");
  const back = "/home/alice/t" + deepest.slice(t.length);
  const bytes = await vfs.read(`${back}/big`, 0, 300_000);
  assertEquals(bytes.length, 200_000);
  assert(bytes.every((b) => b === 7));
});

Deno.test("a folder moved out of alice's tree while her delete walks it is left where it went", async () => {
  const { vfs, send } = await world();
  await vfs.mkdir("/home/alice/t/sub/inner", { parents: true });
  await vfs.writeFile("/home/alice/t/a", new Uint8Array(1));
  await vfs.writeFile("/home/alice/t/sub/inner/keep", new Uint8Array(3));
  // Once her walk has listed /home/alice/t, and before it goes into sub, an administrator
  // moves sub out of her folder: her delete must not follow it there.
  const alice = vfs.scoped("/home/alice");
  const readdir = alice.readdir.bind(alice);
  alice.readdir = async (path, options) => {
    if (path === "/home/alice/t/sub") {
      alice.readdir = readdir;
      await vfs.rename("/home/alice/t/sub", "/outside/sub");
    }
    return await readdir(path, options);
  };
  const res = await send("alice", "DELETE", "/dav/home/alice/t/");
  assertEquals(res.status, 204, res.body);
  assertEquals(await vfs.lookup("/home/alice/t").catch((e) => e.code), "ENOENT");
  assertEquals((await vfs.getattr("/outside/sub/inner/keep")).size, 3);
});
