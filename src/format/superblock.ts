/**
 * The superblock: the marker that a bucket (or prefix) holds a PageFS of a given format
 * version. An empty bucket is formatted on first open; anything else is refused.
 *
 * @module
 */

import type { MetaStore } from "./cas.ts";
import { newDirObject } from "./dir.ts";
import { dirKey, newId, ROOT_INO, SUPERBLOCK_KEY } from "./keys.ts";
import {
  type Attr,
  checkSuperblock,
  READABLE_VERSIONS,
  S_IFDIR,
  type Superblock,
  SUPERBLOCK_VERSION,
} from "./meta.ts";

/** Sends of the root directory's object before formatting gives up (see `openFormat`). */
const ROOT_CREATE_ATTEMPTS = 3;

/** The bucket holds something PageFS will not open. */
export class FormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "FormatError";
  }
}

/** Refuses a superblock of a format version this PageFS does not read. */
function readable(superblock: Superblock): void {
  if (READABLE_VERSIONS.includes(superblock.version)) return;
  throw new FormatError(
    `The bucket holds PageFS format version ${superblock.version}; this PageFS reads versions ${
      READABLE_VERSIONS.join(" and ")
    }`,
  );
}

/**
 * Opens the filesystem in `meta`'s store: formats an empty store, checks an existing one.
 * @throws {FormatError} for another format version, or a non-empty store without a superblock.
 */
export async function openFormat(meta: MetaStore, now = Date.now()): Promise<Superblock> {
  let found = await meta.read<Superblock>(SUPERBLOCK_KEY, checkSuperblock);
  if (!found) {
    const any = await meta.store.list({ limit: 1 });
    const empty = any.objects.length === 0 && any.prefixes.length === 0;
    // Another instance may be formatting at this very moment: what we listed may be its
    // superblock (or root), written after our read. Only a store that still has no
    // superblock after the listing is foreign.
    if (!empty) found = await meta.read<Superblock>(SUPERBLOCK_KEY, checkSuperblock);
    if (!found && !empty) {
      throw new FormatError(
        `The bucket (or prefix) is not empty and holds no PageFS superblock; refusing to format it (found "${
          any.objects[0]?.key ?? any.prefixes[0]
        }")`,
      );
    }
  }
  if (!found) {
    const superblock: Superblock = {
      magic: "pagefs",
      version: SUPERBLOCK_VERSION,
      pageSize: 4096,
      created: now,
      id: newId(now),
    };
    // Create-only: of two instances formatting at once, one wins and both use its result.
    found = await meta.write(SUPERBLOCK_KEY, superblock, null) ??
      await meta.read<Superblock>(SUPERBLOCK_KEY, checkSuperblock);
    if (!found) throw new FormatError("The superblock vanished while formatting");
  }
  readable(found.value);
  // Version 1: raised to 2 before anything may spill xattrs, so that an instance from
  // before (which reads version 1 only) no longer opens the bucket (docs/format.md,
  // "Spilled xattrs"). By CAS: of two instances raising it, one wins; the other re-reads.
  for (let attempt = 0; found.value.version < SUPERBLOCK_VERSION; attempt++) {
    if (attempt === ROOT_CREATE_ATTEMPTS) {
      throw new FormatError("The superblock's format version could not be raised");
    }
    found =
      await meta.write(SUPERBLOCK_KEY, { ...found.value, version: SUPERBLOCK_VERSION }, found) ??
        await meta.read<Superblock>(SUPERBLOCK_KEY, checkSuperblock);
    if (!found) throw new FormatError("The superblock vanished while raising its version");
    // Read again after a raise that lost its condition: a newer instance may have raised
    // it past what this one reads (before, the loop ended there and the bucket was opened).
    readable(found.value);
  }
  const superblock = found.value;
  // The root directory follows the superblock: a crash in between is repaired here. A
  // create whose lost answer was resolved as not applied comes back null, as one another
  // instance beat: sent again while the object is absent. Before, this instance went on
  // without a root object, every operation on the tree failing until a restart.
  for (let attempt = 0; !await meta.store.head(dirKey(ROOT_INO)); attempt++) {
    if (attempt === ROOT_CREATE_ATTEMPTS) {
      throw new FormatError("The root directory's object could not be created");
    }
    const attr: Attr = {
      mode: S_IFDIR | 0o755,
      uid: 0,
      gid: 0,
      size: 0,
      atime: now,
      mtime: now,
      ctime: now,
      btime: now,
    };
    await meta.write(dirKey(ROOT_INO), newDirObject(ROOT_INO, ROOT_INO, attr), null);
  }
  return superblock;
}
