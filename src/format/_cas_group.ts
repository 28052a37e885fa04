/**
 * Group commit of `MetaStore` (`updateGrouped`): operations on one key that arrive
 * while a CAS on it is in flight are applied together in the next single CAS. Each batch is
 * built on the version this instance holds (its own last write, usually) and the CAS proves
 * it current, so a busy key costs one PUT per batch; a batch waits a moment for updates
 * announced on their way (`expect`).
 *
 * @module
 */

import { backoff, type Check, ContentionError, type Versioned } from "./_cas_base.ts";
import { draftCopy } from "./meta.ts";

/** What one grouped operation did to the draft. */
export interface GroupStep<T, R> {
  /** The new value (or the draft changed in place); absent for no change. */
  readonly value?: T;
  readonly result: R;
  /** Writes objects the new value refers to; runs before the CAS that commits it. */
  readonly before?: () => Promise<void>;
  /** Removes what `before` wrote, when the CAS is known not to have committed it. */
  readonly undo?: () => Promise<void>;
  /**
   * Asked once the batch is decided, before its CAS: false leaves this change out of the
   * batch (the others are decided again on the same version) and answers `otherwise`. For
   * a change that may only build on a version read before a look elsewhere: the CAS then
   * proves the version unchanged since the look (a rename's target, `_rename_target.ts`).
   */
  readonly guard?: { readonly check: () => Promise<boolean>; readonly otherwise: R };
}

type GroupOp = (draft: unknown, base: string | null) => GroupStep<unknown, unknown>;
type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };
interface GroupItem {
  op: GroupOp;
  resolve: (result: unknown) => void;
  reject: (error: unknown) => void;
}
interface Group {
  check: Check;
  queue: GroupItem[];
  running: boolean;
  /** Set while the runner lingers: told when an announced update is released. */
  wake: (() => void) | null;
}

/**
 * The longest a batch waits for announced updates of its key: about one round trip to
 * S3, what the batch would otherwise make the late ones wait for the next CAS.
 */
const LINGER_MS = 5;

/** What group commit needs of the CAS it batches for. */
export interface GroupCas {
  /** CAS attempts before giving up with {@linkcode ContentionError}. */
  readonly attempts: number;
  /** The version an attempt builds on, and whether a decision from it can be trusted. */
  base(
    key: string,
    check: Check,
    attempt: number,
  ): Promise<{ current: Versioned<unknown> | null; trusted: boolean }>;
  /** Writes `value` if the object is still `base`; null when another write got there first. */
  write(key: string, value: unknown, base: Versioned<unknown> | null): Promise<unknown>;
}

/** The batches of one `MetaStore`, per key. */
export class GroupCommit {
  #cas: GroupCas;
  #groups = new Map<string, Group>();
  /** Grouped updates announced per key and not yet queued (see {@linkcode expect}). */
  #expected = new Map<string, number>();

  constructor(cas: GroupCas) {
    this.#cas = cas;
  }

