// The on-disk format of the local store (see the notes atop ./local.ts): where a key's file
// lives, how a file name gives its key segment back (`_local_list.ts` walks the tree), and
// how one file holds a header and the data.
// Not part of the public surface.

import { checkKey, concat } from "./_util.ts";
import { type ObjectInfo, StoreError } from "./types.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const MAGIC = encoder.encode("PAGEFS-L");
const FIXED = MAGIC.length + 4;
const CHUNK = 128 * 1024;
// Well inside the 255-byte name limit and the shortest common path limit (1024, macOS).
const MAX_SEGMENT = 200;
const MAX_PATH = 800;

/** Folder (under the root) of the keys too long for the folder tree. */
export const LONG = ".long";

/** What an object file records besides its data. */
export interface Header {
  readonly key: string;
  readonly etag: string;
  readonly contentType: string | null;
  readonly lastModified: number;
}

/** An open object file positioned anywhere; the data starts at `dataStart`. */
export interface Opened {
  readonly file: Deno.FsFile;
  readonly info: ObjectInfo;
  readonly dataStart: number;
}

/**
 * The one place a key becomes a file path, relative to the store's root.
 *
 * @throws {StoreError} kind `invalid` for a key S3 would refuse or could not represent.
 */
export async function keyPath(key: string): Promise<string> {
  checkKey(key);
  if (!key.isWellFormed()) {
    // Lone surrogates have no UTF-8 form: S3 could not store them either.
    throw new StoreError("invalid", "Invalid object key: not well-formed Unicode", { key });
  }
  const segments = key.split("/").map(escapeSegment);
  const rel = segments.map((s, i) => (i === segments.length - 1 ? "o" : "d") + s).join("/");
  if (fitsTree(segments, rel)) return rel;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(key)));
  return `${LONG}/${Array.from(digest, hex).join("")}`;
}

/**
 * The folder holding the keys that start with `prefix` (as "" or "/d…/d…", to append to the
 * root), or null if no such folder can exist.
 */
export function prefixFolder(prefix: string): { rel: string; dirKey: string } | null {
  const segments = prefix.split("/").slice(0, -1).map(escapeSegment);
  const rel = segments.map((s) => `/d${s}`).join("");
  const dirKey = prefix.slice(0, prefix.lastIndexOf("/") + 1);
  return fitsTree(segments, rel) ? { rel, dirKey } : null;
}

/** True for a name in {@linkcode LONG} that this store writes. */
export function isLongName(name: string): boolean {
  return /^[0-9a-f]{64}$/.test(name);
}

function fitsTree(segments: readonly string[], rel: string): boolean {
  return rel.length <= MAX_PATH && segments.every((s) => s.length <= MAX_SEGMENT);
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

/** Escapes one key segment into a portable file name. */
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
export function unescapeSegment(name: string): string | null {
  try {
    const segment = decodeURIComponent(name);
    return escapeSegment(segment) === name ? segment : null;
  } catch {
    return null;
  }
}

/** The entries of a folder; none when it does not exist (a delete may just have pruned it). */
export async function readDir(dir: string): Promise<Deno.DirEntry[]> {
  return await Array.fromAsync(Deno.readDir(dir)).catch(ignoreNotFound) ?? [];
}

/** A header with a fresh ETag: random, so every write gets its own. */
export function newHeader(key: string, contentType: string | undefined): Header {
  const etag = crypto.randomUUID().replaceAll("-", "");
  return { key, etag, contentType: contentType ?? null, lastModified: Date.now() };
}

/** The bytes that start an object file: magic, header length, header JSON. */
export function encodeHeader(header: Header): Uint8Array {
  const json = encoder.encode(JSON.stringify(header));
  const out = new Uint8Array(FIXED + json.length);
  out.set(MAGIC);
  new DataView(out.buffer).setUint32(MAGIC.length, json.length);
  out.set(json, FIXED);
  return out;
}

/** Opens an object file and reads its header; null when absent. Checks the key if given. */
export async function openObject(path: string, key: string | null): Promise<Opened | null> {
  const file = await Deno.open(path).catch(ignoreNotFound);
  if (!file) return null;
  try {
    const head = await readUpTo(file, 4096);
    const valid = head.length >= FIXED && MAGIC.every((b, i) => head[i] === b);
    const stated = valid ? new DataView(head.buffer).getUint32(MAGIC.length) : -1;
    const length = stated <= 65536 ? stated : -1;
    const json = length < 0 || head.length >= FIXED + length
      ? head.subarray(FIXED, FIXED + length)
      : concat([head.subarray(FIXED), await readUpTo(file, FIXED + length - head.length)]);
    const header: Header | null = json.length === length ? parse(json) : null;
    if (!header || (key !== null && header.key !== key)) {
      throw new StoreError("unknown", `Object file "${path}" is corrupt`, {
        ...(key === null ? {} : { key }),
      });
    }
    const size = (await file.stat()).size - FIXED - length;
    const { etag, lastModified } = header;
    const info = { key: header.key, size, etag, lastModified: new Date(lastModified) };
    return { file, info, dataStart: FIXED + length };
  } catch (error) {
    file.close();
    throw error;
  }
}

/** The info in an object file's header; null when absent. Checks the key if given. */
export async function objectInfo(path: string, key: string | null): Promise<ObjectInfo | null> {
  const opened = await openObject(path, key);
  opened?.file.close();
  return opened?.info ?? null;
}

function parse(json: Uint8Array): Header | null {
  try {
    const header = JSON.parse(decoder.decode(json));
    return typeof header?.key === "string" && typeof header.etag === "string" ? header : null;
  } catch {
    return null;
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

/** Writes all of `bytes` (a write may take fewer). */
export async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
}

/** Streams `length` bytes from the file's position, closing the file when done or cancelled. */
export function fileStream(file: Deno.FsFile, length: number): ReadableStream<Uint8Array> {
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
        const n = left === 0 ? 0 : await file.read(chunk);
        if (n === null) throw new StoreError("unknown", "Object file ended early");
        left -= n;
        if (n > 0) controller.enqueue(chunk.subarray(0, n));
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
export async function syncDir(dir: string): Promise<void> {
  try {
    using handle = await Deno.open(dir);
    await handle.sync();
  } catch {
    // The data itself was synced; only the directory entry may lag.
  }
}

/** The folder part of a path this store built (always with "/"). */
export function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

/** A `catch` handler that turns "not found" into `undefined`. */
export function ignoreNotFound(error: unknown): undefined {
  if (error instanceof Deno.errors.NotFound) return undefined;
  throw error;
}
