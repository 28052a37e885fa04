/**
 * Metadata reads and compare-and-swap writes: {@linkcode MetaStore}.
 *
 * Reads keep the last version seen of each object and revalidate it with a conditional
 * GET (`If-None-Match`), so an instance sees every other instance's committed change on
 * its next read while an unchanged object costs a 304 and no body.
 *
 * Writes are CAS: `If-Match` the ETag the change was computed from, or
 * `If-None-Match: *` to create. A lost race re-reads, re-checks and re-applies, with a
 * bounded number of attempts and jittered backoff.
 *
 * Every object written here carries its write history, which resolves a write whose answer
 * was lost exactly, never by a second application (`_cas_history.ts`). Group commit batches
 * the updates of a busy key into one CAS (`_cas_group.ts`). Both work over the per-key state
 * this file keeps: the cached versions, and when each was validated.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { readAll } from "../store/_util.ts";
import { type ObjectStore, StoreError } from "../store/types.ts";
import {
  backoff,
  type Check,
  ContentionError,
  type Decision,
  OutcomeUnknownError,
  type Versioned,
} from "./_cas_base.ts";
import { GroupCommit, type GroupStep } from "./_cas_group.ts";
import { StoreClock } from "./store_clock.ts";
import { cachedMemory, decodeBytesOf, META_CACHE_BYTES } from "./_cas_memory.ts";
import {
  nextWrites,
  resolveLostWrite,
  stampable,
  UNCHANGED,
  unstamp,
  WRITE_ATTEMPTS,
  WRITES,
} from "./_cas_history.ts";
import { decode, DECODE_MAX_BYTES, encode, sizesOf, withTopMember } from "./meta.ts";

export {
  type Check,
  ContentionError,
  type Decision,
  outcomeUnknown,
  OutcomeUnknownError,
  type Versioned,
} from "./_cas_base.ts";
export type { GroupStep } from "./_cas_group.ts";
export { WRITE_HISTORY } from "./_cas_history.ts";
export { cachedMemory, META_CACHE_BYTES } from "./_cas_memory.ts";

/** Options of {@linkcode MetaStore.read}. */
export interface ReadOptions {
  /**
   * Inside a request scope ({@linkcode MetaStore.inScope}), a version validated by a GET
   * (or written by a PUT) issued after the scope began is returned without a new GET: that
   * request reflects every change acknowledged before the scope began, so the answer is
   * still linearizable. Only for reads that need no fresher view than the request's start
   * (path resolution, attributes); a protocol that must see a change made after its own
   * earlier write or read (a Dekker-style check, a retry after a conflict) must not ask.
   */
  readonly recent?: boolean;
  /**
   * Any cached version, validated or not, without a GET (a GET when there is none): only
   * for what a later CAS of this very object checks (an optimistic write's view of the
   * directory it commits to).
   */
  readonly cached?: boolean;
}

export interface MetaStoreOptions {
  /** CAS attempts before giving up with {@linkcode ContentionError} (default 40). */
  readonly attempts?: number;
  /** Objects whose last version is remembered for revalidation (default 4096). */
  readonly cacheEntries?: number;
  /**
   * The memory the remembered versions may take, as {@linkcode cachedMemory} estimates it
   * (default {@linkcode META_CACHE_BYTES}); the least recently used are forgotten first.
   */
  readonly cacheBytes?: number;
  /** The host's clock (ms since the epoch), replaceable in tests; see {@linkcode clock}. */
  readonly now?: () => number;
  /** The longest JSON an object read may decode to (default {@linkcode DECODE_MAX_BYTES}). */
  readonly decodeBytes?: number;
}

/**
 * Reads and CAS-writes JSON metadata objects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory.ts";
 * import { MetaStore } from "./cas.ts";
 * const meta = new MetaStore(new MemoryStore());
 * const check = () => null;
 * const n = await meta.update<{ n: number }, number>("counter", check, (v) => {
 *   const next = (v?.value.n ?? 0) + 1;
 *   return { write: { n: next }, result: next };
 * });
 * assert(n === 1);
 * ```
 */
