/**
 * What a rename releases once it happened (the rename-intent protocol, `rename_intent.ts`):
 * the entry its target replaced, counted off by whoever's CAS removed the source entry. A
 * replaced hard link goes under a release intent (`Moving.release`) whose proof that CAS
 * notes in the source's object (docs/format.md, "A rename, copy or swap over a hard link").
 *
 * @module
 */

import type { EntryDraft } from "./_dir_entries.ts";
import type { Entry, Moving } from "./meta.ts";
import { finishRelease, type Release, removeDirObject } from "./release.ts";
import type { RenameStores } from "./_rename_walk.ts";

/**
 * Releases what a rename's target replaced (the entry its mark carries), once the rename
 * happened: one link of a hard-linked file, or a replaced (marked, empty) directory's
 * object. Called only by whoever's CAS removed the source entry, the one write that makes
 * the rename happen, so exactly once whoever that is: the renamer, or another instance
 * settling its intent. Before, only the renamer released, once it knew the rename had
 * happened; a renamer whose intent others had settled, and whose target was then removed,
 * could not tell that from a rollback and released nothing: the link count stayed one too
 * high (seed 104333 of tests/vfs_links_sched_test.ts). A plain file's data is left to GC.
 */
export async function releaseReplaced(
  ctx: RenameStores,
  replaced: Entry | undefined,
  release: Release | null,
): Promise<void> {
  // The rename has happened: a failure here must not make its renamer (or whoever settled
  // it on the way to its own operation) answer an error (before: EAGAIN for a rename that
  // had taken effect). What is left is what a crash here leaves: a replaced directory's
  // object that nothing names (garbage that GC deletes, src/format/_unreached.ts), or a
  // hard link's release intent with its proof, which the next removal of any name of the
  // file counts off (an intent from before session 20 has none: the count then stays one
  // too high, which fsck reports and --repair sets).
  try {
    if (release) await finishRelease(ctx, release);
    else await releaseEntry(ctx, replaced ?? null);
  } catch {
    // See above.
  }
}

/**
 * The release of the hard link a rename replaced, which the CAS removing the rename's
 * source proves (docs/format.md, "A release cut short"): under the rename's id, at the
 * source's name, on the replaced inode, where the renamer put its intent before its target
 * write (`Moving.release`). Null when nothing hard-linked was replaced, or the intent is
 * from before session 20 (no release intent: counted off by `releaseEntry` as before).
 */
export function replacedRelease(
  moving: Moving,
  replaced: Entry | undefined,
  srcDir: string,
  name: string,
): Release | null {
  if (moving.release !== true || replaced?.t !== "h") return null;
  return { ino: replaced.ino, dir: srcDir, name, id: moving.id };
}

/** Notes `release`'s proof in the source's object, in the CAS that removes the source. */
export function noteRelease(draft: EntryDraft, release: Release | null): void {
  if (release) draft.noteReleased(release.id, release.ino, release.name);
}

/**
 * Releases what an entry that was just unlinked or replaced held: the object of a
 * (marked, empty) directory, or one link of a hard-linked inode. File data is left to GC.
 */
export async function releaseEntry(
  stores: Pick<RenameStores, "dirs" | "inodes" | "now">,
  entry: Entry | null,
): Promise<void> {
  if (entry?.t === "d") {
    const dir = await stores.dirs.get(entry.ino);
    // Its proofs of removals of hard links' names go with it: counted off first.
    const { dirs, inodes } = stores;
    if (dir) {
      await removeDirObject({ meta: dirs.meta, dirs, inodes, now: () => stores.now() }, dir.value);
    }
  } else if (entry?.t === "h") {
    await stores.inodes.release(entry.ino, stores.now());
  }
}
