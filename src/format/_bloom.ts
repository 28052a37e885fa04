/**
 * The Bloom filters of closed age shards (`ClosedShardRef.filter`): which names a closed
 * shard may hold, so that a lookup or a create reads only the shards that may hold its
 * name. About 10 bits a name and 7 probes: about 1% of absent names pass a filter (each
 * costs a GET of that shard), and a name the filter was built with always passes.
 *
 * The probes come from the name's 32-bit hash (`nameHash`, computed anyway) by double
 * hashing, so a look hashes the name once however many filters it asks. The bits are kept
 * as base64 characters, 6 bits each, and read straight from the string: the directory
 * object is JSON, and a lookup asks every closed shard's filter, so decoding them (13
 * filters of about 7 KB at 50,000 names) on every lookup would cost more than the look.
 *
 * @module
 */

/** Bits of filter per name. */
export const FILTER_BITS_PER_NAME = 10;
/** Probes per name: about `FILTER_BITS_PER_NAME * ln 2`. */
export const FILTER_PROBES = 7;

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
/** The 6-bit value of each base64 character by its char code (-1: not base64). */
const VALUES = (() => {
  const values = new Int8Array(128).fill(-1);
  for (let i = 0; i < ALPHABET.length; i++) values[ALPHABET.charCodeAt(i)] = i;
  return values;
})();

/** Murmur3's finaliser: a second hash, independent enough of the first, from the first. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Calls `probe` with each of the `k` bit positions of `hash` in a filter of `m` bits. */
function forEachProbe(
  hash: number,
  k: number,
  m: number,
  probe: (bit: number) => boolean,
): boolean {
  const step = mix(hash) | 1;
  for (let i = 0; i < k; i++) {
    if (!probe(((hash + Math.imul(i, step)) >>> 0) % m)) return false;
  }
  return true;
}

/** A filter of the names with these hashes (`nameHash`), and its probe count. */
export function buildFilter(hashes: Iterable<number>): { filter: string; k: number } {
  const list = [...hashes];
  const chars = Math.max(8, Math.ceil(list.length * FILTER_BITS_PER_NAME / 6));
  const sextets = new Uint8Array(chars);
  const m = chars * 6;
  for (const hash of list) {
    forEachProbe(hash, FILTER_PROBES, m, (bit) => {
      sextets[Math.floor(bit / 6)]! |= 1 << (bit % 6);
      return true;
    });
  }
  let filter = "";
  for (const sextet of sextets) filter += ALPHABET[sextet];
  return { filter, k: FILTER_PROBES };
}

/**
 * Whether a name of hash `hash` may be in the filter: false only if no name it was built
 * with has that hash. A character outside base64 reads as all bits set (never a false no).
 */
export function mayHold(filter: { filter: string; k: number }, hash: number): boolean {
  const { filter: bits, k } = filter;
  const m = bits.length * 6;
  if (m === 0) return true;
  return forEachProbe(hash, k, m, (bit) => {
    const value = VALUES[bits.charCodeAt(Math.floor(bit / 6))] ?? -1;
    return value < 0 || ((value >> (bit % 6)) & 1) === 1;
  });
}

/**
 * The share of names a filter passes, from the share of its bits set: about 1% for one
 * built at 10 bits a name, far less for one of a few names (at least 48 bits, 7 probes: a
 * filter of one or two names passes 1 in 10^5 to 10^6).
 */
export function passRate(filter: { filter: string; k: number }): number {
  const { filter: bits, k } = filter;
  if (bits.length === 0) return 1;
  let set = 0;
  for (let i = 0; i < bits.length; i++) {
    const value = VALUES[bits.charCodeAt(i)] ?? -1;
    if (value < 0) set += 6;
    else for (let b = value; b > 0; b >>= 1) set += b & 1;
  }
  return (set / (bits.length * 6)) ** k;
}

/** The share of names {@linkcode admits} lets a closed shard take. */
export const ADMITTED = 1 / 64;

/**
 * Whether a closed shard may take a new name of hash `hash` that its filter passes (see
 * `_dir_place.ts`): 1 in 64 names, by a second hash of the first, so that a create seldom
 * lands there (13 closed shards, 1% of false passes each, would otherwise send 1 create in 8
 * to a closed shard, each its own CAS instead of one shared with the open shard's group).
 */
export function admits(hash: number): boolean {
  return (mix(hash ^ 0x5bd1e995) & 63) === 0;
}
