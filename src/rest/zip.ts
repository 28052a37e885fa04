/**
 * GET `/zip/<folder>/` (optionally `?name=a&name=b` for some entries of the folder): a zip of
 * the folder's tree, streamed as it is read, without buffering (stored, not compressed: one
 * file's bytes at a time pass through). The tree's metadata is walked first, so a request
 * over the format's limits (65,535 entries, 4 GiB; no ZIP64) is refused with 413 before any
 * byte is sent. Symlinks are left out. Entry names are made safe to extract anywhere
 * ({@linkcode zipEntryName}).
 *
 * Entries use data descriptors (CRC-32 and sizes after the bytes), UTF-8 names, and the unix
 * mode and mtime of each entry. A file that changes while it is read ends up in the zip as it
 * was read; the descriptor and central directory record what was actually sent.
 *
 * @module
 */

import { attachment } from "../http/disposition.ts";
import { savedName } from "../http/shown_name.ts";
import type { Context, Hono } from "hono";
import type { Vfs } from "../vfs/mod.ts";
import { HttpError } from "./errors.ts";
import { fsPathOf } from "./path.ts";

/** Most entries in a zip without ZIP64. */
export const ZIP_MAX_ENTRIES = 0xffff;
/** Largest zip without ZIP64 (offsets are 32-bit). */
export const ZIP_MAX_BYTES = 0xffff_ffff;

interface Item {
  readonly path: string;
  /** The name inside the zip ("dir/" for folders). */
  readonly name: Uint8Array;
  readonly dir: boolean;
  readonly size: number;
  readonly mtime: number;
  readonly mode: number;
}

