/**
 * Filesystem paths from request URLs and bodies, shared by the front ends. The URL path is
 * taken raw (before any decoding by a router), split on "/", and each segment
 * percent-decoded exactly once, so an encoded "%2F" can never become a separator and
 * "%252e" stays the name "%2e". The VFS then only ever sees a clean absolute path.
 *
 * @module
 */

import { FsError, NAME_MAX, PATH_MAX } from "../vfs/mod.ts";

/** A filesystem path named by a request. */
export interface FsPath {
  /** Absolute, normalised: "/" or "/a/b" (never a trailing slash). */
  readonly path: string;
  /** The URL ended with "/" (PUT makes a directory then). */
  readonly trailingSlash: boolean;
}

const encoder = new TextEncoder();

/** `.` and `..`, also with `;` path parameters (`..;x`), which some servers strip. */
export function isDotName(name: string): boolean {
  const bare = name.split(";", 1)[0];
  return bare === "." || bare === "..";
}

/**
 * True when `text`, split on either slash, has a dot part: how `..\x` or `x/..` would
 * climb in a layer that takes `\` as a separator or decodes once more.
 */
export function climbs(text: string): boolean {
  return text.split(/[\\/]/).some(isDotName);
}

/**
 * Checks one decoded name like the VFS does (`maxBytes`: longest accepted, NAME_MAX unless
 * the segment is not a file name), and refuses, as the request path does, a name that
 * would climb where `\` is a separator (`..\..\x`): such a name is no path's name on this
 * server, but it is one on a Windows client that downloads it (a zip, a sync tool). Before
 * session 18 a JSON `to` or a tus `path`/`filename` made such names, which no URL could
 * then name. @throws {FsError} EINVAL or ENAMETOOLONG.
 */
export function checkSegment(name: string, path: string, maxBytes = NAME_MAX): void {
  if (name === "" || name === "." || name === ".." || climbs(name)) {
    throw new FsError("EINVAL", `Invalid path segment "${name}"`, { path });
  }
  if (name.includes("/")) throw new FsError("EINVAL", "Names may not contain '/'", { path });
  if (name.includes("\0")) throw new FsError("EINVAL", "Names may not contain NUL", { path });
  if (!name.isWellFormed()) throw new FsError("EINVAL", "Names must be valid Unicode", { path });
  if (encoder.encode(name).length > maxBytes) {
    throw new FsError("ENAMETOOLONG", `Name longer than ${maxBytes} bytes`, { path });
  }
}

/**
 * Decodes the raw (still percent-encoded) segments of a URL path below a route prefix.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRawSegments } from "./path.ts";
 * const p = parseRawSegments(["a%20b", "c", ""]);
 * assert(p.path === "/a b/c" && p.trailingSlash);
 * ```
 * @throws {FsError} EINVAL for empty, "." or ".." segments, encoded "/" or NUL, bad escapes.
 */
export function parseRawSegments(raw: readonly string[]): FsPath {
  const trailingSlash = raw.length > 0 && raw[raw.length - 1] === "";
  const body = trailingSlash ? raw.slice(0, -1) : raw;
  const shown = "/" + raw.join("/");
  const names = body.map((segment) => {
    let name: string;
    try {
      name = decodeURIComponent(segment);
    } catch {
      throw new FsError("EINVAL", "Malformed percent-encoding in the path", { path: shown });
    }
    checkSegment(name, shown);
    return name;
  });
  const path = "/" + names.join("/");
  if (encoder.encode(path).length > PATH_MAX) {
    throw new FsError("ENAMETOOLONG", `Path longer than ${PATH_MAX} bytes`, { path: shown });
  }
  return { path, trailingSlash };
}

/**
 * Validates a path given in a JSON body (`to` of rename, copy, link): absolute, no empty,
 * "." or ".." names; a trailing slash is allowed. Nothing is percent-decoded.
 *
 * @throws {FsError} EINVAL or ENAMETOOLONG.
 */
export function parseJsonPath(value: string): string {
  if (!value.startsWith("/")) {
    throw new FsError("EINVAL", "Paths must be absolute", { path: value });
  }
  if (value === "/") return "/";
  const names = value.slice(1).split("/");
  if (names[names.length - 1] === "") names.pop();
  for (const name of names) checkSegment(name, value);
  const path = "/" + names.join("/");
  if (encoder.encode(path).length > PATH_MAX) {
    throw new FsError("ENAMETOOLONG", `Path longer than ${PATH_MAX} bytes`, { path: value });
  }
  return path;
}
