/**
 * Rendered answers kept for the next identical request: a listing page (PROPFIND members,
 * an HTTP API listing) is rendered once per version of what it was made of and then sent
 * from these bytes while nothing changed. A front end asks for its data as always (the
 * conditional GETs that prove it current), and renders only if the version differs.
 *
 * The key says what was asked (path, view, properties, cursor); the version what it was
 * made of ({@linkcode ReaddirPage.version}). Bounded: at most `maxBytes` in all, least
 * recently used dropped first; an answer over a quarter of that is not kept.
 *
 * @module
 */

/** Default bytes kept (one cache serves both front ends of an app). */
export const RENDER_CACHE_BYTES = 16 << 20;

/**
 * Listing pages read and rendered at once, by default (see {@linkcode RenderCache.exclusive}).
 * Rendering is CPU work: more at once makes none faster, only more of them held in memory.
 */
export const RENDERS_AT_ONCE = 2;

/** Bytes per chunk when an answer is sent from rendered bytes (see {@linkcode sliced}). */
const SLICE = 64 * 1024;

interface Kept {
  readonly version: string;
  readonly chunks: readonly Uint8Array<ArrayBuffer>[];
  readonly bytes: number;
}

/**
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RenderCache } from "./render_cache.ts";
 * const cache = new RenderCache(1024);
 * cache.set("/a", "v1", [new Uint8Array([1, 2])]);
 * assert(cache.get("/a", "v1")?.length === 1);
 * assert(cache.get("/a", "v2") === null);
 * ```
 */
export class RenderCache {
  readonly maxBytes: number;
  #kept = new Map<string, Kept>();
  #bytes = 0;
  /** The largest answer kept (a quarter of `maxBytes`). */
  get maxAnswer(): number {
    return this.maxBytes / 4;
  }
  /** Answers sent from kept bytes, and answers rendered (for tests and metrics). */
  hits = 0;
  misses = 0;

  readonly maxRenders: number;
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(maxBytes = RENDER_CACHE_BYTES, maxRenders = RENDERS_AT_ONCE) {
    this.maxBytes = maxBytes;
    this.maxRenders = maxRenders;
  }

  /**
   * Runs `fn` (reading a listing page, looking it up here and rendering it if missing) once
   * fewer than `maxRenders` others are running, the rest waiting their turn. Each listing
   * holds its page's entries and rendered bytes while it runs: 100 concurrent PROPFINDs of
   * a 10,000-entry directory all rendering at once peaked at 1 GiB of RSS. In turn, the
   * first of many identical listings renders and the others find its bytes here.
   */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#running >= this.maxRenders) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#running++;
    try {
      return await fn();
    } finally {
      this.#running--;
      this.#waiting.shift()?.();
    }
  }

  /** The bytes rendered for `key` at `version` (one chunk), or null (counted as a miss). */
  get(key: string, version: string): readonly Uint8Array<ArrayBuffer>[] | null {
    const kept = this.#kept.get(key);
    if (!kept || kept.version !== version) {
      this.misses++;
      return null;
    }
    this.#kept.delete(key);
    this.#kept.set(key, kept);
    this.hits++;
    return kept.chunks;
  }

  /**
   * Keeps `chunks` as the answer for `key` at `version` (replacing any other version), and
   * gives back what it keeps (one chunk), or null when the answer is too large to keep.
   */
  set(
    key: string,
    version: string,
    chunks: readonly Uint8Array<ArrayBuffer>[],
  ): readonly Uint8Array<ArrayBuffer>[] | null {
    this.#drop(key);
    const size = chunks.reduce((n, c) => n + c.length, 0);
    const bytes = size + key.length + version.length;
    if (bytes > this.maxAnswer) return null;
    // One buffer: sent with one write, not one per chunk it was rendered in.
    const whole = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) {
      whole.set(chunk, at);
      at += chunk.length;
    }
    this.#kept.set(key, { version, chunks: [whole], bytes });
    this.#bytes += bytes;
    while (this.#bytes > this.maxBytes) this.#drop(this.#kept.keys().next().value!);
    return [whole];
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#bytes;
  }

  #drop(key: string): void {
    const kept = this.#kept.get(key);
    if (!kept) return;
    this.#kept.delete(key);
    this.#bytes -= kept.bytes;
  }
}

/**
 * `chunks` as a stream of views of at most 64 KiB, made as the stream is read: an answer
 * sent from kept bytes then costs no copy of them per request (a `Uint8Array` body is
 * copied whole into each response, 1.3 MiB per concurrent listing of 10,000 entries).
 */
export function sliced(chunks: readonly Uint8Array<ArrayBuffer>[]): ReadableStream<Uint8Array> {
  let chunk = 0;
  let at = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      while (chunk < chunks.length && at >= chunks[chunk]!.length) [chunk, at] = [chunk + 1, 0];
      if (chunk >= chunks.length) return controller.close();
      const view = chunks[chunk]!.subarray(at, at + SLICE);
      at += view.length;
      controller.enqueue(view);
    },
  }, { highWaterMark: 0 });
}
