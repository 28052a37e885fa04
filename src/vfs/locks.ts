/**
 * WebDAV locks (RFC 4918 class 2), shared by every instance serving the bucket.
 *
 * All live locks of a filesystem are one JSON object, the lock table (`locks`, see
 * `docs/format.md`), changed only by compare-and-swap through {@linkcode MetaStore}. A
 * conflict is checked inside the CAS mutation, against the version the write is
 * conditional on: two instances racing for the same exclusive lock cannot both win.
 * Reads revalidate the cached table with a conditional GET, so a check costs one request
 * (a 304 when nothing changed) and sees every lock another instance has committed.
 *
 * The manager never looks at the namespace itself: a lock is rooted at a path, and a caller
 * that knows another name of the resource a request names (its path with the symlinks on
 * the way resolved, see {@linkcode Alias}) passes it, so that every URL of a locked
 * resource is covered (RFC 4918 sections 6 and 7). A lock's `expires`
 * is on the clock of the instance that granted (or last refreshed) it. Every read ignores a
 * lock that has lapsed by the reader's own clock, but a write of the table drops a record
 * only once it has lapsed by more than a skew margin (default 2 minutes) on the writer's
 * clock: an instance whose clock runs ahead by less than that can never erase a lock that
 * its holder still sees live.
 *
 * @module
 */

import { MetaStore } from "../format/cas.ts";
import { LOCKS_KEY } from "../format/keys.ts";
import { toFsError } from "./context.ts";
import { FsError } from "./errors.ts";
import {
  atOrBelow,
  below,
  checkLockTable,
  checkShare,
  checkTableText,
  copy,
  covers,
  liveLocks,
  type LockInfo,
  type LockScope,
  type LockTable,
  mayUse,
  normalize,
  table,
} from "./lock_table.ts";
import { parentOf } from "./path.ts";

export { checkLockTable, type LockInfo, type LockScope, type LockTable } from "./lock_table.ts";

/** What {@linkcode LockManager.lock} is asked for. */
export interface LockRequest {
  readonly root: string;
  /** The path the request named, when a symlink on the way makes it differ from `root`. */
  readonly via?: string;
  readonly depth: "0" | "infinity";
  readonly scope: LockScope;
  readonly owner: string;
  /** Who takes it: a principal id (`user:<name>`, `token:<name>`; see `holderOf`). */
  readonly principal?: string | null;
  /** Seconds asked for; null for the default, Infinity (or above the maximum) for the maximum. */
  readonly timeout: number | null;
}

/**
 * The other name of the resource a request names: its path with the symlinks on the way
 * resolved (null when that is the path itself or cannot be resolved). Asked only when some
 * lock is live, and then at most once per call: a table with no lock costs no resolution.
 */
export type Alias = () => Promise<string | null>;

/** Which extra locks a change must hold tokens for (see {@linkcode LockManager.unsatisfied}). */
export interface CheckOptions {
  /** The resolved name of `path`: its locks count as the path's own (see {@linkcode Alias}). */
  readonly alias?: Alias;
  /** The change adds or removes `path` as a member of its parent collection. */
  readonly parent?: boolean;
  /** The change affects the whole tree below `path` (DELETE, MOVE). */
  readonly descendants?: boolean;
  /**
   * The principal id (`user:<name>`, `token:<name>`) making the change. When given, a
   * submitted token only counts for a lock taken by that principal or by nobody (RFC 4918
   * 6.4: the lock creator). A user and a token of the same name are two principals.
   */
  readonly principal?: string | null;
}

/** Options of {@linkcode LockManager.refresh} and {@linkcode LockManager.unlock}. */
export interface TokenOptions {
  /** The resolved name of the path: a lock that covers it covers the path. */
  readonly alias?: Alias;
  /** When given, only a lock taken by this principal (or by nobody) may be refreshed or removed. */
  readonly principal?: string | null;
}

