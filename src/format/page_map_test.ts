import { assert, assertEquals } from "../../tests/_assert.ts";
import {
  checkPageMap,
  type Extent,
  mapBytes,
  mapEnd,
  mapSegments,
  type PageMap,
  resolveRange,
  truncateMap,
  writeExtent,
} from "./page_map.ts";

Deno.test("writeExtent() splits the extent it lands inside", () => {
  const map = writeExtent([[0, 100, "a", 0]], 40, 10, "b", 7);
  assertEquals(map, [[0, 40, "a", 0], [40, 10, "b", 7], [50, 50, "a", 50]]);
});

Deno.test("writeExtent() cuts and drops the extents it overlaps", () => {
  const map: PageMap = [[0, 10, "a", 0], [10, 10, "b", 0], [20, 10, "c", 0], [40, 5, "d", 0]];
  assertEquals(writeExtent(map, 5, 20, "x", 0), [
    [0, 5, "a", 0],
    [5, 20, "x", 0],
    [25, 5, "c", 5],
    [40, 5, "d", 0],
  ]);
  assertEquals(writeExtent(map, 0, 50, "x", 0), [[0, 50, "x", 0]]);
  assertEquals(writeExtent(map, 32, 4, "x", 0), [...map.slice(0, 3), [32, 4, "x", 0], map[3]]);
});

Deno.test("writeExtent() merges an extent that continues its neighbours", () => {
  let map = writeExtent([], 0, 10, "s", 100);
  map = writeExtent(map, 20, 10, "s", 120);
  map = writeExtent(map, 10, 10, "s", 110);
  assertEquals(map, [[0, 30, "s", 100]]);
  // Same file position but a different segment position: no merge.
  assertEquals(writeExtent(map, 30, 5, "s", 200), [[0, 30, "s", 100], [30, 5, "s", 200]]);
  // Rewriting bytes with the very bytes they already map to changes nothing.
  assertEquals(writeExtent(map, 5, 10, "s", 105), map);
});

Deno.test("writeExtent() with zero length returns the map itself", () => {
  const map: PageMap = [[0, 1, "a", 0]];
  assert(writeExtent(map, 0, 0, "b", 0) === map);
});

Deno.test("writeExtent() rejects negative and fractional offsets", () => {
  for (const args of [[-1, 1, 0], [0, -1, 0], [0, 1, -1], [0.5, 1, 0]] as const) {
    let threw = false;
    try {
      writeExtent([], args[0], args[1], "a", args[2]);
    } catch (error) {
      threw = error instanceof RangeError;
    }
    assert(threw, `args ${args}`);
  }
});

Deno.test("truncateMap() drops and cuts extents at or past the size", () => {
  const map: PageMap = [[0, 10, "a", 0], [20, 10, "b", 5]];
  assertEquals(truncateMap(map, 25), [[0, 10, "a", 0], [20, 5, "b", 5]]);
  assertEquals(truncateMap(map, 20), [[0, 10, "a", 0]]);
  assertEquals(truncateMap(map, 15), [[0, 10, "a", 0]]);
  assertEquals(truncateMap(map, 0), []);
  assert(truncateMap(map, 1000) === map);
});

Deno.test("resolveRange() reports holes as null segments and covers the range exactly", () => {
  const map: PageMap = [[10, 10, "a", 100], [30, 10, "b", 0]];
  assertEquals(resolveRange(map, 0, 50), [
    { fileOffset: 0, length: 10, segment: null, segmentOffset: 0 },
    { fileOffset: 10, length: 10, segment: "a", segmentOffset: 100 },
    { fileOffset: 20, length: 10, segment: null, segmentOffset: 0 },
    { fileOffset: 30, length: 10, segment: "b", segmentOffset: 0 },
    { fileOffset: 40, length: 10, segment: null, segmentOffset: 0 },
  ]);
  assertEquals(resolveRange(map, 15, 17), [
    { fileOffset: 15, length: 5, segment: "a", segmentOffset: 105 },
    { fileOffset: 20, length: 10, segment: null, segmentOffset: 0 },
    { fileOffset: 30, length: 2, segment: "b", segmentOffset: 0 },
  ]);
  // Starting exactly where an extent ends yields no empty piece for it.
  assertEquals(resolveRange(map, 20, 15), [
    { fileOffset: 20, length: 10, segment: null, segmentOffset: 0 },
    { fileOffset: 30, length: 5, segment: "b", segmentOffset: 0 },
  ]);
  assertEquals(resolveRange(map, 12, 0), []);
  assertEquals(resolveRange([], 5, 3), [
    { fileOffset: 5, length: 3, segment: null, segmentOffset: 0 },
  ]);
});

Deno.test("mapBytes(), mapEnd() and mapSegments() summarize a map", () => {
  const map: PageMap = [[10, 10, "a", 100], [30, 5, "b", 0], [40, 1, "a", 0]];
  assertEquals(mapBytes(map), 16);
  assertEquals(mapEnd(map), 41);
  assertEquals([...mapSegments(map)].sort(), ["a", "b"]);
  assertEquals(mapBytes([]), 0);
  assertEquals(mapEnd([]), 0);
});