export class MetaStore {
  readonly store: ObjectStore;
  /** The store's clock, learned from the dates of the answers this store's reads and writes get. */
  readonly clock: StoreClock;
  #cache = new Map<string, Versioned<unknown>>();
  /** Per cached key: the tick at which the request that validated the version was issued. */
  #stamps = new Map<string, number>();
  /** Ticks once per GET or PUT issued: orders requests against scope starts. */
  #tick = 0;
  #scope = new AsyncLocalStorage<RequestScope>();
  #reads = new Map<string, ReadState>();
  #attempts: number;
  #cacheEntries: number;
  #cacheBytes: number;
  #decodeBytes: number;
  /** Estimated memory of each remembered version (computed once per version). */
  #weights = new WeakMap<Versioned<unknown>, number>();
  #cachedMemory = 0;
  #grouped: GroupCommit;

  constructor(store: ObjectStore, options: MetaStoreOptions = {}) {
    this.store = store;
    this.clock = new StoreClock(options.now ?? Date.now);
    this.#attempts = options.attempts ?? 40;
    this.#cacheEntries = options.cacheEntries ?? 4096;
    this.#cacheBytes = options.cacheBytes ?? META_CACHE_BYTES;
    this.#decodeBytes = options.decodeBytes ?? DECODE_MAX_BYTES;
    this.#grouped = new GroupCommit({
      attempts: this.#attempts,
      base: (key, check, attempt) => this.#base(key, check, attempt),
      write: (key, value, base) => this.write(key, value, base),
    });
  }

  /**
   * The current version of `key`, or null if absent. The result is shared with the cache:
   * treat it as read-only (mutations get their own copy in {@linkcode update}).
   */
  read<T>(key: string, check: Check, options: ReadOptions = {}): Promise<Versioned<T> | null> {
    if (options.cached) {
      const cached = this.#cache.get(key) as Versioned<T> | undefined;
      if (cached) return Promise.resolve(cached);
    }
    if (options.recent || options.cached) {
      const recent = this.#recent<T>(key);
      if (recent) return recent;
    }
    // Read coalescing: a read that arrives while a GET of the key is in flight waits for
    // the next GET, which starts after it arrived, so it still sees every change committed
    // before it was asked for; all reads arriving meanwhile share that one GET.
    let state = this.#reads.get(key);
    if (!state) {
      state = { queued: null };
      this.#reads.set(key, state);
      return this.#readNow<T>(key, check, state);
    }
    state.queued ??= Promise.withResolvers();
    return state.queued.promise as Promise<Versioned<T> | null>;
  }

  #readNow<T>(key: string, check: Check, state: ReadState): Promise<Versioned<T> | null> {
    const stamp = ++this.#tick;
    const current = this.#readSettle<T>(key, check, state, stamp);
    state.current = { stamp, promise: current };
    return current;
  }

  async #readSettle<T>(
    key: string,
    check: Check,
    state: ReadState,
    stamp: number,
  ): Promise<Versioned<T> | null> {
    try {
      return await this.#fetch<T>(key, check, stamp);
    } finally {
      const next = state.queued;
      if (next) {
        state.queued = null;
        this.#readNow<T>(key, check, state).then(next.resolve, next.reject);
      } else {
        this.#reads.delete(key);
      }
    }
  }

  async #fetch<T>(key: string, check: Check, stamp: number): Promise<Versioned<T> | null> {
    const cached = this.#cache.get(key) as Versioned<T> | undefined;
    const sent = this.clock.host();
    const result = await this.store.get(key, cached ? { ifNoneMatch: cached.etag } : {});
    this.clock.observe(result?.date, { sent });
    if (result === null) {
      // Not over a version written while this GET was out (our own create, answered
      // first): the absence is this GET's answer, not the object's state now.
      if (this.#cache.get(key) === cached) this.#absent(key, stamp);
      return null;
    }
    if (result.status === "not-modified" && cached) {
      // Not over a newer version written (or read) while this GET was out: group commit
      // builds its next CAS on what is held, and a regressed version would make it lose.
      if (this.#cache.get(key) === cached) this.#remember(key, cached, stamp);
      return cached;
    }
    if (result.status !== "ok") {
      this.#drop(key);
      return this.#fetch(key, check, ++this.#tick);
    }
    const bytes = await readAll(result.body);
    // Our own write landed between this GET's request and its answer: keep the value we
    // hold rather than decode (and validate) the same object again.
    const mine = this.#cache.get(key) as Versioned<T> | undefined;
    if (mine?.etag === result.info.etag) {
      this.#remember(key, mine, stamp);
      return mine;
    }
    const value = decode<T>(key, bytes, check, decodeBytesOf(key, this.#decodeBytes));
    const versioned = unstamp<T>(value, result.info.etag, sizesOf(bytes));
    if (this.#cache.get(key) === cached) this.#remember(key, versioned, stamp);
    return versioned;
  }

  /** Reads several objects at once (bounded parallelism), in the order given. */
  async readMany<T>(
    keys: readonly string[],
    check: Check,
    options: ReadOptions = {},
  ): Promise<(Versioned<T> | null)[]> {
    const out: (Versioned<T> | null)[] = new Array(keys.length).fill(null);
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const i = next++;
        out[i] = await this.read<T>(keys[i]!, check, options);
      }
    };
    await Promise.all(Array.from({ length: Math.min(8, keys.length) }, worker));
    return out;
  }

  /**
   * Writes `value` if the object is still the version `base` (read earlier, or its ETag),
   * or absent, for `base` null. A write whose answer is lost is resolved exactly, and sent
   * again on the same condition while the read back cannot tell (`_cas_history.ts`).
   * @returns the new version, or null when another write got there first.
   * @throws {OutcomeUnknownError} when a lost answer cannot be resolved.
   */
  async write<T>(
    key: string,
    value: T,
    base: Versioned<unknown> | string | null,
  ): Promise<Versioned<T> | null> {
    const etag = typeof base === "string" ? base : base?.etag ?? null;
    const from = typeof base === "string" ? this.#cachedAt(key, base) : base;
    const mode = etag === null ? { kind: "create" as const } : { kind: "replace" as const, etag };
    /** Ids of the attempts whose answers were lost: each may still land (_cas_history.ts). */
    const ours: string[] = [];
    for (let attempt = 1;; attempt++) {
      const writes = stampable(value) ? nextWrites(from, etag === null) : undefined;
      const bytes = encode(writes ? withTopMember(value as object, WRITES, writes) : value);
      const [sent, stamp] = [this.clock.host(), ++this.#tick];
      try {
        const { etag: next, date } = await this.store.put(key, bytes, {
          mode,
          contentType: "application/json",
        });
        this.clock.observe(date, { sent });
        const versioned = { value, etag: next, ...sizesOf(bytes), ...(writes ? { writes } : {}) };
        this.#remember(key, versioned, stamp);
        return versioned;
      } catch (error) {
        if (!(error instanceof StoreError)) throw error;
        this.#drop(key);
        // A replace of an object that is gone (S3 answers 404 to If-Match then) lost the
        // race as surely as one that met another version: unless to a lost attempt of ours.
        const lost = error.kind === "precondition-failed" ||
          (error.kind === "not-found" && etag !== null);
        if (lost && ours.length === 0) return null;
        if (!lost && !error.ambiguous) {
          if (ours.length === 0) throw error;
          throw new OutcomeUnknownError(key, `it was not sent again (${error.message})`, error);
        }
        if (!lost && writes) ours.push(writes[0]!);
        const resolved = await resolveLostWrite(this.store, key, {
          ...{ value, etag, from, writes, ours, error, ...sizesOf(bytes) },
          decodeBytes: decodeBytesOf(key, this.#decodeBytes),
          remember: (versioned) => this.#remember(key, versioned, ++this.#tick),
        });
        if (resolved !== UNCHANGED) return resolved;
        if (attempt >= WRITE_ATTEMPTS) {
          throw new OutcomeUnknownError(key, `${attempt} attempts were not answered`, error);
        }
      }
    }
  }

  /** Deletes `key`. S3 has no conditional delete that every server honours: see callers. */
  async remove(key: string): Promise<void> {
    this.#drop(key);
    await this.store.delete(key);
  }

  /**
   * The CAS loop: read `key`, let `mutate` decide from a private copy, write the result
   * conditionally, and start over from a fresh read when another writer got there first.
   * `mutate` may throw to abort (nothing is written); it must decide only from the value
   * it is given, since it may run several times.
   */
  async update<T, R>(
    key: string,
    check: Check,
    mutate: (current: Versioned<T> | null) => Decision<T, R> | Promise<Decision<T, R>>,
  ): Promise<R> {
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      const { current, trusted } = await this.#base<T>(key, check, attempt);
      const copy = current && { ...current, value: structuredClone(current.value) };
      let decision: Decision<T, R>;
      try {
        decision = await mutate(copy);
      } catch (error) {
        if (trusted) throw error;
        continue;
      }
      if (!trusted && (!("write" in decision) || decision.write === null)) continue;
      if (!("write" in decision)) return decision.result;
      if (decision.write === null) {
        if (current) await this.remove(key);
        return decision.result;
      }
      const written = await this.write(key, decision.write, current);
      if (written) return decision.result;
      await backoff(attempt);
    }
    throw new ContentionError(key, this.#attempts);
  }

  /**
   * Group commit: like {@linkcode update}, but operations on one key that arrive while a
   * CAS on it is in flight are applied together in the next single CAS. Each `op` gets the
   * shared draft (null when the object is absent) and returns the new value (or the same
   * draft it changed in place, or `undefined` for no change). An `op` that throws is left
   * out of the batch and gets its error; it must throw before changing the draft. An `op`
   * may ask for objects to be written before the CAS (`before`). Every caller's promise
   * settles only once the CAS carrying its change has succeeded. `op` gets the base's ETag.
   */
  updateGrouped<T, R>(
    key: string,
    check: Check,
    op: (draft: T | null, base: string | null) => GroupStep<T, R>,
  ): Promise<R> {
    return this.#grouped.updateGrouped(key, check, op);
  }

  /**
   * Announces a grouped update of `key` on its way (a create whose name is resolved and
   * whose body is being read): a batch of `key` about to go out first waits for it, up
   * to about one round trip to S3, so that operations running side by side share one CAS
   * instead of following one another. Call the returned function once the update is
   * queued (right after calling {@linkcode updateGrouped}) or abandoned; it is
   * idempotent. An announcement never released costs each batch of `key` that wait.
   */
  expect(key: string): () => void {
    return this.#grouped.expect(key);
  }

  /**
   * The version a CAS attempt builds on. The first attempt takes the cached version
   * without a GET (optimistic: the write's `If-Match` checks it is still current); a
   * decision from it that writes nothing or fails is not `trusted` (the object may have
   * changed meanwhile, and a protocol may need to see that), and the attempt is run again
   * from a fresh read.
   */
  async #base<T>(
    key: string,
    check: Check,
    attempt: number,
  ): Promise<{ current: Versioned<T> | null; trusted: boolean }> {
    const cached = attempt === 1 ? this.#cache.get(key) as Versioned<T> | undefined : undefined;
    if (cached) return { current: cached, trusted: false };
    return { current: await this.read<T>(key, check), trusted: true };
  }

  /** Forgets the cached version of `key` (after an out-of-band change). */
  forget(key: string): void {
    this.#drop(key);
  }

  /** The cached version of `key` if it is the one at `etag`. */
  #cachedAt(key: string, etag: string): Versioned<unknown> | null {
    const cached = this.#cache.get(key);
    return cached?.etag === etag ? cached : null;
  }

  /**
   * The last version of `key` this instance read or wrote, without a request: it may be
   * stale. Only for a decision that a CAS (or a read) proves afterwards.
   */
  held<T>(key: string): Versioned<T> | null {
    return (this.#cache.get(key) as Versioned<T> | undefined) ?? null;
  }

  /** Estimated memory of the versions remembered now (see {@linkcode cachedMemory}). */
  get cachedMemory(): number {
    return this.#cachedMemory;
  }

  #remember(key: string, versioned: Versioned<unknown>, stamp: number): void {
    this.#forget(key);
    let weight = this.#weights.get(versioned);
    if (weight === undefined) this.#weights.set(versioned, weight = cachedMemory(versioned));
    this.#cache.set(key, versioned);
    this.#cachedMemory += weight;
    this.#stamps.set(key, stamp);
    // Least recently used first; the version just remembered stays, however large.
    while (
      this.#cache.size > 1 &&
      (this.#cache.size > this.#cacheEntries || this.#cachedMemory > this.#cacheBytes)
    ) {
      const oldest = this.#cache.keys().next().value!;
      this.#forget(oldest);
      this.#stamps.delete(oldest);
    }
  }

  /** Removes the version of `key` from the cache (its stamp stays). */
  #forget(key: string): void {
    const versioned = this.#cache.get(key);
    if (!versioned) return;
    this.#cache.delete(key);
    this.#cachedMemory -= this.#weights.get(versioned) ?? 0;
  }

  #drop(key: string): void {
    this.#forget(key);
    this.#stamps.delete(key);
  }

  /** Remembers that a GET issued at `stamp` found `key` absent: a stamp without a version. */
  #absent(key: string, stamp: number): void {
    this.#forget(key);
    this.#stamps.set(key, stamp);
    if (this.#stamps.size > 2 * this.#cacheEntries) {
      for (const k of this.#stamps.keys()) if (!this.#cache.has(k)) this.#stamps.delete(k);
    }
  }

  /**
   * Runs `fn` as one request: reads inside it that ask for a `recent` version (see
   * {@linkcode ReadOptions}) reuse what a GET issued after this call validated, so no
   * object is read twice. Inside a scope already, the outer scope goes on.
   */
  inScope<T>(fn: () => T): T {
    if (this.#scope.getStore()) return fn();
    return this.#scope.run({ since: this.#tick }, fn);
  }

  /**
   * Runs `fn` in a new scope that begins now, inside a request too: what it reads
   * reflects every change acknowledged before this call (a check repeated right before a
   * commit, after a long upload).
   */
  inNewScope<T>(fn: () => T): T {
    return this.#scope.run({ since: this.#tick }, fn);
  }

  /**
   * The version of `key` validated since the current scope began (cached, or the answer
   * of a GET in flight that was issued after it began); undefined when there is none.
   */
  #recent<T>(key: string): Promise<Versioned<T> | null> | undefined {
    const scope = this.#scope.getStore();
    if (!scope) return undefined;
    const cached = this.#cache.get(key) as Versioned<T> | undefined;
    // A stamp without a cache entry: a GET found the object absent.
    if ((this.#stamps.get(key) ?? 0) > scope.since) return Promise.resolve(cached ?? null);
    const inFlight = this.#reads.get(key)?.current;
    if (inFlight && inFlight.stamp > scope.since) {
      return inFlight.promise as Promise<Versioned<T> | null>;
    }
    return undefined;
  }
}

interface ReadState {
  queued: PromiseWithResolvers<Versioned<unknown> | null> | null;
  /** The GET in flight, and the tick at which it was issued. */
  current?: { stamp: number; promise: Promise<Versioned<unknown> | null> };
}

/** A request: reads may reuse versions validated by requests issued after `since`. */
interface RequestScope {
  readonly since: number;
}
