/**
 * The metadata codec: records (see `docs/format.md`) are JSON, gzip-compressed when large,
 * directory objects compressed in reusable chunks; decoding validates the shape, so a
 * damaged object is reported as such instead of crashing an operation. The record types
 * (`meta_types.ts`) and their checks (`meta_check.ts`) are re-exported here: `meta.ts`
 * stays the one import for metadata records.
 *
 * @module
 */

import { gunzipSync, gzipSync } from "node:zlib";
import { gzipJoin, type GzipPart, gzipPart, STORED_CHUNK_MAX, storedPart } from "./gzip_parts.ts";
import { isObject } from "./meta_check.ts";
import type { Entry } from "./meta_types.ts";
import { isLazy, lazyCopy, withMember } from "./_entries_delta.ts";
import { encodeDelta } from "./_entries_layout.ts";

export {
  checkDir,
  checkEntry,
  checkInode,
  checkShard,
  checkSuperblock,
  checkXattrValues,
} from "./meta_check.ts";
export * from "./meta_types.ts";
export { draftStats } from "./_entries_delta.ts";

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
  // A draft whose entries are a delta over the version it was copied from: only what it
  // changed is encoded (see `_entries_delta.ts`, `_entries_layout.ts`).
  if (isObject(value) && isLazy(value)) return encodeLazy(value);
  if (isObject(value) && isObject(value.entries)) {
    const parts = entriesParts(value);
    if (parts) return encodeEntries(parts);
  }
  const json = encoder.encode(JSON.stringify(value));
  if (json.length <= COMPRESS_ABOVE) return json;
  encodeStats.compressedBytes += json.length;
  return new Uint8Array(gzipSync(json, { level: 1 }));
}

/**
 * `value` with member `key` added at the end (the CAS layer's write history), as
 * `{ ...value, [key]: member }`, but a draft's entries stay a delta.
 */
export function withTopMember(value: object, key: string, member: unknown): object {
  return isLazy(value) ? withMember(value, key, member) : { ...value, [key]: member };
}

function encodeLazy(value: Record<string, unknown>): Uint8Array {
  const before: string[] = [];
  const after: string[] = [];
  let seen = false;
  for (const key of Object.keys(value)) {
    if (key === "entries") {
      seen = true;
      continue;
    }
    const field = value[key];
    if (field !== undefined && typeof field !== "function") {
      (seen ? after : before).push(`${JSON.stringify(key)}:${JSON.stringify(field)}`);
    }
  }
  const encoded = encodeDelta(value, {
    head: `{${before.map((b) => `${b},`).join("")}"entries":{`,
    tail: `}${after.map((a) => `,${a}`).join("")}}`,
  }, { memberOf, small: COMPRESS_ABOVE });
  if ("json" in encoded) {
    const json = encoder.encode(encoded.json);
    if (json.length <= COMPRESS_ABOVE) return json;
    return encode(JSON.parse(encoded.json));
  }
  encodeStats.compressedBytes += encoded.compressed;
  return gzipJoin(encoded.parts);
}

/**
 * The member text `"name":json` of an entry, which it freezes: the codec keeps compressed
 * chunks by the entry objects they hold, so an entry once encoded is never changed (a
 * change puts a changed copy in its place, see `EntryDraft` in dir.ts). The text is not
 * kept with the entry: a directory's entries stay for as long as the instance writes to
 * it, and their texts doubled what each cost (see `_entries_layout.ts`).
 */
function memberOf(name: string, entry: Entry): string {
  const json = JSON.stringify(isObject(entry) ? deepFreeze(entry) : entry);
  return `${JSON.stringify(name)}:${json}`;
}

/**
 * A directory or shard object's JSON in three: the text before its entries' members
 * (ending in `"entries":{`), the entries (names and objects), and the text after them
 * (starting with `}`). Null when an entry is not an object.
 */
interface EntriesParts {
  head: string;
  names: string[];
  /** The entry object of each name. */
  objects: object[];
  tail: string;
}

