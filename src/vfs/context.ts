// What every VFS operation works with, and the conversions they share. Not public.

import { MemoryBudget } from "../cache/budget.ts";
import { PageCache } from "../cache/page_cache.ts";
import type { DiskCache } from "../cache/disk_cache.ts";
import { RangeStreams } from "../cache/range_stream.ts";
import { Writeback } from "../cache/writeback.ts";
import { ContentionError, MetaStore } from "../format/cas.ts";
import { Directories, DirectoryGone, type DirLimits, isSharded, ShardFull } from "../format/dir.ts";
import { Inodes } from "../format/inodes.ts";
import { PageMaps } from "../format/page_maps.ts";
import { XATTR_SPILL_BYTES, XattrValues } from "../format/xattr_values.ts";
import { Segments, type SegmentUsage } from "../format/segments.ts";
import {
  type Attr,
  contentVersion,
  CorruptError,
  type DirObject,
  type Entry,
  type FileData,
  type FileEntry,
  type InodeObject,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
  type SymlinkEntry,
} from "../format/meta.ts";
import { type ObjectStore, StoreError } from "../store/types.ts";
import { FsError } from "./errors.ts";
import type { FileType, Stat } from "./types.ts";
import { linksOf, settleLinks } from "../format/release.ts";

/** A directory path resolved earlier: the ino it led to, and the epoch it was resolved in. */
export interface Chain {
  readonly ino: string;
  readonly ns: number;
  /** When it was resolved, by this instance's clock. */
  readonly at: number;
}

/** How long an instance waits on a removal mark it keeps seeing (`VfsOptions.removingLeaseMs`). */
export const REMOVING_LEASE_MS = 30_000;

export interface VfsOptions {
  /** Page cache budget in bytes (default 64 MiB), part of `memoryBytes`. */
  readonly cacheBytes?: number;
  /**
   * Estimated memory of the metadata versions kept for revalidation (default 64 MiB,
   * `MetaStore`'s `cacheBytes`): apart from `memoryBytes`, which counts buffered bytes.
   */
  readonly metaCacheBytes?: number;
  /**
   * The longest JSON one metadata object read may decode to (default 32 MiB, `MetaStore`'s
   * `decodeBytes`); a longer one is refused (EIO) instead of inflated.
   */
  readonly metaDecodeBytes?: number;
  /**
   * The one budget for all bytes this instance buffers: cached blocks, dirty data, part
   * buffers of uploads, GET buffers (default 64 MiB; at least 4 parts). When it is spent,
   * writers wait (a request body is not read further) and the cache evicts.
   */
  readonly memoryBytes?: number;
  /** Most multipart parts per segment (default 10,000, S3's limit); a write rolls over. */
  readonly maxParts?: number;
  /** Files up to this size keep their bytes in metadata (default 1 KiB). */
  readonly inlineMax?: number;
  /** Page maps with more extents are stored as their own object (default 64). */
  readonly spillExtents?: number;
  /**
   * A file's or symlink's xattrs of more than this many bytes (names and base64 values)
   * are stored as their own object (default `XATTR_SPILL_BYTES`, 1 KiB; `Infinity` keeps
   * them inline as instances before session 21 did: tests make such folders with it).
   */
  readonly xattrSpillBytes?: number;
  /** Multipart part size for large writes (default 8 MiB). */
  readonly partSize?: number;
  /**
   * The disk tier under the page cache (opt-in): whole blocks of segments that large reads
   * streamed, kept on local disk. One per process (it owns its directory).
   */
  readonly diskCache?: DiskCache | null;
  /** Largest readahead window for sequential reads (default 16 MiB). */
  readonly readaheadMax?: number;
  /** Directory sharding limits. */
  readonly dirLimits?: Partial<DirLimits>;
  /** Clock, replaceable in tests. */
  readonly now?: () => number;
  /** Largest file size (default 2^50 bytes). */
  readonly maxFileSize?: number;
  /**
   * A directory this instance has seen carrying the same removal mark for this long, by
   * its own clock (an rmdir that died halfway), is opened again (default 30 s: longer
   * than any rmdir takes). A stalled rmdir that comes back later fails: see dir.ts.
   */
  readonly removingLeaseMs?: number;
  /**
   * A commit that reaches its metadata CAS this long after it began (by this instance's
   * clock) first takes its new segments and maps out of GC's pending set, and fails (EIO)
   * if GC reclaimed them meanwhile, rather than name missing data (default 60 s: far
   * below GC's grace of 10 minutes, far above any commit that is not stalled).
   */
  readonly claimAfterMs?: number;
  /** Told about each group commit: how many writes shared one segment, and its bytes. */
  readonly onGroupCommit?: (writes: number, bytes: number) => void;
}

