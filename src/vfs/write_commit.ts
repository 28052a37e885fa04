/**
 * The metadata side of the write path: an open file's commit. It reads the record the
 * commit builds on, has the write log place the data (durable before anything names it),
 * then makes one CAS of the file's metadata (its record, or for a new file its directory
 * entry); a CAS that lost to another writer starts over from the new version, reusing the
 * data already placed. Plain writes into a file in segments merge with concurrent commits
 * of the same file (`file_commits.ts`). Internal to `src/vfs`, used by `writer.ts`.
 *
 * @module
 */

import type { ReadOptions } from "../format/cas.ts";
import { DirectoryGone } from "../format/dir.ts";
import { claimData } from "../format/gc_pending.ts";
import { newIno } from "../format/keys.ts";
import { contentVersion, type Entry, type FileData, type FileEntry } from "../format/meta.ts";
import { contentTag, type Ctx, newAttr, statOf } from "./context.ts";
import { ChangedError, FsError, isFsError } from "./errors.ts";
import { commitMerged, mergeable, type MergeOp, NotMergeable } from "./file_commits.ts";
import {
  applyAttrChanges,
  type AttrChanges,
  commitData,
  type FileLoc,
  type FileRecord,
  loadRecord,
  updateFile,
} from "./records.ts";
import { locate } from "./resolve.ts";
import type { Stat } from "./types.ts";
import { placeAppends, type Placement, type WriteLog } from "./write_log.ts";

class Conflict extends Error {}

/** The file a commit creates, when it is new (O_CREAT), and how. */
export interface CreateSpec {
  readonly exclusive: boolean;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** How a handle's commits go, fixed when it is opened. */
export interface CommitSpec {
  readonly loc: FileLoc;
  /** The file to create at the first commit; null for a file that exists. */
  readonly create: CreateSpec | null;
  /** A single-shot write that lands on whatever file the path holds at its commit. */
  readonly follow: boolean;
  /** With `follow` and O_CREAT: how to make the file anew if it was removed meanwhile. */
  readonly recreate: CreateSpec | null;
  /** The file's bytes were in segments when opened, so its writes may merge. */
  readonly mapped: boolean;
  /** Releases a new file's announcement to its directory's group commit. */
  readonly announced: (() => void) | null;
  /** Commit only if the file's content ETag is one of these (HTTP If-Match). */
  readonly ifMatch: readonly string[] | undefined;
  readonly expect: string | null | undefined;
  /** Attribute changes for the first commit, made in its CAS. */
  readonly attrs: AttrChanges | null;
  readonly beforeCommit: (() => Promise<void>) | undefined;
  readonly onCommit: ((created: boolean) => void) | undefined;
  /** The path of a single-shot write without conditions (see `FileCommit`'s `#path`). */
  readonly path: string | null;
}

/** The commits of one open file (see the module doc), and the state they carry. */
export class FileCommit {
  readonly #ctx: Ctx;
  readonly #log: WriteLog;
  #loc: FileLoc;
  #create: CreateSpec | null;
  /**
   * A single-shot write (`Vfs.write`: an HTTP PUT or PATCH) into a file that existed when
   * opened, without conditions: if that file is replaced before the commit, the write
   * lands on the file the path holds then, as if it came after the change, instead of
   * failing for a state the caller never asked about.
   */
  readonly #follow: boolean;
  /** With {@linkcode #follow} and O_CREAT: a file removed meanwhile is made anew. */
  #recreate: CreateSpec | null;
  /**
   * Commit only if the file's content ETag is one of these (HTTP If-Match, a list of one
   * or more): checked on the version the CAS builds on, so a list is as atomic as one tag.
   */
  readonly #ifMatch: readonly string[] | undefined;
  /** Optimistic: what the caller saw (content ETag, null for absent); see `OpenOptions`. */
  readonly #expect: string | null | undefined;
  /** Attribute changes for the next commit, made in its CAS. */
  #attrs: AttrChanges | null;
  /** Runs right before each metadata CAS, after the data is durable; a throw aborts. */
  readonly #beforeCommit: (() => Promise<void>) | undefined;
  /** Told, after each commit, whether it added the file (see `OpenOptions.onCommit`). */
  readonly #onCommit: ((created: boolean) => void) | undefined;
  /** The file's bytes were in segments when last seen, so its writes may merge. */
  #mapped: boolean;
  /** Releases this create's announcement to its directory's group commit. */
  #announced: (() => void) | null;
  /**
   * A single-shot write without conditions (`recreate`) remembers its path: if the
   * directory holding the file is replaced or removed before the commit (a rename over it),
   * the commit goes to the directory the path leads to then (see {@linkcode #relocate}).
   */
  readonly #path: string | null;

  constructor(ctx: Ctx, log: WriteLog, spec: CommitSpec) {
    this.#ctx = ctx;
    this.#log = log;
    this.#loc = spec.loc;
    this.#create = spec.create;
    this.#follow = spec.follow;
    this.#recreate = spec.recreate;
    this.#ifMatch = spec.ifMatch;
    this.#expect = spec.expect;
    this.#attrs = spec.attrs;
    this.#beforeCommit = spec.beforeCommit;
    this.#onCommit = spec.onCommit;
    this.#mapped = spec.mapped;
    this.#announced = spec.announced;
    this.#path = spec.path;
  }

  /** Where the file is: its directory, name and inode (which a followed replace changes). */
  get loc(): FileLoc {
    return this.#loc;
  }

  /** Whether a commit has anything to do: writes, a file to create, or attributes. */
  get pending(): boolean {
    return this.#log.ops.length > 0 || this.#create !== null || this.#attrs !== null;
  }

