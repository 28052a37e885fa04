/**
 * The store's clock, for the maintenance runs that judge age: GC ("unreferenced for a grace
 * period since GC first saw it") and fsck's repairs ("an unreferenced object older than the
 * grace period"). Any host may run them, and hosts' clocks can be minutes or hours apart:
 * a GC run on a host an hour ahead, after one on a host with the right time, would find an
 * object first seen a minute ago due, and delete the segment of an upload still on its way.
 * The store has one clock for everyone, so both read that one.
 *
 * @module
 */

import type { ObjectStore } from "../store/types.ts";
import { GC_CLOCK_KEY } from "./keys.ts";

/**
 * Now on the store's clock (ms since the epoch): writes the empty object `gc-clock` and
 * reads back the time the store stamped on it. S3 gives whole seconds, so the reading is
 * never ahead of the store's time. Costs one PUT and one HEAD.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory.ts";
 * import { storeNow } from "./store_clock.ts";
 * const now = await storeNow(new MemoryStore());
 * assert(Math.abs(now - Date.now()) < 1000);
 * ```
 */
export async function storeNow(store: ObjectStore): Promise<number> {
  await store.put(GC_CLOCK_KEY, new Uint8Array(0));
  const info = await store.head(GC_CLOCK_KEY);
  // Only another run's write can come between: its stamp is as good as ours.
  if (info === null) throw new Error(`The store lost "${GC_CLOCK_KEY}" right after it was written`);
  return info.lastModified.getTime();
}
