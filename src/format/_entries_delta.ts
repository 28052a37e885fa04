/**
 * Copy-on-write entries of directory and shard objects. A group commit changes a few
 * entries of an object that may hold thousands; copying its `entries` record for every
 * batch cost a microsecond per entry (an object this large is a hash table in V8), which
 * made creates into a large directory slower than into an empty one for no request more.
 *
 * So the draft of a directory or shard object ({@linkcode lazyCopy}) does not copy its
 * entries: it records what the batch changes over the version it was copied from (a
 * delta), and `entries` is an accessor that builds the plain record only when something
 * reads it whole ({@linkcode materialize}: a listing, a split, JSON). What the create path
 * needs works on the delta itself: a lookup ({@linkcode entryOf}), a count, a change
 * ({@linkcode entriesOf}), and encoding (`_entries_layout.ts`, which recompresses the
 * chunks the delta touched). A chain of versions built on each other is flattened every
 * {@linkcode MAX_DEPTH} versions, so a lookup walks at most that many small maps.
 *
 * The record built is the one the same operations on a plain copy would give, in the
 * same key order: names changed in place keep their place, names added (or removed and
 * added again) follow in the order they were added.
 *
 * A version (a value read or written) is never changed once the metadata store holds it;
 * a draft is changed only through {@linkcode entriesOf} until it is materialized, and
 * then only through its record.
 *
 * @module
 */

import type { Entry } from "./meta_types.ts";

/** What a draft changed over the version it was copied from. */
export interface Delta {
  /** The version copied from; null once this one is materialized (no longer needed). */
  parent: object | null;
  /** New names, and names removed and added again, in the order they were added. */
  readonly added: Map<string, Entry>;
  /** Names of the parent changed in place. */
  readonly modified: Map<string, Entry>;
  /** Names of the parent removed (some perhaps added again, see `added`). */
  readonly removed: Set<string>;
  /** Entries in all. */
  count: number;
  /** Deltas between this one and a plain record. */
  readonly depth: number;
  /** The record, once built. */
  materialized: Record<string, Entry> | null;
}

/** Versions chained on each other before the next copy builds a plain record first. */
const MAX_DEPTH = 32;

const deltas = new WeakMap<object, Delta>();

/**
 * Entries copied or walked one by one for drafts and their encoding, so far: what a
 * commit costs in CPU beyond its own changes (tests assert that it stays small).
 */
export const draftStats = { entriesTouched: 0 };
/** Entry counts of plain records, kept by {@linkcode entriesOf}'s changes. */
const counts = new WeakMap<Record<string, Entry>, number>();

/** The delta of `value` while its entries are not materialized; null otherwise. */
export function pendingDelta(value: object): Delta | null {
  const delta = deltas.get(value);
  return delta && !delta.materialized ? delta : null;
}

/** The delta `value` was made with (pending or materialized), if it is a draft's. */
export function deltaOf(value: object): Delta | null {
  return deltas.get(value) ?? null;
}

/** Whether `value`'s entries are a delta not yet materialized (reading them builds them). */
export function isLazy(value: object): boolean {
  return pendingDelta(value) !== null;
}

/** The plain record of entries of a version or draft (built now if it is a delta). */
export function materialize(value: object): Record<string, Entry> {
  const delta = pendingDelta(value);
  if (!delta) return recordOf(value) ?? {};
  // The chain down to a plain record, applied oldest first onto one copy of it.
  const chain: Delta[] = [];
  let v: object = value;
  for (let d = delta; d; d = pendingDelta(v)!) {
    chain.push(d);
    v = d.parent!;
    if (!pendingDelta(v)) break;
  }
  const base = recordOf(v) ?? {};
  const record: Record<string, Entry> = { ...base };
  draftStats.entriesTouched += counts.get(base) ?? Object.keys(base).length;
  for (let i = chain.length - 1; i >= 0; i--) {
    const d = chain[i]!;
    for (const name of d.removed) delete record[name];
    for (const [name, entry] of d.modified) putEntry(record, name, entry);
    for (const [name, entry] of d.added) putEntry(record, name, entry);
  }
  delta.materialized = record;
  delta.parent = null;
  counts.set(record, delta.count);
  return record;
}

/**
 * The record of a value that is not a pending delta: its `entries` member, or, while that
 * is still the accessor, the record its delta built. Undefined when it has none.
 */
function recordOf(value: object): Record<string, Entry> | undefined {
  const member = Object.getOwnPropertyDescriptor(value, "entries");
  if (!member) return undefined;
  if ("value" in member) return member.value;
  return deltas.get(value)?.materialized ?? undefined;
}

