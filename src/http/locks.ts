/**
 * WebDAV locks bind the HTTP API and tus uploads too: a write to a path that a lock covers
 * needs that lock's token, sent as `Lock-Token: <urn:uuid:…>` (several may be
 * comma-separated), or it is refused with 423 and nothing changes. As through WebDAV, a
 * token counts only for the principal who took the lock (RFC 4918 section 6.4): anyone who
 * may read the resource sees the token in its `lockdiscovery`.
 *
 * A lock is on the resource, not on the URL (RFC 4918 sections 6 and 7): a path is checked
 * as named and as its symlinks resolve ({@linkcode lockAlias}), so a symlink on the way, or
 * as the last name of a write that follows it, does not lead around a lock.
 *
 * @module
 */

import type { Context } from "hono";
import { HttpError } from "./errors.ts";
import { type Alias, isFsError, LockedError, type Vfs } from "../vfs/mod.ts";

/** The context variable naming who makes the request, for lock ownership. */
const PRINCIPAL = "pagefs.lockPrincipal";

/**
 * Names the request's principal by its id (`user:<name>`, `token:<name>`; null: authentication
 * is off) for the lock checks below;
 * the app sets it once the request is authenticated. Unset, a submitted token counts only
 * for a lock that nobody in particular took.
 */
export function setLockPrincipal(c: Context, principal: string | null): void {
  c.set(PRINCIPAL as never, principal as never);
}

function lockPrincipal(c: Context): string | null {
  return (c.get(PRINCIPAL as never) as string | null | undefined) ?? null;
}

/** The lock tokens a request submits in `Lock-Token`. */
export function submittedTokens(c: Context): Set<string> {
  const header = c.req.header("lock-token");
  const tokens = new Set<string>();
  for (const match of header?.matchAll(/<([^<>\s]+)>/g) ?? []) tokens.add(match[1]!);
  return tokens;
}

/** The context variable holding the request's resolved paths (see {@linkcode lockAlias}). */
const ALIASES = "pagefs.lockAliases";

/**
 * The resolved name of `path` for the lock checks: the symlinks on the way resolved, and
 * with `follow` a final one too (a write that goes through it). Resolved when a check
 * first needs it (only when some lock is live), then kept for the request: the checks
 * repeated before each commit reuse it, and the first one reads only what the request's
 * own lookup of `path` already read. A path that cannot be resolved (a missing directory
 * on the way, a loop) has no other name; the change itself then fails. `optimistic`: for
 * a write that looked `path` up optimistically (its commit checks what it decided from),
 * resolved from the same cached directory, at no request.
 */
export function lockAlias(
  c: Context,
  vfs: Vfs,
  path: string,
  options: { follow?: boolean; optimistic?: boolean } = {},
): Alias {
  const { follow = false, optimistic = false } = options;
  return () => {
    let kept = c.get(ALIASES as never) as Map<string, Promise<string | null>> | undefined;
    if (!kept) c.set(ALIASES as never, (kept = new Map()) as never);
    const key = `${follow} ${optimistic} ${path}`;
    let alias = kept.get(key);
    if (!alias) {
      // Only a path with no other name has none: a store that failed (EAGAIN, EIO) says
      // nothing, and the check fails with it. Before, any error counted as no other name,
      // and a write through a symlink to a locked file went through without its token
      // when the store failed the look (protocol fuzz seed 390038 under store faults).
      alias = vfs.realpath(path, { follow, optimistic }).catch((error) => {
        if (isFsError(error, ...NO_OTHER_NAME)) return null;
        throw error;
      });
      kept.set(key, alias);
    }
    return alias;
  };
}

/** Why a path may have no resolved name: the change itself then fails on its own. */
const NO_OTHER_NAME = [
  "ENOENT",
  "ENOTDIR",
  "ELOOP",
  "ENAMETOOLONG",
  "EINVAL",
  "EACCES",
  "EPERM",
] as const;

/**
 * Refuses (423) a change at `path` that a lock covers without its token submitted. A change
 * of membership (creating or removing `path`) also needs a depth-0 lock on the parent;
 * `tree` changes (delete, rename away) also need the locks below `path`. `follow`: the
 * change goes through a final symlink (a write of the file it leads to); `optimistic`: see
 * {@linkcode lockAlias}.
 */
export async function checkLocks(
  c: Context,
  vfs: Vfs,
  path: string,
  options: { membership?: boolean; tree?: boolean; follow?: boolean; optimistic?: boolean } = {},
): Promise<void> {
  const { follow = false, optimistic = false } = options;
  try {
    await vfs.locks.check(path, submittedTokens(c), {
      parent: options.membership ?? false,
      descendants: options.tree ?? false,
      principal: lockPrincipal(c),
      alias: lockAlias(c, vfs, path, { follow, optimistic }),
    });
  } catch (error) {
    if (!(error instanceof LockedError)) throw error;
    const roots = [...new Set(error.conflicts.map((l) => l.root))].join(", ");
    throw new HttpError(423, "EBUSY", `Locked by a WebDAV lock on ${roots}: send its Lock-Token`);
  }
}