function entriesParts(value: Record<string, unknown>): EntriesParts | null {
  const before: string[] = [];
  const after: string[] = [];
  let members: ReturnType<typeof entryObjects> | undefined;
  for (const key of Object.keys(value)) {
    const field = value[key];
    if (key === "entries") {
      members = entryObjects(field as Record<string, unknown>);
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

function entryObjects(
  entries: Record<string, unknown>,
): Pick<EntriesParts, "names" | "objects"> | null {
  const names: string[] = [];
  const objects: object[] = [];
  for (const name of Object.keys(entries)) {
    const entry = entries[name];
    if (!isObject(entry)) {
      if (entry === undefined || typeof entry === "function") continue;
      return null;
    }
    names.push(name);
    objects.push(entry);
  }
  return { names, objects };
}

/**
 * A run of consecutive members compressed as one part, kept by the entry object it starts
 * with; it is reused while the same names with the same (frozen) entry objects follow
 * each other in the same place.
 */
interface Chunk {
  names: string[];
  objects: object[];
  first: boolean;
  /** UTF-16 units of the members' texts (commas between them not counted). */
  units: number;
  part: GzipPart;
}

const chunks = new WeakMap<object, Chunk>();

/** Bytes of JSON deflated by {@linkcode encode} so far (tests assert that a commit compresses what it changed). */
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
  const { names } = p;
  // Each chunk, [start, end): kept compressed, or its members' texts.
  const runs: Run[] = [];
  let units = p.head.length + p.tail.length + Math.max(0, names.length - 1);
  let start = 0;
  for (let i = 0; i < names.length; i++) {
    if (i + 1 < names.length && i + 1 - start < CHUNK_MAX && !endsChunk(names[i]!)) continue;
    const kept = keptChunk(p, start, i + 1);
    const run: Run = { start, end: i + 1, kept, members: kept ? null : membersOf(p, start, i + 1) };
    if (kept) units += kept.units;
    for (const member of run.members ?? []) units += member.length;
    runs.push(run);
    start = i + 1;
  }
  // UTF-8 takes at least one byte per UTF-16 unit: more units than the limit, more bytes.
  if (units <= COMPRESS_ABOVE) {
    const members = runs.flatMap((r) => r.members ?? membersOf(p, r.start, r.end));
    const json = encoder.encode(`${p.head}${members.join(",")}${p.tail}`);
    if (json.length <= COMPRESS_ABOVE) return json;
  }
  const head = encoder.encode(p.head);
  const tail = encoder.encode(p.tail);
  // Head and tail change with every version: stored, not compressed (see `gzip_parts.ts`).
  const parts: GzipPart[] = [storedPart(head, false)];
  for (const run of runs) parts.push(run.kept?.part ?? chunkPart(p, run));
  parts.push(storedPart(tail, true));
  return gzipJoin(parts);
}

/** Members `start` to `end` of an object: kept compressed, or their texts (to compress). */
interface Run {
  start: number;
  end: number;
  kept: Chunk | undefined;
  members: string[] | null;
}

function membersOf(p: EntriesParts, start: number, end: number): string[] {
  const members: string[] = [];
  for (let i = start; i < end; i++) members.push(memberOf(p.names[i]!, p.objects[i] as Entry));
  return members;
}

/** The chunk kept for members `start` to `end` of `p`, if they are the same. */
function keptChunk(p: EntriesParts, start: number, end: number): Chunk | undefined {
  const kept = chunks.get(p.objects[start]!);
  if (!kept || kept.first !== (start === 0) || kept.names.length !== end - start) return;
  for (let i = start; i < end; i++) {
    if (kept.names[i - start] !== p.names[i] || kept.objects[i - start] !== p.objects[i]) return;
  }
  return kept;
}

function chunkPart(p: EntriesParts, run: Run): GzipPart {
  const { start, end } = run;
  const first = start === 0;
  const members = run.members ?? membersOf(p, start, end);
  const text = `${first ? "" : ","}${members.join(",")}`;
  const bytes = encoder.encode(text);
  // The last chunk, unless a boundary closed it, takes every name a create appends: stored
  // while it grows (no zlib stream per commit), compressed once closed.
  const growing = end === p.names.length && !endsChunk(p.names[end - 1]!) &&
    end - start < CHUNK_MAX && bytes.length <= STORED_CHUNK_MAX;
  if (!growing) encodeStats.compressedBytes += bytes.length;
  const part = growing ? storedPart(bytes, false) : gzipPart(bytes, false);
  let units = 0;
  for (const member of members) units += member.length;
  chunks.set(p.objects[start]!, {
    names: p.names.slice(start, end),
    objects: p.objects.slice(start, end),
    first,
    units,
    part,
  });
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
 * object gets its own top level, attributes, xattrs and shard table; its entries are not
 * copied at all: the copy records what a change does to them over `value`'s (a delta,
 * see `_entries_delta.ts`; its `entries` member builds the record when read), and the
 * entry objects themselves are shared (frozen once encoded: an entry is changed by
 * putting a changed copy in its place, see `EntryDraft` in dir.ts). So a commit to a
 * directory of thousands costs what it changes, not a copy of them all (copying the
 * record alone took about a microsecond per entry). Anything else is copied deeply.
 */
export function draftCopy<T>(value: T): T {
  if (!isObject(value)) return structuredClone(value);
  const copyOthers = (copy: Record<string, unknown>) => {
    if (isObject(value.attr)) copy.attr = { ...value.attr };
    if (isObject(value.xattr)) copy.xattr = { ...value.xattr };
    if (Array.isArray(value.shards)) copy.shards = value.shards.map((s) => ({ ...s }));
    if (isObject(value.ages) && Array.isArray(value.ages.closed)) {
      copy.ages = { ...value.ages, closed: value.ages.closed.map((c) => ({ ...c })) };
    }
  };
  // The entries are not copied: the copy records its changes over them (a delta).
  if (isLazy(value) || isObject(value.entries)) return lazyCopy(value, copyOthers) as T;
  if (!Array.isArray(value.shards) && !isObject(value.ages)) return structuredClone(value);
  const copy: Record<string, unknown> = { ...value };
  copyOthers(copy);
  return copy as T;
}

/**
 * Freezes `entry` and everything in it, as encoding it does: an entry is replaced, never
 * changed, once a directory object holds it (see {@linkcode memberOf}).
 */
export function freezeEntry<T>(entry: T): T {
  return deepFreeze(entry);
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * The largest JSON a metadata object may decode to, by default (`PAGEFS_META_DECODE_MIB`
 * sets it per process; see docs/format.md, "Limits"). Writers keep every object well under
 * it (a directory or shard object is split past 4 MiB decoded, `DirLimits` in dir.ts); it
 * is there for an object no writer of today makes: one written by an earlier version of
 * PageFS, before directory objects were split by their decoded size (up to about 30 MiB
 * measured), or by anything else with access to the bucket. A gzip-compressed object of
 * 512 KiB could otherwise inflate to hundreds of MiB and take the process with it.
 */
export const DECODE_MAX_BYTES = 32 << 20;

/**
 * The bound for objects whose length grows with the work done, not with what a user writes
 * into them: spilled page maps (one extent per write, about 60 bytes each) and GC's pending
 * set (one key per unreferenced object). A user cannot make either inflate far from its
 * stored size, and refusing one would make a fragmented file unreadable or stop GC; this
 * only keeps a damaged one from taking more than V8's longest string could hold anyway.
 */
export const DECODE_GROWN_BYTES = 512 << 20;

/**
 * A metadata object decodes to more than the bound: refused, and left as it is (nothing
 * that reads it can write it, so nothing is lost; fsck reports it, and neither GC nor
 * fsck --repair deletes by reachability while it stands, as for any corrupt object). Raising the bound for one run reads it,
 * and the next change of a directory object splits it under the writers' limits.
 */
export class OversizeError extends CorruptError {
  constructor(key: string, maxBytes: number) {
    super(key, `decodes to more than ${maxBytes} bytes`);
    this.message = `Metadata object "${key}" decodes to more than ${mib(maxBytes)} MiB, ` +
      `the most a reader takes (PAGEFS_META_DECODE_MIB): refused`;
    this.name = "OversizeError";
  }
}

function mib(bytes: number): string {
  return String(Math.round(bytes / (1 << 20) * 100) / 100);
}

/** Whether `bytes` is a gzip-compressed object (else plain JSON). */
function gzipped(bytes: Uint8Array): boolean {
  return bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * The length of the JSON an object stored as `bytes` decodes to, without decoding it: a
 * gzip member's trailer holds its length (mod 2^32). Exact for what PageFS writes (one
 * member); for anything else only a hint (the decode bound is what holds).
 */
export function decodedSize(bytes: Uint8Array): number {
  if (!gzipped(bytes) || bytes.length < 18) return bytes.length;
  return new DataView(bytes.buffer, bytes.byteOffset + bytes.length - 4, 4).getUint32(0, true);
}

/** The stored and decoded sizes of an object stored as `bytes` (see `Versioned`). */
export function sizesOf(bytes: Uint8Array): { size: number; decoded: number } {
  return { size: bytes.length, decoded: decodedSize(bytes) };
}

/**
 * Parses and validates one metadata object; `check` says what is wrong, or null. An
 * object whose JSON is longer than `maxBytes` is refused ({@linkcode OversizeError}) before
 * more than that is inflated or parsed.
 */
export function decode<T>(
  key: string,
  bytes: Uint8Array,
  check: (v: unknown) => string | null,
  maxBytes: number = DECODE_MAX_BYTES,
): T {
  const compressed = gzipped(bytes);
  if (!compressed && bytes.length > maxBytes) throw new OversizeError(key, maxBytes);
  let value: unknown;
  try {
    const json = compressed ? gunzipSync(bytes, { maxOutputLength: maxBytes }) : bytes;
    value = JSON.parse(decoder.decode(json));
  } catch (error) {
    if (
      error instanceof RangeError && (error as { code?: string }).code === "ERR_BUFFER_TOO_LARGE"
    ) {
      throw new OversizeError(key, maxBytes);
    }
    throw new CorruptError(key, "not JSON");
  }
  const problem = check(value);
  if (problem !== null) throw new CorruptError(key, problem);
  return value as T;
}
