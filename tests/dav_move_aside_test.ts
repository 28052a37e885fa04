// COPY and MOVE over an existing destination that the rename cannot replace in one step (a
// collection, or a file and a collection either way): the destination is moved aside, not
// deleted first, so a source removed by another instance in the window fails the request
// with the destination as it was. Each test runs the other instance's change exactly at the
// step where the source is used, through a hook on the first instance's filesystem.

import { assert, assertEquals } from "./_assert.ts";
import { Dav, davTest, ORIGIN } from "./_dav.ts";
import { type StoreMethod, WrappedStore } from "../src/store/_wrapper.ts";
import { FaultyStore } from "../src/store/fault.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { fsckCommand, leftoversOf } from "./_fsck.ts";

/** Runs `check` before every write this store makes, while `watching`. */
class WatchStore extends WrappedStore {
  watching = false;
  checks = 0;
  check: () => Promise<void> = () => Promise.resolve();

  protected override async call<T>(
    _method: StoreMethod,
    detail: { key?: string; mutating: boolean },
    run: () => Promise<T>,
  ): Promise<T> {
    if (this.watching && detail.mutating) {
      this.checks++;
      await this.check();
    }
    return await run();
  }
}

/**
 * Runs `between` once, right before `dav`'s filesystem first takes `from` away (a rename
 * of it, to its destination or to a name beside it, or the swap that puts it there).
 */
