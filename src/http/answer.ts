/**
 * The answer of a file's GET, HEAD or PUT, made as a plain `Response` with its length
 * declared. Hono's `c.body` builds a `Headers`, sets every header on it (each checked by
 * the runtime), and the `Response` then copies and checks them all again: 17-24 µs against
 * 12-17 µs per answer of seven headers in a microbenchmark, on the two answers every
 * small-file request gets. Hono takes a returned `Response` as it takes `c.body`'s, and
 * merges what a middleware put on the answer before it (CORS headers) the same way; only
 * headers set with `c.header()` before the answer was made would be lost, and nothing on
 * these paths sets any.
 *
 * A body of text or bytes goes with its `Content-Length`: an answer to a request with a
 * body is otherwise read back through a stream to learn its length (`answer_length.ts`),
 * 30 µs of the HTTP API's JSON answer to a create.
 *
 * @module
 */

const encoder = new TextEncoder();

/**
 * A response of `body` with `status` and `headers` (names in lower case), and the length of
 * a text or bytes body.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { answer } from "./answer.ts";
 * const res = answer("hé", 201, { etag: '"x"' });
 * assert(res.status === 201 && res.headers.get("etag") === '"x"');
 * assert(res.headers.get("content-length") === "3");
 * ```
 */
export function answer(
  body: string | Uint8Array<ArrayBuffer> | ReadableStream<Uint8Array> | null,
  status: number,
  headers: Record<string, string>,
): Response {
  const bytes = typeof body === "string" ? encoder.encode(body) : body;
  if (bytes instanceof Uint8Array && headers["content-length"] === undefined) {
    headers = { ...headers, "content-length": String(bytes.byteLength) };
  }
  return new Response(bytes, { status, headers });
}
