/**
 * `pagefs stats`: objects and bytes in the store by kind, from a listing alone (one LIST
 * request per 1,000 objects; no object is read).
 *
 * @module
 */

import { PREFIX } from "../format/keys.ts";
import type { ListPage, ObjectStore } from "../store/mod.ts";
import { n, size } from "./report.ts";

/** Objects and bytes in a store, by kind. */
export interface StoreStats {
  readonly kinds: Record<string, { objects: number; bytes: number }>;
  readonly objects: number;
  readonly bytes: number;
}

const KINDS: [string, string][] = [
  [PREFIX.dir, "directories"],
  [PREFIX.inode, "inodes"],
  [PREFIX.segment, "segments"],
  [PREFIX.map, "page maps"],
  [PREFIX.xattr, "xattr values"],
];

/** Lists the whole store and counts its objects and bytes by kind. */
export async function storeStats(store: ObjectStore): Promise<StoreStats> {
  const kinds: Record<string, { objects: number; bytes: number }> = {};
  for (const [, kind] of KINDS) kinds[kind] = { objects: 0, bytes: 0 };
  kinds.other = { objects: 0, bytes: 0 };
  let objects = 0, bytes = 0;
  for (let cursor: string | null = null;;) {
    const page: ListPage = await store.list(cursor ? { cursor } : {});
    for (const o of page.objects) {
      const kind = KINDS.find(([prefix]) => o.key.startsWith(prefix))?.[1] ?? "other";
      kinds[kind]!.objects++;
      kinds[kind]!.bytes += o.size;
      objects++;
      bytes += o.size;
    }
    cursor = page.cursor;
    if (!cursor) break;
  }
  return { kinds, objects, bytes };
}

/** A human summary of {@linkcode StoreStats}. */
export function formatStats(stats: StoreStats): string {
  const rows = Object.entries(stats.kinds).map(([kind, k]) =>
    `  ${kind.padEnd(12)} ${n(k.objects).padStart(12)} objects ${size(k.bytes).padStart(11)}`
  );
  return [
    ...rows,
    `  ${"total".padEnd(12)} ${n(stats.objects).padStart(12)} objects ${
      size(stats.bytes).padStart(11)
    }`,
  ].join("\n");
}
