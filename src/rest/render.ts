/** JSON shapes of the HTTP file API's answers. @module */

import type { DirEntryInfo, Stat } from "../vfs/mod.ts";

/** A file's attributes as JSON: times as ISO 8601, the mode as a number and octal text. */
export interface StatJson {
  readonly path: string;
  readonly ino: string;
  readonly type: Stat["type"];
  readonly mode: number;
  readonly modeOctal: string;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly nlink: number;
  readonly atime: string;
  readonly mtime: string;
  readonly ctime: string;
  readonly btime: string;
  readonly etag: string;
}

/** One entry of a directory listing. */
export interface EntryJson {
  readonly name: string;
  readonly type: Stat["type"];
  readonly size: number;
  readonly mtime: string;
  readonly etag: string;
  readonly mode: number;
  readonly modeOctal: string;
}

/** A page of a directory listing; pass `cursor` back for the next page (null at the end). */
export interface ListingJson {
  readonly path: string;
  readonly entries: readonly EntryJson[];
  readonly cursor: string | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Four octal digits, e.g. "0644". */
export function octal(mode: number): string {
  return mode.toString(8).padStart(4, "0");
}

/** Renders a stat. */
export function statJson(path: string, stat: Stat): StatJson {
  return {
    path,
    ino: stat.ino,
    type: stat.type,
    mode: stat.mode,
    modeOctal: octal(stat.mode),
    uid: stat.uid,
    gid: stat.gid,
    size: stat.size,
    nlink: stat.nlink,
    atime: iso(stat.atime),
    mtime: iso(stat.mtime),
    ctime: iso(stat.ctime),
    btime: iso(stat.btime),
    etag: stat.etag,
  };
}

/** Renders one directory entry. */
export function entryJson(entry: DirEntryInfo): EntryJson {
  const { stat } = entry;
  return {
    name: entry.name,
    type: stat.type,
    size: stat.size,
    mtime: iso(stat.mtime),
    etag: stat.etag,
    mode: stat.mode,
    modeOctal: octal(stat.mode),
  };
}
