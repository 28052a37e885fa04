/**
 * The answer of a file's GET, HEAD or PUT, made as a plain `Response`. Hono's `c.body`
 * builds a `Headers`, sets every header on it (each checked by the runtime), and the
 * `Response` then copies and checks them all again: 17-24 µs against 12-17 µs per answer
 * of seven headers in a microbenchmark, on the two answers every small-file request gets.
 * Hono takes a returned `Response` as it takes `c.body`'s, and merges what a middleware
 * put on the answer before it (CORS headers) the same way. Only headers set with
 * `c.header()` before the answer was made would be lost: nothing on these paths does.
 *
 * @module
 */

/**
 * A response of `body` with `status` and `headers`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { answer } from "./answer.ts";
 * const res = answer("hi", 201, { etag: '"x"' });
 * assert(res.status === 201 && res.headers.get("etag") === '"x"');
 * ```
 */
export function answer(
  body: BodyInit | null,
  status: number,
  headers: Record<string, string>,
): Response {
  return new Response(body, { status, headers });
}
