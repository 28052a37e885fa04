/**
 * The base of the {@linkcode Vfs} facade: the instance's context, how every operation runs
 * (one request scope, errors translated once to errno), request scopes and the instance's
 * counters. The facade's methods are grouped by concern over this base, one class a file
 * (`_vfs_attrs.ts`, `_vfs_names.ts`, `_vfs_files.ts`, then `vfs.ts`), each extending the
 * one before; import {@linkcode Vfs} from `vfs.ts` (or `mod.ts`), never these parts.
 *
 * Each method's runnable example is on the class in `vfs.ts` (an example here would import
 * the class this file is a part of: a cycle).
 *
 * @module
 */

import type { BudgetStats } from "../cache/budget.ts";
import type { ObjectStore } from "../store/types.ts";
import { type Ctx, toFsError } from "./context.ts";

/** What every part of the facade builds on; see {@linkcode Vfs}. */
export abstract class VfsCore {
  readonly #ctx: Ctx;

  /** Only {@linkcode Vfs.open} and scoped views make one. */
  protected constructor(ctx: Ctx) {
    this.#ctx = ctx;
  }

  /** This instance's context (its scope, caches, store), for the facade's methods. */
  protected get ctx(): Ctx {
    return this.#ctx;
  }

  /**
   * The names at the root that listings leave out and symlinks never lead into (see
   * `hide`), shared with scoped views.
   */
  protected get hidden(): Set<string> {
    return this.#ctx.hidden;
  }

  /**
   * Runs `fn` as one request (a front end's HTTP request): every operation inside it may
   * reuse a metadata version that a GET issued after `fn` began validated, so no object
   * is read twice, and what it answers is still the state at some moment within it.
   */
  request<T>(fn: () => Promise<T>): Promise<T> {
    return this.ctx.meta.inScope(fn);
  }

  /**
   * Runs `fn` with nothing reused from before this call, even inside {@linkcode request}:
   * for a check repeated right before a commit, after a body that took its time.
   */
  fresh<T>(fn: () => Promise<T>): Promise<T> {
    return this.ctx.meta.inNewScope(fn);
  }

  /** The store underneath (for tools such as fsck and GC). */
  get store(): ObjectStore {
    return this.ctx.store;
  }

  /**
   * The page cache's counters (hits, misses, bytes held) of this instance, and its disk
   * tier's (null without one).
   */
  cacheStats() {
    return { ...this.ctx.cache.stats(), disk: this.ctx.ranges.diskStats() };
  }

  /**
   * The memory budget's counters: its limit, the bytes buffered now (cached blocks, dirty
   * data, part and GET buffers) and the most ever buffered at once, and writers waiting.
   */
  memoryStats(): BudgetStats {
    return this.ctx.memory.stats();
  }

  /**
   * Runs one operation on `path`: in one request scope (or as part of the front end's),
   * with whatever it throws translated once to an {@linkcode FsError} about `path`.
   */
  protected async run<T>(path: string, fn: () => Promise<T>): Promise<T> {
    try {
      // One operation is one request scope (or part of the front end's).
      return await this.ctx.meta.inScope(fn);
    } catch (error) {
      throw toFsError(error, path);
    }
  }
}
