/**
 * The filesystem facade: the operations a kernel VFS asks of a filesystem, by path, over
 * the page cache and the bucket format. Every operation that changes something is durable
 * in the store when its promise resolves; every failure is an {@linkcode FsError}. The
 * work is done by the operations in `ops/` over the shared internals (`resolve.ts`,
 * `records.ts`, `reader.ts`, `writer.ts`); the facade only documents and dispatches.
 *
 * {@linkcode Vfs} is one class written in parts by concern, each extending the one before:
 * `_vfs_core.ts` (context, request scopes, the one error translation), `_vfs_attrs.ts`
 * (stat, setattr, xattrs), `_vfs_names.ts` (the namespace), `_vfs_files.ts` (file data),
 * and this file: opening, scoped views, the lock table and compaction.
 *
 * @module
 */

import { openFormat } from "../format/superblock.ts";
import type { Superblock } from "../format/meta.ts";
import type { ObjectStore } from "../store/types.ts";
import { VfsFiles } from "./_vfs_files.ts";
import { createCtx, type Ctx, type VfsOptions } from "./context.ts";
import { FsError } from "./errors.ts";
import { LockManager } from "./locks.ts";
import { compact, type CompactOptions, type CompactReport } from "./ops/compact.ts";
import { checkName, splitPath } from "./path.ts";
import { checkScope } from "./resolve.ts";

export type { OpenOptions } from "./_vfs_files.ts";
// The parts, for `deno doc` to show every method along the `extends` chain: use Vfs itself.
export type { VfsAttrs } from "./_vfs_attrs.ts";
export type { VfsCore } from "./_vfs_core.ts";
export type { VfsFiles } from "./_vfs_files.ts";
export type { VfsNames } from "./_vfs_names.ts";
export type { CompactOptions, CompactReport, VfsOptions };

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
export class Vfs extends VfsFiles {
  readonly superblock: Superblock;
  #locks: LockManager | null = null;
  #scopes = new Map<string, Vfs>();

  private constructor(ctx: Ctx, superblock: Superblock, hidden = new Set<string>()) {
    super(ctx, hidden);
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
    checkScope(this.ctx, names, prefix);
    const key = names.join("/");
    if (names.length === 0 && this.ctx.scope.length === 0) return this;
    let view = this.#scopes.get(key);
    if (!view) {
      view = new Vfs({ ...this.ctx, scope: names }, this.superblock, this.hidden);
      view.#locks = this.locks;
      this.#scopes.set(key, view);
    }
    return view;
  }

  /**
   * The WebDAV lock table of this filesystem, shared through the bucket with every
   * instance that serves it.
   */
  get locks(): LockManager {
    return this.#locks ??= new LockManager(this.ctx.meta, { now: this.ctx.now });
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
    return this.run("/", () => compact(this.ctx, options));
  }
}
