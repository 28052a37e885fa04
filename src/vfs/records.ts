/**
 * File records as the operations share them: where a file's record lives (its entry, or
 * its inode object once hard-linked), loading and changing it by CAS, releasing what a
 * replaced entry held, and the small codecs (base64, xattrs) the records use. Internal to
 * `src/vfs`: operations, the reader and the writer import it; it imports none of them.
 *
 * @module
 */

import {
  type Attr,
  contentVersion,
  CorruptError,
  type Entry,
  type FileData,
  type XattrRef,
  type Xattrs,
} from "../format/meta.ts";
import { releaseEntry } from "../format/rename_intent.ts";
import { type Ctx, PERM_MASK, readInode, statOf } from "./context.ts";
import { FsError } from "./errors.ts";
import type { Stat } from "./types.ts";

/** The part of an inode that file operations change. */
export interface FileRecord extends FileData {
  attr: Attr;
  xattr?: Xattrs;
  xattrRef?: XattrRef;
}

/** Where a record keeps its xattrs: inline, or spilled to `x/<id>` (`XattrRef`). */
export interface XattrHolder {
  xattr?: Xattrs;
  xattrRef?: XattrRef;
}

/**
 * A record's xattrs (names and base64 values): inline, or read from their spilled object
 * (immutable: kept in the instance's cache unless `keep` is false, see `XattrValues.get`).
 * @throws {FsError} EIO when the spilled object is missing or corrupt.
 */
export async function recordXattrs(
  ctx: Ctx,
  record: Readonly<XattrHolder>,
  options: { keep?: boolean } = {},
): Promise<Xattrs> {
  const ref = record.xattrRef;
  if (!ref) return record.xattr ?? {};
  let values: Xattrs | null;
  try {
    values = await ctx.xattrs.get(ref.id, options);
  } catch (error) {
    // Corrupt: lost as a missing one is (EIO), also where a caller takes other errors for
    // an entry gone meanwhile (a listing's members, `ops/readdir.ts`).
    if (!(error instanceof CorruptError)) throw error;
    throw new FsError("EIO", `The xattr values ${ref.id} are corrupt: ${error.message}`);
  }
  if (!values) throw new FsError("EIO", `The xattr values ${ref.id} are missing`);
  // Inline ones beside the reference: only an instance from before spilling writes them
  // (docs/format.md, "Spilled xattrs"); read over the spilled ones, so nothing is lost.
  return record.xattr ? { ...values, ...record.xattr } : values;
}

/** A record's xattr names, without reading spilled values. */
export function xattrNames(record: Readonly<XattrHolder>): string[] {
  if (!record.xattrRef) return Object.keys(record.xattr ?? {});
  return [...new Set([...Object.keys(record.xattrRef.sizes), ...Object.keys(record.xattr ?? {})])];
}

/** Where a file is: the entry `name` of directory `dir`, for inode `ino`. */
export interface FileLoc {
  readonly dir: string;
  readonly name: string;
  readonly ino: string;
}

class Linked extends Error {}

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
/**
 * A commit of file bytes applied to `record` (checked by the caller to be the generation it
 * built on): its data becomes `next`, the generation moves on, the content version too when
 * the bytes changed, and the size, times and attribute changes are set.
 */
export function commitData(
  record: FileRecord,
  ino: string,
  next: FileData,
  commit: {
    readonly size: number;
    readonly now: number;
    readonly newContent: boolean;
    readonly attrs: readonly (AttrChanges | null)[];
  },
): Stat {
  const cv = contentVersion(record);
  delete record.data;
  delete record.map;
  delete record.mapRef;
  delete record.delta;
  Object.assign(record, next);
  record.gen = (record.gen ?? 0) + 1;
  record.cv = commit.newContent ? cv + 1 : cv;
  record.attr.size = commit.size;
  record.attr.mtime = record.attr.ctime = Math.max(commit.now, record.attr.mtime);
  for (const attrs of commit.attrs) if (attrs) applyAttrChanges(record.attr, attrs);
  return statOf(ino, "file", record.attr, {
    data: record,
    nlink: (record as { nlink?: number }).nlink ?? 1,
  });
}

export function applyAttrChanges(attr: Attr, changes: AttrChanges): void {
  if (changes.mode !== undefined) attr.mode = (attr.mode & ~PERM_MASK) | changes.mode;
  if (changes.uid !== undefined) attr.uid = changes.uid;
  if (changes.gid !== undefined) attr.gid = changes.gid;
  if (changes.atime !== undefined) attr.atime = changes.atime;
  if (changes.mtime !== undefined) attr.mtime = changes.mtime;
}

/** A file's current record (from its entry, or its inode object when hard-linked). */
export async function loadRecord(ctx: Ctx, entry: Entry): Promise<FileRecord & { nlink: number }> {
  if (entry.t === "f") return { ...entry, nlink: 1 };
  if (entry.t !== "h") throw new FsError("EISDIR", "Not a regular file");
  return await readInode(ctx, entry.ino);
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

export function inlineBytes(record: FileData): Uint8Array {
  return record.data ? fromBase64(record.data) : new Uint8Array(0);
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

/** Standard base64 (inline data, xattr values), natively: no string of one char per byte. */
export function toBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

export function fromBase64(text: string): Uint8Array {
  return Uint8Array.fromBase64(text);
}

/**
 * Releases what an entry that was just unlinked or replaced held (`releaseEntry`: a marked,
 * empty directory's object, or one link of a hard-linked inode). File data is left to GC.
 */
export async function dropReplaced(ctx: Ctx, entry: Entry | null): Promise<void> {
  await releaseEntry(ctx, entry);
}

/** The extended attributes of a directory entry, reading the object that holds them. */
export async function entryXattrs(ctx: Ctx, entry: Entry): Promise<Record<string, Uint8Array>> {
  switch (entry.t) {
    case "d":
      return decodeXattrs((await ctx.dirs.get(entry.ino))?.value.xattr ?? {});
    case "h":
      return decodeXattrs(await recordXattrs(ctx, await loadRecord(ctx, entry)));
    default:
      return decodeXattrs(await recordXattrs(ctx, entry));
  }
}

export function decodeXattrs(xattr: Xattrs): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  for (const [name, value] of Object.entries(xattr)) {
    Object.defineProperty(out, name, { value: fromBase64(value), enumerable: true });
  }
  return out;
}
