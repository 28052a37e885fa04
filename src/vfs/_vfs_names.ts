/**
 * The facade's namespace: creating, linking, renaming, copying, listing and removing
 * names, each one dispatch to an operation in `ops/`. A part of {@linkcode Vfs}; see
 * `_vfs_core.ts`.
 *
 * Each method's runnable example is on the class in `vfs.ts` (an example here would import
 * the class this file is a part of: a cycle).
 *
 * @module
 */

import { VfsAttrs } from "./_vfs_attrs.ts";
import type { FsError } from "./errors.ts";
import * as ns from "./ops/namespace.ts";
import { link } from "./ops/link.ts";
import { readdir } from "./ops/readdir.ts";
import { rename } from "./ops/rename.ts";
import { type AsideOptions, nameBeside, renameAside } from "./ops/rename_aside.ts";
import { removeTree, type RemoveTreeOptions } from "./ops/tree.ts";
import { ROOT_INO } from "../format/keys.ts";
import { checkName, splitPath } from "./path.ts";
import { pathOf } from "./path_of.ts";
import { realpath } from "./resolve.ts";
import type { ReaddirPage, Stat } from "./types.ts";

/** The namespace methods of {@linkcode Vfs}. */
export abstract class VfsNames extends VfsAttrs {
  /**
   * Creates a directory; with `parents`, the missing directories above it too, and an
   * existing directory at `path` is no error.
   *
   * @throws {FsError} EEXIST when something is at `path` (without `parents`, or not a
   *   directory).
   * @throws {FsError} ENOENT without `parents`, when the parent does not exist.
   */
  mkdir(
    path: string,
    options: { mode?: number; uid?: number; gid?: number; parents?: boolean } = {},
  ): Promise<Stat> {
    return this.run(path, () => ns.mkdir(this.ctx, path, options));
  }

  /**
   * Removes a name of a file or symlink; the file's data goes once no name links it.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory (use {@linkcode Vfs.rmdir}).
   * @throws {FsError} ESTALE when the file's stat fails `expect` at the commit (a front
   *   end's `If-Match`): checked in the CAS that removes the name, so a write committed
   *   after the caller looked is never removed by a condition on the version before.
   *
   * `within` is for {@linkcode removeTree}'s walk alone (see {@linkcode TreeOps}).
   */
  unlink(
    path: string,
    options: { expect?: (stat: Stat) => boolean; within?: string } = {},
  ): Promise<void> {
    return this.run(path, async () => {
      await ns.unlink(this.ctx, path, options);
    });
  }

  /**
   * As {@linkcode Vfs.unlink}, but only while `keeps`, another name of the file, still leads
   * to it: a WebDAV MOVE between two hard links removes its source and keeps the other
   * name, and two crossing ones must not remove both. Checked in the CAS that removes the
   * name when both are in one directory object; otherwise the name is marked first, the
   * other name looked at afresh, and the name removed by a CAS that checks the mark is
   * still there (src/vfs/unlink_marks.ts).
   *
   * @throws {FsError} EAGAIN when another such removal of one of the two names is under
   *   way and does not end within about a second.
   *
   * @returns false when `keeps` no longer leads to the file: nothing was removed.
   */
  async unlinkKeeping(
    path: string,
    keeps: string,
    options: { expect?: (stat: Stat) => boolean } = {},
  ): Promise<boolean> {
    const outcome = await this.run(path, () => ns.unlink(this.ctx, path, { ...options, keeps }));
    return outcome === "removed";
  }

  /**
   * Removes a file, or a directory with everything below it, members first. Returns what
   * could not be removed, with why; with `stopOnError`, throws the first failure instead.
   * Members that vanish meanwhile count as removed.
   *
   * With `holder` (the inode of the directory holding `path`'s entry), the removal
   * follows that directory if a rename takes it elsewhere before or while it runs.
   *
   * Members are found by the directories the walk listed, not by their paths, so a tree
   * goes whole whatever its depth: a rename may put a folder so deep that its paths pass
   * PATH_MAX (nothing checks the depth of what is moved, as on Linux).
   *
   * @throws {FsError} ENOENT when nothing is at `path` (nor, with `holder`, in that
   *   directory where it is now); with `stopOnError`, any errno of
   *   {@linkcode Vfs.unlink} or {@linkcode Vfs.rmdir}, or what `beforeEach` throws.
   * @throws {FsError} ESTALE when `path` is a file whose stat fails `expect` at the commit
   *   (as {@linkcode Vfs.unlink}'s).
   */
  removeTree(path: string, options: RemoveTreeOptions = {}): Promise<Map<string, FsError>> {
    return removeTree(this, path, options);
  }

