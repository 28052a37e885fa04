// Test helper: a seeded scheduler for store calls. Every call of every store wrapped with
// one scheduler is held twice, before it reaches the store and before its answer reaches
// the caller, and the scheduler lets the held calls go one at a time in an order drawn
// from its seed. So the instances sharing it interleave their requests in many orders,
// reproducibly for one seed (as long as the code under test sleeps on no timer of its
// own; backoff pauses still add some wall-clock variation).

import { type StoreMethod, WrappedStore } from "../src/store/_wrapper.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Rng } from "./_model.ts";

/** Microtask turns the scheduler lets pass after each release, so the caller goes on. */
const SETTLE_TURNS = 30;

export class Scheduler {
  #rng: Rng;
  #held: (() => void)[] = [];
  #running = false;
  /** Calls let go so far (both holds count). */
  steps = 0;

  constructor(seed: number) {
    this.#rng = new Rng(seed);
  }

  /** Waits until the scheduler picks this call. */
  hold(): Promise<void> {
    return new Promise((resolve) => {
      this.#held.push(resolve);
      if (!this.#running) this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    try {
      for (;;) {
        // Let every caller that is about to make a call make it before choosing.
        for (let i = 0; i < SETTLE_TURNS; i++) await Promise.resolve();
        if (this.#held.length === 0) return;
        const [next] = this.#held.splice(this.#rng.int(this.#held.length), 1);
        this.steps++;
        next!();
      }
    } finally {
      this.#running = false;
    }
  }
}

/** A store whose calls go when `scheduler` says (see the top of this file). */
export class ScheduledStore extends WrappedStore {
  readonly #scheduler: Scheduler;

  constructor(inner: ObjectStore, scheduler: Scheduler) {
    super(inner);
    this.#scheduler = scheduler;
  }

  protected override async call<T>(
    _method: StoreMethod,
    _detail: { key?: string; mutating: boolean },
    run: () => Promise<T>,
  ): Promise<T> {
    await this.#scheduler.hold();
    try {
      return await run();
    } finally {
      await this.#scheduler.hold();
    }
  }
}
