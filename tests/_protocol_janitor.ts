// GC and compaction running while the protocol fuzzers' requests do
// (tests/protocol_fuzz_ext_test.ts, FUZZ_GC=1), from an instance whose clock may be off
// (FUZZ_SKEW): a run starts now and then between two requests and goes on through the
// next ones. GC judges grace on the store's clock (`gc-clock`), compaction skips young
// segments by the janitor's own; with a grace far shorter than the default (FUZZ_GC_GRACE,
// 1 s) GC must still never delete what an acknowledged write names: the fuzzer's tree
// checks read every byte back.

import { gc } from "../src/format/gc.ts";
import type { ObjectStore } from "../src/store/types.ts";
import type { Vfs } from "../src/vfs/mod.ts";
import type { Rng } from "./_model.ts";

export class Janitor {
  readonly #store: ObjectStore;
  readonly #fs: Vfs;
  readonly #graceMs: number;
  readonly #note: (line: string) => void;
  #running: Promise<void> | null = null;
  /** GC runs, objects they deleted, and compaction runs. */
  runs = 0;
  deleted = 0;
  compactions = 0;

  constructor(store: ObjectStore, fs: Vfs, graceMs: number, note: (line: string) => void) {
    this.#store = store;
    this.#fs = fs;
    this.#graceMs = graceMs;
    this.#note = note;
  }

  /** Starts a run (compaction, then GC, as `gc --compact-below`) unless one is running. */
  maybeStart(rng: Rng): void {
    if (this.#running || !rng.chance(0.15)) return;
    const compact = rng.chance(0.5);
    const below = rng.pick([0.5, 0.8, 0.95]);
    const compactGrace = rng.pick([0, this.#graceMs]);
    this.#running = (async () => {
      if (compact) {
        const done = await this.#fs.compact({ below, graceMs: compactGrace });
        this.compactions++;
        this.#note(`  janitor: compaction rewrote ${done.filesRewritten} files`);
      }
      const report = await gc(this.#store, { graceMs: this.#graceMs });
      this.runs++;
      this.deleted += report.deletedKeys.length;
      if (report.deletedKeys.length) {
        this.#note(`  janitor: gc deleted ${report.deletedKeys.join(" ")}`);
      }
    })().catch((error) => this.#note(`  janitor: ${error}`)).finally(() => {
      this.#running = null;
    });
  }

  /** Waits for the run in progress, if any. */
  async settle(): Promise<void> {
    await this.#running;
  }

  /** At the end: GC twice with no grace, once the requests are done. */
  async final(): Promise<void> {
    await this.settle();
    for (let i = 0; i < 2; i++) {
      const report = await gc(this.#store, { graceMs: 0 });
      this.runs++;
      this.deleted += report.deletedKeys.length;
    }
  }
}
