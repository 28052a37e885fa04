/**
 * Metadata records as stored in the bucket (see `docs/format.md`): directory objects,
 * their entries, standalone inodes, the superblock. Encoding is JSON; decoding validates
 * the shape, so a damaged object is reported as such instead of crashing an operation.
 *
 * @module
 */

import { gunzipSync, gzipSync } from "node:zlib";
import { gzipJoin, type GzipPart, gzipPart } from "./gzip_parts.ts";
import { isId, isIno } from "./keys.ts";
import type { PageMap } from "./page_map.ts";

export const FORMAT_VERSION = 1;

/** Type bits of `mode`, as in POSIX `st_mode`. */
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** Attributes every inode has. Times are milliseconds since the epoch. */
export interface Attr {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  atime: number;
  mtime: number;
  ctime: number;
  btime: number;
}

/** Extended attributes: name -> value (base64 of the bytes). */
export type Xattrs = Record<string, string>;

/** Where a regular file's bytes are. */
export interface FileData {
  /** Small files: the bytes inline (base64). */
  data?: string;
  /** The page map, inline. */
  map?: PageMap;
  /** Id of a spilled page map object (`m/<id>`). */
  mapRef?: string;
  /**
   * With `mapRef`: the extents written since that map was spilled, as a page map that
   * overlays it (its extents are newer, so they win). Small writes to a fragmented file
   * rewrite only this, not the whole map; past 32 extents it is folded into a new spill.
   */
  delta?: PageMap;
  /**
   * Bumped on every change of where the bytes are: every data commit, and compaction
   * moving them. A commit or a compaction swap checks it (with the ino) in its CAS.
   */
  gen?: number;
  /**
   * Content version: bumped by every commit that writes, appends or truncates, kept by
   * compaction. With the ino it names the content (the ETag). Absent in files written
   * before it existed: then the generation stands in (see {@linkcode contentVersion}).
   */
  cv?: number;
}

/** A file's content version: `cv`, or for a file written before `cv` existed, `gen`. */
export function contentVersion(data: FileData): number {
  return data.cv ?? data.gen ?? 0;
}

/** A regular file whose inode lives in its directory entry. */
export interface FileEntry extends FileData {
  t: "f";
  ino: string;
  attr: Attr;
  xattr?: Xattrs;
}

/** A regular file with more than one link: the inode is `i/<ino>`. */
export interface LinkEntry {
  t: "h";
  ino: string;
}

/** A subdirectory: its attributes are in its own object `d/<ino>`. */
export interface DirEntry {
  t: "d";
  ino: string;
}

export interface SymlinkEntry {
  t: "l";
  ino: string;
  attr: Attr;
  target: string;
  xattr?: Xattrs;
}

/**
 * A cross-directory rename in progress, recorded on the source entry before anything else
 * changes (the intent). Whoever meets it finishes or rolls back the rename first.
 */
export interface Moving {
  /** Unique id of this rename. */
  id: string;
  /** Target directory and name. */
  dir: string;
  name: string;
  /** Inode the target name held when the rename was decided (it is replaced), if any. */
  replaces: string | null;
  /** Whether an existing target may be replaced at all. */
  noReplace: boolean;
  /** When the intent was written (ms): a stale intent is rolled back if not yet applied. */
  at: number;
  /**
   * The removal mark this rename put on the empty directory it replaces: the target is not
   * added if the entry there carries it as its `fence` (the directory was reopened).
   */
  mark?: string;
}

export type Entry = (FileEntry | LinkEntry | DirEntry | SymlinkEntry) & {
  /** Set on a source entry while a cross-directory rename moves it. */
  moving?: Moving;
  /** Set on a target entry by the rename that created it, until the source is cleared. */
  movedFrom?: MovedFrom;
  /**
   * Set on a source entry whose rename (this intent id) was rolled back, and kept by the
   * entry wherever it goes: whoever finds that rename's target later can tell a rollback
   * from another name of the same inode (a hard link) that arrived at the source name.
   */
  rolledBack?: string;
  /**
   * On a directory's entry: the removal mark last cleared from that directory by someone
   * who took its remover for dead. A rename that marked the directory to replace it may not
   * replace an entry fenced with its mark (see `openDir` in src/vfs/resolve.ts).
   */
  fence?: string;
};

