/**
 * Small helpers of the walk and of the runs over the bucket that use it (fsck, GC):
 * listing every object under a prefix, and running over items a few at a time.
 *
 * @module
 */

import type { ObjectInfo, ObjectStore } from "../store/types.ts";

/** Every object under `prefix`, page by page. */
export async function* listAll(store: ObjectStore, prefix?: string): AsyncGenerator<ObjectInfo> {
  let cursor: string | null = null;
  do {
    const page = await store.list({
      ...(prefix === undefined ? {} : { prefix }),
      ...(cursor === null ? {} : { cursor }),
    });
    yield* page.objects;
    cursor = page.cursor;
  } while (cursor !== null);
}

/** Runs `fn` over `items` with at most `width` at a time. */
export async function forEachLimit<T>(
  items: readonly T[],
  width: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}
