/**
 * What a remembered metadata version costs in memory, estimated: the bound of
 * `MetaStore`'s cache (`cas.ts`) is in these estimates, not in objects, since a
 * directory of 50,000 entries and a lock table differ by a factor of 10,000.
 *
 * @module
 */

import type { Versioned } from "./_cas_base.ts";
import { GC_PENDING_KEY } from "./keys.ts";
import { DECODE_GROWN_BYTES } from "./meta.ts";
import { deltaOf, pendingDelta } from "./_entries_delta.ts";

/** Default estimated memory of the versions a `MetaStore` remembers. */
export const META_CACHE_BYTES = 64 << 20;
/**
 * Memory an entry of a directory or shard object takes once decoded, with what encoding
 * its next version keeps of it (its compressed chunk, the layouts and deltas of the
 * versions chained to it): about 550 B measured for an instance that created 20,000 files
 * in one directory, 535 B for one that listed it (heap after a full GC,
 * `bench/heap_probe.ts`, docs/architecture.md), rounded down; 1.1 KiB before session 15.
 */
const ENTRY_MEMORY = 512;
/** Memory of a decoded object per byte stored: JSON parsed into objects and strings. */
const STORED_BYTE_MEMORY = 4;

/**
 * The memory a remembered version takes, estimated: a directory of 50,000 entries is about
 * 50 MiB in memory and a few MiB stored (compressed), so entries count apart from bytes.
 * At least the length of its JSON: an entry's strings (xattrs, inline data) are held as
 * long as the version is, and highly compressible ones (an all-zero xattr is about 1,000
 * times its gzip) made a shard of 400 entries, 0.5 MiB stored, hold 30 MiB that the
 * estimate put at 2.2 MiB (before session 19: a cache of 64 MiB held gigabytes).
 */
export function cachedMemory(versioned: Versioned<unknown>): number {
  const estimate = STORED_BYTE_MEMORY * versioned.size +
    ENTRY_MEMORY * entriesIn(versioned.value);
  return Math.max(estimate, versioned.decoded ?? 0);
}

/** Entries of a directory or shard object (0 for any other), without building them. */
function entriesIn(value: unknown): number {
  if (typeof value !== "object" || value === null) return 0;
  const delta = pendingDelta(value);
  if (delta) return delta.count;
  const member = Object.getOwnPropertyDescriptor(value, "entries");
  const record = member && "value" in member ? member.value : deltaOf(value)?.materialized;
  return typeof record === "object" && record !== null ? Object.keys(record).length : 0;
}

/**
 * The longest JSON `key` may decode to, `bound` for all but GC's pending set, which grows
 * with the objects it tracks, not with anything a user writes into it (see
 * {@linkcode DECODE_GROWN_BYTES}; refusing it would stop GC and the claims of writers).
 */
export function decodeBytesOf(key: string, bound: number): number {
  return key === GC_PENDING_KEY ? DECODE_GROWN_BYTES : bound;
}
