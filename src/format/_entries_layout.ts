/**
 * Encoding of a directory or shard draft whose entries are a delta (`_entries_delta.ts`)
 * in the time of what it changed. Each version encoded keeps its layout: its members
 * (`"name":{…}`) in order, in chunks of at most {@linkcode CHUNK} with each chunk's
 * compressed bytes. A draft's layout is its parent's with the chunks holding a changed or
 * removed name edited and the added names appended; only those chunks are compressed
 * again (pigz-style parts, see `gzip_parts.ts`). Which chunk holds a name is found through
 * the chain of layouts, flattened every {@linkcode MAX_DEPTH} versions.
 *
 * The text is the JSON of the record `materialize` would build, member for member, so
 * the object decodes as if encoded whole.
 *
 * @module
 */

import { type GzipPart, gzipPart, storedPart } from "./gzip_parts.ts";
import type { Entry } from "./meta_types.ts";
import { type Delta, deltaOf, draftStats, materialize, pendingDelta } from "./_entries_delta.ts";

/** Members per chunk at most. */
const CHUNK = 64;
/** Layouts chained before one is given a full index of its names. */
const MAX_DEPTH = 32;

interface Chunk {
  readonly names: readonly string[];
  readonly members: readonly string[];
  /** Compressed, as the first chunk (no leading comma) and as any other. */
  readonly parts: { first?: GzipPart; other?: GzipPart };
}

interface Layout {
  readonly chunks: readonly Chunk[];
  /** The chunk of each name in a chunk this layout made (every name, without a parent). */
  readonly own: Map<string, Chunk>;
  readonly parent: Layout | null;
  readonly depth: number;
}

/** Layouts of encoded drafts (by their delta) and of plain records. */
const layouts = new WeakMap<object, Layout>();

/** How an entry's member text is made (and kept) by the codec: `"name":json`. */
export type MemberOf = (name: string, entry: Entry) => string;

/** The encoded object: JSON text when small, else its parts (and the bytes deflated). */
export type Encoded = { json: string } | { parts: GzipPart[]; compressed: number };

/**
 * Encodes draft `value`'s entries over its parent's layout: `head` is the text before
 * the members (ending in `"entries":{`), `tail` the text after (starting with `}`).
 * `small` is the size up to which the object is stored as plain JSON.
 */
export function encodeDelta(
  value: object,
  text: { head: string; tail: string },
  options: { memberOf: MemberOf; small: number },
): Encoded {
  const delta = pendingDelta(value)!;
  const layout = derive(delta, options.memberOf);
  layouts.set(delta, layout);
  const { head, tail } = text;
  let units = head.length + tail.length - 1;
  for (const chunk of layout.chunks) {
    for (const member of chunk.members) units += member.length + 1;
  }
  // UTF-8 takes at least one byte per UTF-16 unit: more units than the limit, more bytes.
  if (units <= options.small) {
    const members = layout.chunks.flatMap((c) => c.members);
    draftStats.entriesTouched += members.length;
    return { json: `${head}${members.join(",")}${tail}` };
  }
  const encoder = new TextEncoder();
  const headBytes = encoder.encode(head);
  const tailBytes = encoder.encode(tail);
  let compressed = 0;
  // The head (times) and the tail (write history) change with every version: stored, not
  // compressed (see `gzip_parts.ts`). So does the last chunk while it is not full, as
  // every create appends to it: it is stored until it is full, then compressed once.
  const parts: GzipPart[] = [storedPart(headBytes, false)];
  const last = layout.chunks.length - 1;
  layout.chunks.forEach((chunk, i) => {
    const which = i === 0 ? "first" : "other";
    let part = chunk.parts[which];
    if (!part) {
      const bytes = encoder.encode(`${i === 0 ? "" : ","}${chunk.members.join(",")}`);
      if (i === last && chunk.names.length < CHUNK) part = storedPart(bytes, false);
      else {
        compressed += bytes.length;
        part = gzipPart(bytes, false);
      }
      chunk.parts[which] = part;
    }
    parts.push(part);
  });
  parts.push(storedPart(tailBytes, true));
  return { parts, compressed };
}

