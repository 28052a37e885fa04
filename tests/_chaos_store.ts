// A deterministic simulation for the chaos harness (tests/_chaos.ts): virtual time, seeded
// randomness, and a scheduler that decides in which order concurrent store calls run.
//
// While a simulation runs, the process's timers, `Date.now`, `Math.random` and
// `crypto.getRandomValues` are the simulation's: every delay (CAS backoff, retry sleep,
// a stalled request, a slow client's body) is virtual time, and every random choice
// (object ids, jitter) comes from the seed. Each store call waits at a gate; the scheduler
// lets all runnable work settle (microtasks), then releases one waiting call, chosen by
// the seeded PRNG. The same seed therefore gives the same interleaving, the same faults
// and the same answers, on the memory store. On S3 the gates are open and time is real:
// the run is not reproducible there, only checked.

import { type StoreMethod, WrappedStore } from "../src/store/_wrapper.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Rng } from "./_model.ts";

/** A fixed start time, so that object ids (which carry their creation time) reproduce. */
const EPOCH = Date.UTC(2030, 0, 1);
/** Microtask turns the scheduler waits for runnable work to reach its next gate. */
const SETTLE_TURNS = 64;

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

/** Virtual time, seeded randomness and a seeded scheduler of store calls. */
export class Sim {
  readonly rng: Rng;
  /** Whether gates and virtual time are in force (false on S3: real time, real races). */
  readonly deterministic: boolean;
  /** Virtual milliseconds since {@linkcode EPOCH}. */
  elapsed = 0;
  /** Store calls released so far. */
  steps = 0;
  #waiting: { resolve: () => void }[] = [];
  #timers: Timer[] = [];
  #nextTimer = 1;

  constructor(seed: number, options: { deterministic?: boolean } = {}) {
    this.rng = new Rng(seed ^ 0x5bd1e995);
    this.deterministic = options.deterministic ?? true;
  }

  /** The simulation's current time (ms since the epoch). */
  now(): number {
    return this.deterministic ? EPOCH + this.elapsed : Date.now();
  }

  /** Waits until the scheduler lets the caller go on (at once when not deterministic). */
  gate(): Promise<void> {
    if (!this.deterministic) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push({ resolve }));
  }

  /** Waits `ms` of the simulation's time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /**
   * Runs `work` to its end under the simulation: installs the virtual clock, timers and
   * randomness, drives the scheduler, and restores the real ones afterwards.
   */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (!this.deterministic) return await work();
    const restore = this.#install();
    let settled = false;
    let idle = 0;
    try {
      const promise = work();
      promise.then(() => settled = true, () => settled = true);
      while (!settled) {
        for (let i = 0; i < SETTLE_TURNS; i++) await null;
        if (this.#waiting.length > 0) {
          idle = 0;
          const [next] = this.#waiting.splice(this.rng.int(this.#waiting.length), 1);
          this.steps++;
          // A request takes 1-4 ms of virtual time.
          this.#advance(this.elapsed + 1 + this.rng.int(4));
          next!.resolve();
        } else if (this.#timers.length > 0) {
          idle = 0;
          this.#advance(this.#timers[0]!.at);
        } else {
          // Runnable work needs more turns than the settle loop gave it: let it run.
          await realTimeout(0);
          if (++idle > 10_000) throw new Error("Simulation stuck: no call waits, no timer runs");
        }
      }
      return await promise;
    } finally {
      restore();
    }
  }

  /** Moves virtual time to `to`, firing the timers due by then in order. */
  #advance(to: number): void {
    for (;;) {
      const timer = this.#timers[0];
      if (!timer || timer.at > to) break;
      this.#timers.shift();
      this.elapsed = Math.max(this.elapsed, timer.at);
      timer.fn();
    }
    this.elapsed = Math.max(this.elapsed, to);
  }

  #install(): () => void {
    const saved = {
      setTimeout: globalThis.setTimeout,
      clearTimeout: globalThis.clearTimeout,
      now: Date.now,
      random: Math.random,
      getRandomValues: crypto.getRandomValues,
    };
    const timers = this.#timers;
    const add = (fn: () => void, ms: number): number => {
      const timer = {
        id: this.#nextTimer++,
        at: this.elapsed + Math.max(0, Math.ceil(ms || 0)),
        fn,
      };
      let i = timers.length;
      while (i > 0 && timers[i - 1]!.at > timer.at) i--;
      timers.splice(i, 0, timer);
      return timer.id;
    };
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    g.setTimeout = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) =>
      add(() => fn(...args), ms ?? 0);
    g.clearTimeout = (id?: number) => {
      const i = timers.findIndex((t) => t.id === id);
      if (i >= 0) timers.splice(i, 1);
    };
    Date.now = () => this.now();
    Math.random = () => this.rng.next();
    // deno-lint-ignore no-explicit-any
    (crypto as any).getRandomValues = <T extends ArrayBufferView | null>(array: T): T => {
      if (array) {
        const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
        for (let i = 0; i < bytes.length; i++) bytes[i] = this.rng.int(256);
      }
      return array;
    };
    return () => {
      g.setTimeout = saved.setTimeout;
      g.clearTimeout = saved.clearTimeout;
      Date.now = saved.now;
      Math.random = saved.random;
      // deno-lint-ignore no-explicit-any
      (crypto as any).getRandomValues = saved.getRandomValues;
    };
  }
}

const realSetTimeout = globalThis.setTimeout;
function realTimeout(ms: number): Promise<void> {
  return new Promise((resolve) => realSetTimeout(resolve, ms));
}

/**
 * A store whose every call waits at the simulation's gate before it reaches the store,
 * and again before its answer returns: other instances' calls may run between a write's
 * effect and its answer (as on a network), so a failure reported after the write was
 * applied can come after someone else's write too.
 */
export class ScheduledStore extends WrappedStore {
  readonly #sim: Sim;

  constructor(inner: ObjectStore, sim: Sim) {
    super(inner);
    this.#sim = sim;
  }

  protected override async call<T>(
    _method: StoreMethod,
    _detail: { key?: string; mutating: boolean },
    run: () => Promise<T>,
  ): Promise<T> {
    await this.#sim.gate();
    try {
      return await run();
    } finally {
      await this.#sim.gate();
    }
  }
}

/**
 * A body that arrives in `chunks` pieces, each after a pause of up to `pauseMs` of the
 * simulation's time: a slow client's upload.
 */
export function slowBody(
  sim: Sim,
  data: Uint8Array,
  options: { chunks: number; pauseMs: number },
): ReadableStream<Uint8Array> {
  const size = Math.max(1, Math.ceil(data.length / options.chunks));
  let at = 0;
  return new ReadableStream({
    async pull(controller) {
      if (at >= data.length) return controller.close();
      await sim.sleep(sim.rng.int(options.pauseMs + 1));
      controller.enqueue(data.slice(at, at + size));
      at += size;
    },
  }, { highWaterMark: 0 });
}
