// Large reads: streamed with a few large ranged GETs in flight ahead of the response, bytes
// identical to what was written (holes, sparse extents, overwrites, a file rewritten while
// it streams), and a disk tier under the page cache that survives restarts, never serves a
// damaged file, stays under its size and never mixes up segments.

import { assert, assertEquals } from "./_assert.ts";
import { contract, pattern } from "./_stores.ts";
import { type StoreMethod, WrappedStore } from "../src/store/_wrapper.ts";
import { PREFIX } from "../src/format/keys.ts";
import { gc } from "../src/format/gc.ts";
import { DISK_BLOCK, DiskCache } from "../src/cache/disk_cache.ts";
import { Vfs } from "../src/vfs/mod.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { readAll } from "../src/store/_util.ts";
import { mount } from "./rest_harness.ts";

const MiB = 1 << 20;

/** Counts GETs of segment objects as they are issued, and the sizes answered. */
class SegmentGets extends WrappedStore {
  gets = 0;
  bytes: number[] = [];

  protected call<T>(
    method: StoreMethod,
    detail: { key?: string },
    run: () => Promise<T>,
  ): Promise<T> {
    if (method !== "get" || !detail.key?.startsWith(PREFIX.segment)) return run();
    // Counted when issued, not when answered: "in flight" is about what was asked for.
    this.gets++;
    return run().then((result) => {
      const r = result as { status?: string; length?: number } | null;
      if (r?.status === "ok") this.bytes.push(r.length!);
      return result;
    });
  }
}

/** Writes `size` bytes of `pattern(seed)` to `path` through a first instance. */
async function bigFile(store: ObjectStore, path: string, size: number, seed = 1) {
  const writer = await Vfs.open(store, { partSize: 5 * MiB });
  const data = pattern(size, seed);
  await writer.writeFile(path, data);
  return data;
}

contract(
  "a large streamed read issues a few large ranged GETs, several in flight",
  async (store) => {
    // Two segments (a write, then another past it): one run of one segment would be
    // passed on as one GET's body (next test).
    const size = 40 * MiB + 12_345;
    const data = await bigFile(store, "/big", 32 * MiB);
    const rest8 = pattern(size - 32 * MiB, 2);
    await (await Vfs.open(store, { partSize: 5 * MiB })).write("/big", 32 * MiB, rest8);
    const whole = new Uint8Array(size);
    whole.set(data);
    whole.set(rest8, 32 * MiB);
    const counted = new SegmentGets(store);
    const reader = await Vfs.open(counted);
    const { body } = await reader.readStream("/big");
    const it = body.getReader();
    const first = await it.read();
    // Before the response has its first chunk, the GETs after it are on their way too.
    assert(counted.gets >= 2, `${counted.gets} GET(s) issued before the first chunk`);
    const rest = await readAll(
      new ReadableStream({
        async pull(c) {
          const next = await it.read();
          if (next.done) c.close();
          else c.enqueue(next.value);
        },
      }),
    );
    assertEquals(first.value!.length + rest.length, size);
    assertEquals(first.value!, whole.subarray(0, first.value!.length));
    assertEquals(rest, whole.subarray(first.value!.length));
    // 16 MiB GETs: two of the first segment, one of the second.
    assertEquals(counted.gets, 3);
    const sizes = [...counted.bytes].sort((a, b) => b - a);
    assert(sizes.slice(0, -1).every((n) => n === 16 * MiB), `GET sizes ${sizes}`);
  },
);

contract(
  "a read of one run of one segment is passed on as one ranged GET's body",
  async (store) => {
    const size = 3 * MiB + 5;
    const data = await bigFile(store, "/one", size);
    const counted = new SegmentGets(store);
    const reader = await Vfs.open(counted);
    const whole = await reader.readStream("/one", { direct: true });
    assert(whole.direct, "a file written in one go was not passed on");
    assertEquals(await readAll(whole.body), data);
    assertEquals([counted.gets, counted.bytes], [1, [size]]);
    const part = await reader.readStream("/one", { offset: 1000, length: 2 * MiB, direct: true });
    assert(part.direct, "a large range of one run was not passed on");
    assertEquals(await readAll(part.body), data.subarray(1000, 1000 + 2 * MiB));
    assertEquals([counted.gets, counted.bytes], [2, [size, 2 * MiB]]);
    // A short range goes through the page cache; a file of several runs is streamed.
    const short = await reader.readStream("/one", { offset: 5, length: 1000, direct: true });
    assert(!short.direct);
    assertEquals(await readAll(short.body), data.subarray(5, 1005));
    const patch = pattern(4096, 9);
    await reader.write("/one", MiB, patch);
    data.set(patch, MiB);
    const patched = await reader.readStream("/one", { direct: true });
    assert(!patched.direct, "a file of three runs was passed on as one GET");
    assertEquals(await readAll(patched.body), data);
  },
);

