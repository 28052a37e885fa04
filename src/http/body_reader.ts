/**
 * Reading request bodies from the runtime: how many bytes each read asks for, and a
 * reader that asks for no more whatever the stream's own chunk size (the runtime's read
 * buffer of a connection grows with the largest read and keeps that size). Every read of
 * a request body goes through {@linkcode bodyReader}; `input.ts` builds the request
 * bodies the handlers read on it.
 *
 * @module
 */

/**
 * Bytes asked of the runtime per read of a request body. Deno.serve (2.9, its own HTTP/1.1
 * path) reads, at each body read, up to as many bytes from the socket as the largest read
 * ever asked on that connection, into a per-connection buffer, but hands out at most one
 * chunked frame per read: a frame's tail comes as a short read of its own. So each frame
 * costs one read more than it fills, and that read's bytes stay behind in the buffer for
 * as long as the client sends faster than PageFS reads. Outside the memory budget, and the
 * buffer keeps its size while the connection lives. Against 64 KiB frames (Deno's `fetch`)
 * a 64 KiB read leaves as much behind as it hands out, a 16 KiB one a quarter of it; with 1
 * MiB reads a scratch server taking 16 chunked 64 MiB uploads grew to 981 MiB. A body sent
 * with a `Content-Length` has no frames and is unaffected. See docs/architecture.md.
 */
export const BODY_CHUNK = 16 * 1024;

/**
 * Bytes asked per read of a large body framed by a `Content-Length` (no chunked transfer
 * coding, at least {@linkcode LARGE_FRAMED_BODY} bytes): a body without chunked frames
 * leaves nothing behind in the runtime's buffer, whatever the read size, and each read
 * costs a fixed share of CPU. Against 16 KiB reads, a 256 MiB PUT with a `Content-Length`
 * cost PageFS 0.14 s less CPU (0.65 -> 0.51 s, medians of 5), a scratch server that only
 * drains such a body 0.19 -> 0.10 s; reads of 256 KiB or 1 MiB saved nothing more. But
 * the connection's read size stays grown: 16 chunked 64 MiB uploads on keep-alive
 * connections that had each carried one such body first peaked at 304-446 MiB in that
 * scratch server against 72-76 MiB on fresh ones, so such a connection is closed after
 * its answer (`connection.ts`); then 80 MiB. docs/bench.md has the figures.
 */
export const FRAMED_BODY_CHUNK = 64 * 1024;

/**
 * Bodies framed by a `Content-Length` of at least this many bytes (one multipart part)
 * are read {@linkcode FRAMED_BODY_CHUNK} at a time, their connection closed after the
 * answer; a new connection is then a small price next to the body.
 */
export const LARGE_FRAMED_BODY = 8 * 1024 * 1024;

/**
 * The declared length of a body framed by its `Content-Length` (HTTP/1.1 without
 * `Transfer-Encoding`, so without chunked frames); null for any other, or one that does
 * not parse (the handlers refuse that one).
 */
export function framedLength(headers: Headers): number | null {
  const text = headers.get("content-length");
  if (text === null || headers.has("transfer-encoding")) return null;
  const value = /^\d{1,16}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  return Number.isSafeInteger(value) ? value : null;
}

/** The runtime's own slot of a stream's controller (see {@linkcode isByteStream}). */
let controllerSlot: symbol | null | undefined;

/**
 * Whether `body` is a byte stream, without asking for a BYOB reader: Deno.serve hands a
 * small body that came with its request's head (under about 800 bytes: a create's one
 * byte) as a plain stream of bytes it already holds, and a BYOB reader of it throws. The
 * TypeError and its unwinding cost 7-9 µs per request in a bare server (19 µs of a create's
 * CPU in PageFS's profile). The controller's class says it at no cost, through the
 * runtime's internal slot; null when that slot is not there (another runtime or version):
 * the caller then asks for the BYOB reader and takes the refusal as before.
 */
