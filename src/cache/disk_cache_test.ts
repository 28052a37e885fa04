import { assertEquals } from "../../tests/_assert.ts";
import { DISK_BLOCK, DiskCache } from "./disk_cache.ts";

async function withCache(fn: (cache: DiskCache, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pagefs-disk-unit-" });
  const cache = await DiskCache.open({ dir, maxBytes: 8 * DISK_BLOCK });
  try {
    await fn(cache, dir);
  } finally {
    await cache.flush();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("`put()` of a block already queued writes it once and counts its bytes once", async () => {
  await withCache(async (cache, dir) => {
    const block = new Uint8Array(1000).fill(3);
    cache.put("seg", 0, block);
    cache.put("seg", 0, block);
    await cache.flush();
    assertEquals([cache.stats().files, cache.stats().writes, cache.stats().bytes], [1, 1, 1016]);
    let files = 0;
    for await (const e of Deno.readDir(dir)) if (e.isFile) files++;
    assertEquals(files, 1);
  });
});

Deno.test("`flush()` waits for background jobs, run one at a time", async () => {
  await withCache(async (cache) => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => release = resolve);
    cache.background(async () => {
      order.push("a start");
      await gate;
      await cache.write("seg", 1, new Uint8Array(10).fill(1));
      order.push("a end");
    });
    cache.background(async () => {
      order.push("b");
    });
    assertEquals(cache.stats().pending, 2);
    let flushed = false;
    const flush = cache.flush().then(() => flushed = true);
    await Promise.resolve();
    assertEquals([flushed, order], [false, ["a start"]]);
    release();
    await flush;
    assertEquals(order, ["a start", "a end", "b"]);
    assertEquals([cache.stats().pending, cache.stats().files], [0, 1]);
    assertEquals((await cache.get("seg", 1, 10))?.[9], 1);
  });
});
