// Helpers of the client: header and URL encoding. Not public.

import type { Conditions } from "./client_types.ts";

/** Quotes an ETag for a header ("*" and quoted values pass through). */
export function quote(etag: string): string {
  return etag === "*" || etag.startsWith('"') ? etag : `"${etag}"`;
}

/** The opaque part of an ETag header value. */
export function unquote(etag: string | null): string | null {
  return etag?.replace(/^(W\/)?"(.*)"$/, "$2") ?? null;
}

/** `If-Match` / `If-None-Match` headers for the conditions. */
export function conditionHeaders(c: Conditions): Record<string, string> {
  const headers: Record<string, string> = {};
  if (c.ifMatch !== undefined) headers["if-match"] = quote(c.ifMatch);
  if (c.ifNoneMatch !== undefined) headers["if-none-match"] = quote(c.ifNoneMatch);
  return headers;
}

/** `/a b/c` -> `/a%20b/c`; "." and ".." are refused (URLs would resolve them). */
export function encodePath(path: string): string {
  if (!path.startsWith("/")) throw new TypeError(`Paths must be absolute: "${path}"`);
  return path.split("/").map((name) => {
    if (name === "." || name === "..") throw new TypeError(`Invalid path "${path}"`);
    return encodeURIComponent(name);
  }).join("/");
}

/** Base64 of a string's UTF-8 bytes (for Basic credentials). */
export function base64(text: string): string {
  return btoa(Array.from(new TextEncoder().encode(text), (b) => String.fromCharCode(b)).join(""));
}