Deno.test("checkPageMap() accepts a valid map and names what is wrong with a bad one", () => {
  assertEquals(checkPageMap([[0, 1, "a", 0], [1, 1, "a", 5]]), [[0, 1, "a", 0], [1, 1, "a", 5]]);
  const bad: Array<[unknown, string]> = [
    [{}, "not an array"],
    [[[0, 1, "a"]], "malformed"],
    [[[0, 1, 2, 0]], "malformed"],
    [[[-1, 1, "a", 0]], "malformed"],
    [[[0, 0, "a", 0]], "empty"],
    [[[0, 5, "a", 0], [4, 1, "b", 0]], "overlaps"],
    [[[5, 1, "a", 0], [0, 1, "b", 0]], "overlaps"],
    [[[0, 5, "a", 0], [5, 1, "a", 5]], "not merged"],
  ];
  for (const [value, problem] of bad) {
    let message = "";
    try {
      checkPageMap(value);
    } catch (error) {
      assert(error instanceof TypeError);
      message = error.message;
    }
    assert(message.includes(problem), `${JSON.stringify(value)}: "${message}"`);
  }
});

/** A small seeded PRNG (mulberry32) so a failing run can be replayed. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

function freeze(map: PageMap): PageMap {
  for (const extent of map) Object.freeze(extent);
  return Object.freeze(map);
}

/** Reads `[offset, offset + length)` of the file the way the VFS would: map + segments. */
function reconstruct(
  map: PageMap,
  segments: Map<string, Uint8Array>,
  offset: number,
  length: number,
): Uint8Array {
  const out = new Uint8Array(length);
  let at = offset;
  for (const piece of resolveRange(map, offset, length)) {
    assertEquals(piece.fileOffset, at, "pieces are in order and contiguous");
    assert(piece.length > 0, "no empty pieces");
    if (piece.segment !== null) {
      const segment = segments.get(piece.segment)!;
      assert(piece.segmentOffset + piece.length <= segment.length, "piece inside its segment");
      out.set(
        segment.subarray(piece.segmentOffset, piece.segmentOffset + piece.length),
        at - offset,
      );
    }
    at += piece.length;
  }
  assertEquals(at, offset + length, "pieces cover the range");
  return out;
}

function checkStep(
  map: PageMap,
  segments: Map<string, Uint8Array>,
  file: Uint8Array,
  written: Uint8Array,
  size: number,
  random: (n: number) => number,
): void {
  checkPageMap(map);
  assert(mapEnd(map) <= size, "no extent past the file size");
  let live = 0;
  for (let i = 0; i < size; i++) live += written[i]!;
  assertEquals(mapBytes(map), live, "live bytes");
  assertEquals(reconstruct(map, segments, 0, size), file.subarray(0, size));
  // Half the time start at an extent boundary, where off-by-one errors live.
  const boundary = map[random(map.length + 1)];
  const offset = boundary && random(2)
    ? Math.min(boundary[0] + boundary[1] * random(2), size)
    : random(size + 1);
  const length = random(size - offset + 1);
  assertEquals(
    reconstruct(map, segments, offset, length),
    file.subarray(offset, offset + length),
  );
  // Holes are exactly the bytes never written (or cut by a truncate).
  for (const piece of resolveRange(map, 0, size)) {
    for (let i = piece.fileOffset; i < piece.fileOffset + piece.length; i++) {
      if (written[i] !== (piece.segment === null ? 0 : 1)) {
        throw new Error(`Byte ${i} is ${piece.segment === null ? "a hole" : "mapped"}`);
      }
    }
  }
}

Deno.test("page map matches a byte-array reference over random writes and truncates", () => {
  const MAX = 16 * 1024;
  for (const seed of [1, 2, 3]) {
    const random = prng(seed);
    const segments = new Map<string, Uint8Array>();
    const file = new Uint8Array(MAX);
    const written = new Uint8Array(MAX); // 1 where the file has stored (non-hole) bytes
    let size = 0;
    let map: PageMap = freeze([]);
    // The segment being appended to, so that some writes continue each other and merge.
    let current = { id: "", bytes: new Uint8Array(0), used: 0, lastEnd: -1 };
    let counter = 0;
    for (let step = 0; step < 2000; step++) {
      const op = random(10);
      if (op === 0) {
        const newSize = random(MAX + 1);
        map = freeze(truncateMap(map, newSize));
        file.fill(0, newSize);
        written.fill(0, newSize);
        size = newSize;
      } else {
        const length = 1 + random(op < 4 ? 32 : 3000);
        // Often continue the previous write (sequential writes), else anywhere.
        const sequential = op < 6 && current.lastEnd >= 0 && current.lastEnd + length <= MAX;
        const offset = sequential ? current.lastEnd : random(MAX - length + 1);
        if (current.used + length > current.bytes.length || random(4) === 0) {
          const bytes = new Uint8Array(8192);
          // A unique pattern per segment: a shadowing bug shows as wrong bytes.
          for (let i = 0; i < bytes.length; i++) bytes[i] = (counter * 31 + i * 7 + 1) & 0xff;
          current = { id: `s${counter++}`, bytes, used: 0, lastEnd: -1 };
          segments.set(current.id, bytes);
        }
        map = freeze(writeExtent(map, offset, length, current.id, current.used));
        file.set(current.bytes.subarray(current.used, current.used + length), offset);
        written.fill(1, offset, offset + length);
        current.used += length;
        current.lastEnd = offset + length;
        size = Math.max(size, offset + length);
      }
      try {
        checkStep(map, segments, file, written, size, random);
      } catch (error) {
        throw new Error(`Seed ${seed}, step ${step}: ${error}`, { cause: error });
      }
    }
    assert(map.length > 1, "the run fragmented the map");
  }
});

Deno.test("writeExtent() merges a run of sequential writes into one extent", () => {
  let map: PageMap = [];
  for (let i = 0; i < 1000; i++) map = writeExtent(map, i * 4096, 4096, "seg", 8192 + i * 4096);
  assertEquals(map, [[0, 4096000, "seg", 8192]] satisfies Extent[]);
});
