/**
 * The types of the metadata records as stored in the bucket (see `docs/format.md`):
 * directory objects and their entries, shards, standalone inodes, the superblock. Their
 * encoding is `meta.ts`'s and their validation `meta_check.ts`'s; import them through
 * `meta.ts`.
 *
 * @module
 */

import type { PageMap } from "./page_map.ts";

export const FORMAT_VERSION = 1;

/**
 * The format version the superblock records (its objects stay `"v": 1`). 2 since session
 * 21: records may spill their xattrs to `x/<id>` (`XattrRef`), which instances before
 * would read as no xattrs and whose objects their GC would not know. They refuse to open a
 * bucket whose superblock says 2, and their fsck and GC find its version wrong and delete
 * nothing; this PageFS opens version 1 and raises it to 2 (docs/format.md, "Upgrading").
 */
export const SUPERBLOCK_VERSION = 2;

/** Superblock versions this PageFS reads (1 is raised to 2 when a service opens it). */
export const READABLE_VERSIONS: readonly number[] = [1, 2];

/** Type bits of `mode`, as in POSIX `st_mode`. */
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;

/** Attributes every inode has. Times are milliseconds since the epoch. */
export interface Attr {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  atime: number;
  mtime: number;
  ctime: number;
  btime: number;
}

/** Extended attributes: name -> value (base64 of the bytes). */
export type Xattrs = Record<string, string>;

/**
 * Xattrs spilled out of a record (since session 21): their values live in the immutable
 * object `x/<id>`, their names stay here with the length of each base64 value, so that
 * listxattr, PROPFIND propname and a listing's accounting need no read. This PageFS writes
 * either `xattr` or `xattrRef`, never both (see `docs/format.md`, "Spilled xattrs").
 */
export interface XattrRef {
  id: string;
  /** Name -> length of its base64 value. */
  sizes: Record<string, number>;
}

/** Where a regular file's bytes are. */
export interface FileData {
  /** Small files: the bytes inline (base64). */
  data?: string;
  /** The page map, inline. */
  map?: PageMap;
  /** Id of a spilled page map object (`m/<id>`). */
  mapRef?: string;
  /**
   * With `mapRef`: the extents written since that map was spilled, as a page map that
   * overlays it (its extents are newer, so they win). Small writes to a fragmented file
   * rewrite only this, not the whole map; past 32 extents it is folded into a new spill.
   */
  delta?: PageMap;
  /**
   * Bumped on every change of where the bytes are: every data commit, and compaction
   * moving them. A commit or a compaction swap checks it (with the ino) in its CAS.
   */
  gen?: number;
  /**
   * Content version: bumped by every commit that writes, appends or truncates, kept by
   * compaction. With the ino it names the content (the ETag). Absent in files written
   * before it existed: then the generation stands in (see {@linkcode contentVersion}).
   */
  cv?: number;
}

/** A file's content version: `cv`, or for a file written before `cv` existed, `gen`. */
export function contentVersion(data: FileData): number {
  return data.cv ?? data.gen ?? 0;
}

/** A regular file whose inode lives in its directory entry. */
export interface FileEntry extends FileData {
  t: "f";
  ino: string;
  attr: Attr;
  xattr?: Xattrs;
  xattrRef?: XattrRef;
}

/** A regular file with more than one link: the inode is `i/<ino>`. */
export interface LinkEntry {
  t: "h";
  ino: string;
}

/** A subdirectory: its attributes are in its own object `d/<ino>`. */
export interface DirEntry {
  t: "d";
  ino: string;
}

export interface SymlinkEntry {
  t: "l";
  ino: string;
  attr: Attr;
  target: string;
  xattr?: Xattrs;
  xattrRef?: XattrRef;
}

/**
 * A cross-directory rename in progress, recorded on the source entry before anything else
 * changes (the intent). Whoever meets it finishes or rolls back the rename first.
 */
export interface Moving {
  /** Unique id of this rename. */
  id: string;
  /** Target directory and name. */
  dir: string;
  name: string;
  /** Inode the target name held when the rename was decided (it is replaced), if any. */
  replaces: string | null;
  /** Whether an existing target may be replaced at all. */
  noReplace: boolean;
  /** When the intent was written (ms): a stale intent is rolled back if not yet applied. */
  at: number;
  /**
   * The removal mark this rename put on the empty directory it replaces: the target is not
   * added if the entry there carries it as its `fence` (the directory was reopened).
   */
  mark?: string;
  /**
   * Whether the renamer put a release intent on the hard-linked inode it replaces, with
   * this rename's `id` and the **source** directory and name (`InodeObject.releases`):
   * then every CAS that removes the source entry notes the proof there, and the replaced
   * link is counted off by that id (see `rename_intent.ts`). False: no intent, and the
   * target may not replace a hard link (it became one since the renamer looked: the
   * rename is taken back and decided again). Absent in intents written before session 20
   * (counted off as before, by whoever removed the source, with no intent).
   */
  release?: boolean;
}

