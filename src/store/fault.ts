/**
 * Fault injection for tests: make a store fail, slow down, or "crash" at a chosen request.
 *
 * Every call is numbered from 1 in the order it starts. A plan decides, per call, whether
 * it fails before reaching the store (nothing happened), fails after the store applied it
 * (a connection dropped after the write, or a proxy answered 5xx: the caller sees an
 * ambiguous error although the change is there), is stalled, or succeeds only after
 * something else happened. `between` runs after the call was applied and before its
 * answer (or error) is delivered: that is where a test puts another instance's write,
 * which the caller must then tell apart from its own.
 *
 * @module
 */

import { type ObjectStore, StoreError } from "./types.ts";
import { S3_OPERATION, type S3Operation, type StoreMethod, WrappedStore } from "./_wrapper.ts";

/** One call as the fault plan sees it. */
export interface FaultCall {
  /** 1-based sequence number of the call. */
  readonly n: number;
  readonly op: S3Operation;
  readonly key: string | undefined;
  readonly mutating: boolean;
}

/** What to do to one call. */
export type Fault =
  /**
   * Fail without touching the store; `ambiguous` reports it as a request lost in flight
   * (the caller cannot know it never arrived). `between` runs before the error surfaces.
   */
  | {
    readonly kind: "fail-before";
    readonly errorKind?: "transient" | "throttled";
    readonly ambiguous?: boolean;
    readonly between?: () => Promise<void>;
  }
  /**
   * Apply the call, run `between`, then fail ambiguously: as if the connection dropped,
   * or, with `status`, as if the server (or a proxy in front of it) answered that 5xx.
   */
  | {
    readonly kind: "fail-after";
    readonly status?: 500 | 502 | 503 | 504;
    readonly between?: () => Promise<void>;
  }
  /** Apply the call, run `between`, then answer normally (a late answer). */
  | { readonly kind: "pass"; readonly between: () => Promise<void> }
  /** Wait this long before the call (`after`: apply it first, then wait, then answer). */
  | { readonly kind: "delay"; readonly ms: number; readonly after?: boolean };

export interface FaultOptions {
  /** Probability in [0, 1] that a call fails before reaching the store. */
  readonly errorRate?: number;
  /** Latency added to every call. */
  readonly latencyMs?: number;
  /** Calls numbered this or higher fail before reaching the store: a crash at that point. */
  readonly crashAt?: number;
  /** Any other plan; consulted first. */
  readonly plan?: (call: FaultCall) => Fault | null;
  /** Source of randomness in [0, 1), for reproducible runs. */
  readonly random?: () => number;
}

/**
 * A store that injects faults into its inner store's calls.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "./memory.ts";
 * import { FaultyStore } from "./fault.ts";
 * const store = new FaultyStore(new MemoryStore(), { crashAt: 2 });
 * await store.put("a", new Uint8Array(1));
 * await store.put("b", new Uint8Array(1)).catch(() => {}); // fails: the "crash"
 * assert(store.calls === 2);
 * ```
 */
export class FaultyStore extends WrappedStore {
  #options: FaultOptions;
  #random: () => number;
  #calls = 0;
  /** Calls whose fault was injected. */
  injected = 0;

  constructor(inner: ObjectStore, options: FaultOptions = {}) {
    super(inner);
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /** How many calls have started. */
  get calls(): number {
    return this.#calls;
  }

  /** Changes the options, e.g. to stop injecting faults once a test's workload is done. */
  configure(options: FaultOptions): void {
    this.#options = options;
  }

  protected override async call<T>(
    method: StoreMethod,
    detail: { key?: string; mutating: boolean },
    run: () => Promise<T>,
  ): Promise<T> {
    const call: FaultCall = {
      n: ++this.#calls,
      op: S3_OPERATION[method],
      key: detail.key,
      mutating: detail.mutating,
    };
    const fault = this.#decide(call);
    if (this.#options.latencyMs) await delay(this.#options.latencyMs);
    if (fault?.kind === "delay" && !fault.after) await delay(fault.ms);
    if (fault?.kind === "fail-before") {
      this.injected++;
      await fault.between?.();
      throw new StoreError(
        fault.errorKind ?? "transient",
        `Injected failure before ${call.op} #${call.n}`,
        {
          ambiguous: fault.ambiguous ?? false,
          ...(detail.key === undefined ? {} : { key: detail.key }),
        },
      );
    }
    const result = await run();
    if (fault?.kind === "delay" && fault.after) await delay(fault.ms);
    if (fault?.kind === "pass" || fault?.kind === "fail-after") await fault.between?.();
    if (fault?.kind === "fail-after") {
      this.injected++;
      const what = fault.status === undefined ? "connection drop" : `HTTP ${fault.status} answer`;
      throw new StoreError(
        fault.status === 503 ? "throttled" : "transient",
        `Injected ${what} after ${call.op} #${call.n}`,
        { ambiguous: true, ...(detail.key === undefined ? {} : { key: detail.key }) },
      );
    }
    return result;
  }

  #decide(call: FaultCall): Fault | null {
    const planned = this.#options.plan?.(call);
    if (planned) return planned;
    if (this.#options.crashAt !== undefined && call.n >= this.#options.crashAt) {
      return { kind: "fail-before" };
    }
    if (this.#options.errorRate && this.#random() < this.#options.errorRate) {
      return { kind: "fail-before" };
    }
    return null;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
