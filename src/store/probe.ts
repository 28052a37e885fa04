/**
 * The start-up check that the store honours conditional writes, on which every
 * multi-instance guarantee rests (a server that ignores them, such as s3rver, would
 * silently let two instances overwrite each other's metadata).
 *
 * @module
 */

import { type ObjectStore, StoreError } from "./types.ts";

/**
 * Probes `key` (which must be unused): a create-only put, the same again (must fail), a
 * replace with a wrong ETag (must fail), then deletes it. Four requests.
 *
 * @returns null when both conditions are honoured, else what the store ignored.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "./memory.ts";
 * import { probeConditionalWrites } from "./probe.ts";
 * assert(await probeConditionalWrites(new MemoryStore(), "probe/1") === null);
 * ```
 */
export async function probeConditionalWrites(
  store: ObjectStore,
  key: string,
): Promise<string | null> {
  const refused = async (write: () => Promise<unknown>) => {
    try {
      await write();
      return false;
    } catch (error) {
      if (error instanceof StoreError && error.kind === "precondition-failed") return true;
      throw error;
    }
  };
  const body = new TextEncoder().encode("pagefs conditional-write probe\n");
  try {
    const { etag } = await store.put(key, body, { mode: { kind: "create" } });
    const problems: string[] = [];
    if (!await refused(() => store.put(key, body, { mode: { kind: "create" } }))) {
      problems.push("If-None-Match: * (a create-only PUT over an existing object succeeded)");
    }
    const wrong = etag === "0123456789abcdef0123456789abcdef"
      ? "fedcba9876543210fedcba9876543210"
      : "0123456789abcdef0123456789abcdef";
    if (!await refused(() => store.put(key, body, { mode: { kind: "replace", etag: wrong } }))) {
      problems.push("If-Match (a PUT with a wrong ETag succeeded)");
    }
    return problems.length === 0 ? null : problems.join(" and ");
  } finally {
    await store.delete(key).catch(() => {});
  }
}
