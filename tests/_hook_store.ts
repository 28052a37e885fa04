// Test helper: a store that runs a chosen action (another instance's write, say) right
// before (or after) a chosen call of this one, and keeps a log of the calls it saw. Deterministic:
// the call waits for the action to finish, no timers involved.

import {
  S3_OPERATION,
  type S3Operation,
  type StoreMethod,
  WrappedStore,
} from "../src/store/_wrapper.ts";

/** One call as the hook store saw it. */
export interface SeenCall {
  readonly op: S3Operation;
  readonly key: string | undefined;
}

interface Hook {
  readonly when: (call: SeenCall) => boolean;
  readonly run: () => Promise<unknown>;
}

export class HookStore extends WrappedStore {
  #hooks: Hook[] = [];
  #afterHooks: Hook[] = [];
  /** Every call, in the order it started. */
  readonly calls: SeenCall[] = [];
  /** How many hooks have run. */
  fired = 0;

  /** Runs `run` (once) before the first later call that `when` accepts. */
  before(when: (call: SeenCall) => boolean, run: () => Promise<unknown>): void {
    this.#hooks.push({ when, run });
  }

  /** Runs `run` (once) right after the first later call that `when` accepts has returned. */
  after(when: (call: SeenCall) => boolean, run: () => Promise<unknown>): void {
    this.#afterHooks.push({ when, run });
  }

  protected override async call<T>(
    method: StoreMethod,
    detail: { key?: string; mutating: boolean },
    run: () => Promise<T>,
  ): Promise<T> {
    const call: SeenCall = { op: S3_OPERATION[method], key: detail.key };
    this.calls.push(call);
    const index = this.#hooks.findIndex((hook) => hook.when(call));
    if (index >= 0) {
      const [hook] = this.#hooks.splice(index, 1);
      this.fired++;
      await hook!.run();
    }
    const result = await run();
    const after = this.#afterHooks.findIndex((hook) => hook.when(call));
    if (after >= 0) {
      const [hook] = this.#afterHooks.splice(after, 1);
      this.fired++;
      await hook!.run();
    }
    return result;
  }
}
