/**
 * Headers the service adds to answers after their handlers made them: one place that knows
 * how to change an answer whose headers cannot be changed.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";

/**
 * Sets header `name` of the answer `c` holds. An answer passed on as it came (a fetched or
 * redirect `Response`) has immutable headers: a copy of it takes them.
 */
export function setAnswerHeader(c: Context, name: string, value: string): void {
  try {
    c.res.headers.set(name, value);
  } catch {
    const res = new Response(c.res.body, c.res);
    res.headers.set(name, value);
    // Unset first: Hono merges the old answer's headers into a new one otherwise.
    c.res = undefined;
    c.res = res;
  }
}

/**
 * Adds `X-Content-Type-Options: nosniff` to every answer that does not say it already:
 * a body a user controls (a name in an error, a file in a zip) is never taken for HTML or
 * script. Before session 19 only the UI's pages and file downloads said so.
 */
export function noSniff(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (!c.res.headers.has("x-content-type-options")) {
      setAnswerHeader(c, "x-content-type-options", "nosniff");
    }
  };
}
