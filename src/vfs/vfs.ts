/**
 * The filesystem facade: the operations a kernel VFS asks of a filesystem, by path, over
 * the page cache and the bucket format. Every operation that changes something is durable
 * in the store when its promise resolves; every failure is an {@linkcode FsError}. The
 * work is done by the operations in `ops/` over the shared internals (`resolve.ts`,
 * `records.ts`, `reader.ts`, `writer.ts`); this file only documents and dispatches.
 *
 * Over 500 lines on purpose: the public API's documentation, with an `@throws` per errno
 * and a runnable example per method, is most of it; each method's code is one dispatch.
 *
 * @module
 */

import type { BudgetStats } from "../cache/budget.ts";
import { openFormat } from "../format/superblock.ts";
import type { Superblock } from "../format/meta.ts";
import type { ObjectStore } from "../store/types.ts";
import { createCtx, type Ctx, toFsError, type VfsOptions } from "./context.ts";
import { FsError } from "./errors.ts";
import { LockManager } from "./locks.ts";
import * as attrs from "./ops/attrs.ts";
import { compact, type CompactOptions, type CompactReport } from "./ops/compact.ts";
import * as ns from "./ops/namespace.ts";
import { read, readStream } from "./ops/read.ts";
import { rename } from "./ops/rename.ts";
import { removeTree } from "./ops/tree.ts";
import { type AsideOptions, nameBeside, renameAside } from "./ops/rename_aside.ts";
import { checkRange } from "./records.ts";
import { checkScope } from "./resolve.ts";
import { FileHandle } from "./writer.ts";
import { checkName, splitPath } from "./path.ts";
import type { ReaddirPage, SetAttr, Stat, StatFs } from "./types.ts";

export type { CompactOptions, CompactReport, VfsOptions };

/** Options for opening a file handle. */
export interface OpenOptions {
  readonly create?: boolean;
  readonly exclusive?: boolean;
  readonly truncate?: boolean;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /**
   * Commit only if the file's ETag is still this one; otherwise ESTALE and nothing
   * changes. Checked in the same CAS as the write, so it cannot race another writer.
   */
  readonly ifMatch?: string;
  /**
   * Sets the file's mtime (ms) in the same CAS as the data (a client's own time for an
   * upload), so no reader sees the new bytes with another mtime.
   */
  readonly mtime?: number;
  /**
   * Runs right before each metadata CAS of the write, after its data is durable (a front
   * end re-checks locks there); if it throws, nothing is committed and the write fails.
   */
  readonly beforeCommit?: () => Promise<void>;
  /**
   * An optimistic write: the directory holding the file may be taken as cached (see
   * `lookup`'s `optimistic`), and the commit fails with {@linkcode ChangedError} (nothing
   * written) unless the file's ETag is still `expect` (null: the file is absent), so that
   * whatever the caller decided from its optimistic `lookup` still holds at the commit.
   */
  readonly expect?: string | null;
  /**
   * Told whether the write's commit added the file to its directory (true) or changed a
   * file that was there (false), which may differ from what a look before the write saw:
   * another writer may have created, removed or replaced the file meanwhile.
   */
  readonly onCommit?: (created: boolean) => void;
}

/**
 * A PageFS filesystem on an object store.
 *
 * Paths are absolute and normalised (`/a/b`, no `.` or `..`). Besides the errors each
 * method lists, any method that takes a path throws {@linkcode FsError} with
 * - EINVAL for a path that is not absolute or holds an invalid name,
 * - ENAMETOOLONG for a name over 255 bytes or a path over 4096,
 * - ENOENT when a directory on the way does not exist, ENOTDIR when one is not a directory,
 * - ELOOP when symlinks on the way nest too deep,
 * - EACCES in a {@linkcode Vfs.scoped} view, for a path (or a followed symlink) outside it;
 *
 * and every method may throw EAGAIN (too many concurrent changes, an entry in the middle of
 * a rename, or a store that throttles: retry) and EIO (the store failed or holds a corrupt
 * object; the cause is in `error.cause`).
 *
 * @example
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.mkdir("/docs");
 * await fs.writeFile("/docs/a.txt", new TextEncoder().encode("hello"));
 * const bytes = await fs.read("/docs/a.txt", 0, 100);
 * ok(new TextDecoder().decode(bytes) === "hello");
 * ```
 */
