/**
 * Metadata reads and compare-and-swap writes.
 *
 * Reads keep the last version seen of each object and revalidate it with a conditional
 * GET (`If-None-Match`), so an instance sees every other instance's committed change on
 * its next read while an unchanged object costs a 304 and no body.
 *
 * Writes are CAS: `If-Match` the ETag the change was computed from, or
 * `If-None-Match: *` to create. A lost race re-reads, re-checks and re-applies, with a
 * bounded number of attempts and jittered backoff.
 *
 * Every object written here carries its write history (`writes`, see docs/format.md): a
 * random id for this version, then the ids of the versions before it, newest first, at
 * most {@linkcode WRITE_HISTORY} in all. A write whose answer was lost (connection
 * dropped, timeout, a 5xx) is resolved by one fresh read: our id in the history means it
 * was applied, however many writes came after it; the version we built on followed by
 * someone else's id means it was not, and the operation runs again; anything else (the
 * object deleted, or so many writes since that the history no longer reaches back) is an
 * {@linkcode OutcomeUnknownError}, never a second application.
 *
 * Group commit builds each batch on the version this instance holds (its own last write,
 * usually) and lets the CAS prove it current, so a busy key costs one PUT per batch; a
 * batch waits a moment for updates announced on their way ({@linkcode MetaStore.expect}).
 *
 * Near 600 lines on purpose: the read cache, the CAS loop, group commit and the
 * resolution of lost answers are one protocol over one per-key state; split, each part
 * would reach into the others' state.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { readAll } from "../store/_util.ts";
import { type ObjectStore, StoreError } from "../store/types.ts";
import { decode, draftCopy, encode } from "./meta.ts";

/** A value together with the ETag of the object it was read from. */
export interface Versioned<T> {
  readonly value: T;
  readonly etag: string;
  /** Size of the stored object in bytes. */
  readonly size: number;
  /** The object's write history, newest first (absent on objects written without one). */
  readonly writes?: readonly string[];
}

/** How many write ids an object's history keeps (its own included). */
export const WRITE_HISTORY = 32;
/** Ends a history whose older part is not known (it was built on an unread version). */
const TRUNCATED = "*";
/** The reserved top-level member of every CAS-written object that holds its history. */
const WRITES = "writes";

/** Validates a decoded object: returns what is wrong, or null. */
export type Check = (value: unknown) => string | null;

/**
 * What a mutation decided: write `value` (or delete the object with `null`), or nothing.
 * A delete is not conditional (S3 servers do not all honour a conditional DELETE): decide
 * it only for an object a CAS has already made dead, as `nlink` 0 does for an inode.
 */
export type Decision<T, R> =
  | { readonly write: T | null; readonly result: R }
  | { readonly result: R };

/**
 * A write's answer was lost and re-reading cannot tell whether it was applied: the object
 * was deleted, or changed more often since than its history reaches back. The operation
 * is not repeated (it may have happened); the caller hears the failure.
 */
export class OutcomeUnknownError extends StoreError {
  constructor(key: string, why: string, cause: unknown) {
    super("unknown", `The outcome of a write to "${key}" is unknown: ${why}`, {
      key,
      ambiguous: true,
      cause,
    });
    this.name = "OutcomeUnknownError";
  }
}

/**
 * True when `error` leaves open whether the write failing with it was applied: whoever
 * would undo what came before it (a link count, a directory object) must not, since the
 * write that relies on it may be there.
 */
export function outcomeUnknown(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof OutcomeUnknownError) return true;
  }
  return false;
}

/** Too many lost races in a row: the object is too contended right now. */
export class ContentionError extends Error {
  constructor(key: string, attempts: number) {
    super(`Gave up updating "${key}" after ${attempts} conflicting attempts`);
    this.name = "ContentionError";
  }
}

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
}

/**
 * Reads and CAS-writes JSON metadata objects.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { MetaStore } from "./cas.ts";
 * const meta = new MetaStore(new MemoryStore());
 * const check = () => null;
 * const n = await meta.update<{ n: number }, number>("counter", check, (v) => {
 *   const next = (v?.value.n ?? 0) + 1;
 *   return { write: { n: next }, result: next };
 * });
 * console.assert(n === 1);
 * ```
 */
