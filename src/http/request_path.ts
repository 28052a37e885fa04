/**
 * The one decoding of a request's path. The service reads the raw request target once,
 * before routing, and every later step (the router, the auth check, the handler, a second
 * path such as WebDAV's `Destination`) reads the names this module produced, so no two
 * layers can disagree about which file a request names.
 *
 * Anything that is not a clean absolute path after one percent-decoding is refused, not
 * repaired: `.`/`..` (also as `%2e`, in either case, double-encoded, behind an encoded `\`
 * or with `;` path parameters), empty segments, an encoded `/` in a name, NUL, bad escapes
 * and overlong or otherwise invalid UTF-8, and a raw `\` or `#` in the target (URL parsers
 * turn a `\` into `/`; a fragment is never part of a request target). The one repair is
 * asked for by WebDAV alone (`mergeSlashes`): empty segments (`a//b`) are dropped, as
 * Apache and nginx merge slashes by default, since WebDAV clients build such paths by
 * joining a collection's href and a name (litmus 0.18's lockbomb does); the HTTP API still
 * refuses them.
 *
 * @module
 */

import { checkSegment, climbs, type FsPath, isDotName } from "./path.ts";
import { FsError, PATH_MAX } from "../vfs/mod.ts";

/** A request path, decoded and checked once. */
export interface RequestPath {
  /** The decoded names, e.g. `["api", "v1", "fs", "a b.txt"]` (empty for "/"). */
  readonly names: readonly string[];
  /** The target ended with "/" (or was "/"). */
  readonly trailingSlash: boolean;
  /** The canonical form the router matches: every name percent-encoded again. */
  readonly routePath: string;
  /** The target had empty segments (`a//b`), left out of {@linkcode names}. */
  readonly emptySegments: boolean;
}

/** How a caller takes a path with empty segments. */
export interface PathOptions {
  /** Drop them (WebDAV); else such a path is refused with EINVAL. */
  readonly mergeSlashes?: boolean;
}

const encoder = new TextEncoder();

/**
 * The raw path of a request URL as the client sent it (no dot-segment removal, no
 * decoding): everything between the authority and the query.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rawPathOf } from "./request_path.ts";
 * assert(rawPathOf("http://h:1/a/../b?x=1") === "/a/../b");
 * ```
 */
export function rawPathOf(url: string): string {
  const scheme = url.indexOf("://");
  const start = url.indexOf("/", scheme < 0 ? 0 : scheme + 3);
  if (start < 0) return "/";
  const query = url.indexOf("?", start);
  return url.slice(start, query < 0 ? undefined : query);
}

function invalid(message: string, shown: string): FsError {
  return new FsError("EINVAL", message, { path: shown });
}

/** RFC 3986's host (an IP literal or a reg-name) and an optional port. */
const AUTHORITY =
  /^(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)(?::(\d{0,5}))?$/;

/** True for a valid host and optional port (RFC 3986 section 3.2.2 and 3.2.3). */
function isAuthority(text: string): boolean {
  const match = AUTHORITY.exec(text);
  if (!match) return false;
  const port = match[1];
  return port === undefined || port === "" || Number(port) <= 65535;
}

/**
 * Refuses a request whose `Host` (which the runtime writes into the request URL as it came)
 * is no host: RFC 9112 section 3.2 asks for a 400 for a Host that is not a valid value, and
 * RFC 9110 section 4.2.1 for rejecting an http URI with an empty host. Let through, a Host
 * of `a/b` moved the path the router saw (`http://a/b/dav/` routes `/b/dav/`), one of
 * `[::1`, `a b` or `x:99999` failed every `new URL()` of the request with a 500, and an
 * empty one made `new URL()` take the path's first name for the host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRequestHost } from "./request_path.ts";
 * const request = (host: string) =>
 *   new Request("http://127.0.0.1:8080/dav/", { headers: { host } });
 * checkRequestHost(request("127.0.0.1:8080"));
 * let refused = 0;
 * for (const host of ["a/b", "[::1", "a b", "x:99999", ""]) {
 *   try {
 *     checkRequestHost(request(host));
 *   } catch {
 *     refused++;
 *   }
 * }
 * assert(refused === 5);
 * ```
 * @throws {FsError} EINVAL.
 */
