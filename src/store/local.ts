/**
 * An object store in a local directory: PageFS's embedded default (`PAGEFS_DATA_DIR`). Like
 * the memory store it follows S3's semantics exactly, and it keeps them when several
 * processes share one directory.
 *
 * Layout under the root:
 *
 * - A key's "/"-separated segments become nested folders: every segment but the last is a
 *   folder `d<segment>`, the last is a file `o<segment>`. Segments are escaped: UTF-8 bytes
 *   outside `[a-z0-9_-]`, and a final ".", become `%XX`. So names survive case-insensitive,
 *   Unicode-normalising and Windows filesystems; ".", ".." and empty segments are ordinary
 *   names (`o..`, `d`), so no key leaves the root; "a" (`oa`) and "a/b" (`da/ob`) coexist; and
 *   as no escaped name begins with ".", keys never meet the internal entries `.lock`, `.tmp/`,
 *   `.uploads/` and `.long/`.
 * - A key with an escaped segment over 200 bytes, or an escaped path over 800 bytes (to stay
 *   well inside name and path limits), is stored as `.long/<SHA-256 of the key>`; listing
 *   scans that folder and takes keys from the file headers.
 * - An object is one file: `PAGEFS-L`, a 4-byte big-endian header length, a JSON header (key,
 *   ETag, content type, last-modified time), then the data. The ETag is random per write, and
 *   it changes together with the bytes in a single rename.
 * - A write goes to `.tmp/`, is fsynced, and is renamed into place while an exclusive flock
 *   on `.lock` is held (behind an in-process queue: flock is per open file). The lock covers
 *   only the precondition check and the rename, so conditional puts are atomic between
 *   processes while the data is written in parallel. Deletes take the same lock and then
 *   remove folders left empty.
 * - Multipart parts are object files in `.uploads/<uploadId>/<partNumber>`; completing
 *   streams them into one temp file and commits it like a put. An upload no part has been
 *   added to for a day (its folder's mtime) was left by a crashed writer: it is swept when
 *   the store is first used and then at most hourly, as temp files older than an hour are.
 * - A put is acknowledged only once the folders it lands in are durable up to the root:
 *   the first put into a folder (from this instance) syncs the whole chain, whoever made
 *   the folder, so a put never relies on a folder another writer has not yet synced.
 *
 * This file holds the writes (temp file, then a checked rename under the lock) and the
 * store's methods; its parts, imported by it alone, hold the rest: `_local_format.ts` the
 * key-to-path mapping and the file format, `_local_list.ts` listing, `_local_multipart.ts`
 * the uploads' folders and the checks of their parts.
 *
 * @module
 */

import {
  dirname,
  encodeHeader,
  fileStream,
  type Header,
  ignoreNotFound,
  keyPath,
  LONG,
  newHeader,
  objectInfo,
  openObject,
  readDir,
  syncDir,
  writeAll,
} from "./_local_format.ts";
import { listObjects } from "./_local_list.ts";
import {
  listUploads,
  partChunks,
  startUpload,
  UPLOAD_ID,
  uploadContentType,
} from "./_local_multipart.ts";
import { checkPartNumber, resolveRange, streamOf } from "./_util.ts";
import {
  type Body,
  type GetOptions,
  type GetResult,
  type ListOptions,
  type ListPage,
  type MultipartUpload,
  type NotModified,
  type ObjectInfo,
  type ObjectStore,
  type PutMode,
  type PutOptions,
  type PutResult,
  StoreError,
  type UploadedPart,
  type UploadPage,
} from "./types.ts";

const STALE_TEMP_MS = 60 * 60 * 1000;
/** An upload without a new part for this long was abandoned (S3 lifecycle rules use days). */
const STALE_UPLOAD_MS = 24 * 60 * 60 * 1000;
/** Sweeps of abandoned temp files and uploads run at most this often. */
const SWEEP_EVERY_MS = 60 * 60 * 1000;

