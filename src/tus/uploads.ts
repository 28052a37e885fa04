/**
 * Uploads in progress, kept in the filesystem itself so that every instance serving the
 * bucket can continue any of them and a restart loses nothing acknowledged:
 *
 * - `/.pagefs-uploads/<id>`: the staging file. Each chunk is one offset write into it
 *   (its bytes go straight to segments, no second copy), committed by CAS on the file's
 *   version, so the upload's offset is exactly the file's durable size.
 * - `/.pagefs-uploads/<id>.json`: the upload's record (length, metadata, target, expiry),
 *   created exclusively and changed by CAS on its ETag.
 *
 * A finished upload reaches its target with one atomic rename (`Vfs.adopt`). An abandoned
 * one expires; removing it leaves its segments unreferenced for GC to reclaim.
 *
 * @module
 */

import { FsError, isFsError, type Stat, type Vfs } from "../vfs/mod.ts";

/** The folder the server keeps staging files in (hidden from listings of "/"). */
export const STAGING_DIR = "/.pagefs-uploads";
/** Its name at the root. */
export const STAGING_NAME = STAGING_DIR.slice(1);

/**
 * Expiry is judged against the creator's recorded deadline: another instance's clock may
 * be off, so it waits this much longer before calling an upload expired.
 */
export const SKEW_MARGIN_MS = 5 * 60_000;

/** Largest upload record read (bytes); records are a few hundred bytes. */
const RECORD_MAX = 64 * 1024;

/** What the server keeps about one upload. */
export interface UploadRecord {
  readonly v: 1;
  /** Total bytes, or null until the client declares it (creation-defer-length). */
  readonly length: number | null;
  /** The `Upload-Metadata` header as the client sent it, echoed by HEAD. */
  readonly metadata: string;
  /** Where the finished upload goes (absolute, normalised). */
  readonly target: string;
  /**
   * The folder its creator may reach ("/" for everything; absent in records made before
   * session 17): the target is resolved within it whoever finishes the upload.
   */
  readonly scope?: string;
  /** Creation time and deadline (ms), on the clock of the instance that created it. */
  readonly created: number;
  readonly expires: number;
  /** The target must not exist at completion (If-None-Match: *). */
  readonly noReplace?: boolean;
  /** The target must still have this ETag at completion (If-Match). */
  readonly ifMatch?: string;
  /** Set right before the rename to the target: the bytes are all there. */
  readonly finishing?: boolean;
}

/** An upload as one request sees it. */
export interface Upload {
  readonly id: string;
  readonly record: UploadRecord;
  /** The record's ETag, for CAS updates. */
  readonly recordTag: string;
  /** Bytes durable in the staging file (its size). */
  readonly offset: number;
  /** The staging file's ETag (null while it does not exist yet). */
  readonly dataTag: string | null;
  /** Finished and moved to its target already (only its record is left). */
  readonly placed: boolean;
}

/** An upload that is no longer there: expired (410) or never was / removed (404). */
export class UploadGone extends Error {
  readonly expired: boolean;

  constructor(id: string, expired: boolean) {
    super(expired ? `Upload ${id} expired` : `No upload ${id}`);
    this.name = "UploadGone";
    this.expired = expired;
  }
}

const ID = /^[0-9a-f]{32}$/;

/** True for a string shaped like an upload id (32 lowercase hex digits). */
export function isUploadId(id: string): boolean {
  return ID.test(id);
}

