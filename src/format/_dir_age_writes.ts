/**
 * Age shards, the writing side (`dir.ts` calls it; the reading side is `_dir_ages.ts`): a
 * change of entries commits to the one shard that holds its names, or, for a name held
 * nowhere, to the directory's open shard, where concurrent creates group as in a small
 * directory. The write that fills the open shard closes it (`closed: true`: no new name
 * ever again); a roll-over then opens a new empty shard and adds the closed one's filter
 * to the table by one CAS of `d/<ino>`. A change that meets its shard closed while it adds
 * a name starts again from the table (after helping the roll-over along). An unsharded
 * directory over the limits becomes age-sharded in the CAS that takes it over: its entries
 * become the first closed shard. See docs/format.md, "Age shards".
 *
 * @module
 */

import type { MetaStore, Versioned } from "./cas.ts";
import { dirKey, newId, shardKey } from "./keys.ts";
import {
  checkShard,
  type ClosedShardRef,
  type DirObject,
  draftCopy,
  FORMAT_VERSION,
  type ShardObject,
} from "./meta.ts";
import { HASH_BITS, ShardFull } from "./_dir_split.ts";
import { appliedOf, pruneApplied, setApplied } from "./_dir_applied.ts";
import { releasedOf, setReleased } from "./_dir_released.ts";
import { countOf, entryOf, materialize, putEntry } from "./_entries_delta.ts";
import {
  CrossObjectError,
  DirectoryGone,
  draftGrowth,
  type EntryDraft,
  entryDraft,
  type Guard,
  nameHash,
  Resharded,
  splitHalves,
} from "./_dir_entries.ts";
import { closedRef, locateAged } from "./_dir_ages.ts";
import { placeOf } from "./_dir_place.ts";

/** What a change of entries asks (`Directories.update`'s arguments, decided). */
export interface AgeChange<R> {
  readonly names: readonly string[];
  readonly op: (draft: EntryDraft, base: string | null) => R;
  /** The time the directory's entries changed (null: a file's own change, not touched). */
  readonly now: number | null;
  readonly queued?: () => void;
  readonly guard?: Guard<R>;
}

/** What the writers need of `Directories`. */
export interface AgeHost {
  readonly meta: MetaStore;
  /**
   * Whether an object of `count` entries at `key`, grown by `grown` bytes of JSON in this
   * draft, is over the limits (`decodedOnly`: over the decoded size; `ShardSplits.over`).
   */
  readonly over: (key: string, count: number, grown: number, decodedOnly?: boolean) => boolean;
  /** Reads a directory's object afresh. */
  readonly root: (ino: string) => Promise<Versioned<DirObject> | null>;
  /** The time a record of an applied rename is noted with. */
  readonly at: () => number;
  /** Creates shard objects (create-only), and deletes them. */
  readonly writeShards: (shards: { key: string; shard: ShardObject }[]) => Promise<void>;
  readonly deleteShards: (keys: string[]) => Promise<void>;
}

/** A change run where only a record of its name is: it would add the name there. */
class NotHere extends Error {}

/** What a change run where only a record of its name is answers when it took none. */
const NOT_TAKEN = Symbol("not taken");

/**
 * The names a closed shard's filter must pass: its entries', and those of its records of
 * removals (applied renames, released links' proofs), which are looked for by name.
 */
function filterNames(shard: object, entries: Record<string, unknown>): string[] {
  const records = [...appliedOf(shard), ...releasedOf(shard)];
  return [...Object.keys(entries), ...records.map((r) => r.name)];
}

/** The writers of one instance's age-sharded directories. */
export class AgeShards {
  readonly #host: AgeHost;
  /** Roll-overs under way in this instance, by shard key: every writer waits for the one. */
  readonly #rolling = new Map<string, Promise<void>>();
  /** Splits of closed shards under way in this instance, by shard key (the same). */
  readonly #splitting = new Map<string, Promise<void>>();

  constructor(host: AgeHost) {
    this.#host = host;
  }

  /**
   * Turns draft `dir`, an unsharded directory's object over the limits, into an
   * age-sharded one in the same CAS: its entries (and records of applied renames) become
   * the first closed shard, next to a new empty open one. Returns the step's `before` and
   * `undo` (writing the two shards before the CAS, deleting them if it lost).
   */
  convert(ino: string, dir: DirObject): { before: () => Promise<void>; undo: () => Promise<void> } {
    const entries = materialize(dir);
    const records = appliedOf(dir);
    const proofs = releasedOf(dir);
    const first: ShardObject = { v: FORMAT_VERSION, ino, entries: {}, closed: true };
    for (const [name, entry] of Object.entries(entries)) putEntry(first.entries, name, entry);
    if (records.length > 0) setApplied(first, records);
    if (proofs.length > 0) setReleased(first, proofs);
    const closedId = newId();
    const openId = newId();
    dir.ages = { closed: [closedRef(closedId, filterNames(first, entries))], open: openId };
    delete dir.entries;
    setApplied(dir, []);
    setReleased(dir, []);
    const shards = [
      { key: shardKey(ino, closedId), shard: first },
      { key: shardKey(ino, openId), shard: { v: FORMAT_VERSION, ino, entries: {} } },
    ];
    return {
      before: () => this.#host.writeShards(shards),
      undo: () => this.#host.deleteShards(shards.map((s) => s.key)),
    };
  }

