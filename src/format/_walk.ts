/**
 * The walk that fsck, GC and compaction share: everything reachable from the root
 * directory, read with the same validation operations use, and re-read at the end to make
 * sure it was a consistent snapshot (GC must never miss a file that a rename moved during
 * the walk). One traversal with one visited set, whose checks (entries, inodes, page maps,
 * shards, intents) all record into the same result (`_walk_result.ts`).
 *
 * @module
 */

import { readAll } from "../store/_util.ts";
import type { Check, MetaStore } from "./cas.ts";
import { Directories } from "./dir.ts";
import {
  dirKey,
  idTime,
  inodeKey,
  mapKey,
  parseSegmentRef,
  ROOT_INO,
  shardKey,
  SUPERBLOCK_KEY,
  xattrKey,
} from "./keys.ts";
import {
  checkDir,
  checkInode,
  checkShard,
  checkSuperblock,
  CorruptError,
  decode,
  DECODE_GROWN_BYTES,
  type DirObject,
  type Entry,
  type FileData,
  type InodeObject,
  type Moving,
  READABLE_VERSIONS,
  type ShardObject,
  type Superblock,
  type XattrRef,
} from "./meta.ts";
import { checkXattrObject } from "./xattr_values.ts";
import { checkPageMap, mapEnd, type PageMap } from "./page_map.ts";
import {
  emptyWalk,
  problem,
  type ProblemKind,
  type ReachedInode,
  type StaleUnlinkMark,
  type Walk,
  type WalkOptions,
} from "./_walk_result.ts";
import { markOf } from "./unlink_mark.ts";
import { forEachLimit } from "./_walk_util.ts";
import { misplacedNames, shardIdsOf } from "./_dir_ages.ts";

const CORRUPT = Symbol("corrupt");
type Read<T> = { value: T; etag: string } | null | typeof CORRUPT;
interface Task {
  readonly ino: string;
  readonly path: string;
  /** The directory holding the entry that led here. */
  readonly holder: string;
  readonly via: Moving | null;
}

/**
 * Walks the tree from the root; re-walks (up to `attempts` times) while objects change
 * under it. `consistent` in the result says whether the last walk was a stable snapshot.
 */
export async function walk(meta: MetaStore, options: WalkOptions): Promise<Walk> {
  const attempts = options.attempts ?? 3;
  for (let attempt = 1;; attempt++) {
    const walker = new Walker(meta, options);
    const result = await walker.run();
    result.consistent = await walker.stable();
    if (result.consistent || attempt >= attempts) return result;
  }
}

class Walker {
  readonly #meta: MetaStore;
  readonly #dirs: Directories;
  readonly #now: number;
  readonly #graceMs: number;
  readonly #checkXattrs: boolean;
  /** Every metadata object read, with the ETag seen ("" absent, "!" corrupt). */
  readonly #seen = new Map<string, { etag: string; check: Check }>();
  /** Directory inos already reached, with the path that reached them. */
  readonly #claimed = new Map<string, string>();
  readonly #inodeLoads = new Map<string, Promise<void>>();
  /** Keys of reached inodes whose object is missing: reported once the walk ends. */
  readonly #missing = new Set<string>();
  readonly #mapLoads = new Map<string, Promise<PageMap | null>>();
  readonly result: Walk = emptyWalk();

  constructor(meta: MetaStore, options: WalkOptions) {
    this.#meta = meta;
    this.#dirs = new Directories(meta);
    this.#now = options.now;
    this.#graceMs = options.graceMs;
    this.#checkXattrs = options.checkXattrs ?? false;
  }

