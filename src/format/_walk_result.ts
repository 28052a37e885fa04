/**
 * What a walk of the tree (`_walk.ts`) finds: the reachable directories, inodes, maps and
 * segments, rename intents in flight, and the problems fsck reports, with their severity.
 *
 * @module
 */

import type { DirObject, Entry, InodeObject, Moving, Superblock } from "./meta.ts";

/** Commits in flight write data before the metadata naming it; younger objects are spared. */
export const DEFAULT_GRACE_MS = 10 * 60 * 1000;

/** Every kind of problem fsck reports, and whether it is damage or only information. */
export const PROBLEM_SEVERITY = {
  "superblock": "error",
  "corrupt-object": "error",
  "missing-dir": "error",
  "missing-inode": "error",
  "missing-shard": "error",
  "missing-map": "error",
  /** A record's spilled xattrs (`x/<id>`) are not there. */
  "missing-xattrs": "error",
  "missing-segment": "error",
  "bad-map": "error",
  "segment-size": "error",
  "nlink": "error",
  "double-link": "error",
  "parent-mismatch": "error",
  "stale-intent": "error",
  "removing-dir": "error",
  /**
   * A name of an age-sharded directory in two shards, or in a closed shard whose filter
   * misses it (see src/format/_dir_ages.ts).
   */
  "misplaced-name": "error",
  "orphan": "error",
  /**
   * The inode object of a link() whose file was renamed before the link named it: unused,
   * harmless, taken over by the file's next link() (see _unreached.ts).
   */
  "unused-inode": "warning",
  /**
   * An unlink mark older than the grace period (its remover died): it delays the next MOVE
   * between the file's names that removes that name, by a removing lease at most.
   */
  "unlink-mark": "warning",
  /**
   * A record of a rename applied on its renamer's behalf, older than its bound: its renamer
   * died before reading it (see src/format/_dir_applied.ts).
   */
  "applied-record": "warning",
  /**
   * A removal of a hard link's name that happened (its proof is in the directory) and whose
   * link was not counted off yet (its remover died): fsck counts it as made, a repair makes
   * it (see src/format/release.ts).
   */
  "release-owed": "warning",
  /** An old intent to remove a hard link's name whose removal never happened. */
  "release-intent": "warning",
  /** A proof of a hard link's removal whose link was counted off, its clean-up cut short. */
  "released-record": "warning",
  /**
   * A link() whose name went in (its proof is in the directory) and whose count was not
   * raised yet (its linker died): fsck counts it as made, a repair makes it (release.ts).
   */
  "link-owed": "warning",
  /**
   * An old link intent whose name never went in: it changes no count; kept, since a linker
   * stalled that long may still add its name (then the intent is what counts it).
   */
  "link-intent": "warning",
  /**
   * Unreferenced segments, maps and shards past the grace period, and directory tombstones
   * and inode objects nothing can reach again: GC's to delete.
   */
  "garbage": "info",
  /** Something a running operation may still finish: young intents, objects, link counts. */
  "in-flight": "info",
  "unknown-key": "info",
} as const satisfies Record<string, Severity>;

export type ProblemKind = keyof typeof PROBLEM_SEVERITY;

/**
 * Damage ("error", which fails fsck), something harmless that fsck --repair tidies up
 * ("warning"), or information.
 */
export type Severity = "error" | "warning" | "info";

/** One finding of fsck; `K` is the kinds it may be (fsck adds its own to the walk's). */
export interface Problem<K extends string = ProblemKind> {
  readonly kind: K;
  readonly severity: Severity;
  /** The object concerned, if any. */
  readonly key?: string;
  /** A path that leads to it, if any. */
  readonly path?: string;
  readonly detail: string;
  /** Set by a repairing fsck: whether the repair succeeded. */
  repaired?: boolean;
}

/** Builds a {@linkcode Problem} with its severity. */
export function problem(
  kind: ProblemKind,
  detail: string,
  where: { key?: string; path?: string } = {},
): Problem {
  return {
    kind,
    severity: PROBLEM_SEVERITY[kind],
    ...(where.key === undefined ? {} : { key: where.key }),
    ...(where.path === undefined ? {} : { path: where.path }),
    detail,
  };
}

/** How the reachable page maps use one segment. */
export interface SegmentUse {
  /** The size the segment references declare. */
  readonly declared: number;
  /** The smallest object size that holds every extent. */
  need: number;
  /** Byte ranges of the segment that extents use, `[start, end)`; copies may overlap. */
  readonly ranges: [number, number][];
  /** One file that uses it, for reports. */
  readonly path: string;
  /** Every path through which a reachable file uses it (compaction rewrites these). */
  readonly users: Set<string>;
}

