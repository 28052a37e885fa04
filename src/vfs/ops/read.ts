/**
 * Reads by path: a range of bytes, or a stream of one consistent version of a file, each
 * finding the bytes again when compaction moved them and GC deleted the old segment.
 *
 * @module
 */

import { type Ctx, statOf, toFsError } from "../context.ts";
import { FsError } from "../errors.ts";
import { directRun, isMissing, readRecord, relocated, streamRecord } from "../reader.ts";
import { checkRange, type FileRecord, loadRecord } from "../records.ts";
import { locate } from "../resolve.ts";
import type { Stat } from "../types.ts";

/** Up to `length` bytes at `offset` of the file at `path` (symlinks followed). */
export async function read(
  ctx: Ctx,
  path: string,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  return (await readOne(ctx, path, offset, length)).bytes;
}

/**
 * Up to `length` bytes at `offset` of one version of the file at `path`, read whole, with
 * that version's stat: what a small answer needs, without the stream of
 * {@linkcode readStream} (a JavaScript stream as a response body costs Deno.serve about
 * as much CPU again as the rest of a small cached GET's answer).
 */
export async function readVersion(
  ctx: Ctx,
  path: string,
  offset: number,
  length: number,
): Promise<{ stat: Stat; bytes: Uint8Array }> {
  const { ino, record, bytes } = await readOne(ctx, path, offset, length);
  return { stat: statOf(ino, "file", record.attr, { nlink: record.nlink, data: record }), bytes };
}

/** The bytes of one version of the file at `path`, and that version's record. */
async function readOne(
  ctx: Ctx,
  path: string,
  offset: number,
  length: number,
): Promise<{ ino: string; record: FileRecord & { nlink: number }; bytes: Uint8Array }> {
  checkRange(ctx, offset, length);
  const { parent, entry } = await locate(ctx, path, { follow: true });
  if (!parent) throw new FsError("EISDIR", "Is a directory", { path });
  if (!entry) throw new FsError("ENOENT", "No such file or directory", { path });
  if (entry.t === "d") throw new FsError("EISDIR", "Is a directory", { path });
  const record = await loadRecord(ctx, entry);
  try {
    return {
      ino: entry.ino,
      record,
      bytes: await readRecord(ctx, entry.ino, record, offset, length),
    };
  } catch (error) {
    // Compaction moved the bytes and GC deleted the old segment meanwhile: read the
    // same content (same content version, same stat) from where it is now.
    const moved = isMissing(error) &&
      await relocated(ctx, path, entry.ino, record).catch(() => null);
    if (!moved) throw error;
    return {
      ino: entry.ino,
      record,
      bytes: await readRecord(ctx, entry.ino, moved, offset, length),
    };
  }
}

/** A stream of the bytes of one version of the file at `path`, with that version's stat. */
export async function readStream(
  ctx: Ctx,
  path: string,
  options: { offset?: number; length?: number; direct?: boolean },
): Promise<
  { stat: Stat; body: ReadableStream<Uint8Array>; direct: boolean; sent?: () => void }
> {
  const { parent, entry } = await locate(ctx, path, { follow: true });
  if (!parent) throw new FsError("EISDIR", "Is a directory", { path });
  if (!entry) throw new FsError("ENOENT", "No such file or directory", { path });
  if (entry.t === "d") throw new FsError("EISDIR", "Is a directory", { path });
  const record = await loadRecord(ctx, entry);
  // The stat of the very version streamed (not of a second, possibly newer, lookup).
  const stat = statOf(entry.ino, "file", record.attr, { nlink: record.nlink, data: record });
  const offset = options.offset ?? 0;
  checkRange(ctx, offset, 0);
  const end = offset + (options.length ?? Infinity);
  // Only for a caller whose transport refuses a body that ends short (an HTTP answer with
  // its Content-Length): the GET's body is not checked here, as the stream below checks it.
  const direct = options.direct ? await directRun(ctx, record, offset, end) : null;
  if (direct) return { stat, body: direct.body, direct: true, sent: direct.sent };
  let chunks = streamRecord(ctx, entry.ino, record, offset, end);
  let version = record;
  let at = offset;
  let resumes = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        try {
          const next = await chunks.next();
          if (next.done) controller.close();
          else {
            at += next.value.length;
            controller.enqueue(next.value);
          }
          return;
        } catch (error) {
          // A segment deleted under the stream: if compaction moved this very version's
          // bytes (GC deletes the old segment a grace later), go on from the new map.
          const moved = resumes++ < 3 && isMissing(error) &&
            await relocated(ctx, path, entry.ino, version).catch(() => null);
          if (!moved) {
            controller.error(toFsError(error, path));
            return;
          }
          version = moved;
          chunks = streamRecord(ctx, entry.ino, moved, at, end);
        }
      }
    },
    async cancel() {
      await chunks.return(undefined);
    },
  }, { highWaterMark: 0 });
  return { stat, body, direct: false };
}
