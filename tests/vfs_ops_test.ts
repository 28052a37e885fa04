// Properties of VFS operations that the design promises, checked by counting the requests
// the metrics wrapper sees, on memory and on real S3.

import { assert, assertEquals } from "./_assert.ts";
import { contract, pattern } from "./_stores.ts";
import { FaultyStore, MeteredStore, type ObjectStore, StoreMetrics } from "../src/store/mod.ts";
import { isFsError, Vfs, type VfsOptions } from "../src/vfs/mod.ts";
import { dirKey, newId, PREFIX } from "../src/format/keys.ts";
import { checkDir, type DirObject } from "../src/format/meta.ts";
import { MetaStore } from "../src/format/cas.ts";
import { Directories, shardIdsOf } from "../src/format/dir.ts";

const WRITE_OPS = [
  "PutObject",
  "DeleteObject",
  "DeleteObjects",
  "CreateMultipartUpload",
  "UploadPart",
  "CompleteMultipartUpload",
] as const;

function vfsTest(
  name: string,
  fn: (t: { fs: Vfs; metrics: StoreMetrics; store: ObjectStore }) => Promise<void>,
  options: VfsOptions = {},
) {
  contract(name, async (inner) => {
    const metrics = new StoreMetrics();
    const store = new MeteredStore(inner, metrics);
    await fn({ fs: await Vfs.open(store, options), metrics, store });
  }, { backends: ["memory", "s3"] });
}

/** Requests made by `fn`: all, and the writing ones. */
async function counted(metrics: StoreMetrics, fn: () => Promise<unknown>) {
  const before = metrics.snapshot();
  await fn();
  const after = metrics.snapshot();
  const delta = (op: string) =>
    ((after.requests as Record<string, number>)[op] ?? 0) -
    ((before.requests as Record<string, number>)[op] ?? 0);
  return {
    writes: WRITE_OPS.reduce((n, op) => n + delta(op), 0),
    gets: delta("GetObject"),
    up: after.uploadBytes - before.uploadBytes,
  };
}

vfsTest("creating a 1 KiB file is one write; a 64 KiB file is two", async ({ fs, metrics }) => {
  await fs.mkdir("/d");
  const small = await counted(metrics, () => fs.writeFile("/d/a", pattern(1024)));
  assertEquals(small.writes, 1);
  const larger = await counted(metrics, () => fs.writeFile("/d/b", pattern(65536)));
  assertEquals(larger.writes, 2);
  assertEquals(await fs.read("/d/a", 0, 2000), pattern(1024));
  assertEquals(await fs.read("/d/b", 0, 70000), pattern(65536));
});

vfsTest(
  "a partial overwrite uploads only its bytes and reads no old data",
  async ({ fs, metrics }) => {
    const data = pattern(256 * 1024, 3);
    await fs.writeFile("/f", data);
    // A cold instance (nothing cached) that records which objects it reads.
    const reads: string[] = [];
    const recording = new FaultyStore(fs.store, {
      plan: (call) => {
        if (call.op === "GetObject") reads.push(call.key ?? "");
        return null;
      },
    });
    const fresh = await Vfs.open(recording);
    reads.length = 0;
    const patch = pattern(10, 9);
    const cost = await counted(metrics, () => fresh.write("/f", 100_000, patch));
    assertEquals(cost.writes, 2); // the new bytes' segment and one CAS of the entry
    assert(cost.up < 4096, `uploaded ${cost.up} bytes`);
    assertEquals(reads.filter((key) => !key.startsWith(PREFIX.dir)), [], "only metadata read");
    data.set(patch, 100_000);
    assertEquals(await fresh.read("/f", 0, data.length), data);
  },
);

vfsTest("holes read as zeros and a shrink never resurrects old bytes", async ({ fs }) => {
  await fs.writeFile("/h", pattern(5000, 4));
  await fs.truncate("/h", 100);
  await fs.truncate("/h", 9000);
  await fs.write("/h", 20_000, new Uint8Array([7]));
  const got = await fs.read("/h", 0, 30_000);
  assertEquals(got.length, 20_001);
  assertEquals(got.subarray(0, 100), pattern(5000, 4).subarray(0, 100));
  assert(got.subarray(100, 20_000).every((b) => b === 0), "zeros after the shrink");
  assertEquals(got[20_000], 7);
});

