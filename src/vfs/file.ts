// File data: open handles with a dirty log, commit (inline, group-committed segment, or a
// streamed multipart segment), and reads through the page cache.

import type { Placed, SegmentStream } from "../cache/writeback.ts";
import { concat } from "../store/_util.ts";
import { newIno } from "../format/keys.ts";
import { locateSegment } from "../format/segments.ts";
import {
  contentVersion,
  type Entry,
  type FileData,
  type FileEntry,
  type Xattrs,
} from "../format/meta.ts";
import type { Attr } from "../format/meta.ts";
import {
  EMPTY_MAP,
  type PageMap,
  resolveRange,
  truncateMap,
  writeExtent,
} from "../format/page_map.ts";
import { contentTag, type Ctx, newAttr, PERM_MASK, statOf, toFsError } from "./context.ts";
import { FsError } from "./errors.ts";
import { locate } from "./resolve.ts";
import type { Stat } from "./types.ts";

/** The part of an inode that file operations change. */
export interface FileRecord extends FileData {
  attr: Attr;
  xattr?: Xattrs;
}

/** Where a file is: the entry `name` of directory `dir`, for inode `ino`. */
export interface FileLoc {
  readonly dir: string;
  readonly name: string;
  readonly ino: string;
}

class Linked extends Error {}
class Conflict extends Error {}

/**
 * Attribute changes that a commit makes in the same CAS as its data (a client's mtime on
 * upload, `setattr` with a size).
 */
export interface AttrChanges {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly atime?: number;
  readonly mtime?: number;
}

/** Applies `changes` to `attr` (permission bits only of a mode). */
export function applyAttrChanges(attr: Attr, changes: AttrChanges): void {
  if (changes.mode !== undefined) attr.mode = (attr.mode & ~PERM_MASK) | changes.mode;
  if (changes.uid !== undefined) attr.uid = changes.uid;
  if (changes.gid !== undefined) attr.gid = changes.gid;
  if (changes.atime !== undefined) attr.atime = changes.atime;
  if (changes.mtime !== undefined) attr.mtime = changes.mtime;
}

