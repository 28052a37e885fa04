/**
 * Small answers to requests that carry a body go out as bytes, with a declared length.
 *
 * Deno.serve (2.9), when a request's body ended early (the client declared more than it
 * sent, or cut a chunked body, then closed its side), sends an answer's body only when it
 * was given as bytes or text: of a stream it sends nothing at all and closes (undeclared
 * length), or the head alone (declared). By the time they leave the app, answers of
 * undeclared length are streams (the request log, for one, counts their bytes through a
 * stream of its own), the error documents of every front end included: the 400 that such
 * a request earns never reached its client, which saw a dropped connection. Answers of up
 * to {@linkcode SMALL_ANSWER} bytes are therefore read whole here and handed on as bytes; a
 * larger one goes on as a stream (its first bytes read ahead, at most that many), and a
 * request whose body ended early gets none of it (a GET that declared a body it never sent,
 * say, for a listing or `/metrics` over 64 KiB): holding every answer whole would take
 * memory outside the budget for a client that broke the protocol. Requests without a body
 * cannot end early and are left alone, so GETs pay nothing.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";

/** Answers up to this many bytes are given a length (error documents are far smaller). */
export const SMALL_ANSWER = 64 * 1024;

/** True when the request declares a body (a length above 0, or a transfer coding). */
function declaresBody(request: Request): boolean {
  const length = request.headers.get("content-length");
  if (length !== null && length.trim() !== "0") return true;
  return request.headers.has("transfer-encoding");
}

/**
 * `response` with its body read up to `limit` bytes: whole and with a `Content-Length` if it
 * ends by then; otherwise the same bytes followed by the rest, still as a stream.
 */
export async function withLength(response: Response, limit = SMALL_ANSWER): Promise<Response> {
  const body = response.body;
  if (body === null || response.headers.has("content-length")) return response;
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
    if (size > limit) {
      // Too large to hold: the bytes read so far, then the rest as it comes.
      const rest = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const chunk = chunks.shift();
          if (chunk !== undefined) return controller.enqueue(chunk);
          const next = await reader.read();
          if (next.done) controller.close();
          else controller.enqueue(next.value);
        },
        cancel: (reason) => reader.cancel(reason),
      });
      return new Response(rest, response);
    }
  }
  const whole = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.byteLength;
  }
  const headers = new Headers(response.headers);
  headers.set("content-length", String(size));
  return new Response(whole, { status: response.status, statusText: response.statusText, headers });
}

/**
 * The middleware: mount it right after the request log, so that the log sees the declared
 * length too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { answerLength } from "./answer_length.ts";
 * const app = new Hono().use("*", answerLength()).post("/", (c) => c.json({ ok: false }, 400));
 * const res = await app.request("/", {
 *   method: "POST",
 *   headers: { "content-length": "1" },
 *   body: "x",
 * });
 * assert(res.headers.get("content-length") === "12");
 * ```
 */
export function answerLength(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.req.method === "HEAD" || !declaresBody(c.req.raw)) return;
    const res = c.res;
    // The header first: reading `body` turns an answer of bytes into a stream (see
    // request_log.ts), and most answers declare their length.
    if (res.headers.has("content-length") || res.body === null) return;
    const fixed = await withLength(res);
    if (fixed === res) return;
    // Cleared first: Hono's setter would copy every header of the old answer onto the new.
    c.res = undefined;
    c.res = fixed;
  };
}
