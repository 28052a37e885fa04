import { assert, assertEquals } from "../../tests/_assert.ts";
import { gunzipSync } from "node:zlib";
import { gzipJoin, gzipPart, storedPart } from "./gzip_parts.ts";
import { concat } from "../store/_util.ts";

const encoder = new TextEncoder();

/** Deterministic bytes that compress somewhat (JSON-like text with counters). */
function textOf(length: number, seed: number): Uint8Array {
  let text = "";
  for (let i = 0; text.length < length; i++) text += `"n${seed}-${i}":{"size":${i * 7}},`;
  return encoder.encode(text.slice(0, length));
}

Deno.test("`storedPart()` keeps its bytes as they are, with 5 bytes of framing per 64 KiB", () => {
  for (const length of [0, 1, 300, 65_535, 65_536, 200_000]) {
    const bytes = textOf(length, length);
    const part = storedPart(bytes, false);
    const blocks = Math.max(1, Math.ceil(length / 65_535));
    assertEquals(part.deflated.length, length + 5 * blocks);
    assertEquals(part.length, length);
    // The input is in there verbatim: nothing was compressed.
    assertEquals(
      part.deflated.subarray(5, 5 + Math.min(length, 65_535)),
      bytes.subarray(0, 65_535),
    );
  }
});

Deno.test("`gzipJoin()` of stored and compressed parts is a gzip member of their concatenation", () => {
  // gunzip checks the trailer's CRC-32 and length: a wrong combination throws.
  const head = textOf(300, 1);
  const chunks = [textOf(16_000, 2), textOf(1, 3), textOf(0, 4), textOf(70_000, 5)];
  const tail = textOf(66_000, 6);
  const parts = [
    storedPart(head, false),
    ...chunks.map((c, i) => i % 2 ? storedPart(c, false) : gzipPart(c, false)),
    storedPart(tail, true),
  ];
  assertEquals(new Uint8Array(gunzipSync(gzipJoin(parts))), concat([head, ...chunks, tail]));
  // A compressed last part ends the stream as well.
  const ending = gzipPart(tail, true);
  assertEquals(
    new Uint8Array(gunzipSync(gzipJoin([storedPart(head, false), ending]))),
    concat([head, tail]),
  );
});

Deno.test("`gzipJoin()` reuses a part in another place and another member", () => {
  // A part kept across versions keeps what it learnt on its first join (its CRC shift);
  // that must not depend on where it stood.
  const kept = gzipPart(textOf(5_000, 7), false);
  const a = textOf(10, 8);
  const b = textOf(9_999, 9);
  const first = gzipJoin([storedPart(a, false), kept, storedPart(b, true)]);
  const second = gzipJoin([storedPart(b, false), storedPart(a, false), kept, storedPart(a, true)]);
  assertEquals(new Uint8Array(gunzipSync(first)), concat([a, textOf(5_000, 7), b]));
  assertEquals(new Uint8Array(gunzipSync(second)), concat([b, a, textOf(5_000, 7), a]));
  assert(kept.shift !== undefined);
});
