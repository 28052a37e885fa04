import { assert, assertEquals } from "../../tests/_assert.ts";
import { gunzipSync, gzipSync } from "node:zlib";
import {
  checkDir,
  checkShard,
  COMPRESS_ABOVE,
  CorruptError,
  decode,
  decodedSize,
  type DirObject,
  draftCopy,
  encode,
  encodeStats,
  type Entry,
  OversizeError,
  type ShardObject,
} from "./meta.ts";
import { entriesOf } from "./_entries_delta.ts";

const text = new TextDecoder();

function plain(bytes: Uint8Array): string {
  return text.decode(bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes);
}

/** A small deterministic generator (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fileEntry(n: number, name = ""): Entry {
  return {
    t: "f",
    ino: `0000${(n % 0xfffff).toString(16).padStart(12, "0")}`,
    attr: { mode: 0o100644, uid: 0, gid: 0, size: n, atime: n, mtime: n, ctime: n, btime: n },
    data: btoa(`x${name.length}`),
    gen: 1,
    cv: 1,
  };
}

function dirWith(count: number): DirObject {
  const entries: Record<string, Entry> = {};
  for (let i = 0; i < count; i++) entries[`file-${i}.txt`] = fileEntry(i);
  return {
    v: 1,
    ino: "0000000000000001",
    parent: "0000000000000001",
    attr: { mode: 0o40755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ctime: 0, btime: 0 },
    entries,
  };
}

Deno.test("`encode()` of a directory changed commit by commit decodes to what a full encode gives", () => {
  for (const seed of [1, 2, 3]) {
    const rnd = random(seed);
    const pick = (o: Record<string, unknown>) => {
      const names = Object.keys(o);
      return names[Math.floor(rnd() * names.length)];
    };
    let dir = dirWith(300 + seed * 200);
    let next = 1_000_000;
    for (let commit = 0; commit < 150; commit++) {
      const draft = draftCopy(dir);
      const entries = draft.entries!;
      for (let op = Math.floor(rnd() * 6); op >= 0; op--) {
        const r = rnd();
        const name = pick(entries);
        if (r < 0.35 || name === undefined) {
          const fresh = `new-${next}-é✓${rnd() < 0.1 ? '"\\:' : ""}`;
          entries[fresh] = fileEntry(next++, fresh);
        } else if (r < 0.5) {
          delete entries[name];
        } else if (r < 0.65) {
          // rename: the same (frozen) entry object under another name
          const entry = entries[name]!;
          delete entries[name];
          entries[`renamed-${next++}`] = entry;
        } else if (r < 0.8) {
          // setattr: a changed copy in the entry's place
          const entry = entries[name]! as Entry & { attr: { mtime: number } };
          entries[name] = { ...entry, attr: { ...entry.attr, mtime: next++ } } as Entry;
        } else if (r < 0.9) {
          draft.attr.mtime = next++;
          if (rnd() < 0.5) delete draft.removing;
          else draft.removing = `m${next}`;
        } else {
          // a re-insert moves a name to the end of the order
          const entry = entries[name]!;
          delete entries[name];
          entries[name] = entry;
        }
      }
      const bytes = encode(draft);
      const full = JSON.stringify(draft);
      assertEquals(plain(bytes), full, `seed ${seed}, commit ${commit}`);
      assertEquals(bytes[0] === 0x1f, new TextEncoder().encode(full).length > COMPRESS_ABOVE);
      const decoded = decode<DirObject>("d/x", bytes, checkDir);
      assertEquals(decoded, JSON.parse(full));
      // another instance's write in between: the next commit starts from what it decoded
      dir = rnd() < 0.1 ? decoded : draft;
    }
  }
});

Deno.test("`encode()` of a shard object equals `JSON.stringify` whatever its key order", () => {
  const entries = dirWith(400).entries!;
  const shards: ShardObject[] = [
    { v: 1, ino: "0000000000000002", entries },
    { entries, v: 1, ino: "0000000000000002", sealed: true },
    { v: 1, entries, ino: "0000000000000002", removing: "m1" },
    { v: 1, ino: "0000000000000002", entries: {} },
  ];
  for (const shard of shards) {
    const bytes = encode(shard);
    assertEquals(plain(bytes), JSON.stringify(shard));
    assertEquals(decode("d/x/s/y", bytes, checkShard), JSON.parse(JSON.stringify(shard)));
  }
});

Deno.test("`encode()`: adding a name to a 2,000-entry directory compresses a small part of it", () => {
  const dir = dirWith(2000);
  const size = JSON.stringify(dir).length;
  encode(dir);
  const draft = draftCopy(dir);
  draft.entries!["one-more"] = fileEntry(9999);
  draft.attr.mtime = 1;
  const before = encodeStats.compressedBytes;
  const bytes = encode(draft);
  const compressed = encodeStats.compressedBytes - before;
  assertEquals(plain(bytes), JSON.stringify(draft));
  assert(compressed < size / 10, `compressed ${compressed} of ${size} bytes`);
});

Deno.test("`encode()` of a large directory stores its head and tail, which change every commit, uncompressed", () => {
  // A zlib stream per part cost more CPU than the compression of a chunk: the parts that
  // every commit rewrites (times, write history) are stored; the entries are compressed.
  const dir = dirWith(2000);
  dir.attr.mtime = 1_795_938_014_110;
  const draft = draftCopy(dir);
  draft.entries!["one-more"] = fileEntry(9999);
  for (const bytes of [encode(dir), encode(draft)]) {
    assertEquals(bytes[0], 0x1f);
    const raw = new TextDecoder("latin1").decode(bytes);
    assert(raw.includes('"mtime":1795938014110'), "the head is in the object as it is");
    assert(!raw.includes('"file-1000.txt"'), "the entries are compressed");
    assert(bytes.length < JSON.stringify(dir).length / 4, `${bytes.length} bytes`);
  }
});

for (const how of ["a delta", "a plain record"] as const) {
  Deno.test(`\`encode()\` of ${how}: creates one by one into a large directory rarely deflate`, () => {
    // Every create appends to the last chunk: it is stored while it grows (no zlib stream
    // per commit), and compressed once it is full (64 names for a delta) or a boundary
    // (a name's hash, at most 128 names, for a plain record) closes it.
    let dir = dirWith(2000);
    encode(dir);
    let deflating = 0;
    for (let i = 0; i < 200; i++) {
      const draft = draftCopy(dir);
      const entry = fileEntry(10_000 + i);
      if (how === "a delta") entriesOf(draft).set(`created-${i}`, entry);
      else draft.entries![`created-${i}`] = entry;
      draft.attr.mtime = i;
      const before = encodeStats.compressedBytes;
      const bytes = encode(draft);
      if (encodeStats.compressedBytes > before) deflating++;
      assertEquals(plain(bytes), JSON.stringify(draft), `create ${i}`);
      dir = draft;
    }
    assert(deflating >= 1 && deflating <= 20, `commits that deflated: ${deflating} of 200`);
    // What stays stored is at most one chunk: the object stays compressed overall.
    assert(encode(dir).length < JSON.stringify(dir).length / 3);
  });
}

Deno.test("`decode()` reads directory objects written before partwise compression", () => {
  const dir = dirWith(2000);
  const json = new TextEncoder().encode(JSON.stringify(dir));
  for (const bytes of [json, gzipSync(json, { level: 1 }), gzipSync(json, { level: 9 })]) {
    assertEquals(decode("d/x", new Uint8Array(bytes), checkDir), JSON.parse(JSON.stringify(dir)));
  }
  // and the small uncompressed form
  const small = dirWith(3);
  assertEquals(encode(small), new TextEncoder().encode(JSON.stringify(small)));
});

Deno.test("`encode()` of drafts changed as deltas, some over an older version, decodes to what the same changes to a record give", () => {
  // The create path changes drafts through `entriesOf` (their entries stay a delta) and
  // encodes what they changed over the layout of the version they were copied from. A
  // write that fails leaves that version the latest, and the next draft is copied from it
  // again: its layout must not take what the failed draft made for its own.
  for (const seed of [4, 5, 6]) {
    const rnd = random(seed);
    let dir = dirWith(600 + seed * 100);
    let model: Record<string, Entry> = { ...dir.entries };
    let older: { dir: DirObject; model: Record<string, Entry> } | null = null;
    let next = 2_000_000;
    for (let commit = 0; commit < 200; commit++) {
      const draft = draftCopy(dir);
      const entries = entriesOf(draft);
      const mine = { ...model };
      const names = Object.keys(mine);
      const pick = () => names[Math.floor(rnd() * names.length)]!;
      for (let op = Math.floor(rnd() * 8); op >= 0; op--) {
        const r = rnd();
        const name = pick();
        const change = (name: string, entry: Entry | null) => {
          if (entry) entries.set(name, entry);
          else entries.delete(name);
          if (entry) mine[name] = entry;
          else delete mine[name];
        };
        if (r < 0.3 || mine[name] === undefined) {
          change(`new-${next}-é✓`, fileEntry(next++));
        } else if (r < 0.45) {
          change(name, null);
        } else if (r < 0.6) {
          // rename: the same (frozen) entry object under another name
          const entry = mine[name]!;
          change(name, null);
          change(`renamed-${next++}`, entry);
        } else if (r < 0.85) {
          const entry = mine[name]! as Entry & { attr: { mtime: number } };
          change(name, { ...entry, attr: { ...entry.attr, mtime: next++ } } as Entry);
        } else {
          // removed and added again: the name moves to the end of the order
          const entry = mine[name]!;
          change(name, null);
          change(name, entry);
        }
      }
      draft.attr.mtime = next++;
      const bytes = encode(draft);
      const expected = JSON.stringify({ ...dir, attr: draft.attr, entries: mine });
      assertEquals(plain(bytes), expected, `seed ${seed}, commit ${commit}`);
      const r = rnd();
      if (r < 0.15 && older === null) {
        // the write failed: the next draft starts from the same version
        older = { dir, model };
      } else if (r < 0.2) {
        // another instance's write in between: the next draft starts from what it decoded
        dir = decode<DirObject>("d/x", bytes, checkDir);
        model = { ...mine };
        older = null;
      } else {
        dir = draft;
        model = mine;
        older = null;
      }
      if (older) ({ dir, model } = older);
    }
  }
});

Deno.test("`decode()` refuses an object whose JSON is longer than its bound, compressed or not", () => {
  // 8 MiB of base64 zeros gzip to about 8 KiB: before, a 512 KiB object of such JSON
  // inflated to hundreds of MiB (and a string past V8's limit) on every read.
  const json = new TextEncoder().encode(JSON.stringify({ x: "A".repeat(8 << 20) }));
  const gz = new Uint8Array(gzipSync(json));
  assert(gz.length < 64 << 10, `${gz.length} bytes`);
  assertEquals(decodedSize(gz), json.length);
  for (const bytes of [gz, json]) {
    let error: unknown;
    try {
      decode("d/00000000000000aa", bytes, () => null, 1 << 20);
    } catch (e) {
      error = e;
    }
    assert(error instanceof OversizeError, String(error));
    // A corrupt object to fsck and GC (reported, never swept past), EIO to the VFS.
    assert(error instanceof CorruptError);
    assert(/d\/00000000000000aa.*more than 1 MiB/.test(error.message), error.message);
  }
  // Under the bound it decodes as before.
  const value = decode<{ x: string }>("k", gz, () => null, 16 << 20);
  assertEquals(value.x.length, 8 << 20);
});
