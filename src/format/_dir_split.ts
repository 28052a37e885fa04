/**
 * Splits of a sharded directory's full shards (`dir.ts`): the write that takes a shard over
 * its limits seals it, and a split then writes its entries as two new shards on the next hash
 * bit (create-only) before one CAS of `d/<ino>` swaps them into the shard table. See
 * docs/format.md, "Directories".
 *
 * @module
 */

import type { MetaStore, Versioned } from "./cas.ts";
import { dirKey, shardKey } from "./keys.ts";
import {
  checkShard,
  decodedSize,
  type DirObject,
  encode,
  type Entry,
  type ShardObject,
  type ShardRef,
} from "./meta.ts";
import { splitHalves } from "./_dir_entries.ts";
import { appliedOf } from "./_dir_applied.ts";
import { releasedOf } from "./_dir_released.ts";

/**
 * The bits of a name's hash a split can go by: a shard this deep holds names of one hash
 * (a user can pick such names: FNV-1a multi-collisions are cheap), which no split parts.
 * Split further, its halves named prefixes longer than the hash, which no name matched.
 */
export const HASH_BITS = 32;

/** A change refused: it would take a shard of names of one hash over its limits. */
export class ShardFull extends Error {
  constructor(key: string) {
    super(`Shard ${key} holds names of one hash only and is full`);
    this.name = "ShardFull";
  }
}

/** What takes a shard over its limits (`DirLimits` of `dir.ts`). */
interface Limits {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly maxDecodedBytes: number;
}

/**
 * Whether object `key` of `count` entries is over a limit. The stored size is that of the
 * version last read or written (measuring the draft would mean encoding it on every
 * change), so a directory that grows by stored bytes splits one write late. The decoded
 * size is that version's plus what the changes of this draft added (`grown`, estimated
 * as they are made): the change that takes it over the limit splits it (or seals the
 * shard), and the changes after it in the same group commit wait for the split (they
 * meet the directory sharded, or the shard sealed). So no writer makes an object longer
 * than the limit by more than one change: before, a group commit of many xattr changes
 * went out whole, however long it made the object. `decodedOnly`: only the decoded size
 * counts (a closed age shard, which takes no new names but a few: `_dir_age_writes.ts`).
 */
export function overLimits(
  meta: MetaStore,
  limits: Limits,
  { key, count, grown, decodedOnly }: {
    key: string;
    count: number;
    grown: number;
    decodedOnly?: boolean | undefined;
  },
): boolean {
  if (count <= 1) return false;
  const held = meta.held(key);
  const size = held?.size ?? 0;
  const decoded = (held?.decoded ?? size) + grown;
  if (decodedOnly) return decoded > limits.maxDecodedBytes;
  return count > limits.maxEntries || size > limits.maxBytes ||
    decoded > limits.maxDecodedBytes;
}

/** The splits of one instance: at most one under way per shard. */
export class ShardSplits {
  readonly #meta: MetaStore;
  readonly #limits: Limits;
  readonly #root: (ino: string) => Promise<Versioned<DirObject> | null>;
  /**
   * Splits under way in this instance, by shard key: every writer that meets a sealed shard
   * waits for the one split. Each splitting on its own (16 writers of a group commit, and
   * those arriving while the shard was sealed) wrote two halves each and deleted all but
   * one pair again. Other instances still split the same shard at once; one table swap wins.
   */
  readonly #splitting = new Map<string, Promise<void>>();

  /** `root` reads a directory's object afresh (`Directories.get`). */
  constructor(
    meta: MetaStore,
    limits: Limits,
    root: (ino: string) => Promise<Versioned<DirObject> | null>,
  ) {
    this.#meta = meta;
    this.#limits = limits;
    this.#root = root;
  }

  /** Splits one shard of a sharded directory (or finishes a split someone began). */
  split(ino: string, ref: ShardRef): Promise<void> {
    const key = shardKey(ino, ref.id);
    const under = this.#splitting.get(key);
    if (under) return under;
    const split = this.#split(ino, ref, key).finally(() => this.#splitting.delete(key));
    this.#splitting.set(key, split);
    return split;
  }

  /**
   * Deletes shard objects, and their versions from the metadata cache: a split that lost
   * its race deletes the halves it wrote, and the cache kept each of them (thousands of
   * entries, never to be read again) until its bound pushed it out, counted in its budget
   * meanwhile; a 20,000-file fill by 16 writers left 24.
   */
  async deleteShards(keys: string[]): Promise<void> {
    for (const key of keys) this.#meta.forget(key);
    await this.#meta.store.deleteMany(keys);
  }

  /** Creates shard objects (create-only: their ids are new). */
  async writeShards(halves: { key: string; shard: ShardObject }[]): Promise<void> {
    await Promise.all(halves.map(async ({ key, shard }) => {
      if (!await this.#meta.write(key, shard, null)) {
        throw new Error(`Shard ${key} exists already`);
      }
    }));
  }

  async #split(ino: string, ref: ShardRef, key: string): Promise<void> {
    const shard = await this.#meta.read<ShardObject>(key, checkShard);
    if (!shard) return;
    let { entries } = shard.value;
    /** The records of applied renames and of releases: they go with their names. */
    let records = appliedOf(shard.value);
    let released = releasedOf(shard.value);
    if (!shard.value.sealed) {
      if (!this.#overLimit(entries)) return;
      const sealed = await this.#meta.write(key, { ...shard.value, sealed: true }, shard);
      if (!sealed) return; // someone changed it; the next writer over the limit retries
      entries = sealed.value.entries;
      records = appliedOf(sealed.value);
      released = releasedOf(sealed.value);
    }
    const inTable = (root: Versioned<DirObject> | null) =>
      root?.value.shards?.some((s) => s.id === ref.id) ? root : null;
    let root = inTable(await this.#root(ino));
    if (!root) return; // already done
    const halves = splitHalves(ino, ref, entries, records, released);
    // The halves keep the time of the last change of entries (the directory's mtime).
    const { mtime } = shard.value;
    if (mtime !== undefined) { for (const half of halves) half.shard.mtime = mtime; }
    await this.writeShards(halves);
    const refs = halves.map((h) => h.ref);
    // A lost swap of the table (another shard's split, an attribute change) tries again with
    // the same halves: they hold the sealed shard's entries, which nothing changes. Only a
    // table that no longer names the shard (someone else's split won) makes them garbage.
    for (let attempt = 0; root && attempt < 20; attempt++) {
      const shards = root.value.shards!.flatMap((s) => s.id === ref.id ? refs : [s]);
      if (await this.#meta.write(dirKey(ino), { ...root.value, shards }, root)) {
        await this.#meta.remove(key);
        return;
      }
      root = inTable(await this.#root(ino));
    }
    await this.deleteShards(refs.map((h) => shardKey(ino, h.id)));
  }

  #overLimit(entries: Record<string, Entry>): boolean {
    const count = Object.keys(entries).length;
    if (count > this.#limits.maxEntries) return true;
    if (count <= 1) return false;
    const bytes = encode(entries);
    return bytes.length > this.#limits.maxBytes ||
      decodedSize(bytes) > this.#limits.maxDecodedBytes;
  }
}
