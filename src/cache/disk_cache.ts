/**
 * The disk tier under the page cache: whole 1 MiB blocks of immutable segment objects kept
 * as files in a local directory (`PAGEFS_CACHE_DIR`), bounded by size with least-recently-used
 * eviction, surviving restarts. Opt-in: Deno Deploy has no disk, so the default is memory only.
 *
 * Segments never change and their ids are never reused, so a block file named by segment
 * id and block index can never be stale: nothing is ever invalidated, GC's deletions
 * included (a deleted segment's blocks are simply never asked for again, and age out).
 *
 * A block file is written to a temporary name and renamed into place, so while the machine
 * runs a name exists only for a complete file. It carries a header with the data length
 * and a checksum. A file with the wrong size, header or checksum is a miss (and is
 * deleted), never wrong bytes. The checksum costs about as much CPU as the bytes
 * themselves, so it is checked once per file per process: on the first read of a file this
 * process did not write (one left by an earlier run). That is also what makes a crash
 * safe without an fsync per block: a file renamed just before the machine went down may
 * come back short or with zeroed pages, and then fails its size or checksum. Files are written off
 * the reader's critical path, a few at a time; when the queue is full a block is not cached.
 * Longer work for the tier (filling it with the blocks of a read that was answered without
 * them, `RangeStreams`) runs as background jobs, one at a time and a few queued at most.
 *
 * @module
 */

/** Bytes per disk block: the unit of caching on disk (aligned in the segment). */
export const DISK_BLOCK = 1 << 20;

const HEADER = 16;
const MAGIC = 0x50464331; // "PFC1"
/** Block writes running at once, and at most queued behind them. */
const WRITERS = 2;
const QUEUE_MAX = 16;
/** Background jobs (fills) queued at most behind the one running. */
const JOBS_MAX = 8;

/** Tuning of a {@linkcode DiskCache}. */
export interface DiskCacheOptions {
  /** The directory (created if missing); nothing else should write there. */
  readonly dir: string;
  /** Most bytes of block files kept (headers included). */
  readonly maxBytes: number;
}

/** Counters of a {@linkcode DiskCache}. */
export interface DiskCacheStats {
  readonly hits: number;
  readonly misses: number;
  /** Files found damaged (wrong size, header or checksum) and dropped. */
  readonly corrupt: number;
  readonly writes: number;
  /** Blocks not written because the write queue was full (or the caller had no memory). */
  readonly dropped: number;
  readonly evictions: number;
  /** Block writes and background jobs queued or running: 0 once the tier is settled. */
  readonly pending: number;
  /** Background jobs not run because too many were queued. */
  readonly jobsDropped: number;
  /** Bytes of block files now. */
  readonly bytes: number;
  readonly files: number;
}

interface Entry {
  /** File size, header included. */
  readonly size: number;
  /** Written or verified by this process: the checksum need not be checked again. */
  trusted: boolean;
}

