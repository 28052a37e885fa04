/**
 * Strictness that `JSON.parse` lacks, for JSON that people and clients send in.
 *
 * @module
 */

/**
 * The first member name that one object of a well-formed JSON text repeats, or null.
 * `JSON.parse` keeps the last of them silently (RFC 8259 leaves it open), so which value
 * was meant cannot be told: input that repeats a name is refused rather than guessed at.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { repeatedName } from "./json.ts";
 * assert(repeatedName('{"a":1,"b":{"a":2}}') === null);
 * assert(repeatedName('{"a":1,"\\u0061":2}') === "a");
 * assert(repeatedName('[{"a":1},{"a":2}]') === null);
 * ```
 */
export function repeatedName(json: string): string | null {
  // One set of names per open object, null per open array.
  const open: (Set<string> | null)[] = [];
  let nameNext = false;
  for (let i = 0; i < json.length; i++) {
    const ch = json[i];
    if (ch === '"') {
      let end = i + 1;
      while (json[end] !== '"') end += json[end] === "\\" ? 2 : 1;
      if (nameNext) {
        const name = JSON.parse(json.slice(i, end + 1)) as string;
        const names = open[open.length - 1]!;
        if (names.has(name)) return name;
        names.add(name);
        nameNext = false;
      }
      i = end;
    } else if (ch === "{") {
      open.push(new Set());
      nameNext = true;
    } else if (ch === "[") {
      open.push(null);
    } else if (ch === "}" || ch === "]") {
      open.pop();
      nameNext = false;
    } else if (ch === ",") {
      nameNext = open[open.length - 1] != null;
    }
  }
  return null;
}
