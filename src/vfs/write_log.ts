/**
 * The data side of the write path: an open file's dirty log (writes, appends and truncates
 * not yet committed, in order, their bytes in one dirty buffer of the writeback, within the
 * memory budget) and the placement of its data at commit time: inline in the record, or
 * durable in segments and named by the next page map. Nothing here writes metadata that
 * names the data: that is the commit in `writer.ts`, which uses this log. Internal to
 * `src/vfs`.
 *
 * @module
 */

import type { DirtyData, DirtyPiece } from "../cache/dirty.ts";
import type { Placed, Writeback } from "../cache/writeback.ts";
import type { WholeBody } from "./whole_body.ts";
import type { FileData } from "../format/meta.ts";
import { EMPTY_MAP, type PageMap, truncateMap, writeExtent } from "../format/page_map.ts";
import type { Ctx } from "./context.ts";
import { nextData, pieceExtents } from "./file_commits.ts";
import { loadMap } from "./reader.ts";
import { type FileRecord, inlineBytes, toBase64 } from "./records.ts";

/** A write of `len` dirty bytes from position `pos` of the dirty data, at `off`. */
export type WriteOp = {
  readonly k: "w";
  readonly off: number;
  readonly len: number;
  readonly pos: number;
};

/** One entry of the dirty log. */
export type LogOp =
  | WriteOp
  /** An append: its offset is the file's size when it commits, not when it was issued. */
  | { readonly k: "a"; readonly len: number; readonly pos: number }
  | { readonly k: "t"; readonly size: number };

/** A log entry once appends have their offsets. */
export type PlacedOp = WriteOp | { readonly k: "t"; readonly size: number };

/**
 * Where a commit's data went, kept across its CAS retries: the dirty bytes, and the old
 * inline bytes of a file outgrowing metadata. The latter belong to one version of one file
 * (ino and content version) and are reused only by a retry that builds on that version.
 */
export interface Placement {
  dirty?: DirtyPiece[];
  inline?: Placed & { ino: string; cv: number };
}

/** The log with each append placed at the end of the file as it is at commit time. */
export function placeAppends(ops: readonly LogOp[], size: number): PlacedOp[] {
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

/** The inline bytes of `base` with `ops` applied, their bytes taken from `dirty`. */
function applyInline(base: FileRecord, ops: readonly PlacedOp[], dirty: Uint8Array): FileData {
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

/**
 * An open file's uncommitted changes: the log, and the dirty bytes it points into. Small
 * dirty data waits in memory; once it passes one part it streams out as multipart
 * segments (see `cache/dirty.ts`).
 */
export class WriteLog {
  readonly #writeback: Writeback;
  #ops: LogOp[] = [];
  #dirty: DirtyData | null = null;
  /** A whole body (see `whole_body.ts`) at dirty position 0: then there is no `#dirty`. */
  #whole: WholeBody | null = null;

  constructor(writeback: Writeback) {
    this.#writeback = writeback;
  }

  /** The log, oldest first. */
  get ops(): readonly LogOp[] {
    return this.#ops;
  }

  /** Logs a write of `bytes` (not empty) at `offset`. */
  async write(offset: number, bytes: Uint8Array): Promise<void> {
    const pos = await this.#buffer(bytes);
    const op: WriteOp = { k: "w", off: offset, len: bytes.length, pos };
    const last = this.#ops[this.#ops.length - 1];
    // Sequential writes become one log entry (and one extent).
    if (last?.k === "w" && last.off + last.len === op.off && last.pos + last.len === op.pos) {
      this.#ops[this.#ops.length - 1] = { ...last, len: last.len + op.len };
    } else {
      this.#ops.push(op);
    }
  }

  /**
   * Logs a write of a whole body (not empty) at `offset`, kept as it is while it is the
   * log's only bytes; into a log holding bytes, it is buffered as any write.
   */
  async writeWhole(offset: number, whole: WholeBody): Promise<void> {
    if (this.#dirty || this.#whole) return await this.write(offset, whole.bytes);
    this.#whole = whole;
    this.#ops.push({ k: "w", off: offset, len: whole.length, pos: 0 });
  }

  /** Logs an append of `bytes` (not empty), placed at commit time. */
  async append(bytes: Uint8Array): Promise<void> {
    const pos = await this.#buffer(bytes);
    this.#ops.push({ k: "a", len: bytes.length, pos });
  }

  /** Logs a truncate to `size`. */
  truncate(size: number): void {
    this.#ops.push({ k: "t", size });
  }

  /**
   * Keeps dirty bytes (a copy); returns their position in the dirty data. Waits while the
   * memory budget is spent: the caller reading a request body reads no further meanwhile.
   */
  async #buffer(bytes: Uint8Array): Promise<number> {
    // A whole body holds position 0 and has no dirty data to append to: buffer it first.
    if (this.#whole) {
      const whole = this.#whole;
      this.#whole = null;
      this.#dirty = this.#writeback.openDirty();
      await this.#dirty.append(whole.bytes);
    }
    this.#dirty ??= this.#writeback.openDirty();
    return await this.#dirty.append(bytes);
  }

  /** Makes the dirty bytes durable (in one or more segments; none if there are none). */
  async place(): Promise<DirtyPiece[]> {
    const whole = this.#whole;
    if (whole) {
      const { segment, offset } = await this.#writeback.commit(whole.bytes);
      return [{ pos: 0, length: whole.length, segment, offset }];
    }
    const dirty = this.#dirty;
    if (!dirty || dirty.size === 0) return [];
    return await dirty.finish();
  }

  /**
   * Data placement: makes the dirty bytes durable where they go (inline in the record, or
   * a segment, with the old inline bytes of a file outgrowing metadata moved along in the
   * same group commit) and returns the data part of the next record of file `ino`, built
   * on `base` with `ops`. Writes nothing that names the data: that is the commit's CAS.
   */
  async placeData(
    ctx: Ctx,
    commit: {
      ino: string;
      base: FileRecord;
      ops: readonly PlacedOp[];
      version: { finalSize: number; cv: number };
      placed: Placement;
    },
  ): Promise<FileData> {
    const { ino, base, ops, version, placed } = commit;
    const inMemory = this.#whole
      ? this.#whole.bytes
      : this.#dirty
      ? this.#dirty.inMemory()
      : new Uint8Array(0);
    if (inMemory && !base.map && !base.mapRef && version.finalSize <= ctx.inlineMax) {
      return applyInline(base, ops, inMemory);
    }
    if (base.data && (placed.inline?.ino !== ino || placed.inline.cv !== version.cv)) {
      // Both go out in the same group commit: one PUT.
      const [dirty, old] = await Promise.all([
        placed.dirty ?? this.place(),
        ctx.writeback.commit(inlineBytes(base)),
      ]);
      placed.dirty = dirty;
      placed.inline = { ino, cv: version.cv, ...old };
    }
    const dirty = placed.dirty ??= await this.place();
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

  /** Aborts the dirty data's uploads, if any (their segments are never named). */
  async abort(): Promise<void> {
    await this.#dirty?.abort().catch(() => {});
  }

  /** Empties the log after a commit or a failure. */
  clear(): void {
    this.#ops = [];
    // Bytes committed inline were never sent: their buffer goes back to the budget here.
    this.#dirty?.release();
    this.#dirty = null;
    this.#whole = null;
  }
}
