/**
 * The body of a file's GET answer, shared by the front ends: a small span read whole and
 * sent as bytes, a larger one streamed (the body of an S3 GET itself when the runtime can
 * pipe it, see `Vfs.readStream`'s `direct`).
 *
 * Why bytes for small answers: a JavaScript `ReadableStream` as a response body makes
 * Deno.serve allocate a stream resource and pull it chunk by chunk; for a 4 KiB file that
 * was about 17 µs of a bare server's CPU per GET against none for bytes, and the stream
 * PageFS built in front of it (parts, chunk queue) as much again.
 *
 * @module
 */

import type { Stat, Vfs } from "../vfs/mod.ts";

/** Spans up to this many bytes are read whole and answered as bytes. */
export const WHOLE_BODY_MAX = 64 * 1024;

/** A GET answer's body, and whether the runtime streams it from S3 by itself. */
export interface FileBody {
  readonly body: Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array>;
  readonly direct: boolean;
  /** `Vfs.readStream`'s `sent`: call once the answer was sent (fills the disk tier). */
  readonly sent?: (() => void) | undefined;
}

/**
 * The bytes `offset`..`offset + length` of version `stat` of the file at `path`; null
 * when the file is no longer that version (the caller looks at it again).
 */
export async function fileBody(
  vfs: Vfs,
  path: string,
  stat: Stat,
  span: { readonly offset: number; readonly length: number },
): Promise<FileBody | null> {
  if (span.length <= WHOLE_BODY_MAX) {
    const read = await vfs.readWithStat(path, span.offset, span.length);
    return read.stat.etag === stat.etag
      ? { body: read.bytes as Uint8Array<ArrayBuffer>, direct: false }
      : null;
  }
  const streamed = await vfs.readStream(path, { ...span, direct: true });
  if (streamed.stat.etag !== stat.etag) {
    await streamed.body.cancel();
    return null;
  }
  return { body: streamed.body, direct: streamed.direct, sent: streamed.sent };
}