function newUploadId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** True when `path` is the staging folder or lies below it. */
export function isStagingPath(path: string): boolean {
  return path === STAGING_DIR || path.startsWith(STAGING_DIR + "/");
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The staging area of one filesystem (use the unscoped `Vfs`). */
export class Uploads {
  readonly #vfs: Vfs;
  readonly #now: () => number;
  readonly expiryMs: number;
  #lastSweep: number;
  #sweeping: Promise<number> | null = null;
  readonly #sweepEveryMs: number;

  constructor(
    vfs: Vfs,
    options: { expiryMs: number; now?: () => number; sweepEveryMs?: number },
  ) {
    this.#vfs = vfs;
    this.#now = options.now ?? Date.now;
    this.expiryMs = options.expiryMs;
    this.#sweepEveryMs = options.sweepEveryMs ?? 10 * 60_000;
    this.#lastSweep = this.#now();
    vfs.hide(STAGING_NAME);
  }

  /** The unscoped filesystem the staging area lives in. */
  get vfs(): Vfs {
    return this.#vfs;
  }

  /** The staging file of upload `id`. */
  dataPath(id: string): string {
    return `${STAGING_DIR}/${id}`;
  }

  #recordPath(id: string): string {
    return `${STAGING_DIR}/${id}.json`;
  }

  /** Records a new upload; its staging file appears with the first bytes. */
  async create(
    fields: Omit<UploadRecord, "v" | "created" | "expires" | "finishing">,
  ): Promise<Upload> {
    const created = this.#now();
    const record: UploadRecord = {
      v: 1,
      ...fields,
      created,
      expires: created + this.expiryMs,
    };
    await this.#vfs.mkdir(STAGING_DIR).catch((error) => {
      if (!isFsError(error, "EEXIST")) throw error;
    });
    const id = newUploadId();
    const stat = await this.#vfs.writeFile(
      this.#recordPath(id),
      encoder.encode(JSON.stringify(record)),
      { exclusive: true },
    );
    return { id, record, recordTag: stat.etag, offset: 0, dataTag: null, placed: false };
  }

  /**
   * The upload as it is now.
   *
   * @throws {UploadGone} unknown, removed or expired (an expired upload is removed here).
   */
  async get(id: string): Promise<Upload> {
    if (!isUploadId(id)) throw new UploadGone(id, false);
    let loaded: { stat: Stat; record: UploadRecord };
    try {
      loaded = await this.#readRecord(id);
    } catch (error) {
      if (isFsError(error, "ENOENT")) throw new UploadGone(id, false);
      throw error;
    }
    const { stat, record } = loaded;
    let data: Stat | null = null;
    try {
      data = await this.#vfs.lookup(this.dataPath(id));
    } catch (error) {
      if (!isFsError(error, "ENOENT")) throw error;
    }
    const placed = data === null && record.finishing === true;
    if (this.#expired(record)) {
      await this.remove(id);
      throw new UploadGone(id, true);
    }
    return {
      id,
      record,
      recordTag: stat.etag,
      offset: placed ? record.length ?? 0 : data?.size ?? 0,
      dataTag: data?.etag ?? null,
      placed,
    };
  }

  #expired(record: UploadRecord): boolean {
    return this.#now() > record.expires + SKEW_MARGIN_MS;
  }

  async #readRecord(id: string): Promise<{ stat: Stat; record: UploadRecord }> {
    const { stat, body } = await this.#vfs.readStream(this.#recordPath(id));
    if (stat.size > RECORD_MAX) {
      await body.cancel();
      throw new FsError("EIO", `Upload record ${id} is too large`);
    }
    const bytes = new Uint8Array(await new Response(body).arrayBuffer());
    return { stat, record: JSON.parse(decoder.decode(bytes)) as UploadRecord };
  }

  /**
   * Changes the record by CAS on the version `upload` read.
   *
   * @throws {FsError} ESTALE when it changed meanwhile (another request got there first).
   */
  async update(upload: Upload, changes: Partial<UploadRecord>): Promise<Upload> {
    const record = { ...upload.record, ...changes };
    const stat = await this.#vfs.writeFile(
      this.#recordPath(upload.id),
      encoder.encode(JSON.stringify(record)),
      { ifMatch: upload.recordTag },
    );
    return { ...upload, record, recordTag: stat.etag };
  }

  /** Removes an upload's staging file and record; a missing one is no error. */
  async remove(id: string): Promise<void> {
    for (const path of [this.dataPath(id), this.#recordPath(id)]) {
      await this.#vfs.unlink(path).catch((error) => {
        if (!isFsError(error, "ENOENT")) throw error;
      });
    }
  }

  /** Drops the record of an upload placed at its target. */
  async forget(id: string): Promise<void> {
    await this.#vfs.unlink(this.#recordPath(id)).catch((error) => {
      if (!isFsError(error, "ENOENT")) throw error;
    });
  }

  /**
   * Removes expired uploads (and staging files whose record is gone, once older than an
   * expiry); returns how many uploads it removed. Their segments are GC's to reclaim.
   *
   * A record written less than an expiry ago (by the listing's mtime) cannot have expired
   * yet, since its deadline is its creation plus the expiry, and is not read. Before session
   * 19 every record was read on every sweep; one with over 1 KiB of metadata (a client may
   * send 16 KiB) is an object of its own, so a user who left 100,000 such unfinished uploads
   * made each instance that took an upload read up to 100,000 objects every 10 minutes for a
   * day. A
   * writer's clock behind the sweeper's only delays a removal to a later sweep (an expired
   * upload is removed on access too); nothing is removed early, as `get` still judges it.
   */
  async sweep(): Promise<number> {
    this.#lastSweep = this.#now();
    const names = new Set<string>();
    const young = new Set<string>();
    try {
      for (let cursor: string | null = null;;) {
        const page = await this.#vfs.readdir(STAGING_DIR, cursor ? { cursor } : {});
        for (const { name, stat } of page.entries) {
          names.add(name);
          if (this.#now() <= stat.mtime + this.expiryMs) young.add(name);
        }
        cursor = page.cursor;
        if (!cursor) break;
      }
    } catch (error) {
      if (isFsError(error, "ENOENT")) return 0;
      throw error;
    }
    let removed = 0;
    for (const name of names) {
      const id = name.endsWith(".json") ? name.slice(0, -5) : name;
      if (!isUploadId(id) || (name === id && names.has(`${id}.json`))) continue;
      if (young.has(name)) continue;
      try {
        if (name === id) {
          // A staging file without a record (a creation that died halfway, or a record
          // removed first): judged by its own mtime, with the same margin.
          const stat = await this.#vfs.lookup(this.dataPath(id));
          if (this.#now() <= stat.mtime + this.expiryMs + SKEW_MARGIN_MS) continue;
          await this.remove(id);
          removed++;
          continue;
        }
        await this.get(id);
      } catch (error) {
        if (error instanceof UploadGone) {
          if (error.expired) removed++;
          continue;
        }
        if (isFsError(error, "ENOENT")) continue;
        console.warn(`pagefs: sweeping upload ${id} failed: ${(error as Error).message}`);
      }
    }
    return removed;
  }

  /** Starts a sweep in the background when the last one is older than the interval. */
  maybeSweep(): void {
    if (this.#sweeping || this.#now() - this.#lastSweep < this.#sweepEveryMs) return;
    // Its own scope: it outlives the request that started it, and reuses nothing of it.
    this.#sweeping = this.#vfs.fresh(() => this.sweep()).catch((error) => {
      console.warn(`pagefs: sweeping uploads failed: ${(error as Error).message}`);
      return 0;
    }).finally(() => {
      this.#sweeping = null;
    });
  }

  /** Waits for a background sweep in flight (tests). */
  async settled(): Promise<void> {
    await this.#sweeping;
  }
}