/** The layout of `delta`'s draft: its parent's, with what the delta changed. */
function derive(delta: Delta, memberOf: MemberOf): Layout {
  const parent = layoutOfVersion(delta.parent!, memberOf);
  // Chunks edited, by the parent's chunk they replace (copies of its names and members).
  const edited = new Map<Chunk, { names: string[]; members: string[] }>();
  const edit = (name: string) => {
    const chunk = chunkOf(parent, name);
    let copy = edited.get(chunk);
    if (!copy) {
      edited.set(chunk, copy = { names: [...chunk.names], members: [...chunk.members] });
      draftStats.entriesTouched += chunk.names.length;
    }
    return { copy, at: copy.names.indexOf(name) };
  };
  for (const name of delta.removed) {
    const { copy, at } = edit(name);
    copy.names.splice(at, 1);
    copy.members.splice(at, 1);
  }
  for (const [name, entry] of delta.modified) {
    const { copy, at } = edit(name);
    copy.members[at] = memberOf(name, entry);
  }
  const chunks: { names: string[]; members: string[]; kept?: Chunk }[] = [];
  for (const chunk of parent.chunks) {
    const copy = edited.get(chunk);
    if (!copy) chunks.push({ names: [], members: [], kept: chunk });
    else if (copy.names.length > 0) chunks.push(copy);
  }
  for (const [name, entry] of delta.added) {
    let last = chunks.at(-1);
    const size = last ? (last.kept ?? last).names.length : CHUNK;
    if (size >= CHUNK) chunks.push(last = { names: [], members: [] });
    else if (last!.kept) {
      last = chunks[chunks.length - 1] = {
        names: [...last!.kept.names],
        members: [...last!.kept.members],
      };
      draftStats.entriesTouched += last.names.length;
    }
    last!.names.push(name);
    last!.members.push(memberOf(name, entry));
  }
  const made = chunks.map((c) => c.kept ?? { names: c.names, members: c.members, parts: {} });
  const depth = parent.depth + 1;
  if (depth > MAX_DEPTH) return indexed(made);
  const own = new Map<string, Chunk>();
  made.forEach((chunk, i) => {
    if (!chunks[i]!.kept) { for (const name of chunk.names) own.set(name, chunk); }
  });
  return { chunks: made, own, parent, depth };
}

/** The chunk of `layout` that holds `name` (which it holds). */
function chunkOf(layout: Layout, name: string): Chunk {
  for (let l: Layout | null = layout; l; l = l.parent) {
    const chunk = l.own.get(name);
    if (chunk) return chunk;
  }
  throw new Error(`Entry "${name}" is in no chunk of its directory object's layout`);
}

/**
 * The layout of a version (the parent of a draft): the one kept when it was encoded as a
 * draft, else (a version read, or materialized since) one made from its record.
 */
function layoutOfVersion(version: object, memberOf: MemberOf): Layout {
  const delta = deltaOf(version);
  if (delta) {
    const kept = layouts.get(delta);
    if (kept) return kept;
  }
  const record = materialize(version);
  let layout = layouts.get(record);
  if (!layout) {
    const chunks: Chunk[] = [];
    let names: string[] = [];
    let members: string[] = [];
    for (const name of Object.keys(record)) {
      draftStats.entriesTouched++;
      names.push(name);
      members.push(memberOf(name, record[name]!));
      if (names.length === CHUNK) {
        chunks.push({ names, members, parts: {} });
        names = [];
        members = [];
      }
    }
    if (names.length > 0) chunks.push({ names, members, parts: {} });
    layouts.set(record, layout = indexed(chunks));
  }
  return layout;
}

/** A layout of `chunks` that indexes every name itself. */
function indexed(chunks: Chunk[]): Layout {
  const own = new Map<string, Chunk>();
  for (const chunk of chunks) for (const name of chunk.names) own.set(name, chunk);
  for (const chunk of chunks) draftStats.entriesTouched += chunk.names.length;
  return { chunks, own, parent: null, depth: 0 };
}