/** Segment GET bodies end cleanly after half their declared length (a broken proxy). */
class HalfBodies extends WrappedStore {
  protected async call<T>(
    method: StoreMethod,
    detail: { key?: string },
    run: () => Promise<T>,
  ): Promise<T> {
    const result = await run();
    if (method !== "get" || !detail.key?.startsWith(PREFIX.segment)) return result;
    const r = result as { status?: string; length: number; body: ReadableStream<Uint8Array> };
    if (r?.status !== "ok") return result;
    let left = Math.floor(r.length / 2);
    const reader = r.body.getReader();
    const body = new ReadableStream<Uint8Array>({
      async pull(c) {
        const next = await reader.read();
        if (next.done || left <= 0) {
          await reader.cancel();
          return c.close();
        }
        const chunk = next.value.subarray(0, left);
        left -= chunk.length;
        c.enqueue(chunk);
      },
    });
    return { ...r, body } as T;
  }
}

contract(
  "a read not asked for direct checks the GET's length: a body that ends short fails it",
  async (store) => {
    await bigFile(store, "/one", 2 * MiB);
    const reader = await Vfs.open(new HalfBodies(store));
    const { body, direct } = await reader.readStream("/one");
    assert(!direct);
    const failed = await readAll(body).then(() => null, (error) => error);
    assert(failed?.code === "EIO", `a short body read as ${failed}`);
  },
);

contract(
  "a streamed read is byte-identical across holes, sparse extents and overwrites",
  async (store) => {
    const fs = await Vfs.open(store, { partSize: 5 * MiB });
    const size = 12 * MiB + 777;
    const model = new Uint8Array(size + 3 * MiB);
    const base = pattern(size, 3);
    await fs.writeFile("/f", base);
    model.set(base);
    // A sparse extent past the end (a hole in between), small and large overwrites.
    const tail = pattern(700_000, 4);
    await fs.write("/f", size + 2 * MiB + 5, tail);
    model.set(tail, size + 2 * MiB + 5);
    for (
      const [at, len, seed] of [[4096, 4096, 5], [3 * MiB + 1, 300_000, 6], [9 * MiB - 7, 17, 7]]
    ) {
      const bytes = pattern(len!, seed);
      await fs.write("/f", at!, bytes);
      model.set(bytes, at!);
    }
    const end = (await fs.getattr("/f")).size;
    const expected = model.subarray(0, end);
    const fresh = await Vfs.open(store);
    assertEquals(await readAll((await fresh.readStream("/f")).body), expected);
    for (
      const [offset, length] of [[1, 5 * MiB], [MiB - 1, 10 * MiB + 3], [size - 10, 2 * MiB + 20]]
    ) {
      const { body } = await fresh.readStream("/f", { offset: offset!, length: length! });
      assertEquals(await readAll(body), expected.subarray(offset!, offset! + length!));
    }
  },
);

contract(
  "a fragmented file streams its base segment with one GET per 16 MiB, not one per run",
  async (store) => {
    const fs = await Vfs.open(store, { partSize: 5 * MiB });
    const model = pattern(12 * MiB, 21);
    await fs.writeFile("/f", model);
    // Six 4 KiB overwrites, each its own small segment, splitting the base into seven runs.
    for (let i = 0; i < 6; i++) {
      const at = (i + 1) * 1_700_000 - (i * 4096 + 123);
      const bytes = pattern(4096, 30 + i);
      await fs.write("/f", at, bytes);
      model.set(bytes, at);
    }
    const counted = new SegmentGets(store);
    const fresh = await Vfs.open(counted);
    assertEquals(await readAll((await fresh.readStream("/f")).body), model);
    // One GET of the base (12 MiB, gaps of 4 KiB read and dropped), one per overwrite.
    assertEquals(counted.gets, 1 + 6);
    // Stopping early leaves no GET waiting for a part that will never start.
    const { body } = await fresh.readStream("/f");
    const it = body.getReader();
    await it.read();
    await it.cancel();
  },
);

contract(
  "a file rewritten while it streams still streams the version it started",
  async (store) => {
    const fs = await Vfs.open(store, { partSize: 5 * MiB });
    const before = pattern(30 * MiB, 8);
    await fs.writeFile("/f", before);
    const { body } = await fs.readStream("/f");
    const it = body.getReader();
    const first = (await it.read()).value!;
    await fs.writeFile("/f", pattern(30 * MiB, 9));
    const chunks = [first];
    for (let n = await it.read(); !n.done; n = await it.read()) chunks.push(n.value);
    assertEquals(await readAll(ReadableStream.from(chunks)), before);
  },
);

// The disk tier.