  /**
   * Commits `change` to the shard of age-sharded directory `dir` that holds its names (the
   * open shard for names held nowhere).
   * @throws {Resharded} when the table or a shard changed under it: start again from a
   *   fresh read of the directory.
   * @throws {CrossObjectError} when the names live in different shards.
   */
  async update<R>(dir: DirObject, change: AgeChange<R>, attempt: number): Promise<R> {
    const reads = attempt === 0 ? { cached: true } : {};
    const { meta } = this.#host;
    const names = change.names.length > 0 ? change.names : [""];
    const holders = await Promise.all(names.map((n) => locateAged(meta, dir, n, reads)));
    if (holders.some((h) => h === null)) throw new Resharded();
    const ids = new Set(holders.map((h) => h!.id));
    if (ids.size > 1) throw new CrossObjectError();
    const holder = holders[0]!;
    // A record of an applied rename of the name in a closed shard (which held the name
    // when the rename was applied; the name may be held elsewhere since): a change that
    // takes a record runs there first, where it sees the name absent. Kept only if it took
    // one and changed nothing else: any other change (which it may not make there), or
    // none, or a failure, and it runs where the name is. A record names its intent, whose
    // entry never comes back once removed, so taking it answers the same wherever the name
    // is now.
    if (holder.record && change.names.length === 1) {
      const taken = await this.#commit(dir, holder.record, change, {
        open: false,
        recordOnly: true,
      })
        .catch((error) => {
          if (error instanceof NotHere) return NOT_TAKEN;
          throw error;
        });
      if (taken !== NOT_TAKEN) return taken as R;
    }
    const options = { open: holder.open, recordOnly: false };
    return await this.#commit(dir, holder.id, change, options) as R; // only a record run takes none
  }

  async #commit<R>(
    dir: DirObject,
    id: string,
    { names, op, now, queued, guard }: AgeChange<R>,
    { open, recordOnly }: { open: boolean; recordOnly: boolean },
  ): Promise<R | typeof NOT_TAKEN> {
    const { meta } = this.#host;
    const key = shardKey(dir.ino, id);
    /** Met closed while adding a name: the roll-over may still be due. */
    let full = false;
    /** This change's write filled the open shard and closed it. */
    let closing = false;
    /** Met sealed, or this change's write took a closed shard past the decoded size. */
    let sealed = false;
    // A closed shard split down to names of one hash (32 bits deep) no split can part, as a
    // hash shard's (`ShardFull`, `_dir_split.ts`): each change is made on a copy, kept only
    // if it stays under the decoded size or does not grow it.
    const unsplittable = !open && (refOf(dir, id)?.depth ?? 0) >= HASH_BITS;
    let refused = false;
    const committed = meta.updateGrouped<ShardObject, R | typeof NOT_TAKEN>(key, checkShard, (
      group,
      base,
    ) => {
      refused = false;
      if (!group) throw new Resharded();
      const shard = unsplittable ? draftCopy(group) : group;
      if (shard.removing) throw new DirectoryGone(dir.ino);
      if (shard.sealed) {
        sealed = true; // a closed shard being split: its halves take the change
        throw new Resharded();
      }
      // Names a closed shard may not take: those it does not hold, but the few placed
      // there by the table this change read (`_dir_place.ts`; not if that table still
      // names the shard open).
      const absent = new Set(
        names.filter((n) =>
          entryOf(shard, n) === undefined && (open || placeOf(dir.ages!, nameHash(n)) !== id)
        ),
      );
      if (shard.closed && absent.size > 0 && !recordOnly) {
        // The name left this closed shard since it was found there; or the open shard
        // filled up (a roll-over is due): from the table again.
        full = open;
        throw new Resharded();
      }
      const made = entryDraft(dir, shard, this.#host.at);
      if (recordOnly) return takeOnly(made.draft, () => made.changed(), (d) => op(d, base), shard);
      const draft = shard.closed ? noNewNames(made.draft, absent) : made.draft;
      const result = op(draft, base);
      if (!made.changed()) return { result };
      pruneApplied(shard, meta.clock.now());
      if (now !== null && made.touched()) shard.mtime = Math.max(now, shard.mtime ?? 0);
      // The write that takes the open shard over a limit (decoded size too, with what this
      // draft added) closes it; one that takes a closed shard over the decoded size seals
      // it, and a split follows. The changes after it in the group meet it closed or sealed.
      const grown = unsplittable ? draftGrowth(group) + draftGrowth(shard) : draftGrowth(shard);
      if (open && !shard.closed && this.#host.over(key, countOf(shard), grown)) {
        shard.closed = true;
        closing = true;
      } else if (shard.closed && this.#host.over(key, countOf(shard), grown, true)) {
        if (unsplittable && draftGrowth(shard) > 0) return { result: (refused = true) as R };
        if (!unsplittable) shard.sealed = sealed = true;
      }
      return { value: shard, result, ...(guard ? { guard } : {}) };
    });
    queued?.();
    const result = await committed.catch(async (error) => {
      if (error instanceof Resharded && full) await this.rollOver(dir.ino, id);
      if (error instanceof Resharded && sealed) await this.splitClosed(dir.ino, id);
      throw error;
    });
    if (refused) throw new ShardFull(key);
    if (closing) await this.rollOver(dir.ino, id).catch(() => {});
    if (sealed) await this.splitClosed(dir.ino, id).catch(() => {});
    return result;
  }

  /**
   * Rolls age-sharded directory `ino` over from open shard `id` (or finishes a roll-over
   * someone began): closes the shard if it is over the limits and not yet closed, writes a
   * new empty open shard, and swaps the table by CAS. Nothing if the table has moved on.
   */
  rollOver(ino: string, id: string): Promise<void> {
    const key = shardKey(ino, id);
    const under = this.#rolling.get(key);
    if (under) return under;
    const rolling = this.#rollOver(ino, id, key).finally(() => this.#rolling.delete(key));
    this.#rolling.set(key, rolling);
    return rolling;
  }

  async #rollOver(ino: string, id: string, key: string): Promise<void> {
    const { meta } = this.#host;
    let shard = await meta.read<ShardObject>(key, checkShard);
    if (!shard) return;
    if (!shard.value.closed) {
      if (!this.#host.over(key, countOf(shard.value), 0)) return;
      const closed = await meta.write<ShardObject>(key, { ...shard.value, closed: true }, shard);
      if (!closed) return; // changed meanwhile: the next writer over the limits closes it
      shard = closed;
    }
    // Not into a directory being removed: its marker read the table, and would leave a
    // shard it did not mark open to new names.
    const inTable = (root: Versioned<DirObject> | null) =>
      root?.value.ages?.open === id && root.value.removing === undefined ? root : null;
    let root = inTable(await this.#host.root(ino));
    if (!root) return;
    // A closed shard gains no name: its names now are all it will ever hold.
    const ref = closedRef(id, filterNames(shard.value, shard.value.entries));
    const openId = newId();
    const openKey = shardKey(ino, openId);
    await this.#host.writeShards([{
      key: openKey,
      shard: { v: FORMAT_VERSION, ino, entries: {} },
    }]);
    // A lost swap (another change of the table, an attribute change) tries again while
    // the table still names this shard open; once it does not, another roll-over won.
    for (let attempt = 0; root && attempt < 20; attempt++) {
      const ages = { closed: [...root.value.ages!.closed, ref], open: openId };
      if (await meta.write(dirKey(ino), { ...root.value, ages }, root)) return;
      root = inTable(await this.#host.root(ino));
    }
    await this.#host.deleteShards([openKey]);
  }

  /**
   * Splits closed shard `id` of age-sharded directory `ino` in two on the next bit of its
   * names' hashes (or finishes a split someone began): seals it if it is over the decoded
   * size and not yet sealed, writes the two halves (closed, each with the filter of its own
   * names), and swaps them into the table in its place by CAS. A closed shard takes no new
   * name (but those its filter passes, see docs/format.md), so it grows only by its names'
   * changes (xattrs, inline data): up to 4,096 entries of 128 KiB of xattrs each, where every
   * other object stays under 4 MiB of JSON (docs/format.md, "Limits").
   */
  splitClosed(ino: string, id: string): Promise<void> {
    const key = shardKey(ino, id);
    const under = this.#splitting.get(key);
    if (under) return under;
    const splitting = this.#splitClosed(ino, id, key).finally(() => this.#splitting.delete(key));
    this.#splitting.set(key, splitting);
    return splitting;
  }

  async #splitClosed(ino: string, id: string, key: string): Promise<void> {
    const { meta } = this.#host;
    let shard = await meta.read<ShardObject>(key, checkShard);
    if (!shard?.value.closed) return;
    const table = (await this.#host.root(ino))?.value.ages;
    if ((table?.closed.find((c) => c.id === id)?.depth ?? 0) >= HASH_BITS) return; // no parting
    if (!shard.value.sealed) {
      if (!this.#host.over(key, countOf(shard.value), 0, true)) return;
      const sealed = await meta.write<ShardObject>(key, { ...shard.value, sealed: true }, shard);
      if (!sealed) return; // changed meanwhile: the next writer over the limit seals it
      shard = sealed;
    }
    const refOf = (root: Versioned<DirObject> | null) =>
      root?.value.removing === undefined ? root?.value.ages?.closed.find((c) => c.id === id) : null;
    let root = await this.#host.root(ino);
    if (root?.value.ages?.open === id) {
      // Closed and sealed before its roll-over named it closed: that first.
      await this.rollOver(ino, id);
      root = await this.#host.root(ino);
    }
    const ref = refOf(root);
    if (!ref) return; // split already, or the directory is being removed
    const { entries } = shard.value;
    const range = { bits: ref.bits ?? 0, depth: ref.depth ?? 0, id };
    const halves = splitHalves(
      ino,
      range,
      entries,
      appliedOf(shard.value),
      releasedOf(shard.value),
    );
    const refs: ClosedShardRef[] = halves.map((half) => {
      half.shard.closed = true;
      if (shard.value.mtime !== undefined) half.shard.mtime = shard.value.mtime;
      const { bits, depth } = half.ref;
      const filtered = closedRef(half.ref.id, filterNames(half.shard, half.shard.entries));
      return { ...filtered, line: ref.line ?? id, bits, depth };
    });
    await this.#host.writeShards(halves);
    // As a roll-over's: a lost swap tries again with the same halves while the table still
    // names the sealed shard (nothing changes it); once it does not, another split won.
    for (let attempt = 0; root && refOf(root) && attempt < 20; attempt++) {
      const closed = root.value.ages!.closed.flatMap((c) => c.id === id ? refs : [c]);
      const ages = { ...root.value.ages!, closed };
      if (await meta.write(dirKey(ino), { ...root.value, ages }, root)) {
        await this.#host.deleteShards([key]);
        return;
      }
      root = await this.#host.root(ino);
    }
    await this.#host.deleteShards(halves.map((h) => h.key));
  }
}

