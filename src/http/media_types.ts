/**
 * Content-Type from a file name's extension, from `mime-types` (jshttp), which reads the
 * maintained `mime-db` database (IANA, Apache and nginx types), instead of a hand-kept table.
 *
 * @module
 */

import mime from "mime-types";

/**
 * The media type for a path, by extension; `application/octet-stream` when unknown. Text
 * types carry `charset=utf-8`; others (JSON included, which defines no charset) none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { contentTypeOf } from "./media_types.ts";
 * assert(contentTypeOf("/a/B.PNG") === "image/png");
 * assert(contentTypeOf("/a/notes.txt") === "text/plain; charset=utf-8");
 * assert(contentTypeOf("/a/b") === "application/octet-stream");
 * ```
 */
export function contentTypeOf(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return "application/octet-stream";
  const type = mime.lookup(name.slice(dot + 1).toLowerCase());
  if (type === false) return "application/octet-stream";
  return type.startsWith("text/") ? `${type}; charset=utf-8` : type;
}