export class Vfs {
  readonly #ctx: Ctx;
  readonly superblock: Superblock;
  #locks: LockManager | null = null;
  #scopes = new Map<string, Vfs>();
  /** Names at the root that listings leave out (see `hide`); shared with scoped views. */
  #hidden = new Set<string>();

  private constructor(ctx: Ctx, superblock: Superblock) {
    this.#ctx = ctx;
    this.superblock = superblock;
  }

  /**
   * Opens the filesystem in `store`, formatting an empty store first.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const store = new MemoryStore();
   * const first = await Vfs.open(store);
   * const again = await Vfs.open(store);
   * ok(again.superblock.id === first.superblock.id);
   * ```
   * @throws {FsError} EIO when the store holds another format version or cannot be read.
   */
  static async open(store: ObjectStore, options: VfsOptions = {}): Promise<Vfs> {
    const ctx = createCtx(store, options);
    return new Vfs(ctx, await openFormat(ctx.meta, ctx.now()));
  }

  /**
   * A view of this filesystem limited to the subtree at `prefix`, for a caller that may
   * reach only that folder: every path it is given, and every symlink it follows, must stay
   * at or below `prefix`, or the operation fails with EACCES. The view shares everything
   * else (caches, locks, writeback) with this one.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.mkdir("/home/alice", { parents: true });
   * await fs.symlink("/etc", "/home/alice/out");
   * const alice = fs.scoped("/home/alice");
   * const denied = await alice.readdir("/home/alice/out").catch((e) => e.code);
   * ok(denied === "EACCES");
   * ```
   * @throws {FsError} EINVAL when `prefix` is not a normalised absolute path.
   */
  scoped(prefix: string): Vfs {
    if (!prefix.startsWith("/")) {
      throw new FsError("EINVAL", "A scope must be an absolute path", { path: prefix });
    }
    const names = splitPath(prefix);
    for (const name of names) checkName(name, prefix);
    // A view can narrow its scope, never widen it.
    checkScope(this.#ctx, names, prefix);
    const key = names.join("/");
    if (names.length === 0 && this.#ctx.scope.length === 0) return this;
    let view = this.#scopes.get(key);
    if (!view) {
      view = new Vfs({ ...this.#ctx, scope: names }, this.superblock);
      view.#locks = this.locks;
      view.#hidden = this.#hidden;
      this.#scopes.set(key, view);
    }
    return view;
  }

  /**
   * Runs `fn` as one request (a front end's HTTP request): every operation inside it may
   * reuse a metadata version that a GET issued after `fn` began validated, so no object
   * is read twice, and what it answers is still the state at some moment within it.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.writeFile("/a", new Uint8Array(3));
   * const [stat, bytes] = await fs.request(() =>
   *   Promise.all([fs.getattr("/a"), fs.read("/a", 0, 3)])
   * );
   * ok(stat.size === bytes.length);
   * ```
   */
  request<T>(fn: () => Promise<T>): Promise<T> {
    return this.#ctx.meta.inScope(fn);
  }

  /**
   * Runs `fn` with nothing reused from before this call, even inside {@linkcode request}:
   * for a check repeated right before a commit, after a body that took its time.
   */
  fresh<T>(fn: () => Promise<T>): Promise<T> {
    return this.#ctx.meta.inNewScope(fn);
  }

  /** The store underneath (for tools such as fsck and GC). */
  get store(): ObjectStore {
    return this.#ctx.store;
  }

  /**
   * The WebDAV lock table of this filesystem, shared through the bucket with every
   * instance that serves it.
   */
  get locks(): LockManager {
    return this.#locks ??= new LockManager(this.#ctx.meta, { now: this.#ctx.now });
  }

  /** The page cache's counters (hits, misses, bytes held) of this instance. */
  cacheStats() {
    return this.#ctx.cache.stats();
  }

  /**
   * The memory budget's counters: its limit, the bytes buffered now (cached blocks, dirty
   * data, part and GET buffers) and the most ever buffered at once, and writers waiting.
   */
  memoryStats(): BudgetStats {
    return this.#ctx.memory.stats();
  }

  /**
   * lstat: the attributes of `path` itself (a final symlink is not followed).
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.symlink("/nowhere", "/link");
   * ok((await fs.lookup("/link")).type === "symlink");
   * ```
   * With `optimistic`, the directory holding the last name may be answered from this
   * instance's cache without a GET (the namespace epoch is still read): for a write that
   * passes what it saw as `expect`, so that its commit checks it.
   * @throws {FsError} ENOENT when nothing is at `path`.
   */
  lookup(path: string, options: { optimistic?: boolean } = {}): Promise<Stat> {
    return this.#run(path, () => attrs.getattr(this.#ctx, path, false, options));
  }

  /**
   * stat: the attributes of what `path` leads to (symlinks followed).
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.writeFile("/a", new Uint8Array(3));
   * await fs.symlink("/a", "/link");
   * const stat = await fs.getattr("/link");
   * ok(stat.type === "file" && stat.size === 3);
   * ```
   * @throws {FsError} ENOENT when nothing is at `path`, or a symlink leads nowhere.
   */
  getattr(path: string, options: { optimistic?: boolean } = {}): Promise<Stat> {
    return this.#run(path, () => attrs.getattr(this.#ctx, path, true, options));
  }

  /**
   * chmod, chown, utimes and truncate in one atomic change: sets the given mode bits,
   * owner, times and size (a larger size extends the file with a hole) and the ctime.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.writeFile("/a", new Uint8Array(10));
   * const stat = await fs.setattr("/a", { mode: 0o600, size: 4 });
   * ok(stat.mode === 0o600 && stat.size === 4);
   * ```
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} EINVAL for a mode, owner, time or size out of range.
   * @throws {FsError} EISDIR for a size on a directory.
   * @throws {FsError} EFBIG for a size past the largest file size.
   */
  setattr(path: string, changes: SetAttr): Promise<Stat> {
    return this.#run(path, () => attrs.setattr(this.#ctx, path, changes));
  }

  /**
   * Creates an empty regular file (an existing one is left as it is, unless `exclusive`).
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.create("/a", { exclusive: true });
   * const again = await fs.create("/a", { exclusive: true }).catch((e) => e.code);
   * ok(again === "EEXIST");
   * ```
   * @throws {FsError} EEXIST with `exclusive` when something is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * @throws {FsError} ESTALE with `ifMatch` when the file's ETag is another.
   */
  create(path: string, options: Omit<OpenOptions, "create" | "truncate"> = {}): Promise<Stat> {
    return this.#run(path, async () => {
      const handle = await FileHandle.open(this.#ctx, path, { ...options, create: true });
      return await handle.close();
    });
  }

  /**
   * Creates a directory; with `parents`, the missing directories above it too, and an
   * existing directory at `path` is no error.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.mkdir("/a/b/c", { parents: true });
   * ok((await fs.getattr("/a/b")).type === "directory");
   * ```
   * @throws {FsError} EEXIST when something is at `path` (without `parents`, or not a
   *   directory).
   * @throws {FsError} ENOENT without `parents`, when the parent does not exist.
   */
  mkdir(
    path: string,
    options: { mode?: number; uid?: number; gid?: number; parents?: boolean } = {},
  ): Promise<Stat> {
    return this.#run(path, () => ns.mkdir(this.#ctx, path, options));
  }

  /**
   * Removes a name of a file or symlink; the file's data goes once no name links it.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.writeFile("/a", new Uint8Array(1));
   * await fs.unlink("/a");
   * ok(await fs.lookup("/a").catch((e) => e.code) === "ENOENT");
   * ```
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory (use {@linkcode Vfs.rmdir}).
   * @throws {FsError} ESTALE when the file's stat fails `expect` at the commit (a front
   *   end's `If-Match`): checked in the CAS that removes the name, so a write committed
   *   after the caller looked is never removed by a condition on the version before.
   */
  unlink(path: string, options: { expect?: (stat: Stat) => boolean } = {}): Promise<void> {
    return this.#run(path, () => ns.unlink(this.#ctx, path, options));
  }

  /**
   * Removes a file, or a directory with everything below it, members first. Returns what
   * could not be removed, with why; with `stopOnError`, throws the first failure instead.
   * Members that vanish meanwhile count as removed.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.mkdir("/t/sub", { parents: true });
   * await fs.writeFile("/t/sub/f", new Uint8Array(1));
   * const failures = await fs.removeTree("/t");
   * ok(failures.size === 0);
   * ```
   * @throws {FsError} ENOENT when nothing is at `path`; with `stopOnError`, any errno of
   *   {@linkcode Vfs.unlink} or {@linkcode Vfs.rmdir}, or what `beforeEach` throws.
   * @throws {FsError} ESTALE when `path` is a file whose stat fails `expect` at the commit
   *   (as {@linkcode Vfs.unlink}'s).
   */
  removeTree(
    path: string,
    options: {
      stopOnError?: boolean;
      beforeEach?: (path: string) => Promise<void>;
      expect?: (stat: Stat) => boolean;
    } = {},
  ): Promise<Map<string, FsError>> {
    return removeTree(this, path, options);
  }

  /**
   * Removes an empty directory.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.mkdir("/d");
   * await fs.writeFile("/d/f", new Uint8Array(1));
   * ok(await fs.rmdir("/d").catch((e) => e.code) === "ENOTEMPTY");
   * ```
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} ENOTDIR when `path` is not a directory.
   * @throws {FsError} ENOTEMPTY when the directory has entries.
   * @throws {FsError} EBUSY for the root.
   */
  rmdir(path: string): Promise<void> {
    return this.#run(path, () => ns.rmdir(this.#ctx, path));
  }

  /**
   * Renames atomically, across directories too (through a rename intent that any instance
   * settles); replaces a file or an empty directory at `to` unless `noReplace`.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.mkdir("/d");
   * await fs.writeFile("/a", new TextEncoder().encode("x"));
   * await fs.rename("/a", "/d/b");
   * ok((await fs.getattr("/d/b")).size === 1);
   * ```
   * @throws {FsError} ENOENT when nothing is at `from`.
   * @throws {FsError} EEXIST with `noReplace` when something is at `to`.
   * @throws {FsError} EISDIR when a non-directory would replace a directory; ENOTDIR when a
   *   directory would replace a non-directory.
   * @throws {FsError} ENOTEMPTY when `to` is a directory with entries.
   * @throws {FsError} EINVAL when a directory would move into itself.
   * @throws {FsError} EBUSY for the root, as source or target.
   * @throws {FsError} ESTALE when the source's stat fails `expect` as the rename commits
   *   (a front end's `If-Match`; checked in the CAS that moves a file or symlink).
   */
  rename(
    from: string,
    to: string,
    options: { noReplace?: boolean; expect?: (stat: Stat) => boolean } = {},
  ): Promise<void> {
    return this.#run(from, () => rename(this.#ctx, from, to, options));
  }

  /**
   * Moves `from`, a path of the whole filesystem whatever this view's scope (a file the
   * server itself staged, such as a finished resumable upload), to `to`, which is held to
   * this view's scope like any path it is given (symlinks followed included). Atomic like
   * {@linkcode rename}. Never pass a source a client named: its scope is not checked.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.mkdir("/home/alice", { parents: true });
   * await fs.writeFile("/staged", new TextEncoder().encode("hi"));
   * await fs.scoped("/home/alice").adopt("/staged", "/home/alice/hi.txt");
   * ok((await fs.getattr("/home/alice/hi.txt")).size === 2);
   * ```
   * @throws {FsError} as {@linkcode rename}; EACCES when `to` leaves this view's scope.
   */
  adopt(from: string, to: string, options: { noReplace?: boolean } = {}): Promise<void> {
    return this.#run(to, () => rename(this.#ctx, from, to, { ...options, sourceAnywhere: true }));
  }

  /**
   * Renames `from` to `to`, two names in one directory, replacing whatever `to` holds (of
   * any type: a directory with entries too) and keeping it as entry `aside` of that
   * directory, in one commit: readers see the old entry at `to` or the new one, never
   * nothing. Nothing is dropped; remove the aside entry when it is no longer needed. Take
   * `aside` from {@linkcode nameBeside}, which keeps it in the same directory object.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.mkdir("/old/sub", { parents: true });
   * await fs.writeFile("/new", new TextEncoder().encode("x"));
   * const aside = await fs.nameBeside("/old", ".replaced-");
   * await fs.renameAside("/new", "/old", aside);
   * ok((await fs.getattr("/old")).size === 1);
   * ok((await fs.getattr(`/${aside}/sub`)).type === "directory");
   * ```
   * @throws {FsError} ENOENT when nothing is at `from`.
   * @throws {FsError} EEXIST when something is at `aside`, or `options.replaces` (the
   *   inode the caller saw at `to`, null for nothing) is not what is there now.
   * @throws {FsError} EXDEV when the three names are not in one directory object (two
   *   directories, or two shards of a large one): use {@linkcode rename}.
   * @throws {FsError} EBUSY for the root, as source or target.
   */
  renameAside(
    from: string,
    to: string,
    aside: string,
    options: AsideOptions = {},
  ): Promise<void> {
    return this.#run(from, () => renameAside(this.#ctx, from, to, aside, options));
  }

  /**
   * A fresh name starting with `prefix` for the directory holding `path`, in the same
   * directory object as `path`'s name (see {@linkcode renameAside}).
   *
   * @throws {FsError} EBUSY for the root.
   */
  nameBeside(path: string, prefix: string): Promise<string> {
    return this.#run(path, () => nameBeside(this.#ctx, path, prefix));
  }

  /**
   * Leaves `name` out of every listing of the root, in this view and all its scoped views:
   * a folder the server keeps for itself (the tus staging area). It stays reachable by
   * path; refusing such paths from clients is the front ends' job.
   */
  hide(name: string): void {
    checkName(name, "/" + name);
    this.#hidden.add(name);
  }

  /**
   * Creates a symlink at `path` that points to `target` (any string; not checked).
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.symlink("../elsewhere", "/link");
   * ok(await fs.readlink("/link") === "../elsewhere");
   * ```
   * @throws {FsError} EEXIST when something is at `path`.
   * @throws {FsError} EINVAL for an empty target or one with NUL; ENAMETOOLONG for one
   *   over 4096 bytes.
   */
  symlink(target: string, path: string): Promise<Stat> {
    return this.#run(path, () => ns.symlink(this.#ctx, target, path));
  }

  /**
   * The target of the symlink at `path`.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} EINVAL when `path` is not a symlink.
   */
  readlink(path: string): Promise<string> {
    return this.#run(path, () => ns.readlink(this.#ctx, path));
  }

  /**
   * Makes `path` another hard link to the regular file at `existing`.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.writeFile("/a", new Uint8Array(2));
   * const stat = await fs.link("/a", "/b");
   * ok(stat.nlink === 2);
   * ```
   * @throws {FsError} ENOENT when nothing is at `existing`.
   * @throws {FsError} EEXIST when something is at `path`.
   * @throws {FsError} EPERM when `existing` is a directory or a symlink.
   */
  link(existing: string, path: string): Promise<Stat> {
    return this.#run(path, () => ns.link(this.#ctx, existing, path));
  }

  /**
   * Server-side copy: files share their data (no bytes are copied), trees recursively.
   * `beforeEach` runs right before each entry is created (a front end re-checks locks).
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.writeFile("/a", new TextEncoder().encode("hi"));
   * await fs.copy("/a", "/b");
   * ok(new TextDecoder().decode(await fs.read("/b", 0, 2)) === "hi");
   * ```
   * @throws {FsError} ENOENT when nothing is at `from`.
   * @throws {FsError} EEXIST with `noReplace` (or for a tree onto something) when
   *   something is at `to`.
   * @throws {FsError} EISDIR when a file would replace a directory.
   * @throws {FsError} EINVAL when a directory would be copied into itself.
   */
  copy(
    from: string,
    to: string,
    options: {
      noReplace?: boolean;
      beforeEach?: () => Promise<void>;
      /** For a file or symlink: its stat as read for the copy must satisfy it (else ESTALE). */
      expect?: (stat: Stat) => boolean;
    } = {},
  ): Promise<Stat> {
    return this.#run(from, () => ns.copy(this.#ctx, from, to, options));
  }

  /**
   * Opens a regular file for reads and writes; writes are durable at `fsync`/`close`.
   * With `create`, a file that does not exist appears at the first commit, with its data.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * const handle = await fs.open("/log", { create: true });
   * await handle.append(new TextEncoder().encode("one "));
   * await handle.append(new TextEncoder().encode("two"));
   * const stat = await handle.close();
   * ok(stat.size === 7);
   * ```
   * @throws {FsError} ENOENT without `create`, when nothing is at `path`.
   * @throws {FsError} EEXIST with `create` and `exclusive`, when something is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * @throws {FsError} EINVAL for an `mtime` out of range.
   */
  open(path: string, options: OpenOptions = {}): Promise<FileHandle> {
    return this.#run(path, () => FileHandle.open(this.#ctx, path, options));
  }

  /**
   * Reads up to `length` bytes at `offset` (fewer at end of file; holes read as zeros).
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.write("/a", 4, new Uint8Array([1]), { create: true });
   * const bytes = await fs.read("/a", 0, 100);
   * ok(bytes.length === 5 && bytes[0] === 0 && bytes[4] === 1);
   * ```
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * @throws {FsError} EINVAL for a negative or fractional offset or length; EFBIG past the
   *   largest file size.
   */
  read(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.#run(path, () => read(this.#ctx, path, offset, length));
  }

  /**
   * Streams a file's bytes from one consistent version of it: segments never change, so
   * a concurrent overwrite does not tear the stream. Returns that version's stat.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.writeFile("/a", new TextEncoder().encode("hello"));
   * const { stat, body } = await fs.readStream("/a", { offset: 1 });
   * const text = await new Response(body).text();
   * ok(stat.size === 5 && text === "ello");
   * ```
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * With `direct`, for a caller that sends the body with its length declared (an HTTP
   * answer with Content-Length: its transport fails a body that ends short), bytes that are
   * one run of one segment (and no disk tier) come as the body of one ranged GET of the
   * store, untouched and unchecked; the result's `direct` then says so, and the answer
   * streams without JavaScript per chunk (see `markStreamedByRuntime` in
   * src/observe/request_log.ts). Without it, every body is checked for its length.
   *
   * @throws {FsError} EINVAL for an invalid offset. A segment that goes missing later
   *   errors the stream with EIO.
   */
  readStream(
    path: string,
    options: { offset?: number; length?: number; chunkSize?: number; direct?: boolean } = {},
  ): Promise<{ stat: Stat; body: ReadableStream<Uint8Array>; direct: boolean }> {
    return this.#run(path, () => readStream(this.#ctx, path, options));
  }

  /**
   * Writes bytes or a stream at `offset` and makes them durable; creates the file if asked.
   * A 1 KiB file created this way costs one metadata write; larger data, one more.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.writeFile("/a", new TextEncoder().encode("hello"));
   * const stat = await fs.write("/a", 0, new TextEncoder().encode("J"));
   * ok(stat.size === 5);
   * ```
   * @throws {FsError} ENOENT without `create`, when nothing is at `path`.
   * @throws {FsError} EEXIST with `create` and `exclusive`, when something is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * @throws {FsError} ESTALE with `ifMatch`, when the file's ETag is another (nothing is
   *   written), or when the file was removed or replaced during the write.
   * @throws {FsError} EINVAL for an invalid offset or mtime; EFBIG past the largest size.
   */
  write(
    path: string,
    offset: number,
    data: Uint8Array | ReadableStream<Uint8Array>,
    options: OpenOptions = {},
  ): Promise<Stat> {
    return this.#run(path, async () => {
      checkRange(this.#ctx, offset, data instanceof Uint8Array ? data.length : 0);
      // One call, one outcome: with `create`, a file removed or replaced while this write
      // was on its way is not an error; the write comes after that change.
      const handle = await FileHandle.open(this.#ctx, path, { ...options, recreate: true });
      try {
        if (data instanceof Uint8Array) await handle.write(offset, data);
        else await handle.writeStream(offset, data);
      } catch (error) {
        await handle.discard();
        throw error;
      }
      return await handle.close();
    });
  }

  /**
   * Replaces (or creates) the whole file with `data`, in one commit.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.writeFile("/a", new TextEncoder().encode("longer"));
   * const stat = await fs.writeFile("/a", new TextEncoder().encode("s"));
   * ok(stat.size === 1);
   * ```
   * @throws {FsError} the errnos of {@linkcode Vfs.write}.
   */
  writeFile(
    path: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    options: Omit<OpenOptions, "create" | "truncate"> = {},
  ): Promise<Stat> {
    return this.write(path, 0, data, { ...options, create: true, truncate: true });
  }

  /**
   * Appends at the end of the file as it is when the data commits: concurrent appends,
   * from any instance, all land, one after the other.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * const bytes = new TextEncoder().encode("ab");
   * await Promise.all([fs.append("/log", bytes, { create: true }), fs.append("/log", bytes, { create: true })]);
   * ok((await fs.getattr("/log")).size === 4);
   * ```
   * @throws {FsError} ENOENT without `create`, when nothing is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * @throws {FsError} ESTALE with `ifMatch`, when the file's ETag is another.
   * @throws {FsError} EFBIG past the largest file size.
   */
  append(
    path: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    options: Pick<OpenOptions, "create" | "ifMatch" | "beforeCommit"> = {},
  ): Promise<Stat> {
    return this.#run(path, async () => {
      const handle = await FileHandle.open(this.#ctx, path, options);
      try {
        if (data instanceof Uint8Array) await handle.append(data);
        else await handle.appendStream(data);
      } catch (error) {
        await handle.discard();
        throw error;
      }
      return await handle.close();
    });
  }

  /**
   * Sets a file's size: cuts it, or extends it with a hole (as `setattr` with a size).
   *
   * @throws {FsError} the errnos of {@linkcode Vfs.setattr}.
   */
  truncate(path: string, size: number): Promise<Stat> {
    return this.setattr(path, { size });
  }

  /**
   * Every operation is durable when it returns, so there is nothing left to flush for a
   * path; open handles flush with their own `fsync`. Checks that the file exists.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   */
  fsync(path: string): Promise<Stat> {
    return this.getattr(path);
  }

  /**
   * A page of entries with their stats (and extended attributes with `xattrs: true`),
   * in name order; pass the returned `cursor` for the next page (null after the last).
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * for (const name of ["b", "a", "c"]) await fs.create(`/${name}`);
   * const first = await fs.readdir("/", { limit: 2 });
   * ok(first.entries.map((e) => e.name).join() === "a,b" && first.cursor !== null);
   * ```
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} ENOTDIR when `path` is not a directory.
   * @throws {FsError} EINVAL for a malformed cursor or limit.
   */
  readdir(
    path: string,
    options: { cursor?: string; limit?: number; xattrs?: boolean } = {},
  ): Promise<ReaddirPage> {
    return this.#run(path, async () => {
      const page = await ns.readdir(this.#ctx, path, options);
      if (this.#hidden.size === 0 || splitPath(path).length > 0) return page;
      const entries = page.entries.filter((e) => !this.#hidden.has(e.name));
      // Names are only ever added to the hidden set: its size versions it.
      const version = page.version && `${page.version}/${this.#hidden.size}`;
      return { ...page, entries, ...(version ? { version } : {}) };
    });
  }

  /**
   * Filesystem statistics. S3 has no capacity limit; used bytes are the segments' sizes,
   * counted by listing the bucket at most once a minute per instance.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * ok((await fs.statfs()).nameMax === 255);
   * ```
   */
  statfs(): Promise<StatFs> {
    return this.#run("/", () => attrs.statfs(this.#ctx));
  }

  /**
   * The value of the extended attribute `name` of `path`.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.create("/a");
   * await fs.setxattr("/a", "user.tag", new Uint8Array([7]));
   * ok((await fs.getxattr("/a", "user.tag"))[0] === 7);
   * ok(await fs.getxattr("/a", "user.x").catch((e) => e.code) === "ENODATA");
   * ```
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} ENODATA when there is no such attribute.
   * @throws {FsError} EINVAL for an empty name or one with NUL; ERANGE for one over 255
   *   bytes.
   */
  getxattr(path: string, name: string): Promise<Uint8Array> {
    return this.#run(path, () => attrs.getxattr(this.#ctx, path, name));
  }

  /**
   * Every extended attribute of `path`, read at once.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   */
  getxattrs(path: string): Promise<Record<string, Uint8Array>> {
    return this.#run(path, () => attrs.getxattrs(this.#ctx, path));
  }

  /**
   * The names of the extended attributes of `path`, sorted.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   */
  listxattr(path: string): Promise<string[]> {
    return this.#run(path, () => attrs.listxattr(this.#ctx, path));
  }

  /**
   * Sets the extended attribute `name` of `path`; with `create` only if it is new, with
   * `replace` only if it exists.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} EEXIST with `create` when the attribute exists; ENODATA with
   *   `replace` when it does not.
   * @throws {FsError} EINVAL for an invalid name; ERANGE for a name over 255 bytes or a
   *   value over 64 KiB; ENOSPC when the attributes of `path` would pass 64 KiB in all.
   */
  setxattr(
    path: string,
    name: string,
    value: Uint8Array,
    flags: { create?: boolean; replace?: boolean } = {},
  ): Promise<void> {
    return this.#run(path, () => attrs.setxattr(this.#ctx, path, name, value, flags));
  }

  /**
   * Sets and removes several extended attributes atomically: all of the changes or none.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.mkdir("/d");
   * await fs.updatexattrs("/d", { set: { "user.a": new Uint8Array(1) }, remove: ["user.b"] });
   * ok((await fs.listxattr("/d")).join() === "user.a");
   * ```
   * @throws {FsError} the errnos of {@linkcode Vfs.setxattr} (nothing changes).
   */
  updatexattrs(
    path: string,
    changes: { set?: Readonly<Record<string, Uint8Array>>; remove?: readonly string[] },
  ): Promise<void> {
    return this.#run(path, () => attrs.updatexattrs(this.#ctx, path, changes));
  }

  /**
   * Removes the extended attribute `name` of `path`.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} ENODATA when there is no such attribute.
   * @throws {FsError} EINVAL or ERANGE for an invalid name.
   */
  removexattr(path: string, name: string): Promise<void> {
    return this.#run(path, () => attrs.removexattr(this.#ctx, path, name));
  }

  /**
   * Rewrites segments that are mostly dead (live fraction below `below`) so that GC can
   * reclaim them: live bytes move to one new segment, files keep their bytes, times and
   * ETags. A file changed meanwhile is skipped, never overwritten.
   *
   * @example
   * ```ts
   * import { MemoryStore } from "../store/memory.ts";
   * import { Vfs } from "./vfs.ts";
   * import { ok } from "node:assert/strict";
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.writeFile("/a", new Uint8Array(8000));
   * await fs.write("/a", 0, new Uint8Array(7000).fill(1));
   * const report = await fs.compact({ below: 0.5, graceMs: 0 });
   * ok(report.filesRewritten === 1);
   * ```
   */
  compact(options: CompactOptions = {}): Promise<CompactReport> {
    return this.#run("/", () => compact(this.#ctx, options));
  }

  async #run<T>(path: string, fn: () => Promise<T>): Promise<T> {
    try {
      // One operation is one request scope (or part of the front end's).
      return await this.#ctx.meta.inScope(fn);
    } catch (error) {
      throw toFsError(error, path);
    }
  }
}
