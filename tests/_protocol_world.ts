// The state the extended protocol fuzz (tests/protocol_fuzz_ext_test.ts) checks answers
// against: the POSIX model of tests/_model.ts (symlinks, hard links, xattrs) plus what the
// protocols add on top of it: WebDAV locks (by path, as RFC 4918 has them), the ETags the
// server gave for file versions, and the modes and mtimes set through the API.

import { type MNode, Model } from "./_model.ts";
import { ERRNO_STATUS } from "../src/http/errors.ts";
import type { Errno } from "../src/vfs/errors.ts";

/** What a lock covers, as src/http/locks.ts checks it (see `World.blocked`). */
export interface Touch {
  /** The change adds or removes the path in its parent (a depth-0 lock there counts). */
  readonly membership?: boolean;
  /** The change removes or replaces everything below the path too. */
  readonly tree?: boolean;
  /** The change goes through a final symlink (a write of the file it leads to). */
  readonly follow?: boolean;
}

export function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

export function within(path: string, ancestor: string): boolean {
  return path === ancestor || path.startsWith(ancestor === "/" ? "/" : ancestor + "/");
}

/** The API's status for an errno (one table for the whole API: src/http/errors.ts). */
export function apiStatus(code: string): number {
  return ERRNO_STATUS[code as Errno] ?? 500;
}

/** The model and what the protocols add to it. */
export class World {
  model = new Model();
  /**
   * Lock root -> its token. Only exclusive depth-0 locks are taken, rooted at the path the
   * LOCK named with its symlinks resolved ({@linkcode World.lockRoot}).
   */
  readonly locks = new Map<string, string>();
  /** File node id -> the ETag the server last gave for its current content. */
  readonly etags = new Map<number, string>();
  /** ETags of versions that are gone (never current again: inos are unique). */
  readonly stale: string[] = [];
  /** Node id -> mode set by chmod. */
  readonly modes = new Map<number, number>();
  /** File node id -> mtime (ms) set by utimes, until the content changes. */
  readonly mtimes = new Map<number, number>();

  /** A copy to judge an order of operations on (hard links stay shared within it). */
  clone(): World {
    const copy = new World();
    copy.model = this.model.clone();
    for (const [k, v] of this.locks) copy.locks.set(k, v);
    for (const [k, v] of this.etags) copy.etags.set(k, v);
    copy.stale.push(...this.stale);
    for (const [k, v] of this.modes) copy.modes.set(k, v);
    for (const [k, v] of this.mtimes) copy.mtimes.set(k, v);
    return copy;
  }

  /** Where a LOCK of `path` roots its lock: the symlinks on the way resolved. */
  lockRoot(path: string): string {
    return this.model.physical(path) ?? path;
  }

  /**
   * The names of `path` its locks are looked up by (src/vfs/locks.ts): as named, and with
   * the symlinks on the way resolved (with `follow`, a final one too), since a lock is on
   * the resource, not on one URL of it (RFC 4918 sections 6 and 7). A hard link is a name
   * of equal rank: its locks are its own.
   */
  names(path: string, follow = false): string[] {
    const resolved = follow ? this.model.followedPath(path) : this.model.physical(path);
    return resolved === null || resolved === path ? [path] : [path, resolved];
  }

  /**
   * The token of a lock rooted at a name of `path`, a final symlink followed or not (the
   * If header's tokens are matched against the locks of all of them), if any.
   */
  tokenAt(path: string): string | undefined {
    for (const name of [...this.names(path), ...this.names(path, true)]) {
      const token = this.locks.get(name);
      if (token !== undefined) return token;
    }
    return undefined;
  }

  /** A lock whose token the request does not send covers this change of `path`. */
  blocked(path: string, touch: Touch, sent: readonly string[] = []): boolean {
    const names = this.names(path, touch.follow ?? false);
    for (const [root, token] of this.locks) {
      if (sent.includes(token)) continue;
      for (const name of names) {
        if (root === name) return true;
        if (touch.membership && name !== "/" && root === parentOf(name)) return true;
        if (touch.tree && within(root, name)) return true;
      }
    }
    return false;
  }

  /**
   * A request unmapped `path`: the locks rooted there or below go ("If a request causes
   * the lock-root of any lock to become an unmapped URL, then the lock MUST also be
   * deleted by that request", RFC 4918 section 6.1), by either name of it (see
   * {@linkcode names}; `names` as resolved before the request, when it changed them).
   */
  release(path: string, names: readonly string[] = this.names(path)): void {
    for (const root of [...this.locks.keys()]) {
      if (names.some((name) => within(root, name))) this.locks.delete(root);
    }
  }

  /**
   * The content of file `node` was written: its known ETag is no longer current (stale
   * when the bytes changed; else unknown, since a rewrite of the same bytes is a new
   * version too), and an mtime set before is gone.
   */
  wrote(node: MNode | null, before: Uint8Array | null): void {
    if (node?.kind !== "file") return;
    const known = this.etags.get(node.id);
    this.etags.delete(node.id);
    this.mtimes.delete(node.id);
    if (known && before && !sameBytes(before, node.data)) this.stale.push(known);
  }

  /**
   * A write to `path` that the server answered 2xx: `trial` (the model with the write
   * applied) becomes the model, and the ETag answered is learnt for what the path leads to
   * now; `before` is that file's content before. Returns a complaint, as `learn` does.
   */
  applyWrite(
    trial: Model,
    path: string,
    before: Uint8Array | null,
    etag: string | null,
  ): string | null {
    this.model = trial;
    const after = trial.followed(path);
    this.wrote(after, before);
    return this.learn(after, etag);
  }

  /**
   * Learns the ETag the server gave for `node`'s current content; returns a complaint when
   * it contradicts one already known (the same content under two tags, or one tag for two
   * contents).
   */
  learn(node: MNode | null, etag: string | null): string | null {
    if (node?.kind !== "file") return null;
    if (etag === null) return "no ETag for a file";
    const tag = etag.replace(/^"|"$/g, "");
    if (this.stale.includes(tag)) return `ETag ${etag} of a version that is gone`;
    const known = this.etags.get(node.id);
    if (known !== undefined && known !== tag) {
      return `ETag ${etag}, but the same content was ${JSON.stringify(known)} before`;
    }
    this.etags.set(node.id, tag);
    return null;
  }
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Removes the tree at `path` (an entry, not followed) from the model, members first. */
export function removeTree(model: Model, path: string): void {
  const at = model.physical(path)!;
  const below = model.paths().filter((p) => p !== at && within(p, at)).reverse();
  for (const p of [...below, at]) {
    if (model.nodeAt(p)?.kind === "directory") model.rmdir(p);
    else model.unlink(p);
  }
}
