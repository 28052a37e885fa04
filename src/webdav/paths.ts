/**
 * WebDAV URLs and filesystem paths. A request URL is split raw and each segment decoded
 * once (see `src/http/path.ts`); hrefs in responses encode every segment again, so names
 * with spaces, `#`, `%` or any script round-trip. Names are never Unicode-normalised: the
 * NFC and NFD spellings of a name are two names, as on Linux filesystems.
 *
 * @module
 */

import { type FsPath, parseRawSegments } from "../http/path.ts";
import { DavError } from "./errors.ts";

/** The filesystem path a URL names under `mount` ("/dav"); null when outside it. */
export function davPathOf(url: URL, mount: string): FsPath | null {
  const pathname = url.pathname;
  if (pathname === mount) return { path: "/", trailingSlash: false };
  if (!pathname.startsWith(mount + "/")) return null;
  const rest = pathname.slice(mount.length + 1);
  if (rest === "") return { path: "/", trailingSlash: true };
  return parseRawSegments(rest.split("/"));
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

/** The parent directory of an absolute path ("/" for top-level names). */
export function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

/** True when `path` is `ancestor` or lies below it. */
export function isWithin(path: string, ancestor: string): boolean {
  return ancestor === "/" || path === ancestor || path.startsWith(ancestor + "/");
}

/**
 * The filesystem path of a `Destination` URL (RFC 4918 section 10.3). Another host is
 * 502 (this server cannot write there); a path outside the mount is 502 too.
 */
export function destinationPath(destination: URL, request: URL, mount: string): FsPath {
  if (destination.host !== request.host) {
    throw new DavError(502, "The Destination is on another server");
  }
  const parsed = davPathOf(destination, mount);
  if (!parsed) throw new DavError(502, `The Destination is outside ${mount}/`);
  return parsed;
}
