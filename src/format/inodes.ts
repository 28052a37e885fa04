/**
 * The typed store of inode objects (`i/<ino>`): the record of a hard-linked file, which
 * several directory entries name. Only this module builds their keys; every change is a
 * CAS through the {@linkcode MetaStore}.
 *
 * @module
 */

import type { Decision, GroupStep, MetaStore, Versioned } from "./cas.ts";
import { inodeKey } from "./keys.ts";
import { checkInode, type InodeObject } from "./meta.ts";

/** Inode objects, read and changed by compare-and-swap. */
export class Inodes {
  readonly #meta: MetaStore;

  constructor(meta: MetaStore) {
    this.#meta = meta;
  }

  /** The inode `ino` with its version, or `null` when there is none. */
  get(ino: string): Promise<Versioned<InodeObject> | null> {
    return this.#meta.read<InodeObject>(inodeKey(ino), checkInode);
  }

  /**
   * Writes `inode` if its object is still at version `base` (`null`: only if it does not
   * exist). Returns the new version, or `null` when another write got there first.
   */
  put(
    inode: InodeObject,
    base: Versioned<InodeObject> | null,
  ): Promise<Versioned<InodeObject> | null> {
    return this.#meta.write(inodeKey(inode.ino), inode, base);
  }

  /** The CAS loop on inode `ino` (see {@linkcode MetaStore.update}). */
  update<R>(
    ino: string,
    mutate: (
      current: Versioned<InodeObject> | null,
    ) => Decision<InodeObject, R> | Promise<Decision<InodeObject, R>>,
  ): Promise<R> {
    return this.#meta.update(inodeKey(ino), checkInode, mutate);
  }

  /** A group-committed change of inode `ino` (see {@linkcode MetaStore.updateGrouped}). */
  updateGrouped<R>(
    ino: string,
    op: (draft: InodeObject | null) => GroupStep<InodeObject, R>,
  ): Promise<R> {
    return this.#meta.updateGrouped(inodeKey(ino), checkInode, op);
  }

  /**
   * Counts one link of inode `ino` off (its `ctime` set to `now`), deleting the object with
   * its last: by CAS to zero first, then the delete, since a plain delete could remove a
   * link that a concurrent link() counted in meanwhile. Nothing when it is gone already.
   */
  async release(ino: string, now: number): Promise<void> {
    const last = await this.update<boolean>(ino, (inode) => {
      if (!inode) return { result: false };
      // A link() under way may have added its name, not counted yet: the object stays
      // (see `release.ts`, `beginLink`).
      const linking = ((inode.value as { links?: unknown[] }).links?.length ?? 0) > 0;
      if (inode.value.nlink === 0) return { result: !linking };
      inode.value.nlink--;
      inode.value.attr.ctime = now;
      return { write: inode.value, result: inode.value.nlink === 0 && !linking };
    });
    if (last) await this.remove(ino);
  }

  /**
   * Deletes inode `ino`. Not conditional: only for an inode a CAS has already made dead
   * (`nlink` counted down to 0), which nothing links again.
   */
  remove(ino: string): Promise<void> {
    return this.#meta.remove(inodeKey(ino));
  }
}