vfsTest(
  "copy shares data: no bytes uploaded, and the copies diverge on write",
  async ({ fs, metrics }) => {
    await fs.writeFile("/src", pattern(300_000, 5));
    const cost = await counted(metrics, () => fs.copy("/src", "/dst"));
    assertEquals(cost.writes, 1);
    assert(cost.up < 2000, `uploaded ${cost.up} bytes`);
    await fs.write("/dst", 0, new Uint8Array(10));
    assertEquals(await fs.read("/src", 0, 300_000), pattern(300_000, 5));
    const dst = await fs.read("/dst", 0, 300_000);
    assert(dst.subarray(0, 10).every((b) => b === 0));
    assertEquals(dst.subarray(10), pattern(300_000, 5).subarray(10));
  },
);

vfsTest(
  "a streamed write larger than a part goes out as a multipart segment",
  async ({ fs, metrics }) => {
    const size = 12 * 1024 * 1024 + 5;
    const data = pattern(size, 6);
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(c) {
        if (at >= size) return c.close();
        c.enqueue(data.subarray(at, at + 100_000));
        at += 100_000;
      },
    });
    await fs.writeFile("/big", body);
    const requests = metrics.snapshot().requests;
    assertEquals(requests.CompleteMultipartUpload, 1);
    assertEquals(requests.UploadPart, 3); // 5 MiB parts: 5 + 5 + 2
    const { body: out } = await fs.readStream("/big");
    let n = 0;
    for await (const chunk of out) {
      assertEquals(chunk, data.subarray(n, n + chunk.length));
      n += chunk.length;
    }
    assertEquals(n, size);
  },
  { partSize: 5 * 1024 * 1024 },
);

vfsTest("a large directory splits into shards and stays complete", async ({ fs, store }) => {
  await fs.mkdir("/big");
  const names = Array.from({ length: 300 }, (_, i) => `n${i}`);
  await Promise.all(names.map((n) => fs.writeFile(`/big/${n}`, new Uint8Array(1))));
  const ino = (await fs.lookup("/big")).ino;
  const dir = await new MetaStore(store).read<DirObject>(dirKey(ino), checkDir);
  assert((shardIdsOf(dir!.value)?.length ?? 0) >= 4, "the directory is sharded");
  const listed = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await fs.readdir("/big", { limit: 70, ...(cursor ? { cursor } : {}) });
    listed.push(...page.entries.map((e) => e.name));
    if (!page.cursor) break;
    cursor = page.cursor;
  }
  assertEquals(listed, [...names].sort());
  await fs.unlink("/big/n7");
  await fs.rename("/big/n8", "/big/renamed");
  assertEquals(await fs.read("/big/renamed", 0, 1), new Uint8Array(1));
  assertEquals((await fs.readdir("/big")).entries.length, 299);
  const error = await fs.lookup("/big/n7").catch((e) => e);
  assert(isFsError(error, "ENOENT"));
}, { dirLimits: { maxEntries: 50 } });

vfsTest(
  "renames cost one write within a directory and at most four across, plus two for a directory",
  async ({ fs, metrics }) => {
    await fs.mkdir("/a");
    await fs.mkdir("/b");
    await fs.writeFile("/a/f", pattern(5000));
    await fs.mkdir("/a/sub");
    await fs.writeFile("/a/sub/x", pattern(10));
    assertEquals((await counted(metrics, () => fs.rename("/a/f", "/a/g"))).writes, 1);
    assertEquals((await counted(metrics, () => fs.rename("/a/g", "/b/g"))).writes, 3);
    // A directory's rename also bumps the namespace epoch before and after (docs/format.md).
    assertEquals((await counted(metrics, () => fs.rename("/a/sub", "/b/sub"))).writes, 4 + 2);
    await fs.mkdir("/a/dir");
    // A directory's rename within a directory goes through the intent too (intent, target,
    // source), so that an rmdir of it meets the intent: 3 + 2.
    assertEquals((await counted(metrics, () => fs.rename("/a/dir", "/a/dir2"))).writes, 3 + 2);
    assertEquals(await fs.read("/b/g", 0, 5000), pattern(5000));
    assertEquals(await fs.read("/b/sub/x", 0, 10), pattern(10));
    assertEquals((await fs.readdir("/a")).entries.map((e) => e.name), ["dir2"]);
  },
);

