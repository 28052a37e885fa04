/**
 * Encoding of a directory or shard draft whose entries are a delta (`_entries_delta.ts`)
 * in the time of what it changed. Each version encoded keeps its layout: its members
 * (`"name":{…}`) in order, in chunks of at most {@linkcode CHUNK} with each chunk's
 * compressed bytes. A draft's layout is its parent's with the chunks holding a changed or
 * removed name edited and the added names appended; only those chunks are compressed
 * again (pigz-style parts, see `gzip_parts.ts`).
 *
 * What a layout keeps is paid per entry by every large directory an instance writes to,
 * and V8 lets its heap grow to twice what is live, so it keeps little: a chunk holds its
 * names and entry objects (shared with the record) and its compressed bytes; the member
 * texts only while the chunk is one the lineage's last version made (the growing last
 * chunk, a chunk just edited: the next commit likely edits it again), else they are made
 * again from the (frozen) entries when an edit needs them. A chunk a version replaced
 * drops its texts and bytes too: the older versions of a chain (up to 32, see
 * `_entries_delta.ts`) keep their layouts. Which chunk holds a name is one index per
 * lineage (the versions derived from one another), made when a version first changes or
 * removes a name, updated in place by each version derived, and checked against the
 * layout asked: a version derived from an older one (after a write that failed) finds
 * what the index says stale, and looks in its own chunks. Before session 15 each version
 * kept an index of the names its chunks made, chained up to 32 versions, and every
 * entry's JSON text was kept with the entry: a writer that created 20,000 files in one
 * directory held 1,180 B per entry of heap, 550 B since (`bench/heap_probe.ts`).
 *
 * The text is the JSON of the record `materialize` would build, member for member, so
 * the object decodes as if encoded whole.
 *
 * @module
 */

import { type GzipPart, gzipPart, STORED_CHUNK_MAX, storedPart } from "./gzip_parts.ts";
import type { Entry } from "./meta_types.ts";
import { type Delta, deltaOf, draftStats, materialize, pendingDelta } from "./_entries_delta.ts";

/** Members per chunk at most. */
const CHUNK = 64;

interface Chunk {
  readonly names: readonly string[];
  /** The entry of each name: frozen, so its member text can be made again. */
  readonly entries: readonly Entry[];
  /** UTF-16 units of the members, commas between them included. */
  readonly units: number;
  /** The member texts while the chunk may soon change (see the module doc), else null. */
  members: readonly string[] | null;
  /** Compressed, as the first chunk (no leading comma) and as any other; a cache too. */
  parts: { first?: GzipPart; other?: GzipPart };
}

/** What the layouts of versions derived from one another share. */
interface Lineage {
  /**
   * The chunk of each name in the layout derived last (perhaps not the one asked); made
   * when a version first changes or removes a name (creates alone never need it).
   */
  index: Map<string, Chunk> | null;
  /** The chunks the layout derived last made: they keep their member texts. */
  made: Set<Chunk>;
}

interface Layout {
  readonly chunks: readonly Chunk[];
  readonly lineage: Lineage;
}

/** Layouts of encoded drafts (by their delta) and of plain records. */
const layouts = new WeakMap<object, Layout>();

/** How an entry's member text is made by the codec: `"name":json` (it freezes the entry). */
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
  const { memberOf } = options;
  const delta = pendingDelta(value)!;
  const layout = derive(delta, memberOf);
  layouts.set(delta, layout);
  const { head, tail } = text;
  let units = head.length + tail.length - 1;
  for (const chunk of layout.chunks) units += chunk.units + 1;
  // UTF-8 takes at least one byte per UTF-16 unit: more units than the limit, more bytes.
  if (units <= options.small) {
    // A small object keeps every member text: little to keep, and no entry made again.
    const members = layout.chunks.flatMap((c) => c.members ??= membersOf(c, memberOf));
    draftStats.entriesTouched += members.length;
    return { json: `${head}${members.join(",")}${tail}` };
  }
  const encoder = new TextEncoder();
  const headBytes = encoder.encode(head);
  const tailBytes = encoder.encode(tail);
  let compressed = 0;
  // The head (times) and the tail (write history) change with every version: stored, not
  // compressed (see `gzip_parts.ts`). So does the last chunk while it is not full, as
  // every create appends to it: it is stored until it is full (or past 64 KiB), then
  // compressed once.
  const parts: GzipPart[] = [storedPart(headBytes, false)];
  const last = layout.chunks.length - 1;
  const { made } = layout.lineage;
  layout.chunks.forEach((chunk, i) => {
    const which = i === 0 ? "first" : "other";
    let part = chunk.parts[which];
    if (!part) {
      const members = chunk.members ?? membersOf(chunk, memberOf);
      const bytes = encoder.encode(`${i === 0 ? "" : ","}${members.join(",")}`);
      const growing = i === last && chunk.names.length < CHUNK;
      if (growing && bytes.length <= STORED_CHUNK_MAX) part = storedPart(bytes, false);
      else {
        compressed += bytes.length;
        part = gzipPart(bytes, false);
      }
      chunk.parts[which] = part;
      if (!made.has(chunk)) chunk.members = null;
    }
    parts.push(part);
  });
  parts.push(storedPart(tailBytes, true));
  return { parts, compressed };
}

