/**
 * The facade's attributes: stat (lookup, getattr), setattr, statfs and extended
 * attributes, each one dispatch to `ops/attrs.ts`. A part of {@linkcode Vfs}; see
 * `_vfs_core.ts`.
 *
 * Each method's runnable example is on the class in `vfs.ts` (an example here would import
 * the class this file is a part of: a cycle).
 *
 * @module
 */

import { VfsCore } from "./_vfs_core.ts";
import * as attrs from "./ops/attrs.ts";
import type { SetAttr, Stat, StatFs } from "./types.ts";

/** The attribute methods of {@linkcode Vfs}. */
export abstract class VfsAttrs extends VfsCore {
  /**
   * lstat: the attributes of `path` itself (a final symlink is not followed).
   *
   * With `optimistic`, the directory holding the last name may be answered from this
   * instance's cache without a GET (the namespace epoch is still read): for a write that
   * passes what it saw as `expect`, so that its commit checks it.
   * @throws {FsError} ENOENT when nothing is at `path`.
   */
  lookup(path: string, options: { optimistic?: boolean } = {}): Promise<Stat> {
    return this.run(path, () => attrs.getattr(this.ctx, path, false, options));
  }

  /**
   * As {@linkcode lookup}, but null rather than ENOENT when the last name of `path` is
   * absent (a missing directory on the way still throws ENOENT).
   */
  lookupOrNull(path: string, options: { optimistic?: boolean } = {}): Promise<Stat | null> {
    return this.run(path, () => attrs.statOrNull(this.ctx, path, false, options));
  }

  /**
   * stat: the attributes of what `path` leads to (symlinks followed).
   *
   * @throws {FsError} ENOENT when nothing is at `path`, or a symlink leads nowhere.
   */
  getattr(path: string, options: { optimistic?: boolean } = {}): Promise<Stat> {
    return this.run(path, () => attrs.getattr(this.ctx, path, true, options));
  }

  /** As {@linkcode getattr}, but null rather than ENOENT when the last name is absent. */
  getattrOrNull(path: string, options: { optimistic?: boolean } = {}): Promise<Stat | null> {
    return this.run(path, () => attrs.statOrNull(this.ctx, path, true, options));
  }

  /**
   * chmod, chown, utimes and truncate in one atomic change: sets the given mode bits,
   * owner, times and size (a larger size extends the file with a hole) and the ctime.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} EINVAL for a mode, owner, time or size out of range.
   * @throws {FsError} EISDIR for a size on a directory.
   * @throws {FsError} EFBIG for a size past the largest file size.
   */
  setattr(path: string, changes: SetAttr): Promise<Stat> {
    return this.run(path, () => attrs.setattr(this.ctx, path, changes));
  }

  /**
   * Filesystem statistics. S3 has no capacity limit; used bytes are the segments' sizes,
   * counted by listing the bucket at most once a minute per instance.
   */
  statfs(): Promise<StatFs> {
    return this.run("/", () => attrs.statfs(this.ctx));
  }

  /**
   * The value of the extended attribute `name` of `path`.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} ENODATA when there is no such attribute.
   * @throws {FsError} EINVAL for an empty name or one with NUL; ERANGE for one over 255
   *   bytes.
   */
  getxattr(path: string, name: string): Promise<Uint8Array> {
    return this.run(path, () => attrs.getxattr(this.ctx, path, name));
  }

  /**
   * Every extended attribute of `path`, read at once.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   */
  getxattrs(path: string): Promise<Record<string, Uint8Array>> {
    return this.run(path, () => attrs.getxattrs(this.ctx, path));
  }

  /**
   * The names of the extended attributes of `path`, sorted.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   */
  listxattr(path: string): Promise<string[]> {
    return this.run(path, () => attrs.listxattr(this.ctx, path));
  }

  /**
   * Sets the extended attribute `name` of `path`; with `create` only if it is new, with
   * `replace` only if it exists.
   *
   * @returns the attributes of `path` as the change left them (a removal of the name
   *   right after cannot turn the answer into ENOENT).
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
  ): Promise<Stat> {
    return this.run(path, () => attrs.setxattr(this.ctx, path, name, value, flags));
  }

  /**
   * Sets and removes several extended attributes atomically: all of the changes or none.
   *
   * @throws {FsError} the errnos of {@linkcode Vfs.setxattr} (nothing changes).
   */
  updatexattrs(
    path: string,
    changes: { set?: Readonly<Record<string, Uint8Array>>; remove?: readonly string[] },
  ): Promise<void> {
    return this.run(path, () => attrs.updatexattrs(this.ctx, path, changes));
  }

  /**
   * Removes the extended attribute `name` of `path`.
   *
   * @returns the attributes of `path` as the change left them.
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} ENODATA when there is no such attribute.
   * @throws {FsError} EINVAL or ERANGE for an invalid name.
   */
  removexattr(path: string, name: string): Promise<Stat> {
    return this.run(path, () => attrs.removexattr(this.ctx, path, name));
  }
}
