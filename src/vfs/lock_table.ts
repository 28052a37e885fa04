/**
 * The lock table's records and the rules on paths every lock check applies: the stored
 * form of a lock ({@linkcode LockInfo}), the table object and its validation, and which
 * paths a lock covers. Internal to `src/vfs`: `locks.ts` (the {@linkcode LockManager}) is
 * the one module that reads and changes the table, and `epoch.ts` keeps its epoch fields
 * in the same object.
 *
 * @module
 */

import type { Check } from "../format/cas.ts";
import { FsError } from "./errors.ts";
import { joinPath, splitPath } from "./path.ts";

/** Whether a lock excludes every other lock, or only exclusive ones. */
export type LockScope = "exclusive" | "shared";

/** One lock, as the lock table stores it (and lockdiscovery reports it). */
export interface LockInfo {
  /** The lock token: `urn:uuid:<random uuid>`. */
  readonly token: string;
  /**
   * Normalized absolute path the lock was taken on (`"/a/b"`, `"/"`): WebDAV's LOCK gives
   * the path it named with the symlinks on the way resolved, so that the lock is on the
   * resource (every name of it checks here, see `Alias`).
   */
  readonly root: string;
  /**
   * The path the LOCK request named, when it differs from `root` (a symlink on the way):
   * what lockdiscovery reports as the `lockroot` (RFC 4918 section 14.12: the URL through
   * which the resource was addressed in the LOCK request). Absent in records made before
   * session 16, and when it is `root`.
   */
  readonly via?: string;
  readonly depth: "0" | "infinity";
  readonly scope: LockScope;
  /** The client's `<D:owner>` content as a raw XML fragment, `""` if none; opaque here. */
  readonly owner: string;
  /**
   * Who took the lock (`user:<name>` or `token:<name>`, see `principalId` in src/auth), or
   * null when authentication is off. Read it with {@linkcode holderOf}: records written
   * before session 20 hold a bare name.
   */
  readonly principal: string | null;
  /** Seconds granted (never Infinity: capped at the manager's maximum). */
  readonly timeout: number;
  /** When the lock lapses, in ms since the epoch. */
  readonly expires: number;
}

/**
 * The lock table object, `{ v: 1, locks: [...] }`, which also carries the namespace epoch
 * (`ns`, `pending`: see epoch.ts; absent is 0 and none).
 */
export interface LockTable {
  v: 1;
  locks: LockInfo[];
  ns?: number;
  pending?: string[];
}

/** The table with `locks`, keeping the epoch fields of `base`. */
export function table(base: LockTable | undefined, locks: LockInfo[]): LockTable {
  return { ...base, v: 1, locks };
}

export function liveLocks(value: LockTable | undefined, now: number): LockInfo[] {
  return value ? value.locks.filter((l) => l.expires > now) : [];
}

/**
 * A principal as the lock table means it: an id (`user:<name>`, `token:<name>`), or null for
 * authentication off (anyone's). Before session 20 the table held the bare name, which a user
 * and a token may share; such a lock (it lapses within the lock timeout) is read as the
 * user's: WebDAV clients sign in as users, it stays someone's (never null, which would make
 * it anyone's), and no one gets a token they could not use before (user alice could use it
 * then; the token named "alice" that may have taken it loses it, the safe side). Names hold
 * no colon, so a bare name is told from an id.
 */
export function holderOf(principal: string | null): string | null {
  if (principal === null || principal.includes(":")) return principal;
  return `user:${principal}`;
}

/**
 * Whether `principal` (undefined: unchecked) may use `lock`'s token: the one who took it, or
 * anyone for a lock that nobody in particular took (RFC 4918 6.4: the lock creator).
 */
export function mayUse(lock: LockInfo, principal: string | null | undefined): boolean {
  if (principal === undefined || lock.principal === null) return true;
  return holderOf(lock.principal) === holderOf(principal);
}

/**
 * What one principal's live locks take of the table: how many, and their size (owner and
 * paths, in UTF-16 code units), which every reader of the table downloads and parses.
 */
export function shareOf(live: readonly LockInfo[], principal: string): {
  count: number;
  bytes: number;
} {
  let count = 0;
  let bytes = 0;
  for (const l of live) {
    if (holderOf(l.principal) !== holderOf(principal)) continue;
    count++;
    bytes += lockBytes(l);
  }
  return { count, bytes };
}

