/**
 * The write path: an open file ({@linkcode FileHandle}) keeps a dirty log; at fsync the
 * data is placed first (inline in the record, a group-committed segment, or a streamed
 * multipart segment) and the metadata is committed after, in one CAS of the file's record,
 * as JuiceFS's writer splits data flush from metadata commit. Internal to `src/vfs`.
 *
 * Just over 500 lines: one class, {@linkcode FileHandle}, whose dirty log, data placement
 * and metadata commit share the handle's private state; its commit is split into methods
 * by step (#base, #placeData, #apply) rather than across files.
 *
 * @module
 */

import type { DirtyData, DirtyPiece } from "../cache/dirty.ts";
import type { Placed } from "../cache/writeback.ts";
import { claimData } from "../format/gc_pending.ts";
import type { ReadOptions } from "../format/cas.ts";
import { newIno } from "../format/keys.ts";
import { contentVersion, type Entry, type FileData, type FileEntry } from "../format/meta.ts";
import { EMPTY_MAP, type PageMap, truncateMap, writeExtent } from "../format/page_map.ts";
import { contentTag, type Ctx, newAttr, statOf, toFsError } from "./context.ts";
import { ChangedError, FsError, isFsError } from "./errors.ts";
import {
  commitMerged,
  mergeable,
  type MergeOp,
  nextData,
  NotMergeable,
  pieceExtents,
} from "./file_commits.ts";
import { loadMap, readRecord } from "./reader.ts";
import {
  applyAttrChanges,
  type AttrChanges,
  checkRange,
  commitData,
  type FileLoc,
  type FileRecord,
  inlineBytes,
  loadRecord,
  toBase64,
  updateFile,
} from "./records.ts";
import { locate } from "./resolve.ts";
import { DirectoryGone } from "../format/dir.ts";
import type { Stat } from "./types.ts";

class Conflict extends Error {}

