// A directory object that a reader refuses (over PAGEFS_META_DECODE_MIB, written while an
// instance ran with a larger bound; or corrupt) is no evidence that what it names is gone:
// fsck --repair and GC must leave its subtree's objects alone (docs/format.md, "Limits").

import { gunzipSync, gzipSync } from "node:zlib";
import { assert, assertEquals } from "./_assert.ts";
import { fsck } from "../src/format/fsck.ts";
import { gc } from "../src/format/gc.ts";
import { dirKey } from "../src/format/keys.ts";
import type { DirObject } from "../src/format/meta.ts";
import { readAll } from "../src/store/_util.ts";
import { MemoryStore } from "../src/store/memory.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Vfs } from "../src/vfs/mod.ts";

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);

/** Every key in `store`. */
async function allKeys(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for (let cursor: string | null = null;;) {
    const page: Awaited<ReturnType<ObjectStore["list"]>> = await store.list({
      ...(cursor ? { cursor } : {}),
    });
    out.push(...page.objects.map((o) => o.key));
    if (!(cursor = page.cursor)) return out.sort();
  }
}

/**
 * `/x` holding a subfolder with a file, a hard link (its other name outside), a file with
 * a spilled page map and a plain file; then `/x`'s own object rewritten to decode to
 * `decoded` bytes (an xattr of `/x/plain` padded), as an instance with a raised bound
 * could have left it.
 */
async function treeWithLongDir(decoded: number) {
  const store = new MemoryStore();
  const fs = await Vfs.open(store, { spillExtents: 4 });
  await fs.mkdir("/x");
  await fs.mkdir("/x/sub");
  await fs.writeFile("/x/sub/deep", bytes(3000, 1));
  await fs.writeFile("/x/linked", bytes(3000, 2));
  await fs.link("/x/linked", "/outside");
  await fs.writeFile("/x/frag", bytes(100_000, 3));
  for (let i = 1; i <= 8; i++) await fs.write("/x/frag", i * 10_000, bytes(2, 10 + i));
  await fs.writeFile("/x/plain", bytes(3000, 4));
  const expected = new Map<string, Uint8Array>();
  for (const path of ["/x/sub/deep", "/x/linked", "/outside", "/x/frag", "/x/plain"]) {
    expected.set(path, await fs.read(path, 0, 200_000));
  }
  const key = dirKey((await fs.lookup("/x")).ino);
  const got = await store.get(key);
  assert(got?.status === "ok");
  const raw = await readAll(got.body);
  const json = raw[0] === 0x1f ? gunzipSync(raw) : raw;
  const dir = JSON.parse(new TextDecoder().decode(json)) as DirObject;
  assert(dir.entries && !dir.shards, "an unsharded /x");
  const plain = dir.entries["plain"] as unknown as { xattr?: Record<string, string> };
  plain.xattr = { "user.pad": "A".repeat(decoded) };
  await store.put(key, new Uint8Array(gzipSync(JSON.stringify(dir))), {
    contentType: "application/json",
  });
  return { store, expected };
}

/** Reads every file with a bound that takes `/x`'s object. */
async function assertAllReadable(store: ObjectStore, expected: Map<string, Uint8Array>) {
  const rescuer = await Vfs.open(store, { metaDecodeBytes: 64 << 20 });
  for (const [path, want] of expected) {
    assertEquals(await rescuer.read(path, 0, 200_000), want, path);
  }
}

Deno.test("fsck --repair and GC leave alone the subtree of a directory object over the decode bound", async () => {
  const { store, expected } = await treeWithLongDir(33 << 20);
  const before = await allKeys(store);
  const later = Date.now() + 3600_000;
  const report = await fsck(store, { repair: true, now: later, graceMs: 0 });
  assert(!report.ok, "the refused object is reported");
  assert(
    report.problems.some((p) => p.kind === "corrupt-object" && /decodes to more/.test(p.detail)),
    JSON.stringify(report.problems),
  );
  assert(report.blind !== null, "the repairs by reachability are held back");
  for (let i = 0; i < 3; i++) await gc(store, { graceMs: 0, now: later + i });
  const after = new Set(await allKeys(store));
  assertEquals(before.filter((k) => !after.has(k)), [], "objects deleted");
  await assertAllReadable(store, expected);
});

Deno.test("fsck and GC with a raised decode bound read such an object, and find nothing wrong", async () => {
  const { store, expected } = await treeWithLongDir(33 << 20);
  const decodeBytes = 64 << 20;
  const report = await fsck(store, { decodeBytes });
  assert(report.ok, JSON.stringify(report.problems));
  assertEquals(report.blind, null);
  assertEquals(report.counts.files, 4);
  const later = Date.now() + 3600_000;
  for (let i = 0; i < 2; i++) {
    const run = await gc(store, { graceMs: 0, now: later + i, decodeBytes });
    assertEquals(run.blocked, null);
  }
  await assertAllReadable(store, expected);
});