interface CreateSpec {
  readonly exclusive: boolean;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** A file's current record (from its entry, or its inode object when hard-linked). */
export async function loadRecord(ctx: Ctx, entry: Entry): Promise<FileRecord & { nlink: number }> {
  if (entry.t === "f") return { ...entry, nlink: 1 };
  if (entry.t !== "h") throw new FsError("EISDIR", "Not a regular file");
  const found = await ctx.inodes.get(entry.ino);
  if (!found) throw new FsError("ENOENT", "File was removed");
  return found.value;
}

/**
 * Atomically changes a file's record where it lives. `op` must throw before changing
 * anything if it fails; it may run more than once.
 */
export async function updateFile<R>(
  ctx: Ctx,
  loc: FileLoc,
  op: (record: FileRecord) => R,
): Promise<R> {
  try {
    return await ctx.dirs.update(loc.dir, [loc.name], (draft) => {
      const entry = draft.get(loc.name);
      if (!entry || entry.ino !== loc.ino) {
        throw new FsError("ESTALE", "File was replaced or removed", { path: loc.name });
      }
      if (entry.t === "h") throw new Linked();
      if (entry.t !== "f") throw new FsError("EISDIR", "Not a regular file", { path: loc.name });
      if (entry.moving) throw new FsError("EAGAIN", "File is being renamed", { path: loc.name });
      const result = op(entry);
      draft.set(loc.name, entry);
      return result;
    }, { touch: false });
  } catch (error) {
    if (!(error instanceof Linked)) throw error;
  }
  return ctx.inodes.updateGrouped<R>(loc.ino, (inode) => {
    if (!inode) throw new FsError("ESTALE", "File was removed", { path: loc.name });
    return { value: inode, result: op(inode) };
  });
}

/** Extents a spilled map's delta may hold before it is folded into a new spill. */
const DELTA_MAX = 32;

/** `base` with the newer extents of `delta` written over it. */
function overlay(base: PageMap, delta: PageMap): PageMap {
  return delta.reduce((map, [o, l, s, so]) => writeExtent(map, o, l, s, so), base);
}

/** A record's page map (fetching a spilled map, which never changes, once). */
export async function loadMap(ctx: Ctx, record: FileData): Promise<PageMap> {
  if (record.map) return record.map;
  if (!record.mapRef) return EMPTY_MAP;
  const base = await loadSpilled(ctx, record.mapRef);
  return record.delta ? overlay(base, record.delta) : base;
}

/** A spilled map (each instance fetches one at most once: they never change). */
async function loadSpilled(ctx: Ctx, mapRef: string): Promise<PageMap> {
  const map = await ctx.maps.get(mapRef);
  if (!map) throw new FsError("EIO", `Page map ${mapRef} is missing`);
  return map;
}

export function inlineBytes(record: FileData): Uint8Array {
  return record.data ? fromBase64(record.data) : new Uint8Array(0);
}

/** Reads `length` bytes at `offset` of a file record (short at end of file). */
export async function readRecord(
  ctx: Ctx,
  ino: string,
  record: FileRecord,
  offset: number,
  length: number,
): Promise<Uint8Array> {
  const size = record.attr.size;
  const end = Math.min(size, offset + length);
  if (offset >= end) return new Uint8Array(0);
  const out = new Uint8Array(end - offset);
  if (!record.map && !record.mapRef) {
    out.set(inlineBytes(record).subarray(offset, end));
    return out;
  }
  const map = await loadMap(ctx, record);
  const window = readaheadWindow(ctx, ino, offset, end);
  await Promise.all(
    resolveRange(map, offset, end - offset).map(async (piece) => {
      if (piece.segment === null) return;
      const segment = locateSegment(piece.segment);
      if (!segment) throw new FsError("EIO", `Bad segment reference ${piece.segment}`);
      const bytes = await ctx.cache.read(segment.key, piece.segmentOffset, piece.length, {
        objectSize: segment.size,
        readahead: window,
      });
      out.set(bytes, piece.fileOffset - offset);
    }),
  );
  return out;
}

/** Contiguous runs at least this long are streamed with one GET instead of paged. */
const STREAM_RUN = 256 * 1024;
const ZEROS = new Uint8Array(1 << 20);

/**
 * Streams bytes `[offset, end)` of one version of a file. Each contiguous run of a segment
 * of 256 KiB or more is one ranged GET whose body is passed through as it arrives (no
 * copy into pages, and no eviction of the page cache by a long scan); shorter runs go
 * through the page cache; holes stream as zeros. Segments never change, so the stream is a
 * consistent snapshot even if the file is overwritten meanwhile.
 */
export async function* streamRecord(
  ctx: Ctx,
  ino: string,
  record: FileRecord,
  offset: number,
  end: number,
): AsyncGenerator<Uint8Array> {
  end = Math.min(end, record.attr.size);
  if (offset >= end) return;
  if (!record.map && !record.mapRef) {
    yield await readRecord(ctx, ino, record, offset, end - offset);
    return;
  }
  const map = await loadMap(ctx, record);
  for (const piece of resolveRange(map, offset, end - offset)) {
    if (piece.segment === null) {
      for (let n = piece.length; n > 0; n -= ZEROS.length) {
        yield ZEROS.slice(0, Math.min(n, ZEROS.length));
      }
      continue;
    }
    const segment = locateSegment(piece.segment);
    if (!segment) throw new FsError("EIO", `Bad segment reference ${piece.segment}`);
    if (piece.length < STREAM_RUN) {
      yield await ctx.cache.read(segment.key, piece.segmentOffset, piece.length, {
        objectSize: segment.size,
      });
      continue;
    }
    const body = await ctx.segments.readRange(segment, piece.segmentOffset, piece.length);
    if (!body) throw new FsError("EIO", `Segment ${segment.id} is missing or short`);
    yield* body;
  }
}

/** Sequential reads grow a readahead window (doubling up to the maximum); others reset it. */
function readaheadWindow(ctx: Ctx, ino: string, offset: number, end: number): number {
  const state = ctx.readahead.get(ino);
  const sequential = state !== undefined && state.end === offset;
  const window = sequential ? Math.min(Math.max(state.window * 2, 256 << 10), ctx.readaheadMax) : 0;
  ctx.readahead.delete(ino);
  ctx.readahead.set(ino, { end, window });
  if (ctx.readahead.size > 1024) ctx.readahead.delete(ctx.readahead.keys().next().value!);
  return window;
}

type WriteOp = {
  readonly k: "w";
  readonly off: number;
  readonly len: number;
  readonly pos: number;
};
type LogOp =
  | WriteOp
  /** An append: its offset is the file's size when it commits, not when it was issued. */
  | { readonly k: "a"; readonly len: number; readonly pos: number }
  | { readonly k: "t"; readonly size: number };

/** The log with each append placed at the end of the file as it is at commit time. */
function placeAppends(ops: readonly LogOp[], size: number): (WriteOp | { k: "t"; size: number })[] {
  return ops.map((op) => {
    if (op.k === "a") {
      const placed: WriteOp = { k: "w", off: size, len: op.len, pos: op.pos };
      size += op.len;
      return placed;
    }
    size = op.k === "t" ? op.size : Math.max(size, op.off + op.len);
    return op;
  });
}

/**
 * An open file: writes go to a dirty log and are made durable by {@linkcode fsync}
 * (at the end of every request, and when asked). Small dirty data waits in memory and is
 * group-committed; once it passes one part it streams out as a multipart segment, so
 * memory stays bounded however much is written.
 */
export class FileHandle {
  readonly #ctx: Ctx;
  #loc: FileLoc;
  #create: CreateSpec | null;
  /** Commit only if the file's content ETag is still this one (HTTP If-Match). */
  #ifMatch: string | undefined;
  /** Attribute changes for the next commit, made in its CAS. */
  #attrs: AttrChanges | null = null;
  /** Runs right before each metadata CAS, after the data is durable; a throw aborts. */
  #beforeCommit: (() => Promise<void>) | undefined;
  #ops: LogOp[] = [];
  #small: Uint8Array[] = [];
  #dirtyBytes = 0;
  #stream: SegmentStream | null = null;
  #size: number;
  #stat: Stat;

