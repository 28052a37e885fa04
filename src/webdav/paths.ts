/**
 * WebDAV URLs and filesystem paths. A request URL is split raw and each segment decoded
 * once (see `src/http/path.ts`); hrefs in responses encode every segment again, so names
 * with spaces, `#`, `%` or any script round-trip. Names are never Unicode-normalised: the
 * NFC and NFD spellings of a name are two names, as on Linux filesystems.
 *
 * @module
 */

import type { FsPath } from "../http/path.ts";
import {
  fsPathBelow,
  mountNames,
  parseRequestPath,
  rawPathOf,
  type RequestPath,
} from "../http/request_path.ts";
import { DavError } from "./errors.ts";
import { parseDestination } from "./headers.ts";

/** The filesystem path a request path names under `mount` ("/dav"); null when outside it. */
export function davPathOf(path: RequestPath, mount: string): FsPath | null {
  return fsPathBelow(path, mountNames(mount));
}

/**
 * The filesystem path a URI in a header names (a `Destination`, a tagged `If` list): an
 * absolute URI or an absolute path, read raw and decoded exactly as a request's own path
 * is, so `..` or `%2e%2e` is refused rather than resolved. Null when it names another
 * host (unless `anyHost`) or lies outside `mount`.
 *
 * @throws {FsError} EINVAL for a path that is not clean (see `src/http/request_path.ts`).
 */
export function headerPathOf(
  header: string,
  request: URL,
  mount: string,
  options: { anyHost?: boolean } = {},
): FsPath | null {
  const uri = asciiUri(header);
  let raw: string;
  if (uri.startsWith("/")) {
    if (uri.startsWith("//")) return null;
    raw = uri.split("?", 1)[0]!;
  } else {
    const url = URL.parse(uri);
    if (url === null || (url.host !== request.host && !options.anyHost)) return null;
    if (url.protocol !== "http:" && url.protocol !== "https:") return null;
    raw = rawPathOf(uri);
  }
  return davPathOf(parseRequestPath(raw, { mergeSlashes: true }), mount);
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A URI from a header with its raw non-ASCII bytes percent-encoded. Some clients put a
 * name's UTF-8 bytes into `Destination` unencoded (as they do a raw space); the runtime
 * hands header bytes over one character each (Latin-1), so "é" arrived as "Ã©", and a
 * COPY or MOVE created a file of that garbled name (before session 16). Bytes that are
 * not UTF-8 are refused rather than guessed at.
 *
 * @throws {DavError} 400 when the raw bytes are not UTF-8.
 */
export function asciiUri(value: string): string {
  const codes = Array.from(value, (ch) => ch.codePointAt(0)!);
  if (codes.every((code) => code < 0x80)) return value;
  try {
    // Header bytes arrive one character each: anything above 0xff was not a byte.
    if (codes.some((code) => code > 0xff)) throw new TypeError("not bytes");
    strictUtf8.decode(Uint8Array.from(codes));
  } catch {
    throw new DavError(
      400,
      "A URI in a header has raw bytes that are not UTF-8: percent-encode it",
    );
  }
  let out = "";
  for (const code of codes) {
    out += code < 0x80 ? String.fromCharCode(code) : "%" + code.toString(16).toUpperCase();
  }
  return out;
}

/** Characters a path segment may keep unescaped in an href (RFC 3986 pchar, minus `;=,`). */
const KEEP = /[A-Za-z0-9\-._~!$&'()*+:@]/;

function encodeSegment(name: string): string {
  let out = "";
  for (const ch of name) out += KEEP.test(ch) ? ch : encodeURIComponent(ch);
  return out;
}

/** The href of `path` under `mount`; collections end with "/". */
export function hrefOf(mount: string, path: string, collection: boolean): string {
  if (path === "/") return mount + "/";
  const encoded = path.slice(1).split("/").map(encodeSegment).join("/");
  return `${mount}/${encoded}${collection ? "/" : ""}`;
}

/** True when `path` is `ancestor` or lies below it. */
export function isWithin(path: string, ancestor: string): boolean {
  return ancestor === "/" || path === ancestor || path.startsWith(ancestor + "/");
}

/**
 * The filesystem path of a `Destination` header (RFC 4918 section 10.3). A missing or
 * malformed header is 400; another host is 502 (this server cannot write there); a path
 * outside the mount is 502 too; a path with dot segments is 400. The scheme is not
 * compared: behind a proxy that ends TLS, clients name `https:` URLs of an `http:` request.
 * `forwardedHost`: the host a trusted proxy says the client used, which is this server too.
 */
export function destinationPath(
  header: string | null,
  request: URL,
  mount: string,
  options: { forwardedHost?: string | null } = {},
): FsPath {
  const uri = asciiUri((header ?? "").trim());
  const url = parseDestination(header === null ? null : uri, request);
  const forwarded = options.forwardedHost?.toLowerCase();
  if (url.host !== request.host && url.host !== forwarded) {
    throw new DavError(502, "The Destination is on another server");
  }
  const parsed = headerPathOf(uri, request, mount, { anyHost: true });
  if (!parsed) throw new DavError(502, `The Destination is outside ${mount}/`);
  return parsed;
}
