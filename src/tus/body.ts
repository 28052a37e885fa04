/**
 * A chunk's request body on its way into the staging file: counted, hashed for
 * `Upload-Checksum`, and held to the upload's length and the declared `Content-Length` as it
 * streams, so that the write's commit check can refuse the chunk whole.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { badRequest, HttpError } from "../http/errors.ts";
import { BODY_IDLE_MS, idleRead } from "../http/input.ts";
import { bodyReader } from "../http/body_reader.ts";
import type { BodySlot } from "../http/body_slots.ts";
import { FsError } from "../vfs/mod.ts";
import type { Checksum } from "./protocol.ts";

/** A body being counted as it streams, and what it came to. */
export interface CountedBody {
  /** The bytes, passed on as read (no buffering: a high-water mark of 0). */
  readonly stream: ReadableStream<Uint8Array>;
  /** Bytes read so far. */
  count(): number;
  /** Why the body was refused or broke off, or null. */
  failure(): unknown;
  /** The checksum's digest of the whole body (once read), or null without a checksum. */
  digest(): Uint8Array | null;
}

/** The request body, counted, hashed and held to the upload's length as it streams. */
export function countedBody(
  source: ReadableStream<Uint8Array> | null,
  o: {
    offset: number;
    length: number | null;
    declared?: number | undefined;
    checksum: Checksum | null;
    /** How long the body may send nothing (default {@linkcode BODY_IDLE_MS}): then 408. */
    idleMs?: number;
    /** The request's share of the bodies read at once (`http/body_slots.ts`), if any. */
    slot?: BodySlot | null;
  },
): CountedBody {
  const idleMs = o.idleMs ?? BODY_IDLE_MS;
  const hash = o.checksum ? createHash(o.checksum.algorithm) : null;
  let count = 0;
  let failure: unknown = null;
  let digest: Uint8Array | null = null;
  const fail = (error: unknown) => {
    failure ??= error;
    return failure;
  };
  const reader = source ? bodyReader(source) : null;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>;
      const slot = o.slot ?? null;
      try {
        const read = () => idleRead(() => reader!.read(), () => reader!.cancel(), idleMs, count);
        next = reader ? await (slot ? slot.read(read) : read()) : { done: true };
        if (next.done) slot?.end();
      } catch (error) {
        slot?.end();
        if (error instanceof FsError) throw fail(error);
        const why = error instanceof Error ? error.message : String(error);
        throw fail(new FsError("EINVAL", `The body broke off after ${count} bytes: ${why}`));
      }
      if (next.done) {
        if (o.declared !== undefined && count !== o.declared) {
          throw fail(badRequest(`The body has ${count} bytes, not the declared ${o.declared}`));
        }
        controller.close();
        return;
      }
      count += next.value.length;
      if (o.length !== null && o.offset + count > o.length) {
        await reader?.cancel().catch(() => {});
        throw fail(tooLong(o.length));
      }
      if (o.declared !== undefined && count > o.declared) {
        await reader?.cancel().catch(() => {});
        throw fail(badRequest(`The body is longer than the declared ${o.declared} bytes`));
      }
      hash?.update(next.value);
      controller.enqueue(next.value);
    },
    async cancel(reason) {
      o.slot?.end();
      await reader?.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
  return {
    stream,
    count: () => count,
    failure: () => failure,
    digest: () => digest ??= hash ? new Uint8Array(hash.digest()) : null,
  };
}

/** Whether two digests are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The error of a chunk that goes past the upload's declared length. */
export function tooLong(length: number): HttpError {
  return new HttpError(413, "EFBIG", `The chunk goes past the upload's length of ${length} bytes`);
}
