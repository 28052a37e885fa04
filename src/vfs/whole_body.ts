/**
 * A small whole body handed to the VFS as it is ({@linkcode WholeBody}).
 *
 * Why: every write buffers its bytes in the handle's dirty data (`cache/dirty.ts`): a
 * holder registered with the memory budget, a buffer the bytes are copied into, a queue
 * of promises, sealed into a group commit at the commit. For a small PUT or create whose
 * body the front end has read whole already, that machinery holds nothing the body does
 * not: bench/cpu.ts (session 18) measured 0.05-0.1 ms of the server's CPU per 1-byte
 * create (0.45 -> 0.38 ms, medians of 5 rounds) saved by keeping the body as it is. The
 * bytes are then placed exactly as dirty data's would be: inline in the entry when they
 * fit, else in the next group-committed segment, sent when the commit places its data (not
 * earlier: sending it as soon as the request arrived, before the lock table's read, made
 * the segment groups smaller and the PUTs slower, see docs/bench.md, session 18).
 *
 * @module
 */

/**
 * Bytes the caller hands over whole: it must not change them afterwards.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WholeBody } from "./whole_body.ts";
 * const body = new WholeBody(new Uint8Array(4096));
 * assert(body.length === 4096); // pass it to `Vfs.writeFile` or `Vfs.write`
 * ```
 */
export class WholeBody {
  /** The whole body. */
  readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  get length(): number {
    return this.bytes.length;
  }
}
