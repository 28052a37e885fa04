/**
 * The filesystem: the operations a kernel VFS asks of a filesystem, by path, over the
 * page cache and the bucket format. Every operation that changes something is durable in
 * the store when its promise resolves; every failure is an {@linkcode FsError}.
 *
 * @module
 */

import { openFormat } from "../format/superblock.ts";
import type { Superblock } from "../format/meta.ts";
import type { ObjectStore } from "../store/types.ts";
import * as attrs from "./attrs.ts";
import { createCtx, type Ctx, statOf, toFsError, type VfsOptions } from "./context.ts";
import { FsError } from "./errors.ts";
import { checkRange, FileHandle, loadRecord, readRecord, streamRecord } from "./file.ts";
import {
  compact,
  type CompactOptions,
  type CompactReport,
  isMissing,
  relocated,
} from "./compact.ts";
import { LockManager } from "./locks.ts";
import { removeTree } from "./tree.ts";
import * as ns from "./namespace.ts";
import { rename } from "./rename.ts";
import { checkScope, locate } from "./resolve.ts";
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
}

/**
 * A PageFS filesystem on an object store.
 *
 * @example
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.mkdir("/docs");
 * await fs.writeFile("/docs/a.txt", new TextEncoder().encode("hello"));
 * const bytes = await fs.read("/docs/a.txt", 0, 100);
 * console.assert(new TextDecoder().decode(bytes) === "hello");
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

  /** Opens (formatting an empty store first) the filesystem in `store`. */
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
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.mkdir("/home/alice", { parents: true });
   * await fs.symlink("/etc", "/home/alice/out");
   * const alice = fs.scoped("/home/alice");
   * const denied = await alice.readdir("/home/alice/out").catch((e) => e.code);
   * console.assert(denied === "EACCES");
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

  /** The page cache's counters. */
  cacheStats() {
    return this.#ctx.cache.stats();
  }

  /** lstat: the attributes of `path` itself (a symlink is not followed). */
  lookup(path: string): Promise<Stat> {
    return this.#run(path, () => attrs.getattr(this.#ctx, path, false));
  }

  /** stat: the attributes of what `path` leads to (symlinks followed). */
  getattr(path: string): Promise<Stat> {
    return this.#run(path, () => attrs.getattr(this.#ctx, path, true));
  }

  setattr(path: string, changes: SetAttr): Promise<Stat> {
    return this.#run(path, () => attrs.setattr(this.#ctx, path, changes));
  }

  /** Creates an empty regular file; with `exclusive`, EEXIST if it exists. */
  create(path: string, options: Omit<OpenOptions, "create" | "truncate"> = {}): Promise<Stat> {
    return this.#run(path, async () => {
      const handle = await FileHandle.open(this.#ctx, path, { ...options, create: true });
      return await handle.close();
    });
  }

  mkdir(
    path: string,
    options: { mode?: number; uid?: number; gid?: number; parents?: boolean } = {},
  ): Promise<Stat> {
    return this.#run(path, () => ns.mkdir(this.#ctx, path, options));
  }

  unlink(path: string): Promise<void> {
    return this.#run(path, () => ns.unlink(this.#ctx, path));
  }

  /**
   * Removes a file, or a directory with everything below it, members first. Returns what
   * could not be removed, with why; with `stopOnError`, throws the first failure instead.
   */
  removeTree(
    path: string,
    options: { stopOnError?: boolean; beforeEach?: (path: string) => Promise<void> } = {},
  ): Promise<Map<string, FsError>> {
    return removeTree(this, path, options);
  }

  rmdir(path: string): Promise<void> {
    return this.#run(path, () => ns.rmdir(this.#ctx, path));
  }

  /** Renames atomically; replaces a file or an empty directory unless `noReplace`. */
  rename(from: string, to: string, options: { noReplace?: boolean } = {}): Promise<void> {
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
   * const fs = await Vfs.open(new MemoryStore());
   * await fs.mkdir("/home/alice", { parents: true });
   * await fs.writeFile("/staged", new TextEncoder().encode("hi"));
   * await fs.scoped("/home/alice").adopt("/staged", "/home/alice/hi.txt");
   * console.assert((await fs.getattr("/home/alice/hi.txt")).size === 2);
   * ```
   */
  adopt(from: string, to: string, options: { noReplace?: boolean } = {}): Promise<void> {
    return this.#run(to, () => rename(this.#ctx, from, to, { ...options, sourceAnywhere: true }));
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

  symlink(target: string, path: string): Promise<Stat> {
    return this.#run(path, () => ns.symlink(this.#ctx, target, path));
  }

  readlink(path: string): Promise<string> {
    return this.#run(path, () => ns.readlink(this.#ctx, path));
  }

  /** Makes `path` another hard link to the file at `existing`. */
  link(existing: string, path: string): Promise<Stat> {
    return this.#run(path, () => ns.link(this.#ctx, existing, path));
  }

  /**
   * Server-side copy: files share their data (no bytes are copied), trees recursively.
   * `beforeEach` runs right before each entry is created (a front end re-checks locks).
   */
  copy(
    from: string,
    to: string,
    options: { noReplace?: boolean; beforeEach?: () => Promise<void> } = {},
  ): Promise<Stat> {
    return this.#run(from, () => ns.copy(this.#ctx, from, to, options));
  }

  /** Opens a regular file for reads and writes; writes are durable at fsync/close. */
  open(path: string, options: OpenOptions = {}): Promise<FileHandle> {
    return this.#run(path, () => FileHandle.open(this.#ctx, path, options));
  }

  /** Reads up to `length` bytes at `offset` (fewer at end of file; holes read as zeros). */
  read(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.#run(path, async () => {
      checkRange(this.#ctx, offset, length);
      const { parent, entry } = await locate(this.#ctx, path, { follow: true });
      if (!parent) throw new FsError("EISDIR", "Is a directory", { path });
      if (!entry) throw new FsError("ENOENT", "No such file or directory", { path });
      if (entry.t === "d") throw new FsError("EISDIR", "Is a directory", { path });
      const record = await loadRecord(this.#ctx, entry);
      try {
        return await readRecord(this.#ctx, entry.ino, record, offset, length);
      } catch (error) {
        // Compaction moved the bytes and GC deleted the old segment meanwhile: read the
        // same content from where it is now.
        const moved = isMissing(error) &&
          await relocated(this.#ctx, path, entry.ino, record).catch(() => null);
        if (!moved) throw error;
        return await readRecord(this.#ctx, entry.ino, moved, offset, length);
      }
    });
  }

  /**
   * Streams a file's bytes from one consistent version of it: segments never change, so
   * a concurrent overwrite does not tear the stream.
   */
  readStream(
    path: string,
    options: { offset?: number; length?: number; chunkSize?: number } = {},
  ): Promise<{ stat: Stat; body: ReadableStream<Uint8Array> }> {
    return this.#run(path, async () => {
      const ctx = this.#ctx;
      const { parent, entry } = await locate(ctx, path, { follow: true });
      if (!parent) throw new FsError("EISDIR", "Is a directory", { path });
      if (!entry) throw new FsError("ENOENT", "No such file or directory", { path });
      if (entry.t === "d") throw new FsError("EISDIR", "Is a directory", { path });
      const record = await loadRecord(ctx, entry);
      // The stat of the very version streamed (not of a second, possibly newer, lookup).
      const stat = statOf(entry.ino, "file", record.attr, { nlink: record.nlink, data: record });
      const offset = options.offset ?? 0;
      checkRange(ctx, offset, 0);
      const end = offset + (options.length ?? Infinity);
      let chunks = streamRecord(ctx, entry.ino, record, offset, end);
      let version = record;
      let at = offset;
      let resumes = 0;
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          for (;;) {
            try {
              const next = await chunks.next();
              if (next.done) controller.close();
              else {
                at += next.value.length;
                controller.enqueue(next.value);
              }
              return;
            } catch (error) {
              // A segment deleted under the stream: if compaction moved this very version's
              // bytes (GC deletes the old segment a grace later), go on from the new map.
              const moved = resumes++ < 3 && isMissing(error) &&
                await relocated(ctx, path, entry.ino, version).catch(() => null);
              if (!moved) {
                controller.error(toFsError(error, path));
                return;
              }
              version = moved;
              chunks = streamRecord(ctx, entry.ino, moved, at, end);
            }
          }
        },
        async cancel() {
          await chunks.return(undefined);
        },
      }, { highWaterMark: 0 });
      return { stat, body };
    });
  }

  /**
   * Writes bytes or a stream at `offset` and makes them durable; creates the file if asked.
   * A 1 KiB file created this way costs one metadata write; larger data, one more.
   */
  write(
    path: string,
    offset: number,
    data: Uint8Array | ReadableStream<Uint8Array>,
    options: OpenOptions = {},
  ): Promise<Stat> {
    return this.#run(path, async () => {
      checkRange(this.#ctx, offset, data instanceof Uint8Array ? data.length : 0);
      const handle = await FileHandle.open(this.#ctx, path, options);
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

  /** Replaces (or creates) the whole file with `data`. */
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

  truncate(path: string, size: number): Promise<Stat> {
    return this.setattr(path, { size });
  }

  /**
   * Every operation is durable when it returns, so there is nothing left to flush for a
   * path; open handles flush with their own `fsync`. Checks that the file exists.
   */
  fsync(path: string): Promise<Stat> {
    return this.getattr(path);
  }

  /** A page of entries with their stats (and extended attributes with `xattrs: true`). */
  readdir(
    path: string,
    options: { cursor?: string; limit?: number; xattrs?: boolean } = {},
  ): Promise<ReaddirPage> {
    return this.#run(path, async () => {
      const page = await ns.readdir(this.#ctx, path, options);
      if (this.#hidden.size === 0 || splitPath(path).length > 0) return page;
      const entries = page.entries.filter((e) => !this.#hidden.has(e.name));
      return entries.length === page.entries.length ? page : { ...page, entries };
    });
  }

  statfs(): Promise<StatFs> {
    return this.#run("/", () => attrs.statfs(this.#ctx));
  }

  getxattr(path: string, name: string): Promise<Uint8Array> {
    return this.#run(path, () => attrs.getxattr(this.#ctx, path, name));
  }

  /** Every extended attribute of `path`, read at once. */
  getxattrs(path: string): Promise<Record<string, Uint8Array>> {
    return this.#run(path, () => attrs.getxattrs(this.#ctx, path));
  }

  listxattr(path: string): Promise<string[]> {
    return this.#run(path, () => attrs.listxattr(this.#ctx, path));
  }

  setxattr(
    path: string,
    name: string,
    value: Uint8Array,
    flags: { create?: boolean; replace?: boolean } = {},
  ): Promise<void> {
    return this.#run(path, () => attrs.setxattr(this.#ctx, path, name, value, flags));
  }

  /** Sets and removes several attributes atomically: all of the changes or none. */
  updatexattrs(
    path: string,
    changes: { set?: Readonly<Record<string, Uint8Array>>; remove?: readonly string[] },
  ): Promise<void> {
    return this.#run(path, () => attrs.updatexattrs(this.#ctx, path, changes));
  }

  removexattr(path: string, name: string): Promise<void> {
    return this.#run(path, () => attrs.removexattr(this.#ctx, path, name));
  }

  /**
   * Rewrites segments that are mostly dead (live fraction below `below`) so that GC can
   * reclaim them: live bytes move to one new segment, files keep their bytes and times.
   */
  compact(options: CompactOptions = {}): Promise<CompactReport> {
    return this.#run("/", () => compact(this.#ctx, options));
  }

  async #run<T>(path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toFsError(error, path);
    }
  }
}