  #problem(kind: ProblemKind, detail: string, where: { key?: string; path?: string } = {}) {
    this.result.problems.push(problem(kind, detail, where));
  }

  async #read<T>(key: string, check: Check): Promise<Read<T>> {
    try {
      const found = await this.#meta.read<T>(key, check);
      this.#seen.set(key, { etag: found?.etag ?? "", check });
      return found;
    } catch (error) {
      if (!(error instanceof CorruptError)) throw error;
      this.#seen.set(key, { etag: "!", check });
      this.result.unread.add(key);
      this.#problem("corrupt-object", error.message, { key });
      return CORRUPT;
    }
  }

  async run(): Promise<Walk> {
    const sb = await this.#read<Superblock>(SUPERBLOCK_KEY, checkSuperblock);
    if (sb === null) {
      this.#problem("superblock", "The bucket holds no superblock", { key: SUPERBLOCK_KEY });
    } else if (sb !== CORRUPT) {
      this.result.superblock = sb.value;
      if (!READABLE_VERSIONS.includes(sb.value.version)) {
        this.#problem("superblock", `Format version ${sb.value.version}, expected 1 or 2`, {
          key: SUPERBLOCK_KEY,
        });
      }
    }
    this.#claimed.set(ROOT_INO, "/");
    let level: Task[] = [{ ino: ROOT_INO, path: "/", holder: ROOT_INO, via: null }];
    while (level.length > 0) {
      const next: Task[] = [];
      await forEachLimit(level, 8, (task) => this.#visitDir(task, next));
      level = next;
    }
    // A missing inode is damage only where an entry names it. The hard link a rename replaced
    // rides in the target's mark until the next lookup clears it, after the renamer released
    // it: gone with its last link, it is no loss (before session 16 fsck failed on it).
    for (const reached of this.result.inodes.values()) {
      if (!this.#missing.has(reached.key) || reached.links === 0) continue;
      this.#problem("missing-inode", `Inode of hard-linked "${reached.path}" is missing`, {
        key: reached.key,
        path: reached.path,
      });
    }
    return this.result;
  }

  /** Re-reads every object the walk read: true if none changed. */
  async stable(): Promise<boolean> {
    let same = true;
    await forEachLimit([...this.#seen], 8, async ([key, { etag, check }]) => {
      if (!same) return;
      let now: string;
      try {
        now = (await this.#meta.read(key, check))?.etag ?? "";
      } catch (error) {
        if (!(error instanceof CorruptError)) throw error;
        now = "!";
      }
      if (now !== etag) same = false;
    });
    return same;
  }

  async #visitDir(task: Task, next: Task[]): Promise<void> {
    const key = dirKey(task.ino);
    const found = await this.#read<DirObject>(key, checkDir);
    if (found === CORRUPT) return;
    const where = { key, path: task.path };
    if (found === null) {
      this.#problem("missing-dir", `Directory object of "${task.path}" is missing`, where);
      return;
    }
    const dir = found.value;
    if (dir.ino !== task.ino) {
      this.#problem("corrupt-object", `Directory object names ino ${dir.ino}`, where);
      return;
    }
    this.result.dirs.set(dir.ino, { path: task.path, object: dir });
    if (dir.parent !== task.holder && dir.parent !== task.via?.dir) {
      this.#problem(
        "parent-mismatch",
        `Directory's parent is ${dir.parent} but its entry is in ${task.holder}`,
        where,
      );
      if (task.via === null) {
        this.result.misparented.push({ ino: dir.ino, holder: task.holder, pointer: dir.parent });
      }
    }
    if (dir.removing !== undefined) {
      // A mark id carries its marker's clock: only good enough for a report.
      const at = typeof dir.removing === "number" ? dir.removing : idTime(dir.removing);
      const young = this.#now - at < this.#graceMs;
      this.#problem(
        young ? "in-flight" : "removing-dir",
        `Reachable directory is ${
          dir.removed ? "removed (a tombstone)" : "marked as being removed"
        } since ${at}`,
        where,
      );
    }
    const entries = await this.#entries(dir, key, task.path);
    await forEachLimit(
      entries,
      8,
      ([name, entry, holderKey]) =>
        this.#visitEntry(dir.ino, task.path, name, entry, holderKey, next),
    );
  }

  async #entries(dir: DirObject, key: string, path: string): Promise<[string, Entry, string][]> {
    const ids = shardIdsOf(dir);
    if (!ids) return Object.entries(dir.entries ?? {}).map(([n, e]) => [n, e, key]);
    const out: [string, Entry, string][] = [];
    await forEachLimit(ids, 8, async (id) => {
      const sk = shardKey(dir.ino, id);
      this.result.shards.add(sk);
      const shard = await this.#read<ShardObject>(sk, checkShard);
      if (shard === CORRUPT) return;
      if (shard === null) {
        this.#problem("missing-shard", `Shard ${id} of "${path}" is missing`, {
          key: sk,
          path,
        });
      } else if (shard.value.ino !== dir.ino) {
        this.#problem("corrupt-object", `Shard names directory ${shard.value.ino}`, { key: sk });
      } else {
        for (const [n, e] of Object.entries(shard.value.entries)) out.push([n, e, sk]);
      }
    });
    for (const { key, detail } of misplacedNames(dir, out, path)) {
      this.#problem("misplaced-name", detail, { key, path });
    }
    return out;
  }

  async #visitEntry(
    holder: string,
    parentPath: string,
    name: string,
    entry: Entry,
    key: string,
    next: Task[],
  ): Promise<void> {
    const path = parentPath === "/" ? `/${name}` : `${parentPath}/${name}`;
    // The source of a rename that took effect is a shadow of its target: count it once.
    let shadow = false;
    if (entry.moving) {
      const applied = await this.#applied(entry.moving, entry.ino);
      const stale = this.#now - entry.moving.at >= this.#graceMs;
      this.result.intents.push({
        dir: holder,
        name,
        path,
        entry: entry as Entry & { moving: Moving },
        applied,
        stale,
      });
      this.#problem(
        stale ? "stale-intent" : "in-flight",
        `Rename to ${entry.moving.dir}/"${entry.moving.name}" ${
          applied ? "applied but not cleared" : "not applied"
        } (intent of ${entry.moving.at})`,
        { key, path },
      );
      shadow = applied;
    }
    const mark = markOf(entry, holder, name);
    if (mark) this.#unlinkMark({ dir: holder, name, id: mark.id, key, path });
    if (!shadow && entry.t !== "h") {
      this.result.entryInos.set(entry.ino, (this.result.entryInos.get(entry.ino) ?? 0) + 1);
    }
    // A rename's target keeps the entry it replaced until the rename is known to have
    // happened (a rollback puts it back): its data stays referenced until then.
    const replaced = entry.movedFrom?.replaced;
    // A rollback may name it again: a link() may then promote it (see _unreached.ts).
    if (replaced && replaced.t !== "h") this.result.entryInos.set(replaced.ino, 1);
    if (replaced?.t === "f" || replaced?.t === "l") await this.#xattrValues(replaced, path);
    if (replaced?.t === "f") await this.#fileData(replaced, replaced.attr.size, path, key);
    else if (replaced?.t === "h") await this.#link(replaced.ino, path, true);
    else if (replaced?.t === "d") await this.#hold(replaced.ino);
    switch (entry.t) {
      case "d": {
        if (shadow) return;
        const prior = this.#claimed.get(entry.ino);
        if (prior !== undefined) {
          this.#problem(
            "double-link",
            `Directory ${entry.ino} is reachable as "${prior}" and as "${path}"`,
            { key: dirKey(entry.ino), path },
          );
          return;
        }
        this.#claimed.set(entry.ino, path);
        next.push({ ino: entry.ino, path, holder, via: entry.moving ?? null });
        return;
      }
      case "l":
        if (!shadow) this.result.symlinks++;
        return await this.#xattrValues(entry, path);
      case "f":
        if (!shadow) this.result.files++;
        await this.#xattrValues(entry, path);
        return await this.#fileData(entry, entry.attr.size, path, key);
      case "h":
        return await this.#link(entry.ino, path, shadow);
    }
  }

  /**
   * An unlink mark (docs/format.md, "Removing one of two hard links"): a removal at work,
   * or, older than the grace period by the time in its id (its remover's clock, as for
   * intents), one that died between its steps.
   */
  #unlinkMark(mark: StaleUnlinkMark): void {
    const at = idTime(mark.id);
    const when = Number.isFinite(at) ? new Date(at).toISOString() : "an unknown time";
    const where = { key: mark.key, path: mark.path };
    if (this.#now - at < this.#graceMs) {
      const detail = `Unlink mark of ${when}: a removal of this name under way`;
      return this.#problem("in-flight", detail, where);
    }
    this.result.unlinkMarks.push(mark);
    this.#problem(
      "unlink-mark",
      `Unlink mark of ${when}, left by a removal of this name that stopped between its ` +
        "steps (a WebDAV MOVE between two hard links of the file): a MOVE between the " +
        "file's names that removes this name waits for it, up to the removing lease (30 s " +
        "by default), until an instance has seen it that long and clears it; nothing else " +
        "reads it",
      where,
    );
  }

  /** Keeps a replaced (so, empty) directory's object and shards: see `Walk.held`. */
  async #hold(ino: string): Promise<void> {
    this.result.held.add(ino);
    const dir = await this.#read<DirObject>(dirKey(ino), checkDir);
    if (dir === null || dir === CORRUPT) return;
    for (const id of shardIdsOf(dir.value) ?? []) this.result.shards.add(shardKey(ino, id));
  }

  /** Whether the target of a rename holds the moving entry. */
  async #applied(moving: Moving, ino: string): Promise<boolean> {
    const target = await this.#read<DirObject>(dirKey(moving.dir), checkDir);
    if (target === null || target === CORRUPT) return false;
    const there = await this.#dirs.lookup(target.value, moving.name).catch(() => null);
    return there?.ino === ino;
  }

  async #link(ino: string, path: string, shadow: boolean): Promise<void> {
    let reached = this.result.inodes.get(ino);
    if (!reached) {
      reached = { key: inodeKey(ino), value: null, links: 0, path };
      this.result.inodes.set(ino, reached);
      this.#inodeLoads.set(ino, this.#loadInode(reached, ino));
    }
    if (!shadow) reached.links++;
    await this.#inodeLoads.get(ino);
  }

  async #loadInode(reached: ReachedInode, ino: string): Promise<void> {
    const where = { key: reached.key, path: reached.path };
    const found = await this.#read<InodeObject>(reached.key, checkInode);
    if (found === CORRUPT) return;
    if (found === null) {
      this.#missing.add(reached.key);
    } else if (found.value.ino !== ino) {
      this.#problem("corrupt-object", `Inode object names ino ${found.value.ino}`, where);
    } else {
      reached.value = found.value;
      this.result.files++;
      await this.#xattrValues(found.value, reached.path);
      await this.#fileData(found.value, found.value.attr.size, reached.path, reached.key);
    }
  }

  async #fileData(data: FileData, size: number, path: string, key: string): Promise<void> {
    let map: PageMap | null = null;
    if (data.map !== undefined) {
      try {
        map = checkPageMap(data.map);
      } catch (error) {
        this.#problem("bad-map", (error as Error).message, { key, path });
        return;
      }
      this.#mark(map, path, key);
    } else if (data.mapRef !== undefined) {
      const id = data.mapRef;
      this.result.maps.add(id);
      let load = this.#mapLoads.get(id);
      if (!load) this.#mapLoads.set(id, load = this.#loadMap(id, path));
      map = await load;
      if (data.delta !== undefined) {
        try {
          const delta = checkPageMap(data.delta);
          this.#mark(delta, path, key);
          if (map && mapEnd(delta) > mapEnd(map)) map = delta;
        } catch (error) {
          this.#problem("bad-map", (error as Error).message, { key, path });
          return;
        }
      }
    }
    if (map && mapEnd(map) > size) {
      this.#problem("bad-map", `Page map ends at ${mapEnd(map)}, past the file size ${size}`, {
        key,
        path,
      });
    }
  }

  /** Spilled xattrs: reached, and for fsck read once to check them (problems blind it). */
  async #xattrValues(record: { xattrRef?: XattrRef }, path: string): Promise<void> {
    const id = record.xattrRef?.id;
    if (id === undefined || this.result.xattrs.has(id)) return;
    this.result.xattrs.add(id);
    if (!this.#checkXattrs) return;
    const found = await checkXattrObject(this.#meta.store, id);
    const kind = found?.missing ? "missing-xattrs" : "corrupt-object";
    if (found) this.#problem(kind, found.detail, { key: xattrKey(id), path });
  }

  /** Reads a spilled map (immutable, so once) and marks its segments. */
  async #loadMap(id: string, path: string): Promise<PageMap | null> {
    const key = mapKey(id);
    const found = await this.#meta.store.get(key);
    if (found?.status !== "ok") {
      this.#problem("missing-map", `Spilled page map of "${path}" is missing`, { key, path });
      return null;
    }
    try {
      const bytes = await readAll(found.body);
      const map = checkPageMap(decode(key, bytes, () => null, DECODE_GROWN_BYTES));
      this.#mark(map, path, key);
      return map;
    } catch (error) {
      this.#problem("bad-map", (error as Error).message, { key, path });
      return null;
    }
  }

  #mark(map: PageMap, path: string, key: string): void {
    for (const [, length, segment, offset] of map) {
      const ref = parseSegmentRef(segment);
      if (!ref) {
        this.#problem("bad-map", `Extent names "${segment}", not a segment reference`, {
          key,
          path,
        });
        continue;
      }
      let use = this.result.segments.get(ref.id);
      if (!use) {
        use = { declared: ref.size, need: 0, ranges: [], path, users: new Set() };
        this.result.segments.set(ref.id, use);
      } else if (use.declared !== ref.size) {
        this.#problem(
          "segment-size",
          `Segment ${ref.id} is named with sizes ${use.declared} and ${ref.size}`,
          { key, path },
        );
      }
      const end = offset + length;
      if (end > ref.size) {
        this.#problem("segment-size", `Extent ends at ${end}, past the segment's ${ref.size}`, {
          key,
          path,
        });
      }
      use.need = Math.max(use.need, end);
      use.ranges.push([offset, end]);
      use.users.add(path);
    }
  }
}
