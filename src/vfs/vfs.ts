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
 *
 * Examples of the methods defined in its parts (`_vfs_*.ts`), kept here: a part cannot
 * import the class it is a part of, not even in a documentation example.
 *
 * @example request
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
 *
 * @example lookup
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.symlink("/nowhere", "/link");
 * ok((await fs.lookup("/link")).type === "symlink");
 * ```
 *
 * @example getattr
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
 *
 * @example setattr
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.writeFile("/a", new Uint8Array(10));
 * const stat = await fs.setattr("/a", { mode: 0o600, size: 4 });
 * ok(stat.mode === 0o600 && stat.size === 4);
 * ```
 *
 * @example statfs
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * ok((await fs.statfs()).nameMax === 255);
 * ```
 *
 * @example getxattr
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
 *
 * @example updatexattrs
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.mkdir("/d");
 * await fs.updatexattrs("/d", { set: { "user.a": new Uint8Array(1) }, remove: ["user.b"] });
 * ok((await fs.listxattr("/d")).join() === "user.a");
 * ```
 *
 * @example mkdir
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.mkdir("/a/b/c", { parents: true });
 * ok((await fs.getattr("/a/b")).type === "directory");
 * ```
 *
 * @example unlink
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.writeFile("/a", new Uint8Array(1));
 * await fs.unlink("/a");
 * ok(await fs.lookup("/a").catch((e) => e.code) === "ENOENT");
 * ```
 *
 * @example removeTree
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
 *
 * @example pathOf
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.mkdir("/a/b", { parents: true });
 * const b = (await fs.getattr("/a/b")).ino;
 * await fs.rename("/a", "/z");
 * ok(await fs.pathOf(b) === "/z/b");
 * ```
 *
 * @example rmdir
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.mkdir("/d");
 * await fs.writeFile("/d/f", new Uint8Array(1));
 * ok(await fs.rmdir("/d").catch((e) => e.code) === "ENOTEMPTY");
 * ```
 *
 * @example rename
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
 *
 * @example adopt
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
 *
 * @example renameAside
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
 *
 * @example symlink
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.symlink("../elsewhere", "/link");
 * ok(await fs.readlink("/link") === "../elsewhere");
 * ```
 *
 * @example link
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.writeFile("/a", new Uint8Array(2));
 * const stat = await fs.link("/a", "/b");
 * ok(stat.nlink === 2);
 * ```
 *
 * @example copy
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.writeFile("/a", new TextEncoder().encode("hi"));
 * await fs.copy("/a", "/b");
 * ok(new TextDecoder().decode(await fs.read("/b", 0, 2)) === "hi");
 * ```
 *
 * @example readdir
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * for (const name of ["b", "a", "c"]) await fs.create(`/${name}`);
 * const first = await fs.readdir("/", { limit: 2 });
 * ok(first.entries.map((e) => e.name).join() === "a,b" && first.cursor !== null);
 * ```
 *
 * @example create
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.create("/a", { exclusive: true });
 * const again = await fs.create("/a", { exclusive: true }).catch((e) => e.code);
 * ok(again === "EEXIST");
 * ```
 *
 * @example open
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
 *
 * @example read
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.write("/a", 4, new Uint8Array([1]), { create: true });
 * const bytes = await fs.read("/a", 0, 100);
 * ok(bytes.length === 5 && bytes[0] === 0 && bytes[4] === 1);
 * ```
 *
 * @example readStream
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
 *
 * @example write
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.writeFile("/a", new TextEncoder().encode("hello"));
 * const stat = await fs.write("/a", 0, new TextEncoder().encode("J"));
 * ok(stat.size === 5);
 * ```
 *
 * @example writeFile
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * await fs.writeFile("/a", new TextEncoder().encode("longer"));
 * const stat = await fs.writeFile("/a", new TextEncoder().encode("s"));
 * ok(stat.size === 1);
 * ```
 *
 * @example append
 * ```ts
 * import { MemoryStore } from "../store/memory.ts";
 * import { Vfs } from "./vfs.ts";
 * import { ok } from "node:assert/strict";
 * const fs = await Vfs.open(new MemoryStore());
 * const bytes = new TextEncoder().encode("ab");
 * await Promise.all([fs.append("/log", bytes, { create: true }), fs.append("/log", bytes, { create: true })]);
 * ok((await fs.getattr("/log")).size === 4);
 * ```
 */
export class Vfs extends VfsFiles {
  readonly superblock: Superblock;
  #locks: LockManager | null = null;
  #scopes = new Map<string, Vfs>();

  private constructor(ctx: Ctx, superblock: Superblock) {
    super(ctx);
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
      view = new Vfs({ ...this.ctx, scope: names }, this.superblock);
      view.#locks = this.locks;
      this.#scopes.set(key, view);
    }
    return view;
  }

  /**
   * Now on the store's clock as this instance has learned it (ms since the epoch; the
   * host's clock until an answer carried the store's `Date`): for deadlines that several
   * instances judge (locks, share links, sessions), which must not depend on whose host
   * clock runs ahead. See `format/store_clock.ts`.
   */
  storeNow(): number {
    return this.ctx.meta.clock.now();
  }

  /**
   * The WebDAV lock table of this filesystem, shared through the bucket with every
   * instance that serves it.
   */
  get locks(): LockManager {
    return this.#locks ??= new LockManager(this.ctx.meta);
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