export class MetaStore {
  readonly store: ObjectStore;
  #cache = new Map<string, Versioned<unknown>>();
  /** Per cached key: the tick at which the request that validated the version was issued. */
  #stamps = new Map<string, number>();
  /** Ticks once per GET or PUT issued: orders requests against scope starts. */
  #tick = 0;
  #scope = new AsyncLocalStorage<RequestScope>();
  #groups = new Map<string, Group>();
  /** Grouped updates announced per key and not yet queued (see {@linkcode expect}). */
  #expected = new Map<string, number>();
  #reads = new Map<string, ReadState>();
  #attempts: number;
  #cacheEntries: number;

  constructor(store: ObjectStore, options: MetaStoreOptions = {}) {
    this.store = store;
    this.#attempts = options.attempts ?? 40;
    this.#cacheEntries = options.cacheEntries ?? 4096;
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
    state.queued ??= deferred();
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
    const result = await this.store.get(key, cached ? { ifNoneMatch: cached.etag } : {});
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
    const versioned = unstamp<T>(decode<T>(key, bytes, check), result.info.etag, bytes.length);
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
   * or absent, for `base` null. A write whose answer is lost is resolved exactly (see the
   * module's documentation).
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
    const writes = stampable(value) ? nextWrites(from, etag === null) : undefined;
    const bytes = encode(writes ? { ...value, [WRITES]: writes } : value);
    const mode = etag === null ? { kind: "create" as const } : { kind: "replace" as const, etag };
    const stamp = ++this.#tick;
    try {
      const { etag: next } = await this.store.put(key, bytes, {
        mode,
        contentType: "application/json",
      });
      const versioned = { value, etag: next, size: bytes.length, ...(writes ? { writes } : {}) };
      this.#remember(key, versioned, stamp);
      return versioned;
    } catch (error) {
      if (!(error instanceof StoreError)) throw error;
      // A replace of an object that is gone (S3 answers 404 to If-Match then) lost the
      // race as surely as one that met another version.
      if (error.kind === "precondition-failed" || (error.kind === "not-found" && etag !== null)) {
        this.#drop(key);
        return null;
      }
      if (!error.ambiguous) throw error;
      this.#drop(key);
      return await this.#resolve(key, { value, etag, from, writes, size: bytes.length, error });
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
   * settles only once the CAS carrying its change has succeeded.
   */
  updateGrouped<T, R>(
    key: string,
    check: Check,
    op: (draft: T | null) => GroupStep<T, R>,
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let group = this.#groups.get(key);
      if (!group) {
        group = { check, queue: [], running: false, wake: null };
        this.#groups.set(key, group);
      }
      group.queue.push({ op: op as GroupOp, resolve: resolve as (r: unknown) => void, reject });
      this.#kick(key, group);
    });
  }

  /**
   * Announces a grouped update of `key` on its way (a create whose name is resolved and
   * whose body is being read): a batch of `key` about to go out first waits for it, up
   * to {@linkcode LINGER_MS}, so that operations running side by side share one CAS
   * instead of following one another. Call the returned function once the update is
   * queued (right after calling {@linkcode updateGrouped}) or abandoned; it is
   * idempotent. An announcement never released costs each batch of `key` that wait.
   */
  expect(key: string): () => void {
    this.#expected.set(key, (this.#expected.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#expected.get(key) ?? 1) - 1;
      if (left > 0) this.#expected.set(key, left);
      else this.#expected.delete(key);
      this.#groups.get(key)?.wake?.();
    };
  }

