// Directory limits for the protocol fuzzers (tests/protocol_fuzz_test.ts and
// tests/protocol_fuzz_ext_test.ts). With the default limits (4,096 entries a directory
// object) their few names never make a directory age-sharded, so nothing they send reaches
// open and closed shards, Bloom filters, roll-overs, closed-shard splits or hash-order pages
// (docs/format.md "Age shards"). Tiny limits and a few more names reach all of them.
//
// FUZZ_DIR_ENTRIES=n: directory objects of at most n entries (2: a directory becomes
// age-sharded at its third name and rolls over every two new names after);
// FUZZ_DIR_BYTES=b: at most b bytes of JSON decoded (1024: the open shard closes and a
// closed one is split by size once xattrs, dead properties or inline data fill it);
// FUZZ_NAMES=k: k names per level (default 3; the tiny runs use more, so that one directory
// rolls over several times).

import { parseKey } from "../src/format/keys.ts";
import { decode } from "../src/format/meta.ts";
import { type StoreMethod, WrappedStore } from "../src/store/_wrapper.ts";
import type { Body, PutOptions, PutResult } from "../src/store/types.ts";
import type { VfsOptions } from "../src/vfs/vfs.ts";

export interface FuzzLimits {
  /** Passed to every instance's `Vfs.open`. */
  readonly vfs: VfsOptions;
  /** Names per level. */
  readonly names: number;
}

/** The limits of the "tiny directories" config of tests/vfs_model_test.ts, and 6 names. */
export const TINY: FuzzLimits = {
  vfs: { dirLimits: { maxEntries: 2, maxDecodedBytes: 1 << 10 } },
  names: 6,
};

/** The limits the environment asks for (defaults: the server's, and 3 names). */
export function envLimits(): FuzzLimits {
  const env = (name: string) => Deno.env.get(name);
  const entries = env("FUZZ_DIR_ENTRIES");
  const bytes = env("FUZZ_DIR_BYTES");
  const dirLimits = {
    ...(entries ? { maxEntries: Number(entries) } : {}),
    ...(bytes ? { maxDecodedBytes: Number(bytes) } : {}),
  };
  return {
    vfs: entries || bytes ? { dirLimits } : {},
    names: Number(env("FUZZ_NAMES") ?? 3),
  };
}

/** `count` one-letter names from "a". */
export function nameList(count: number): string[] {
  return Array.from({ length: count }, (_, i) => String.fromCharCode(97 + i));
}

/**
 * Makes `names` (a module's list of names, read by its random choices) the first `count`
 * names, runs `work`, and puts it back: the fuzzers run one seed at a time, so one list
 * shared by their helpers is simpler than threading it through every step.
 */
export async function withNames<T>(
  names: string[],
  count: number,
  work: () => Promise<T>,
): Promise<T> {
  const before = [...names];
  names.splice(0, names.length, ...nameList(count));
  try {
    return await work();
  } finally {
    names.splice(0, names.length, ...before);
  }
}

/** What the directory objects written during a run were (see {@linkcode CensusStore}). */
export interface Census {
  /** Shard objects written (a directory becoming sharded, roll-overs, splits). */
  shards: number;
  /** Writes of a `d/<ino>` whose table had closed shards, and most closed at once. */
  ageTables: number;
  maxClosed: number;
  /** Table writes naming halves of a split closed shard (`"line"`). */
  splitLines: number;
  /** Shard writes that closed (`"closed"`) or sealed (`"sealed"`) the shard. */
  closings: number;
  sealings: number;
}

/**
 * A store that counts what the directory objects put through it were, so a run with tiny
 * limits can show it reached age shards' roll-overs and splits (not only that it passed).
 */
export class CensusStore extends WrappedStore {
  readonly census: Census = {
    shards: 0,
    ageTables: 0,
    maxClosed: 0,
    splitLines: 0,
    closings: 0,
    sealings: 0,
  };

  protected call<T>(
    _method: StoreMethod,
    _detail: { key?: string; mutating: boolean; retrySafe: boolean },
    run: () => Promise<T>,
  ): Promise<T> {
    return run();
  }

  override put(key: string, body: Body, options?: PutOptions): Promise<PutResult> {
    const kind = parseKey(key)?.kind;
    if ((kind === "dir" || kind === "shard") && body instanceof Uint8Array) {
      const value = decode<Record<string, unknown>>(key, body, () => null);
      const c = this.census;
      if (kind === "shard") {
        c.shards++;
        if (value.closed) c.closings++;
        if (value.sealed) c.sealings++;
      }
      const ages = value.ages as { closed?: { line?: string }[] } | undefined;
      if (kind === "dir" && ages?.closed?.length) {
        c.ageTables++;
        c.maxClosed = Math.max(c.maxClosed, ages.closed.length);
        if (ages.closed.some((s) => s.line !== undefined)) c.splitLines++;
      }
    }
    return super.put(key, body, options);
  }
}

/**
 * The runs of a seed set reached what tiny limits are there for: roll-overs (a table of
 * three closed shards or more) and closed shards split for size. FUZZ_STATS=1 prints them.
 */
export function assertReached(census: readonly Census[]): void {
  if (Deno.env.get("FUZZ_STATS")) console.log(census);
  const most = Math.max(...census.map((c) => c.maxClosed));
  const splits = census.reduce((n, c) => n + c.splitLines, 0);
  if (most < 3) throw new Error(`at most ${most} closed shards in a table: no roll-overs`);
  if (splits === 0) throw new Error("no closed shard was split");
}
