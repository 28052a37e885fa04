/**
 * A gzip member assembled from separately compressed parts (the technique of pigz): each
 * part is raw deflate ended by a sync flush (byte-aligned, not final, no reference to
 * earlier bytes), the last one ends the stream, and the CRC-32 of the whole is combined
 * from the parts' CRCs without reading their bytes again. Any gzip reader decodes it as
 * the concatenation of the parts, so a part that did not change can be kept compressed.
 *
 * A part that changes on every write and is small (a directory object's head, with its
 * times, and its tail, with the write history) is stored, not compressed
 * ({@linkcode storedPart}): `deflateRawSync` sets up a zlib stream per call (its window,
 * its buffers), which cost more CPU than compressing a 64-entry chunk, and a directory
 * commit paid it three times (head, changed chunk, tail). The stored bytes are a few
 * hundred more on the wire; the part that holds the entries stays compressed.
 *
 * @module
 */

import { constants, crc32, deflateRawSync } from "node:zlib";

/** One compressed part: its raw deflate bytes, and the CRC-32 and length of its input. */
export interface GzipPart {
  deflated: Uint8Array;
  crc: number;
  length: number;
  /**
   * x^(8·length) mod P, what combining this part's CRC after others takes; computed on the
   * first join and kept, so a part kept across versions costs one multiplication a join.
   */
  shift?: number;
}

/**
 * The most bytes of a directory object's growing last chunk that are stored rather than
 * compressed (see `encodeEntries` in meta.ts, `encodeDelta` in `_entries_layout.ts`): a
 * create appends a small entry to it, and storing it spares a zlib stream per commit; but
 * a chunk of entries carrying large xattrs (120 KiB each) is megabytes, which took every
 * shard of such a folder over the 512 KiB stored limit at a few entries (session 19:
 * 4,096 such files made 1,421 objects, 351 MiB stored).
 */
export const STORED_CHUNK_MAX = 64 << 10;

/** Compresses `bytes` as a part; `last` ends the deflate stream. */
export function gzipPart(bytes: Uint8Array, last: boolean, level = 1): GzipPart {
  const deflated = deflateRawSync(bytes, {
    level,
    finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
  });
  return { deflated: new Uint8Array(deflated), crc: crc32(bytes) >>> 0, length: bytes.length };
}

/** The most bytes one stored deflate block holds (its length field has 16 bits). */
const STORED_MAX = 0xffff;

/**
 * `bytes` as a part of stored (uncompressed) deflate blocks: no zlib stream, just 5 bytes
 * of framing per 64 KiB. Each block is byte-aligned by construction, so what follows may
 * start anywhere; `last` marks the final block, ending the deflate stream.
 */
export function storedPart(bytes: Uint8Array, last: boolean): GzipPart {
  const blocks = Math.max(1, Math.ceil(bytes.length / STORED_MAX));
  const deflated = new Uint8Array(bytes.length + 5 * blocks);
  let at = 0;
  for (let i = 0; i < blocks; i++) {
    const piece = bytes.subarray(i * STORED_MAX, (i + 1) * STORED_MAX);
    // BFINAL in bit 0, BTYPE 00 (stored) in bits 1-2; the rest of the byte is padding.
    deflated[at] = last && i === blocks - 1 ? 1 : 0;
    deflated[at + 1] = piece.length & 0xff;
    deflated[at + 2] = piece.length >>> 8;
    deflated[at + 3] = ~piece.length & 0xff;
    deflated[at + 4] = (~piece.length >>> 8) & 0xff;
    deflated.set(piece, at + 5);
    at += 5 + piece.length;
  }
  return { deflated, crc: crc32(bytes) >>> 0, length: bytes.length };
}

const HEADER = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];

/** The gzip member of `parts` in order; only the last may have been made with `last`. */
export function gzipJoin(parts: GzipPart[]): Uint8Array {
  let size = HEADER.length + 8;
  for (const part of parts) size += part.deflated.length;
  const out = new Uint8Array(size);
  out.set(HEADER, 0);
  let at = HEADER.length;
  let crc = 0;
  let length = 0;
  for (const part of parts) {
    out.set(part.deflated, at);
    at += part.deflated.length;
    part.shift ??= x2nModP(part.length, 3);
    crc = (multModP(part.shift, crc) ^ part.crc) >>> 0;
    length += part.length;
  }
  const view = new DataView(out.buffer);
  view.setUint32(at, crc, true);
  view.setUint32(at + 4, length % 2 ** 32, true);
  return out;
}

// CRC-32 combination as in zlib's crc32_combine: crc(A·B) = crc(A)·x^(8|B|) mod P ^ crc(B),
// with polynomials over GF(2) in zlib's reflected bit order.
const POLY = 0xedb88320;

function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** x^(2^n) mod P for n = 0..31. */
const X2N: number[] = (() => {
  const table: number[] = [];
  let p = 0x40000000; // x^1
  table.push(p);
  for (let n = 1; n < 32; n++) table.push(p = multModP(p, p));
  return table;
})();

/** x^(n·2^k) mod P. */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000; // x^0
  while (n) {
    if (n & 1) p = multModP(X2N[k & 31]!, p);
    n = Math.floor(n / 2);
    k++;
  }
  return p;
}

/** The CRC-32 of A followed by B, from crc(A), crc(B) and B's length. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(x2nModP(lengthB, 3), crcA) ^ crcB) >>> 0;
}
