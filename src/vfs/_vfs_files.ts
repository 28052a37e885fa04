/**
 * The facade's file data: open handles, reads, streamed reads, writes and appends, each
 * one dispatch to `ops/read.ts` or the writer. A part of {@linkcode Vfs}; see
 * `_vfs_core.ts`.
 *
 * Each method's runnable example is on the class in `vfs.ts` (an example here would import
 * the class this file is a part of: a cycle).
 *
 * @module
 */

import { VfsNames } from "./_vfs_names.ts";
import * as attrs from "./ops/attrs.ts";
import { read, readStream, readVersion } from "./ops/read.ts";
import { checkRange } from "./records.ts";
import { WholeBody } from "./whole_body.ts";
import type { Stat } from "./types.ts";
import { FileHandle } from "./writer.ts";

/** Options for opening a file handle. */
export interface OpenOptions {
  readonly create?: boolean;
  readonly exclusive?: boolean;
  readonly truncate?: boolean;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /**
   * Commit only if the file's ETag is still this one (a list: any of these, as HTTP's
   * `If-Match` list); otherwise ESTALE and nothing changes. Checked in the same CAS as the
   * write, so it cannot race another writer.
   */
  readonly ifMatch?: string | readonly string[];
  /**
   * Sets the file's mtime (ms) in the same CAS as the data (a client's own time for an
   * upload), so no reader sees the new bytes with another mtime.
   */
  readonly mtime?: number;
  /**
   * Runs right before each metadata CAS of the write, after its data is durable (a front
   * end re-checks locks there); if it throws, nothing is committed and the write fails.
   */
  readonly beforeCommit?: () => Promise<void>;
  /**
   * An optimistic write: the directory holding the file may be taken as cached (see
   * `lookup`'s `optimistic`), and the commit fails with {@linkcode ChangedError} (nothing
   * written) unless the file's ETag is still `expect` (null: the file is absent), so that
   * whatever the caller decided from its optimistic `lookup` still holds at the commit.
   */
  readonly expect?: string | null;
  /**
   * Told whether the write's commit added the file to its directory (true) or changed a
   * file that was there (false), which may differ from what a look before the write saw:
   * another writer may have created, removed or replaced the file meanwhile.
   */
  readonly onCommit?: (created: boolean) => void;
}

/** The file data methods of {@linkcode Vfs}. */
export abstract class VfsFiles extends VfsNames {
  /**
   * Creates an empty regular file (an existing one is left as it is, unless `exclusive`).
   *
   * @throws {FsError} EEXIST with `exclusive` when something is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * @throws {FsError} ESTALE with `ifMatch` when the file's ETag is another.
   */
  create(path: string, options: Omit<OpenOptions, "create" | "truncate"> = {}): Promise<Stat> {
    return this.run(path, async () => {
      const handle = await FileHandle.open(this.ctx, path, { ...options, create: true });
      return await handle.close();
    });
  }

  /**
   * Opens a regular file for reads and writes; writes are durable at `fsync`/`close`.
   * With `create`, a file that does not exist appears at the first commit, with its data.
   *
   * @throws {FsError} ENOENT without `create`, when nothing is at `path`.
   * @throws {FsError} EEXIST with `create` and `exclusive`, when something is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * @throws {FsError} EINVAL for an `mtime` out of range.
   */
  open(path: string, options: OpenOptions = {}): Promise<FileHandle> {
    return this.run(path, () => FileHandle.open(this.ctx, path, options));
  }

  /**
   * Reads up to `length` bytes at `offset` (fewer at end of file; holes read as zeros).
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * @throws {FsError} EINVAL for a negative or fractional offset or length; EFBIG past the
   *   largest file size.
   */
  read(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.run(path, () => read(this.ctx, path, offset, length));
  }

  /**
   * Up to `length` bytes at `offset` of one version of the file, read whole, and that
   * version's stat: a small answer's body, sent as bytes rather than a stream.
   *
   * @throws {FsError} the errnos of {@linkcode Vfs.read}.
   */
  readWithStat(
    path: string,
    offset: number,
    length: number,
  ): Promise<{ stat: Stat; bytes: Uint8Array }> {
    return this.run(path, () => readVersion(this.ctx, path, offset, length));
  }