  /**
   * The path of directory `ino` now, wherever renames have taken it: found by its parent
   * pointers up to the root, each step confirmed by the entry naming it. For a caller that
   * made an entry in a directory and must find it again (see {@linkcode removeTree}'s
   * `holder`). The whole filesystem's path, whatever this view's scope (an operation on it
   * checks the scope). Null when the directory is gone or being removed.
   *
   * @throws {FsError} EAGAIN when a step does not confirm after a few walks.
   */
  pathOf(ino: string): Promise<string | null> {
    return this.run(ino, () => pathOf(this.ctx, ino));
  }

  /**
   * The path of the entry `path` names, with the symlinks on the way resolved (with
   * `follow`, a final symlink too; its last name need not exist): one name of a resource
   * every other way to it leads to (not for hard links, which are names of equal rank).
   * Costs no request beyond those of a lookup of `path`, which this request may have made
   * (with `optimistic`, as {@linkcode lookup}'s: for a write that made its lookup so).
   *
   * @throws {FsError} ENOENT or ENOTDIR when a directory on the way is missing; ELOOP;
   *   EACCES when a symlink leads out of this view's folder.
   */
  realpath(
    path: string,
    options: { follow?: boolean; optimistic?: boolean } = {},
  ): Promise<string> {
    return this.run(path, () => realpath(this.ctx, path, options));
  }

  /**
   * Removes an empty directory.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} ENOTDIR when `path` is not a directory.
   * @throws {FsError} ENOTEMPTY when the directory has entries.
   * @throws {FsError} EBUSY for the root.
   *
   * `within` is for {@linkcode removeTree}'s walk alone (see {@linkcode TreeOps}).
   */
  rmdir(path: string, options: { within?: string } = {}): Promise<void> {
    return this.run(path, () => ns.rmdir(this.ctx, path, options));
  }

  /**
   * Renames atomically, across directories too (through a rename intent that any instance
   * settles); replaces a file or an empty directory at `to` unless `noReplace`.
   *
   * @throws {FsError} ENOENT when nothing is at `from`.
   * @throws {FsError} EEXIST with `noReplace` when something is at `to`.
   * @throws {FsError} EISDIR when a non-directory would replace a directory; ENOTDIR when a
   *   directory would replace a non-directory.
   * @throws {FsError} ENOTEMPTY when `to` is a directory with entries.
   * @throws {FsError} EINVAL when a directory would move into itself.
   * @throws {FsError} EBUSY for the root, as source or target.
   * @throws {FsError} ESTALE when the source's stat fails `expect` as the rename commits
   *   (a front end's `If-Match`; checked in the CAS that moves a file or symlink).
   * @returns "same file" when both names lead to one file (hard links): nothing is done,
   *   as POSIX rename does; else "renamed".
   */
  rename(
    from: string,
    to: string,
    options: { noReplace?: boolean; expect?: (stat: Stat) => boolean } = {},
  ): Promise<"renamed" | "same file"> {
    return this.run(from, () => rename(this.ctx, from, to, options));
  }

  /**
   * Moves `from`, a path of the whole filesystem whatever this view's scope (a file the
   * server itself staged, such as a finished resumable upload), to `to`, which is held to
   * this view's scope like any path it is given (symlinks followed included). Atomic like
   * {@linkcode rename}. Never pass a source a client named: its scope is not checked.
   *
   * @throws {FsError} as {@linkcode rename}; EACCES when `to` leaves this view's scope.
   */
  async adopt(from: string, to: string, options: { noReplace?: boolean } = {}): Promise<void> {
    await this.run(to, () => rename(this.ctx, from, to, { ...options, sourceAnywhere: true }));
  }