export interface Ctx {
  readonly store: ObjectStore;
  readonly meta: MetaStore;
  readonly dirs: Directories;
  /** Inode objects of hard-linked files. */
  readonly inodes: Inodes;
  /** Spilled page maps, with this instance's cache of them. */
  readonly maps: PageMaps;
  /** Spilled xattr values (`x/<id>`), with this instance's cache of them. */
  readonly xattrs: XattrValues;
  /** Segment objects, for reads that bypass the page cache. */
  readonly segments: Segments;
  readonly cache: PageCache;
  /** Large reads: look-ahead ranged GETs and the disk tier. */
  readonly ranges: RangeStreams;
  readonly writeback: Writeback;
  /** The budget of every byte this instance buffers. */
  readonly memory: MemoryBudget;
  readonly inlineMax: number;
  readonly spillExtents: number;
  readonly xattrSpillBytes: number;
  readonly partSize: number;
  readonly readaheadMax: number;
  readonly maxFileSize: number;
  readonly removingLeaseMs: number;
  readonly claimAfterMs: number;
  /** Removal marks met, by `<ino> <mark>`: when this instance first saw each (own clock). */
  readonly marksSeen: Map<string, number>;
  /** Directory paths resolved earlier (names joined by "/"), for cached resolution. */
  readonly chains: Map<string, Chain>;
  readonly now: () => number;
  /**
   * The names of the subtree every path must stay inside, symlinks followed included
   * (empty: the whole filesystem). See `Vfs.scoped`.
   */
  readonly scope: readonly string[];
  /**
   * Names at the root that the server keeps for itself (`Vfs.hide`): listings leave them
   * out and no symlink leads into them. Shared by every view of one filesystem.
   */
  readonly hidden: Set<string>;
  /** Per inode: where the last read ended and the current readahead window. */
  readonly readahead: Map<string, { end: number; window: number }>;
  /** Segment bytes and count as last counted for `statfs`, and when (own clock). */
  readonly usage: { last: (SegmentUsage & { at: number }) | null };
  /** Per file: the writes waiting for its next merged commit (file_commits.ts owns them). */
  readonly fileCommits: Map<string, { readonly queue: unknown[]; running: boolean }>;
  /** Per path: the last xattr change made again in turn (xattr_change.ts owns them). */
  readonly xattrTurns: Map<string, Promise<void>>;
}

