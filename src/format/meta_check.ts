/**
 * Validation of the metadata records (`meta_types.ts`): each check says what is wrong
 * with a decoded object, or null, so that `decode` reports a damaged object as corrupt
 * instead of an operation crashing on it. Re-exported by `meta.ts`.
 *
 * @module
 */

import { isId, isIno } from "./keys.ts";
import { FORMAT_VERSION } from "./meta_types.ts";

/** Whether `v` is a plain object (not null, not an array). */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
const isCount = (v: unknown) => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

function checkAttr(v: unknown): string | null {
  if (!isObject(v)) return "attr is not an object";
  for (const k of ["mode", "uid", "gid", "size", "atime", "mtime", "ctime", "btime"]) {
    if (!isCount(v[k])) return `attr.${k} is not a non-negative integer`;
  }
  return null;
}

function checkFileData(v: Record<string, unknown>): string | null {
  if (v.data !== undefined && typeof v.data !== "string") return "data is not a string";
  if (v.mapRef !== undefined && !isId(v.mapRef)) return "mapRef is not an id";
  if (v.map !== undefined && !Array.isArray(v.map)) return "map is not an array";
  if (v.delta !== undefined && (!Array.isArray(v.delta) || v.mapRef === undefined)) {
    return "delta is not an array over a spilled map";
  }
  if (v.gen !== undefined && !isCount(v.gen)) return "gen is not a non-negative integer";
  if (v.cv !== undefined && !isCount(v.cv)) return "cv is not a non-negative integer";
  return null;
}

/**
 * What is wrong with a record's spilled xattrs (`XattrRef`), or null: an id, and a count
 * for each name. An inline `xattr` beside it (only an instance from before session 21
 * writes one) is read over it, not refused (`recordXattrs` in src/vfs/records.ts).
 */
function checkXattrRef(v: Record<string, unknown>): string | null {
  const ref = v.xattrRef;
  if (ref === undefined) return null;
  if (!isObject(ref) || !isId(ref.id) || !isObject(ref.sizes)) return "bad xattrRef";
  for (const size of Object.values(ref.sizes)) if (!isCount(size)) return "bad xattrRef size";
  return null;
}

/** What is wrong with a spilled xattr object `x/<id>` (`{ "v", "xattr" }`), or null. */
export function checkXattrValues(v: unknown): string | null {
  if (!isObject(v) || v.v !== FORMAT_VERSION || !isObject(v.xattr)) return "not xattr values";
  for (const value of Object.values(v.xattr)) {
    if (typeof value !== "string") return "xattr value is not a string";
  }
  return null;
}

/** What is wrong with a directory entry, or null. */
export function checkEntry(v: unknown): string | null {
  if (!isObject(v) || !isIno(v.ino)) return "entry without a valid ino";
  switch (v.t) {
    case "f":
      return checkAttr(v.attr) ?? checkFileData(v) ?? checkXattrRef(v);
    case "l":
      return checkAttr(v.attr) ?? checkXattrRef(v) ??
        (typeof v.target === "string" ? null : "symlink without target");
    case "h":
    case "d":
      return null;
    default:
      return `unknown entry type ${String(v.t)}`;
  }
}

function checkEntries(v: unknown): string | null {
  if (!isObject(v)) return "entries is not an object";
  for (const [name, entry] of Object.entries(v)) {
    const problem = checkEntry(entry);
    if (problem) return `entry "${name}": ${problem}`;
  }
  return null;
}

/** What is wrong with a directory object (its entries, or its shard table), or null. */
export function checkDir(v: unknown): string | null {
  if (!isObject(v) || v.v !== FORMAT_VERSION) return "not a version 1 directory";
  if (!isIno(v.ino) || !isIno(v.parent)) return "bad ino or parent";
  const attr = checkAttr(v.attr);
  if (attr) return attr;
  if (v.ages !== undefined) {
    if (v.shards !== undefined || v.entries !== undefined) return "ages beside shards or entries";
    return checkAges(v.ages);
  }
  if (v.shards !== undefined) {
    if (!Array.isArray(v.shards)) return "shards is not an array";
    for (const s of v.shards) {
      if (!isObject(s) || !isId(s.id) || !isCount(s.depth) || !isCount(s.bits)) {
        return "bad shard reference";
      }
    }
    return null;
  }
  return checkEntries(v.entries);
}

/** Base64 characters: a Bloom filter's 6 bits each (`ClosedShardRef.filter`). */
const FILTER = /^[A-Za-z0-9+/]+$/;

function checkAges(v: unknown): string | null {
  if (!isObject(v) || !isId(v.open) || !Array.isArray(v.closed)) return "bad age table";
  const ids = new Set([v.open]);
  for (const c of v.closed) {
    if (!isObject(c) || !isId(c.id) || ids.has(c.id)) return "bad closed shard reference";
    if (typeof c.filter !== "string" || !FILTER.test(c.filter)) return "bad shard filter";
    if (!isCount(c.k) || (c.k as number) < 1 || (c.k as number) > 32) {
      return "bad shard filter hash count";
    }
    if (c.line !== undefined && !isId(c.line)) return "bad closed shard line";
    if (c.depth !== undefined || c.bits !== undefined) {
      const { bits, depth } = c;
      if (!isCount(depth) || (depth as number) > 32 || !isCount(bits)) return "bad shard range";
      if ((bits as number) >= 2 ** (depth as number)) return "bad shard range";
    }
    ids.add(c.id);
  }
  return null;
}

/** What is wrong with a directory shard object, or null. */
export function checkShard(v: unknown): string | null {
  if (!isObject(v) || v.v !== FORMAT_VERSION || !isIno(v.ino)) return "not a version 1 shard";
  if (v.mtime !== undefined && !isCount(v.mtime)) return "bad shard mtime";
  if (v.closed !== undefined && v.closed !== true) return "bad shard closed flag";
  return checkEntries(v.entries);
}

/** What is wrong with an inode object, or null. */
export function checkInode(v: unknown): string | null {
  if (!isObject(v) || v.v !== FORMAT_VERSION || !isIno(v.ino)) return "not a version 1 inode";
  if (!isCount(v.nlink)) return "bad nlink";
  return checkAttr(v.attr) ?? checkFileData(v) ?? checkXattrRef(v);
}

/** What is wrong with a superblock, or null. */
export function checkSuperblock(v: unknown): string | null {
  if (!isObject(v) || v.magic !== "pagefs") return "not a PageFS superblock";
  if (!isCount(v.version) || !isCount(v.pageSize)) return "bad version or page size";
  return null;
}
