/**
 * A recursive delete of a folder deeper than PATH_MAX: `chains` folders 2,000 deep (one-letter
 * names, the deepest a path of 4,096 bytes holds), each renamed into the bottom of the one
 * before, then `Vfs.removeTree` of the top, on a memory store. Prints the depth, the time
 * of the build and of the removal, the GETs of the removal and what is left at the root.
 *
 * `deno run --allow-all bench/deep_tree.ts [chains]` (default 2). docs/architecture.md
 * ("Folders deeper than PATH_MAX") quotes its figures.
 *
 * @module
 */

import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/vfs.ts";

const chains = Number(Deno.args[0] ?? 2);
const PER = 2000;
const store = new MemoryStore();
let gets = 0;
const get = store.get.bind(store);
store.get = (...args: Parameters<typeof get>) => {
  gets++;
  return get(...args);
};
const vfs = await Vfs.open(store);
const start = performance.now();
const below = "/d".repeat(PER - 1);
for (let c = 0; c < chains; c++) await vfs.mkdir(`/c${c}${below}`, { parents: true });
// The last into the one before it, and so on up: each rename's paths stay within the limit.
for (let c = chains - 1; c >= 1; c--) await vfs.rename(`/c${c}`, `/c${c - 1}${below}/c${c}`);
const built = performance.now();
gets = 0;
const failures = await vfs.request(() => vfs.removeTree("/c0"));
const removed = performance.now();
const left = (await vfs.readdir("/")).entries.map((e) => e.name);
console.log(JSON.stringify({
  depth: chains * PER,
  buildMs: Math.round(built - start),
  removeMs: Math.round(removed - built),
  failures: failures.size,
  gets,
  left,
}));
