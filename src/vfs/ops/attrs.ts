// Attributes: getattr, setattr (chmod, chown, truncate, utimes), extended attributes, statfs.

import { ROOT_INO } from "../../format/keys.ts";
import { isSharded } from "../../format/dir.ts";
import type { Attr, DirObject, Entry, FileData, Xattrs } from "../../format/meta.ts";
import { type Ctx, dirStat, dirStatOf, entryStat, PERM_MASK, statOf } from "../context.ts";
import { FsError } from "../errors.ts";
import {
  applyAttrChanges,
  type AttrChanges,
  decodeXattrs,
  fromBase64,
  loadRecord,
  recordXattrs,
  toBase64,
  updateFile,
  type XattrHolder,
  xattrNames,
} from "../records.ts";
import { FileHandle } from "../writer.ts";
import { changeXattrs, type XattrRecord, type XattrTarget } from "../xattr_change.ts";
import { cachedDir, checkScope, locate, openDir, type Optimistic } from "../resolve.ts";
import { splitPath } from "../path.ts";
import type { SetAttr, Stat, StatFs } from "../types.ts";

/** The attributes of `path`; `follow` follows a final symlink (stat vs lstat). */
export async function getattr(
  ctx: Ctx,
  path: string,
  follow = false,
  options: Optimistic = {},
): Promise<Stat> {
  const stat = await statOrNull(ctx, path, follow, options);
  if (!stat) throw new FsError("ENOENT", "No such file or directory", { path });
  return stat;
}

/**
 * As {@linkcode getattr}, but null when the last name of `path` is absent from its
 * directory (a missing directory on the way still throws ENOENT): a write that creates a
 * file looks first, and an error built (with its stack) and caught per create showed in
 * the profile.
 */
export async function statOrNull(
  ctx: Ctx,
  path: string,
  follow = false,
  options: Optimistic = {},
): Promise<Stat | null> {
  // A directory resolved before: its own object says it all (one round trip, two GETs).
  const names = splitPath(path);
  checkScope(ctx, names, path);
  const known = await cachedDir(ctx, names, options);
  if (known) return await dirStatOf(ctx, known, options);
  const { parent, entry } = await locate(ctx, path, { follow, ...options });
  if (!parent) return await dirStatOf(ctx, await openDir(ctx, ROOT_INO, path));
  if (!entry) return null;
  return await entryStat(ctx, entry);
}

function checkAttrs(changes: SetAttr, path: string): void {
  const bad = (v: number | undefined, max: number) =>
    v !== undefined && (!Number.isSafeInteger(v) || v < 0 || v > max);
  if (bad(changes.mode, PERM_MASK)) throw new FsError("EINVAL", "Invalid mode", { path });
  if (bad(changes.uid, 0xffffffff) || bad(changes.gid, 0xffffffff)) {
    throw new FsError("EINVAL", "Invalid owner", { path });
  }
  if (bad(changes.atime, 8.64e15) || bad(changes.mtime, 8.64e15)) {
    throw new FsError("EINVAL", "Invalid time", { path });
  }
  if (changes.size !== undefined && (!Number.isSafeInteger(changes.size) || changes.size < 0)) {
    throw new FsError("EINVAL", "Invalid size", { path });
  }
}

function applyAttrs(attr: Attr, changes: AttrChanges, now: number): void {
  applyAttrChanges(attr, changes);
  attr.ctime = now;
}

/** Changes attributes; a size change truncates or extends the file (with a hole). */
export async function setattr(
  ctx: Ctx,
  path: string,
  changes: SetAttr,
  options: { ifMatch?: string | readonly string[] } = {},
): Promise<Stat> {
  checkAttrs(changes, path);
  const found = await locate(ctx, path, { follow: true });
  const { parent, entry } = found;
  if (!parent || entry?.t === "d") {
    if (changes.size !== undefined) throw new FsError("EISDIR", "Is a directory", { path });
    const ino = entry?.ino ?? ROOT_INO;
    const done = await ctx.dirs.updateSelf(ino, (dir) => {
      applyAttrs(dir.attr, changes, ctx.now());
      return isSharded(dir) ? null : dirStat(dir);
    });
    // A sharded directory's stat takes its shards' attributes too: read after.
    return done ?? await dirStatOf(ctx, await openDir(ctx, ino, path));
  }
  if (!entry) throw new FsError("ENOENT", "No such file or directory", { path });
  const { size, ...rest } = changes;
  if (size !== undefined) {
    // The size and the other attributes change in one CAS: no reader sees one without
    // the other, and a crash cannot leave half of it.
    if (entry.t === "l") throw new FsError("EINVAL", "Not a regular file", { path });
    // By path, one outcome: a file replaced meanwhile is the one cut (unless `ifMatch`
    // pins the version), one removed is ENOENT. Before: ESTALE.
    const handle = await FileHandle.open(ctx, path, { attrs: rest, ...options, recreate: true });
    handle.truncate(size);
    return await handle.fsync();
  }
  const done = await relocating(async (again) => {
    // Again after the entry was replaced or removed: as a chmod after that change.
    const at = again ? await locate(ctx, path, { follow: true }) : found;
    const entry = at.entry;
    if (!entry || !at.parent) throw new FsError("ENOENT", "No such file or directory", { path });
    return await updateRecord(ctx, at.parent.ino, at.name, entry, (record) => {
      applyAttrs(record.attr, rest, ctx.now());
      return changedStat(entry, record);
    });
  });
  return done ?? await getattr(ctx, path, true);
}