/**
 * A copy of directory or shard object `value` whose `entries` share `value`'s: the
 * other members are copied as `draftCopy` copies them (by the caller, `copyOthers`).
 */
export function lazyCopy<T extends object>(value: T, copyOthers: (copy: T) => void): T {
  const parent: object = value;
  let depth = (pendingDelta(value)?.depth ?? 0) + 1;
  if (depth > MAX_DEPTH) {
    materialize(value);
    depth = 1;
  }
  const copy = {} as Record<string, unknown>;
  for (const key of Object.keys(value)) {
    if (key === "entries") {
      Object.defineProperty(copy, "entries", ENTRIES);
    } else {
      copy[key] = (value as Record<string, unknown>)[key];
    }
  }
  deltas.set(copy, {
    parent,
    added: new Map(),
    modified: new Map(),
    removed: new Set(),
    count: countOf(parent),
    depth,
    materialized: null,
  });
  copyOthers(copy as T);
  return copy as T;
}

/**
 * The accessor of a lazy copy's `entries`: reading builds the record; assigning replaces
 * it (a plain data member from then on).
 */
const ENTRIES: PropertyDescriptor = {
  enumerable: true,
  configurable: true,
  get(this: object) {
    const record = materialize(this);
    Object.defineProperty(this, "entries", dataMember(record));
    return record;
  },
  set(this: object, record: Record<string, Entry>) {
    const delta = deltas.get(this);
    if (delta) {
      delta.materialized = record;
      delta.parent = null;
    }
    Object.defineProperty(this, "entries", dataMember(record));
  },
};

function dataMember(value: unknown): PropertyDescriptor {
  return { value, enumerable: true, writable: true, configurable: true };
}

/**
 * A copy of lazy `value` with one more member (the write history the CAS layer adds)
 * that shares `value`'s delta, so encoding it still encodes only the changes.
 */
export function withMember(value: object, key: string, member: unknown): object {
  const delta = pendingDelta(value)!;
  const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(value));
  Object.defineProperty(copy, key, dataMember(member));
  deltas.set(copy, delta);
  return copy;
}

/** The entry `name` of a version or draft, without building its record. */
export function entryOf(value: object, name: string): Entry | undefined {
  for (let v = value;;) {
    const d = pendingDelta(v);
    if (!d) {
      const record = recordOf(v);
      return record && Object.hasOwn(record, name) ? record[name] : undefined;
    }
    const added = d.added.get(name);
    if (added) return added;
    if (d.removed.has(name)) return undefined;
    const modified = d.modified.get(name);
    if (modified) return modified;
    v = d.parent!;
  }
}

/** How many entries a version or draft holds. */
export function countOf(value: object): number {
  const d = pendingDelta(value);
  if (d) return d.count;
  const record = materialize(value);
  let count = counts.get(record);
  if (count === undefined) {
    counts.set(record, count = Object.keys(record).length);
    draftStats.entriesTouched += count;
  }
  return count;
}

/** The changes an update makes to the entries of a draft (lazy or plain). */
export interface EntriesAccess {
  get(name: string): Entry | undefined;
  set(name: string, entry: Entry): void;
  delete(name: string): void;
  count(): number;
}

/**
 * Changes of the entries of `draft`: on its delta while it is lazy, on its record once
 * something materialized it (even in the middle of a batch).
 */
export function entriesOf(draft: object): EntriesAccess {
  return {
    get: (name) => entryOf(draft, name),
    count: () => countOf(draft),
    set(name, entry) {
      const d = pendingDelta(draft);
      if (!d) {
        const record = materialize(draft);
        const count = Object.hasOwn(record, name) ? undefined : counts.get(record);
        putEntry(record, name, entry);
        if (count !== undefined) counts.set(record, count + 1);
        return;
      }
      if (d.added.has(name)) d.added.set(name, entry);
      else if (!d.removed.has(name) && entryOf(d.parent!, name) !== undefined) {
        d.modified.set(name, entry);
      } else {
        d.added.set(name, entry);
        d.count++;
      }
    },
    delete(name) {
      const d = pendingDelta(draft);
      if (!d) {
        const record = materialize(draft);
        if (!Object.hasOwn(record, name)) return;
        const count = counts.get(record);
        delete record[name];
        if (count !== undefined) counts.set(record, count - 1);
        return;
      }
      if (d.added.delete(name)) d.count--;
      else if (!d.removed.has(name) && entryOf(d.parent!, name) !== undefined) {
        d.removed.add(name);
        d.modified.delete(name);
        d.count--;
      }
    },
  };
}

/** Sets `record[name]` as an own property, even for names like "__proto__". */
export function putEntry(record: Record<string, Entry>, name: string, entry: Entry): void {
  Object.defineProperty(record, name, dataMember(entry));
}
