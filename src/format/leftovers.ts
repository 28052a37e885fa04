/**
 * Names that WebDAV COPY and MOVE over a collection give entries between their steps
 * (docs/webdav.md, "Replacing a collection"): a prefix and a time-ordered id
 * ({@linkcode newId}, on the clock of the instance that chose the name), then `-<n>` when a
 * sharded directory needed another try to keep the name beside the destination. A crash
 * between the steps leaves one behind; fsck tells them from a client's names by parsing
 * them exactly, and their age from the id.
 *
 * @module
 */

import { idTime, isId } from "./keys.ts";

/** The name prefix of each kind of leftover. */
export const LEFTOVER_PREFIX = {
  /** A replaced destination, between the swap and its deletion (the request's next step). */
  replaced: ".pagefs-replaced-",
  /** A COPY's copy, built beside the destination before the swap (the source is intact). */
  copying: ".pagefs-copying-",
  /** A MOVE's source, moved beside the destination before the swap (the only copy). */
  moving: ".pagefs-moving-",
} as const;

export type LeftoverKind = keyof typeof LEFTOVER_PREFIX;

/** What a leftover's name says. */
export interface LeftoverName {
  readonly kind: LeftoverKind;
  /** When the name was chosen (ms since the epoch), on its chooser's clock. */
  readonly at: number;
}

const NAME = /^\.pagefs-(replaced|copying|moving)-(.{33})(?:-([1-9][0-9]{0,6}))?$/;

/**
 * The kind and time of a leftover's name, or null for any other name (a client's
 * `.pagefs-replaced-notes` included).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newId } from "./keys.ts";
 * import { parseLeftover } from "./leftovers.ts";
 * assert(parseLeftover(`.pagefs-moving-${newId(1000)}`)?.at === 1000);
 * assert(parseLeftover(".pagefs-moving-notes") === null);
 * ```
 */
export function parseLeftover(name: string): LeftoverName | null {
  const match = NAME.exec(name);
  if (!match || !isId(match[2])) return null;
  return { kind: match[1] as LeftoverKind, at: idTime(match[2]!) };
}
