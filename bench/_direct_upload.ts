/**
 * The direct-S3 baseline of the benches' large PUTs, in the shape of PageFS's segment
 * writer: a multipart upload of 8 MiB parts, 2 in flight.
 *
 * @module
 */

import type { ObjectStore } from "../src/store/mod.ts";

const PART = 8 * 1024 * 1024;

/** Uploads `size` bytes of `part` repeated (default: 8 MiB of 7s) to `key`. */
export async function directUpload(
  store: ObjectStore,
  key: string,
  size: number,
  part: Uint8Array = new Uint8Array(PART).fill(7),
): Promise<void> {
  const upload = await store.createMultipart(key);
  const parts: { partNumber: number; etag: string }[] = [];
  const inFlight = new Set<Promise<void>>();
  for (let n = 1, at = 0; at < size; n++, at += part.length) {
    const body = part.subarray(0, Math.min(part.length, size - at));
    const p: Promise<void> = store.uploadPart(upload, n, body).then((r) => {
      parts.push(r);
      inFlight.delete(p);
    });
    inFlight.add(p);
    if (inFlight.size >= 2) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  parts.sort((a, b) => a.partNumber - b.partNumber);
  await store.completeMultipart(upload, parts);
}
