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
 *   streams them into one temp file and commits it like a put.
 *
 * @module
 */

import { checkKey, compareKeys, paginate, resolveRange, streamOf } from "./_util.ts";
import {
  type Body,
  type GetOptions,
  type GetResult,
  type ListOptions,
  type ListPage,
  MAX_PARTS,
  MIN_PART_SIZE,
  type MultipartUpload,
  type NotModified,
  type ObjectInfo,
  type ObjectStore,
  type PutMode,
  type PutOptions,
  type PutResult,
  StoreError,
  type UploadedPart,
} from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MAGIC = encoder.encode("PAGEFS-L");
const FIXED = MAGIC.length + 4;
const CHUNK = 128 * 1024;
const MAX_SEGMENT = 200;
const MAX_PATH = 800;
const STALE_TEMP_MS = 60 * 60 * 1000;
const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HASHED = /^[0-9a-f]{64}$/;

interface Header {
  readonly key: string;
  readonly etag: string;
  readonly contentType: string | null;
  readonly lastModified: number;
}

/** An open object file positioned anywhere; the data starts at `dataStart`. */
interface Opened {
  readonly file: Deno.FsFile;
  readonly info: ObjectInfo;
  readonly dataStart: number;
}

/** A key found while listing; `path` null stands for a folder grouped by the delimiter. */
interface Found {
  readonly key: string;
  readonly path: string | null;
  readonly info?: ObjectInfo;
}