  private constructor(ctx: Ctx, loc: FileLoc, stat: Stat, create: CreateSpec | null) {
    this.#ctx = ctx;
    this.#loc = loc;
    this.#stat = stat;
    this.#size = stat.size;
    this.#create = create;
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
      ifMatch?: string;
      /** The mtime (ms) the first commit sets, in the same CAS as the data. */
      mtime?: number;
      /** Attributes the first commit sets, in the same CAS as the data. */
      attrs?: AttrChanges;
      beforeCommit?: () => Promise<void>;
    } = {},
  ): Promise<FileHandle> {
    const { mtime } = options;
    if (mtime !== undefined && (!Number.isSafeInteger(mtime) || mtime < 0 || mtime > 8.64e15)) {
      throw new FsError("EINVAL", "Invalid time", { path });
    }
    // O_CREAT|O_EXCL does not follow a final symlink: an existing link is EEXIST (POSIX).
    const follow = !(options.create && options.exclusive);
    const { parent, name, entry } = await locate(ctx, path, { follow });
    if (!parent) throw new FsError("EISDIR", "Is a directory", { path });
    let handle: FileHandle;
    if (entry) {
      if (options.create && options.exclusive) {
        throw new FsError("EEXIST", "File exists", { path });
      }
      if (entry.t === "d") throw new FsError("EISDIR", "Is a directory", { path });
      const record = await loadRecord(ctx, entry);
      const stat = statOf(entry.ino, "file", record.attr, { nlink: record.nlink, data: record });
      handle = new FileHandle(ctx, { dir: parent.ino, name, ino: entry.ino }, stat, null);
    } else {
      if (!options.create) throw new FsError("ENOENT", "No such file or directory", { path });
      const ino = newIno();
      const attr = newAttr(ctx, "file", options);
      handle = new FileHandle(ctx, { dir: parent.ino, name, ino }, statOf(ino, "file", attr, {}), {
        exclusive: options.exclusive ?? false,
        ...(options.mode === undefined ? {} : { mode: options.mode }),
        ...(options.uid === undefined ? {} : { uid: options.uid }),
        ...(options.gid === undefined ? {} : { gid: options.gid }),
      });
    }
    // Logged even when the file is empty or absent now: a whole-file replace must replace
    // whatever is committed by the time it commits, not extend it.
    if (options.truncate) handle.truncate(0);
    handle.#ifMatch = options.ifMatch;
    if (options.attrs || mtime !== undefined) {
      handle.#attrs = { ...options.attrs, ...(mtime === undefined ? {} : { mtime }) };
    }
    handle.#beforeCommit = options.beforeCommit;
    return handle;
  }

