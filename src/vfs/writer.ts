/**
 * The write path: an open file ({@linkcode FileHandle}) keeps a dirty log
 * (`write_log.ts`); at fsync the data is placed first (inline in the record, a
 * group-committed segment, or a streamed multipart segment) and the metadata is committed
 * after, in one CAS of the file's record (`write_commit.ts`), as JuiceFS's writer splits
 * data flush from metadata commit. Internal to `src/vfs`.
 *
 * @module
 */

import { newIno } from "../format/keys.ts";
import { type Ctx, newAttr, statOf, toFsError } from "./context.ts";
import { FsError, isFsError } from "./errors.ts";
import { mergeable } from "./file_commits.ts";
import { readRecord } from "./reader.ts";
import { type AttrChanges, checkRange, type FileRecord, loadRecord } from "./records.ts";
import { locate, type Location } from "./resolve.ts";
import type { Stat } from "./types.ts";
import { type CommitSpec, type CreateSpec, FileCommit } from "./write_commit.ts";
import type { WholeBody } from "./whole_body.ts";
import { WriteLog } from "./write_log.ts";

/**
 * An open file: writes go to a dirty log and are made durable by {@linkcode fsync}
 * (at the end of every request, and when asked). Small dirty data waits in memory and is
 * group-committed; once it passes one part it streams out as multipart segments, and all
 * of it stays within the process's memory budget (a write waits for room), so memory
 * stays bounded however much is written and by however many writers.
 */
export class FileHandle {
  readonly #ctx: Ctx;
  /** The uncommitted writes and their dirty bytes. */
  readonly #log: WriteLog;
  /** The commits, with the state they carry (where the file is, conditions). */
  readonly #commit: FileCommit;
  #size: number;
  #stat: Stat;

  private constructor(ctx: Ctx, stat: Stat, spec: CommitSpec) {
    this.#ctx = ctx;
    this.#log = new WriteLog(ctx.writeback);
    this.#commit = new FileCommit(ctx, this.#log, spec);
    this.#stat = stat;
    this.#size = stat.size;
  }

  /**
   * Opens (or, with `create`, prepares to create) the regular file at `path`. A file to
   * be created appears at the first {@linkcode fsync}, in the same write as its data.
   */
  static async open(
    ctx: Ctx,
    path: string,
    options: {
      create?: boolean;
      exclusive?: boolean;
      truncate?: boolean;
      mode?: number;
      uid?: number;
      gid?: number;
      /** Commit only if the file's ETag is this one, or one of these. */
      ifMatch?: string | readonly string[];
      /** The mtime (ms) the first commit sets, in the same CAS as the data. */
      mtime?: number;
      /**
       * With `create`: a file removed or replaced before the commit does not fail the
       * write, which then creates the file or writes the one there now (see `FileCommit`).
       */
      recreate?: boolean;
      onCommit?: (created: boolean) => void;
      /** Attributes the first commit sets, in the same CAS as the data. */
      attrs?: AttrChanges;
      beforeCommit?: () => Promise<void>;
      expect?: string | null;
    } = {},
  ): Promise<FileHandle> {
    const { mtime } = options;
    if (mtime !== undefined && (!Number.isSafeInteger(mtime) || mtime < 0 || mtime > 8.64e15)) {
      throw new FsError("EINVAL", "Invalid time", { path });
    }
    // O_CREAT|O_EXCL does not follow a final symlink: an existing link is EEXIST (POSIX).
    const follow = !(options.create && options.exclusive);
    const optimistic = options.expect !== undefined;
    const { parent, name, entry, record } = await locateFile(ctx, path, { follow, optimistic });
    if (!parent) throw new FsError("EISDIR", "Is a directory", { path });
    const spec: CreateSpec = {
      exclusive: options.exclusive ?? false,
      ...(options.mode === undefined ? {} : { mode: options.mode }),
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    };
    const conditional = options.ifMatch !== undefined || options.expect !== undefined;
    const commit = {
      ifMatch: typeof options.ifMatch === "string" ? [options.ifMatch] : options.ifMatch,
      expect: options.expect,
      attrs: options.attrs || mtime !== undefined
        ? { ...options.attrs, ...(mtime === undefined ? {} : { mtime }) }
        : null,
      beforeCommit: options.beforeCommit,
      onCommit: options.onCommit,
      path: options.recreate && !conditional && !options.exclusive ? path : null,
    };
    let handle: FileHandle;
    if (entry) {
      if (options.create && options.exclusive) {
        throw new FsError("EEXIST", "File exists", { path });
      }
      if (entry.t === "d") throw new FsError("EISDIR", "Is a directory", { path });
      if (!record) throw new FsError("EISDIR", "Not a regular file", { path });
      const stat = statOf(entry.ino, "file", record.attr, { nlink: record.nlink, data: record });
      const follows = !!options.recreate && !conditional;
      handle = new FileHandle(ctx, stat, {
        ...commit,
        loc: { dir: parent.ino, name, ino: entry.ino },
        create: null,
        follow: follows,
        recreate: follows && options.create ? spec : null,
        mapped: mergeable(record),
        announced: null,
      });
    } else {
      if (!options.create) throw new FsError("ENOENT", "No such file or directory", { path });
      const ino = newIno();
      const attr = newAttr(ctx, "file", options);
      handle = new FileHandle(ctx, statOf(ino, "file", attr, {}), {
        ...commit,
        loc: { dir: parent.ino, name, ino },
        create: spec,
        follow: false,
        recreate: null,
        mapped: false,
        // Its entry will go into the directory's next group commit: that batch waits for it.
        announced: ctx.dirs.expect(parent, name),
      });
    }
    // Logged even when the file is empty or absent now: a whole-file replace must replace
    // whatever is committed by the time it commits, not extend it.
    if (options.truncate) handle.truncate(0);
    return handle;
  }