/** Hooks for tests; a real store needs none. */
export interface LocalStoreOptions {
  /** The clock that judges stale temp files and uploads (default `Date.now`). */
  readonly now?: () => number;
  /** Makes a folder's entries durable (default: fsync of the folder). */
  readonly syncDir?: (dir: string) => Promise<void>;
}

/**
 * An {@linkcode ObjectStore} in a local directory, safe to share between processes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LocalStore } from "./local.ts";
 * const root = await Deno.makeTempDir();
 * const store = new LocalStore(root);
 * await store.put("a/b", new TextEncoder().encode("hi"), { mode: { kind: "create" } });
 * assert((await store.head("a/b"))?.size === 2);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class LocalStore implements ObjectStore {
  readonly kind = "local";
  readonly #root: string;
  #ready: Promise<void> | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #now: () => number;
  readonly #syncDir: (dir: string) => Promise<void>;
  /** Folders this instance has synced up to the root (and not removed since). */
  readonly #durable = new Set<string>();
  #lastSweep = -Infinity;

  /** Uses the directory `root`, creating it on the first write. */
  constructor(root: string, options: LocalStoreOptions = {}) {
    this.#root = root.length > 1 ? root.replace(/\/+$/, "") : root;
    this.#now = options.now ?? Date.now;
    this.#syncDir = options.syncDir ?? syncDir;
  }

  async head(key: string): Promise<ObjectInfo | null> {
    return this.#guard(key, async () => objectInfo(await this.#path(key), key));
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult | NotModified | null> {
    return this.#guard(key, async () => {
      const opened = await openObject(await this.#path(key), key);
      if (!opened) return null;
      const { file, info, dataStart } = opened;
      let handedOver = false;
      try {
        if (options.ifNoneMatch !== undefined && options.ifNoneMatch === info.etag) {
          return { status: "not-modified", etag: info.etag };
        }
        const { start, end } = options.range
          ? resolveRange(options.range, info.size, key)
          : { start: 0, end: info.size };
        if (end === start) {
          return { status: "ok", info, body: streamOf(new Uint8Array()), offset: 0, length: 0 };
        }
        await file.seek(dataStart + start, Deno.SeekMode.Start);
        handedOver = true;
        return {
          status: "ok",
          info,
          body: fileStream(file, end - start),
          offset: start,
          length: end - start,
        };
      } finally {
        if (!handedOver) file.close();
      }
    });
  }

  async put(key: string, body: Body, options: PutOptions = {}): Promise<PutResult> {
    return this.#guard(key, async () => {
      const path = await this.#path(key);
      const header = newHeader(key, options.contentType);
      const chunks = body instanceof Uint8Array ? [body] : body;
      const temp = await this.#writeTemp(header, chunks, options);
      await this.#commit(temp, path, key, options.mode);
      return { etag: header.etag };
    });
  }

  async delete(key: string): Promise<void> {
    await this.deleteMany([key]);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    const paths = await Promise.all(keys.map((key) => this.#guard(key, () => this.#path(key))));
    // Batches keep other writers from waiting behind one huge delete.
    for (let at = 0; at < paths.length; at += 1000) {
      const batch = paths.slice(at, at + 1000);
      const parents = await this.#guard(keys[at], () => this.#locked(() => this.#remove(batch)));
      for (const dir of parents) await this.#syncDir(dir);
    }
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    return this.#guard(options.prefix, () => listObjects(this.#root, options));
  }

  async createMultipart(
    key: string,
    options: { contentType?: string } = {},
  ): Promise<MultipartUpload> {
    return this.#guard(key, async () => {
      await this.#path(key);
      await this.#init();
      if (this.#now() - this.#lastSweep > SWEEP_EVERY_MS) await this.#sweep();
      const uploadId = crypto.randomUUID();
      await startUpload(this.#at(`.uploads/${uploadId}`), key, options.contentType);
      return { key, uploadId };
    });
  }

  async uploadPart(
    upload: MultipartUpload,
    partNumber: number,
    body: Uint8Array,
  ): Promise<UploadedPart> {
    return this.#guard(upload.key, async () => {
      const { dir } = await this.#upload(upload);
      checkPartNumber(partNumber, upload.key);
      const header = newHeader(upload.key, undefined);
      const temp = await this.#writeTemp(header, [body]);
      try {
        await Deno.rename(temp, `${dir}/${partNumber}`);
      } catch (error) {
        await Deno.remove(temp).catch(() => {});
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        throw new StoreError("not-found", `No such upload ${upload.uploadId}`, { key: upload.key });
      }
      return { partNumber, etag: header.etag };
    });
  }

  async completeMultipart(
    upload: MultipartUpload,
    parts: readonly UploadedPart[],
  ): Promise<PutResult> {
    const key = upload.key;
    return this.#guard(key, async () => {
      const path = await this.#path(key);
      const { dir, contentType } = await this.#upload(upload);
      const header = newHeader(key, contentType ?? undefined);
      await this.#commit(await this.#writeTemp(header, partChunks(dir, key, parts)), path, key);
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      return { etag: header.etag };
    });
  }

  async abortMultipart(upload: MultipartUpload): Promise<void> {
    if (!UPLOAD_ID.test(upload.uploadId)) return;
    await this.#guard(upload.key, async () => {
      await Deno.remove(this.#at(`.uploads/${upload.uploadId}`), { recursive: true })
        .catch(ignoreNotFound);
    });
  }

  #at(rel: string): string {
    return `${this.#root}/${rel}`;
  }

  #path(key: string): Promise<string> {
    return keyPath(key).then((rel) => this.#at(rel));
  }

  /** Incomplete multipart uploads (for GC's sweep), with when each last changed. */
  async listMultipart(options: { prefix?: string } = {}): Promise<UploadPage> {
    return { uploads: await listUploads(this.#at(".uploads"), options.prefix ?? ""), cursor: null };
  }

  /** Creates the root and sweeps what a crashed writer left behind. */
  #init(): Promise<void> {
    this.#ready ??= (async () => {
      await Deno.mkdir(this.#at(".tmp"), { recursive: true });
      await this.#sweep();
    })().catch((error) => {
      this.#ready = null;
      throw error;
    });
    return this.#ready;
  }

  /**
   * Removes temp files older than an hour and multipart uploads that got no part for a
   * day: a crashed writer's leftovers, which nothing else would ever remove.
   */
  async #sweep(): Promise<void> {
    const now = this.#now();
    this.#lastSweep = now;
    const stale = async (path: string, age: number) => {
      const stat = await Deno.stat(path).catch(() => null);
      return stat?.mtime != null && now - stat.mtime.getTime() > age;
    };
    for (const entry of await readDir(this.#at(".tmp"))) {
      const path = this.#at(`.tmp/${entry.name}`);
      if (await stale(path, STALE_TEMP_MS)) await Deno.remove(path).catch(() => {});
    }
    for (const entry of await readDir(this.#at(".uploads"))) {
      if (!entry.isDirectory || !UPLOAD_ID.test(entry.name)) continue;
      // Adding a part renames a file into the folder, which bumps the folder's mtime.
      const path = this.#at(`.uploads/${entry.name}`);
      if (await stale(path, STALE_UPLOAD_MS)) {
        await Deno.remove(path, { recursive: true }).catch(() => {});
      }
    }
  }

  async #upload(upload: MultipartUpload): Promise<{ dir: string; contentType: string | null }> {
    const dir = this.#at(`.uploads/${upload.uploadId}`);
    return { dir, contentType: await uploadContentType(dir, upload) };
  }

  /** Writes header and data to a durable temp file; the caller renames or removes it. */
  async #writeTemp(
    header: Header,
    chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
    options: { contentLength?: number; signal?: AbortSignal } = {},
  ): Promise<string> {
    await this.#init();
    const temp = this.#at(`.tmp/${crypto.randomUUID()}`);
    const file = await Deno.open(temp, { write: true, createNew: true });
    let done = false;
    try {
      await writeAll(file, encodeHeader(header));
      let size = 0;
      for await (const chunk of chunks) {
        options.signal?.throwIfAborted();
        await writeAll(file, chunk);
        size += chunk.length;
      }
      if (options.contentLength !== undefined && size !== options.contentLength) {
        throw new StoreError("invalid", `Body has ${size} bytes, not ${options.contentLength}`, {
          key: header.key,
        });
      }
      await file.sync();
      done = true;
      return temp;
    } finally {
      file.close();
      if (!done) await Deno.remove(temp).catch(() => {});
    }
  }

  /** Checks the put mode and renames `temp` over `path`, atomically between processes. */
  async #commit(temp: string, path: string, key: string, mode?: PutMode): Promise<void> {
    let created = false;
    try {
      await this.#locked(async () => {
        if (mode?.kind === "create" || mode?.kind === "replace") {
          const current = await objectInfo(path, key);
          if (mode.kind === "create" && current) {
            throw new StoreError("precondition-failed", `Object "${key}" exists`, { key });
          }
          if (mode.kind === "replace" && current?.etag !== mode.etag) {
            throw new StoreError("precondition-failed", `Object "${key}" changed`, { key });
          }
        }
        await Deno.rename(temp, path).catch(async (error) => {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
          await Deno.mkdir(dirname(path), { recursive: true });
          await Deno.rename(temp, path);
          created = true;
        });
      });
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
    // The object's own entry, then every folder above it that this instance has not yet
    // seen durable: a folder made by a concurrent put (which syncs it only after its own
    // rename) or by a writer that crashed is synced here too, before we acknowledge.
    const dir = dirname(path);
    await this.#syncDir(dir);
    const chain: string[] = [];
    for (let d = dir; d.length > this.#root.length; d = dirname(d)) {
      // Folders this put made are new whatever the set remembers (another process may
      // have removed them meanwhile).
      if (!created && this.#durable.has(d)) break;
      await this.#syncDir(dirname(d)); // d's entry lives in its parent
      chain.push(d);
    }
    for (const d of chain) this.#durable.add(d);
  }

  /** Removes object files and the folders they leave empty; returns the folders to sync. */
  async #remove(paths: readonly string[]): Promise<Set<string>> {
    const parents = new Set<string>();
    for (const path of paths) {
      if (!await Deno.remove(path).then(() => true, ignoreNotFound)) continue;
      let dir = dirname(path);
      while (dir.length > this.#root.length && dir !== this.#at(LONG)) {
        // Fails on a folder that is not empty, which ends the climb.
        if (!await Deno.remove(dir).then(() => true, () => false)) break;
        this.#durable.delete(dir);
        dir = dirname(dir);
      }
      parents.add(dir);
    }
    return parents;
  }

  /** Runs `fn` holding the store's lock: in-process queue first, then the file lock. */
  #locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(async () => {
      await this.#init();
      const lock = await Deno.open(this.#at(".lock"), { write: true, create: true });
      try {
        await lock.lock(true);
        return await fn();
      } finally {
        lock.close();
      }
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Translates filesystem errors into store errors. */
  async #guard<T>(key: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof StoreError || (error as Error)?.name === "AbortError") throw error;
      const denied = error instanceof Deno.errors.PermissionDenied ||
        error instanceof Deno.errors.NotCapable;
      const message = `Local store at "${this.#root}" failed: ${(error as Error)?.message}`;
      throw new StoreError(denied ? "denied" : "unknown", message, {
        cause: error,
        ...(key === undefined ? {} : { key }),
      });
    }
  }
}
