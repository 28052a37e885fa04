/**
 * The typed store of spilled xattrs (since session 21): a file's or symlink's xattrs of
 * more than {@linkcode XATTR_SPILL_BYTES} keep only their names (and value lengths) in the
 * record, as an `XattrRef`, and their values in an immutable object `x/<id>` of their own,
 * as a spilled page map is kept in `m/<id>`. So a directory object holds at most about a
 * KiB of xattrs an entry, and what a listing or a lookup decodes no longer grows with them
 * (docs/format.md, "Spilled xattrs"). An object is written once under a fresh id, before
 * the CAS that names it, and never changed: a change of one xattr writes a new one, and
 * the old one is GC's. Each instance keeps the values it read or wrote in an LRU bounded
 * by their length and fetches concurrent reads of one id once.
 *
 * @module
 */

import { newId, xattrKey } from "./keys.ts";
import { checkXattrValues, decode, encode, FORMAT_VERSION, type Xattrs } from "./meta.ts";
import type { XattrRef } from "./meta_types.ts";
import type { ObjectStore } from "../store/types.ts";
import { readAll } from "../store/_util.ts";

/**
 * Xattrs (names and base64 values) above which a record spills them. 1 KiB: the cut at
 * which a listing already held an entry without its xattrs (`_dir_listing.ts`), so that
 * an entry in a directory object carries at most about that much (4,096 entries, about
 * 5 MiB of JSON at most), while the small dead properties clients set (a Windows client's
 * times, a few hundred bytes) stay inline and cost no request.
 */
export const XATTR_SPILL_BYTES = 1024;

/** The most JSON one `x/<id>` decodes to: 128 KiB of names and values, with room. */
const DECODE_XATTR_BYTES = 1 << 20;

/** The base64 length of values this instance keeps (strings of up to 128 KiB each). */
const CACHE_BYTES = 8 << 20;

/** The stored form of `x/<id>`. */
interface XattrObject {
  v: number;
  xattr: Xattrs;
}

/** The names and base64 lengths `bytes` of xattrs `xattr` count (names + values). */
export function xattrBytes(xattr: Readonly<Xattrs>): number {
  let bytes = 0;
  for (const name in xattr) bytes += name.length + xattr[name]!.length;
  return bytes;
}

/** The names and base64 lengths of spilled xattrs `ref` count, as {@linkcode xattrBytes}. */
export function refBytes(ref: Readonly<XattrRef>): number {
  let bytes = 0;
  for (const name in ref.sizes) bytes += name.length + ref.sizes[name]!;
  return bytes;
}

/**
 * What is wrong with the object `x/<id>` in `store`, for fsck and GC's walk (`missing`: it
 * is not there; else it is corrupt), or null when it is a valid xattr object.
 */
export async function checkXattrObject(
  store: ObjectStore,
  id: string,
): Promise<{ missing: boolean; detail: string } | null> {
  const key = xattrKey(id);
  const found = await store.get(key);
  if (found?.status !== "ok") return { missing: true, detail: "Spilled xattrs are missing" };
  try {
    decode(key, await readAll(found.body), checkXattrValues, DECODE_XATTR_BYTES);
    return null;
  } catch (error) {
    return { missing: false, detail: (error as Error).message };
  }
}

/** Spilled xattr values of one store, with this instance's cache of them. */
export class XattrValues {
  readonly #store: ObjectStore;
  readonly #cache = new Map<string, Xattrs>();
  readonly #loading = new Map<string, Promise<Xattrs | null>>();
  #bytes = 0;

  constructor(store: ObjectStore) {
    this.#store = store;
  }

  /**
   * The values of `x/<id>`, or `null` when the object is missing. `keep: false` (a listing,
   * which reads each once) does not keep what it reads: kept values live long enough to
   * be promoted to V8's old generation, where a listing of 4,096 files of 120 KiB each
   * left 75 MiB more garbage than values dropped young (in-process probe: peak RSS +115
   * MiB against +40 for the listing).
   * @throws {CorruptError} when it is not a valid xattr object.
   */
  get(id: string, options: { keep?: boolean } = {}): Promise<Xattrs | null> {
    const cached = this.#cache.get(id);
    if (cached) {
      this.#cache.delete(id);
      this.#cache.set(id, cached);
      return Promise.resolve(cached);
    }
    let load = this.#loading.get(id);
    if (!load) {
      load = this.#load(id).finally(() => this.#loading.delete(id));
      this.#loading.set(id, load);
    }
    if (options.keep === false) return load;
    return load.then((xattr) => {
      if (xattr) this.#remember(id, xattr);
      return xattr;
    });
  }

  async #load(id: string): Promise<Xattrs | null> {
    const key = xattrKey(id);
    const result = await this.#store.get(key);
    if (result?.status !== "ok") return null;
    const bytes = await readAll(result.body);
    return decode<XattrObject>(key, bytes, checkXattrValues, DECODE_XATTR_BYTES).xattr;
  }

  /**
   * Stores `xattr` under a fresh id (a create: nothing names it yet) and returns the
   * reference a record holds instead of them.
   */
  async put(xattr: Xattrs): Promise<XattrRef> {
    const id = newId();
    const object: XattrObject = { v: FORMAT_VERSION, xattr };
    await this.#store.put(xattrKey(id), encode(object), { contentType: "application/json" });
    this.#remember(id, xattr);
    const sizes: Record<string, number> = {};
    for (const name in xattr) {
      Object.defineProperty(sizes, name, {
        value: xattr[name]!.length,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return { id, sizes };
  }

  #remember(id: string, xattr: Xattrs): void {
    const size = xattrBytes(xattr);
    if (size > CACHE_BYTES / 4 || this.#cache.has(id)) return;
    this.#cache.set(id, xattr);
    this.#bytes += size;
    for (const [old, value] of this.#cache) {
      if (this.#bytes <= CACHE_BYTES) break;
      this.#cache.delete(old);
      this.#bytes -= xattrBytes(value);
    }
  }
}