/** Where a target entry came from, kept until its rename is known to have happened. */
export interface MovedFrom {
  /** The rename's intent id, and the source directory and name. */
  id: string;
  dir: string;
  name: string;
  /** The entry this target replaced: put back if the rename is rolled back. */
  replaced?: Entry;
}

/** Reference to one shard of a sharded directory. */
export interface ShardRef {
  /** The shard holds names whose hash has these `depth` leading bits. */
  bits: number;
  depth: number;
  id: string;
}

/** A directory object `d/<ino>`. */
export interface DirObject {
  v: number;
  ino: string;
  /** Parent directory's ino (the root is its own parent). */
  parent: string;
  attr: Attr;
  xattr?: Xattrs;
  /** Entries of an unsharded directory. */
  entries?: Record<string, Entry>;
  /** Shard table of a sharded directory. */
  shards?: ShardRef[];
  /**
   * The removal mark: set by rmdir (or a rename over this empty directory) before it
   * unlinks the directory, which then takes no new entries. A mark id (`newId`); a
   * number (ms) in buckets written before mark ids, compared the same way.
   */
  removing?: string | number;
  /**
   * Set, under the mark it was decided with, once the removal is final (a tombstone):
   * only then may the entry naming the directory go; a tombstone is never reopened.
   */
  removed?: true;
}

/** A shard object `d/<ino>/s/<id>`. */
export interface ShardObject {
  v: number;
  ino: string;
  entries: Record<string, Entry>;
  /** Set once the shard is being split; it then takes no more changes. */
  sealed?: boolean;
  /** Set by rmdir of the (empty) directory, with its mark id: it takes no new entries. */
  removing?: string | boolean;
  /**
   * When an entry of this shard last changed (ms, the writer's clock): a change of entries
   * writes only the shard, so the directory's mtime and ctime are read from here too (see
   * `Directories.attrOf`). Absent in shards written before it existed.
   */
  mtime?: number;
}

/** A standalone inode `i/<ino>` (a hard-linked file). */
export interface InodeObject extends FileData {
  v: number;
  ino: string;
  attr: Attr;
  nlink: number;
  xattr?: Xattrs;
}

export interface Superblock {
  magic: "pagefs";
  version: number;
  pageSize: number;
  created: number;
  id: string;
}