/** Options of {@linkcode LockManager}. */
export interface LockManagerOptions {
  /** Longest timeout granted, in seconds (default 7 days). */
  readonly maxTimeout?: number;
  /** Timeout granted when the client asks for none, in seconds (default 3600). */
  readonly defaultTimeout?: number;
  /** Live locks the table may hold; a new lock past this is refused (default 10,000). */
  readonly maxLocks?: number;
  /** Longest `owner` fragment accepted, in UTF-16 code units (default 4096). */
  readonly maxOwner?: number;
  /** One principal's share of the table (see `checkShare`; default 1,000 locks, 1 MiB). */
  readonly perPrincipal?: { readonly locks?: number; readonly bytes?: number };
  /**
   * UTF-16 code units of owners and paths all locks may hold together (default 2 Mi): every
   * write reads the table, and 10,000 locks of 4,096-unit owners were 40 MiB of JSON, past
   * what a reader decodes (docs/format.md, "Limits"), so one user could stop every write.
   */
  readonly maxTableText?: number;
  /**
   * How far apart instances' clocks may be, in ms (default 2 minutes): a lapsed lock stays
   * in the table (ignored by reads) until it has lapsed by more than this.
   */
  readonly skewMargin?: number;
}

/**
 * The resource is locked by locks whose tokens were not submitted (HTTP 423), or a new lock
 * conflicts with existing ones.
 */
export class LockedError extends Error {
  /** The live locks in the way. */
  readonly conflicts: readonly LockInfo[];
  /** The path of the request that was refused. */
  readonly path: string;

  constructor(path: string, conflicts: readonly LockInfo[]) {
    super(`Resource is locked: "${path}"`);
    this.name = "LockedError";
    this.path = path;
    this.conflicts = conflicts;
  }
}

/**
 * A lock token names no live lock (`"unknown"`: never issued, expired or removed), a lock
 * that does not cover the path (`"scope"`), or one taken by another user (`"principal"`).
 * WebDAV answers 409 for UNLOCK and 412 for a refresh.
 */
export class LockTokenError extends Error {
  readonly path: string;
  readonly token: string;
  readonly reason: "unknown" | "scope" | "principal";

  constructor(path: string, token: string, reason: "unknown" | "scope" | "principal") {
    super(
      reason === "unknown"
        ? `No live lock has token "${token}": "${path}"`
        : reason === "scope"
        ? `Lock "${token}" does not cover the path: "${path}"`
        : `Lock "${token}" belongs to another user: "${path}"`,
    );
    this.name = "LockTokenError";
    this.path = path;
    this.token = token;
    this.reason = reason;
  }
}

/**
 * Takes, checks, refreshes and removes WebDAV locks kept in the bucket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MetaStore } from "../format/cas.ts";
 * import { MemoryStore } from "../store/memory.ts";
 * import { LockManager } from "./locks.ts";
 * const locks = new LockManager(new MetaStore(new MemoryStore()));
 * const lock = await locks.lock({
 *   root: "/docs",
 *   depth: "infinity",
 *   scope: "exclusive",
 *   owner: "",
 *   timeout: null,
 * });
 * const missing = await locks.unsatisfied("/docs/a.txt", new Set());
 * assert(missing.length === 1 && missing[0]!.token === lock.token);
 * await locks.check("/docs/a.txt", new Set([lock.token])); // holds the token: allowed
 * ```
 */
export class LockManager {
  readonly #meta: MetaStore;
  readonly #maxTimeout: number;
  readonly #defaultTimeout: number;
  readonly #maxLocks: number;
  readonly #maxOwner: number;
  readonly #perPrincipal: { readonly locks: number; readonly bytes: number };
  readonly #maxTableText: number;
  readonly #skewMargin: number;