/** A temporary cache directory; `open` opens a cache on it (a process starting). */
async function withDir(
  fn: (dir: string, open: (maxBytes?: number) => Promise<DiskCache>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pagefs-disk-" });
  const opened: DiskCache[] = [];
  const open = async (maxBytes = 64 * MiB) => {
    const cache = await DiskCache.open({ dir, maxBytes });
    opened.push(cache);
    return cache;
  };
  try {
    await fn(dir, open);
  } finally {
    // Block writes run in the background: let them finish before the directory goes.
    for (const cache of opened) await cache.flush();
    await Deno.remove(dir, { recursive: true });
  }
}

contract("disk-cached blocks survive a restart: a re-read costs no segment GET", async (store) => {
  await withDir(async (_dir, open) => {
    const size = 6 * MiB + 100;
    const data = await bigFile(store, "/big", size);
    const disk = await open();
    const first = await Vfs.open(store, { diskCache: disk });
    assertEquals(await readAll((await first.readStream("/big")).body), data);
    await disk.flush();
    assertEquals(disk.stats().files, 7);
    // A new process: a new cache on the same directory, a new instance.
    const counted = new SegmentGets(store);
    const second = await Vfs.open(counted, {
      diskCache: await open(),
    });
    assertEquals(await readAll((await second.readStream("/big")).body), data);
    assertEquals(counted.gets, 0);
  });
});

contract(
  "a truncated or corrupt disk-cache file is a miss: the bytes come from S3",
  async (store) => {
    await withDir(async (dir, open) => {
      const size = 4 * MiB;
      const data = await bigFile(store, "/big", size);
      const disk = await open();
      await readAll((await (await Vfs.open(store, { diskCache: disk })).readStream("/big")).body);
      await disk.flush();
      const files = [];
      for await (const e of Deno.readDir(dir)) if (e.isFile) files.push(`${dir}/${e.name}`);
      files.sort();
      assertEquals(files.length, 4);
      // One cut short, one with a flipped byte in the middle, one zeroed (same size).
      await Deno.truncate(files[0]!, 1000);
      const flipped = await Deno.readFile(files[1]!);
      flipped[600_001]! ^= 0x40;
      await Deno.writeFile(files[1]!, flipped);
      await Deno.writeFile(files[2]!, new Uint8Array(flipped.length));
      const counted = new SegmentGets(store);
      const restarted = await open();
      const fs = await Vfs.open(counted, { diskCache: restarted });
      assertEquals(await readAll((await fs.readStream("/big")).body), data);
      // The truncated file is known short from its size; the other two were read and refused.
      assertEquals(restarted.stats().corrupt, 2);
      assertEquals(restarted.stats().hits, 1);
      assert(counted.gets >= 3, `${counted.gets} GETs`);
    });
  },
  { backends: ["memory"] },
);

contract(
  "the disk cache evicts least recently used blocks to stay under its size",
  async (store) => {
    await withDir(async (dir, open) => {
      const max = 5 * (DISK_BLOCK + 16);
      const disk = await open(max);
      const fs = await Vfs.open(store, { diskCache: disk });
      for (const name of ["a", "b", "c"]) {
        await bigFile(store, `/${name}`, 3 * MiB, name.charCodeAt(0));
        await readAll((await fs.readStream(`/${name}`)).body);
        await disk.flush();
        let bytes = 0;
        for await (const e of Deno.readDir(dir)) {
          if (e.isFile) bytes += (await Deno.stat(`${dir}/${e.name}`)).size;
        }
        assert(bytes <= max, `${bytes} bytes on disk, more than ${max}`);
        assertEquals(disk.stats().bytes, bytes);
      }
      assertEquals(disk.stats().files, 5);
      assertEquals(disk.stats().evictions, 4);
      // The newest file is whole on disk: reading it again costs no GET.
      const counted = new SegmentGets(store);
      const again = await Vfs.open(counted, { diskCache: disk });
      assertEquals(await readAll((await again.readStream("/c")).body), pattern(3 * MiB, 99));
      assertEquals(counted.gets, 0);
    });
  },
  { backends: ["memory"] },
);

contract(
  "a segment GC deleted is never served from the disk cache for another one",
  async (store) => {
    await withDir(async (_dir, open) => {
      const disk = await open();
      const fs = await Vfs.open(store, { diskCache: disk, partSize: 5 * MiB });
      const old = pattern(3 * MiB, 11);
      await fs.writeFile("/f", old);
      assertEquals(await readAll((await fs.readStream("/f")).body), old);
      await disk.flush();
      assertEquals(disk.stats().files, 3);
      await fs.unlink("/f");
      // Two GC runs a grace apart delete the unreferenced segment.
      await gc(store, { now: Date.now() });
      await gc(store, { now: Date.now() + 11 * 60_000 });
      assertEquals((await store.list({ prefix: PREFIX.segment })).objects.length, 0);
      const fresh = pattern(3 * MiB, 12);
      await fs.writeFile("/f", fresh);
      assertEquals(await readAll((await fs.readStream("/f")).body), fresh);
      const restarted = await Vfs.open(store, {
        diskCache: await open(),
      });
      assertEquals(await readAll((await restarted.readStream("/f")).body), fresh);
    });
  },
);

Deno.test({
  name: "an HTTP answer passed on from a GET that ends short fails at the client, never ends clean",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const store = new MemoryStore();
    await bigFile(store, "/one", 2 * MiB);
    const app = mount(await Vfs.open(new HalfBodies(store)));
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
    try {
      const res = await fetch(`http://127.0.0.1:${server.addr.port}/api/v1/fs/one`);
      assertEquals(res.headers.get("content-length"), String(2 * MiB));
      const got = await res.bytes().then((b) => `${b.length} bytes`, (e) => `error ${e}`);
      assert(got.startsWith("error"), `the client read ${got} as a whole answer`);
    } finally {
      await server.shutdown();
    }
  },
});