/** A metadata object failed validation. */
export class CorruptError extends Error {
  constructor(key: string, what: string) {
    super(`Corrupt metadata object "${key}": ${what}`);
    this.name = "CorruptError";
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Objects larger than this are stored gzip-compressed (readers detect the gzip magic). */
export const COMPRESS_ABOVE = 16 * 1024;

/**
 * Encodes a metadata object: JSON, gzip-compressed when large. Directory indexes repeat
 * the same attribute names and similar numbers in every entry, so they shrink several
 * times: the bytes one create rewrites, and a listing downloads, are the compressed ones.
 *
 * A directory or shard object is compressed in parts (see {@linkcode encodeEntries}), so a
 * commit compresses what it changed, not the whole object again; the result is one gzip
 * member like any other, and decodes to the same JSON as `JSON.stringify`.
 */
export function encode(value: unknown): Uint8Array {
  if (isObject(value) && isObject(value.entries)) {
    const parts = entriesParts(value);
    if (parts) return encodeEntries(parts);
  }
  const json = encoder.encode(toJson(value));
  if (json.length <= COMPRESS_ABOVE) return json;
  encodeStats.compressedBytes += json.length;
  return new Uint8Array(gzipSync(json, { level: 1 }));
}

/**
 * The JSON of each entry object already encoded, by identity. A directory commit changes
 * a few entries of thousands and keeps the others as the same (frozen) objects, so it
 * encodes only what it changed: an entry is frozen when its JSON is kept here, and a
 * frozen object cannot change, so its JSON stays right.
 */
const entryJson = new WeakMap<object, KeptJson>();

interface KeptJson {
  json: string;
  name: string;
  /** `"name":json` */
  member: string;
  /** Whether a compressed chunk ends after this member (see {@linkcode endsChunk}). */
  ends: boolean;
}

/**
 * `JSON.stringify(value)`, the same text, but a directory or shard object's `entries`
 * are assembled from each entry's kept JSON instead of encoded again.
 */
export function toJson(value: unknown): string {
  if (!isObject(value) || !isObject(value.entries)) return JSON.stringify(value);
  const parts = entriesParts(value);
  if (!parts) return JSON.stringify(value);
  return `${parts.head}${parts.members.join(",")}${parts.tail}`;
}

/**
 * A directory or shard object's JSON in three: the text before its entries' members
 * (ending in `"entries":{`), the members (`"name":{...}`, from the kept JSON), and the
 * text after them (starting with `}`). Null when an entry is not an object.
 */
interface EntriesParts {
  head: string;
  members: string[];
  /** The entry object of each member. */
  objects: object[];
  /** Whether a chunk ends after each member. */
  ends: boolean[];
  tail: string;
}

function entriesParts(value: Record<string, unknown>): EntriesParts | null {
  const before: string[] = [];
  const after: string[] = [];
  let members: ReturnType<typeof entryMembers> | undefined;
  for (const key of Object.keys(value)) {
    const field = value[key];
    if (key === "entries") {
      members = entryMembers(field as Record<string, unknown>);
      if (!members) return null;
    } else if (field !== undefined && typeof field !== "function") {
      (members ? after : before).push(`${JSON.stringify(key)}:${JSON.stringify(field)}`);
    }
  }
  if (!members) return null;
  return {
    head: `{${before.map((b) => `${b},`).join("")}"entries":{`,
    ...members,
    tail: `}${after.map((a) => `,${a}`).join("")}}`,
  };
}

function entryMembers(
  entries: Record<string, unknown>,
): Pick<EntriesParts, "members" | "objects" | "ends"> | null {
  const members: string[] = [];
  const objects: object[] = [];
  const ends: boolean[] = [];
  for (const name of Object.keys(entries)) {
    const entry = entries[name];
    if (!isObject(entry)) {
      if (entry === undefined || typeof entry === "function") continue;
      return null;
    }
    let kept = entryJson.get(entry);
    if (kept?.name !== name) {
      const json = kept?.json ?? JSON.stringify(entry);
      kept = { json, name, member: `${JSON.stringify(name)}:${json}`, ends: endsChunk(name) };
      entryJson.set(deepFreeze(entry), kept);
    }
    members.push(kept.member);
    objects.push(entry);
    ends.push(kept.ends);
  }
  return { members, objects, ends };
}

/**
 * A run of consecutive members compressed as one part, kept by the entry object it starts
 * with; it is reused while the same members (the same strings: an entry that changed or
 * was renamed has a new one) follow each other in the same place.
 */
interface Chunk {
  members: string[];
  first: boolean;
  part: GzipPart;
}

const chunks = new WeakMap<object, Chunk>();

/** Bytes of JSON compressed by {@linkcode encode} so far (tests assert that a commit compresses what it changed). */
export const encodeStats = { compressedBytes: 0 };

/** A chunk ends after a member whose name hashes to 0 mod this, or at `CHUNK_MAX`. */
const CHUNK_SPLIT = 32;
const CHUNK_MAX = 128;

/**
 * Encodes a directory or shard object. Chunk boundaries depend on the names (not on
 * positions), so adding or removing a name changes one chunk and keeps the others, which
 * are reused compressed: a commit that adds k names to n compresses about k chunks.
 */
function encodeEntries(p: EntriesParts): Uint8Array {
  let units = p.head.length + p.tail.length + Math.max(0, p.members.length - 1);
  for (const member of p.members) units += member.length;
  // UTF-8 takes at least one byte per UTF-16 unit: more units than the limit, more bytes.
  if (units <= COMPRESS_ABOVE) {
    const json = encoder.encode(`${p.head}${p.members.join(",")}${p.tail}`);
    if (json.length <= COMPRESS_ABOVE) return json;
  }
  const head = encoder.encode(p.head);
  const tail = encoder.encode(p.tail);
  encodeStats.compressedBytes += head.length + tail.length;
  const parts: GzipPart[] = [gzipPart(head, false)];
  let start = 0;
  for (let i = 0; i < p.members.length; i++) {
    if (i + 1 < p.members.length && i + 1 - start < CHUNK_MAX && !p.ends[i]) {
      continue;
    }
    parts.push(chunkPart(p, start, i + 1));
    start = i + 1;
  }
  parts.push(gzipPart(tail, true));
  return gzipJoin(parts);
}

function chunkPart(p: EntriesParts, start: number, end: number): GzipPart {
  const first = start === 0;
  const kept = chunks.get(p.objects[start]!);
  if (kept && kept.first === first && kept.members.length === end - start) {
    let same = true;
    for (let i = start; i < end && same; i++) same = kept.members[i - start] === p.members[i];
    if (same) return kept.part;
  }
  const members = p.members.slice(start, end);
  const text = `${first ? "" : ","}${members.join(",")}`;
  const bytes = encoder.encode(text);
  encodeStats.compressedBytes += bytes.length;
  const part = gzipPart(bytes, false);
  chunks.set(p.objects[start]!, { members, first, part });
  return part;
}

/** Whether a chunk ends after the member of this name: a hash of the name. */
function endsChunk(name: string): boolean {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 16777619);
  return (hash >>> 0) % CHUNK_SPLIT === 0;
}

/**
 * A copy of a metadata object that a change may edit in place. A directory or shard
 * object gets its own top level, attributes, xattrs, shard table and entries record, but
 * shares the entry objects themselves (frozen once encoded: an entry is changed by
 * putting a changed copy in its place, see `EntryDraft` in dir.ts), so that a commit to
 * a directory of thousands costs what it changes, not a deep copy of them all. Anything
 * else is copied deeply.
 */
export function draftCopy<T>(value: T): T {
  if (!isObject(value) || !(isObject(value.entries) || Array.isArray(value.shards))) {
    return structuredClone(value);
  }
  const copy: Record<string, unknown> = { ...value };
  if (isObject(value.attr)) copy.attr = { ...value.attr };
  if (isObject(value.xattr)) copy.xattr = { ...value.xattr };
  if (Array.isArray(value.shards)) copy.shards = value.shards.map((s) => ({ ...s }));
  if (isObject(value.entries)) copy.entries = { ...value.entries };
  return copy as T;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/** Parses and validates one metadata object; `check` says what is wrong, or null. */
export function decode<T>(key: string, bytes: Uint8Array, check: (v: unknown) => string | null): T {
  let value: unknown;
  try {
    const json = bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes;
    value = JSON.parse(decoder.decode(json));
  } catch {
    throw new CorruptError(key, "not JSON");
  }
  const problem = check(value);
  if (problem !== null) throw new CorruptError(key, problem);
  return value as T;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
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

export function checkEntry(v: unknown): string | null {
  if (!isObject(v) || !isIno(v.ino)) return "entry without a valid ino";
  switch (v.t) {
    case "f":
      return checkAttr(v.attr) ?? checkFileData(v);
    case "l":
      return checkAttr(v.attr) ?? (typeof v.target === "string" ? null : "symlink without target");
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

export function checkDir(v: unknown): string | null {
  if (!isObject(v) || v.v !== FORMAT_VERSION) return "not a version 1 directory";
  if (!isIno(v.ino) || !isIno(v.parent)) return "bad ino or parent";
  const attr = checkAttr(v.attr);
  if (attr) return attr;
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

export function checkShard(v: unknown): string | null {
  if (!isObject(v) || v.v !== FORMAT_VERSION || !isIno(v.ino)) return "not a version 1 shard";
  if (v.mtime !== undefined && !isCount(v.mtime)) return "bad shard mtime";
  return checkEntries(v.entries);
}

export function checkInode(v: unknown): string | null {
  if (!isObject(v) || v.v !== FORMAT_VERSION || !isIno(v.ino)) return "not a version 1 inode";
  if (!isCount(v.nlink)) return "bad nlink";
  return checkAttr(v.attr) ?? checkFileData(v);
}

export function checkSuperblock(v: unknown): string | null {
  if (!isObject(v) || v.magic !== "pagefs") return "not a PageFS superblock";
  if (!isCount(v.version) || !isCount(v.pageSize)) return "bad version or page size";
  return null;
}