export function isByteStream(body: ReadableStream<Uint8Array>): boolean | null {
  if (controllerSlot === undefined) {
    controllerSlot = Object.getOwnPropertySymbols(body).find((symbol) =>
      symbol.description === "[[controller]]"
    ) ?? null;
  }
  if (controllerSlot === null || typeof ReadableByteStreamController === "undefined") return null;
  const controller = (body as unknown as Record<symbol, unknown>)[controllerSlot];
  if (controller instanceof ReadableByteStreamController) return true;
  return controller instanceof ReadableStreamDefaultController ? false : null;
}

/** A chunked body adapts its read size only once it has carried this many bytes. */
export const LEARN_AFTER_BYTES = 1024 * 1024;
/** Frames of one size in a row that make it the body's frame size. */
const FRAMES_TO_LEARN = 4;
/** Frame sizes a read size is learned for (a read of one frame is at most this, plus margin). */
const MIN_FRAME = 4 * 1024;
const MAX_FRAME = 256 * 1024;
/** Asked beyond a frame: its framing (the size line and CRLF) and chunk extensions. */
const FRAME_MARGIN = 64;
/**
 * The first read of a frame is short of what it asked by the frame's framing, at most
 * this much: the runtime's socket read that began the frame also took the CRLF ending the
 * frame before and the size line (9 bytes for a 64 KiB frame).
 */
const FRAMING_SLACK = 32;

/**
 * The read size of a chunked request body, learned from the body's own frames. The
 * runtime hands out at most one chunked frame per read (`BODY_CHUNK`), and the read that
 * begins a frame comes short of what it asked by the frame's framing (a few bytes, at most
 * {@linkcode FRAMING_SLACK}): the bytes from one such read to the next are a frame, however
 * often the socket ran dry in between. Once {@linkcode FRAMES_TO_LEARN} frames in a row had
 * one size, reads ask for that size plus {@linkcode FRAME_MARGIN}: each read then takes one
 * whole frame, and the runtime's socket read of that size leaves no more than the framing
 * behind (a 16 KiB read left a quarter of each 64 KiB frame in the runtime's buffer, and
 * took five reads and ever larger buffer moves per frame). Deno's `fetch` sends a stream
 * body in 64 KiB frames: a scratch server draining a 256 MiB chunked body spent 0.14 s of
 * CPU with these reads (4,184-4,225 reads) against 0.27-0.37 s with 16 KiB reads (20,480),
 * peak RSS about the same (49-54 MiB); plain 64 KiB reads, the frame's tail then coming
 * as a read of its own, 0.88 s.
 *
 * Only after {@linkcode LEARN_AFTER_BYTES}: the connection of a chunked body that long is
 * closed after its answer (`CHUNKED_CLOSE_BYTES` in `input.ts`), so the larger read size
 * the runtime keeps for the connection goes with it. Four reads that do not end a frame of
 * the learned size where one should end (another frame size, frames of mixed sizes) put
 * the reads back to {@linkcode BODY_CHUNK} until a size is learned again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BODY_CHUNK, ChunkedReadSize } from "./body_reader.ts";
 * const sizer = new ChunkedReadSize();
 * assert(sizer.size === BODY_CHUNK);
 * // 64 KiB frames through 16 KiB reads: the first short of its framing, the last a tail.
 * for (let frame = 0; frame < 16; frame++) {
 *   for (const got of [16375, 16384, 16384, 16384, 9]) sizer.took(sizer.size, got);
 * }
 * sizer.took(sizer.size, 16375); // the next frame begins
 * assert(sizer.size === 65536 + 64);
 * // Then each read takes the rest of a frame, or a whole one, and the size holds.
 * for (const got of [65536 - 16375, 65536, 65536, 30000, 35536, 65536]) {
 *   sizer.took(sizer.size, got);
 * }
 * assert(sizer.size === 65536 + 64);
 * // Smaller frames: reads no longer end where frames of the learned size would.
 * for (let frame = 0; frame < 8; frame++) sizer.took(sizer.size, 40000);
 * assert(sizer.size === BODY_CHUNK);
 * ```
 */
