// Large reads with the disk tier (PAGEFS_CACHE_DIR): a cold read of one run is passed on as
// one GET's body and fills the tier only once it was sent; a re-read the tier holds (ranges
// that cut blocks included) makes no segment GET; a damaged block file is read from S3; a
// file rewritten since its blocks were cached reads its new bytes.

import { assert, assertEquals } from "./_assert.ts";
import { contract, pattern } from "./_stores.ts";
import { type StoreMethod, WrappedStore } from "../src/store/_wrapper.ts";
import { PREFIX } from "../src/format/keys.ts";
import { DiskCache } from "../src/cache/disk_cache.ts";
import { Vfs } from "../src/vfs/mod.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { createApp } from "../src/app.ts";
import { StoreMetrics } from "../src/store/mod.ts";
import { Telemetry } from "../src/observe/mod.ts";

const MiB = 1 << 20;

/** Counts GETs of segment objects. */
class SegmentGets extends WrappedStore {
  gets = 0;

  protected call<T>(
    method: StoreMethod,
    detail: { key?: string },
    run: () => Promise<T>,
  ): Promise<T> {
    if (method === "get" && detail.key?.startsWith(PREFIX.segment)) this.gets++;
    return run();
  }
}

async function readAll(body: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** Writes `size` bytes of `pattern(seed)` to `path` in one go (one segment). */
async function bigFile(store: ObjectStore, path: string, size: number, seed = 1) {
  const data = pattern(size, seed);
  await (await Vfs.open(store, { partSize: 5 * MiB })).writeFile(path, data);
  return data;
}

/** A temporary tier directory; `open` opens a cache on it (a process starting). */
async function withTier(
  fn: (dir: string, open: (maxBytes?: number) => Promise<DiskCache>) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pagefs-tier-" });
  const opened: DiskCache[] = [];
  try {
    await fn(dir, async (maxBytes = 64 * MiB) => {
      const cache = await DiskCache.open({ dir, maxBytes });
      opened.push(cache);
      return cache;
    });
  } finally {
    for (const cache of opened) await cache.flush();
    await Deno.remove(dir, { recursive: true });
  }
}

contract(
  "a cold read with a disk tier is passed on as one GET's body and fills the tier once sent",
  async (store) => {
    await withTier(async (_dir, open) => {
      const size = 6 * MiB + 100;
      const data = await bigFile(store, "/big", size);
      const disk = await open();
      const counted = new SegmentGets(store);
      const fs = await Vfs.open(counted, { diskCache: disk });
      const cold = await fs.readStream("/big", { direct: true });
      assert(cold.direct, "a cold read with a disk tier was not passed on as the GET's body");
      assertEquals(await readAll(cold.body), data);
      assertEquals(counted.gets, 1);
      // Nothing is filled until the answer was sent: the fill competes with no reader.
      await disk.flush();
      assertEquals(disk.stats().files, 0);
      cold.sent!();
      await disk.flush();
      assertEquals(disk.stats().files, 7);
      // The fill: one more GET (up to 16 MiB of whole blocks each).
      assertEquals(counted.gets, 2);
      const again = await fs.readStream("/big", { direct: true });
      assert(!again.direct, "a read the tier holds went to S3");
      assertEquals(await readAll(again.body), data);
      assertEquals(counted.gets, 2);
      assertEquals(disk.stats().hits, 7);
    });
  },
);

contract(
  "a re-read whose ends cut blocks the disk tier holds makes no segment GET",
  async (store) => {
    await withTier(async (_dir, open) => {
      const size = 5 * MiB;
      const data = await bigFile(store, "/big", size);
      const disk = await open();
      // Filled by a read that streams (an in-process reader: zip, tus).
      await readAll((await (await Vfs.open(store, { diskCache: disk })).readStream("/big")).body);
      await disk.flush();
      assertEquals(disk.stats().files, 5);
      const counted = new SegmentGets(store);
      const fs = await Vfs.open(counted, { diskCache: disk });
      const ranges: [number, number][] = [[1000, 3 * MiB + 7], [MiB + 1, MiB - 2], [
        4 * MiB - 5,
        10,
      ]];
      for (const [offset, length] of ranges) {
        const part = await fs.readStream("/big", { offset, length, direct: true });
        assertEquals(await readAll(part.body), data.subarray(offset, offset + length));
      }
      assertEquals(counted.gets, 0);
    });
  },
);

contract(
  "a damaged block file met by a re-read is read from S3, the rest from the tier",
  async (store) => {
    await withTier(async (dir, open) => {
      const size = 4 * MiB;
      const data = await bigFile(store, "/big", size);
      const first = await open();
      const cold = await (await Vfs.open(store, { diskCache: first })).readStream("/big", {
        direct: true,
      });
      await readAll(cold.body);
      cold.sent!();
      await first.flush();
      const files = [];
      for await (const e of Deno.readDir(dir)) if (e.isFile) files.push(`${dir}/${e.name}`);
      files.sort();
      assertEquals(files.length, 4);
      const flipped = await Deno.readFile(files[2]!);
      flipped[300_001]! ^= 0x08;
      await Deno.writeFile(files[2]!, flipped);
      // A new process: files an earlier run left are checked on their first read.
      const restarted = await open();
      const counted = new SegmentGets(store);
      const fs = await Vfs.open(counted, { diskCache: restarted });
      const again = await fs.readStream("/big", { direct: true });
      assertEquals(await readAll(again.body), data);
      assertEquals([restarted.stats().corrupt, restarted.stats().hits, counted.gets], [1, 3, 1]);
    });
  },
  { backends: ["memory"] },
);

contract(
  "a file rewritten since its blocks were cached reads its new bytes",
  async (store) => {
    await withTier(async (_dir, open) => {
      const size = 3 * MiB;
      await bigFile(store, "/f", size, 1);
      const disk = await open();
      const fs = await Vfs.open(store, { diskCache: disk, partSize: 5 * MiB });
      const cold = await fs.readStream("/f", { direct: true });
      await readAll(cold.body);
      cold.sent!();
      await disk.flush();
      assertEquals(disk.stats().files, 3);
      const fresh = pattern(size, 2);
      await fs.writeFile("/f", fresh);
      assertEquals(await readAll((await fs.readStream("/f", { direct: true })).body), fresh);
      const part = await fs.readStream("/f", { offset: 10, length: MiB, direct: true });
      assertEquals(await readAll(part.body), fresh.subarray(10, 10 + MiB));
    });
  },
);

contract(
  "a GET through the HTTP API fills the disk tier once answered; the next GET makes no segment GET",
  async (store) => {
    await withTier(async (_dir, open) => {
      const size = 3 * MiB + 1;
      const data = await bigFile(store, "/big", size);
      const disk = await open();
      const counted = new SegmentGets(store);
      const vfs = await Vfs.open(counted, { diskCache: disk });
      const telemetry = new Telemetry();
      const app = createApp({
        store: counted,
        metrics: new StoreMetrics(),
        vfs,
        auth: null,
        telemetry,
      });
      for (const url of ["/api/v1/fs/big", "/dav/big"]) {
        const res = await app.request("http://localhost" + url);
        assertEquals(res.status, 200);
        assertEquals(await res.bytes(), data);
        await disk.flush();
      }
      assertEquals(disk.stats().files, 4);
      // Cold GET, the fill's GET; the second GET came from the tier.
      assertEquals(counted.gets, 2);
      const metrics = await (await app.request("http://localhost/metrics")).text();
      assert(/^pagefs_disk_cache_hits_total 4$/m.test(metrics), metrics);
      assert(/^pagefs_disk_cache_pending 0$/m.test(metrics), metrics);
    });
  },
  { backends: ["memory"] },
);

contract(
  "a fill after a direct read stops at half the disk tier's size",
  async (store) => {
    await withTier(async (_dir, open) => {
      const data = await bigFile(store, "/big", 9 * MiB);
      const disk = await open(4 * MiB + 64);
      const counted = new SegmentGets(store);
      const fs = await Vfs.open(counted, { diskCache: disk });
      const cold = await fs.readStream("/big", { offset: 1, direct: true });
      assertEquals(await readAll(cold.body), data.subarray(1));
      cold.sent!();
      await disk.flush();
      // Blocks 1 and 2 (block 0 was read in part), with one GET; none evicted.
      assertEquals([disk.stats().files, disk.stats().evictions, counted.gets], [2, 0, 2]);
      const part = await fs.readStream("/big", { offset: MiB, length: 2 * MiB, direct: true });
      assertEquals(await readAll(part.body), data.subarray(MiB, 3 * MiB));
      assertEquals(counted.gets, 2);
    });
  },
  { backends: ["memory"] },
);

contract(
  "a GET whose client stops reading does not fill the disk tier",
  async (store) => {
    await withTier(async (_dir, open) => {
      await bigFile(store, "/big", 3 * MiB);
      const disk = await open();
      const vfs = await Vfs.open(store, { diskCache: disk });
      const app = createApp({ store, metrics: new StoreMetrics(), vfs, auth: null });
      const res = await app.request("http://localhost/api/v1/fs/big");
      const reader = res.body!.getReader();
      assert(!(await reader.read()).done);
      await reader.cancel();
      await disk.flush();
      assertEquals(disk.stats().files, 0);
    });
  },
  { backends: ["memory"] },
);