/** The table's entry of closed shard `id` of age-sharded `dir`, if it is one. */
function refOf(dir: DirObject, id: string): ClosedShardRef | undefined {
  return dir.ages!.closed.find((c) => c.id === id);
}

/**
 * Runs `op` where only a record of its name is (see `AgeShards.update`): on a view of
 * `draft` that lets it take records (and look at proofs) and nothing else (any other change
 * throws before it is made). Its result stands only if it took one, or found a proof; else
 * (it changed nothing, it tried another change, or it failed) the answer is
 * {@linkcode NOT_TAKEN}, and it runs where its name is.
 */
function takeOnly<R>(
  draft: EntryDraft,
  changed: () => boolean,
  op: (draft: EntryDraft) => R,
  shard: ShardObject,
): { value?: ShardObject; result: R | typeof NOT_TAKEN } {
  const refuse = () => {
    throw new NotHere();
  };
  /** It found a proof there (a look that takes nothing stands too). */
  let found = false;
  const view: EntryDraft = {
    dir: draft.dir,
    get: (name) => draft.get(name),
    set: refuse,
    delete: refuse,
    noteApplied: refuse,
    takeApplied: (id) => draft.takeApplied(id),
    noteReleased: refuse,
    released: (id) => {
      const proof = draft.released(id);
      if (proof) found = true;
      return proof;
    },
    takeReleased: (id) => draft.takeReleased(id),
  };
  let result: R;
  try {
    result = op(view);
  } catch (error) {
    // A failure after it took a record is its own: the record is gone from the draft.
    if (changed() && !(error instanceof NotHere)) throw error;
    if (changed()) throw new Error("A change took a record of an applied rename, then another");
    return { result: NOT_TAKEN };
  }
  if (changed()) return { value: shard, result };
  return found ? { result } : { result: NOT_TAKEN };
}

/**
 * `draft` of a closed shard, which takes no new name: adding one of `absent` (names it
 * does not hold) throws before anything changes. A guard: a change whose names the shard
 * does not all hold starts again from the table before it runs (see `#commit`), and a
 * change only changes the names it gives.
 */
function noNewNames(draft: EntryDraft, absent: ReadonlySet<string>): EntryDraft {
  return {
    dir: draft.dir,
    get: (name) => draft.get(name),
    set(name, entry) {
      if (absent.has(name)) throw new NotHere();
      draft.set(name, entry);
    },
    delete: (name) => draft.delete(name),
    noteApplied: (id, name) => draft.noteApplied(id, name),
    takeApplied: (id) => draft.takeApplied(id),
    noteReleased: (id, ino, name, link) => draft.noteReleased(id, ino, name, link),
    released: (id) => draft.released(id),
    takeReleased: (id) => draft.takeReleased(id),
  };
}
