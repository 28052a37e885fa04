/**
 * What every WebDAV handler works with: the request, its filesystem path, and the gate
 * that evaluates the `If` header and the locks before anything changes.
 *
 * @module
 */

import type { Context } from "hono";
import { lockAlias } from "../http/locks.ts";
import { Recheck } from "../http/recheck.ts";
import type { RenderCache } from "../http/render_cache.ts";
import type { StoredProps } from "./stored_props.ts";
import { isFsError, type Stat, type Vfs } from "../vfs/mod.ts";
import type { LockInfo, LockManager } from "../vfs/locks.ts";
import { DavError } from "./errors.ts";
import { evaluateIf, parseIf, submittedTokens } from "./headers.ts";
import { headerPathOf, hrefOf, isWithin } from "./paths.ts";
import type { FsPath } from "../http/path.ts";

/** One WebDAV request, parsed once. */
export interface DavRequest {
  readonly c: Context;
  readonly vfs: Vfs;
  readonly locks: LockManager;
  readonly url: URL;
  /** The mount point, e.g. "/dav" (no trailing slash). */
  readonly mount: string;
  /** The filesystem path the request URL names. */
  readonly path: string;
  readonly trailingSlash: boolean;
  /** Largest XML request body accepted. */
  readonly maxXmlBytes: number;
  /** Most members a `PROPFIND Depth: infinity` answers. */
  readonly davInfinityMax: number;
  /** The principal id (`user:<name>`, `token:<name>`), for lock records (null without auth). */
  readonly principal: string | null;
  /** The folder the caller may reach ("/" for everything); `vfs` is limited to it. */
  readonly scope: string;
  /** Rendered listings kept for the next identical PROPFIND. */
  readonly renders: RenderCache;
  /** Dead property values as rendered (see `stored_props.ts`), one memo per front end. */
  readonly storedProps: StoredProps;
  /** The host a trusted reverse proxy says the client used (null: none, or not trusted). */
  readonly forwardedHost: string | null;
}

/**
 * `lock` as this request's principal may see it: without the path it was taken through
 * (`via`, which becomes its `DAV:lockroot`) when that path lies outside the principal's
 * folder. A lock taken through a symlink elsewhere (`/pub/x/f`, with `/pub/x` leading into
 * `/home/alice`) is rooted at the resolved path, which is the principal's own (or an
 * ancestor of its folder); its `via` named a path the principal may not learn of.
 */
export function visibleLock(req: DavRequest, lock: LockInfo): LockInfo {
  if (lock.via === undefined || isWithin(lock.via, req.scope)) return lock;
  const { via: _hidden, ...rest } = lock;
  return rest;
}

/** The href of `path` as this server writes it. */
export function href(req: DavRequest, path: string, collection: boolean): string {
  return hrefOf(req.mount, path, collection);
}

/**
 * The stat of `path` without following a final symlink (with `follow`, of what it leads
 * to), or null when nothing is there.
 */
export async function statOrNull(
  vfs: Vfs,
  path: string,
  options: { optimistic?: boolean; follow?: boolean } = {},
): Promise<Stat | null> {
  const { follow = false, ...rest } = options;
  try {
    return follow ? await vfs.getattrOrNull(path, rest) : await vfs.lookupOrNull(path, rest);
  } catch (error) {
    if (isFsError(error, "ENOENT", "ENOTDIR")) return null;
    throw error;
  }
}

/** The quoted strong ETag of a resource. */
export function quotedEtag(stat: Stat): string {
  return `"${stat.etag}"`;
}

/** A path a change touches, and what else about it the change needs unlocked. */
export interface Touch {
  readonly path: string;
  /** The change adds or removes `path` in its parent (a depth-0 lock there counts). */
  readonly membership?: boolean;
  /** The change removes or replaces everything below `path` too. */
  readonly tree?: boolean;
  /** The change goes through a final symlink (a PUT writes the file it leads to). */
  readonly follow?: boolean;
  /** The request looked `path` up optimistically (see `lockAlias`). */
  readonly optimistic?: boolean;
}

/**
 * Checks the `If` header (412 when it does not hold) and then that every lock on the
 * touched paths has its token submitted (423 otherwise). Returns the submitted tokens.
 */