  constructor(meta: MetaStore, options: LockManagerOptions = {}) {
    this.#meta = meta;
    this.#maxTimeout = options.maxTimeout ?? 7 * 24 * 3600;
    this.#defaultTimeout = Math.min(options.defaultTimeout ?? 3600, this.#maxTimeout);
    this.#maxLocks = options.maxLocks ?? 10_000;
    this.#maxOwner = options.maxOwner ?? 4096;
    this.#perPrincipal = {
      locks: options.perPrincipal?.locks ?? 1000,
      bytes: options.perPrincipal?.bytes ?? 1024 * 1024,
    };
    this.#maxTableText = options.maxTableText ?? 2 << 20;
    this.#skewMargin = options.skewMargin ?? SKEW_MARGIN;
  }

  /**
   * Now, on the clock locks are judged by (the store's, see the module's documentation):
   * what a lock's remaining time (lockdiscovery's `Timeout`) is counted from.
   */
  now(): number {
    return this.#meta.clock.now();
  }

  /**
   * Takes a lock; throws {@linkcode LockedError} listing the conflicting locks. An existing
   * lock conflicts unless both are shared, when it covers the new root or, for a new
   * depth-infinity lock, when it is rooted at or below the new root. `timeout` null is the
   * default; Infinity or above the maximum is the maximum.
   * @throws {FsError} EINVAL for a bad path, depth, scope or owner; ENOSPC when the table is full.
   */
  lock(request: LockRequest): Promise<LockInfo> {
    return this.#run(request.root, () => {
      const root = normalize(request.root);
      const { depth, scope, owner } = request;
      if (depth !== "0" && depth !== "infinity") {
        throw new FsError("EINVAL", `Invalid lock depth "${depth}"`, { path: root });
      }
      if (scope !== "exclusive" && scope !== "shared") {
        throw new FsError("EINVAL", `Invalid lock scope "${scope}"`, { path: root });
      }
      if (typeof owner !== "string" || owner.length > this.#maxOwner) {
        throw new FsError("EINVAL", `Lock owner longer than ${this.#maxOwner} characters`, {
          path: root,
        });
      }
      const via = request.via === undefined ? root : normalize(request.via);
      const token = `urn:uuid:${crypto.randomUUID()}`;
      const timeout = this.#grant(request.timeout);
      return this.#change<LockInfo>((current) => {
        const now = this.now();
        const live = liveLocks(current, now);
        const kept = this.#kept(current, now);
        const conflicts = live.filter((l) =>
          (l.scope === "exclusive" || scope === "exclusive") &&
          (covers(l, root) || (depth === "infinity" && atOrBelow(l.root, root)))
        );
        if (conflicts.length > 0) throw new LockedError(root, conflicts.map(copy));
        if (live.length >= this.#maxLocks) {
          throw new FsError(
            "ENOSPC",
            `Too many locks (${live.length} live, at most ${this.#maxLocks}); unlock some first`,
            { path: root },
          );
        }
        const principal = request.principal;
        if (principal) {
          checkShare(live, principal, {
            owner,
            root,
            ...(via === root ? {} : { via }),
          }, this.#perPrincipal);
        }
        const lock: LockInfo = {
          token,
          root,
          ...(via === root ? {} : { via }),
          depth,
          scope,
          owner,
          principal: request.principal ?? null,
          timeout,
          expires: this.#deadline(timeout),
        };
        const locks = [...kept, lock];
        checkTableText(locks, this.#maxTableText, root);
        return { write: table(current, locks), result: copy(lock) };
      });
    });
  }

  /**
   * Extends the lock with `token`, which must cover `path` (RFC 4918 9.10.2), by a new
   * timeout counted from now.
   * @throws {LockTokenError} when the token names no live lock covering `path`.
   */
  refresh(
    token: string,
    path: string,
    timeout: number | null,
    options: TokenOptions = {},
  ): Promise<LockInfo> {
    return this.#run(path, async () => {
      const at = normalize(path);
      const seconds = this.#grant(timeout);
      const alias = await this.#aliasOf(at, options.alias);
      return await this.#change<LockInfo>((current) => {
        const now = this.now();
        const live = liveLocks(current, now);
        const found = this.#find(live, token, [at, alias], options);
        const lock: LockInfo = { ...found, timeout: seconds, expires: this.#deadline(seconds) };
        return {
          write: table(
            current,
            this.#kept(current, now).map((l) => l === found ? lock : l),
          ),
          result: copy(lock),
        };
      });
    });
  }

  /**
   * Removes the lock with `token`, which must cover `path` (RFC 4918 9.11).
   * @throws {LockTokenError} when the token names no live lock covering `path`.
   */
  unlock(token: string, path: string, options: TokenOptions = {}): Promise<void> {
    return this.#run(path, async () => {
      const at = normalize(path);
      const alias = await this.#aliasOf(at, options.alias);
      return await this.#change<void>((current) => {
        const now = this.now();
        const found = this.#find(liveLocks(current, now), token, [at, alias], options);
        const kept = this.#kept(current, now);
        return { write: table(current, kept.filter((l) => l !== found)), result: undefined };
      });
    });
  }

  /**
   * The live locks that cover `path` (or its `alias`): rooted at it, or at an ancestor with
   * depth infinity (what lockdiscovery reports).
   */
  covering(path: string, options: { alias?: Alias } = {}): Promise<LockInfo[]> {
    return this.#run(path, async () => {
      const at = normalize(path);
      const live = await this.#live();
      const alias = live.length > 0 ? await this.#aliasOf(at, options.alias) : null;
      return live.filter((l) => covers(l, at) || (alias !== null && covers(l, alias))).map(copy);
    });
  }

  /**
   * The live locks a change of `path` needs tokens for and whose tokens are not in
   * `tokens`: those covering `path`; with `parent`, also a depth-0 lock on the parent
   * collection (adding or removing a member changes it, RFC 4918 7.4); with `descendants`,
   * also every lock rooted strictly below `path`. With `alias`, the same for the resolved
   * name of `path` too. One token of several shared locks on the same resource stands for
   * all of them. Empty means the change is allowed.
   */
  unsatisfied(
    path: string,
    tokens: ReadonlySet<string>,
    options: CheckOptions = {},
  ): Promise<LockInfo[]> {
    return this.#run(path, async () => {
      const at = normalize(path);
      const held = (l: LockInfo) => tokens.has(l.token) && mayUse(l, options.principal);
      const live = await this.#live();
      // The path as named, and as its symlinks resolve (a path without one is itself: no
      // second look), so that no other URL of a locked resource escapes its lock.
      const alias = live.length > 0 ? await this.#aliasOf(at, options.alias) : null;
      const names = alias === null ? [at] : [at, alias];
      const relevant = live.filter((l) =>
        names.some((name) =>
          covers(l, name) ||
          (options.parent === true && name !== "/" && l.root === parentOf(name)) ||
          (options.descendants === true && below(l.root, name))
        )
      );
      // Holding one of the shared locks on a resource is holding "the lock" (RFC 4918
      // section 7): the other holders' tokens are not needed too.
      const sharedHeld = new Set(
        relevant.filter((l) => l.scope === "shared" && held(l)).map((l) => l.root),
      );
      return relevant
        .filter((l) => !held(l) && !(l.scope === "shared" && sharedHeld.has(l.root)))
        .map(copy);
    });
  }

  /**
   * Like {@linkcode unsatisfied}, but throws.
   * @throws {LockedError} listing the locks whose tokens are missing.
   */
  async check(
    path: string,
    tokens: ReadonlySet<string>,
    options: CheckOptions = {},
  ): Promise<void> {
    const missing = await this.unsatisfied(path, tokens, options);
    if (missing.length > 0) throw new LockedError(normalize(path), missing);
  }

  /**
   * Drops every lock rooted at or below `path` (or its `alias`): after a DELETE, or on the
   * source of a MOVE. One CAS; nothing is written when there is none.
   */
  release(path: string, options: { alias?: Alias } = {}): Promise<void> {
    return this.#run(path, async () => {
      const at = normalize(path);
      const live = await this.#live();
      const alias = live.length > 0 ? await this.#aliasOf(at, options.alias) : null;
      const gone = (l: LockInfo) =>
        atOrBelow(l.root, at) || (alias !== null && atOrBelow(l.root, alias));
      if (!live.some(gone)) return;
      return await this.#change<void>((current) => {
        const live = liveLocks(current, this.now());
        if (!live.some(gone)) return { result: undefined };
        const kept = this.#kept(current, this.now());
        return { write: table(current, kept.filter((l) => !gone(l))), result: undefined };
      });
    });
  }

  /**
   * One change of the lock table, in this instance's next grouped CAS of it: LOCKs and
   * UNLOCKs arriving together (a client locking many files, litmus's lockbomb) go out as
   * one write instead of racing each other for the one object until some give up. `op`
   * sees the table as the changes before it in the batch left it; a throw fails that
   * change alone (decided again from a fresh read, as `GroupCommit` does).
   */
  #change<R>(op: (current: LockTable | undefined) => { write?: LockTable; result: R }): Promise<R> {
    return this.#meta.updateGrouped<LockTable, R>(LOCKS_KEY, checkLockTable, (draft) => {
      const { write, result } = op(draft ?? undefined);
      return write === undefined ? { result } : { value: write, result };
    });
  }

  /**
   * When a lock granted now for `seconds` lapses: counted from the latest the store's clock
   * can be now, so that it lasts at least that long on it (judged by {@linkcode now}, the
   * earliest, it is enforced up to about a second longer: `Date` has whole seconds).
   */
  #deadline(seconds: number): number {
    return this.#meta.clock.latest() + seconds * 1000;
  }

  /** Seconds to grant for a requested timeout. */
  #grant(timeout: number | null): number {
    if (timeout === null || Number.isNaN(timeout)) return this.#defaultTimeout;
    if (timeout >= this.#maxTimeout) return this.#maxTimeout;
    return Math.max(1, Math.floor(timeout));
  }

  /**
   * The records a write of the table keeps: all but those lapsed by more than the skew
   * margin on this instance's clock (another instance's clock may be behind ours).
   */
  #kept(value: LockTable | undefined, now: number): LockInfo[] {
    return value ? value.locks.filter((l) => l.expires + this.#skewMargin > now) : [];
  }

  /** `alias` resolved and normalized; null when none, the path itself, or unresolvable. */
  async #aliasOf(at: string, alias: Alias | undefined): Promise<string | null> {
    const name = alias ? await alias() : null;
    if (name === null) return null;
    const resolved = normalize(name);
    return resolved === at ? null : resolved;
  }

  /** The live lock with `token`, which must cover `path` (or its resolved name). */
  #find(
    live: readonly LockInfo[],
    token: string,
    [path, alias]: readonly [string, string | null],
    options: TokenOptions,
  ): LockInfo {
    const found = live.find((l) => l.token === token);
    if (!found) throw new LockTokenError(path, token, "unknown");
    if (!covers(found, path) && !(alias !== null && covers(found, alias))) {
      throw new LockTokenError(path, token, "scope");
    }
    if (!mayUse(found, options.principal)) throw new LockTokenError(path, token, "principal");
    return found;
  }

  async #live(): Promise<readonly LockInfo[]> {
    const current = await this.#meta.read<LockTable>(LOCKS_KEY, checkLockTable, { recent: true });
    return liveLocks(current?.value, this.now());
  }

  /** Lock errors and FsErrors pass; everything from below becomes an FsError. */
  async #run<T>(path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof LockedError || error instanceof LockTokenError) throw error;
      throw toFsError(error, path);
    }
  }
}

/** Default clock skew tolerated between instances, in ms. */
const SKEW_MARGIN = 2 * 60_000;