  /**
   * Streams a file's bytes from one consistent version of it: segments never change, so
   * a concurrent overwrite does not tear the stream. Returns that version's stat.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * With `direct`, for a caller that sends the body with its length declared (an HTTP
   * answer with Content-Length: its transport fails a body that ends short), bytes that are
   * one run of one segment (that the disk tier, if any, does not hold whole) come as the
   * body of one ranged GET of the store, untouched and unchecked; the result's `direct`
   * then says so, and the answer streams without JavaScript per chunk (see
   * `markStreamedByRuntime` in src/observe/request_log.ts). Its `sent`, to be called once
   * the body has been sent, fills the disk tier with those bytes in the background. Without
   * `direct`, every body is checked for its length.
   *
   * @throws {FsError} EINVAL for an invalid offset. A segment that goes missing later
   *   errors the stream with EIO.
   */
  readStream(
    path: string,
    options: { offset?: number; length?: number; chunkSize?: number; direct?: boolean } = {},
  ): Promise<
    { stat: Stat; body: ReadableStream<Uint8Array>; direct: boolean; sent?: () => void }
  > {
    return this.run(path, () => readStream(this.ctx, path, options));
  }

  /**
   * Writes bytes or a stream at `offset` and makes them durable; creates the file if asked.
   * A 1 KiB file created this way costs one metadata write; larger data, one more.
   *
   * @throws {FsError} ENOENT without `create`, when nothing is at `path`.
   * @throws {FsError} EEXIST with `create` and `exclusive`, when something is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * @throws {FsError} ESTALE with `ifMatch`, when the file's ETag is another (nothing is
   *   written), or when the file was removed or replaced during the write.
   * @throws {FsError} EINVAL for an invalid offset or mtime; EFBIG past the largest size.
   */
  write(
    path: string,
    offset: number,
    data: Uint8Array | WholeBody | ReadableStream<Uint8Array>,
    options: OpenOptions = {},
  ): Promise<Stat> {
    return this.run(path, async () => {
      checkRange(this.ctx, offset, data instanceof ReadableStream ? 0 : data.length);
      // One call, one outcome: with `create`, a file removed or replaced while this write
      // was on its way is not an error; the write comes after that change.
      const handle = await FileHandle.open(this.ctx, path, { ...options, recreate: true });
      return await commitWith(
        handle,
        (h) =>
          data instanceof ReadableStream
            ? h.writeStream(offset, data)
            : data instanceof WholeBody
            ? h.writeWhole(offset, data)
            : h.write(offset, data),
      );
    });
  }

  /**
   * Replaces (or creates) the whole file with `data`, in one commit.
   *
   * @throws {FsError} the errnos of {@linkcode Vfs.write}.
   */
  writeFile(
    path: string,
    data: Uint8Array | WholeBody | ReadableStream<Uint8Array>,
    options: Omit<OpenOptions, "create" | "truncate"> = {},
  ): Promise<Stat> {
    return this.write(path, 0, data, { ...options, create: true, truncate: true });
  }

  /**
   * Appends at the end of the file as it is when the data commits: concurrent appends,
   * from any instance, all land, one after the other.
   *
   * @throws {FsError} ENOENT without `create`, when nothing is at `path`.
   * @throws {FsError} EISDIR when `path` is a directory.
   * @throws {FsError} ESTALE with `ifMatch`, when the file's ETag is another.
   * @throws {FsError} EFBIG past the largest file size.
   */
  append(
    path: string,
    data: Uint8Array | ReadableStream<Uint8Array>,
    options: Pick<OpenOptions, "create" | "ifMatch" | "beforeCommit"> = {},
  ): Promise<Stat> {
    return this.run(path, async () => {
      // One call, one outcome, as `write`: a file replaced meanwhile gets the bytes at its
      // end, one removed is ENOENT (or made anew with `create`). Before: ESTALE.
      const handle = await FileHandle.open(this.ctx, path, { ...options, recreate: true });
      return await commitWith(
        handle,
        (h) => data instanceof Uint8Array ? h.append(data) : h.appendStream(data),
      );
    });
  }

  /**
   * Sets a file's size: cuts it, or extends it with a hole (as `setattr` with a size).
   *
   * @throws {FsError} the errnos of {@linkcode Vfs.setattr}.
   * @throws {FsError} ESTALE with `ifMatch`, when the file's ETag is another at the commit
   *   (checked in its CAS: nothing is cut).
   */
  truncate(
    path: string,
    size: number,
    options: Pick<OpenOptions, "ifMatch"> = {},
  ): Promise<Stat> {
    return this.run(path, () => attrs.setattr(this.ctx, path, { size }, options));
  }

  /**
   * Every operation is durable when it returns, so there is nothing left to flush for a
   * path; open handles flush with their own `fsync`. Checks that the file exists.
   *
   * @throws {FsError} ENOENT when nothing is at `path`.
   */
  fsync(path: string): Promise<Stat> {
    return this.getattr(path);
  }
}

/** Writes through `handle` with `put`, then commits; a write that fails commits nothing. */
async function commitWith(
  handle: FileHandle,
  put: (handle: FileHandle) => Promise<unknown>,
): Promise<Stat> {
  try {
    await put(handle);
  } catch (error) {
    await handle.discard();
    throw error;
  }
  return await handle.close();
}
