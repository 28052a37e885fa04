/**
 * Connections closed after their answer: a request whose body was read in large pieces
 * (`input.ts`, {@linkcode closeAfterAnswer}) leaves the runtime's per-connection read size
 * grown for good, and a chunked body sent later on the same keep-alive connection would then
 * be taken from the socket in reads larger than PageFS hands on, the rest left buffered
 * outside the memory budget (docs/architecture.md, memory). Closing such a connection once
 * its answer is sent costs the client one new connection per large upload.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { setAnswerHeader } from "./answer_headers.ts";

const CLOSE_KEY = "pagefs.closeConnection";

/** Marks this request's connection to be closed once its answer is sent. */
export function closeAfterAnswer(c: Context): void {
  c.set(CLOSE_KEY as never, true as never);
}

/**
 * Adds `Connection: close` to the answer of a request marked by {@linkcode closeAfterAnswer}
 * (Deno.serve then closes the connection after it), error answers included.
 */
export function closeMarkedConnections(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (c.get(CLOSE_KEY as never) === true) setAnswerHeader(c, "connection", "close");
  };
}