interface CreateSpec {
  readonly exclusive: boolean;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
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

/** A log entry once appends have their offsets. */
type PlacedOp = WriteOp | { readonly k: "t"; readonly size: number };

/**
 * Where a commit's data went, kept across its CAS retries: the dirty bytes, and the old
 * inline bytes of a file outgrowing metadata. The latter belong to one version of one file
 * (ino and content version) and are reused only by a retry that builds on that version.
 */
interface Placement {
  dirty?: DirtyPiece[];
  inline?: Placed & { ino: string; cv: number };
}

/** The log with each append placed at the end of the file as it is at commit time. */
function placeAppends(ops: readonly LogOp[], size: number): PlacedOp[] {
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

/** `map` with the log entry `op` written, its bytes found in the dirty pieces. */
function writeDirty(map: PageMap, op: WriteOp, pieces: readonly DirtyPiece[]): PageMap {
  for (const [o, l, seg, so] of pieceExtents(op.off, op.len, op.pos, pieces)) {
    map = writeExtent(map, o, l, seg, so);
  }
  return map;
}

/**
 * An open file: writes go to a dirty log and are made durable by {@linkcode fsync}
 * (at the end of every request, and when asked). Small dirty data waits in memory and is
 * group-committed; once it passes one part it streams out as multipart segments, and all
 * of it stays within the process's memory budget (a write waits for room), so memory
 * stays bounded however much is written and by however many writers.
 */
export class FileHandle {
  readonly #ctx: Ctx;
  #loc: FileLoc;
  #create: CreateSpec | null;
  /**
   * A single-shot write (`Vfs.write`: an HTTP PUT or PATCH) into a file that existed when
   * opened, without conditions: if that file is replaced before the commit, the write
   * lands on the file the path holds then, as if it came after the change, instead of
   * failing for a state the caller never asked about.
   */
  #follow = false;
  /** With {@linkcode #follow} and O_CREAT: a file removed meanwhile is made anew. */
  #recreate: CreateSpec | null = null;
  /** Commit only if the file's content ETag is still this one (HTTP If-Match). */
  #ifMatch: string | undefined;
  /** Optimistic: what the caller saw (content ETag, null for absent); see `OpenOptions`. */
  #expect: string | null | undefined;
  /** Attribute changes for the next commit, made in its CAS. */
  #attrs: AttrChanges | null = null;
  /** Runs right before each metadata CAS, after the data is durable; a throw aborts. */
  #beforeCommit: (() => Promise<void>) | undefined;
  /** Told, after each commit, whether it added the file (see `OpenOptions.onCommit`). */
  #onCommit: ((created: boolean) => void) | undefined;
  #ops: LogOp[] = [];
  #dirty: DirtyData | null = null;
  #size: number;
  #stat: Stat;
  /** The file's bytes were in segments when last seen, so its writes may merge. */
  #mapped = false;
  /** Releases this create's announcement to its directory's group commit. */
  #announced: (() => void) | null = null;
  /**
   * A single-shot write without conditions (`recreate`) remembers its path: if the
   * directory holding the file is replaced or removed before the commit (a rename over it),
   * the commit goes to the directory the path leads to then (see {@linkcode #relocate}).
   */
  #path: string | null = null;

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
      /**
       * With `create`: a file removed or replaced before the commit does not fail the
       * write, which then creates the file or writes the one there now (see `#recreate`).
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
    const { parent, name, entry } = await locate(ctx, path, { follow, optimistic });
    if (!parent) throw new FsError("EISDIR", "Is a directory", { path });
    let handle: FileHandle;
    const spec: CreateSpec = {
      exclusive: options.exclusive ?? false,
      ...(options.mode === undefined ? {} : { mode: options.mode }),
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    };
    if (entry) {
      if (options.create && options.exclusive) {
        throw new FsError("EEXIST", "File exists", { path });
      }
      if (entry.t === "d") throw new FsError("EISDIR", "Is a directory", { path });
      const record = await loadRecord(ctx, entry);
      const stat = statOf(entry.ino, "file", record.attr, { nlink: record.nlink, data: record });
      handle = new FileHandle(ctx, { dir: parent.ino, name, ino: entry.ino }, stat, null);
      handle.#mapped = mergeable(record);
      const conditional = options.ifMatch !== undefined || options.expect !== undefined;
      if (options.recreate && !conditional) {
        handle.#follow = true;
        if (options.create) handle.#recreate = spec;
      }
    } else {
      if (!options.create) throw new FsError("ENOENT", "No such file or directory", { path });
      const ino = newIno();
      const attr = newAttr(ctx, "file", options);
      handle = new FileHandle(
        ctx,
        { dir: parent.ino, name, ino },
        statOf(ino, "file", attr, {}),
        spec,
      );
      // Its entry will go into the directory's next group commit: that batch waits for it.
      handle.#announced = ctx.dirs.expect(parent, name);
    }
    // Logged even when the file is empty or absent now: a whole-file replace must replace
    // whatever is committed by the time it commits, not extend it.
    if (options.truncate) handle.truncate(0);
    handle.#ifMatch = options.ifMatch;
    if (options.attrs || mtime !== undefined) {
      handle.#attrs = { ...options.attrs, ...(mtime === undefined ? {} : { mtime }) };
    }
    handle.#beforeCommit = options.beforeCommit;
    handle.#onCommit = options.onCommit;
    handle.#expect = options.expect;
    const conditional = options.ifMatch !== undefined || options.expect !== undefined;
    if (options.recreate && !conditional && !options.exclusive) handle.#path = path;
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

  /**
   * Keeps dirty bytes (a copy); returns their position in the dirty data. Waits while the
   * memory budget is spent: the caller reading a request body reads no further meanwhile.
   */
  async #buffer(bytes: Uint8Array): Promise<number> {
    this.#dirty ??= this.#ctx.writeback.openDirty();
    return await this.#dirty.append(bytes);
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
      await this.#dirty?.abort().catch(() => {});
      this.#reset();
      throw toFsError(error, this.#loc.name);
    } finally {
      this.#release();
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
    this.#release();
    await this.#dirty?.abort().catch(() => {});
    this.#reset();
    this.#create = null;
  }

  #release(): void {
    this.#announced?.();
    this.#announced = null;
  }

  #reset(): void {
    this.#attrs = null;
    this.#ops = [];
    // Bytes committed inline were never sent: their buffer goes back to the budget here.
    this.#dirty?.release();
    this.#dirty = null;
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

  async #current(
    options: ReadOptions = {},
  ): Promise<{ entry: Entry | null; record: FileRecord | null }> {
    const dir = await this.#ctx.dirs.get(this.#loc.dir, options);
    if (!dir) return { entry: null, record: null };
    const entry = await this.#ctx.dirs.lookup(dir.value, this.#loc.name, options);
    if (!entry || (entry.t !== "f" && entry.t !== "h")) return { entry, record: null };
    return { entry, record: await loadRecord(this.#ctx, entry) };
  }

  /**
   * The commit loop: read the record this commit builds on, place the data (durable
   * before any metadata names it), then one CAS of the metadata; a CAS that lost to
   * another writer starts over from the new version, reusing the data already placed.
   */
  async #commit(): Promise<Stat> {
    const placed: Placement = {};
    const started = this.#ctx.now();
    const merged = await this.#commitMerged(placed, started);
    if (merged) return merged;
    for (let attempt = 0; attempt < 20; attempt++) {
      // The commit's CAS checks what it builds on: at first, this request's versions are
      // enough (an optimistic write's, any cached one), and a file to create was absent
      // when opened (the CAS adding its entry fails if the name is taken now); after a
      // conflict, read afresh.
      const first = this.#expect !== undefined ? { cached: true } : { recent: true };
      const { entry, record } = attempt === 0 && this.#create && this.#expect === undefined
        ? { entry: null, record: null }
        : await this.#current(attempt === 0 ? first : {});
      const current = this.#base(entry, record);
      const gen = current.gen ?? 0;
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
      const next = await this.#placeData(
        base,
        ops,
        { finalSize, cv: contentVersion(current) },
        placed,
      );
      try {
        const stat = await this.#apply(entry, gen, finalSize, next, { started, placed });
        this.#mapped = mergeable(next);
        return stat;
      } catch (error) {
        if (error instanceof DirectoryGone && await this.#relocate()) continue;
        if (!(error instanceof Conflict)) throw error;
      }
    }
    throw new FsError("EAGAIN", "File changed too often during the write");
  }

  /**
   * The directory holding the file is gone (removed, or replaced by a rename): for a write
   * that remembers its path, looks the path up again from fresh reads (waiting for a
   * removal in progress, see `resolveDir`) and moves the commit to the directory it leads
   * to now, where the next attempt decides afresh on the file there, as if the write had
   * come after the change. False (the failure stands) for any other write, or when the
   * path still leads to the same directory. A path that no longer leads anywhere throws.
   */
  async #relocate(): Promise<boolean> {
    if (this.#path === null) return false;
    const path = this.#path;
    const { parent, name } = await this.#ctx.meta.inNewScope(() =>
      locate(this.#ctx, path, { follow: true })
    );
    if (!parent) throw new FsError("EISDIR", "Is a directory", { path });
    if (parent.ino === this.#loc.dir) return false;
    this.#release();
    this.#loc = { ...this.#loc, dir: parent.ino, name };
    return true;
  }

  /**
   * Plain writes into a file whose bytes are in segments join the file's merged commit
   * (file_commits.ts): writers that commit while another commit of the file is in flight
   * share the next map update and CAS instead of racing for it. Null when this commit is
   * not one that merges; the data placed so far is kept for the commit loop.
   */
  async #commitMerged(placed: Placement, started: number): Promise<Stat | null> {
    const plain = this.#ops.length > 0 && this.#ops.every((op) => op.k !== "t");
    if (!this.#mapped || this.#create || this.#ifMatch !== undefined || !plain) return null;
    const dirty = placed.dirty ??= await this.#place();
    try {
      const stat = await commitMerged(this.#ctx, this.#loc, {
        ops: this.#ops as MergeOp[],
        placed: dirty,
        attrs: this.#attrs,
        beforeCommit: this.#beforeCommit,
        started,
      });
      this.#onCommit?.(false);
      return stat;
    } catch (error) {
      if (error instanceof NotMergeable) return null;
      // Replaced or removed meanwhile: the commit loop looks again (see #follow).
      if (this.#follow && isFsError(error, "ESTALE")) return null;
      throw error;
    }
  }

  /**
   * The record this commit builds on: the file's current one, or a fresh one for a file
   * to create. Checks that the name still holds this file and the caller's If-Match.
   */
  #base(entry: Entry | null, record: FileRecord | null): FileRecord {
    // What an optimistic caller decided from: unless the file is as it saw it (checked
    // again by the CAS, which builds on this version), nothing is written.
    if (this.#expect !== undefined) {
      const tag = entry && record ? contentTag(entry.ino, record) : null;
      if (tag !== this.#expect) throw new ChangedError(this.#loc.name);
    }
    if (entry && entry.ino !== this.#loc.ino) {
      const create = this.#create ?? this.#recreate;
      if (create ? create.exclusive : !this.#follow) {
        throw new FsError(this.#create ? "EEXIST" : "ESTALE", "File was replaced", {
          path: this.#loc.name,
        });
      }
      if (entry.t === "d") throw new FsError("EISDIR", "Is a directory");
      if (entry.t !== "f" && entry.t !== "h") {
        throw new FsError("ESTALE", "File was replaced", { path: this.#loc.name });
      }
      this.#loc = { ...this.#loc, ino: entry.ino };
    }
    if (!entry && !this.#create && this.#recreate) {
      // Removed since it was opened: this write creates the file anew, with an inode of
      // its own (the old one's data may be reclaimed).
      this.#create = this.#recreate;
      this.#recreate = null;
      this.#loc = { ...this.#loc, ino: newIno() };
    }
    if (!entry && !this.#create && this.#follow) {
      throw new FsError("ENOENT", "File was removed", { path: this.#loc.name });
    }
    if (!entry && !this.#create) throw new FsError("ESTALE", "File was removed");
    const current: FileRecord = record ??
      { attr: { ...newAttr(this.#ctx, "file", this.#create ?? {}), size: 0 } };
    // Checked against the version this commit builds on; the CAS only succeeds if the
    // file is still at that generation, so the check and the write are one step.
    if (this.#ifMatch !== undefined) {
      const tag = record ? contentTag(this.#loc.ino, current) : null;
      if (tag !== this.#ifMatch) {
        throw new FsError("ESTALE", "The file changed since the version asked for", {
          path: this.#loc.name,
        });
      }
    }
    return current;
  }

  /**
   * Data placement: makes the dirty bytes durable where they go (inline in the record, or
   * a segment, with the old inline bytes of a file outgrowing metadata moved along in the
   * same group commit) and returns the data part of the next record. Writes nothing that
   * names the data: that is {@linkcode #apply}'s CAS.
   */
  async #placeData(
    base: FileRecord,
    ops: readonly PlacedOp[],
    version: { finalSize: number; cv: number },
    placed: Placement,
  ): Promise<FileData> {
    const ctx = this.#ctx;
    const inMemory = this.#dirty ? this.#dirty.inMemory() : new Uint8Array(0);
    if (inMemory && !base.map && !base.mapRef && version.finalSize <= ctx.inlineMax) {
      return this.#applyInline(base, ops, inMemory);
    }
    if (base.data && (placed.inline?.ino !== this.#loc.ino || placed.inline.cv !== version.cv)) {
      // Both go out in the same group commit: one PUT.
      const [dirty, old] = await Promise.all([
        placed.dirty ?? this.#place(),
        ctx.writeback.commit(inlineBytes(base)),
      ]);
      placed.dirty = dirty;
      placed.inline = { ino: this.#loc.ino, cv: version.cv, ...old };
    }
    const dirty = placed.dirty ??= await this.#place();
    const old = placed.inline;
    if (base.mapRef !== undefined && !ops.some((op) => op.k === "t")) {
      // A spilled map stays as it is; the new extents go into its small delta.
      const extents = ops.flatMap((op) =>
        op.k === "w" ? pieceExtents(op.off, op.len, op.pos, dirty) : []
      );
      return await nextData(ctx, base, extents);
    }
    let map: PageMap = base.data && old
      ? writeExtent(EMPTY_MAP, 0, inlineBytes(base).length, old.segment, old.offset)
      : await loadMap(ctx, base);
    if (base.data) map = truncateMap(map, base.attr.size);
    for (const op of ops) {
      map = op.k === "t" ? truncateMap(map, op.size) : writeDirty(map, op, dirty);
    }
    return map.length > ctx.spillExtents ? { mapRef: await ctx.maps.put(map) } : { map };
  }

  /** Makes the dirty bytes durable (in one or more segments; none if there are none). */
  async #place(): Promise<DirtyPiece[]> {
    const dirty = this.#dirty;
    if (!dirty || dirty.size === 0) return [];
    return await dirty.finish();
  }

  #applyInline(base: FileRecord, ops: readonly PlacedOp[], dirty: Uint8Array): FileData {
    let bytes = inlineBytes(base);
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

  async #apply(
    entry: Entry | null,
    gen: number,
    size: number,
    next: FileData,
    late: { started: number; placed: Placement },
  ): Promise<Stat> {
    await this.#beforeCommit?.();
    const ctx = this.#ctx;
    // A commit this late may meet GC: its new data must not be reclaimed under it (see
    // docs/format.md, Garbage collection).
    if (ctx.now() - late.started >= ctx.claimAfterMs) {
      const segments = [
        ...(late.placed.dirty ?? []).map((piece) => piece.segment),
        late.placed.inline?.segment,
      ].filter((ref): ref is string => !!ref);
      const maps = next.mapRef === undefined ? [] : [next.mapRef];
      if (!await claimData(ctx.meta, { segments, maps })) {
        throw new FsError("EIO", "The write stalled so long that its data was reclaimed", {
          path: this.#loc.name,
        });
      }
    }
    const now = ctx.now();
    const attrs = this.#attrs;
    // Only a commit that writes or truncates makes a new content version.
    const writes = this.#ops.length > 0;
    const change = (record: FileRecord) => {
      if ((record.gen ?? 0) !== gen) throw new Conflict();
      return commitData(record, this.#loc.ino, next, {
        size,
        now,
        newContent: writes,
        attrs: [attrs],
      });
    };
    if (entry) {
      try {
        const stat = await updateFile(ctx, this.#loc, change);
        this.#onCommit?.(false);
        return stat;
      } catch (error) {
        // Optimistic: the file is not what the stale copy said; look again (`#base` then
        // tells the caller its view changed).
        if (this.#expect !== undefined && isFsError(error, "ESTALE", "EISDIR")) {
          throw new Conflict();
        }
        // Removed or replaced between the read and the CAS: look again (`#base` decides).
        if (this.#follow && isFsError(error, "ESTALE")) throw new Conflict();
        throw error;
      }
    }
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
    }, { queued: () => this.#release() });
    this.#create = null;
    this.#onCommit?.(true);
    return stat;
  }
}
