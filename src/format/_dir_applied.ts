/**
 * Records of renames applied on their renamers' behalf (`applied` in a directory or shard
 * object, see docs/format.md, "Consistency", 3): whoever removes a rename's source entry
 * for another's intent (an instance that met the intent, `fsck --repair`) notes the
 * intent's id in the same CAS, in the object that held the entry. The renamer, finding its
 * source entry gone, reads its record there: present, the rename happened (whatever became
 * of its target since); absent, it was rolled back (or settled by an instance from before
 * the records: then it judges as before, by the target). It drops the record in the CAS of
 * that read, so a record lasts only while its renamer may still be looking.
 *
 * A renamer that died never reads its record: any writer of the object drops records older
 * than {@linkcode APPLIED_RECORD_MS} by the store's clock (the record's time is the store's
 * at the latest, judged by it at the earliest: never dropped early, whatever the hosts'
 * clocks say). Records follow their names when an object splits into shards.
 *
 * @module
 */

import { isObject } from "./meta_check.ts";
import type { AppliedRecord } from "./meta_types.ts";

export type { AppliedRecord } from "./meta_types.ts";

/**
 * How long a record is kept for its renamer: 10 minutes on the store's clock. The renamer
 * reads its record in its first request after the one it stalled in, while its rename
 * request is still under way. Each of those requests is bounded by the S3 timeout that
 * `src/deadlines.ts` keeps (`PAGEFS_S3_TIMEOUT_MS`, default 20 s since session 19, plus a
 * tick), repeated by the retry wrapper only while the call has run for less than that: about
 * 40 s for one store call that keeps failing (5 min before session 19, which this bound was
 * chosen: twice that). It covers the stalled call and the few between it and the look (a
 * pointer write, the source's read) with room to spare. It is fsck's grace for rename
 * intents (`DEFAULT_GRACE_MS`) too: an intent that old is taken for one whose renamer died,
 * and its record then lasts as long again. A renamer stalled longer (a process frozen, not
 * a slow store) finds no record and judges as before the records: by its target.
 */
export const APPLIED_RECORD_MS = 10 * 60 * 1000;

/** The member of a directory or shard object that holds the records. */
export const APPLIED = "applied";

/** The well-formed records of a directory or shard object (others are ignored). */
export function appliedOf(holder: object): AppliedRecord[] {
  const records = (holder as Record<string, unknown>)[APPLIED];
  if (!Array.isArray(records)) return [];
  return records.filter((r): r is AppliedRecord =>
    isObject(r) && typeof r.id === "string" && typeof r.name === "string" &&
    typeof r.at === "number" && Number.isFinite(r.at)
  );
}

/** Sets the records of draft `holder` (a copy: the version read is never changed). */
export function setApplied(holder: object, records: readonly AppliedRecord[]): void {
  const draft = holder as Record<string, unknown>;
  if (records.length > 0) draft[APPLIED] = [...records];
  else delete draft[APPLIED];
}

/** Whether record `r` is past its bound at `now` (the store's clock at the earliest). */
export function aged(r: AppliedRecord, now: number): boolean {
  return now - r.at >= APPLIED_RECORD_MS;
}

/**
 * Drops the aged (and malformed) records of draft `holder`, which a change is about to
 * write anyway; nothing if it holds none.
 */
export function pruneApplied(holder: object, now: number): void {
  if (!(APPLIED in holder)) return;
  const all = appliedOf(holder);
  const kept = all.filter((r) => !aged(r, now));
  if (kept.length !== all.length || !Array.isArray((holder as Record<string, unknown>)[APPLIED])) {
    setApplied(holder, kept);
  }
}