export async function guard(req: DavRequest, touches: readonly Touch[]): Promise<Set<string>> {
  const lists = parseIf(req.c.req.header("if") ?? null);
  if (lists) {
    const holds = await evaluateIf(lists, req.url, async (_url, resource) => {
      // Read raw, like the request's own path; outside the mount, the caller's folder or
      // malformed, the resource counts as unmapped.
      let target: FsPath | null = null;
      try {
        target = resource === null
          ? req
          : headerPathOf(resource, req.url, req.mount, { anyHost: true });
      } catch {
        target = null;
      }
      if (!target || !isWithin(target.path, req.scope)) return { etag: null, tokens: [] };
      // The resource's locks wherever they were taken: through the path as named, or as
      // its symlinks resolve (a lock is on the resource, not on one URL of it).
      const path = target.path;
      const [stat, locks, followed] = await Promise.all([
        statOrNull(req.vfs, path),
        req.locks.covering(path, { alias: lockAlias(req.c, req.vfs, path) }),
        req.locks.covering(path, { alias: lockAlias(req.c, req.vfs, path, { follow: true }) }),
      ]);
      const tokens = new Set([...locks, ...followed].map((l) => l.token));
      // A symlink's URL has two entity tags: its own (PROPFIND's getetag) and the one GET
      // sends, of the file it leads to, which a client then puts in the If header of a PUT
      // (before session 16: 412 on it, while If-Match with it held).
      // A symlink that leads nowhere it can be followed (a loop, out of the caller's folder)
      // has its own entity tag only: the request is judged, not refused, for it.
      const leadsTo = stat?.type === "symlink"
        ? await statOrNull(req.vfs, path, { follow: true }).catch((error) => {
          if (isFsError(error, "ELOOP", "EACCES")) return null;
          throw error;
        })
        : null;
      return {
        etag: stat ? quotedEtag(stat) : null,
        followedEtag: leadsTo ? quotedEtag(leadsTo) : null,
        tokens: [...tokens],
      };
    });
    if (!holds) throw new DavError(412, "The If header's conditions do not hold");
  }
  const tokens = submittedTokens(lists);
  await checkLocks(req, touches, tokens);
  return tokens;
}

async function checkLocks(
  req: DavRequest,
  touches: readonly Touch[],
  tokens: ReadonlySet<string>,
): Promise<void> {
  for (const touch of touches) {
    await req.locks.check(touch.path, tokens, {
      parent: touch.membership ?? false,
      descendants: touch.tree ?? false,
      principal: req.principal,
      alias: lockAlias(req.c, req.vfs, touch.path, touch),
    });
  }
}

/**
 * Drops the locks of `path` and below, which the request unmapped (RFC 4918 section 6.1):
 * those taken through the path as named and through its symlinks resolved.
 */
export function releaseLocks(req: DavRequest, path: string): Promise<void> {
  return req.locks.release(path, { alias: lockAlias(req.c, req.vfs, path) });
}

/**
 * The same gate, to run again right before each commit step of the change (see
 * {@linkcode Recheck}): a lock taken, or an entity tag changed, while the body was in
 * flight or the tree half done still stops the change.
 */
export function regard(
  req: DavRequest,
  touches: readonly Touch[],
  options: { reuse?: boolean } = {},
): Recheck {
  // Afresh (a body upload or a tree walk may have taken long), unless `reuse`: the checks
  // ran after the whole body was here, one data write before the commit at most.
  return new Recheck(async () => {
    if (options.reuse) await guard(req, touches);
    else await req.vfs.fresh(() => guard(req, touches));
  });
}

/**
 * {@linkcode regard} for the locks alone: every lock on the touched paths has its token
 * among those the `If` header submits (423 otherwise), read afresh each time. For steps on
 * an entry the request made itself (not a resource the `If` header's conditions are about).
 */
export function regardLocks(req: DavRequest, touches: readonly Touch[]): Recheck {
  const tokens = submittedTokens(parseIf(req.c.req.header("if") ?? null));
  return new Recheck(() => req.vfs.fresh(() => checkLocks(req, touches, tokens)));
}
