/**
 * Heap per directory entry: what an instance that fills a directory (the writer) and one
 * that only lists it (the lister) keep of each entry, in V8's heap after a full collection.
 * V8 lets its heap grow to about twice what is live before it collects, so each byte here
 * costs about two of RSS in a server (docs/architecture.md, memory).
 *
 * `deno run --allow-all --v8-flags=--expose-gc bench/heap_probe.ts [entries] [--json]`
 * (default 20,000 entries). The writer creates one-byte files in one directory through
 * the VFS, 16 at a time with names spread (as `bench/dir_memory.ts` does over WebDAV), on
 * a memory store; the store's own bytes are in the writer's figure (about 40 B an entry).
 * Stable to about 1% from run to run. `tests/dir_memory_test.ts` runs it.
 *
 * @module
 */

import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/vfs.ts";

/** What the probe prints with `--json`. */
export interface HeapProbe {
  entries: number;
  /** Heap the writer added per entry, bytes. */
  writer: number;
  /** Heap a listing by a second instance added per entry, bytes. */
  lister: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("Run with --v8-flags=--expose-gc");
const used = () => {
  gc();
  gc();
  return Deno.memoryUsage().heapUsed;
};

const count = Number(Deno.args.find((a) => !a.startsWith("--")) ?? 20_000);
const store = new MemoryStore();
const before = used();
const writer = await Vfs.open(store);
await writer.mkdir("/d");
let next = 0;
const one = new Uint8Array([120]);
await Promise.all(Array.from({ length: 16 }, async () => {
  while (next < count) {
    const i = (next++ * 7919) % count;
    await writer.writeFile(`/d/f${String(i).padStart(6, "0")}.txt`, one);
  }
}));
const filled = used();
const lister = await Vfs.open(store);
const opened = used();
await lister.readdir("/d");
const listed = used();
const result: HeapProbe = {
  entries: count,
  writer: Math.round((filled - before) / count),
  lister: Math.round((listed - opened) / count),
};
if (Deno.args.includes("--json")) console.log(JSON.stringify(result));
else {
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  console.log(`${count} entries: writer ${mib(filled - before)} MiB, ${result.writer} B an entry`);
  console.log(`lister: ${mib(listed - opened)} MiB, ${result.lister} B an entry`);
}
// Both instances stay reachable until the figures are taken.
void [writer, lister];
