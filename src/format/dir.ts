/**
 * Directory index objects: one object per directory holding its entries, kept in shards
 * once it grows past a limit, so that one create never rewrites megabytes and a listing
 * stays a handful of GETs. A full directory becomes age-sharded (new names go to one open
 * shard, full ones are closed with a Bloom filter of their names: `_dir_ages.ts`,
 * `_dir_age_writes.ts`); directories split before by a hash of the name stay so.
 *
 * Changes to the entries of one object are group-committed: concurrent creates in one
 * directory share one CAS (in an age-sharded one, the open shard's).
 *
 * Splitting a hash shard is safe against concurrent writers: a shard is first sealed by
 * CAS (writers that meet a sealed shard re-read the shard table, helping to finish the
 * split if it is still pending), then its halves are created, then the table is swapped.
 *
 * @module
 */

import { compareKeys } from "../store/_util.ts";
import { StoreError } from "../store/types.ts";
import type { MetaStore, ReadOptions, Versioned } from "./cas.ts";
import { dirKey, shardKey } from "./keys.ts";
import {
  type Attr,
  checkDir,
  checkShard,
  type DirObject,
  draftCopy,
  type Entry,
  freezeEntry,
  type ShardObject,
  type ShardRef,
} from "./meta.ts";
import { markRemoving, tombstone, unmarkRemoving } from "./_dir_removal.ts";
import { pruneApplied } from "./_dir_applied.ts";
import { HASH_BITS, overLimits, ShardFull, ShardSplits } from "./_dir_split.ts";
import { shardTimes } from "./_dir_times.ts";
import { shardedEntries } from "./_dir_listing.ts";
import {
  type HashPage,
  hashPage,
  type HashPageOptions,
  type HashPosition,
} from "./_dir_hash_page.ts";
import { isSharded, locateAged, shardIdsOf } from "./_dir_ages.ts";
import { countOf, entryOf, isLazy } from "./_entries_delta.ts";
import {
  CrossObjectError,
  DirectoryGone,
  draftGrowth,
  type EntryDraft,
  entryDraft,
  type Guard,
  guarded,
  objectOfName,
  Resharded,
  shardFor,
  startAgain,
} from "./_dir_entries.ts";
import { AgeShards } from "./_dir_age_writes.ts";

export { type HashPage, type HashPosition, UnknownPosition } from "./_dir_hash_page.ts";
export { isSlim } from "./_dir_listing.ts";
export { ShardFull } from "./_dir_split.ts";
export { isSharded, locateAged, shardIdsOf } from "./_dir_ages.ts";
export { placeRate, takesNew } from "./_dir_place.ts";
export {
  CrossObjectError,
  DirectoryGone,
  type EntryDraft,
  type Guard,
  nameHash,
  newDirObject,
  objectOfName,
} from "./_dir_entries.ts";

export interface DirLimits {
  /** Entries in one object before it is split (default 4096). */
  readonly maxEntries: number;
  /** Stored (compressed) bytes of one object before it is split (default 512 KiB). */
  readonly maxBytes: number;
  /**
   * Length of the JSON of one object before it is split (default 4 MiB): what a reader
   * holds once it decoded the object. Without it an object of 512 KiB stored held up to
   * 30 MiB of all-zero xattrs (docs/format.md, "Limits").
   */
  readonly maxDecodedBytes: number;
}

/**
 * A grouped create uploads the whole object holding its name (and other instances
 * download and parse it again); until it encoded only what it changed (see
 * `_entries_delta.ts`) it also re-encoded the object, so objects of 8,192 entries made a
 * create into a directory of 10,000 half as fast as into an empty one. Smaller objects
 * cost elsewhere: group commit groups per object, so concurrent creates spread over more
 * shards share fewer PUTs, and a listing pays one conditional GET per object. 4,096 (and
 * 512 KiB) is the measured middle since a create's CPU no longer grows with its object
 * (2,048 and 256 KiB before session 13; see docs/format.md "Directories").
 */
export const DEFAULT_DIR_LIMITS: DirLimits = {
  maxEntries: 4096,
  maxBytes: 512 << 10,
  maxDecodedBytes: 4 << 20,
};

/** Sends of a new directory's object before its create is given up (see `create`). */
const CREATE_ATTEMPTS = 3;

/** Directories whose sorted listing is kept for the next listing (pages, PROPFIND). */
const SORTED_DIRS = 16;

