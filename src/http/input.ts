/**
 * Request input: query parameters, declared body lengths, streamed bodies held to their
 * declared length, and size-limited JSON bodies. Everything malformed is a 4xx.
 *
 * @module
 */

import type { Context } from "hono";
import { FsError } from "../vfs/mod.ts";
import { badRequest, HttpError } from "./errors.ts";
import { repeatedName } from "../json.ts";
import { Deadlines } from "../deadlines.ts";
import { closeAfterAnswer } from "./connection.ts";
import { bodySlotOf } from "./body_slots.ts";
import {
  BODY_CHUNK,
  type BodyReader,
  bodyReader,
  ChunkedReadSize,
  FRAMED_BODY_CHUNK,
  framedLength,
  LARGE_FRAMED_BODY,
} from "./body_reader.ts";

/**
 * How long a request body may send nothing before the request is given up (408): the
 * default of nginx's `client_body_timeout`. A client that stops sending mid-body would
 * otherwise hold its request, and the share of the memory budget its buffered bytes
 * take, for as long as its connection stays open: enough stalled uploads starve every
 * other upload of the budget (`PAGEFS_BODY_TIMEOUT_MS`).
 */
export const BODY_IDLE_MS = 60_000;

const BODY_IDLE_KEY = "pagefs.bodyIdleMs";

/** Sets this request's {@linkcode BODY_IDLE_MS} (the app does, from its options). */
export function setBodyIdleMs(c: Context, ms: number): void {
  c.set(BODY_IDLE_KEY as never, ms as never);
}

/** This request's limit of silence in its body, in milliseconds. */
export function bodyIdleMs(c: Context): number {
  return (c.get(BODY_IDLE_KEY as never) as number | undefined) ?? BODY_IDLE_MS;
}

/** The error of a body that went silent: ETIMEDOUT, which every front end answers 408. */
export function bodyTimeout(idleMs: number, seen: number): FsError {
  return new FsError(
    "ETIMEDOUT",
    `The request body sent nothing for ${idleMs / 1000} s after ${seen} bytes`,
  );
}

/**
 * One watch per idle limit in use (there is one, unless tests set more): one interval
 * timer for every body read under way (`deadlines.ts`; a timer per read cost 2-4 µs, and
 * a 256 MiB body is 16,384 reads). It keeps the process alive: a read under way is what
 * it waits for.
 */
const watches = new Map<number, Deadlines>();

/**
 * One read of a request body, given up after `idleMs` without an answer (up to an eighth
 * more): `cancel` then stops the body, and the read throws {@linkcode bodyTimeout}. A
 * cancelled read ends as if the body had ended, so a body cut short this way can never
 * pass for a whole one. Only reads under way are timed: a body its consumer does not read
 * for a while (waiting for memory) is not the client's silence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { idleRead } from "./input.ts";
 * const silent = new ReadableStream<Uint8Array>().getReader();
 * const code = await idleRead(() => silent.read(), () => silent.cancel(), 10, 0)
 *   .then(() => "", (error) => error.code);
 * assert(code === "ETIMEDOUT");
 * ```
 */
export async function idleRead<R>(
  read: () => Promise<R>,
  cancel: () => Promise<unknown>,
  idleMs: number,
  seen: number,
): Promise<R> {
  let watch = watches.get(idleMs);
  if (!watch) watches.set(idleMs, watch = new Deadlines(idleMs, { keepAlive: true }));
  let silent = false;
  const done = watch.start(() => {
    silent = true;
    cancel().catch(() => {});
  });
  try {
    const result = await read();
    if (silent) throw bodyTimeout(idleMs, seen);
    return result;
  } catch (error) {
    throw silent ? bodyTimeout(idleMs, seen) : error;
  } finally {
    done();
  }
}

/** A non-negative safe integer written in decimal digits only. */
export function parseUint(text: string, what: string): number {
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw badRequest(`Invalid ${what} "${text}": expected a non-negative integer`);
  }
  return value;
}

/** An optional integer query parameter. */
export function queryUint(c: Context, name: string): number | undefined {
  const text = c.req.query(name);
  return text === undefined ? undefined : parseUint(text, name);
}

/** A boolean query flag: absent, "0" or "false" is false; "", "1" or "true" is true. */
export function queryFlag(c: Context, name: string): boolean {
  const text = c.req.query(name);
  if (text === undefined || text === "0" || text === "false") return false;
  if (text === "" || text === "1" || text === "true") return true;
  throw badRequest(`Invalid ${name} "${text}": expected 1 or 0`);
}

/** The declared `Content-Length`, if any. @throws {HttpError} 400 unless an integer. */
export function contentLength(c: Context): number | undefined {
  const text = c.req.header("content-length");
  return text === undefined ? undefined : parseUint(text.trim(), "Content-Length");
}