export type Entry = (FileEntry | LinkEntry | DirEntry | SymlinkEntry) & {
  /** Set on a source entry while a cross-directory rename moves it. */
  moving?: Moving;
  /** Set on a target entry by the rename that created it, until the source is cleared. */
  movedFrom?: MovedFrom;
  /**
   * Set on a source entry whose rename (this intent id) was rolled back, and kept by the
   * entry wherever it goes: whoever finds that rename's target later can tell a rollback
   * from another name of the same inode (a hard link) that arrived at the source name.
   */
  rolledBack?: string;
  /**
   * On a hard link's entry: the intent id of the rename that brought it to this name, set
   * when that rename's `movedFrom` mark is cleared and kept by the entry wherever it goes.
   * Its renamer, whose own target write may come after that, tells its target by it from
   * another name of the same file (see `targetHolds` in src/format/rename_intent.ts).
   */
  movedBy?: string;
  /**
   * On a directory's entry: the removal mark last cleared from that directory by someone
   * who took its remover for dead. A rename that marked the directory to replace it may not
   * replace an entry fenced with its mark (see `openDir` in src/vfs/resolve.ts).
   */
  fence?: string;
  /**
   * On a hard-linked file's entry: a request removing this name only while another name of
   * the file still holds it (a WebDAV MOVE between two hard links in two directory
   * objects) marked it here before it looked at that other name. Its removal checks for
   * its mark, so whoever clears the mark (a crossing removal of that other name, or anyone
   * who saw it stay for the removing lease) stops it. See src/vfs/unlink_marks.ts.
   */
  unlinking?: UnlinkMark;
};

/**
 * An unlink mark: its id (`newId`, older first) and where it was put. A mark found on an
 * entry elsewhere (the entry was renamed since) is not a mark of that name: it is ignored.
 */
export interface UnlinkMark {
  id: string;
  dir: string;
  name: string;
}

/** Where a target entry came from, kept until its rename is known to have happened. */
export interface MovedFrom {
  /** The rename's intent id, and the source directory and name. */
  id: string;
  dir: string;
  name: string;
  /** The entry this target replaced: put back if the rename is rolled back. */
  replaced?: Entry;
  /**
   * Unique to the write that added this target (absent in buckets written before it): a
   * settler that judged one target of a rename changes or removes only that one, not a
   * target of the same rename added again, late, by a settler whose copy of the intent
   * was stale (see `rename_intent.ts`).
   */
  tag?: string;
}

/** Reference to one shard of a sharded directory. */
export interface ShardRef {
  /** The shard holds names whose hash has these `depth` leading bits. */
  bits: number;
  depth: number;
  id: string;
}

/**
 * A closed shard of an age-sharded directory (see {@linkcode AgeTable}): it takes no new
 * name, only changes and removals of the names it holds.
 */
export interface ClosedShardRef {
  id: string;
  /**
   * Bloom filter of the names the shard held when it was closed: bit `i` is bit `i % 6` of
   * the value of character `i / 6` in the base64 alphabet (so a look needs no decoding);
   * `k` bits a name (see `_bloom.ts`). A name it holds is never missing from it.
   */
  filter: string;
  k: number;
  /**
   * Set on the halves of a closed shard split for its decoded size (see docs/format.md, "Age
   * shards"): the id of the closed shard they descend from (absent: the shard's own id), and
   * the range of name hashes this part holds within it, as a hash shard's (`ShardRef`:
   * names whose hash's top `depth` bits are `bits`; absent: depth 0, every hash). Listings in
   * hash order go line by line, each line in hash order.
   */
  line?: string;
  bits?: number;
  depth?: number;
}

/**
 * The shard table of an age-sharded directory: new names go only to the `open` shard;
 * a full open shard is closed (its filter added here) and a new empty one opened, so every
 * name lives in exactly one shard (see docs/format.md, "Age shards").
 */
export interface AgeTable {
  closed: ClosedShardRef[];
  open: string;
}