const encoder = new TextEncoder();

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Running CRC-32 (start with 0). */
export function crc32(crc: number, bytes: Uint8Array): number {
  let c = crc ^ 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** MS-DOS time and date of a unix time in ms (local fields taken as UTC). */
function dosTime(ms: number): { time: number; date: number } {
  const d = new Date(Math.max(ms, Date.UTC(1980, 0, 1)));
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
    date: ((d.getUTCFullYear() - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

function header(size: number, fill: (v: DataView) => void): Uint8Array {
  const out = new Uint8Array(size);
  fill(new DataView(out.buffer));
  return out;
}

const FLAGS = 0x0808; // bit 3: data descriptor; bit 11: UTF-8 names

function localHeader(item: Item): Uint8Array {
  const { time, date } = dosTime(item.mtime);
  const fixed = header(30, (v) => {
    v.setUint32(0, 0x04034b50, true);
    v.setUint16(4, 20, true);
    v.setUint16(6, FLAGS, true);
    v.setUint16(8, 0, true); // stored
    v.setUint16(10, time, true);
    v.setUint16(12, date, true);
    // CRC and sizes follow in the data descriptor.
    v.setUint16(26, item.name.length, true);
  });
  return concat(fixed, item.name);
}

function descriptor(crc: number, size: number): Uint8Array {
  return header(16, (v) => {
    v.setUint32(0, 0x08074b50, true);
    v.setUint32(4, crc, true);
    v.setUint32(8, size, true);
    v.setUint32(12, size, true);
  });
}

function centralEntry(item: Item, crc: number, size: number, offset: number): Uint8Array {
  const { time, date } = dosTime(item.mtime);
  const kind = item.dir ? 0o040000 : 0o100000;
  const fixed = header(46, (v) => {
    v.setUint32(0, 0x02014b50, true);
    v.setUint16(4, (3 << 8) | 20, true); // made by unix, spec 2.0
    v.setUint16(6, 20, true);
    v.setUint16(8, FLAGS, true);
    v.setUint16(10, 0, true);
    v.setUint16(12, time, true);
    v.setUint16(14, date, true);
    v.setUint32(16, crc, true);
    v.setUint32(20, size, true);
    v.setUint32(24, size, true);
    v.setUint16(28, item.name.length, true);
    v.setUint32(38, (((kind | (item.mode & 0o7777)) << 16) | (item.dir ? 0x10 : 0)) >>> 0, true);
    v.setUint32(42, offset, true);
  });
  return concat(fixed, item.name);
}

function endRecord(count: number, size: number, offset: number): Uint8Array {
  return header(22, (v) => {
    v.setUint32(0, 0x06054b50, true);
    v.setUint16(8, count, true);
    v.setUint16(10, count, true);
    v.setUint32(12, size, true);
    v.setUint32(16, offset, true);
  });
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Characters an entry name must not carry: "\" and C0 controls and DEL. */
// deno-lint-ignore no-control-regex
const UNSAFE = /[\\\x00-\x1f\x7f]/g;

/**
 * One name as a component of a zip entry's path (`first`: the entry's first component).
 * A PageFS name may hold anything but "/" and NUL, but unzip tools on Windows (Explorer,
 * 7-Zip) take "\" as a separator and a leading "C:" as a drive: a file named `..\..\x`
 * (which a JSON `to` accepted before session 18) or `C:\x` became an entry that extracts
 * outside the folder it is extracted to (zip slip), and APPNOTE 4.4.17 forbids both in entry
 * names. So "\", control characters (which `unzip -l` prints raw to the terminal), characters
 * that hide or reorder text (bidi overrides, zero-width: `savedName`) and the colon of a
 * leading drive letter become "_". Two names of one folder can then collide (`a\b`
 * and `a_b`): an unzip tool asks, as for any repeated name; nothing lands outside.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zipEntryName } from "./zip.ts";
 * assert(zipEntryName("..\\..\\x", false) === ".._.._x");
 * assert(zipEntryName("C:notes", true) === "C_notes");
 * assert(zipEntryName("C:notes", false) === "C:notes");
 * ```
 */
export function zipEntryName(name: string, first: boolean): string {
  // Characters that hide or reorder text become "_" too (since session 20): extracted,
  // `invoice\u202Egpj.exe` showed as "invoiceexe.jpg" (src/http/shown_name.ts).
  const safe = savedName(name).replace(UNSAFE, "_");
  return first && /^[A-Za-z]:/.test(safe) ? `${safe[0]}_${safe.slice(2)}` : safe;
}

/** Everything to put in the zip, parents before children; throws 413 over the limits. */
async function walk(vfs: Vfs, roots: { path: string; name: string }[]): Promise<Item[]> {
  const items: Item[] = [];
  let bytes = 22;
  const add = (item: Item) => {
    items.push(item);
    // Local header, data, descriptor, central entry.
    bytes += 30 + item.name.length + item.size + 16 + 46 + item.name.length;
    if (items.length > ZIP_MAX_ENTRIES || bytes > ZIP_MAX_BYTES) {
      throw new HttpError(
        413,
        "EFBIG",
        `A zip holds at most ${ZIP_MAX_ENTRIES} entries and 4 GiB here: download less at once`,
      );
    }
  };
  const visit = async (path: string, name: string) => {
    const stat = await vfs.lookup(path);
    if (stat.type === "symlink") return;
    const dir = stat.type === "directory";
    add({
      path,
      name: encoder.encode(dir ? `${name}/` : name),
      dir,
      size: dir ? 0 : stat.size,
      mtime: stat.mtime,
      mode: stat.mode,
    });
    if (!dir) return;
    let cursor: string | null = null;
    do {
      const page = await vfs.readdir(path, { limit: 10_000, ...(cursor ? { cursor } : {}) });
      for (const entry of page.entries) {
        const child = path === "/" ? `/${entry.name}` : `${path}/${entry.name}`;
        await visit(child, `${name}/${zipEntryName(entry.name, false)}`);
      }
      cursor = page.cursor;
    } while (cursor !== null);
  };
  for (const root of roots) await visit(root.path, root.name);
  return items;
}

/** The zip of `items` as a stream, reading one file at a time. */
function zipStream(vfs: Vfs, items: Item[]): ReadableStream<Uint8Array> {
  const central: Uint8Array[] = [];
  let offset = 0;
  let index = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | null = null;
  let current: { item: Item; start: number; crc: number; size: number } | null = null;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (current !== null && reader !== null) {
        const { done, value } = await reader.read();
        if (!done) {
          current.crc = crc32(current.crc, value);
          current.size += value.length;
          offset += value.length;
          controller.enqueue(value);
          return;
        }
        const tail = descriptor(current.crc, current.size);
        central.push(centralEntry(current.item, current.crc, current.size, current.start));
        offset += tail.length;
        controller.enqueue(tail);
        current = null;
        reader = null;
        return;
      }
      const item = items[index++];
      if (item === undefined) {
        const directory = central.reduce((n, c) => n + c.length, 0);
        for (const entry of central) controller.enqueue(entry);
        controller.enqueue(endRecord(central.length, directory, offset));
        controller.close();
        return;
      }
      const head = localHeader(item);
      const start = offset;
      offset += head.length;
      controller.enqueue(head);
      if (item.dir || item.size === 0) {
        const tail = descriptor(0, 0);
        central.push(centralEntry(item, 0, 0, start));
        offset += tail.length;
        controller.enqueue(tail);
        return;
      }
      const { body } = await vfs.readStream(item.path, { offset: 0, length: item.size });
      reader = body.getReader();
      current = { item, start, crc: 0, size: 0 };
    },
    async cancel(reason) {
      await reader?.cancel(reason);
    },
  });
}

function validName(name: string): boolean {
  return name !== "" && name !== "." && name !== ".." && !name.includes("/") &&
    !name.includes("\0") && name.length <= 255;
}

/** Registers GET `/zip/*`. */
export function registerZipRoutes(app: Hono, vfsOf: (c: Context) => Vfs): void {
  app.get("/zip/*", async (c) => {
    const view = vfsOf(c);
    const { path: asked } = fsPathOf(c);
    // The folder by its own name (symlinks on the way resolved), and a view of nothing
    // but it: the walk comes before each file's read, and a file (or a folder in it)
    // swapped for a symlink meanwhile must not lead the read out of the folder. Before
    // session 18 it did: a link to `/home/bob/secret.txt` put in place of a file of
    // `/home/alice/tree` while root's zip of the tree streamed brought bob's bytes in.
    const path = await view.realpath(asked, { follow: true });
    const vfs = path === "/" ? view : view.scoped(path);
    const stat = await vfs.getattr(path);
    if (stat.type !== "directory") {
      throw new HttpError(400, "ENOTDIR", "A zip is made of a folder or of entries of one");
    }
    const names = c.req.queries("name") ?? [];
    if (names.length > 10_000 || !names.every(validName)) {
      throw new HttpError(400, "EINVAL", "Each name must be one entry of the folder");
    }
    // Named as the client named the folder (a link's name, if it asked through one).
    const base = zipEntryName(
      asked === "/" ? "files" : asked.slice(asked.lastIndexOf("/") + 1),
      true,
    );
    const roots = names.length === 0 ? [{ path, name: base }] : [...new Set(names)].map((n) => ({
      path: path === "/" ? `/${n}` : `${path}/${n}`,
      name: zipEntryName(n, true),
    }));
    const items = await walk(vfs, roots);
    const file = `${names.length === 1 ? roots[0]!.name : base}.zip`;
    const headers = {
      "content-type": "application/zip",
      "content-disposition": attachment(file),
      "cache-control": "no-store",
    };
    if (c.req.method === "HEAD") return c.body(null, 200, headers);
    return c.body(zipStream(vfs, items), 200, headers);
  });
}
