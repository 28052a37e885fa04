// Store faults under the protocol fuzzers (tests/protocol_fuzz_ext_test.ts): each
// instance's store fails calls before they reach it, loses the answers of writes it applied
// (a dropped connection, a 5xx from a proxy), or stalls them, with few retries, so that
// some requests fail as a whole. An answer of 5xx then means "outcome unknown": the fuzzer
// accepts the world with the request applied or without it, whichever the other instance
// sees, and goes on from there; any other answer must be exactly the model's, and nothing
// acknowledged may later vanish (the tree checks of the fuzzer).
//
// FUZZ_FAULTS=p: the chance of each kind of fault per store call (0.03 is a good start);
// FUZZ_FAULT_ATTEMPTS=n: attempts per call in the retry layer (default 2; production has 5).

import { type Fault, type FaultCall, FaultyStore } from "../src/store/fault.ts";
import { RetryStore } from "../src/store/retry.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Rng } from "./_model.ts";

/** What may go wrong while a request runs. */
export type Armed = "faults" | "stalls" | "none";

/** The faults of one run: a view of the store per instance, armed one at a time. */
export class ProtocolFaults {
  readonly #rng: Rng;
  readonly #rate: number;
  readonly #attempts: number;
  #armed = new Map<number, Armed>();
  /** Faults injected (store calls failed or stalled). */
  injected = 0;

  constructor(seed: number, rate: number, attempts = 2) {
    this.#rng = new Rng(seed ^ 0x2545f491);
    this.#rate = rate;
    this.#attempts = attempts;
  }

  /** Instance `k`'s store: faulty when armed, behind a retry layer as in production. */
  view(store: ObjectStore, k: number): ObjectStore {
    const faulty = new FaultyStore(store, { plan: (call) => this.#plan(k, call) });
    return new RetryStore(faulty, {
      attempts: this.#attempts,
      baseDelayMs: 1,
      maxDelayMs: 4,
    });
  }

  /** What may go wrong in instance `k`'s store calls from now on. */
  arm(k: number, armed: Armed): void {
    this.#armed.set(k, armed);
  }

  disarm(): void {
    this.#armed.clear();
  }

  #plan(k: number, call: FaultCall): Fault | null {
    const armed = this.#armed.get(k) ?? "none";
    if (armed === "none") return null;
    // The same draws for every armed call, so one kind does not shift the others.
    const [a, b, c, d] = [this.#rng.next(), this.#rng.next(), this.#rng.next(), this.#rng.next()];
    const p = this.#rate;
    let fault: Fault | null = null;
    if (armed === "faults" && call.mutating && a < p) {
      fault = { kind: "fail-after", ...(d < 0.5 ? { status: d < 0.25 ? 503 : 500 } : {}) };
    } else if (armed === "faults" && b < p) {
      fault = { kind: "fail-before", ambiguous: d < 0.5 };
    } else if (c < p) fault = { kind: "delay", ms: Math.floor(d * 15), after: d < 0.5 };
    if (fault) this.injected++;
    return fault;
  }
}

/** Answers that leave the outcome unknown (the request may or may not have taken effect). */
export function unknownOutcome(status: number): boolean {
  return status === 500 || status === 502 || status === 503 || status === 504;
}
