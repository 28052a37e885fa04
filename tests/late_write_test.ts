// A write whose answer was lost to a timeout may still be applied by the store after the
// writer gave up on it: S3 commits a PUT whose body it received even when the client has
// closed the connection (PAGEFS_S3_TIMEOUT_MS is 20 s since session 19). The read back that
// resolves the lost write may come before that: it finds the object unchanged, the operation
// runs again, and the late write must not make it count twice.

import { assert, assertEquals } from "./_assert.ts";
import { MetaStore } from "../src/format/cas.ts";
import { fsck } from "../src/format/fsck.ts";
import { dirKey, inodeKey } from "../src/format/keys.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { type StoreMethod, WrappedStore } from "../src/store/_wrapper.ts";
import { StoreError } from "../src/store/types.ts";

/**
 * Holds the `nth` conditional PUT of `key`: fails it ambiguously, as a timeout does, without
 * applying it; applies it (with its condition) once the next GET of the key has returned.
 */
class LateStore extends WrappedStore {
  #puts = 0;
  #held: (() => Promise<unknown>) | null = null;
  applied: boolean | null = null;

  /** Holds the `nth` PUT of `key`; `key` may be set later (once the test knows it). */
  constructor(inner: MemoryStore, public key: string, readonly nth: number) {
    super(inner);
  }

  protected override async call<T>(
    method: StoreMethod,
    detail: { key?: string; mutating: boolean },
    run: () => Promise<T>,
  ): Promise<T> {
    if (method === "put" && detail.key === this.key && ++this.#puts === this.nth) {
      this.#held = run;
      throw new StoreError("transient", "Request timed out (held, to be applied late)", {
        key: this.key,
        ambiguous: true,
      });
    }
    const result = await run();
    if (method === "get" && detail.key === this.key && this.#held) {
      const late = this.#held;
      this.#held = null;
      this.applied = await late().then(() => true, () => false);
    }
    return result;
  }
}

const check = () => null;

Deno.test("a CAS applied by the store after its read back found it unchanged counts once", async () => {
  const inner = new MemoryStore();
  const setup = new MetaStore(inner);
  await setup.update<{ n: number }, void>("counter", check, () => ({
    write: { n: 0 },
    result: undefined,
  }));
  const store = new LateStore(inner, "counter", 1);
  const meta = new MetaStore(store);
  const n = await meta.update<{ n: number }, number>("counter", check, (current) => {
    const next = (current?.value.n ?? 0) + 1;
    return { write: { n: next }, result: next };
  });
  assertEquals(store.applied, true, "the held write was applied after the read back");
  const fresh = await new MetaStore(inner).read<{ n: number }>("counter", check);
  assertEquals([n, fresh?.value.n], [1, 1]);
});

Deno.test("a link count raised by a write applied late is raised once", async () => {
  const inner = new MemoryStore();
  const setup = await Vfs.open(inner);
  await setup.writeFile("/f", new Uint8Array(3000).fill(1));
  await setup.link("/f", "/g");
  const store = new LateStore(inner, inodeKey((await setup.getattr("/f")).ino), 1);
  const fs = await Vfs.open(store);
  await fs.link("/f", "/h");
  assertEquals(store.applied, true, "the held write was applied after the read back");
  const fresh = await Vfs.open(inner);
  assertEquals((await fresh.getattr("/h")).nlink, 3);
  const report = await fsck(inner);
  assert(report.ok, JSON.stringify(report.problems));
});

Deno.test("a directory split whose CAS is applied late keeps the shards it names", async () => {
  const inner = new MemoryStore();
  const setup = await Vfs.open(inner, { dirLimits: { maxEntries: 4 } });
  await setup.mkdir("/d");
  for (let i = 0; i < 4; i++) await setup.writeFile(`/d/f${i}`, new Uint8Array([i]));
  // The fifth name takes /d over its limit: the CAS that splits it is held.
  const store = new LateStore(inner, dirKey((await setup.lookup("/d")).ino), 1);
  const fs = await Vfs.open(store, { dirLimits: { maxEntries: 4 } });
  await fs.writeFile("/d/f4", new Uint8Array([4])).catch(() => {});
  assertEquals(store.applied, true, "the held write was applied after the read back");
  const fresh = await Vfs.open(inner);
  const names = (await fresh.readdir("/d")).entries.map((e) => e.name).sort();
  assertEquals(names, ["f0", "f1", "f2", "f3", "f4"]);
  const report = await fsck(inner);
  assert(report.ok, JSON.stringify(report.problems));
});
