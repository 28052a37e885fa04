/**
 * The pieces of directory objects that the directory store (`dir.ts`) works with: which
 * shard a name lives in, the draft of entries an update edits, how a full object's entries split in two, a new directory object, and the
 * errors a directory change throws. Re-exported
 * by `dir.ts`, the one import for directories.
 *
 * @module
 */

import { newId, shardKey } from "./keys.ts";
import { entriesOf, putEntry } from "./_entries_delta.ts";
import { appliedOf, type AppliedRecord, setApplied } from "./_dir_applied.ts";
import { releasedOf, type ReleasedRecord, setReleased } from "./_dir_released.ts";
import { isSlim } from "./_dir_listing.ts";
import { placeOf } from "./_dir_place.ts";
import {
  type Attr,
  CorruptError,
  type DirObject,
  type Entry,
  FORMAT_VERSION,
  type ShardObject,
  type ShardRef,
} from "./meta.ts";

/** The names given to `Directories.update` live in different objects. */
export class CrossObjectError extends Error {
  constructor() {
    super("Names are in different directory shards");
    this.name = "CrossObjectError";
  }
}

/** The entries of one directory object as an update sees them. */
export interface EntryDraft {
  /** The directory's own object (attributes); read-only here. */
  readonly dir: DirObject;
  get(name: string): Entry | undefined;
  set(name: string, entry: Entry): void;
  delete(name: string): void;
  /**
   * Records, in this object, that this change removes entry `name` for the rename with
   * intent `id` on its renamer's behalf (see `_dir_applied.ts`).
   */
  noteApplied(id: string, name: string): void;
  /** Drops the record of intent `id` from this object; whether there was one. */
  takeApplied(id: string): boolean;
  /**
   * Notes, in this object, that this change removes entry `name` of hard-linked inode `ino`
   * under release intent `id`: the proof its count step needs (see `release.ts`). With
   * `link`, that it adds entry `name` under link intent `id` instead.
   */
  noteReleased(id: string, ino: string, name: string, link?: true): void;
  /** The proof of release intent `id` in this object, if any. */
  released(id: string): ReleasedRecord | null;
  /** Drops the proof of release intent `id` from this object; whether there was one. */
  takeReleased(id: string): boolean;
}

/**
 * 32-bit FNV-1a of the name's UTF-8 bytes: which shard a name lives in. Every lookup in a
 * sharded directory hashes its name: an ASCII name (UTF-8 is its char codes) is hashed
 * without encoding it into a new array first.
 */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code >= 0x80) return utf8NameHash(name);
    h = Math.imul(h ^ code, 0x01000193);
  }
  return h >>> 0;
}