/**
 * The stat of a record as the commit that changed it left it, so that a chmod answers
 * what it set, not what a later change made of it (protocol fuzz ext seed 21085: two
 * chmods of a hard-linked file at once, the first answered with the second's mode, read
 * after its commit). Null for a directory, whose stat is read after.
 */
function changedStat(entry: Entry, record: { attr: Attr } & FileData): Stat | null {
  if (entry.t === "l") return statOf(entry.ino, "symlink", record.attr, { target: entry.target });
  if (entry.t === "d") return null;
  const nlink = (record as { nlink?: number }).nlink ?? 1;
  return statOf(entry.ino, "file", record.attr, { data: record, nlink });
}

/** Changes the attribute-holding record of any entry (file, hard-linked file, symlink). */
async function updateRecord<R>(
  ctx: Ctx,
  dir: string,
  name: string,
  entry: Entry,
  op: (record: XattrRecord) => R,
): Promise<R> {
  if (entry.t === "d") return ctx.dirs.updateSelf(entry.ino, op);
  if (entry.t === "l") {
    return ctx.dirs.update(dir, [name], (draft) => {
      const current = draft.get(name);
      if (current?.ino !== entry.ino || current.t !== "l") {
        throw new FsError("ESTALE", "Symlink was replaced", { path: name });
      }
      const result = op(current);
      draft.set(name, current);
      return result;
    }, { touch: false });
  }
  return updateFile(ctx, { dir, name, ino: entry.ino }, op);
}

/**
 * Runs `step` again (twice at most) when the entry it located was replaced or removed
 * before its commit (ESTALE): a change by path then acts on what the path names at that
 * moment, or fails with ENOENT, as if it came after the other change. Before, a chmod or
 * xattr change racing a DELETE or a rename over the file failed with ESTALE (412 through
 * WebDAV, 409 through the API), which no order of the two explains.
 */
async function relocating<R>(step: (again: boolean) => Promise<R>): Promise<R> {
  for (let attempt = 0;; attempt++) {
    try {
      return await step(attempt > 0);
    } catch (error) {
      if (attempt >= 2 || !(error instanceof FsError) || error.code !== "ESTALE") throw error;
    }
  }
}

const XATTR_VALUE_MAX = 64 * 1024;

function checkXattrName(name: string, path: string): void {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0 || bytes > 255 || name.includes("\0")) {
    throw new FsError(bytes > 255 ? "ERANGE" : "EINVAL", "Invalid attribute name", { path });
  }
}

/** The record an xattr operation reads: its xattrs inline, or spilled (`XattrRef`). */
async function readHolder(ctx: Ctx, path: string): Promise<XattrHolder> {
  const names = splitPath(path);
  checkScope(ctx, names, path);
  const known = await cachedDir(ctx, names);
  if (known) return known;
  return await (await target(ctx, path)).read();
}

/** The xattrs of `path`, spilled values read (see getattr for a directory resolved before). */
async function readXattrs(ctx: Ctx, path: string): Promise<Xattrs> {
  return await recordXattrs(ctx, await readHolder(ctx, path));
}

/** Where an xattr operation acts: the record holding `path`'s attributes. */
async function target(ctx: Ctx, path: string): Promise<XattrTarget> {
  const { parent, name, entry } = await locate(ctx, path);
  if (!parent) {
    return {
      /** Directories keep their own xattrs inline (one object each: never spilled). */
      spills: false,
      read: async (): Promise<XattrHolder> => await openDir(ctx, ROOT_INO, path),
      update: <R>(op: (r: XattrRecord) => R) => ctx.dirs.updateSelf(ROOT_INO, op),
      statOf: (record: { attr: Attr }) => selfStat(record as DirObject),
    };
  }
  if (!entry) throw new FsError("ENOENT", "No such file or directory", { path });
  return {
    spills: entry.t !== "d",
    read: async (): Promise<XattrHolder> => {
      if (entry.t === "d") return await openDir(ctx, entry.ino, path);
      if (entry.t === "h") return await loadRecord(ctx, entry);
      return entry;
    },
    update: <R>(op: (r: XattrRecord) => R) => updateRecord(ctx, parent.ino, name, entry, op),
    /** The stat as the change left `record` (null: read it after, see `selfStat`). */
    statOf: (record: { attr: Attr }) =>
      entry.t === "d" ? selfStat(record as DirObject) : changedStat(entry, record),
  };
}

/** A directory's stat from its own object; null when its shards' times count (read after). */
function selfStat(dir: DirObject): Stat | null {
  return isSharded(dir) ? null : dirStat(dir);
}

