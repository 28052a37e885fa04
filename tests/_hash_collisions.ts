// Names that share their whole 32-bit name hash (FNV-1a, `nameHash` in
// src/format/_dir_entries.ts): what a user may pick to fill one directory shard that no
// split can part (tests/dir_full_shard_test.ts).

/**
 * Per stage, two 4-character blocks that take FNV-1a from the same state to the same
 * state (found by a birthday search over [a-zA-Z0-9]^4 from the state the stages before
 * leave; tests/dir_full_shard_test.ts checks them).
 */
const PAIRS = [
  ["l9On", "H8aa"],
  ["mCCn", "q2aa"],
  ["lCCn", "p2aa"],
] as const;

/** A stage repeated: from the state the pairs above leave, ["lCCn", "p2aa"] collides again. */
const REPEAT = PAIRS[2];

/** 2^`stages` names of one hash (each stage one of two blocks, chained). */
export function collidingNames(stages: number): string[] {
  let names = [""];
  for (let s = 0; s < stages; s++) {
    const [x, y] = PAIRS[s] ?? REPEAT;
    names = names.flatMap((n) => [n + x, n + y]);
  }
  return names;
}
