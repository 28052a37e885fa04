/**
 * The proofs of removals of hard links' names (`released` in a directory or shard object,
 * see `release.ts` and docs/format.md, "A release cut short"): the CAS that removes a name
 * of a hard-linked file notes its intent's id in the object that held the name, so that
 * whoever meets the intent on the inode can tell a removal that happened from one that has
 * not (or never will). Records follow their names when an object splits into shards, as
 * the `applied` records of renames do (`_dir_applied.ts`), and have no age: each goes with
 * its removal's clean-up, or once its intent is gone (anyone may drop it then; fsck does).
 *
 * @module
 */

import { isObject } from "./meta_check.ts";
import type { ReleasedRecord } from "./meta_types.ts";

export type { ReleasedRecord } from "./meta_types.ts";

/** The member of a directory or shard object that holds the records. */
export const RELEASED = "released";

/** The well-formed records of a directory or shard object (others are ignored). */
export function releasedOf(holder: object): ReleasedRecord[] {
  const records = (holder as Record<string, unknown>)[RELEASED];
  if (!Array.isArray(records)) return [];
  return records.filter((r): r is ReleasedRecord =>
    isObject(r) && typeof r.id === "string" && typeof r.ino === "string" &&
    typeof r.name === "string"
  );
}

/** Sets the records of draft `holder` (a copy: the version read is never changed). */
export function setReleased(holder: object, records: readonly ReleasedRecord[]): void {
  const draft = holder as Record<string, unknown>;
  if (records.length > 0) draft[RELEASED] = [...records];
  else delete draft[RELEASED];
}