vfsTest("another instance sees each change on its next operation", async ({ fs }) => {
  const other = await Vfs.open(fs.store);
  await fs.writeFile("/seen", pattern(10));
  assertEquals((await other.getattr("/seen")).size, 10);
  await other.write("/seen", 10, pattern(5));
  assertEquals((await fs.getattr("/seen")).size, 15);
  await fs.rename("/seen", "/moved");
  assert(isFsError(await other.getattr("/seen").catch((e) => e), "ENOENT"));
  assertEquals((await other.read("/moved", 0, 100)).length, 15);
});

vfsTest("concurrent appends from two instances all land", async ({ fs }) => {
  const other = await Vfs.open(fs.store);
  await fs.writeFile("/log", new TextEncoder().encode("x"));
  const pieces = Array.from({ length: 6 }, (_, i) => `<${i}>`);
  await Promise.all(
    pieces.map((p, i) => (i % 2 ? other : fs).append("/log", new TextEncoder().encode(p))),
  );
  const text = new TextDecoder().decode(await fs.read("/log", 0, 1000));
  assertEquals(text.length, 1 + pieces.join("").length);
  assert(text.startsWith("x"));
  for (const p of pieces) assert(text.includes(p), `${p} in ${text}`);
});

vfsTest("mkdir with parents accepts the root and existing directories", async ({ fs }) => {
  assertEquals((await fs.mkdir("/", { parents: true })).type, "directory");
  await fs.mkdir("/p/q/r", { parents: true });
  assertEquals((await fs.mkdir("/p/q", { parents: true })).type, "directory");
  assert(isFsError(await fs.mkdir("/").catch((e) => e), "EEXIST"));
});

vfsTest(
  "small writes to a fragmented file upload less than twice their bytes",
  async ({ fs, metrics }) => {
    const size = 8 * 1024 * 1024;
    const reference = pattern(size, 11);
    await fs.writeFile("/frag", reference);
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const before = metrics.snapshot().uploadBytes;
    for (let i = 0; i < 300; i++) {
      const offset = Math.floor(next() * (size - 4096));
      const block = pattern(4096, 100 + i);
      await fs.write("/frag", offset, block);
      reference.set(block, offset);
    }
    const uploaded = metrics.snapshot().uploadBytes - before;
    assert(uploaded < 2 * 300 * 4096, `uploaded ${uploaded} bytes for ${300 * 4096}`);
    assertEquals(await fs.read("/frag", 0, size), reference);
    assertEquals(await (await Vfs.open(fs.store)).read("/frag", 0, size), reference);
  },
);

let clock = Date.now();
vfsTest(
  "a directory left marked by an rmdir that died is reopened after the lease",
  async ({ fs, store }) => {
    await fs.mkdir("/d");
    const ino = (await fs.lookup("/d")).ino;
    const dirs = new Directories(new MetaStore(store));
    // A mark: an rmdir in progress; the directory takes no new entries.
    const mark = newId();
    assertEquals(await dirs.markRemoving(ino, mark), "marked");
    assert(isFsError(await fs.writeFile("/d/x", pattern(3)).catch((e) => e), "ENOENT"));
    // Still there a lease later by this instance's own clock: its rmdir died (or hangs,
    // and can no longer make its removal final); the instance reopens the directory.
    clock += 31_000;
    await fs.writeFile("/d/x", pattern(3));
    assertEquals(await fs.read("/d/x", 0, 10), pattern(3));
    assertEquals(await dirs.tombstone(ino, mark), false, "the dead rmdir cannot finish");
  },
  { now: () => clock },
);

