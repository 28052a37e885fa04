/**
 * Unlink marks on the bucket (docs/format.md, "Removing one of two hard links"): which mark
 * an entry carries for its name, and the one write that clears a mark. The protocol that
 * puts and judges them is the VFS's (src/vfs/unlink_marks.ts); this is what it shares with
 * fsck, which clears the marks of removers that died with the same CAS the VFS uses to
 * clear a mark it took for dead, so that a repair leaves what a running instance would.
 *
 * @module
 */

import type { Directories } from "./dir.ts";
import type { Entry, UnlinkMark } from "./meta.ts";

/**
 * The mark on `entry`, the entry `name` of directory `dir`, if it was put there: one that
 * rode along with a renamed entry (written before renames dropped marks) names another
 * place and is no mark of this name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { markOf } from "./unlink_mark.ts";
 * const mark = { id: "0000000000aa-00000000000000000000", dir: "d1", name: "a" };
 * const entry = { t: "h" as const, ino: "0000000000ab-00000000000000000000", unlinking: mark };
 * assert(markOf(entry, "d1", "a") === mark && markOf(entry, "d2", "a") === null);
 * ```
 */
export function markOf(
  entry: Entry | null | undefined,
  dir: string,
  name: string,
): UnlinkMark | null {
  const mark = entry?.unlinking;
  if (typeof mark !== "object" || mark === null || typeof mark.id !== "string") return null;
  return mark.dir === dir && mark.name === name ? mark : null;
}

/** `entry` without its unlink mark (the entry itself when it has none). */
export function withoutMark(entry: Entry): Entry {
  if (entry.unlinking === undefined) return entry;
  const { unlinking: _, ...rest } = entry;
  return rest as Entry;
}

/**
 * Clears mark `id` from entry `name` of directory `dir`, if it is still there: a remover
 * taking its own mark back, stopping another's, or fsck clearing a dead remover's. Once
 * cleared, that remover cannot remove the name (its removal checks for its mark) and
 * decides again. Not on an entry a rename is moving (its intent carries the entry as it
 * was; settled, the mark is inert where the entry lands, or cleared by whoever sees it stay).
 * @returns whether the entry no longer carries the mark (cleared now, or gone before).
 */
export async function clearMark(
  dirs: Directories,
  at: { dir: string; name: string; id: string },
): Promise<boolean> {
  const { dir, name, id } = at;
  return await dirs.update(dir, [name], (draft) => {
    const current = draft.get(name);
    if (markOf(current, dir, name)?.id !== id) return true;
    if (current!.moving) return false;
    draft.set(name, withoutMark(current!));
    return true;
  }, { touch: false });
}