/**
 * Block files of immutable segments in one directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DiskCache } from "./disk_cache.ts";
 * const dir = await Deno.makeTempDir();
 * const cache = await DiskCache.open({ dir, maxBytes: 64 << 20 });
 * cache.put("seg1", 0, new Uint8Array(100).fill(7));
 * await cache.flush();
 * const block = await cache.get("seg1", 0, 100);
 * assert(block?.[99] === 7);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class DiskCache {
  readonly #dir: string;
  readonly #tmp: string;
  readonly #maxBytes: number;
  /** Files in least-recently-used order: the first is evicted first. */
  readonly #files = new Map<string, Entry>();
  #bytes = 0;
  #queue: Array<() => Promise<void>> = [];
  #running = 0;
  /** Names being written (not in `#files` yet): a second write of one is skipped. */
  readonly #writing = new Set<string>();
  #jobs: Array<() => Promise<void>> = [];
  #jobRunning = false;
  #jobsDropped = 0;
  #idle: Array<() => void> = [];
  #hits = 0;
  #misses = 0;
  #corrupt = 0;
  #writes = 0;
  #dropped = 0;
  #evictions = 0;

  private constructor(options: DiskCacheOptions) {
    this.#dir = options.dir;
    this.#tmp = `${options.dir}/tmp`;
    this.#maxBytes = options.maxBytes;
  }

  /**
   * Opens (creating) the cache directory and indexes the block files already there, oldest
   * first by modification time; leftover temporary files of an earlier run are deleted.
   */
  static async open(options: DiskCacheOptions): Promise<DiskCache> {
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < DISK_BLOCK + HEADER) {
      throw new RangeError(`The disk cache must hold at least one block (${DISK_BLOCK} bytes)`);
    }
    const cache = new DiskCache(options);
    await Deno.mkdir(cache.#tmp, { recursive: true });
    for await (const e of Deno.readDir(cache.#tmp)) {
      await Deno.remove(`${cache.#tmp}/${e.name}`).catch(() => {});
    }
    const found: Array<{ name: string; size: number; mtime: number }> = [];
    for await (const e of Deno.readDir(options.dir)) {
      if (!e.isFile || !isBlockName(e.name)) continue;
      const info = await Deno.stat(`${options.dir}/${e.name}`).catch(() => null);
      if (info) found.push({ name: e.name, size: info.size, mtime: info.mtime?.getTime() ?? 0 });
    }
    found.sort((a, b) => a.mtime - b.mtime);
    for (const f of found) {
      cache.#files.set(f.name, { size: f.size, trusted: false });
      cache.#bytes += f.size;
    }
    await cache.#evict();
    return cache;
  }

  /** Most bytes of block files kept. */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /**
   * Block `index` of segment `id` if a sound file of exactly `length` data bytes holds it;
   * null otherwise (a damaged file is deleted).
   */
  async get(id: string, index: number, length: number): Promise<Uint8Array | null> {
    const name = blockName(id, index);
    const entry = this.#files.get(name);
    if (!entry || entry.size !== HEADER + length) {
      this.#misses++;
      return null;
    }
    this.#files.delete(name);
    this.#files.set(name, entry);
    // Reading into our own buffer costs a third of the CPU of Deno.readFile. A file an
    // earlier run left is read with one byte more than expected, so that a longer one shows
    // as such; one this process wrote or checked is read in one call, without the read
    // that would find its end.
    const buffer = new Uint8Array(HEADER + length + (entry.trusted ? 0 : 1));
    let got = 0;
    try {
      const file = await Deno.open(`${this.#dir}/${name}`);
      try {
        for (let n: number | null = 0; n !== null && got < buffer.length; got += n) {
          n = await file.read(buffer.subarray(got));
          if (n === null) break;
        }
      } finally {
        file.close();
      }
    } catch {
      this.#drop(name);
      this.#misses++;
      return null;
    }
    const data = buffer.subarray(HEADER, HEADER + length);
    const head = new DataView(buffer.buffer, 0, HEADER);
    const sound = got === HEADER + length && head.getUint32(0) === MAGIC &&
      head.getUint32(4) === length &&
      (entry.trusted || head.getUint32(8) === checksum(data));
    if (!sound) {
      this.#corrupt++;
      this.#misses++;
      this.#drop(name);
      await Deno.remove(`${this.#dir}/${name}`).catch(() => {});
      return null;
    }
    entry.trusted = true;
    this.#hits++;
    return data;
  }

  /** Whether block `index` of segment `id` has a file of `length` data bytes (unchecked). */
  has(id: string, index: number, length: number): boolean {
    return this.#files.get(blockName(id, index))?.size === HEADER + length;
  }

  /**
   * A buffer for a block of `length` bytes with room for the file header in front of it
   * (not part of the view): {@linkcode DiskCache.put} then writes it without a copy.
   */
  static allocate(length: number): Uint8Array {
    return new Uint8Array(HEADER + length).subarray(HEADER);
  }

  /**
   * Writes block `index` of segment `id` in the background, unless a file exists already or
   * the queue is full. Returns whether it was queued; `done` is then called once the write
   * has finished or failed (the caller may count `bytes` as memory until then). `bytes`
   * must not change meanwhile. With `dropOnly` (the caller had no memory for it) the block
   * is only counted as dropped.
   */
  put(
    id: string,
    index: number,
    bytes: Uint8Array,
    done?: () => void,
    options: { dropOnly?: boolean } = {},
  ): boolean {
    const name = blockName(id, index);
    if (this.#files.has(name) || this.#writing.has(name)) return false;
    if (this.#queue.length >= QUEUE_MAX || options.dropOnly) {
      this.#dropped++;
      return false;
    }
    this.#queue.push(async () => {
      try {
        await this.#write(name, bytes);
      } finally {
        done?.();
      }
    });
    this.#pump();
    return true;
  }

  /**
   * Writes block `index` of segment `id` now (for a background job, which waits for it
   * instead of queueing); false, writing nothing, if a file of it exists or is being
   * written. `bytes` must not change until it resolves.
   */
  async write(id: string, index: number, bytes: Uint8Array): Promise<boolean> {
    const name = blockName(id, index);
    if (this.#files.has(name) || this.#writing.has(name)) return false;
    await this.#write(name, bytes);
    return true;
  }

  /**
   * Runs `job` in the background once the jobs queued before it have finished (one at a
   * time); returns false, not running it, when {@linkcode JOBS_MAX} are queued already. A
   * job's failure is its own: it is dropped. {@linkcode DiskCache.flush} waits for jobs too.
   */
  background(job: () => Promise<void>): boolean {
    if (this.#jobs.length >= JOBS_MAX) {
      this.#jobsDropped++;
      return false;
    }
    this.#jobs.push(job);
    this.#runJobs();
    return true;
  }

  /** Resolves once every queued write and background job has finished. */
  flush(): Promise<void> {
    if (this.#settled()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  stats(): DiskCacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      corrupt: this.#corrupt,
      writes: this.#writes,
      dropped: this.#dropped,
      evictions: this.#evictions,
      pending: this.#running + this.#queue.length + this.#jobs.length + (this.#jobRunning ? 1 : 0),
      jobsDropped: this.#jobsDropped,
      bytes: this.#bytes,
      files: this.#files.size,
    };
  }

  #pump(): void {
    while (this.#running < WRITERS && this.#queue.length > 0) {
      const job = this.#queue.shift()!;
      this.#running++;
      job().catch(() => {}).finally(() => {
        this.#running--;
        this.#pump();
        this.#wakeIdle();
      });
    }
  }

  #runJobs(): void {
    if (this.#jobRunning) return;
    const job = this.#jobs.shift();
    if (!job) return;
    this.#jobRunning = true;
    job().catch(() => {}).finally(() => {
      this.#jobRunning = false;
      this.#runJobs();
      this.#wakeIdle();
    });
  }

  #settled(): boolean {
    return this.#running === 0 && this.#queue.length === 0 && !this.#jobRunning &&
      this.#jobs.length === 0;
  }

  #wakeIdle(): void {
    if (this.#settled()) { for (const resolve of this.#idle.splice(0)) resolve(); }
  }

  /** Temporary file, then renamed: a block name only ever names a whole file. */
  async #write(name: string, bytes: Uint8Array): Promise<void> {
    if (this.#files.has(name) || this.#writing.has(name)) return;
    this.#writing.add(name);
    try {
      await this.#writeFile(name, bytes);
    } finally {
      this.#writing.delete(name);
    }
  }

  async #writeFile(name: string, bytes: Uint8Array): Promise<void> {
    // A block from `allocate` has its header's room in front of it: one write of the
    // whole buffer. Any other takes a copy.
    const roomy = bytes.byteOffset === HEADER && bytes.buffer.byteLength === HEADER + bytes.length;
    const file = roomy
      ? new Uint8Array(bytes.buffer as ArrayBuffer)
      : new Uint8Array(HEADER + bytes.length);
    if (!roomy) file.set(bytes, HEADER);
    const view = new DataView(file.buffer, 0, HEADER);
    view.setUint32(0, MAGIC);
    view.setUint32(4, bytes.length);
    view.setUint32(8, checksum(bytes));
    view.setUint32(12, 0);
    const tmp = `${this.#tmp}/${name}.${crypto.randomUUID().slice(0, 8)}`;
    try {
      await Deno.writeFile(tmp, file, { createNew: true });
      await Deno.rename(tmp, `${this.#dir}/${name}`);
    } catch (error) {
      await Deno.remove(tmp).catch(() => {});
      throw error;
    }
    const size = HEADER + bytes.length;
    this.#files.set(name, { size, trusted: true });
    this.#bytes += size;
    this.#writes++;
    await this.#evict();
  }

  #drop(name: string): void {
    const entry = this.#files.get(name);
    if (!entry) return;
    this.#files.delete(name);
    this.#bytes -= entry.size;
  }

  async #evict(): Promise<void> {
    while (this.#bytes > this.#maxBytes) {
      const name = this.#files.keys().next().value;
      if (name === undefined) return;
      this.#drop(name);
      this.#evictions++;
      await Deno.remove(`${this.#dir}/${name}`).catch(() => {});
    }
  }
}

/** Block files are named `<segment id>.<block index>`. */
function blockName(id: string, index: number): string {
  return `${id}.${index}`;
}

function isBlockName(name: string): boolean {
  return /^[0-9a-zA-Z_-]+\.\d+$/.test(name);
}

/**
 * A Fletcher-style checksum over 32-bit words (and the tail bytes): catches truncation,
 * zeroed or reordered pages and changed words, at about a CPU cycle per byte.
 */
export function checksum(bytes: Uint8Array): number {
  const words = bytes.length >>> 2;
  const w = bytes.byteOffset % 4 === 0
    ? new Int32Array(bytes.buffer, bytes.byteOffset, words)
    : new Int32Array(bytes.slice(0, words * 4).buffer);
  let s = 0;
  let t = 0;
  for (let i = 0; i < words; i++) {
    s = (s + w[i]!) | 0;
    t = (t + s) | 0;
  }
  for (let i = words * 4; i < bytes.length; i++) {
    s = (s + bytes[i]!) | 0;
    t = (t + s) | 0;
  }
  return ((s ^ (t << 1) ^ (t >>> 31)) ^ bytes.length) >>> 0;
}
