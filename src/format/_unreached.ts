/**
 * What a directory or inode object that no name reaches is, for fsck (how to report it)
 * and GC (whether it may delete it) alike: one judgement, so the two never disagree.
 *
 * Some are the leftovers of an acknowledged operation cut short, harmless because nothing
 * can reach them again: an rmdir's tombstone whose delete failed (the removal was final, the
 * entry gone: a tombstone is never reopened), an empty directory a rename replaced whose
 * delete failed (closed under the rename's mark), and the inode object a link() wrote for a file
 * that was unlinked before the link could name it (an ino is never named again once no entry
 * holds it). They are garbage, which GC deletes like unreferenced segments.
 *
 * An inode object made for a file that a plain entry still names (a link() whose file was
 * renamed before its swap) is not garbage but not damage either: nothing reads it, and the
 * file's next link() takes it over by CAS. GC must not delete it (that link may be taking it
 * over right then: deleted after its CAS and before its swap, the file would lose its inode),
 * so fsck reports it as a warning, which `fsck --repair` deletes as before.
 *
 * Anything else is an orphan: an object that should be named and is not (fsck's error).
 *
 * @module
 */

import type { MetaStore } from "./cas.ts";
import { checkDir, type DirObject } from "./meta.ts";
import type { Walk } from "./_walk_result.ts";

/** How an unreached object is judged: GC's to delete, harmless, or damage. */
export type Unreached = "garbage" | "unused-inode" | "orphan";

/**
 * Directory object `key`, reached by no name: garbage if it is closed under a removal mark
 * (a tombstone: its rmdir made the removal final and unlinked it; or marked only: a rename
 * replaced it, and the rename happened), and its delete failed; else an orphan. A mark is
 * put only on a directory some entry names, and one that no entry names then is never named
 * again: a rename's target holds the directory it replaced until the rename is known to have
 * happened (`Walk.held`), and only a rollback, while it holds it, names it again.
 */
export async function unreachedDir(meta: MetaStore, key: string): Promise<Unreached> {
  const dir = await meta.read<DirObject>(key, checkDir).catch(() => null);
  const closed = dir?.value.removed || dir?.value.removing !== undefined;
  return closed ? "garbage" : "orphan";
}

/**
 * Inode object of `ino`, reached by no hard link: "unused-inode" while a plain entry (or
 * an entry a rename's target keeps to put back) names the file, which a link() may still
 * promote; garbage once nothing names it.
 */
export function unreachedInode(tree: Walk, ino: string): Unreached {
  return tree.entryInos.has(ino) ? "unused-inode" : "garbage";
}