  /**
   * Renames `from` to `to`, two names in one directory, replacing whatever `to` holds (of
   * any type: a directory with entries too) and keeping it as entry `aside` of that
   * directory, in one commit: readers see the old entry at `to` or the new one, never
   * nothing. Nothing is dropped; remove the aside entry when it is no longer needed. Take
   * `aside` from {@linkcode nameBeside}, which keeps it in the same directory object.
   * Returns the inode of that directory (to find the aside entry after a rename of the
   * directory: {@linkcode removeTree}'s `holder`).
   *
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
  ): Promise<string> {
    return this.run(from, () => renameAside(this.ctx, from, to, aside, options));
  }

  /**
   * A fresh name starting with `prefix` for the directory holding `path`, in the same
   * directory object as `path`'s name (see {@linkcode renameAside}).
   *
   * @throws {FsError} EBUSY for the root.
   */
  nameBeside(path: string, prefix: string): Promise<string> {
    return this.run(path, () => nameBeside(this.ctx, path, prefix));
  }

  /**
   * Creates a symlink at `path` that points to `target` (any string; not checked).
   *
   * @throws {FsError} EEXIST when something is at `path`.
   * @throws {FsError} EINVAL for an empty target or one with NUL; ENAMETOOLONG for one
   *   over 4096 bytes.
   */
  symlink(target: string, path: string): Promise<Stat> {
    return this.run(path, () => ns.symlink(this.ctx, target, path));
  }

  /**
   * The target of the symlink at `path`.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} EINVAL when `path` is not a symlink.
   */
  readlink(path: string): Promise<string> {
    return this.run(path, () => ns.readlink(this.ctx, path));
  }

  /**
   * Makes `path` another hard link to the regular file at `existing`.
   *
   * @throws {FsError} ENOENT when nothing is at `existing`.
   * @throws {FsError} EEXIST when something is at `path`.
   * @throws {FsError} EPERM when `existing` is a directory or a symlink.
   */
  link(existing: string, path: string): Promise<Stat> {
    return this.run(path, () => link(this.ctx, existing, path));
  }

  /**
   * Server-side copy: files share their data (no bytes are copied), trees recursively.
   * A symlink at `from` is followed; symlinks inside a tree are copied as symlinks (never
   * what they lead to, which may lie outside the tree, or outside a scoped view's folder).
   * `beforeEach` runs right before each entry is created (a front end re-checks locks).
   *
   * @throws {FsError} ENOENT when nothing is at `from`.
   * @throws {FsError} EEXIST with `noReplace` (or for a tree onto something) when
   *   something is at `to`.
   * @throws {FsError} EISDIR when a file would replace a directory.
   * @throws {FsError} EINVAL when a directory would be copied into itself.
   */
  copy(from: string, to: string, options: ns.CopyOptions = {}): Promise<Stat> {
    return this.run(from, () => ns.copy(this.ctx, from, to, options));
  }

  /**
   * A page of entries with their stats (and extended attributes with `xattrs: true`),
   * in name order; pass the returned `cursor` for the next page (null after the last).
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} ENOTDIR when `path` is not a directory.
   * @throws {FsError} EINVAL for a malformed cursor or limit.
   *
   * `dir` is for {@linkcode removeTree}'s walk alone (see {@linkcode TreeOps}).
   */
  readdir(
    path: string,
    options: { cursor?: string; limit?: number; xattrs?: boolean; dir?: string } = {},
  ): Promise<ReaddirPage> {
    return this.run(path, async () => {
      const page = await readdir(this.ctx, path, options);
      const root = options.dir === undefined
        ? splitPath(path).length === 0
        : options.dir === ROOT_INO;
      if (this.hidden.size === 0 || !root) return page;
      const entries = page.entries.filter((e) => !this.hidden.has(e.name));
      // Names are only ever added to the hidden set: its size versions it.
      const version = page.version && `${page.version}/${this.hidden.size}`;
      return { ...page, entries, ...(version ? { version } : {}) };
    });
  }

  /**
   * Leaves `name` out of every listing of the root, in this view and all its scoped views:
   * a folder the server keeps for itself (the tus staging area). It stays reachable by
   * path; refusing such paths from clients is the front ends' job.
   */
  hide(name: string): void {
    checkName(name, "/" + name);
    this.hidden.add(name);
  }
}
