/** The values VFS operations take and return. @module */

export type FileType = "file" | "directory" | "symlink";

/** What `stat` says about a file, directory or symlink. Times are ms since the epoch. */
export interface Stat {
  /** Stable identity of the inode (16 hex digits). */
  readonly ino: string;
  readonly type: FileType;
  /** Permission bits (0o7777); the type is in `type`. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly nlink: number;
  readonly atime: number;
  readonly mtime: number;
  readonly ctime: number;
  readonly btime: number;
  /** Changes whenever the content changes and only then: a strong HTTP ETag. */
  readonly etag: string;
}

export interface DirEntryInfo {
  readonly name: string;
  readonly stat: Stat;
  /** The entry's extended attributes, when the listing asked for them. */
  readonly xattrs?: Readonly<Record<string, Uint8Array>>;
}

export interface ReaddirPage {
  readonly entries: readonly DirEntryInfo[];
  /** Pass back to continue after the last entry; null at the end. */
  readonly cursor: string | null;
  /**
   * What the page was made of: the same text from the same Vfs (or a view of it) means
   * the same page (names, stats, xattrs), so a front end may answer from what it rendered
   * of it before. It names the versions of the directory's index objects and of every
   * object read for an entry (subdirectories, hard-linked files), the cursor, the limit
   * and whether xattrs were asked for.
   */
  readonly version?: string;
}

export interface SetAttr {
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  /** Truncate or extend (with a hole) to this size. */
  readonly size?: number;
  readonly atime?: number;
  readonly mtime?: number;
}

export interface StatFs {
  readonly blockSize: number;
  readonly blocks: number;
  readonly blocksFree: number;
  readonly files: number;
  readonly filesFree: number;
  readonly nameMax: number;
  /** Bytes of file data stored (segments), as last counted. */
  readonly usedBytes: number;
}