/** A directory's sorted listing, its keys, and its object or its shards' ETags (versions). */
interface SortedListing {
  readonly keys: readonly string[];
  readonly parts: readonly (object | string)[];
  readonly sorted: readonly [string, Entry][];
}

/**
 * Reads and changes directory objects.
 */
export class Directories {
  readonly meta: MetaStore;
  #limits: DirLimits;
  /**
   * The last sorted listing of recently listed directories, with the objects it is of and
   * their keys: kept only while the metadata cache holds those very versions (so within its
   * memory bound; a listing of versions it forgot can never be reused anyway).
   */
  #sorted = new Map<string, SortedListing>();
  /** The clock of directories' times (the VFS's injected one). */
  #now: () => number;
  /** Splits of full shards (`_dir_split.ts`). */
  #splits: ShardSplits;
  /** Writers of age-sharded directories (`_dir_age_writes.ts`). */
  #ages: AgeShards;
  /** The time a record of an applied rename is noted with (see `_dir_applied.ts`). */
  readonly #storeLatest = () => this.meta.clock.latest();

  constructor(meta: MetaStore, limits: Partial<DirLimits> = {}, now: () => number = Date.now) {
    this.meta = meta;
    this.#limits = { ...DEFAULT_DIR_LIMITS, ...limits };
    this.#splits = new ShardSplits(meta, this.#limits, (ino) => this.get(ino));
    this.#ages = new AgeShards({
      meta,
      over: (key, count, grown, decodedOnly) =>
        overLimits(meta, this.#limits, { key, count, grown, decodedOnly }),
      root: (ino) => this.get(ino),
      at: this.#storeLatest,
      writeShards: (shards) => this.#splits.writeShards(shards),
      deleteShards: (keys) => this.#splits.deleteShards(keys),
    });
    this.#now = now;
  }

  /** The directory object (attributes and shard table), or null if there is none. */
  get(ino: string, options: ReadOptions = {}): Promise<Versioned<DirObject> | null> {
    return this.meta.read<DirObject>(dirKey(ino), checkDir, options);
  }

  /**
   * Creates the object of a new directory; false if it exists already. A create whose
   * answer was lost and which a read back found not there is sent again (by
   * `MetaStore.write` itself since session 20; before, it answered null, as for a lost race):
   * the key is new. Before this loop, mkdir took that null for "exists", named a directory
   * whose object was never written, and answered 201; every create in it was then ENOENT.
   */
  async create(dir: DirObject): Promise<boolean> {
    const key = dirKey(dir.ino);
    for (let attempt = 0; attempt < CREATE_ATTEMPTS; attempt++) {
      if (await this.meta.write(key, dir, null) !== null) return true;
      if (await this.meta.read(key, checkDir) !== null) return false;
    }
    throw new StoreError("unknown", `The object of directory ${dir.ino} could not be created`, {
      key,
      ambiguous: true,
    });
  }

  /** The entry `name` of directory `dir`, or null. */
  async lookup(dir: DirObject, name: string, options: ReadOptions = {}): Promise<Entry | null> {
    for (let attempt = 0;; attempt++) {
      if (dir.ages) {
        const at = await locateAged(this.meta, dir, name, attempt ? {} : options);
        if (at || attempt > 20) return at ? entryOf(at.shard.value, name) ?? null : null;
      } else if (!dir.shards) return entryOf(dir, name) ?? null;
      else {
        const ref = shardFor(dir.shards, name);
        const key = shardKey(dir.ino, ref.id);
        const shard = await this.meta.read<ShardObject>(key, checkShard, attempt ? {} : options);
        if (shard) return entryOf(shard.value, name) ?? null;
      }
      const fresh = await this.get(dir.ino); // a shard split or gone since the table was read
      if (!fresh || attempt > 20) return null;
      dir = fresh.value;
    }
  }

  /**
   * The directory's attributes as its stat shows them. A change of entries in a sharded
   * directory writes only the shard holding them, which records when (`mtime`); so the
   * mtime is that of the latest shard changed after the directory's own last change of
   * attributes (its ctime: a `utimes` since sets the mtime exactly), else its own, and the
   * ctime the later of the two. One conditional GET per shard (shared with a listing).
   */
  async attrOf(dir: DirObject, options: ReadOptions = {}): Promise<Attr> {
    if (!isSharded(dir)) return dir.attr;
    for (let attempt = 0;; attempt++) {
      const keys = shardIdsOf(dir)!.map((id) => shardKey(dir.ino, id));
      const { latest, missing } = await shardTimes(this.meta, keys, attempt ? {} : options);
      if (missing && attempt < 20) {
        // Split since the table was read: the halves carry the time.
        const fresh = await this.get(dir.ino);
        if (!fresh || !isSharded(fresh.value)) return fresh?.value.attr ?? dir.attr;
        dir = fresh.value;
        continue;
      }
      if (latest <= dir.attr.ctime) return dir.attr;
      return { ...dir.attr, mtime: latest, ctime: latest };
    }
  }

  /**
   * Every entry of the directory, sorted by name (UTF-8 order). The array is shared with
   * the next caller while the directory is unchanged (no re-sorting of thousands of
   * entries per listing page): do not modify it.
   */
  async list(dir: DirObject, options: ReadOptions = {}): Promise<[string, Entry][]> {
    for (let attempt = 0;; attempt++) {
      let entries: [string, Entry][];
      let parts: readonly (object | string)[];
      let keys: readonly string[];
      const ids = shardIdsOf(dir);
      if (!ids) {
        parts = [dir];
        keys = [dirKey(dir.ino)];
        const known = this.#sortedOf(dir.ino, parts);
        if (known) return known;
        entries = Object.entries(dir.entries ?? {});
      } else {
        // Shard by shard, entries with large xattrs copied without them: the listing does
        // not keep the shards (their versions are named by ETag), nor those xattrs.
        keys = ids.map((id) => shardKey(dir.ino, id));
        const ino = dir.ino, known = (etags: readonly string[]) => this.#sortedOf(ino, etags);
        const read = await shardedEntries(this.meta, keys, attempt ? {} : options, known);
        if (!read) {
          const fresh = await this.get(dir.ino);
          if (!fresh || attempt > 20) throw new Error(`Directory ${dir.ino} vanished`);
          dir = fresh.value;
          continue;
        }
        if ("known" in read) return read.known;
        parts = read.etags;
        entries = read.entries;
      }
      // Entries read from the bucket are frozen here, as the ones this instance encoded
      // already are: the VFS then keeps one stat per entry object for every listing and
      // lookup of this version, instead of a fresh one per entry per request (100
      // concurrent listings of 10,000 entries built 1,000,000 stats, 400 MiB of heap).
      for (const [, entry] of entries) freezeEntry(entry);
      const sorted = Object.freeze(entries.sort(([a], [b]) => compareKeys(a, b)));
      this.#keepSorted(dir.ino, { keys, parts, sorted });
      return sorted as [string, Entry][];
    }
  }

  /**
   * Keeps `listing` as `ino`'s, and drops the listings of versions the metadata cache no
   * longer holds: before, up to {@linkcode SORTED_DIRS} listings kept their directories'
   * decoded objects alive whatever the cache's memory bound had forgotten.
   */
  #keepSorted(ino: string, listing: SortedListing): void {
    this.#sorted.delete(ino);
    for (const [other, kept] of this.#sorted) {
      const gone = (key: string, i: number) => {
        const held = this.meta.held(key);
        const part = kept.parts[i];
        return typeof part === "string" ? held?.etag !== part : held?.value !== part;
      };
      if (kept.keys.some(gone)) {
        this.#sorted.delete(other);
      }
    }
    this.#sorted.set(ino, listing);
    if (this.#sorted.size > SORTED_DIRS) this.#sorted.delete(this.#sorted.keys().next().value!);
  }

  /** How many sorted listings are kept (for tests of the bound). */
  get sortedListings(): number {
    return this.#sorted.size;
  }

  /** The sorted listing made from exactly these objects (the same versions), if kept. */
  #sortedOf(ino: string, parts: readonly (object | string)[]): [string, Entry][] | null {
    const kept = this.#sorted.get(ino);
    if (!kept || kept.parts.length !== parts.length) return null;
    if (kept.parts.some((part, i) => part !== parts[i])) return null;
    return kept.sorted as [string, Entry][];
  }

  /** A page of sharded `dir` in hash order after `from`, a shard at a time (`hashPage`). */
  pageByHash(
    dir: DirObject,
    from: HashPosition | null,
    options: Omit<HashPageOptions, "fresh">,
  ): Promise<HashPage> {
    const fresh = async (ino: string) => (await this.get(ino))?.value ?? null;
    return hashPage(this.meta, dir, from, { ...options, fresh });
  }

  /** Number of entries (for rmdir's emptiness check without building a sorted list). */
  async isEmpty(dir: DirObject): Promise<boolean> {
    if (!isSharded(dir)) return Object.keys(dir.entries ?? {}).length === 0;
    return (await this.list(dir)).length === 0;
  }

  /**
   * Changes entries named `names` of directory `ino` in one atomic, group-committed CAS.
   * `op` must throw before changing anything if it fails. In an unsharded directory the
   * directory's mtime and ctime become `now` when an entry changed, unless `touch` is
   * false (a file's own data or attributes changed, not the directory's contents). `op`
   * is also told the ETag of the version of the object holding the names that its change
   * builds on (see {@linkcode heldVersion}); `guard`, a look before the CAS of a change
   * `op` made (see {@linkcode Guard}).
   *
   * @throws {CrossObjectError} when the names live in different shards.
   */
  async update<R>(
    ino: string,
    names: readonly string[],
    op: (draft: EntryDraft, base: string | null) => R,
    options: { now?: number; touch?: boolean; queued?: () => void; guard?: Guard<R> } = {},
  ): Promise<R> {
    const now = options.now ?? this.#now();
    const touch = options.touch ?? true;
    for (let attempt = 0;; attempt++) {
      // Which object to change (and that there is one) by the cached version: the CAS
      // checks the rest. Gone is only believed from a fresh read.
      let current = await this.get(ino, attempt === 0 ? { cached: true } : {});
      if (!current || current.value.removing) current = await this.get(ino);
      if (!current || current.value.removing) throw new DirectoryGone(ino);
      const dir = current.value;
      try {
        if (dir.ages) {
          const change = { names, op, now: touch ? now : null, ...options };
          return await this.#ages.update(dir, change, attempt);
        }
        if (!dir.shards) {
          return await this.#updateRoot(ino, op, touch ? now : null, options);
        }
        const refs = new Set(names.map((n) => shardFor(dir.shards!, n).id));
        if (refs.size > 1) throw new CrossObjectError();
        const ref = shardFor(dir.shards, names[0] ?? "");
        return await this.#updateShard(dir, ref, op, touch ? now : null, options);
      } catch (error) {
        startAgain(error, attempt, dirKey(ino));
      }
    }
  }

  /**
   * The ETag of the version of the object holding entry `name` of directory `ino` (the
   * directory's own object, or the shard) that this instance holds now, read only when it
   * holds none; null when the directory is gone. A version held now was current at some
   * moment before whatever the caller does next: an {@linkcode update} that builds on it
   * (its `base`) can only commit if nothing changed the object since that moment.
   */
  async heldVersion(ino: string, name: string): Promise<string | null> {
    const dir = await this.get(ino, { cached: true });
    const aged = dir?.value.ages && await locateAged(this.meta, dir.value, name, { cached: true });
    if (aged !== undefined) return aged?.shard.etag ?? null; // age-sharded
    if (!dir?.value.shards) return dir?.etag ?? null;
    const key = shardKey(ino, shardFor(dir.value.shards, name).id);
    return (await this.meta.read<ShardObject>(key, checkShard, { cached: true }))?.etag ?? null;
  }

  /**
   * Announces a change of entry `name` of `dir` on its way, so that the batch of the
   * object holding it waits for it (see {@linkcode MetaStore.expect}); call the returned
   * function right after the {@linkcode update} call, or when the change is abandoned.
   */
  expect(dir: DirObject, name: string): () => void {
    const id = objectOfName(dir, name); // age-sharded: where a new name goes
    return this.meta.expect(id === null ? dirKey(dir.ino) : shardKey(dir.ino, id));
  }

  /** Changes the directory object's own attributes or xattrs (chmod, utimes, setxattr). */
  updateSelf<R>(
    ino: string,
    op: (dir: DirObject) => R,
  ): Promise<R> {
    return this.meta.updateGrouped<DirObject, R>(dirKey(ino), checkDir, (dir) => {
      if (!dir) throw new DirectoryGone(ino);
      return { value: dir, result: op(dir) };
    });
  }

  /** See {@linkcode markRemoving} in `_dir_removal.ts`: rmdir's first step. */
  markRemoving(ino: string, id: string): Promise<"marked" | "not-empty" | "busy" | "dead"> {
    return markRemoving(this.meta, ino, id);
  }

  /** See {@linkcode tombstone} in `_dir_removal.ts`: makes a marked removal final. */
  tombstone(ino: string, id: string): Promise<boolean> {
    return tombstone(this.meta, ino, id);
  }

  /** See {@linkcode unmarkRemoving} in `_dir_removal.ts`: reopens a marked directory. */
  unmarkRemoving(ino: string, mark: string | number): Promise<boolean> {
    return unmarkRemoving(this.meta, ino, mark);
  }

  /** Deletes an (empty) directory's object and any shard objects. */
  async remove(dir: DirObject): Promise<void> {
    await this.meta.remove(dirKey(dir.ino));
    const ids = shardIdsOf(dir);
    if (ids) await this.#splits.deleteShards(ids.map((id) => shardKey(dir.ino, id)));
  }

  async #updateRoot<R>(
    ino: string,
    op: (draft: EntryDraft, base: string | null) => R,
    now: number | null,
    { queued, guard }: { queued?: () => void; guard?: Guard<R> },
  ): Promise<R> {
    const key = dirKey(ino);
    const committed = this.meta.updateGrouped<DirObject, R>(key, checkDir, (dir, base) => {
      if (!dir || dir.removing) throw new DirectoryGone(ino);
      if (dir.shards || dir.ages) throw new Resharded();
      if (!isLazy(dir)) dir.entries ??= {};
      const { draft, changed, touched } = entryDraft(dir, dir, this.#storeLatest);
      const result = op(draft, base);
      if (!changed()) return { result };
      pruneApplied(dir, this.meta.clock.now());
      if (now !== null && touched()) {
        dir.attr.mtime = dir.attr.ctime = Math.max(now, dir.attr.mtime);
      }
      if (!this.#over(key, countOf(dir), draftGrowth(dir))) {
        return { value: dir, result, ...guarded(guard) };
      }
      // Over the limit: this same CAS makes the directory age-sharded (its entries the
      // first closed shard), serialised with the creates that fill it instead of racing
      // them. The records of applied renames and of releases go with their names.
      const { before, undo } = this.#ages.convert(ino, dir);
      return { value: dir, result, ...guarded(guard), before, undo };
    });
    queued?.();
    return await committed;
  }

  async #updateShard<R>(
    dir: DirObject,
    ref: ShardRef,
    op: (draft: EntryDraft, base: string | null) => R,
    now: number | null,
    { queued, guard }: { queued?: () => void; guard?: Guard<R> },
  ): Promise<R> {
    const key = shardKey(dir.ino, ref.id);
    let sealed = false;
    // A shard that no split can part takes each change on a copy, kept only if it stays
    // under the limits or shrinks: a change refused leaves the group's draft as it was.
    const full = ref.depth >= HASH_BITS;
    let refused = false;
    const committed = this.meta.updateGrouped<ShardObject, R>(key, checkShard, (group, base) => {
      refused = false;
      if (!group) throw new Resharded();
      const shard = full ? draftCopy(group) : group;
      if (shard.removing) throw new DirectoryGone(dir.ino);
      if (shard.sealed) {
        sealed = true;
        throw new Resharded();
      }
      const { draft, changed, touched } = entryDraft(dir, shard, this.#storeLatest);
      const result = op(draft, base);
      if (!changed()) return { result };
      pruneApplied(shard, this.meta.clock.now());
      if (now !== null && touched()) shard.mtime = Math.max(now, shard.mtime ?? 0);
      // Over the limit: the write that fills the shard also seals it; the split follows.
      const grown = full ? draftGrowth(group) + draftGrowth(shard) : draftGrowth(shard);
      if (this.#over(key, countOf(shard), grown)) {
        if (full && draftGrowth(shard) > 0) return { result: (refused = true) as R };
        if (!full) shard.sealed = sealed = true;
      }
      return { value: shard, result, ...guarded(guard) };
    });
    queued?.();
    const result = await committed.catch(async (error) => {
      if (error instanceof Resharded && sealed) await this.#splits.split(dir.ino, ref);
      throw error;
    });
    if (refused) throw new ShardFull(key);
    if (sealed) await this.#splits.split(dir.ino, ref).catch(() => {});
    return result;
  }

  /** Whether an object of `count` entries is over a limit (see {@linkcode overLimits}). */
  #over(key: string, count: number, grown: number): boolean {
    return overLimits(this.meta, this.#limits, { key, count, grown });
  }
}