/** The member texts of `chunk`, made again from its entries. */
function membersOf(chunk: Chunk, memberOf: MemberOf): string[] {
  draftStats.entriesTouched += chunk.names.length;
  return chunk.names.map((name, i) => memberOf(name, chunk.entries[i]!));
}

/** A chunk being made: names, entries and member texts. */
interface Draft {
  names: string[];
  entries: Entry[];
  members: string[];
}

/** The layout of `delta`'s draft: its parent's, with what the delta changed. */
function derive(delta: Delta, memberOf: MemberOf): Layout {
  const parent = layoutOfVersion(delta.parent!, memberOf);
  const { lineage } = parent;
  const copyOf = (chunk: Chunk): Draft => {
    draftStats.entriesTouched += chunk.names.length;
    return {
      names: [...chunk.names],
      entries: [...chunk.entries],
      members: chunk.members ? [...chunk.members] : membersOf(chunk, memberOf),
    };
  };
  // Chunks edited, by the parent's chunk they replace.
  const edited = new Map<Chunk, Draft>();
  let own: Map<string, Chunk> | null = null;
  const edit = (name: string) => {
    lineage.index ??= indexOf(parent.chunks);
    let chunk = lineage.index.get(name);
    if (!chunk || !parent.chunks.includes(chunk) || !chunk.names.includes(name)) {
      // The index is of another layout of the lineage: look in the parent's own chunks.
      own ??= indexOf(parent.chunks);
      chunk = own.get(name);
      if (!chunk) {
        throw new Error(`Entry "${name}" is in no chunk of its directory object's layout`);
      }
    }
    let copy = edited.get(chunk);
    if (!copy) edited.set(chunk, copy = copyOf(chunk));
    return { copy, at: copy.names.indexOf(name) };
  };
  for (const name of delta.removed) {
    const { copy, at } = edit(name);
    copy.names.splice(at, 1);
    copy.entries.splice(at, 1);
    copy.members.splice(at, 1);
  }
  for (const [name, entry] of delta.modified) {
    const { copy, at } = edit(name);
    copy.entries[at] = entry;
    copy.members[at] = memberOf(name, entry);
  }
  const chunks: (Draft | { kept: Chunk })[] = [];
  for (const chunk of parent.chunks) {
    const copy = edited.get(chunk);
    if (!copy) chunks.push({ kept: chunk });
    else if (copy.names.length > 0) chunks.push(copy);
  }
  for (const [name, entry] of delta.added) {
    let last = chunks.at(-1);
    const size = !last ? CHUNK : "kept" in last ? last.kept.names.length : last.names.length;
    if (size >= CHUNK) chunks.push(last = { names: [], entries: [], members: [] });
    else if ("kept" in last!) {
      edited.set(last.kept, last = chunks[chunks.length - 1] = copyOf(last.kept));
    }
    const draft = last as Draft;
    draft.names.push(name);
    draft.entries.push(entry);
    draft.members.push(memberOf(name, entry));
  }
  const made = new Set<Chunk>();
  const layoutChunks = chunks.map((c) => {
    if ("kept" in c) return c.kept;
    const chunk = chunkOf(c);
    made.add(chunk);
    return chunk;
  });
  // The lineage's index now says this layout; what the parent's replaced chunks kept
  // (texts, compressed bytes) is left to be made again should an older version be edited.
  const { index } = lineage;
  if (index) {
    for (const name of delta.removed) index.delete(name);
    for (const chunk of made) for (const name of chunk.names) index.set(name, chunk);
  }
  for (const chunk of edited.keys()) {
    chunk.members = null;
    chunk.parts = {};
  }
  for (const chunk of lineage.made) {
    // Texts not compressed yet are left for the encoding, which drops them.
    if (!made.has(chunk) && (chunk.parts.first || chunk.parts.other)) chunk.members = null;
  }
  lineage.made = made;
  return { chunks: layoutChunks, lineage };
}

function chunkOf(draft: Draft): Chunk {
  let units = Math.max(0, draft.members.length - 1);
  for (const member of draft.members) units += member.length;
  return { names: draft.names, entries: draft.entries, units, members: draft.members, parts: {} };
}

/** The chunk of each name in `chunks`. */
function indexOf(chunks: readonly Chunk[]): Map<string, Chunk> {
  const index = new Map<string, Chunk>();
  for (const chunk of chunks) for (const name of chunk.names) index.set(name, chunk);
  for (const chunk of chunks) draftStats.entriesTouched += chunk.names.length;
  return index;
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
    let draft: Draft = { names: [], entries: [], members: [] };
    for (const name of Object.keys(record)) {
      draftStats.entriesTouched++;
      const entry = record[name]!;
      draft.names.push(name);
      draft.entries.push(entry);
      draft.members.push(memberOf(name, entry));
      if (draft.names.length === CHUNK) {
        chunks.push(chunkOf(draft));
        draft = { names: [], entries: [], members: [] };
      }
    }
    if (draft.names.length > 0) chunks.push(chunkOf(draft));
    // Its texts are kept until its chunks are compressed (the next encoding).
    layouts.set(record, layout = { chunks, lineage: { index: null, made: new Set() } });
  }
  return layout;
}