export async function getxattr(ctx: Ctx, path: string, name: string): Promise<Uint8Array> {
  checkXattrName(name, path);
  const holder = await readHolder(ctx, path);
  // A name absent from a spilled record is known without reading its values.
  if (!xattrNames(holder).includes(name)) {
    throw new FsError("ENODATA", `No attribute "${name}"`, { path });
  }
  const xattr = await recordXattrs(ctx, holder);
  if (!Object.hasOwn(xattr, name)) throw new FsError("EIO", `Attribute "${name}" lost`, { path });
  return fromBase64(xattr[name]!);
}

/** All extended attributes of `path` at once (one read of the record holding them). */
export async function getxattrs(ctx: Ctx, path: string): Promise<Record<string, Uint8Array>> {
  return decodeXattrs(await readXattrs(ctx, path));
}

/** The names of `path`'s xattrs: spilled values are not read. */
export async function listxattr(ctx: Ctx, path: string): Promise<string[]> {
  return xattrNames(await readHolder(ctx, path)).sort();
}

/** Changes the xattrs of `path` by `change` (see `changeXattrs`), again if it was replaced. */
function changeAt<R>(
  ctx: Ctx,
  path: string,
  change: (xattr: Xattrs) => void,
  answer: (record: XattrRecord, statOf: (record: { attr: Attr }) => Stat | null) => R,
): Promise<R> {
  return relocating((again) =>
    changeXattrs(ctx, path, { again, target: () => target(ctx, path), change, answer })
  );
}

/** Sets `name` to `value` in `xattr` (a plain own property, whatever the name). */
function put(xattr: Xattrs, name: string, value: string): void {
  Object.defineProperty(xattr, name, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/**
 * Sets one extended attribute. Answers the stat as its commit left the record, as setattr
 * does: a look after the commit may find the name removed meanwhile, and a change that
 * happened must not be answered ENOENT (protocol fuzz ext seed 60002 with a small metadata
 * cache: the HTTP API's answer looked the path up again, the version it had read evicted).
 */
export async function setxattr(
  ctx: Ctx,
  path: string,
  name: string,
  value: Uint8Array,
  flags: { create?: boolean; replace?: boolean } = {},
): Promise<Stat> {
  checkXattrName(name, path);
  if (value.length > XATTR_VALUE_MAX) {
    throw new FsError("ERANGE", `Attribute values are limited to ${XATTR_VALUE_MAX} bytes`, {
      path,
    });
  }
  const encoded = toBase64(value);
  const done = await changeAt(ctx, path, (xattr) => {
    const exists = Object.hasOwn(xattr, name);
    if (flags.create && exists) throw new FsError("EEXIST", "Attribute exists", { path });
    if (flags.replace && !exists) throw new FsError("ENODATA", "No such attribute", { path });
    put(xattr, name, encoded);
  }, (record, statOf) => statOf(record));
  return done ?? await getattr(ctx, path);
}

/**
 * Sets and removes several attributes in one atomic change: all of them or, on any error,
 * none. Removing an attribute that is not there is not an error.
 */
export async function updatexattrs(
  ctx: Ctx,
  path: string,
  changes: { set?: Readonly<Record<string, Uint8Array>>; remove?: readonly string[] },
): Promise<void> {
  const set = Object.entries(changes.set ?? {});
  for (const [name, value] of set) {
    checkXattrName(name, path);
    if (value.length > XATTR_VALUE_MAX) {
      throw new FsError("ERANGE", `Attribute values are limited to ${XATTR_VALUE_MAX} bytes`, {
        path,
      });
    }
  }
  for (const name of changes.remove ?? []) checkXattrName(name, path);
  const encoded = set.map(([name, value]) => [name, toBase64(value)] as const);
  await changeAt(ctx, path, (xattr) => {
    for (const name of changes.remove ?? []) delete xattr[name];
    for (const [name, value] of encoded) put(xattr, name, value);
  }, () => undefined);
}

/** Removes one extended attribute; answers the stat as {@linkcode setxattr} does. */
export async function removexattr(ctx: Ctx, path: string, name: string): Promise<Stat> {
  checkXattrName(name, path);
  const done = await changeAt(ctx, path, (xattr) => {
    if (!Object.hasOwn(xattr, name)) {
      throw new FsError("ENODATA", `No attribute "${name}"`, { path });
    }
    delete xattr[name];
  }, (record, statOf) => statOf(record));
  return done ?? await getattr(ctx, path);
}

/** Filesystem statistics. S3 has no capacity limit; used bytes are counted from segments. */
export async function statfs(ctx: Ctx): Promise<StatFs> {
  const now = ctx.now();
  let usage = ctx.usage.last;
  if (!usage || now - usage.at > 60_000) {
    usage = ctx.usage.last = { at: now, ...await ctx.segments.usage() };
  }
  const blockSize = 4096;
  const blocks = 2 ** 40; // 4 PiB: object storage has no fixed capacity
  const used = Math.ceil(usage.bytes / blockSize);
  return {
    blockSize,
    blocks,
    blocksFree: blocks - used,
    files: 2 ** 32,
    filesFree: 2 ** 32 - usage.objects,
    nameMax: 255,
    usedBytes: usage.bytes,
  };
}