/**
 * Throws ENOSPC when a new lock would take `principal` past its share of the table: at most
 * `limit.locks` live locks, whose owners and paths together hold at most `limit.bytes` UTF-16
 * code units. The table is one object that every write reads and every lock change rewrites
 * whole, for every user: before session 19 one user could fill it (10,000 shared locks with
 * 4 KiB owners on one file of its own: over 40 MB to rewrite for each LOCK and UNLOCK of
 * anyone, and no new lock for anyone else for up to 7 days).
 */
export function checkShare(
  live: readonly LockInfo[],
  principal: string,
  lock: Pick<LockInfo, "owner" | "root" | "via">,
  limit: { readonly locks: number; readonly bytes: number },
): void {
  const { count, bytes } = shareOf(live, principal);
  if (count >= limit.locks || bytes + lockBytes(lock) > limit.bytes) {
    throw new FsError(
      "ENOSPC",
      `"${principal}" holds ${count} live locks (at most ${limit.locks}, with ` +
        `${limit.bytes} characters of owners and paths); unlock some first`,
      { path: lock.root },
    );
  }
}

/**
 * Throws ENOSPC when `locks`, the table a lock change would write, hold more than `max`
 * UTF-16 code units of owners, paths and principals in all (see
 * `LockManagerOptions.maxTableText`): every write reads the table whole.
 */
export function checkTableText(locks: readonly LockInfo[], max: number, path: string): void {
  let units = 0;
  for (const l of locks) units += lockBytes(l) + (l.principal?.length ?? 0);
  if (units > max) {
    throw new FsError(
      "ENOSPC",
      `The lock table is full (owners and paths of ${max} characters at most); unlock some first`,
      { path },
    );
  }
}

/** The size of a lock's variable parts (owner and paths), in UTF-16 code units. */
export function lockBytes(l: Pick<LockInfo, "owner" | "root" | "via">): number {
  return l.owner.length + l.root.length + (l.via?.length ?? 0);
}

/** A copy for callers: the table's records are shared with MetaStore's cache. */
export function copy(lock: LockInfo): LockInfo {
  return { ...lock };
}

/** The path in canonical form ("/a/b"), validated. @throws {FsError} EINVAL */
export function normalize(path: string): string {
  return joinPath(splitPath(path));
}

/** `path` is `root` or inside it, by whole segments ("/ab" is not inside "/a"). */
export function atOrBelow(path: string, root: string): boolean {
  return path === root || below(path, root);
}

/** `path` is strictly inside `root`. */
export function below(path: string, root: string): boolean {
  return path !== root && (root === "/" || path.startsWith(root + "/"));
}

/** The lock applies to `path`: rooted there, or above it with depth infinity. */
export function covers(lock: LockInfo, path: string): boolean {
  return lock.root === path || (lock.depth === "infinity" && below(path, lock.root));
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Validates the lock table object (with the epoch fields it may carry). */
export const checkLockTable: Check = (value) => {
  if (!isObject(value) || value.v !== 1 || !Array.isArray(value.locks)) {
    return "not a version 1 lock table";
  }
  if (value.ns !== undefined && !(Number.isSafeInteger(value.ns) && (value.ns as number) >= 0)) {
    return "bad namespace epoch";
  }
  if (
    value.pending !== undefined &&
    !(Array.isArray(value.pending) && value.pending.every((p) => typeof p === "string"))
  ) {
    return "bad pending namespace changes";
  }
  for (const l of value.locks as unknown[]) {
    const ok = isObject(l) &&
      typeof l.token === "string" &&
      typeof l.root === "string" && l.root.startsWith("/") &&
      (l.via === undefined || (typeof l.via === "string" && l.via.startsWith("/"))) &&
      (l.depth === "0" || l.depth === "infinity") &&
      (l.scope === "exclusive" || l.scope === "shared") &&
      typeof l.owner === "string" &&
      (l.principal === null || typeof l.principal === "string") &&
      typeof l.timeout === "number" &&
      typeof l.expires === "number";
    if (!ok) return `malformed lock record ${JSON.stringify(l).slice(0, 200)}`;
  }
  return null;
};