/**
 * An {@linkcode ObjectStore} in a local directory, safe to share between processes.
 *
 * @example
 * ```ts
 * import { LocalStore } from "./local.ts";
 * const root = await Deno.makeTempDir();
 * const store = new LocalStore(root);
 * await store.put("a/b", new TextEncoder().encode("hi"), { mode: { kind: "create" } });
 * console.assert((await store.head("a/b"))?.size === 2);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export class LocalStore implements ObjectStore {
  readonly kind = "local";
  readonly #root: string;
  #ready: Promise<void> | null = null;
  #queue: Promise<unknown> = Promise.resolve();

  /** Uses the directory `root`, creating it on the first write. */
  constructor(root: string) {
    this.#root = root.length > 1 ? root.replace(/\/+$/, "") : root;
  }

  async head(key: string): Promise<ObjectInfo | null> {
    return this.#guard(key, async () => {
      const opened = await openObject(await this.#path(key), key);
      opened?.file.close();
      return opened?.info ?? null;
    });
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
      for (const dir of parents) await syncDir(dir);
    }
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    return this.#guard(options.prefix, async () => {
      const prefix = options.prefix ?? "";
      const query = { prefix, after: options.cursor ?? "", group: options.delimiter === "/" };
      const found: Found[] = [];
      // Only the part of the prefix up to its last "/" names a folder to start from.
      const segments = prefix.split("/").slice(0, -1).map(escapeSegment);
      const start = segments.map((s) => `/d${s}`).join("");
      if (start.length <= MAX_PATH && segments.every((s) => s.length <= MAX_SEGMENT)) {
        const dirKey = prefix.slice(0, prefix.lastIndexOf("/") + 1);
        await walk(this.#root + start, dirKey, query, found);
      }
      for (const entry of await readDir(this.#at(".long"))) {
        if (!entry.isFile || !HASHED.test(entry.name)) continue;
        const opened = await openObject(this.#at(`.long/${entry.name}`), null);
        opened?.file.close();
        const info = opened?.info;
        if (info && info.key.startsWith(prefix) && after(info.key, query.after)) {
          found.push({ key: info.key, path: null, info });
        }
      }
      const page = paginate(found.sort((a, b) => compareKeys(a.key, b.key)), options);
      const objects: ObjectInfo[] = [];
      for (let at = 0; at < page.objects.length; at += 64) {
        const infos = await Promise.all(
          page.objects.slice(at, at + 64).map(async (item) => {
            if (item.info || item.path === null) return item.info;
            const opened = await openObject(item.path, item.key);
            opened?.file.close();
            return opened?.info;
          }),
        );
        // An object deleted since the walk is simply left out, as S3 may do.
        for (const info of infos) if (info) objects.push(info);
      }
      return { objects, prefixes: page.prefixes, cursor: page.cursor };
    });
  }

  async createMultipart(
    key: string,
    options: { contentType?: string } = {},
  ): Promise<MultipartUpload> {
    return this.#guard(key, async () => {
      await this.#path(key);
      await this.#init();
      const uploadId = crypto.randomUUID();
      const dir = this.#at(`.uploads/${uploadId}`);
      await Deno.mkdir(dir, { recursive: true });
      const state = { key, contentType: options.contentType ?? null };
      await Deno.writeTextFile(`${dir}/upload.json`, JSON.stringify(state));
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
      // Parts are checked as they stream: a bad one aborts the temp file, so nothing changes.
      async function* chunks(): AsyncGenerator<Uint8Array> {
        for (const [i, part] of parts.entries()) {
          checkPartNumber(part.partNumber, key);
          const opened = await openObject(`${dir}/${part.partNumber}`, key);
          const fault = !opened || opened.info.etag !== part.etag
            ? `Invalid part ${part.partNumber}`
            : i > 0 && part.partNumber <= parts[i - 1]!.partNumber
            ? "Parts must be in ascending order"
            : i < parts.length - 1 && opened.info.size < MIN_PART_SIZE
            ? `Part ${part.partNumber} is smaller than 5 MiB`
            : null;
          if (fault !== null || !opened) {
            opened?.file.close();
            throw new StoreError("invalid", fault ?? "", { key });
          }
          await opened.file.seek(opened.dataStart, Deno.SeekMode.Start);
          yield* fileStream(opened.file, opened.info.size);
        }
      }
      const header = newHeader(key, contentType ?? undefined);
      await this.#commit(await this.#writeTemp(header, chunks()), path, key);
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

  /** The one place a key becomes a file path. */
  async #path(key: string): Promise<string> {
    checkKey(key);
    if (!key.isWellFormed()) {
      // Lone surrogates have no UTF-8 form: S3 could not store them either.
      throw new StoreError("invalid", "Invalid object key: not well-formed Unicode", { key });
    }
    const segments = key.split("/").map(escapeSegment);
    const rel = segments.map((s, i) => (i === segments.length - 1 ? "o" : "d") + s).join("/");
    if (rel.length <= MAX_PATH && segments.every((s) => s.length <= MAX_SEGMENT)) {
      return this.#at(rel);
    }
    const digest = await crypto.subtle.digest("SHA-256", encoder.encode(key));
    return this.#at(`.long/${Array.from(new Uint8Array(digest), hex).join("")}`);
  }

  /** Creates the root and sweeps temp files that a crashed writer left behind. */
  #init(): Promise<void> {
    this.#ready ??= (async () => {
      await Deno.mkdir(this.#at(".tmp"), { recursive: true });
      for (const entry of await readDir(this.#at(".tmp"))) {
        const path = this.#at(`.tmp/${entry.name}`);
        const stat = await Deno.stat(path).catch(() => null);
        if (stat?.mtime && Date.now() - stat.mtime.getTime() > STALE_TEMP_MS) {
          await Deno.remove(path).catch(() => {});
        }
      }
    })().catch((error) => {
      this.#ready = null;
      throw error;
    });
    return this.#ready;
  }

  async #upload(upload: MultipartUpload): Promise<{ dir: string; contentType: string | null }> {
    const dir = this.#at(`.uploads/${upload.uploadId}`);
    const state = UPLOAD_ID.test(upload.uploadId)
      ? await Deno.readTextFile(`${dir}/upload.json`).catch(ignoreNotFound)
      : undefined;
    const { key, contentType } = state ? JSON.parse(state) : { key: null, contentType: null };
    if (key !== upload.key) {
      throw new StoreError("not-found", `No such upload ${upload.uploadId}`, { key: upload.key });
    }
    return { dir, contentType };
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
      const json = encoder.encode(JSON.stringify(header));
      const fixed = new Uint8Array(FIXED);
      fixed.set(MAGIC);
      new DataView(fixed.buffer).setUint32(MAGIC.length, json.length);
      await writeAll(file, fixed);
      await writeAll(file, json);
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
    try {
      await this.#locked(async () => {
        if (mode?.kind === "create" || mode?.kind === "replace") {
          const current = await openObject(path, key);
          current?.file.close();
          if (mode.kind === "create" && current) {
            throw new StoreError("precondition-failed", `Object "${key}" exists`, { key });
          }
          if (mode.kind === "replace" && current?.info.etag !== mode.etag) {
            throw new StoreError("precondition-failed", `Object "${key}" changed`, { key });
          }
        }
        try {
          await Deno.rename(temp, path);
        } catch (error) {
          if (!(error instanceof Deno.errors.NotFound)) throw error;
          await Deno.mkdir(dirname(path), { recursive: true });
          await Deno.rename(temp, path);
        }
      });
    } catch (error) {
      await Deno.remove(temp).catch(() => {});
      throw error;
    }
    await syncDir(dirname(path));
  }

  /** Removes object files and the folders they leave empty; returns the folders to sync. */
  async #remove(paths: readonly string[]): Promise<Set<string>> {
    const parents = new Set<string>();
    for (const path of paths) {
      if (!await Deno.remove(path).then(() => true, ignoreNotFound)) continue;
      let dir = dirname(path);
      while (dir.length > this.#root.length && dir !== this.#at(".long")) {
        // Fails on a folder that is not empty, which ends the climb.
        if (!await Deno.remove(dir).then(() => true, () => false)) break;
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

function newHeader(key: string, contentType: string | undefined): Header {
  const etag = crypto.randomUUID().replaceAll("-", "");
  return { key, etag, contentType: contentType ?? null, lastModified: Date.now() };
}

function checkPartNumber(partNumber: number, key: string): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
    throw new StoreError("invalid", `Invalid part number ${partNumber}`, { key });
  }
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

/** Escapes one key segment into a portable file name (see the module notes). */
function escapeSegment(segment: string): string {
  const bytes = encoder.encode(segment);
  let out = "";
  bytes.forEach((byte, i) => {
    const plain = (byte >= 0x61 && byte <= 0x7a) || (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x5f || byte === 0x2d || (byte === 0x2e && i < bytes.length - 1);
    out += plain ? String.fromCharCode(byte) : `%${hex(byte).toUpperCase()}`;
  });
  return out;
}

/** The segment an escaped name stands for, or null for a name this store never writes. */
function unescapeSegment(name: string): string | null {
  try {
    const segment = decodeURIComponent(name);
    return escapeSegment(segment) === name ? segment : null;
  } catch {
    return null;
  }
}

/** Collects the keys under folder `dir` (whose keys start with `dirKey`) that `query` wants. */
async function walk(
  dir: string,
  dirKey: string,
  query: { prefix: string; after: string; group: boolean },
  out: Found[],
): Promise<void> {
  for (const entry of await readDir(dir)) {
    const segment = unescapeSegment(entry.name.slice(1));
    if (segment === null) continue;
    const path = `${dir}/${entry.name}`;
    if (entry.name[0] === "o" && entry.isFile) {
      const key = dirKey + segment;
      if (key.startsWith(query.prefix) && after(key, query.after)) out.push({ key, path });
    } else if (entry.name[0] === "d" && entry.isDirectory) {
      const key = `${dirKey}${segment}/`;
      if (!key.startsWith(query.prefix) && !query.prefix.startsWith(key)) continue;
      // Every key in the folder sorts before the cursor.
      if (!after(key, query.after) && !query.after.startsWith(key)) continue;
      if (!query.group || !key.startsWith(query.prefix)) await walk(path, key, query, out);
      // With delimiter "/", all of the folder is one common prefix: one stand-in will do.
      else if (await hasObject(path)) out.push({ key, path: null });
    }
  }
}

async function hasObject(dir: string): Promise<boolean> {
  for (const entry of await readDir(dir)) {
    if (unescapeSegment(entry.name.slice(1)) === null) continue;
    if (entry.name[0] === "o" && entry.isFile) return true;
    if (entry.name[0] === "d" && entry.isDirectory && await hasObject(`${dir}/${entry.name}`)) {
      return true;
    }
  }
  return false;
}

function after(key: string, cursor: string): boolean {
  return cursor === "" || compareKeys(key, cursor) > 0;
}

async function readDir(dir: string): Promise<Deno.DirEntry[]> {
  return await Array.fromAsync(Deno.readDir(dir)).catch(ignoreNotFound) ?? [];
}

/** Opens an object file and reads its header; null when absent. Checks the key if given. */
async function openObject(path: string, key: string | null): Promise<Opened | null> {
  const file = await Deno.open(path).catch(ignoreNotFound);
  if (!file) return null;
  try {
    const head = await readUpTo(file, 4096);
    const corrupt = new StoreError("unknown", `Object file "${path}" is corrupt`, {
      ...(key === null ? {} : { key }),
    });
    if (head.length < FIXED || !MAGIC.every((b, i) => head[i] === b)) throw corrupt;
    const length = new DataView(head.buffer).getUint32(MAGIC.length);
    let json = head.subarray(FIXED, FIXED + length);
    if (json.length < length) {
      const rest = await readUpTo(file, length - json.length);
      if (json.length + rest.length < length) throw corrupt;
      json = Uint8Array.of(...json, ...rest);
    }
    let header: Header;
    try {
      header = JSON.parse(decoder.decode(json));
    } catch {
      throw corrupt;
    }
    if (key !== null && header.key !== key) throw corrupt;
    const size = (await file.stat()).size - FIXED - length;
    const info = {
      key: header.key,
      size,
      etag: header.etag,
      lastModified: new Date(header.lastModified),
    };
    return { file, info, dataStart: FIXED + length };
  } catch (error) {
    file.close();
    throw error;
  }
}

async function readUpTo(file: Deno.FsFile, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  let at = 0;
  while (at < length) {
    const n = await file.read(buffer.subarray(at));
    if (n === null) break;
    at += n;
  }
  return buffer.subarray(0, at);
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
}

/** Streams `length` bytes from the file's position, closing the file when done or cancelled. */
function fileStream(file: Deno.FsFile, length: number): ReadableStream<Uint8Array> {
  let left = length;
  let open = true;
  const close = () => {
    if (open) file.close();
    open = false;
  };
  return new ReadableStream({
    async pull(controller) {
      try {
        const chunk = new Uint8Array(Math.min(left, CHUNK));
        const n = await file.read(chunk);
        if (n === null) throw new StoreError("unknown", "Object file ended early");
        left -= n;
        controller.enqueue(chunk.subarray(0, n));
        if (left === 0) {
          close();
          controller.close();
        }
      } catch (error) {
        close();
        controller.error(error);
      }
    },
    cancel: close,
  }, { highWaterMark: 0 });
}

/** Makes a rename or removal in `dir` durable; best effort (Windows cannot open folders). */
async function syncDir(dir: string): Promise<void> {
  try {
    using handle = await Deno.open(dir);
    await handle.sync();
  } catch {
    // The data itself was synced; only the directory entry may lag.
  }
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

function ignoreNotFound(error: unknown): undefined {
  if (error instanceof Deno.errors.NotFound) return undefined;
  throw error;
}