/** A directory object `d/<ino>`. */
export interface DirObject {
  v: number;
  ino: string;
  /** Parent directory's ino (the root is its own parent). */
  parent: string;
  attr: Attr;
  xattr?: Xattrs;
  /** Entries of an unsharded directory. */
  entries?: Record<string, Entry>;
  /** Shard table of a (hash-)sharded directory. */
  shards?: ShardRef[];
  /**
   * Shard table of an age-sharded directory (instead of `entries` or `shards`): instances
   * from before it find neither and refuse the object as corrupt, never misread it.
   */
  ages?: AgeTable;
  /**
   * The removal mark: set by rmdir (or a rename over this empty directory) before it
   * unlinks the directory, which then takes no new entries. A mark id (`newId`); a
   * number (ms) in buckets written before mark ids, compared the same way.
   */
  removing?: string | number;
  /**
   * Set, under the mark it was decided with, once the removal is final (a tombstone):
   * only then may the entry naming the directory go; a tombstone is never reopened.
   */
  removed?: true;
  /** Renames applied here on their renamers' behalf (unsharded directories only). */
  applied?: AppliedRecord[];
  /** Proofs of removals of hard links' names (unsharded directories only). */
  released?: ReleasedRecord[];
}

/**
 * The proof that a removal of a hard link's name happened: written by the CAS that
 * removed the name, in the object that held it, with the id of the removal's intent on the
 * inode (`InodeObject.releases`). Absent in objects written before session 19. See
 * `release.ts`.
 */
export interface ReleasedRecord {
  /** The intent's id, the inode it counts off, and the name that went. */
  id: string;
  ino: string;
  name: string;
  /**
   * Set on the proof of a link() instead (session 20): the name `name` was added, under the
   * link intent `id` on the inode (`InodeObject.links`), whose count is raised by that id.
   */
  link?: true;
}

/**
 * A removal of one name of a hard-linked file under way (`InodeObject.releases`): its
 * count goes down only with a {@linkcode ReleasedRecord} of the same id. See `release.ts`.
 */
export interface ReleaseIntent {
  /** A fresh time-ordered id (`newId`), and the directory and name being removed. */
  id: string;
  dir: string;
  name: string;
}

/**
 * A rename applied on its renamer's behalf: whoever removed its source entry for another's
 * intent noted it in the object that held the entry, for the renamer to read (and drop).
 * Absent in objects written before session 18. See `_dir_applied.ts`.
 */
export interface AppliedRecord {
  /** The intent's id, and the name its source entry had. */
  id: string;
  name: string;
  /** When, on the store's clock at the latest (ms): dropped once a bound older. */
  at: number;
}

/** A shard object `d/<ino>/s/<id>`. */
export interface ShardObject {
  v: number;
  ino: string;
  entries: Record<string, Entry>;
  /** Set once the shard is being split; it then takes no more changes. */
  sealed?: boolean;
  /**
   * Age shards only: set once the shard is full (by the write that fills it, before the
   * table names it closed); it then takes no new name, only changes and removals of the
   * names it holds, for good.
   */
  closed?: true;
  /** Set by rmdir of the (empty) directory, with its mark id: it takes no new entries. */
  removing?: string | boolean;
  /**
   * When an entry of this shard last changed (ms, the writer's clock): a change of entries
   * writes only the shard, so the directory's mtime and ctime are read from here too (see
   * `Directories.attrOf`). Absent in shards written before it existed.
   */
  mtime?: number;
  /** Renames applied here on their renamers' behalf (see `DirObject.applied`). */
  applied?: AppliedRecord[];
  /** Proofs of removals of hard links' names (see `DirObject.released`). */
  released?: ReleasedRecord[];
}

/** A standalone inode `i/<ino>` (a hard-linked file). */
export interface InodeObject extends FileData {
  v: number;
  ino: string;
  attr: Attr;
  nlink: number;
  xattr?: Xattrs;
  xattrRef?: XattrRef;
  /** Removals of its names under way, each lowering `nlink` once with its record. */
  releases?: ReleaseIntent[];
  /**
   * link()s under way (session 20): each names the directory and name it adds, and raises
   * `nlink` once, after its name went in with its proof (a {@linkcode ReleasedRecord} with
   * `link`). See `release.ts`.
   */
  links?: ReleaseIntent[];
}

export interface Superblock {
  magic: "pagefs";
  version: number;
  pageSize: number;
  created: number;
  id: string;
}