  /** Until every announced update of `key` is queued, or {@linkcode LINGER_MS}. */
  async #linger(key: string, group: Group): Promise<void> {
    if (!this.#expected.has(key)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        group.wake = null;
        resolve();
      };
      const timer = setTimeout(done, LINGER_MS);
      group.wake = () => {
        if (!this.#expected.has(key)) done();
      };
    });
  }

  /** Runs the group's queue unless a runner is active; restarts for late arrivals. */
  #kick(key: string, group: Group): void {
    if (group.running) return;
    group.running = true;
    this.#runGroup(key, group).finally(() => {
      group.running = false;
      // An operation queued after the runner's last look must not be stranded.
      if (group.queue.length > 0) this.#kick(key, group);
      else if (this.#groups.get(key) === group) this.#groups.delete(key);
    });
  }

  async #runGroup(key: string, group: Group): Promise<void> {
    // Let callers that arrive in the same tick join the first batch.
    await Promise.resolve();
    while (group.queue.length > 0) {
      await this.#linger(key, group);
      const batch = group.queue.splice(0, group.queue.length);
      try {
        const outcomes = await this.#applyBatch(key, group.check, batch);
        outcomes.forEach((o, i) => o.ok ? batch[i]!.resolve(o.value) : batch[i]!.reject(o.error));
      } catch (error) {
        for (const item of batch) item.reject(error);
      }
    }
  }

  async #applyBatch(key: string, check: Check, batch: GroupItem[]): Promise<Outcome[]> {
    for (let attempt = 1; attempt <= this.#attempts; attempt++) {
      // The first attempt builds on the version this instance holds, without a request:
      // the CAS proves it current. What cannot be proven so, a batch that writes nothing,
      // fails an operation, or whose CAS loses, is decided again from a fresh read. The
      // next batch of a busy key thus goes out as one PUT, built on the version just written.
      const { current, trusted } = await this.#base<unknown>(key, check, attempt);
      let draft = current ? draftCopy(current.value) : null;
      let changed = false;
      const before: (() => Promise<void>)[] = [];
      const undo: (() => Promise<void>)[] = [];
      const outcomes = batch.map((item): Outcome => {
        try {
          const step = item.op(draft);
          if (step.value !== undefined) {
            draft = step.value;
            changed = true;
          }
          if (step.before) before.push(step.before);
          if (step.undo) undo.push(step.undo);
          return { ok: true, value: step.result };
        } catch (error) {
          return { ok: false, error };
        }
      });
      if (!trusted && (!changed || draft === null || outcomes.some((o) => !o.ok))) continue;
      if (!changed || draft === null) return outcomes;
      // Objects the new version names are written first (data before metadata). If they
      // cannot all be written, or the CAS then loses for certain, nothing names them: they
      // are removed now (a lost answer leaves them, as the version may have been written).
      const discard = () => Promise.all(undo.map((drop) => drop().catch(() => {})));
      try {
        await Promise.all(before.map((write) => write()));
      } catch (error) {
        await discard();
        throw error;
      }
      if (await this.write(key, draft, current)) return outcomes;
      await discard();
      if (trusted) await backoff(attempt);
    }
    throw new ContentionError(key, this.#attempts);
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

  /**
   * Decides whether a write whose answer was lost was applied, from one fresh read.
   * @returns our version when it was applied, null when it was not (safe to run again).
   */
  async #resolve<T>(key: string, lost: LostWrite<T>): Promise<Versioned<T> | null> {
    const { value, etag, from, writes, size, error } = lost;
    const stamp = ++this.#tick;
    const unknown = (why: string) => new OutcomeUnknownError(key, why, error);
    const result = await this.store.get(key).catch((cause) => {
      throw unknown(`it could not be read back (${(cause as Error)?.message ?? cause})`);
    });
    if (result !== null && result.status !== "ok") throw unknown("it could not be read back");
    if (result === null) {
      // A create that is not there was not applied: nothing deletes an object before the
      // operation that created it has named it somewhere, which ours has not yet done.
      if (etag === null) return null;
      throw unknown("the object was deleted since");
    }
    const bytes = await readAll(result.body);
    // Unchanged: our write (whose id makes its bytes differ) did not happen.
    if (etag !== null && result.info.etag === etag) return null;
    if (!writes) throw unknown("the object carries no write history");
    const now = historyOf(decode<unknown>(key, bytes, () => null));
    const ours = writes[0]!;
    const at = now.indexOf(ours);
    if (at === 0) {
      const versioned = { value, etag: result.info.etag, size, writes };
      this.#remember(key, versioned, stamp);
      return versioned;
    }
    // Applied, and changed again since: our version is no longer the current one.
    if (at > 0) return { value, etag: "", size, writes };
    if (etag === null) {
      // A create: the history runs back to the object's first write, which was not ours.
      if (now.length < WRITE_HISTORY && now.at(-1) !== TRUNCATED) return null;
      throw unknown(`more than ${WRITE_HISTORY - 1} writes since`);
    }
    // The version after the one we built on is someone else's: ours lost the race.
    const baseId = from?.writes?.[0];
    if (baseId !== undefined && now.indexOf(baseId) > 0) return null;
    throw unknown(
      baseId === undefined
        ? "the version it replaced carries no write history"
        : `more than ${WRITE_HISTORY - 1} writes since, or the object was replaced`,
    );
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

  /** Size in bytes of the last version of `key` this instance read or wrote, if cached. */
  cachedSize(key: string): number | null {
    return this.#cache.get(key)?.size ?? null;
  }

  #remember(key: string, versioned: Versioned<unknown>, stamp: number): void {
    this.#cache.delete(key);
    this.#cache.set(key, versioned);
    this.#stamps.set(key, stamp);
    if (this.#cache.size > this.#cacheEntries) {
      const oldest = this.#cache.keys().next().value!;
      this.#cache.delete(oldest);
      this.#stamps.delete(oldest);
    }
  }

  #drop(key: string): void {
    this.#cache.delete(key);
    this.#stamps.delete(key);
  }

  /** Remembers that a GET issued at `stamp` found `key` absent: a stamp without a version. */
  #absent(key: string, stamp: number): void {
    this.#cache.delete(key);
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