/** A standalone inode named by reachable `t:"h"` entries. */
export interface ReachedInode {
  readonly key: string;
  /** Null when the object is missing or corrupt. */
  value: InodeObject | null;
  /** Reachable entries naming it. */
  links: number;
  readonly path: string;
}

/** A cross-directory rename found in progress (an entry marked `moving`). */
export interface Intent {
  /** The source directory and name holding the marked entry. */
  readonly dir: string;
  readonly name: string;
  readonly path: string;
  readonly entry: Entry & { moving: Moving };
  /** Whether the target already holds the entry (the rename took effect). */
  readonly applied: boolean;
  readonly stale: boolean;
}

/** An unlink mark whose remover died (older than the grace period by the time in its id). */
export interface StaleUnlinkMark {
  /** The directory and name of the marked entry, and the mark's id. */
  readonly dir: string;
  readonly name: string;
  readonly id: string;
  /** The object holding the entry (directory or shard), and a path to it. */
  readonly key: string;
  readonly path: string;
}

/** Everything reachable from the root. */
export interface Walk {
  superblock: Superblock | null;
  /** Reachable directories by ino. */
  readonly dirs: Map<string, { readonly path: string; readonly object: DirObject }>;
  /** Keys of the shards of reachable directories. */
  readonly shards: Set<string>;
  /**
   * Directories that only a rename's target entry holds, as the entry it replaced (put
   * back if the rename is rolled back): their objects and shards must stay.
   */
  readonly held: Set<string>;
  /**
   * Keys of objects the walk reached and could not read (corrupt, or over the decode
   * bound): reached all the same, never orphans; what they name is unknown.
   */
  readonly unread: Set<string>;
  /**
   * Directories whose parent pointer names another directory than the one whose entry
   * reached them (no rename in flight on that entry): what fsck --repair points back.
   */
  readonly misparented: { ino: string; holder: string; pointer: string }[];
  readonly inodes: Map<string, ReachedInode>;
  /** Ids of spilled maps named by reachable files. */
  readonly maps: Set<string>;
  /** Ids of spilled xattr values (`x/<id>`) named by reachable files and symlinks. */
  readonly xattrs: Set<string>;
  /** Segments by id. */
  readonly segments: Map<string, SegmentUse>;
  readonly intents: Intent[];
  readonly unlinkMarks: StaleUnlinkMark[];
  /**
   * Entries by ino, of every type but `h` (hard links share an ino by design); an entry a
   * rename's target keeps to put back counts too.
   */
  readonly entryInos: Map<string, number>;
  files: number;
  symlinks: number;
  readonly problems: Problem[];
  /** True when a re-read after the walk found every object unchanged. */
  consistent: boolean;
}

/**
 * Problems that leave references unknown: an object the walk could not read may name any
 * directory, inode, page map or segment, which then only looks unreachable. GC deletes
 * nothing and fsck repairs nothing that judges by reachability while one stands.
 */
export const BLIND: readonly ProblemKind[] = [
  "superblock",
  "corrupt-object",
  "missing-shard",
  "missing-map",
  "missing-xattrs",
  "bad-map",
];

/** The first problem of `tree` that leaves references unknown, or undefined. */
export function blindSpot(tree: Walk): Problem | undefined {
  return tree.problems.find((p) => BLIND.includes(p.kind));
}

/** The bytes of a segment that extents use (overlapping ranges counted once). */
export function liveBytes(use: SegmentUse): number {
  const ranges = [...use.ranges].sort((a, b) => a[0] - b[0]);
  let total = 0;
  let end = 0;
  for (const [start, stop] of ranges) {
    if (stop <= end) continue;
    total += stop - Math.max(start, end);
    end = stop;
  }
  return total;
}

/** What `walk` (`_walk.ts`) is told. */
export interface WalkOptions {
  now: number;
  graceMs: number;
  attempts?: number;
  /**
   * Read every spilled xattr object named, to check it (fsck); without, only their ids
   * are gathered (GC: such an object names nothing, so one missing or unreadable hides no
   * garbage, and a GET of each of maybe millions per walk would buy nothing).
   */
  checkXattrs?: boolean;
}

/** A walk that has reached nothing yet. */
export function emptyWalk(): Walk {
  return {
    superblock: null,
    dirs: new Map(),
    shards: new Set(),
    held: new Set(),
    unread: new Set(),
    misparented: [],
    inodes: new Map(),
    maps: new Set(),
    xattrs: new Set(),
    segments: new Map(),
    intents: [],
    unlinkMarks: [],
    entryInos: new Map(),
    files: 0,
    symlinks: 0,
    problems: [],
    consistent: false,
  };
}
