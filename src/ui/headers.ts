/** Security headers of the UI's pages and files. @module */

import type { Context, MiddlewareHandler } from "hono";
import { reachedOverHttps } from "../http/forwarded.ts";

/**
 * The pages' content security policy: scripts and styles only from this origin (no inline
 * script at all), no framing by anyone, forms post only here. `blob:` frames show a PDF
 * preview the page fetched itself.
 */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "frame-src 'self' blob:",
  "font-src 'self'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** Adds the UI's security headers to every answer that has none of its own. */
export const uiHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  const headers = c.res.headers;
  if (!headers.has("content-security-policy")) headers.set("content-security-policy", UI_CSP);
  headers.set("x-content-type-options", "nosniff");
  headers.set("x-frame-options", "DENY");
  // Share links carry their token in the path: never hand it to another site.
  headers.set("referrer-policy", "same-origin");
  headers.set("cross-origin-opener-policy", "same-origin");
};

/** Whether the browser reached us over HTTPS (see `reachedOverHttps`). */
export function isHttps(c: Context): boolean {
  return reachedOverHttps(c.req.raw);
}