  /** `MetaStore.updateGrouped`: queues `op` in the next batch of `key`. */
  updateGrouped<T, R>(
    key: string,
    check: Check,
    op: (draft: T | null, base: string | null) => GroupStep<T, R>,
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let group = this.#groups.get(key);
      if (!group) {
        group = { check, queue: [], running: false, wake: null };
        this.#groups.set(key, group);
      }
      group.queue.push({ op: op as GroupOp, resolve: resolve as (r: unknown) => void, reject });
      this.#kick(key, group);
    });
  }

  /**
   * `MetaStore.expect`: announces a grouped update of `key` on its way; a batch of `key`
   * waits up to {@linkcode LINGER_MS} until every announced update is queued.
   */
  expect(key: string): () => void {
    this.#expected.set(key, (this.#expected.get(key) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#expected.get(key) ?? 1) - 1;
      if (left > 0) this.#expected.set(key, left);
      else this.#expected.delete(key);
      this.#groups.get(key)?.wake?.();
    };
  }

  /** Until every announced update of `key` is queued, or {@linkcode LINGER_MS}. */
  async #linger(key: string, group: Group): Promise<void> {
    if (!this.#expected.has(key)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        group.wake = null;
        resolve();
      };
      const timer = setTimeout(done, LINGER_MS);
      group.wake = () => {
        if (!this.#expected.has(key)) done();
      };
    });
  }

  /** Runs the group's queue unless a runner is active; restarts for late arrivals. */
  #kick(key: string, group: Group): void {
    if (group.running) return;
    group.running = true;
    this.#runGroup(key, group).finally(() => {
      group.running = false;
      // An operation queued after the runner's last look must not be stranded.
      if (group.queue.length > 0) this.#kick(key, group);
      else if (this.#groups.get(key) === group) this.#groups.delete(key);
    });
  }

  async #runGroup(key: string, group: Group): Promise<void> {
    // Let callers that arrive in the same tick join the first batch.
    await Promise.resolve();
    while (group.queue.length > 0) {
      await this.#linger(key, group);
      const batch = group.queue.splice(0, group.queue.length);
      try {
        const outcomes = await this.#applyBatch(key, group.check, batch);
        outcomes.forEach((o, i) => o.ok ? batch[i]!.resolve(o.value) : batch[i]!.reject(o.error));
      } catch (error) {
        for (const item of batch) item.reject(error);
      }
    }
  }

  async #applyBatch(key: string, check: Check, batch: GroupItem[]): Promise<Outcome[]> {
    for (let attempt = 1; attempt <= this.#cas.attempts; attempt++) {
      // The first attempt builds on the version this instance holds, without a request:
      // the CAS proves it current. What cannot be proven so, a batch that writes nothing,
      // fails an operation, or whose CAS loses, is decided again from a fresh read. The
      // next batch of a busy key thus goes out as one PUT, built on the version just written.
      const { current, trusted } = await this.#cas.base(key, check, attempt);
      let draft: unknown;
      let changed = false;
      let before: (() => Promise<void>)[] = [];
      let undo: (() => Promise<void>)[] = [];
      /** Outcomes of the changes their guards left out (by index in the batch). */
      const vetoed = new Map<number, Outcome>();
      const decide = (
        guarded: { index: number; guard: NonNullable<GroupStep<unknown, unknown>["guard"]> }[],
      ) => {
        draft = current ? draftCopy(current.value) : null;
        changed = false;
        before = [];
        undo = [];
        return batch.map((item, index): Outcome => {
          const left = vetoed.get(index);
          if (left) return left;
          try {
            const step = item.op(draft, current?.etag ?? null);
            if (step.value !== undefined) {
              draft = step.value;
              changed = true;
              if (step.guard) guarded.push({ index, guard: step.guard });
            }
            if (step.before) before.push(step.before);
            if (step.undo) undo.push(step.undo);
            return { ok: true, value: step.result };
          } catch (error) {
            return { ok: false, error };
          }
        });
      };
      const guarded: Parameters<typeof decide>[0] = [];
      let outcomes = decide(guarded);
      if (guarded.length > 0 && (trusted || outcomes.every((o) => o.ok))) {
        // A look that fails fails its own operation only.
        const passed = await Promise.all(
          guarded.map(({ guard }) => guard.check().catch((error) => ({ error }))),
        );
        guarded.forEach(({ index, guard }, i) => {
          const answer = passed[i];
          if (answer === true) return;
          vetoed.set(
            index,
            answer === false
              ? { ok: true, value: guard.otherwise }
              : { ok: false, error: answer!.error },
          );
        });
        // Decided again without the changes left out (ops may run several times).
        if (vetoed.size > 0) outcomes = decide([]);
      }
      if (!trusted && (!changed || draft === null || outcomes.some((o) => !o.ok))) continue;
      if (!changed || draft === null) return outcomes;
      // Objects the new version names are written first (data before metadata). If they
      // cannot all be written, or the CAS then loses for certain, nothing names them: they
      // are removed now (a lost answer leaves them, as the version may have been written).
      const discard = () => Promise.all(undo.map((drop) => drop().catch(() => {})));
      try {
        await Promise.all(before.map((write) => write()));
      } catch (error) {
        await discard();
        throw error;
      }
      if (await this.#cas.write(key, draft, current)) return outcomes;
      await discard();
      if (trusted) await backoff(attempt);
    }
    throw new ContentionError(key, this.#cas.attempts);
  }
}