{
  let clock = 1_700_000_000_000;
  vfsTest(
    "a sharded directory's mtime and ETag move with each entry added or removed",
    async ({ fs }) => {
      await fs.mkdir("/big");
      for (let i = 0; i < 40; i++) await fs.writeFile(`/big/n${i}`, pattern(10));
      const stats = async () => {
        const own = await fs.getattr("/big");
        const listed = (await fs.readdir("/")).entries.find((e) => e.name === "big")!.stat;
        assertEquals(listed.mtime, own.mtime, "the parent's listing shows another mtime");
        assertEquals(listed.etag, own.etag);
        return own;
      };
      const before = await stats();
      clock += 5_000;
      await fs.writeFile("/big/new", pattern(10));
      const created = await stats();
      assertEquals(created.mtime, clock, "a create in a shard did not move the directory's mtime");
      assert(created.etag !== before.etag, "nor its ETag");
      clock += 5_000;
      await fs.unlink("/big/n3");
      const removed = await stats();
      assertEquals(removed.mtime, clock);
      assertEquals(removed.ctime, clock);
      assert(removed.etag !== created.etag);
      clock += 5_000;
      // A file's own write changes the file, not the directory.
      await fs.writeFile("/big/n4", pattern(20));
      assertEquals((await stats()).mtime, removed.mtime);
    },
    { dirLimits: { maxEntries: 8 }, now: () => clock },
  );
}

vfsTest(
  "`lookupOrNull()` and `getattrOrNull()` answer null for an absent name, ENOENT for an absent directory",
  async ({ fs }) => {
    await fs.mkdir("/d");
    await fs.writeFile("/d/f", new TextEncoder().encode("abc"));
    await fs.symlink("/d/f", "/d/to-f");
    await fs.symlink("/d/nowhere", "/d/dangling");
    assertEquals(await fs.lookupOrNull("/d/missing"), null);
    assertEquals(await fs.getattrOrNull("/d/missing"), null);
    assertEquals((await fs.lookupOrNull("/d/f"))?.size, 3);
    assertEquals((await fs.lookupOrNull("/d"))?.type, "directory");
    assertEquals((await fs.lookupOrNull("/d/to-f"))?.type, "symlink");
    assertEquals((await fs.getattrOrNull("/d/to-f"))?.size, 3);
    assertEquals((await fs.lookupOrNull("/d/dangling"))?.type, "symlink");
    assertEquals(await fs.getattrOrNull("/d/dangling"), null);
    // As lookup and getattr do, with null in place of their ENOENT for the last name.
    const code = (p: Promise<unknown>) => p.then(() => "ok", (e) => isFsError(e) ? e.code : e);
    assertEquals(await code(fs.lookup("/d/missing")), "ENOENT");
    assertEquals(await code(fs.getattr("/d/dangling")), "ENOENT");
    assertEquals(await code(fs.lookupOrNull("/no-dir/x")), "ENOENT");
    assertEquals(await code(fs.getattrOrNull("/d/f/x")), "ENOTDIR");
  },
);

vfsTest(
  "an exclusive create onto a symlink, dangling or not, is EEXIST and leaves the link",
  async ({ fs }) => {
    // O_CREAT|O_EXCL does not follow a final symlink (POSIX open()): the name is taken.
    await fs.writeFile("/f", new TextEncoder().encode("abc"));
    await fs.symlink("/f", "/to-f");
    await fs.symlink("/nowhere", "/dangling");
    const code = (p: Promise<unknown>) => p.then(() => "ok", (e) => isFsError(e) ? e.code : e);
    const data = new TextEncoder().encode("new");
    assertEquals(await code(fs.writeFile("/to-f", data, { exclusive: true })), "EEXIST");
    assertEquals(await code(fs.writeFile("/dangling", data, { exclusive: true })), "EEXIST");
    assertEquals(await fs.readlink("/dangling"), "/nowhere");
    assertEquals(new TextDecoder().decode(await fs.read("/f", 0, 10)), "abc");
  },
);
