/**
 * The bucket's key layout. Every key PageFS reads or writes is built here and nowhere
 * else; `docs/format.md` describes what lives under each.
 *
 * @module
 */

/** Inode number of the root directory. */
export const ROOT_INO = "0000000000000001";

export const SUPERBLOCK_KEY = "superblock";

/** The WebDAV lock table: every live lock of the filesystem, in one CAS-updated object. */
export const LOCKS_KEY = "locks";

/** GC's pending set: when GC first saw each unreferenced object (see `gc_pending.ts`). */
export const GC_PENDING_KEY = "gc-pending";
/** GC's and fsck's reading of the store's clock: an empty object (see store_clock.ts). */
export const GC_CLOCK_KEY = "gc-clock";

/** Prefixes of each kind of object, for listing (GC, fsck). */
export const PREFIX = {
  dir: "d/",
  inode: "i/",
  segment: "s/",
  map: "m/",
  xattr: "x/",
} as const;

/** The index object of directory `ino`. */
export function dirKey(ino: string): string {
  return `${PREFIX.dir}${ino}`;
}

/** One shard of directory `ino`'s entries. */
export function shardKey(ino: string, id: string): string {
  return `${PREFIX.dir}${ino}/s/${id}`;
}

/** The standalone inode object of a hard-linked file. */
export function inodeKey(ino: string): string {
  return `${PREFIX.inode}${ino}`;
}

/** A segment of file data. */
export function segmentKey(id: string): string {
  return `${PREFIX.segment}${id}`;
}

/**
 * How a page map names a segment: its id and its size, so a reader knows the object's
 * extent (for readahead and the final partial page) without a HEAD.
 */
export function segmentRef(id: string, size: number): string {
  return `${id}:${size}`;
}

/** Splits a {@linkcode segmentRef}; null when malformed. */
export function parseSegmentRef(ref: string): { id: string; size: number } | null {
  const at = ref.indexOf(":");
  const id = ref.slice(0, at);
  const size = Number(ref.slice(at + 1));
  return at > 0 && isId(id) && Number.isSafeInteger(size) && size >= 0 ? { id, size } : null;
}

/** A spilled page map. */
export function mapKey(id: string): string {
  return `${PREFIX.map}${id}`;
}

/** The spilled xattr values of one version of a file's or symlink's xattrs. */
export function xattrKey(id: string): string {
  return `${PREFIX.xattr}${id}`;
}

const INO = /^[0-9a-f]{16}$/;
const ID = /^[0-9a-f]{12}-[0-9a-f]{20}$/;

export function isIno(value: unknown): value is string {
  return typeof value === "string" && INO.test(value);
}

export function isId(value: unknown): value is string {
  return typeof value === "string" && ID.test(value);
}

/** Two hex digits of every byte value. */
const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

/**
 * Random bytes drawn ahead, a few hundred ids' worth at a time: a `getRandomValues` call
 * and an array of strings per id cost 3-4 µs, a share of every create's CPU. The bytes
 * are used once each, so ids stay as random as before. Bytes drawn from a source that is
 * no longer `crypto.getRandomValues` are dropped: a simulation that replaces it with a
 * seeded one (tests/_chaos_store.ts) gets every id from its own bytes, so a seed replays.
 */
class RandomPool {
  readonly #bytes = new Uint8Array(4096);
  #at = this.#bytes.length;
  #source: unknown = null;

  hex(count: number): string {
    if (this.#at + count > this.#bytes.length || this.#source !== crypto.getRandomValues) {
      this.#source = crypto.getRandomValues;
      crypto.getRandomValues(this.#bytes);
      this.#at = 0;
    }
    let out = "";
    for (let i = 0; i < count; i++) out += HEX[this.#bytes[this.#at++]!];
    return out;
  }
}

const pool = new RandomPool();

function randomHex(bytes: number): string {
  return pool.hex(bytes);
}

/** A new random inode number (64 bits; never the root's). */
export function newIno(): string {
  for (;;) {
    const ino = randomHex(8);
    if (ino !== ROOT_INO && ino !== "0000000000000000") return ino;
  }
}

/**
 * A new unique object id, ordered by creation time: GC tells an object's age from its
 * name without a HEAD request.
 */
export function newId(now = Date.now()): string {
  return `${now.toString(16).padStart(12, "0")}-${randomHex(10)}`;
}

/** Creation time (ms since the epoch) encoded in an id from {@linkcode newId}. */
export function idTime(id: string): number {
  return parseInt(id.slice(0, 12), 16);
}

/** Parses a key back into what it names, or null for a key outside the layout. */
export function parseKey(
  key: string,
):
  | { kind: "superblock" }
  | { kind: "locks" }
  | { kind: "gc-pending" }
  | { kind: "gc-clock" }
  | { kind: "dir"; ino: string }
  | { kind: "shard"; ino: string; id: string }
  | { kind: "inode"; ino: string }
  | { kind: "segment"; id: string }
  | { kind: "map"; id: string }
  | { kind: "xattr"; id: string }
  | null {
  if (key === SUPERBLOCK_KEY) return { kind: "superblock" };
  if (key === LOCKS_KEY) return { kind: "locks" };
  if (key === GC_PENDING_KEY) return { kind: "gc-pending" };
  if (key === GC_CLOCK_KEY) return { kind: "gc-clock" };
  const [head, a, b, c, ...rest] = key.split("/");
  if (rest.length > 0) return null;
  if (head === "d" && isIno(a) && b === undefined) return { kind: "dir", ino: a };
  if (head === "d" && isIno(a) && b === "s" && isId(c)) return { kind: "shard", ino: a, id: c };
  if (b !== undefined) return null;
  if (head === "i" && isIno(a)) return { kind: "inode", ino: a };
  if (head === "s" && isId(a)) return { kind: "segment", id: a };
  if (head === "m" && isId(a)) return { kind: "map", id: a };
  if (head === "x" && isId(a)) return { kind: "xattr", id: a };
  return null;
}

/**
 * The start-up probe's object (conditional writes honoured?): written and deleted within
 * one start; a leftover one (a crash mid-probe) is garbage nobody reads.
 */
export function probeKey(id: string): string {
  return `probe/${id}`;
}