/**
 * The request body as a stream that fails unless it carries exactly `expected` bytes
 * (when given), so a cut-off upload is never committed as if it were whole. A body that
 * breaks off (the client closed or reset the connection) fails the same way: either is
 * the client's doing, an EINVAL (400), never a server error.
 *
 * Each chunk is valid only until the next read: the consumer copies it before it reads on
 * (the VFS's writes do). The body is read through {@linkcode bodyReader}, into one buffer,
 * the same for every chunk of the request: {@linkcode FRAMED_BODY_CHUNK} bytes for a large
 * body framed by its `Content-Length` (whose connection is then closed after the answer),
 * {@linkcode BODY_CHUNK} for any other (a chunked body's reads then grow to its frame size
 * once it is known, {@linkcode ChunkedReadSize}). The default
 * reads allocated a new 64 KiB buffer per chunk: 16 concurrent 64 MiB uploads left a GiB of
 * them to the garbage collector, over 100 MiB dead at once, and the allocator kept the
 * memory they had taken.
 */
export function requestBody(
  c: Context,
  expected: number | undefined,
): ReadableStream<Uint8Array> | Uint8Array {
  const body = c.req.raw.body;
  if (!body) return noBody(expected);
  const framed = framedLength(c.req.raw.headers);
  const large = framed !== null && framed >= LARGE_FRAMED_BODY;
  if (large) closeAfterAnswer(c);
  const reader = bodyReader(body, {
    reuse: true,
    chunk: large ? FRAMED_BODY_CHUNK : BODY_CHUNK,
    // A chunked body's reads learn its frame size: one read per frame (`ChunkedReadSize`).
    ...(framed === null ? { sizer: new ChunkedReadSize() } : {}),
  });
  const idleMs = bodyIdleMs(c);
  // Only so many bodies are read at once (`body_slots.ts`).
  const slot = bodySlotOf(c);
  let seen = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const read = () => readChunk(reader, seen, idleMs);
        const next = slot ? await slot.read(read) : await read();
        if (next.done) {
          slot?.end();
          // The runtime's read buffer of this connection grew with a chunked body the
          // client sent ahead of PageFS, and keeps its size while the connection lives:
          // closed after the answer, the memory goes with it (256 keep-alive connections
          // that had carried 4 MiB each held 200 MiB, bench/crowd.ts).
          if (!framed && seen >= CHUNKED_CLOSE_BYTES) closeAfterAnswer(c);
          if (expected !== undefined && seen !== expected) throw wrongLength(expected);
          controller.close();
          return;
        }
        seen += next.value.length;
        if (expected !== undefined && seen > expected) {
          await reader.cancel().catch(() => {});
          throw wrongLength(expected);
        }
        controller.enqueue(next.value);
      } catch (error) {
        slot?.end();
        throw error;
      }
    },
    cancel(reason) {
      slot?.end();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** A chunked body of at least this many bytes closes its connection after the answer. */
export const CHUNKED_CLOSE_BYTES = 1024 * 1024;

/** Bodies declaring at most this many bytes are read whole before a write's checks. */
export const SMALL_BODY = 64 * 1024;

/**
 * The whole body, read now, when it declares at most `max` bytes; null for a larger or
 * undeclared one (stream it with {@linkcode requestBody}). A write's lock check then runs
 * after its body arrived, so the check repeated right before the commit may reuse that
 * one read: no longer than one data write apart, as a fresh re-read would be.
 *
 * @throws {FsError} EINVAL when the body is not exactly `expected` bytes.
 */
export async function smallBody(
  c: Context,
  expected: number | undefined,
  max = SMALL_BODY,
): Promise<Uint8Array | null> {
  if (expected === undefined || expected > max) return null;
  // Read straight from the request, without requestBody's stream around it: this runs for
  // every small write, and the checks are the same.
  const body = c.req.raw.body;
  if (!body) return noBody(expected);
  const reader = bodyReader(body);
  const idleMs = bodyIdleMs(c);
  let out = new Uint8Array(expected);
  let at = 0;
  for (;;) {
    if (reader.readInto) {
      // Straight into the answer (no buffer per read, no copy), at most BODY_CHUNK a read;
      // a read of one byte past the declared length must find the end.
      const room = expected - at;
      const view = room > 0
        ? new Uint8Array(out.buffer, at, Math.min(BODY_CHUNK, room))
        : new Uint8Array(1);
      const next = await readChunk(reader, at, idleMs, view);
      if (next.done) break;
      if (room === 0) {
        await reader.cancel().catch(() => {});
        throw wrongLength(expected);
      }
      // The read took the buffer and gave it back as the chunk's.
      out = new Uint8Array(next.value.buffer as ArrayBuffer, 0, expected);
      at += next.value.length;
      continue;
    }
    const next = await readChunk(reader, at, idleMs);
    if (next.done) break;
    if (at + next.value.length > expected) {
      await reader.cancel().catch(() => {});
      throw wrongLength(expected);
    }
    out.set(next.value, at);
    at += next.value.length;
  }
  if (at !== expected) throw wrongLength(expected);
  return out;
}

/** An absent body, which is right only for a declared length of 0 or none. */
function noBody(expected: number | undefined): Uint8Array {
  if (expected !== undefined && expected !== 0) {
    throw badRequest(`Content-Length is ${expected} but there is no body`);
  }
  return new Uint8Array(0);
}

/**
 * The next chunk of a request body; a body that breaks off is the client's EINVAL, one
 * silent for `idleMs` an ETIMEDOUT (408, {@linkcode idleRead}).
 */
async function readChunk(
  reader: BodyReader,
  seen: number,
  idleMs: number,
  into?: Uint8Array,
): Promise<ReadableStreamReadResult<Uint8Array>> {
  const cancel = () => reader.cancel();
  const read = into && reader.readInto ? () => reader.readInto!(into) : () => reader.read();
  try {
    return await idleRead(read, cancel, idleMs, seen);
  } catch (error) {
    if (error instanceof FsError) throw error;
    const why = error instanceof Error ? error.message : String(error);
    throw new FsError("EINVAL", `The request body broke off after ${seen} bytes: ${why}`);
  }
}

function wrongLength(expected: number | undefined): FsError {
  return new FsError("EINVAL", `Body length differs from the declared ${expected} bytes`);
}

/** True for `application/json` and `application/*+json`, with any parameters. */
function isJsonType(value: string | undefined): boolean {
  const type = value?.split(";")[0]?.trim().toLowerCase() ?? "";
  return type === "application/json" || /^application\/[\w.+-]+\+json$/.test(type);
}

/**
 * The whole body of at most `maxBytes`, read without buffering more than that: 413 when it
 * is larger (declared or sent), 400 when it breaks off, 408 when it goes silent.
 */
async function boundedBody(
  c: Context,
  maxBytes: number,
  what: string,
): Promise<Uint8Array<ArrayBuffer>> {
  const tooLarge = () =>
    new HttpError(413, "EFBIG", `${what} bodies are limited to ${maxBytes} bytes`);
  const declared = contentLength(c);
  if (declared !== undefined && declared > maxBytes) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let total = 0;
  const body = c.req.raw.body;
  if (body) {
    const reader = bodyReader(body);
    const idleMs = bodyIdleMs(c);
    for (;;) {
      const read = idleRead(() => reader.read(), () => reader.cancel(), idleMs, total);
      const { done, value } = await read.catch((error) => {
        if (error instanceof FsError) throw error;
        const why = error instanceof Error ? error.message : String(error);
        throw badRequest(`The ${what} body broke off after ${total} bytes: ${why}`);
      });
      if (done) break;
      total += value.length;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

/** Form fields this small are all a sign-in or sign-out form ever sends. */
export const MAX_FORM_BYTES = 16 * 1024;

/**
 * The text fields of an HTML form body (`application/x-www-form-urlencoded` or
 * `multipart/form-data`), read whole and bounded; a body of any other type has none (as
 * Hono's `parseBody` answers). A form body that breaks off, is malformed or too large is
 * the client's 4xx: Hono's `parseBody` let a cut-off body through as a 500, and read a
 * body of any size into memory.
 *
 * @throws {HttpError} 413 when too large, 400 when cut off or malformed.
 */
export async function readForm(
  c: Context,
  maxBytes = MAX_FORM_BYTES,
): Promise<Record<string, string>> {
  const type = c.req.header("content-type") ?? "";
  const kind = type.split(";")[0]!.trim().toLowerCase();
  if (kind !== "application/x-www-form-urlencoded" && kind !== "multipart/form-data") return {};
  const bytes = await boundedBody(c, maxBytes, "Form");
  let form: FormData;
  try {
    form = await new Request("http://form.invalid/", {
      method: "POST",
      headers: { "content-type": type },
      body: bytes,
    }).formData();
  } catch {
    throw badRequest("Malformed form body");
  }
  const out: Record<string, string> = {};
  for (const [name, value] of form) {
    // The last of a repeated name, as `parseBody` took it.
    if (typeof value === "string") out[name] = value;
  }
  return out;
}

/**
 * Reads a JSON object body of at most `maxBytes` without buffering more than that.
 *
 * @throws {HttpError} 415 for another media type, 413 when too large, 400 when malformed.
 */
export async function readJsonObject(
  c: Context,
  maxBytes: number,
): Promise<Record<string, unknown>> {
  if (!isJsonType(c.req.header("content-type"))) {
    throw new HttpError(415, "EINVAL", "Expected Content-Type: application/json");
  }
  const bytes = await boundedBody(c, maxBytes, "JSON");
  let value: unknown;
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    value = JSON.parse(text);
  } catch {
    throw badRequest("Malformed JSON body");
  }
  const repeated = repeatedName(text);
  if (repeated !== null) {
    throw badRequest(`The JSON body names ${JSON.stringify(repeated)} twice in one object`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw badRequest("The JSON body must be an object");
  }
  return value as Record<string, unknown>;
}
