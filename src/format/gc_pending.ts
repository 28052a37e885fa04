/**
 * GC's pending set: the one owner of "unreferenced since", by which GC decides what it
 * may delete (see `docs/format.md`, "Garbage collection").
 *
 * A segment's id carries the time its writer *began* it, on the writer's clock: a slow
 * upload, a COPY that names an old segment again, or a reader still streaming bytes that
 * compaction moved elsewhere all meet an "old" segment that is, or is about to be, in
 * use. So GC judges nothing by ids. Each run records, in the object `gc-pending` (CAS),
 * when it *first* found each object unreferenced, on GC's own clock; an object becomes
 * due only when a later run still finds it unreferenced a full grace period after that
 * first sighting. One clock judges, so skew between instances does not matter; nothing
 * is ever deleted in the run that first saw it unreferenced (what compaction has just
 * released included).
 *
 * Before deleting, the run names the due objects in the same CAS (`doomed`). A writer
 * that is about to commit a reference to an object it did not just write, or whose
 * commit comes long after its upload, calls {@linkcode claim}: it takes the objects out
 * of the pending set by CAS, or learns that they are doomed and must not be named.
 *
 * @module
 */

import type { Check, MetaStore } from "./cas.ts";
import { GC_PENDING_KEY, mapKey, xattrKey } from "./keys.ts";
import { locateSegment } from "./segments.ts";

/** The object `gc-pending`. */
export interface PendingObject {
  v: 1;
  /** Key -> the time (ms, GC's clock) GC first found the object unreferenced. */
  since: Record<string, number>;
  /** Keys the last run found due and deletes (or deleted). */
  doomed: string[];
  /** Incomplete multipart upload id -> when GC first saw it (ms, GC's clock). */
  uploads?: Record<string, number>;
}

/** Validates a decoded pending set. */
export const checkPending: Check = (v) => {
  if (typeof v !== "object" || v === null) return "not a pending set";
  const o = v as Record<string, unknown>;
  if (o.v !== 1 || typeof o.since !== "object" || o.since === null) return "not a v1 pending set";
  if (!Object.values(o.since).every((t) => Number.isSafeInteger(t))) return "bad time";
  if (!Array.isArray(o.doomed) || !o.doomed.every((k) => typeof k === "string")) {
    return "bad doomed list";
  }
  if (o.uploads !== undefined && (typeof o.uploads !== "object" || o.uploads === null)) {
    return "bad uploads";
  }
  return null;
};

/** What one GC run decided about the unreferenced objects it found. */
export interface PendingDecision {
  /** Unreferenced a full grace since GC first saw them: delete these. */
  readonly due: string[];
  /** Seen unreferenced for the first time by this run (recorded now). */
  readonly recorded: number;
  /** Seen before, not yet a grace ago. */
  readonly waiting: number;
  /** Incomplete multipart uploads seen for `uploadGraceMs`: abort these. */
  readonly staleUploads: string[];
}

/**
 * Records this run's unreferenced objects and returns those now due, in one CAS of the
 * pending set (none with `dryRun`: then it only says what would be due). Objects that
 * are referenced again, or gone, leave the set.
 */
export async function recordRun(
  meta: MetaStore,
  unreferenced: readonly string[],
  options: {
    now: number;
    graceMs: number;
    dryRun?: boolean;
    /** Ids of the incomplete multipart uploads listed by this run. */
    uploads?: readonly string[];
    /** How long GC must have seen an upload before it is aborted. */
    uploadGraceMs?: number;
  },
): Promise<PendingDecision> {
  const { now, graceMs } = options;
  return await meta.update<PendingObject, PendingDecision>(
    GC_PENDING_KEY,
    checkPending,
    (current) => {
      const before = current?.value.since ?? {};
      const since: Record<string, number> = {};
      const due: string[] = [];
      let recorded = 0;
      let waiting = 0;
      for (const key of unreferenced) {
        const first = before[key];
        if (first === undefined) {
          since[key] = now;
          recorded++;
        } else {
          since[key] = first;
          if (now - first >= graceMs) due.push(key);
          else waiting++;
        }
      }
      const seenUploads = current?.value.uploads ?? {};
      const uploads: Record<string, number> = {};
      const staleUploads: string[] = [];
      for (const id of options.uploads ?? []) {
        const first = seenUploads[id] ?? now;
        uploads[id] = first;
        if (now - first >= (options.uploadGraceMs ?? Infinity)) staleUploads.push(id);
      }
      const decision = { due, recorded, waiting, staleUploads };
      if (options.dryRun) return { result: decision };
      return { write: { v: 1, since, doomed: due, uploads }, result: decision };
    },
  );
}

/**
 * Takes `keys` out of GC's pending set before a commit names them; false (and nothing
 * changed) if GC has doomed any of them: the commit must not name those objects. Costs a
 * conditional GET of `gc-pending`, and a CAS only when one of the keys is pending.
 */
export async function claim(meta: MetaStore, keys: readonly string[]): Promise<boolean> {
  return await meta.update<PendingObject, boolean>(GC_PENDING_KEY, checkPending, (current) => {
    if (!current) return { result: true };
    const pending = current.value;
    if (keys.some((k) => pending.doomed.includes(k))) return { result: false };
    const present = keys.filter((k) => k in pending.since);
    if (present.length === 0) return { result: true };
    for (const key of present) delete pending.since[key];
    return { write: pending, result: true };
  });
}

/**
 * {@linkcode claim} for the data a late commit is about to name: segments (by reference),
 * spilled page maps and spilled xattr values (by id). A commit that took longer than GC's grace may find them
 * deleted already (GC doomed them, or doomed and deleted them and moved on): so once
 * claimed, each is also looked for. False if any is doomed or gone: the commit must not
 * name it. Costs the claim and one HEAD per object; only late commits pay it.
 */
export async function claimData(
  meta: MetaStore,
  data: {
    readonly segments: readonly string[];
    readonly maps: readonly string[];
    /** Ids of spilled xattr values (`x/<id>`). */
    readonly xattrs?: readonly string[];
  },
): Promise<boolean> {
  const keys = [
    ...data.segments.flatMap((ref) => {
      const loc = locateSegment(ref);
      return loc ? [loc.key] : [];
    }),
    ...data.maps.map(mapKey),
    ...(data.xattrs ?? []).map(xattrKey),
  ];
  if (keys.length === 0) return true;
  if (!await claim(meta, keys)) return false;
  const found = await Promise.all(keys.map((key) => meta.store.head(key)));
  return found.every((info) => info !== null);
}