export function checkRequestHost(request: Request): void {
  const host = request.headers.get("host");
  const url = request.url;
  const scheme = url.indexOf("://");
  const rest = scheme < 0 ? "" : url.slice(scheme + 3);
  const end = rest.search(/[/?#]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  // Whether a URL parses depends on its scheme and authority alone (past them the WHATWG
  // parser only escapes), so the last pair let through needs no second look: a server's
  // requests nearly all name the same host. Only refusals are worked out every time.
  const seen = `${url.slice(0, scheme + 3 + Math.max(end, 0))}\n${host}`;
  if (end >= 0 && rest[end] === "/" && seen === lastHostSeen) return;
  let parses = true;
  try {
    new URL(url);
  } catch {
    parses = false;
  }
  const ok = parses && (scheme < 0 || (isAuthority(authority) && rest[end] === "/")) &&
    (host === null || isAuthority(host));
  if (!ok) {
    const shown = (host ?? authority).slice(0, 256);
    throw invalid("The Host header is not a valid host", shown);
  }
  if (end >= 0 && rest[end] === "/") lastHostSeen = seen;
}

/** The URL start and Host of the last request {@linkcode checkRequestHost} let through. */
let lastHostSeen = "";

/**
 * A raw segment of RFC 3986's unreserved characters (which `encodeURIComponent` keeps as
 * they are), short enough to be a name: ASCII, so one byte a character.
 */
const PLAIN_SEGMENT = /^[A-Za-z0-9._~-]{1,255}$/;

/**
 * Decodes one raw segment, refusing what could name something else than it seems to:
 * dot names in any spelling, and names that would climb if a `\` were a separator or if
 * another layer decoded them again (`%252e%252e`, `docs%252F..`). Other names keep every
 * character: "a%2Fb" (from `a%252Fb`) and "a\b" are names like any other.
 */
function decodeSegment(raw: string, shown: string, maxBytes?: number): string {
  // Most names are unreserved characters alone: no escape to decode, no separator to climb
  // by, nothing for checkSegment to refuse but a dot name or a length. Such a name is
  // itself, by every rule below; the rules cost several microseconds a name.
  if (
    PLAIN_SEGMENT.test(raw) && raw !== "." && raw !== ".." &&
    (maxBytes === undefined || raw.length <= maxBytes)
  ) return raw;
  let name: string;
  try {
    // decodeURIComponent refuses malformed escapes and invalid UTF-8, overlong forms too.
    name = decodeURIComponent(raw);
  } catch {
    throw invalid("Malformed percent-encoding in the path", shown);
  }
  if (isDotName(name) || climbs(name)) throw invalid(`Invalid path segment "${name}"`, shown);
  let twice = name;
  try {
    twice = decodeURIComponent(name);
  } catch {
    // Not a second layer of encoding: the name holds a literal "%".
  }
  if (twice !== name && climbs(twice)) {
    throw invalid("Doubly encoded dot segment in the path", shown);
  }
  checkSegment(name, shown, maxBytes);
  return name;
}

/**
 * The longest share token (`/s/<token>/`, the second segment of a path under `s`): not a
 * file name, so not held to NAME_MAX. A token carries the shared path, so a link to a path
 * of more than about 100 bytes (20 with a password) was refused as ENAMETOOLONG before it
 * reached the share route. The route refuses longer tokens itself (`ShareTokens.open`).
 */
const SHARE_TOKEN_MAX = 4096;

/**
 * Parses a raw request path (as {@linkcode rawPathOf} gives it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseRequestPath } from "./request_path.ts";
 * const p = parseRequestPath("/dav/a%20b/");
 * assert(p.names.join("|") === "dav|a b" && p.trailingSlash);
 * let refused = false;
 * try {
 *   parseRequestPath("/api/v1/fs/%2E%2e/etc");
 * } catch {
 *   refused = true;
 * }
 * assert(refused);
 * ```
 * @throws {FsError} EINVAL for anything but a clean absolute path (see `options`),
 * ENAMETOOLONG.
 */
export function parseRequestPath(raw: string, options: PathOptions = {}): RequestPath {
  const parsed = parseMerged(raw);
  return options.mergeSlashes ? parsed : clean(parsed, raw);
}

/** `path`, unless it had empty segments: EINVAL then (`raw` gives the path to show). */
function clean(path: RequestPath, raw: string | (() => string)): RequestPath {
  if (!path.emptySegments) return path;
  const shown = typeof raw === "string" ? raw : raw();
  throw invalid(
    "Empty segment in the path",
    shown.length > 256 ? shown.slice(0, 256) + "…" : shown,
  );
}

/** {@linkcode parseRequestPath} with empty segments dropped (and said so). */
function parseMerged(raw: string): RequestPath {
  const shown = raw.length > 256 ? raw.slice(0, 256) + "…" : raw;
  if (!raw.startsWith("/")) throw invalid("The request path must be absolute", shown);
  if (raw.includes("\\")) throw invalid("Backslashes are not path separators", shown);
  if (raw.includes("#")) throw invalid("The request path has a fragment", shown);
  if (raw === "/") return { names: [], trailingSlash: true, routePath: "/", emptySegments: false };
  const parts = raw.slice(1).split("/");
  const trailingSlash = parts[parts.length - 1] === "";
  if (trailingSlash) parts.pop();
  const emptySegments = parts.includes("");
  const names: string[] = [];
  let plain = true;
  let first: string | undefined;
  for (const part of parts) {
    if (part === "") continue;
    first ??= part;
    // The segment after a first segment "s" (as sent) is a share token.
    const share = names.length === 1 && first === "s";
    const name = decodeSegment(part, shown, share ? SHARE_TOKEN_MAX : undefined);
    plain &&= name === part && PLAIN_SEGMENT.test(part);
    names.push(name);
  }
  const joined = "/" + names.join("/");
  // A UTF-16 unit is at most 3 bytes of UTF-8: a short path is never encoded to count.
  if (joined.length * 3 > PATH_MAX + 64 && encoder.encode(joined).length > PATH_MAX + 64) {
    throw new FsError("ENAMETOOLONG", `Path longer than ${PATH_MAX} bytes`, { path: shown });
  }
  // Unreserved characters are what encodeURIComponent gives back unchanged.
  const encoded = plain ? joined : "/" + names.map(encodeURIComponent).join("/");
  const routePath = names.length === 0 ? "/" : encoded + (trailingSlash ? "/" : "");
  return { names, trailingSlash: trailingSlash || names.length === 0, routePath, emptySegments };
}

/**
 * The names below `mount` (its names, e.g. `["dav"]`), or null when the path is not
 * under it. Segments are compared, never characters, so `/davx` is not under `/dav`.
 */
export function namesBelow(
  path: RequestPath,
  mount: readonly string[],
): readonly string[] | null {
  if (path.names.length < mount.length) return null;
  for (let i = 0; i < mount.length; i++) if (path.names[i] !== mount[i]) return null;
  return path.names.slice(mount.length);
}

/**
 * The filesystem path a request names below `mount` (its names), or null when the request
 * is not under it.
 *
 * @throws {FsError} ENAMETOOLONG.
 */
export function fsPathBelow(path: RequestPath, mount: readonly string[]): FsPath | null {
  const names = namesBelow(path, mount);
  if (names === null) return null;
  const fsPath = "/" + names.join("/");
  // A UTF-16 unit is at most 3 bytes of UTF-8: a short path is never encoded to count.
  if (fsPath.length * 3 > PATH_MAX && encoder.encode(fsPath).length > PATH_MAX) {
    throw new FsError("ENAMETOOLONG", `Path longer than ${PATH_MAX} bytes`, { path: fsPath });
  }
  return { path: fsPath, trailingSlash: path.trailingSlash };
}

/**
 * Mount points seen, and their names: a handful of route prefixes, asked for on every
 * request (bounded all the same: cleared when it grows past a few dozen).
 */
const mounts = new Map<string, readonly string[]>();

/** The names of a mount point such as "/api/v1" (`["api", "v1"]`). */
export function mountNames(mount: string): readonly string[] {
  let names = mounts.get(mount);
  if (names === undefined) {
    if (mounts.size >= 64) mounts.clear();
    names = Object.freeze(mount.split("/").filter((name) => name !== ""));
    mounts.set(mount, names);
  }
  return names;
}

/**
 * The request path parsed once per request, shared by everything that handles it. Keyed by
 * the request object itself, so it holds nothing that outlives a request or that two
 * requests (or two apps) could share.
 */
const parsedRequests = new WeakMap<Request, RequestPath | FsError>();

/**
 * The request's path, parsed at most once per request (the app parses it before routing;
 * a front end used on its own parses it on first use).
 *
 * @throws {FsError} as {@linkcode parseRequestPath}.
 */
export function requestPathOf(request: Request, options: PathOptions = {}): RequestPath {
  let parsed = parsedRequests.get(request);
  if (parsed === undefined) {
    try {
      checkRequestHost(request);
      parsed = parseMerged(rawPathOf(request.url));
    } catch (error) {
      if (!(error instanceof FsError)) throw error;
      parsed = error;
    }
    parsedRequests.set(request, parsed);
  }
  if (parsed instanceof FsError) throw parsed;
  return options.mergeSlashes ? parsed : clean(parsed, () => rawPathOf(request.url));
}