  get ino(): string {
    return this.#loc.ino;
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
    const pos = await this.#buffer(bytes);
    this.#log({ k: "w", off: offset, len: bytes.length, pos });
    this.#size = Math.max(this.#size, offset + bytes.length);
    await this.#spill();
  }

  /**
   * Buffers an append: the bytes land at the end of the file as it is when they commit,
   * so concurrent appenders (on any instance) never overwrite each other.
   */
  async append(bytes: Uint8Array): Promise<void> {
    checkRange(this.#ctx, this.#size, bytes.length);
    if (bytes.length === 0) return;
    const pos = await this.#buffer(bytes);
    this.#ops.push({ k: "a", len: bytes.length, pos });
    this.#size += bytes.length;
    await this.#spill();
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

  /** Keeps dirty bytes; returns their position in the dirty data. */
  async #buffer(bytes: Uint8Array): Promise<number> {
    if (this.#stream) return await this.#stream.append(bytes);
    const pos = this.#dirtyBytes;
    this.#small.push(bytes.slice());
    this.#dirtyBytes += bytes.length;
    return pos;
  }

  /** Past one part, dirty data streams out instead of waiting in memory. */
  async #spill(): Promise<void> {
    if (!this.#stream && this.#dirtyBytes >= this.#ctx.partSize) await this.#startStream();
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
    this.#ops.push({ k: "t", size });
    this.#size = size;
  }

  /** Reads through the handle; uncommitted writes are committed first. */
  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this.#ctx, offset, length);
    await this.fsync();
    const { record } = await this.#current();
    if (!record) throw new FsError("ESTALE", "File was removed");
    return readRecord(this.#ctx, this.#loc.ino, record, offset, length);
  }

  /** Makes every write so far durable: data first, then one CAS of the file's metadata. */
  async fsync(): Promise<Stat> {
    if (this.#ops.length === 0 && !this.#create && !this.#attrs) return this.#stat;
    try {
      this.#stat = await this.#commit();
    } catch (error) {
      await this.#stream?.abort().catch(() => {});
      this.#reset();
      throw toFsError(error, this.#loc.name);
    }
    this.#reset();
    return this.#stat;
  }

  /** Commits and releases the handle. */
  async close(): Promise<Stat> {
    return await this.fsync();
  }

  /** Drops uncommitted writes (after a failed request body, for instance). */
  async discard(): Promise<void> {
    await this.#stream?.abort().catch(() => {});
    this.#reset();
    this.#create = null;
  }

  #reset(): void {
    this.#attrs = null;
    this.#ops = [];
    this.#small = [];
    this.#dirtyBytes = 0;
    this.#stream = null;
  }

  #log(op: LogOp & { k: "w" }): void {
    const last = this.#ops[this.#ops.length - 1];
    // Sequential writes become one log entry (and one extent).
    if (last?.k === "w" && last.off + last.len === op.off && last.pos + last.len === op.pos) {
      this.#ops[this.#ops.length - 1] = { ...last, len: last.len + op.len };
    } else {
      this.#ops.push(op);
    }
  }

  async #startStream(): Promise<void> {
    this.#stream = this.#ctx.writeback.openStream();
    const pending = this.#small;
    this.#small = [];
    for (const chunk of pending) await this.#stream.append(chunk);
  }

  async #current(): Promise<{ entry: Entry | null; record: FileRecord | null }> {
    const dir = await this.#ctx.dirs.get(this.#loc.dir);
    if (!dir) return { entry: null, record: null };
    const entry = await this.#ctx.dirs.lookup(dir.value, this.#loc.name);
    if (!entry || (entry.t !== "f" && entry.t !== "h")) return { entry, record: null };
    return { entry, record: await loadRecord(this.#ctx, entry) };
  }

  async #commit(): Promise<Stat> {
    const ctx = this.#ctx;
    // Where the dirty bytes went, and where the old inline bytes of a file outgrowing
    // metadata went: those belong to one version of one file (ino and content version),
    // and are reused only by a retry that builds on that very version.
    const placed: { dirty?: Placed; inline?: Placed & { ino: string; cv: number } } = {};
    for (let attempt = 0; attempt < 20; attempt++) {
      const { entry, record } = await this.#current();
      if (entry && entry.ino !== this.#loc.ino) {
        if (!this.#create || this.#create.exclusive) {
          throw new FsError(this.#create ? "EEXIST" : "ESTALE", "File was replaced", {
            path: this.#loc.name,
          });
        }
        if (entry.t === "d") throw new FsError("EISDIR", "Is a directory");
        this.#loc = { ...this.#loc, ino: entry.ino };
      }
      if (!entry && !this.#create) throw new FsError("ESTALE", "File was removed");
      const current: FileRecord = record ??
        { attr: { ...newAttr(ctx, "file", this.#create ?? {}), size: 0 } };
      const gen = current.gen ?? 0;
      const cv = contentVersion(current);
      // Checked against the version this commit builds on; the CAS below only succeeds if
      // the file is still at that generation, so the check and the write are one step.
      if (this.#ifMatch !== undefined) {
        const tag = record ? contentTag(this.#loc.ino, current) : null;
        if (tag !== this.#ifMatch) {
          throw new FsError("ESTALE", "The file changed since the version asked for", {
            path: this.#loc.name,
          });
        }
      }
      let ops = placeAppends(this.#ops, current.attr.size);
      const finalSize = ops.reduce(
        (s, op) => op.k === "t" ? op.size : Math.max(s, op.off + op.len),
        current.attr.size,
      );
      // After a truncate to zero nothing of the current bytes is left: build on an empty
      // file (no spilled map to fetch, no inline bytes to move).
      const cut = ops.findLastIndex((op) => op.k === "t" && op.size === 0);
      const base: FileRecord = cut < 0 ? current : { attr: { ...current.attr, size: 0 } };
      if (cut >= 0) ops = ops.slice(cut + 1);
      const inline = !this.#stream && !base.map && !base.mapRef && finalSize <= ctx.inlineMax;
      let next: FileData;
      if (inline) {
        next = this.#applyInline(base, ops);
      } else {
        // Data before metadata: segments are durable before the CAS that names them.
        if (base.data && (placed.inline?.ino !== this.#loc.ino || placed.inline.cv !== cv)) {
          // Both go out in the same group commit: one PUT.
          const [dirty, old] = await Promise.all([
            placed.dirty ?? this.#place(),
            ctx.writeback.commit(inlineBytes(base)),
          ]);
          placed.dirty = dirty;
          placed.inline = { ino: this.#loc.ino, cv, ...old };
        }
        const dirty = placed.dirty ??= await this.#place();
        const old = placed.inline;
        const extend = base.mapRef !== undefined && !ops.some((op) => op.k === "t");
        if (extend) {
          // A spilled map stays as it is; the new extents go into its small delta.
          let delta = base.delta ?? EMPTY_MAP;
          for (const op of ops) {
            if (op.k === "w") {
              delta = writeExtent(delta, op.off, op.len, dirty.segment, dirty.offset + op.pos);
            }
          }
          if (delta.length <= DELTA_MAX) {
            next = { mapRef: base.mapRef!, delta };
          } else {
            const full = overlay(await loadSpilled(ctx, base.mapRef!), delta);
            next = full.length > ctx.spillExtents ? { mapRef: await spillMap(ctx, full) } : {
              map: full,
            };
          }
          try {
            return await this.#apply(entry, gen, finalSize, next);
          } catch (error) {
            if (!(error instanceof Conflict)) throw error;
            continue;
          }
        }
        let map: PageMap = base.data && old
          ? writeExtent(EMPTY_MAP, 0, inlineBytes(base).length, old.segment, old.offset)
          : await loadMap(ctx, base);
        let size = base.attr.size;
        if (base.data) map = truncateMap(map, size);
        for (const op of ops) {
          if (op.k === "t") {
            map = truncateMap(map, op.size);
            size = op.size;
          } else {
            map = writeExtent(map, op.off, op.len, dirty.segment, dirty.offset + op.pos);
            size = Math.max(size, op.off + op.len);
          }
        }
        next = map.length > ctx.spillExtents ? { mapRef: await spillMap(ctx, map) } : { map };
      }
      try {
        return await this.#apply(entry, gen, finalSize, next);
      } catch (error) {
        if (!(error instanceof Conflict)) throw error;
      }
    }
    throw new FsError("EAGAIN", "File changed too often during the write");
  }

  async #place(): Promise<Placed> {
    if (this.#stream) return { segment: await this.#stream.finish(), offset: 0 };
    if (this.#dirtyBytes === 0) return { segment: "", offset: 0 };
    return await this.#ctx.writeback.commit(concat(this.#small, this.#dirtyBytes));
  }

  #applyInline(base: FileRecord, ops: readonly (WriteOp | { k: "t"; size: number })[]): FileData {
    let bytes = inlineBytes(base);
    const dirty = concat(this.#small, this.#dirtyBytes);
    let size = base.attr.size;
    for (const op of ops) {
      if (op.k === "t") {
        size = op.size;
        if (bytes.length > size) bytes = bytes.slice(0, size);
      } else {
        const end = op.off + op.len;
        if (bytes.length < end) {
          const grown = new Uint8Array(end);
          grown.set(bytes);
          bytes = grown;
        }
        bytes.set(dirty.subarray(op.pos, op.pos + op.len), op.off);
        size = Math.max(size, end);
      }
    }
    return bytes.length > 0 ? { data: toBase64(bytes) } : {};
  }

  async #apply(entry: Entry | null, gen: number, size: number, next: FileData): Promise<Stat> {
    await this.#beforeCommit?.();
    const ctx = this.#ctx;
    const now = ctx.now();
    const attrs = this.#attrs;
    // Only a commit that writes or truncates makes a new content version.
    const writes = this.#ops.length > 0;
    const change = (record: FileRecord) => {
      if ((record.gen ?? 0) !== gen) throw new Conflict();
      const cv = contentVersion(record);
      delete record.data;
      delete record.map;
      delete record.mapRef;
      delete record.delta;
      Object.assign(record, next);
      record.gen = gen + 1;
      record.cv = writes ? cv + 1 : cv;
      record.attr.size = size;
      record.attr.mtime = record.attr.ctime = Math.max(now, record.attr.mtime);
      if (attrs) applyAttrChanges(record.attr, attrs);
      return statOf(this.#loc.ino, "file", record.attr, {
        data: record,
        nlink: (record as { nlink?: number }).nlink ?? 1,
      });
    };
    if (entry) return await updateFile(ctx, this.#loc, change);
    // Create the file in the same CAS as its first data.
    const create = this.#create!;
    const attr = newAttr(ctx, "file", create);
    if (attrs) applyAttrChanges(attr, attrs);
    const stat = await ctx.dirs.update(this.#loc.dir, [this.#loc.name], (draft) => {
      // Someone created it first (or our own earlier attempt did): start over from it.
      if (draft.get(this.#loc.name)) throw new Conflict();
      const fresh: FileEntry = {
        t: "f",
        ino: this.#loc.ino,
        attr: { ...attr, size },
        gen: 1,
        cv: 1,
      };
      Object.assign(fresh, next);
      draft.set(this.#loc.name, fresh);
      return statOf(fresh.ino, "file", fresh.attr, { data: fresh });
    });
    this.#create = null;
    return stat;
  }
}

export async function spillMap(ctx: Ctx, map: PageMap): Promise<string> {
  return await ctx.maps.put(map);
}

export function checkRange(ctx: Ctx, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new FsError("EINVAL", `Invalid offset ${offset}`);
  }
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new FsError("EINVAL", `Invalid length ${length}`);
  }
  if (offset + length > ctx.maxFileSize) {
    throw new FsError("EFBIG", `Files are limited to ${ctx.maxFileSize} bytes`);
  }
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

export function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}