  /** Lets the directory's group commit go on without this create. */
  release(): void {
    this.#announced?.();
    this.#announced = null;
  }

  /** Forgets the attribute changes and the log after a commit or a failure. */
  reset(): void {
    this.#attrs = null;
    this.#log.clear();
  }

  /** Gives up creating the file (a discarded handle). */
  dropCreate(): void {
    this.#create = null;
  }

  /**
   * The file's entry and record as the path holds them now (null: gone, or not a file).
   * A hard link's inode object goes once its last name has (the name first): a name read
   * before such a removal that leads to no inode is read again, fresh, and is gone or holds
   * another file by then. Before: ENOENT "File was removed" for a write that, coming after
   * the removal, creates the file anew (protocol fuzz ext).
   */
  async current(
    options: ReadOptions = {},
  ): Promise<{ entry: Entry | null; record: FileRecord | null }> {
    for (let tries = 0;; tries++) {
      const read = tries === 0 ? options : {};
      const dir = await this.#ctx.dirs.get(this.#loc.dir, read);
      if (!dir) return { entry: null, record: null };
      const entry = await this.#ctx.dirs.lookup(dir.value, this.#loc.name, read);
      if (!entry || (entry.t !== "f" && entry.t !== "h")) return { entry, record: null };
      try {
        return { entry, record: await loadRecord(this.#ctx, entry) };
      } catch (error) {
        if (tries >= 2 || entry.t !== "h" || !isFsError(error, "ENOENT")) throw error;
      }
    }
  }

  /**
   * The commit loop: read the record this commit builds on, place the data (durable
   * before any metadata names it), then one CAS of the metadata; a CAS that lost to
   * another writer starts over from the new version, reusing the data already placed.
   */
  async commit(): Promise<Stat> {
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
        : await this.current(attempt === 0 ? first : {});
      // Gone since it was opened: a write that remembers its path goes where the path leads
      // now, which through a symlink may be another name (the file renamed over the link).
      if (!entry && !this.#create && this.#follow && await this.#relocate()) continue;
      const current = this.#base(entry, record);
      const gen = current.gen ?? 0;
      let ops = placeAppends(this.#log.ops, current.attr.size);
      const finalSize = ops.reduce(
        (s, op) => op.k === "t" ? op.size : Math.max(s, op.off + op.len),
        current.attr.size,
      );
      // After a truncate to zero nothing of the current bytes is left: build on an empty
      // file (no spilled map to fetch, no inline bytes to move).
      const cut = ops.findLastIndex((op) => op.k === "t" && op.size === 0);
      const base: FileRecord = cut < 0 ? current : { attr: { ...current.attr, size: 0 } };
      if (cut >= 0) ops = ops.slice(cut + 1);
      const next = await this.#log.placeData(this.#ctx, {
        ino: this.#loc.ino,
        base,
        ops,
        version: { finalSize, cv: contentVersion(current) },
        placed,
      });
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
   * The directory holding the file is gone (removed, or replaced by a rename), or the file
   * is: for a write that remembers its path, looks the path up again from fresh reads
   * (waiting for a removal in progress, see `resolveDir`) and moves the commit to the
   * directory and name it leads to now, where the next attempt decides afresh on the file
   * there, as if the write had come after the change. False (the failure stands, or the
   * file is made anew where it was) for any other write, or when the path still leads to
   * the same place. A path that no longer leads anywhere throws. Before, a PUT through a
   * symlink whose target was renamed over the link made the target anew (protocol fuzz ext
   * seed 23123).
   */
  async #relocate(): Promise<boolean> {
    if (this.#path === null) return false;
    const path = this.#path;
    const { parent, name } = await this.#ctx.meta.inNewScope(() =>
      locate(this.#ctx, path, { follow: true })
    );
    if (!parent) throw new FsError("EISDIR", "Is a directory", { path });
    if (parent.ino === this.#loc.dir && name === this.#loc.name) return false;
    this.release();
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
    const ops = this.#log.ops;
    const plain = ops.length > 0 && ops.every((op) => op.k !== "t");
    if (!this.#mapped || this.#create || this.#ifMatch !== undefined || !plain) return null;
    const dirty = placed.dirty ??= await this.#log.place();
    try {
      const stat = await commitMerged(this.#ctx, this.#loc, {
        ops: ops as MergeOp[],
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
        // A symlink took the name meanwhile: an optimistic caller decides again from fresh
        // reads (which follow it); another is told to try again (503 with Retry-After),
        // nothing written. Before: ESTALE, which WebDAV answered 412 to a PUT without
        // preconditions (and the API 409).
        if (this.#expect !== undefined) throw new ChangedError(this.#loc.name);
        throw new FsError("EAGAIN", "A symlink replaced the file during the write", {
          path: this.#loc.name,
        });
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
      if (tag === null || !this.#ifMatch.includes(tag)) {
        throw new FsError("ESTALE", "The file changed since the version asked for", {
          path: this.#loc.name,
        });
      }
    }
    return current;
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
    const writes = this.#log.ops.length > 0;
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
      // One literal, not members added after: V8 then keeps them all in the object, not
      // in a second array (32 B less per entry, kept as long as its directory is cached).
      const fresh: FileEntry = {
        t: "f",
        ino: this.#loc.ino,
        attr: { ...attr, size },
        gen: 1,
        cv: 1,
        ...next,
      };
      draft.set(this.#loc.name, fresh);
      return statOf(fresh.ino, "file", fresh.attr, { data: fresh });
    }, { queued: () => this.release() });
    this.#create = null;
    this.#onCommit?.(true);
    return stat;
  }
}