export function createCtx(store: ObjectStore, options: VfsOptions = {}): Ctx {
  const meta = new MetaStore(store, {
    ...(options.metaCacheBytes ? { cacheBytes: options.metaCacheBytes } : {}),
    ...(options.metaDecodeBytes ? { decodeBytes: options.metaDecodeBytes } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  const partSize = options.partSize ?? 8 << 20;
  const memoryBytes = options.memoryBytes ?? 64 << 20;
  if (!Number.isSafeInteger(memoryBytes) || memoryBytes < 4 * partSize) {
    throw new RangeError(`The memory budget must be at least 4 parts (${4 * partSize} bytes)`);
  }
  const memory = new MemoryBudget(memoryBytes);
  const cache = new PageCache(store, {
    budgetBytes: Math.min(options.cacheBytes ?? 64 << 20, memoryBytes),
    budget: memory,
  });
  return {
    store,
    meta,
    dirs: new Directories(meta, options.dirLimits ?? {}, options.now ?? Date.now),
    inodes: new Inodes(meta),
    maps: new PageMaps(store),
    xattrs: new XattrValues(store),
    segments: new Segments(store),
    cache,
    ranges: new RangeStreams(store, { budget: memory, disk: options.diskCache ?? null }),
    memory,
    writeback: new Writeback(store, cache, {
      budget: memory,
      ...(options.partSize ? { partSize: options.partSize } : {}),
      ...(options.maxParts ? { maxParts: options.maxParts } : {}),
      ...(options.onGroupCommit ? { onGroupCommit: options.onGroupCommit } : {}),
    }),
    inlineMax: options.inlineMax ?? 1024,
    partSize,
    spillExtents: options.spillExtents ?? 64,
    xattrSpillBytes: options.xattrSpillBytes ?? XATTR_SPILL_BYTES,
    readaheadMax: options.readaheadMax ?? 16 << 20,
    maxFileSize: options.maxFileSize ?? 2 ** 50,
    removingLeaseMs: options.removingLeaseMs ?? REMOVING_LEASE_MS,
    claimAfterMs: options.claimAfterMs ?? 60_000,
    marksSeen: new Map(),
    chains: new Map(),
    now: options.now ?? Date.now,
    scope: [],
    hidden: new Set(),
    readahead: new Map(),
    usage: { last: null },
    fileCommits: new Map(),
    xattrTurns: new Map(),
  };
}

export const PERM_MASK = 0o7777;

/** Fresh attributes for a new inode. */
export function newAttr(
  ctx: Ctx,
  type: FileType,
  options: { mode?: number; uid?: number; gid?: number; size?: number },
): Attr {
  const now = ctx.now();
  const fallback = type === "directory" ? 0o755 : type === "symlink" ? 0o777 : 0o644;
  const typeBits = type === "directory" ? S_IFDIR : type === "symlink" ? S_IFLNK : S_IFREG;
  return {
    mode: typeBits | ((options.mode ?? fallback) & PERM_MASK),
    uid: options.uid ?? 0,
    gid: options.gid ?? 0,
    size: options.size ?? 0,
    atime: now,
    mtime: now,
    ctime: now,
    btime: now,
  };
}

/** A short stable hash (53 bits, hex) for ETags. */
export function hash53(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(16);
}

/**
 * ETag of a file's content: its inode and content version. Every commit that changes the
 * bytes or the size bumps the version (so the tag changes with any write, a small one to
 * a spilled map included), and nothing else does (chmod, xattrs, times, and compaction
 * moving the bytes keep it). Two files never share a tag: inos are unique.
 */
export function contentTag(ino: string, data: FileData): string {
  return `${ino.slice(-8)}-${hash53(JSON.stringify([ino, contentVersion(data)]))}`;
}

export function statOf(
  ino: string,
  type: FileType,
  attr: Attr,
  options: { nlink?: number; data?: FileData; target?: string },
): Stat {
  const etag = type === "file"
    ? contentTag(ino, options.data ?? {})
    : `${ino.slice(-8)}-${hash53(JSON.stringify([attr.mtime, attr.size, options.target ?? ""]))}`;
  return {
    ino,
    type,
    mode: attr.mode & PERM_MASK,
    uid: attr.uid,
    gid: attr.gid,
    size: type === "symlink" ? new TextEncoder().encode(options.target ?? "").length : attr.size,
    nlink: options.nlink ?? 1,
    atime: attr.atime,
    mtime: attr.mtime,
    ctime: attr.ctime,
    btime: attr.btime,
    etag,
  };
}

/**
 * A directory's stat from its object alone: exact for an unsharded one; for a sharded one
 * use {@linkcode dirStatOf}, whose times include changes of entries in its shards.
 */
export function dirStat(dir: DirObject): Stat {
  return statOf(dir.ino, "directory", dir.attr, { nlink: 2 });
}

/**
 * A directory's stat, its shards' times included (see `Directories.attrOf`). Optimistic
 * (a caller that decides from cached copies what a later CAS checks, such as whether the
 * parent of a file to create is a directory): the shards' times as cached, without a GET
 * of each; such a caller never answers with these times.
 */
export async function dirStatOf(
  ctx: Ctx,
  dir: DirObject,
  options: { optimistic?: boolean } = {},
): Promise<Stat> {
  if (!isSharded(dir)) return dirStat(dir);
  const attr = await ctx.dirs.attrOf(dir, options.optimistic ? { cached: true } : { recent: true });
  return statOf(dir.ino, "directory", attr, { nlink: 2 });
}

export function inodeStat(inode: InodeObject): Stat {
  return statOf(inode.ino, "file", inode.attr, { nlink: inode.nlink, data: inode });
}

/**
 * Stats of frozen entries, by the entry object. A directory version shares its unchanged
 * entries with the versions before it, frozen once encoded (see `memberOf` in meta.ts), and
 * a change puts a new entry object in place: a listing of thousands computes the stats of
 * what changed only.
 */
const inlineStats = new WeakMap<object, Stat>();

/** The stat of a file or symlink entry, which holds its attributes. */
export function inlineStat(entry: FileEntry | SymlinkEntry): Stat {
  const kept = inlineStats.get(entry);
  if (kept) return kept;
  const stat = entry.t === "f"
    ? statOf(entry.ino, "file", entry.attr, { data: entry })
    : statOf(entry.ino, "symlink", entry.attr, { target: entry.target });
  if (Object.isFrozen(entry)) inlineStats.set(entry, Object.freeze(stat));
  return stat;
}

/** The stat of an entry, loading the object that holds its attributes if needed. */
export async function entryStat(ctx: Ctx, entry: Entry): Promise<Stat> {
  switch (entry.t) {
    case "f":
    case "l":
      return inlineStat(entry);
    case "d": {
      const dir = await ctx.dirs.get(entry.ino, { recent: true });
      if (!dir) throw new FsError("ENOENT", "Directory was removed");
      return await dirStatOf(ctx, dir.value);
    }
    case "h": {
      const inode = await readInode(ctx, entry.ino);
      return inodeStat(inode);
    }
  }
}

/**
 * The inode object of hard-linked file `ino`. A link() met in flight, or cut short, after
 * its name went in has its count raised first (once, by its id: `settleLinks`), so that no
 * stat shows a count lower than the names the file has.
 */
export async function readInode(ctx: Ctx, ino: string): Promise<InodeObject> {
  let found = await ctx.inodes.get(ino);
  if (found && linksOf(found.value).length > 0 && await settleLinks(ctx, ino)) {
    found = await ctx.meta.inNewScope(() => ctx.inodes.get(ino));
  }
  if (!found) throw new FsError("ENOENT", "File was removed");
  return found.value;
}

/**
 * Translates errors from the layers below into {@linkcode FsError}: the one place where
 * store and format errors become errno codes.
 */
export function toFsError(error: unknown, path?: string): FsError {
  if (error instanceof FsError) return error;
  const where = path === undefined ? {} : { path };
  if (error instanceof DirectoryGone) {
    return new FsError("ENOENT", "Directory was removed", { ...where, cause: error });
  }
  if (error instanceof ShardFull) {
    return new FsError("ENOSPC", "No room for more names of this hash in the folder", {
      ...where,
      cause: error,
    });
  }
  if (error instanceof ContentionError) {
    return new FsError("EAGAIN", "Too many concurrent changes, try again", {
      ...where,
      cause: error,
    });
  }
  if (error instanceof CorruptError) return new FsError("EIO", error.message, { ...where });
  if (error instanceof StoreError) {
    const code = error.kind === "throttled" || error.kind === "transient" ||
        error.kind === "unavailable"
      ? "EAGAIN"
      : "EIO";
    return new FsError(code, `Object store failed: ${error.message}`, { ...where, cause: error });
  }
  return new FsError("EIO", `Internal error: ${(error as Error)?.message ?? error}`, {
    ...where,
    cause: error,
  });
}
