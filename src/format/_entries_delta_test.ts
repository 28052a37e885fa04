import { assertEquals } from "../../tests/_assert.ts";
import { gunzipSync } from "node:zlib";
import { checkDir, decode, type DirObject, draftCopy, encode, type Entry } from "./meta.ts";
import { countOf, entriesOf, entryOf, isLazy, putEntry } from "./_entries_delta.ts";
import { Rng } from "../../tests/_model.ts";

const text = new TextDecoder();
const plain = (bytes: Uint8Array) =>
  text.decode(bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes);

function fileEntry(n: number): Entry {
  return {
    t: "f",
    ino: (0x1000000 + n).toString(16).padStart(16, "0"),
    attr: { mode: 0o100644, uid: 0, gid: 0, size: n, atime: n, mtime: n, ctime: n, btime: n },
    gen: 1,
    cv: 1,
  };
}

function dirWith(count: number): DirObject {
  const entries: Record<string, Entry> = {};
  for (let i = 0; i < count; i++) entries[`file-${i}`] = fileEntry(i);
  const attr = { mode: 0o40755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ctime: 0, btime: 0 };
  return { v: 1, ino: "0000000000000001", parent: "0000000000000001", attr, entries };
}

Deno.test("drafts built on drafts hold, look up and encode what plain copies changed the same way would", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const rng = new Rng(seed);
    const rnd = () => rng.next();
    let version: DirObject = dirWith([0, 3, 200, 1500][seed % 4]!);
    // The model: a plain record changed by the same operations, in the same order.
    let model: Record<string, Entry> = { ...version.entries };
    let next = 10_000;
    for (let commit = 0; commit < 100; commit++) {
      const where = `seed ${seed}, commit ${commit}`;
      // A listing of the version materializes it now and then (another request's).
      if (rnd() < 0.05) assertEquals(Object.keys(version.entries!).length, countOf(version));
      const draft = draftCopy(version);
      const entries = entriesOf(draft);
      const expected: Record<string, Entry> = { ...model };
      const names = () => Object.keys(expected);
      const pick = () => {
        const all = names();
        return all[Math.floor(rnd() * all.length)];
      };
      for (let op = 1 + Math.floor(rnd() * 8); op > 0; op--) {
        const r = rnd();
        const name = pick();
        if (r < 0.35 || name === undefined) {
          const fresh = `new-${next}`;
          const entry = fileEntry(next++);
          entries.set(fresh, entry);
          putEntry(expected, fresh, entry);
        } else if (r < 0.6) {
          const entry = fileEntry(next++);
          entries.set(name, entry);
          putEntry(expected, name, entry);
        } else if (r < 0.8) {
          entries.delete(name);
          delete expected[name];
        } else {
          // Removed and added again in one draft: it moves to the end.
          const entry = fileEntry(next++);
          entries.delete(name);
          entries.set(name, entry);
          delete expected[name];
          putEntry(expected, name, entry);
        }
        // Something reads the draft's entries whole in the middle of a batch.
        if (rnd() < 0.02) assertEquals(draft.entries, expected, where);
      }
      for (let i = 0; i < 5; i++) {
        const name = rnd() < 0.8 ? pick() : `missing-${i}`;
        if (name !== undefined) assertEquals(entryOf(draft, name), expected[name], where);
      }
      assertEquals(countOf(draft), Object.keys(expected).length, where);
      const lazy = isLazy(draft);
      draft.attr.mtime = commit;
      const bytes = encode(draft);
      // What was encoded (from the delta, or from the record) is the record, key for key
      // in the same order as a plain copy changed by the same operations.
      assertEquals(isLazy(draft), lazy, `${where}: encoding built the record`);
      const json = plain(bytes);
      // Without reading the draft's entries (that would build its record, and the next
      // draft would start from a plain one).
      const whole: Record<string, unknown> = {};
      for (const key of Object.keys(draft)) {
        whole[key] = key === "entries" ? expected : draft[key as keyof DirObject];
      }
      assertEquals(json, JSON.stringify(whole), where);
      assertEquals(isLazy(draft), lazy, `${where}: comparing built the record`);
      if (rnd() < 0.1) assertEquals(JSON.stringify(draft.entries), JSON.stringify(expected), where);
      const decoded = decode<DirObject>("d/x", bytes, checkDir);
      assertEquals(decoded, JSON.parse(json), where);
      model = expected;
      // Another instance's write in between: the next commit starts from what it decoded.
      version = rnd() < 0.1 ? decoded : draft;
    }
  }
});
