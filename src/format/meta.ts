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
import { gzipJoin, type GzipPart, gzipPart, storedPart } from "./gzip_parts.ts";
import { isObject } from "./meta_check.ts";
import type { Entry } from "./meta_types.ts";
import { isLazy, lazyCopy, withMember } from "./_entries_delta.ts";
import { encodeDelta } from "./_entries_layout.ts";

export { checkDir, checkEntry, checkInode, checkShard, checkSuperblock } from "./meta_check.ts";
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
  const json = encoder.encode(toJson(value));
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

/** The member text `"name":json` of an entry, kept with the entry (which it freezes). */
function memberOf(name: string, entry: Entry): string {
  if (!isObject(entry)) return `${JSON.stringify(name)}:${JSON.stringify(entry)}`;
  let kept = entryJson.get(entry);
  if (kept?.name !== name) {
    const json = kept?.json ?? JSON.stringify(entry);
    kept = { json, name, member: `${JSON.stringify(name)}:${json}`, ends: endsChunk(name) };
    entryJson.set(deepFreeze(entry), kept);
  }
  return kept.member;
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
  let units = p.head.length + p.tail.length + Math.max(0, p.members.length - 1);
  for (const member of p.members) units += member.length;
  // UTF-8 takes at least one byte per UTF-16 unit: more units than the limit, more bytes.
  if (units <= COMPRESS_ABOVE) {
    const json = encoder.encode(`${p.head}${p.members.join(",")}${p.tail}`);
    if (json.length <= COMPRESS_ABOVE) return json;
  }
  const head = encoder.encode(p.head);
  const tail = encoder.encode(p.tail);
  // Head and tail change with every version: stored, not compressed (see `gzip_parts.ts`).
  const parts: GzipPart[] = [storedPart(head, false)];
  let start = 0;
  for (let i = 0; i < p.members.length; i++) {
    if (i + 1 < p.members.length && i + 1 - start < CHUNK_MAX && !p.ends[i]) {
      continue;
    }
    parts.push(chunkPart(p, start, i + 1));
    start = i + 1;
  }
  parts.push(storedPart(tail, true));
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
  // The last chunk, unless a boundary closed it, takes every name a create appends: stored
  // while it grows (no zlib stream per commit), compressed once closed.
  const growing = end === p.members.length && !p.ends[end - 1] && end - start < CHUNK_MAX;
  if (!growing) encodeStats.compressedBytes += bytes.length;
  const part = growing ? storedPart(bytes, false) : gzipPart(bytes, false);
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
  };
  // The entries are not copied: the copy records its changes over them (a delta).
  if (isLazy(value) || isObject(value.entries)) return lazyCopy(value, copyOthers) as T;
  if (!Array.isArray(value.shards)) return structuredClone(value);
  const copy: Record<string, unknown> = { ...value };
  copyOthers(copy);
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