function beforeRenameOf(dav: Dav, from: string, between: () => Promise<void>): void {
  const vfs = dav.vfs;
  const rename = vfs.rename.bind(vfs);
  const renameAside = vfs.renameAside.bind(vfs);
  let first = true;
  const once = async (source: string) => {
    if (!first || source !== from) return;
    first = false;
    await between();
  };
  vfs.rename = async (source, target, options) => {
    await once(source);
    return await rename(source, target, options);
  };
  vfs.renameAside = async (source, target, aside) => {
    await once(source);
    return await renameAside(source, target, aside);
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
 * Makes `<base>/src` and `/dst`, each a file or a collection (a file and a subcollection
 * with a file: a tree COPY reads the subcollection only when it gets there), as `kinds`
 * says. `base` "/in" puts the source in another collection than the destination.
 */
async function makePair(
  dav: Dav,
  kinds: { src: "dir" | "file"; dst: "dir" | "file" },
  base: "" | "/in" = "",
) {
  if (base) assertEquals(await dav.mkcol(base), 201);
  for (const [name, kind] of [["src", kinds.src], ["dst", kinds.dst]] as const) {
    const path = name === "src" ? `${base}/src` : "/dst";
    if (kind === "dir") {
      assertEquals(await dav.mkcol(path), 201);
      assertEquals(await dav.put(`${path}/${name}.txt`, `${name} member`), 201);
      assertEquals(await dav.mkcol(`${path}/sub`), 201);
      assertEquals(await dav.put(`${path}/sub/deep.txt`, `${name} deep`), 201);
    } else assertEquals(await dav.put(path, `${name} file`), 201);
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

function moveOrCopy(
  dav: Dav,
  method: "MOVE" | "COPY",
  headers: Record<string, string> = {},
  from = "/src",
) {
  return dav.send(method, from, {
    headers: { destination: `${ORIGIN}/dav/dst`, overwrite: "T", ...headers },
  });
}

davTest(
  "a MOVE over a collection or across types keeps the destination when the source is deleted meanwhile",
  async (t) => {
    const b = await t.b();
    for (const base of ["", "/in"] as const) {
      for (const kinds of PAIRS) {
        const what = `${base}/src: ${kinds.src} over ${kinds.dst}`;
        await makePair(t.a, kinds, base);
        beforeRenameOf(t.a, `${base}/src`, async () => {
          assertEquals(await b.status("DELETE", `${base}/src`), 204, what);
        });
        const res = await moveOrCopy(t.a, "MOVE", {}, `${base}/src`);
        const text = await res.text();
        assertEquals(res.status, 404, `${what}: ${text}`);
        await assertDestinationIntact(b, kinds.dst, what);
        // Nothing else is left behind (no aside entry).
        assertEquals(await b.members("/"), base ? ["dst", "in"] : ["dst"], what);
        for (const path of ["/dst", base]) {
          if (path) assertEquals(await b.status("DELETE", path), 204);
        }
      }
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
  "a COPY or MOVE over a collection whose If header held before the swap leaves nothing aside",
  async (t) => {
    const b = await t.b();
    for (const method of ["COPY", "MOVE"] as const) {
      await makePair(t.a, { src: "dir", dst: "dir" });
      // The If header is true of the resources before the swap, not after it: a MOVE's
      // token of the lock on its source matches nothing once the move released that lock,
      // and a COPY's entity tag of the destination is that of the collection replaced.
      // Judged again before the deletion of the replaced collection, it stopped that
      // (before: 204 with the replaced collection left at its `.pagefs-replaced-` name,
      // visible to all).
      let condition = `</dav/dst> (["${(await t.a.vfs.lookup("/dst")).etag}"])`;
      if (method === "MOVE") {
        const { status, token } = await t.a.lock("/src");
        assertEquals(status, 200);
        condition = `(<${token}>)`;
      }
      const res = await moveOrCopy(t.a, method, { if: condition });
      assertEquals(res.status, 204, `${method}: ${await res.text()}`);
      assertEquals(await b.members("/"), method === "MOVE" ? ["dst"] : ["dst", "src"], method);
      assertEquals(await b.text("/dst/sub/deep.txt"), "src deep", method);
      for (const path of ["/dst", "/src"]) await b.status("DELETE", path);
    }
  },
);

davTest(
  "a MOVE that fails after taking its source beside the destination puts it back, or keeps it there",
  async (t) => {
    const b = await t.b();
    for (const taken of [false, true]) {
      await makePair(t.a, { src: "dir", dst: "dir" }, "/in");
      // The source is beside the destination, under a staging name; before the swap, the
      // destination is locked through the other instance (and, second time round, the
      // source's old name taken by a new file).
      let staged = "";
      const rename = t.a.vfs.rename.bind(t.a.vfs);
      t.a.vfs.rename = async (from, to, options) => {
        const done = await rename(from, to, options);
        if (from !== "/in/src") return done;
        t.a.vfs.rename = rename;
        staged = to;
        assertEquals((await b.lock("/dst")).status, 200);
        if (taken) assertEquals(await b.put("/in/src", "acknowledged"), 201);
        return done;
      };
      const res = await moveOrCopy(t.a, "MOVE", {}, "/in/src");
      const text = await res.text();
      assertEquals(res.status, 423, text);
      assert(staged.startsWith("/.pagefs-moving-"), staged);
      await assertDestinationIntact(b, "dir", `taken ${taken}`);
      if (!taken) {
        assertEquals(await b.text("/in/src/sub/deep.txt"), "src deep");
        assertEquals(await b.members("/"), ["dst", "in"]);
      } else {
        assertEquals(await b.text("/in/src"), "acknowledged");
        assertEquals(await b.members("/"), [".pagefs-moving-" + staged.slice(16), "dst", "in"]);
        assertEquals(await b.text(`${staged}/sub/deep.txt`), "src deep");
      }
      // Start again from nothing: the lock goes, then everything.
      const locks = await b.vfs.locks.covering("/dst");
      for (const lock of locks) await b.unlock("/dst", lock.token);
      for (const path of ["/dst", "/in", staged]) await b.status("DELETE", path);
    }
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

davTest(
  "a COPY or MOVE over a collection never leaves its destination missing, at any step",
  async (t) => {
    const b = await t.b();
    const watch = new WatchStore(t.store);
    const a = new Dav(await Vfs.open(watch), watch);
    // Every state the store passes through (before each write of the request, and after
    // the last) has something at /dst, as other instances see it.
    watch.check = async () => {
      const there = await b.vfs.fresh(() => b.vfs.lookup("/dst")).then(() => true, () => false);
      assert(there, `/dst missing before write ${watch.checks}`);
    };
    for (const method of ["MOVE", "COPY"] as const) {
      for (const base of ["", "/in"] as const) {
        for (const kinds of PAIRS) {
          const what = `${method} ${base}/src: ${kinds.src} over ${kinds.dst}`;
          await makePair(a, kinds, base);
          watch.watching = true;
          watch.checks = 0;
          const res = await moveOrCopy(a, method, {}, `${base}/src`);
          watch.watching = false;
          assertEquals(res.status, 204, `${what}: ${await res.text()}`);
          assert(watch.checks > 0, what);
          await watch.check();
          for (const path of ["/dst", base || "/src"]) await b.status("DELETE", path);
        }
      }
    }
  },
);

davTest(
  "a COPY over a collection that another instance moves away meanwhile is 409 and changes nothing more",
  async (t) => {
    const b = await t.b();
    assertEquals(await t.a.mkcol("/a"), 201);
    assertEquals(await t.a.put("/a/x", "x"), 201);
    assertEquals(await t.a.put("/c", "c"), 201);
    // The COPY of /c has been built beside /a; before it takes /a's place, /a is moved
    // over /c (the copy's own source) through the other instance.
    const renameAside = t.a.vfs.renameAside.bind(t.a.vfs);
    t.a.vfs.renameAside = async (from, to, aside, options) => {
      t.a.vfs.renameAside = renameAside;
      const moved = await b.send("MOVE", "/a", {
        headers: { destination: `${ORIGIN}/dav/c`, overwrite: "T" },
      });
      assertEquals(moved.status, 204, await moved.text());
      return await renameAside(from, to, aside, options);
    };
    const res = await t.a.send("COPY", "/c", {
      headers: { destination: `${ORIGIN}/dav/a`, overwrite: "T" },
    });
    assertEquals(res.status, 409, await res.text());
    // The MOVE alone happened (before, /a held a copy of /c's old content beside it: no
    // order of the two gives that).
    assertEquals(await b.members("/"), ["c"]);
    assertEquals(await b.text("/c/x"), "x");
  },
);

Deno.test(
  "memory: a MOVE or COPY over a collection that stops at any write keeps source and destination whole",
  async () => {
    /** Where `text` is, among the paths given (the source has one deep file, as does /dst). */
    const holders = async (vfs: Vfs, names: string[], file: string, text: string) => {
      const found: string[] = [];
      for (const name of names) {
        const got = await vfs.read(`/${name}/sub/deep.txt`, 0, 100).catch(() => null);
        if (got && new TextDecoder().decode(got) === text) found.push(name);
      }
      return found.map((name) => `${name}/${file}`);
    };
    for (const method of ["MOVE", "COPY"] as const) {
      for (let crashAt = 1;; crashAt++) {
        const store = new MemoryStore();
        let writes = 0;
        let armed = false;
        const faulty = new FaultyStore(store, {
          plan: (call) =>
            armed && call.mutating && ++writes >= crashAt ? { kind: "fail-before" } : null,
        });
        const a = new Dav(await Vfs.open(faulty), faulty);
        await makePair(a, { src: "dir", dst: "dir" }, "/in");
        armed = true;
        const res = await moveOrCopy(a, method, {}, "/in/src");
        await res.body?.cancel();
        armed = false;
        // What a fresh instance (after the crash) finds.
        const after = await Vfs.open(store);
        // /in first: listing it settles (rolls forward) a rename the crash left in flight.
        const inside = (await after.readdir("/in")).entries.map((e) => `in/${e.name}`);
        const top = (await after.readdir("/")).entries.map((e) => e.name);
        const where = `${method}: crash at write ${crashAt} (${res.status}): ${top}`;
        assert(top.includes("dst"), where);
        const sources = await holders(after, [...top, ...inside], "src", "src deep");
        if (method === "COPY") {
          // The source stays; /dst is the old destination or the whole copy; a copy cut short
          // is at most a leftover beside it.
          assert(sources.includes("in/src/src"), where);
          const olds = await holders(after, ["dst"], "dst", "dst deep");
          assert(olds.length === 1 || sources.includes("dst/src"), where);
          if (res.status === 204) assert(sources.includes("dst/src"), where);
          if (writes >= crashAt) continue;
          assertEquals(res.status, 204, where);
          assert(crashAt > 3, "the COPY made no writes");
          break;
        }
        assertEquals(sources.length, 1, `${where}: the source at ${sources}`);
        if (res.status === 204) {
          assertEquals(sources, ["dst/src"], where);
          // A crash while deleting the replaced collection leaves (part of) it, no more.
          const left = top.filter((n) => n.startsWith(".pagefs-"));
          assert(left.every((n) => n.startsWith(".pagefs-replaced-")), where);
        }
        const olds = await holders(after, top, "dst", "dst deep");
        // The old destination is at its name until the swap; after it, it may be half deleted.
        if (sources[0] !== "dst/src") assertEquals(olds, ["dst/dst"], where);
        if (writes < crashAt) {
          assertEquals(res.status, 204, where);
          assert(crashAt > 3, "the MOVE made no writes");
          break;
        }
      }
    }
  },
);

Deno.test(
  "memory: fsck finds what a MOVE or COPY over a collection stopped at any write leaves, and --repair keeps only a moved source",
  async () => {
    const kindsSeen = new Set<string>();
    for (const method of ["MOVE", "COPY"] as const) {
      for (let crashAt = 1;; crashAt++) {
        const store = new MemoryStore();
        let writes = 0;
        let armed = false;
        const faulty = new FaultyStore(store, {
          plan: (call) =>
            armed && call.mutating && ++writes >= crashAt ? { kind: "fail-before" } : null,
        });
        // fsck runs an hour after the request (fsckCommand): it finds what it left stale.
        const a = new Dav(await Vfs.open(faulty), faulty);
        await makePair(a, { src: "dir", dst: "dir" }, "/in");
        armed = true;
        const res = await moveOrCopy(a, method, {}, "/in/src");
        await res.body?.cancel();
        armed = false;
        const where = `${method}: crash at write ${crashAt} (${res.status})`;

        const check = leftoversOf((await fsckCommand(store)).problems);
        const repair = await fsckCommand(store, ["--repair"]);
        const repaired = leftoversOf(repair.problems);
        // A check and a repair see the same leftovers; the repair removes all but moved sources.
        assertEquals([...repaired.keys()].sort(), [...check.keys()].sort(), where);
        for (const [path, p] of repaired) {
          const kind = path.slice("/.pagefs-".length).split("-")[0]!;
          kindsSeen.add(kind);
          assert(p.detail.includes(kind), `${where}: ${path}: ${p.detail}`);
          assertEquals(p.repaired, kind === "moving" ? undefined : true, `${where}: ${path}`);
        }
        // What a fresh instance finds after the repair: no leftover but moved sources, each
        // reported; the source's data exactly once (MOVE), or still at its name (COPY).
        const after = await Vfs.open(store);
        const inside = (await after.readdir("/in")).entries.map((e) => `in/${e.name}`);
        const top = (await after.readdir("/")).entries.map((e) => e.name);
        const left = top.filter((n) => n.startsWith(".pagefs-"));
        assert(left.every((n) => n.startsWith(".pagefs-moving-")), `${where}: ${top}`);
        const again = leftoversOf((await fsckCommand(store)).problems);
        assertEquals([...again.keys()].sort(), left.map((n) => `/${n}`).sort(), where);
        assert(top.includes("dst"), where);
        const sources: string[] = [];
        for (const name of [...top, ...inside]) {
          const got = await after.read(`/${name}/sub/deep.txt`, 0, 100).catch(() => null);
          if (got && new TextDecoder().decode(got) === "src deep") sources.push(name);
        }
        if (method === "MOVE") assertEquals(sources.length, 1, `${where}: ${sources}`);
        else assert(sources.includes("in/src"), `${where}: ${sources}`);
        if (writes < crashAt) {
          assertEquals(res.status, 204, where);
          break;
        }
      }
    }
    // The crashes left each kind somewhere.
    assertEquals([...kindsSeen].sort(), ["copying", "moving", "replaced"]);
  },
);

davTest("a log line names a path quoted, whatever its names hold", async (t) => {
  const b = await t.b();
  // A source whose name holds a line break: the log line saying where the MOVE keeps it
  // wrote that line break (and whatever followed, as a line of its own) into the log.
  const src = "/in/s\nlevel=error msg=forged";
  assertEquals(await t.a.mkcol("/in"), 201);
  assertEquals(await t.a.mkcol(src), 201);
  assertEquals(await t.a.mkcol("/dst"), 201);
  const rename = t.a.vfs.rename.bind(t.a.vfs);
  t.a.vfs.rename = async (from, to, options) => {
    const done = await rename(from, to, options);
    if (from !== src) return done;
    t.a.vfs.rename = rename;
    // Before the swap: the destination locked, the source's name taken (as above).
    assertEquals((await b.lock("/dst")).status, 200);
    assertEquals(await b.put(src, "taken"), 201);
    return done;
  };
  const warned: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warned.push(args.map(String).join(" "));
  try {
    const res = await moveOrCopy(t.a, "MOVE", {}, src);
    assertEquals(res.status, 423, await res.text());
  } finally {
    console.warn = warn;
  }
  assert(warned.some((line) => line.includes("is kept at")), warned.join("\n"));
  for (const line of warned) assert(!/[\n\r]/.test(line), JSON.stringify(line));
}, { backends: ["memory"] });