/** What {@linkcode MetaStore.write} knows about a write whose answer was lost. */
interface LostWrite<T> {
  readonly value: T;
  readonly etag: string | null;
  readonly from: Versioned<unknown> | null;
  readonly writes: readonly string[] | undefined;
  readonly size: number;
  readonly error: StoreError;
}

/** Only JSON objects carry a write history (every metadata object is one). */
function stampable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The history of a new version built on `from` (null: on nothing, or on an unread one). */
function nextWrites(from: Versioned<unknown> | null, create: boolean): string[] {
  const before = from?.writes ?? (create ? [] : [TRUNCATED]);
  return [writeId(), ...before].slice(0, WRITE_HISTORY);
}

/** 48 random bits: a collision among one object's 32 recent writes is out of reach. */
function writeId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function historyOf(value: unknown): readonly string[] {
  const writes = stampable(value) ? value[WRITES] : undefined;
  return Array.isArray(writes) && writes.every((w) => typeof w === "string") ? writes : [];
}

/** Splits a decoded object into the value its users see and its write history. */
function unstamp<T>(decoded: T, etag: string, size: number): Versioned<T> {
  if (!stampable(decoded) || !(WRITES in decoded)) return { value: decoded, etag, size };
  const writes = historyOf(decoded);
  const { [WRITES]: _, ...value } = decoded;
  return { value: value as T, etag, size, writes };
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T) => void;
  reject: (error: unknown) => void;
}
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
interface ReadState {
  queued: Deferred<Versioned<unknown> | null> | null;
  /** The GET in flight, and the tick at which it was issued. */
  current?: { stamp: number; promise: Promise<Versioned<unknown> | null> };
}

/** A request: reads may reuse versions validated by requests issued after `since`. */
interface RequestScope {
  readonly since: number;
}

/** What one grouped operation did to the draft. */
export interface GroupStep<T, R> {
  /** The new value (or the draft changed in place); absent for no change. */
  readonly value?: T;
  readonly result: R;
  /** Writes objects the new value refers to; runs before the CAS that commits it. */
  readonly before?: () => Promise<void>;
  /** Removes what `before` wrote, when the CAS is known not to have committed it. */
  readonly undo?: () => Promise<void>;
}

type GroupOp = (draft: unknown) => GroupStep<unknown, unknown>;
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };
interface GroupItem {
  op: GroupOp;
  resolve: (result: unknown) => void;
  reject: (error: unknown) => void;
}
interface Group {
  check: Check;
  queue: GroupItem[];
  running: boolean;
  /** Set while the runner lingers: told when an announced update is released. */
  wake: (() => void) | null;
}

/**
 * The longest a batch waits for announced updates of its key: about one round trip to
 * S3, what the batch would otherwise make the late ones wait for the next CAS.
 */
const LINGER_MS = 5;

/** Jittered exponential backoff between CAS attempts: 1, 2, 4 … 64 ms ceilings. */
function backoff(attempt: number): Promise<void> {
  const ceiling = Math.min(64, 2 ** (attempt - 1));
  return new Promise((resolve) => setTimeout(resolve, Math.random() * ceiling));
}