export class ChunkedReadSize {
  #size = BODY_CHUNK;
  #seen = 0;
  /** Learning: bytes since the last read that began a frame (-1: none yet). */
  #sinceStart = -1;
  /** Learning: the last frame's size, and how many frames in a row had it. */
  #frame = 0;
  #streak = 0;
  /** Learned: bytes of the frame being read, and reads that overran a frame in a row. */
  #at = 0;
  #misses = 0;

  /** Bytes the next read asks for. */
  get size(): number {
    return this.#size;
  }

  /** Notes a read that asked for `asked` bytes and got `got`. */
  took(asked: number, got: number): void {
    this.#seen += got;
    if (this.#size !== BODY_CHUNK) {
      const frame = this.#size - FRAME_MARGIN;
      this.#at += got;
      if (this.#at === frame) {
        this.#at = 0;
        this.#misses = 0;
      } else if (this.#at > frame) {
        this.#at = 0;
        if (++this.#misses >= FRAMES_TO_LEARN) this.#relearn();
      }
      return;
    }
    const begins = got < asked && got >= asked - FRAMING_SLACK;
    if (!begins) {
      if (this.#sinceStart >= 0) this.#sinceStart += got;
      return;
    }
    const frame = this.#sinceStart;
    this.#sinceStart = got;
    if (frame < 0) return;
    this.#streak = frame === this.#frame ? this.#streak + 1 : 1;
    this.#frame = frame;
    if (
      this.#seen >= LEARN_AFTER_BYTES && this.#streak >= FRAMES_TO_LEARN &&
      frame >= MIN_FRAME && frame <= MAX_FRAME
    ) {
      this.#size = frame + FRAME_MARGIN;
      this.#at = got;
      this.#misses = 0;
    }
  }

  #relearn(): void {
    this.#size = BODY_CHUNK;
    this.#sinceStart = -1;
    this.#frame = 0;
    this.#streak = 0;
  }
}

/** What {@linkcode bodyReader} gives: the reads of a default reader. */
export interface BodyReader {
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  /**
   * A BYOB read into `view` (which it takes; the chunk comes back on its buffer), for a
   * byte stream; absent otherwise.
   */
  readInto?(view: Uint8Array): Promise<ReadableStreamReadResult<Uint8Array>>;
  cancel(reason?: unknown): Promise<void>;
  releaseLock(): void;
}

/**
 * A reader of a request body that asks the runtime for at most `chunk` bytes per read
 * (default {@linkcode BODY_CHUNK}; BYOB reads), whatever the stream's own chunk size
 * (Deno.serve's default reads ask for 64 KiB): every read of a request body goes through
 * it, because the runtime's per-connection read size only grows, so one large read on a
 * keep-alive connection would hold for every later body on it. With `sizer`, each read asks
 * for what it says instead (a chunked body, {@linkcode ChunkedReadSize}). With `reuse`, every read
 * goes into the buffer of the chunk before (transferred back): each chunk is then valid
 * only until the next read. A stream that is not a byte stream is read as it comes.
 */
export function bodyReader(
  body: ReadableStream<Uint8Array>,
  options: { reuse?: boolean; chunk?: number; sizer?: ChunkedReadSize } = {},
): BodyReader {
  const { sizer } = options;
  const chunk = options.chunk ?? BODY_CHUNK;
  if (isByteStream(body) === false) return body.getReader();
  let byob: ReadableStreamBYOBReader;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    return body.getReader();
  }
  let last: ArrayBuffer | null = null;
  return {
    async read() {
      const size = sizer?.size ?? chunk;
      const buffer = options.reuse && last && last.byteLength >= size
        ? last
        : new ArrayBuffer(size);
      const next = await byob.read(new Uint8Array(buffer, 0, size));
      if (next.done) return { done: true } as ReadableStreamReadDoneResult<Uint8Array>;
      sizer?.took(size, next.value.length);
      last = next.value.buffer as ArrayBuffer;
      return next as ReadableStreamReadResult<Uint8Array>;
    },
    readInto: (view) => byob.read(view) as Promise<ReadableStreamReadResult<Uint8Array>>,
    cancel: (reason) => byob.cancel(reason),
    releaseLock: () => byob.releaseLock(),
  };
}
