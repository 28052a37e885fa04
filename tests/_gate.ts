// Test helper: a store that holds chosen calls at a gate until the test opens it, so a
// test can stop one instance mid-operation at an exact request and act meanwhile.

import { S3_OPERATION, type StoreMethod, WrappedStore } from "../src/store/_wrapper.ts";
import type { ObjectStore } from "../src/store/types.ts";

/** One call as the gate's predicate sees it. */
export interface GateCall {
  readonly op: (typeof S3_OPERATION)[StoreMethod];
  readonly key: string | undefined;
}

/**
 * Holds the first call for which `when` returns true (before it reaches the store) until
 * {@linkcode GateStore.open} is called. `held` resolves once a call is waiting.
 */
export class GateStore extends WrappedStore {
  #when: ((call: GateCall) => boolean) | null = null;
  #release: (() => void) | null = null;
  #opened: Promise<void> = Promise.resolve();
  #arrived!: () => void;
  /** Resolves when a call is being held. */
  held: Promise<void> = Promise.resolve();

  constructor(inner: ObjectStore) {
    super(inner);
  }

  /** Arms the gate: the next call matching `when` waits for {@linkcode open}. */
  arm(when: (call: GateCall) => boolean): void {
    this.#when = when;
    this.#opened = new Promise((resolve) => this.#release = resolve);
    this.held = new Promise((resolve) => this.#arrived = resolve);
  }

  /** Lets the held call (and any later one) through. */
  open(): void {
    this.#when = null;
    this.#release?.();
  }

  protected override async call<T>(
    method: StoreMethod,
    detail: { key?: string; mutating: boolean },
    run: () => Promise<T>,
  ): Promise<T> {
    const when = this.#when;
    if (when?.({ op: S3_OPERATION[method], key: detail.key })) {
      this.#when = null;
      this.#arrived();
      await this.#opened;
    }
    return await run();
  }
}
