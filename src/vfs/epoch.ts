/**
 * The namespace epoch: a counter `ns` and a set of renames in flight (`pending`), carried
 * by the lock table object (`locks`, see docs/format.md) so that one conditional GET
 * tells a request both the locks and whether any path may lead elsewhere than when this
 * instance last resolved it.
 *
 * Every change that can make an ancestor name of a path lead to another directory bumps
 * `ns` by CAS: a rename whose source or replaced target is a directory or a symlink, twice
 * (before it starts, adding its id to `pending`; after it ends, removing it), and whoever
 * settles such a rename for someone else, after it. rmdir does not: a removed directory
 * was empty, so it can only be the last directory of a remembered chain, and that one is
 * always read. A pending id that this instance has seen for longer than the removing lease
 * by its own clock (a renamer that died) may be removed by anyone, bumping `ns`.
 *
 * @module
 */

import type { Versioned } from "../format/cas.ts";
import { LOCKS_KEY, newId } from "../format/keys.ts";
import type { Chain, Ctx } from "./context.ts";
import { checkLockTable, type LockTable } from "./lock_table.ts";

/** What a request needs to know of the namespace epoch. */
export interface Epoch {
  /** Bumped by every change that can re-route a path's ancestors. */
  readonly ns: number;
  /** Ids of renames in flight: while any is, paths are resolved in full. */
  readonly pending: readonly string[];
}

/** Remembered chains per instance, at most this many (then forgotten all at once). */
const MAX_CHAINS = 10_000;

function epochOf(table: Versioned<LockTable> | null): Epoch {
  return { ns: table?.value.ns ?? 0, pending: table?.value.pending ?? [] };
}

/**
 * The epoch as of this request: one conditional GET of the lock table, shared with every
 * other read of it in the request (the lock checks included).
 */
export async function readEpoch(ctx: Ctx): Promise<Epoch> {
  const table = await ctx.meta.read<LockTable>(LOCKS_KEY, checkLockTable, { recent: true });
  return epochOf(table);
}

/** The epoch now: a conditional GET of the lock table, whatever this request read before. */
export async function freshEpoch(ctx: Ctx): Promise<Epoch> {
  return epochOf(await ctx.meta.read<LockTable>(LOCKS_KEY, checkLockTable));
}

/**
 * Whether no namespace change began or ended since the epoch this request read (and
 * resolved its paths under): a fresh conditional GET of the lock table shows the same `ns`.
 * For an operation that resolved two paths one after the other, each maybe from reads made
 * earlier in the request: it may pair them only if no change came between. A change already
 * in flight when the request read the epoch (in `pending`) is not seen by this.
 */
export async function epochHolds(ctx: Ctx): Promise<boolean> {
  const used = await readEpoch(ctx);
  return (await freshEpoch(ctx)).ns === used.ns;
}

/** One CAS on the lock table changing only the epoch fields; the locks are kept. */
async function changeEpoch(
  ctx: Ctx,
  change: (pending: string[]) => boolean,
): Promise<void> {
  await ctx.meta.update<LockTable, void>(LOCKS_KEY, checkLockTable, (current) => {
    const base: LockTable = current?.value ?? { v: 1, locks: [] };
    const pending = [...(base.pending ?? [])];
    if (!change(pending)) return { result: undefined };
    const next: LockTable = { ...base, ns: (base.ns ?? 0) + 1 };
    if (pending.length > 0) next.pending = pending;
    else delete next.pending;
    return { write: next, result: undefined };
  });
}

/**
 * Announces a namespace change about to start: adds its id to `pending` and bumps `ns`.
 * @returns the id to pass to {@linkcode endNsChange}.
 */
export async function beginNsChange(ctx: Ctx): Promise<string> {
  const id = newId(ctx.now());
  await changeEpoch(ctx, (pending) => {
    pending.push(id);
    return true;
  });
  return id;
}

/** The change `id` ended (done or not): removes it from `pending` and bumps `ns`. */
export async function endNsChange(ctx: Ctx, id: string): Promise<void> {
  await changeEpoch(ctx, (pending) => {
    const at = pending.indexOf(id);
    if (at >= 0) pending.splice(at, 1);
    return true; // bumped even if someone removed it as stale meanwhile
  });
}

/** After settling someone else's rename of a directory or symlink. */
export async function bumpNs(ctx: Ctx): Promise<void> {
  await changeEpoch(ctx, () => true);
}

/**
 * Removes the pending ids this instance has seen for at least the removing lease by its
 * own clock (renamers that died between their two bumps); the first sighting starts the
 * count. Never judged by the clock of the instance that added them.
 */
export async function clearStalePending(ctx: Ctx, epoch: Epoch): Promise<void> {
  const now = ctx.now();
  const stale = epoch.pending.filter((id) => {
    const key = `ns ${id}`;
    const first = ctx.marksSeen.get(key);
    if (first === undefined) {
      if (ctx.marksSeen.size >= 10_000) ctx.marksSeen.clear();
      ctx.marksSeen.set(key, now);
      return ctx.removingLeaseMs <= 0;
    }
    return now - first >= ctx.removingLeaseMs;
  });
  if (stale.length === 0) return;
  await changeEpoch(ctx, (pending) => {
    const before = pending.length;
    for (const id of stale) {
      const at = pending.indexOf(id);
      if (at >= 0) pending.splice(at, 1);
    }
    return pending.length !== before;
  });
  for (const id of stale) ctx.marksSeen.delete(`ns ${id}`);
}

/**
 * A remembered chain older than this (by this instance's clock) is walked again even if
 * the epoch never moved. It bounds the one case the epoch cannot see: a renamer stalled
 * past the removing lease (so others cleared its pending id) that then died after its
 * change and before its second bump. Costs one full walk per path and minute.
 */
const CHAIN_MAX_AGE_MS = 60_000;

/** The chain remembered for directory path `names`, if any and not too old. */
export function chainOf(ctx: Ctx, names: readonly string[]): Chain | undefined {
  const key = names.join("/");
  const chain = ctx.chains.get(key);
  if (chain === undefined) return undefined;
  const age = ctx.now() - chain.at;
  if (age < 0 || age >= CHAIN_MAX_AGE_MS) {
    ctx.chains.delete(key);
    return undefined;
  }
  return chain;
}

/**
 * Remembers that directory path `names` led to `ino` under epoch `ns`, as of `at` (default
 * now): a path resolved from its parent's remembered chain is as old as that chain, so that
 * no path is followed for more than {@linkcode CHAIN_MAX_AGE_MS} after its first directory
 * was read.
 */
export function rememberChain(
  ctx: Ctx,
  names: readonly string[],
  chain: Omit<Chain, "at">,
  at: number = ctx.now(),
): void {
  if (ctx.chains.size >= MAX_CHAINS) ctx.chains.clear();
  ctx.chains.set(names.join("/"), { ...chain, at });
}
