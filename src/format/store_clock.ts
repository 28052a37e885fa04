/**
 * The store's clock: the one clock every host serving a bucket can agree on, when their own
 * may be minutes or hours apart (docs/format.md, "Clocks").
 *
 * The maintenance runs that judge age read it once per run ({@linkcode storeNow}): GC
 * ("unreferenced for a grace period since GC first saw it") and fsck's repairs. A GC run on
 * a host an hour ahead, after one on a host with the right time, would otherwise find an
 * object first seen a minute ago due, and delete the segment of an upload still on its way.
 * Instances serving requests learn it from the answers they get anyway
 * ({@linkcode StoreClock}, kept by each `MetaStore`): WebDAV locks, share links and sessions
 * expire by it.
 *
 * @module
 */

import type { ObjectStore } from "../store/types.ts";
import { GC_CLOCK_KEY } from "./keys.ts";

/**
 * Now on the store's clock (ms since the epoch): writes the empty object `gc-clock` and
 * reads back the time the store stamped on it. S3 gives whole seconds, so the reading is
 * never ahead of the store's time. Costs one PUT and one HEAD.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "../store/memory.ts";
 * import { storeNow } from "./store_clock.ts";
 * const now = await storeNow(new MemoryStore());
 * assert(Math.abs(now - Date.now()) < 1000);
 * ```
 */
export async function storeNow(store: ObjectStore): Promise<number> {
  await store.put(GC_CLOCK_KEY, new Uint8Array(0));
  const info = await store.head(GC_CLOCK_KEY);
  // Only another run's write can come between: its stamp is as good as ours.
  if (info === null) throw new Error(`The store lost "${GC_CLOCK_KEY}" right after it was written`);
  return info.lastModified.getTime();
}

/**
 * The store's clock as one instance learns it from the answers it receives anyway: each
 * answer that carries the store's time (`date`: S3's `Date` header, whole seconds) bounds
 * the offset between it and the host's clock. Every instance serving a bucket thus judges
 * time that several of them read (lock expiry) by one clock, the store's, whatever its
 * host's clock says, at no request of its own.
 *
 * An answer sent at `sent` and received at `received` (host's clock) was stamped at some
 * store time in `[date, date + 1 s)` while the host read between the two, so the offset
 * lies in `[date - received, date + 1 s - sent]`. Answers whose ranges overlap narrow it to
 * their intersection (stamped at different fractions of a second, a few answers bring it
 * down to about the answers' travel time); one that does not overlap (the host's clock was
 * stepped, or drifted) starts it afresh. {@linkcode now} takes the low end (never ahead of
 * the store: a deadline is never judged passed early), {@linkcode latest} the high end
 * (never behind it: a deadline set from it lasts at least what it was set for). Until an
 * answer has carried a date (memory and local stores keep the host's time) both are the
 * host's clock.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StoreClock } from "./store_clock.ts";
 * let host = 100_000; // this host runs about 90 s ahead of the store
 * const clock = new StoreClock(() => host);
 * clock.observe(10_000, { sent: host - 20, received: host });
 * host += 500;
 * assert(clock.now() === 10_500 && clock.latest() === 11_520);
 * ```
 */
export class StoreClock {
  readonly #host: () => number;
  #low = 0;
  #high = 0;
  #known = false;

  /** `host`: this instance's clock (ms since the epoch). */
  constructor(host: () => number) {
    this.#host = host;
  }

  /**
   * Learns from an answer's `date` (undefined: nothing to learn), on the host's clock the
   * request was sent at `sent` and its answer received at `received` (default: now).
   */
  observe(date: number | undefined, at: { sent: number; received?: number }): void {
    if (date === undefined || !Number.isFinite(date)) return;
    const low = date - (at.received ?? this.#host());
    const high = date + 1000 - at.sent;
    if (this.#known && low <= this.#high && high >= this.#low) {
      this.#low = Math.max(this.#low, low);
      this.#high = Math.min(this.#high, high);
    } else {
      this.#low = low;
      this.#high = high;
      this.#known = true;
    }
  }

  /** The host's clock now, uncorrected (what `observe` wants as `sent`). */
  host(): number {
    return this.#host();
  }

  /** Now on the store's clock at the earliest (ms since the epoch): never ahead of it. */
  now(): number {
    return this.#host() + this.#low;
  }

  /** Now on the store's clock at the latest: never behind it. */
  latest(): number {
    return this.#host() + this.#high;
  }
}