  get ino(): string {
    return this.#commit.loc.ino;
  }

  /** Size including uncommitted writes. */
  get size(): number {
    return this.#size;
  }

  /** The file's attributes as of the last open or commit. */
  get stat(): Stat {
    return this.#stat;
  }

  /** Buffers a write of `bytes` at `offset`. */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    checkRange(this.#ctx, offset, bytes.length);
    if (bytes.length === 0) return;
    await this.#log.write(offset, bytes);
    this.#size = Math.max(this.#size, offset + bytes.length);
  }

  /** Buffers a write of a whole body at `offset`, kept as it is (see `whole_body.ts`). */
  async writeWhole(offset: number, whole: WholeBody): Promise<void> {
    checkRange(this.#ctx, offset, whole.length);
    if (whole.length === 0) return;
    await this.#log.writeWhole(offset, whole);
    this.#size = Math.max(this.#size, offset + whole.length);
  }

  /**
   * Buffers an append: the bytes land at the end of the file as it is when they commit,
   * so concurrent appenders (on any instance) never overwrite each other.
   */
  async append(bytes: Uint8Array): Promise<void> {
    checkRange(this.#ctx, this.#size, bytes.length);
    if (bytes.length === 0) return;
    await this.#log.append(bytes);
    this.#size += bytes.length;
  }

  /** Appends a whole stream; returns the bytes appended. */
  async appendStream(body: ReadableStream<Uint8Array>): Promise<number> {
    let n = 0;
    for await (const chunk of body) {
      await this.append(chunk);
      n += chunk.length;
    }
    return n;
  }

  /** Writes a whole stream at `offset` (sequentially); returns the bytes written. */
  async writeStream(offset: number, body: ReadableStream<Uint8Array>): Promise<number> {
    let at = offset;
    for await (const chunk of body) {
      await this.write(at, chunk);
      at += chunk.length;
    }
    return at - offset;
  }

  truncate(size: number): void {
    checkRange(this.#ctx, size, 0);
    this.#log.truncate(size);
    this.#size = size;
  }

  /** Reads through the handle; uncommitted writes are committed first. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.#ctx, offset, length);
    await this.fsync();
    const { record } = await this.#commit.current();
    if (!record) throw new FsError("ESTALE", "File was removed");
    return readRecord(this.#ctx, this.#commit.loc.ino, record, offset, length);
  }

  /** Makes every write so far durable: data first, then one CAS of the file's metadata. */
  async fsync(): Promise<Stat> {
    if (!this.#commit.pending) return this.#stat;
    try {
      this.#stat = await this.#commit.commit();
    } catch (error) {
      await this.#log.abort();
      this.#commit.reset();
      throw toFsError(error, this.#commit.loc.name);
    } finally {
      this.#commit.release();
    }
    this.#commit.reset();
    return this.#stat;
  }

  /** Commits and releases the handle. */
  async close(): Promise<Stat> {
    return await this.fsync();
  }

  /** Drops uncommitted writes (after a failed request body, for instance). */
  async discard(): Promise<void> {
    this.#commit.release();
    await this.#log.abort();
    this.#commit.reset();
    this.#commit.dropCreate();
  }
}

/**
 * The entry at `path` and, for a regular file, its record. A hard-linked file's inode object goes
 * once its last name has (an unlink or a rename over it removes the name first), so a name
 * read just before such a removal can lead to no inode: the path is then looked up again
 * from fresh reads, where the name is gone or holds another file, and the open goes on as
 * if it came after the removal (a write with O_CREAT makes the file anew). Before: ENOENT
 * "File was removed", to a PUT that should have created the file (protocol fuzz ext).
 */
async function locateFile(
  ctx: Ctx,
  path: string,
  options: { follow: boolean; optimistic: boolean },
): Promise<Location & { record: (FileRecord & { nlink: number }) | null }> {
  for (let tries = 0;; tries++) {
    const found = tries === 0
      ? await locate(ctx, path, options)
      : await ctx.meta.inNewScope(() => locate(ctx, path, { follow: options.follow }));
    const { entry } = found;
    if (!entry || (entry.t !== "f" && entry.t !== "h")) return { ...found, record: null };
    try {
      return { ...found, record: await loadRecord(ctx, entry) };
    } catch (error) {
      if (tries >= 2 || entry.t !== "h" || !isFsError(error, "ENOENT")) throw error;
    }
  }
}