function utf8NameHash(name: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(name)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Which object of directory `dir` holds entry `name` as its shard table stands: the id of
 * its shard, or null for an unsharded directory (the directory object itself). Names with
 * the same answer can change in one CAS. In an age-sharded directory, where the name goes
 * if it is held nowhere (`_dir_place.ts`); a name held already may be elsewhere (in a closed
 * shard: `locateAged`), and the update that changes the names finds out
 * (`CrossObjectError`).
 */
export function objectOfName(dir: DirObject, name: string): string | null {
  if (dir.ages) return placeOf(dir.ages, nameHash(name));
  return dir.shards ? shardFor(dir.shards, name).id : null;
}

/** The shard of the table that holds `name`. */
export function shardFor(shards: readonly ShardRef[], name: string): ShardRef {
  const h = nameHash(name);
  const found = shards.find((s) => s.depth === 0 || h >>> (32 - s.depth) === s.bits);
  if (!found) throw new Error(`Shard table does not cover hash ${h}`);
  return found;
}

/** The shard table changed under an operation: start it again from the directory. */
export class Resharded extends Error {}

/**
 * Times in a row an update of one directory may meet {@linkcode Resharded}. Each time is a
 * split or roll-over met, the next attempt reading the table afresh: a few at most. More is
 * a table that names a shard no one can read (a shard object deleted by hand, a bucket
 * restored in part), which before session 20 sent the writer round for good, thousands of
 * GETs a second and no answer (tests/dir_missing_shard_test.ts).
 */
const RESHARD_ATTEMPTS = 64;

/** Rethrows `error` unless it is {@linkcode Resharded} and `attempt` may start again. */
export function startAgain(error: unknown, attempt: number, key: string): void {
  if (!(error instanceof Resharded)) throw error;
  if (attempt + 1 >= RESHARD_ATTEMPTS) {
    throw new CorruptError(key, `its shards changed or were missing ${attempt + 1} times in a row`);
  }
}

/**
 * A look made once an `update` of `Directories` (dir.ts) has decided a change, right
 * before its CAS (see `GroupStep.guard`): false leaves the change out and answers
 * `otherwise`.
 */
export interface Guard<R> {
  readonly check: () => Promise<boolean>;
  readonly otherwise: R;
}

/** `guard` as a group step's member, if any. */
export function guarded<R>(guard: Guard<R> | undefined): { guard?: Guard<R> } {
  return guard ? { guard } : {};
}

/** The directory object is gone (removed by another instance). */
export class DirectoryGone extends Error {
  readonly ino: string;
  constructor(ino: string) {
    super(`Directory ${ino} no longer exists`);
    this.name = "DirectoryGone";
    this.ino = ino;
  }
}

/**
 * How much longer the JSON of each draft being built has grown by the changes made to its
 * entries so far (an estimate, see {@linkcode entryBytes}), by draft object: the changes
 * of one group commit share the draft, so the change that takes it over a limit is known
 * as it is made, not one commit late (see `Directories.update`).
 */
const growth = new WeakMap<object, number>();

/** How much longer the JSON of draft `holder` has grown by the changes made to it. */
export function draftGrowth(holder: object): number {
  return growth.get(holder) ?? 0;
}

/**
 * About the length of an entry's JSON member, without building it: the strings that can
 * be long (xattrs, inline data, a symlink's target) and the extents of an inline page map
 * counted, the rest a constant. What decides a split, so rough is enough; it must not
 * cost a `JSON.stringify` of every entry a create touches.
 */
export function entryBytes(entry: Entry | undefined): number {
  if (entry === undefined) return 0;
  const e = entry as {
    xattr?: Record<string, string>;
    xattrRef?: { sizes: Record<string, number> };
    data?: string;
    target?: string;
    map?: unknown[];
    delta?: unknown[];
  };
  let bytes = 200;
  for (const name in e.xattr ?? {}) bytes += name.length + e.xattr![name]!.length + 6;
  // Spilled xattrs: their names and lengths stay (and the reference, in the constant).
  for (const name in e.xattrRef?.sizes ?? {}) bytes += name.length + 12;
  bytes += e.data?.length ?? 0;
  bytes += e.target?.length ?? 0;
  bytes += 48 * ((Array.isArray(e.map) ? e.map.length : 0) + (e.delta?.length ?? 0));
  return bytes;
}

/**
 * A draft of the entries of directory or shard draft `holder` (copy-on-write, see
 * `_entries_delta.ts`) for an update to edit; `changed` says whether it changed anything,
 * `touched` whether it changed entries (not only the records of applied renames). `at`:
 * the time a record is noted with (the store's clock at the latest).
 */
export function entryDraft(
  dir: DirObject,
  holder: object,
  at: () => number,
): { draft: EntryDraft; changed: () => boolean; touched: () => boolean } {
  let touched = false;
  let recorded = false;
  const entries = entriesOf(holder);
  return {
    draft: {
      dir,
      // A copy: the entry objects are shared with the version read (and frozen once
      // encoded), so a caller that edits the entry it got puts it back with `set`.
      get: (name) => {
        const entry = entries.get(name);
        return entry === undefined ? undefined : structuredClone(entry);
      },
      set(name, entry) {
        if (isSlim(entry)) throw new Error(`Entry "${name}" was listed without its xattrs`);
        const grown = entryBytes(entry) - entryBytes(entries.get(name));
        entries.set(name, entry);
        growth.set(holder, draftGrowth(holder) + grown);
        touched = true;
      },
      delete(name) {
        const old = entries.get(name);
        if (old === undefined) return;
        entries.delete(name);
        growth.set(holder, draftGrowth(holder) - entryBytes(old));
        touched = true;
      },
      noteApplied(id, name) {
        const others = appliedOf(holder).filter((r) => r.id !== id);
        setApplied(holder, [...others, { id, name, at: at() }]);
        recorded = true;
      },
      takeApplied(id) {
        const records = appliedOf(holder);
        const others = records.filter((r) => r.id !== id);
        if (others.length === records.length) return false;
        setApplied(holder, others);
        recorded = true;
        return true;
      },
      noteReleased(id, ino, name, link) {
        const others = releasedOf(holder).filter((r) => r.id !== id);
        setReleased(holder, [...others, { id, ino, name, ...(link ? { link } : {}) }]);
        recorded = true;
      },
      released: (id) => releasedOf(holder).find((r) => r.id === id) ?? null,
      takeReleased(id) {
        const records = releasedOf(holder);
        const others = records.filter((r) => r.id !== id);
        if (others.length === records.length) return false;
        setReleased(holder, others);
        recorded = true;
        return true;
      },
    },
    changed: () => touched || recorded,
    touched: () => touched,
  };
}

/**
 * The two halves of `entries`, split on the next hash bit after `ref`'s prefix, each with
 * the `records` of applied renames and the `released` proofs of removals whose names it
 * holds.
 */
export function splitHalves(
  ino: string,
  ref: ShardRef,
  entries: Record<string, Entry>,
  records: readonly AppliedRecord[] = [],
  released: readonly ReleasedRecord[] = [],
): { ref: ShardRef; key: string; shard: ShardObject }[] {
  const depth = ref.depth + 1;
  const halves = [0, 1].map((bit) => {
    const half: ShardRef = { bits: ref.bits * 2 + bit, depth, id: newId() };
    const shard: ShardObject = { v: FORMAT_VERSION, ino, entries: {} };
    return { ref: half, key: shardKey(ino, half.id), shard };
  });
  for (const [name, entry] of Object.entries(entries)) {
    putEntry(halves[(nameHash(name) >>> (32 - depth)) & 1]!.shard.entries, name, entry);
  }
  for (const [bit, half] of halves.entries()) {
    const mine = records.filter((r) => ((nameHash(r.name) >>> (32 - depth)) & 1) === bit);
    if (mine.length > 0) setApplied(half.shard, mine);
    const proofs = released.filter((r) => ((nameHash(r.name) >>> (32 - depth)) & 1) === bit);
    if (proofs.length > 0) setReleased(half.shard, proofs);
  }
  return halves;
}

/** A fresh directory object. */
export function newDirObject(ino: string, parent: string, attr: Attr): DirObject {
  return { v: FORMAT_VERSION, ino, parent, attr, entries: {} };
}
