/**
 * The write history every CAS-written object carries (`writes`, see docs/format.md), and the
 * resolution of a write whose answer was lost, which that history makes exact.
 *
 * A write's history is a random id for the new version, then the ids of the versions before
 * it, newest first, at most {@linkcode WRITE_HISTORY} in all. A write whose answer was lost
 * (connection dropped, timeout, a 5xx) is resolved by one fresh read: our id in the history
 * means it was applied, however many writes came after it; the version we built on followed
 * by someone else's id means it was not, and the operation runs again (our write, conditional
 * on the version we built on, can no longer land); anything else (the object deleted, or so
 * many writes since that the history no longer reaches back) is an
 * {@linkcode OutcomeUnknownError}, never a second application.
 *
 * The version we built on, unchanged (or, for a create, no object), proves nothing: a write
 * that timed out may still be on its way, and S3 commits a PUT whose body it received even
 * once the client has gone (PAGEFS_S3_TIMEOUT_MS is 20 s). Taken for "not applied", the
 * operation ran again from a read that the late write then overtook, and counted twice
 * (tests/late_write_test.ts). It is {@linkcode UNCHANGED}: the writer sends its version
 * again on the same condition, so that at most one of the two lands, and resolves each
 * attempt by all of their ids.
 *
 * @module
 */

import { readAll } from "../store/_util.ts";
import type { ObjectStore, StoreError } from "../store/types.ts";
import { OutcomeUnknownError, type Versioned } from "./_cas_base.ts";
import { decode } from "./meta.ts";

/** How many write ids an object's history keeps (its own included). */
export const WRITE_HISTORY = 32;
/** Ends a history whose older part is not known (it was built on an unread version). */
const TRUNCATED = "*";
/** The reserved top-level member of every CAS-written object that holds its history. */
export const WRITES = "writes";

/** The read back found the version a lost write built on: send it again (see above). */
export const UNCHANGED = Symbol("unchanged");

/** Times a write is sent while each read back finds it {@linkcode UNCHANGED}. */
export const WRITE_ATTEMPTS = 3;

/** What `MetaStore.write` knows about a write whose answer was lost. */
export interface LostWrite<T> {
  readonly value: T;
  readonly etag: string | null;
  readonly from: Versioned<unknown> | null;
  /** The history of the version sent last. */
  readonly writes: readonly string[] | undefined;
  /** The ids of every attempt of this write whose outcome is open (`writes[0]` among them). */
  readonly ours: readonly string[];
  readonly size: number;
  /** Length of the JSON the write's bytes decode to. */
  readonly decoded: number;
  /** The longest JSON the object read back may decode to. */
  readonly decodeBytes: number;
  readonly error: StoreError;
  /** Takes our version when the read back finds it current. */
  readonly remember: (versioned: Versioned<T>) => void;
}

/**
 * Decides whether a write whose answer was lost was applied, from one fresh read of
 * `store`; `lost.remember` is given our version when it is the current one.
 * @returns our version when it was applied, null when it was not and never will be (safe
 * to run again), {@linkcode UNCHANGED} when the read back cannot tell (send it again).
 */
export async function resolveLostWrite<T>(
  store: ObjectStore,
  key: string,
  lost: LostWrite<T>,
): Promise<Versioned<T> | null | typeof UNCHANGED> {
  const { value, etag, from, writes, ours, size, decoded, error } = lost;
  const unknown = (why: string) => new OutcomeUnknownError(key, why, error);
  const result = await store.get(key).catch((cause) => {
    throw unknown(`it could not be read back (${(cause as Error)?.message ?? cause})`);
  });
  if (result !== null && result.status !== "ok") throw unknown("it could not be read back");
  if (result === null) {
    // A create that is not there was not applied yet: nothing deletes an object before the
    // operation that created it has named it somewhere, which ours has not yet done.
    if (etag === null) return writes ? UNCHANGED : null;
    throw unknown("the object was deleted since");
  }
  // A body that fails half way (since session 15 a stalled one does, see `S3Fetch.bounded`)
  // leaves the outcome as open as the write's lost answer: never a plain error, which a
  // caller would take for "not applied" and undo what the write may have named.
  const bytes = await readAll(result.body).catch((cause) => {
    throw unknown(`it could not be read back (${(cause as Error)?.message ?? cause})`);
  });
  // Unchanged: our write (whose id makes its bytes differ) did not happen, yet.
  if (etag !== null && result.info.etag === etag) return writes ? UNCHANGED : null;
  if (!writes) throw unknown("the object carries no write history");
  const now = historyOf(decode<unknown>(key, bytes, () => null, lost.decodeBytes));
  const at = Math.min(...ours.map((id) => now.indexOf(id)).filter((i) => i >= 0));
  if (at === 0) {
    // Ours, as this attempt or an earlier one sent it (the same value, another id).
    const versioned = { value, etag: result.info.etag, size, decoded, writes: now };
    lost.remember(versioned);
    return versioned;
  }
  // Applied, and changed again since: our version is no longer the current one.
  if (Number.isFinite(at)) return { value, etag: "", size, decoded, writes };
  if (etag === null) {
    // A create: the history runs back to the object's first write, which was not ours.
    if (now.length < WRITE_HISTORY && now.at(-1) !== TRUNCATED) return null;
    throw unknown(`more than ${WRITE_HISTORY - 1} writes since`);
  }
  // The version after the one we built on is someone else's: ours lost the race.
  const baseId = from?.writes?.[0];
  if (baseId !== undefined && now.indexOf(baseId) > 0) return null;
  throw unknown(
    baseId === undefined
      ? "the version it replaced carries no write history"
      : `more than ${WRITE_HISTORY - 1} writes since, or the object was replaced`,
  );
}

/** Only JSON objects carry a write history (every metadata object is one). */
export function stampable(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The history of a new version built on `from` (null: on nothing, or on an unread one). */
export function nextWrites(from: Versioned<unknown> | null, create: boolean): string[] {
  const before = from?.writes ?? (create ? [] : [TRUNCATED]);
  return [writeId(), ...before].slice(0, WRITE_HISTORY);
}

/** 48 random bits: a collision among one object's 32 recent writes is out of reach. */
function writeId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function historyOf(value: unknown): readonly string[] {
  const writes = stampable(value) ? value[WRITES] : undefined;
  return Array.isArray(writes) && writes.every((w) => typeof w === "string") ? writes : [];
}

/** Splits a decoded object into the value its users see and its write history. */
export function unstamp<T>(
  decoded: T,
  etag: string,
  sizes: { size: number; decoded: number },
): Versioned<T> {
  const { size, decoded: json } = sizes;
  if (!stampable(decoded) || !(WRITES in decoded)) {
    return { value: decoded, etag, size, decoded: json };
  }
  const writes = historyOf(decoded);
  const { [WRITES]: _, ...value } = decoded;
  return { value: value as T, etag, size, decoded: json, writes };
}
