/**
 * Parsing of the WebDAV request headers of RFC 4918 section 10: Depth, Overwrite, Timeout,
 * Lock-Token, Destination and If, plus evaluation of the If header against resource state.
 *
 * @module
 */

/** A malformed request header; the front end answers 400 with the message. */
export class HeaderError extends Error {
  /** Always 400 Bad Request. */
  readonly status = 400 as const;
  /** The header's name as it appears on the wire, e.g. "Depth". */
  readonly header: string;

  /** Creates an error for header `header` with a message that names it. */
  constructor(header: string, message: string) {
    super(message);
    this.name = "HeaderError";
    this.header = header;
  }
}

/** A Depth header value. */
export type Depth = "0" | "1" | "infinity";

/**
 * Parses the Depth header (RFC 4918 section 10.2); `fallback` when absent.
 *
 * @example
 * ```ts
 * import { parseDepth } from "./headers.ts";
 * if (parseDepth("Infinity", "0") !== "infinity") throw new Error("bad");
 * ```
 */
export function parseDepth(value: string | null, fallback: Depth): Depth {
  if (value === null) return fallback;
  const v = value.trim().toLowerCase();
  if (v === "0" || v === "1" || v === "infinity") return v;
  throw new HeaderError("Depth", `Invalid Depth header "${value}": use 0, 1 or infinity`);
}

/**
 * Parses the Overwrite header (RFC 4918 section 10.6): absent means true; exactly "T" or "F".
 */
export function parseOverwrite(value: string | null): boolean {
  if (value === null) return true;
  const v = value.trim();
  if (v === "T") return true;
  if (v === "F") return false;
  throw new HeaderError("Overwrite", `Invalid Overwrite header "${value}": use T or F`);
}

const MAX_TIMEOUT_SECONDS = 2 ** 32 - 1;

/**
 * Parses the Timeout header (RFC 4918 section 10.7), a list such as `Second-600, Infinite`.
 *
 * Returns the first understood value in seconds (`Infinity` for `Infinite`), or `null` when
 * the header is absent. Unknown or malformed entries are skipped; when none is understood the
 * header is malformed. `Second-n` above 2^32-1 (the RFC's maximum) is clamped to it. Type
 * names are matched case-insensitively.
 *
 * @example
 * ```ts
 * import { parseTimeout } from "./headers.ts";
 * if (parseTimeout("Extended-1, Second-600, Infinite") !== 600) throw new Error("bad");
 * ```
 */
export function parseTimeout(value: string | null): number | null {
  if (value === null) return null;
  for (const part of value.split(",")) {
    const t = part.trim().toLowerCase();
    if (t === "infinite") return Infinity;
    if (t.startsWith("second-")) {
      const digits = t.slice("second-".length);
      if (digits.length > 0 && isDigits(digits)) {
        return Math.min(Number(digits), MAX_TIMEOUT_SECONDS);
      }
    }
  }
  throw new HeaderError(
    "Timeout",
    `Invalid Timeout header "${value}": use Second-<n> or Infinite`,
  );
}

function isDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

/**
 * Parses the Lock-Token header (RFC 4918 section 10.5), `<urn:uuid:...>`, and returns the
 * token without the angle brackets; `null` when absent.
 */
export function parseLockToken(value: string | null): string | null {
  if (value === null) return null;
  const v = value.trim();
  const inner = v.slice(1, -1);
  if (
    v.length < 3 || !v.startsWith("<") || !v.endsWith(">") || inner.includes(">") ||
    inner.includes("<") || hasWhitespace(inner)
  ) {
    throw new HeaderError("Lock-Token", `Invalid Lock-Token header "${value}": use <token>`);
  }
  return inner;
}

/**
 * Reads the Lock-Token header as lenient servers do: the RFC's `<token>`, or the bare
 * `token` some clients send (the `webdav` npm client, for one). `bare` says which, so the
 * caller can accept a bare token only when it names a lock. `null` when absent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseLockTokenLenient } from "./headers.ts";
 * const t = parseLockTokenLenient("urn:uuid:a");
 * assert(t?.token === "urn:uuid:a" && t.bare);
 * ```
 * @throws {HeaderError} when it is neither form.
 */
export function parseLockTokenLenient(
  value: string | null,
): { token: string; bare: boolean } | null {
  if (value === null) return null;
  const v = value.trim();
  // A bare token is an absolute URI (RFC 4918 section 6.5): a scheme, then no spaces or
  // angle brackets.
  if (/^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>]+$/.test(v)) return { token: v, bare: true };
  const token = parseLockToken(value);
  return token === null ? null : { token, bare: false };
}

function hasWhitespace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    if (isWs(s.charCodeAt(i))) return true;
  }
  return false;
}

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/**
 * Parses the Destination header (RFC 4918 section 10.3): an absolute URI, or an absolute path
 * resolved against `requestUrl`. Host and mount point are not judged here: the caller checks
 * the origin (502 when it is another server) and the path.
 */
export function parseDestination(value: string | null, requestUrl: URL): URL {
  if (value === null) throw new HeaderError("Destination", "Missing Destination header");
  const v = value.trim();
  if (v === "") throw new HeaderError("Destination", "Empty Destination header");
  let url: URL | null;
  if (v.startsWith("/")) {
    // "//host/path" is a network-path reference, which Simple-ref does not allow.
    url = v.startsWith("//") ? null : URL.parse(v, requestUrl);
  } else {
    url = URL.parse(v);
  }
  if (url === null) {
    throw new HeaderError(
      "Destination",
      `Invalid Destination header "${value}": use an absolute URI or path`,
    );
  }
  return url;
}

/** One condition of an If header list, possibly negated with `Not`. */
export type IfCondition =
  | { not: boolean; kind: "token"; token: string }
  /** `etag` is exactly as written between `[` and `]`, quotes and `W/` included. */
  | { not: boolean; kind: "etag"; etag: string };

/** One parenthesized list of an If header, with the resource it applies to. */
export type IfList = {
  /** The Resource-Tag as written (without `<>`) for tagged lists; null for untagged ones. */
  resource: string | null;
  /** Conditions that must all hold. */
  conditions: IfCondition[];
};

/** The state token that no lock ever has (RFC 4918 section 10.4.8). */
export const NO_LOCK = "DAV:no-lock";

/**
 * Parses the If header (RFC 4918 section 10.4.2):
 *
 * ```
 * If = "If" ":" ( 1*No-tag-list | 1*Tagged-list )
 * No-tag-list = List
 * Tagged-list = Resource-Tag 1*List
 * List = "(" 1*Condition ")"
 * Condition = ["Not"] (State-token | "[" entity-tag "]")
 * State-token = Coded-URL ; Coded-URL = "<" absolute-URI ">"
 * Resource-Tag = "<" Simple-ref ">"
 * ```
 *
 * Returns one {@linkcode IfList} per parenthesized list, in order; `null` when absent. Throws
 * HeaderError for anything else: unbalanced brackets, an empty list, a condition that is not
 * `<...>` or `[entity-tag]`, text between lists, a Resource-Tag without a list, or tagged and
 * untagged lists mixed in one header. `Not` is case-insensitive; the content of `<...>` may be
 * any characters except `>` (it is not checked to be an absolute URI).
 *
 * @example
 * ```ts
 * import { parseIf } from "./headers.ts";
 * const lists = parseIf("(<urn:uuid:a>) (Not <DAV:no-lock>)");
 * if (lists?.length !== 2 || lists[1]?.conditions[0]?.not !== true) throw new Error("bad");
 * ```
 */
export function parseIf(value: string | null): IfList[] | null {
  if (value === null) return null;
  return new IfParser(value).parse();
}

class IfParser {
  readonly #s: string;
  #pos = 0;

  constructor(s: string) {
    this.#s = s;
  }

  #fail(what: string): never {
    throw new HeaderError("If", `Invalid If header: ${what} at offset ${this.#pos}`);
  }

  #skipWs(): void {
    while (this.#pos < this.#s.length && isWs(this.#s.charCodeAt(this.#pos))) this.#pos++;
  }

  /** Reads from the opening delimiter at #pos to `close`; returns the text in between. */
  #delimited(close: string, what: string): string {
    const start = this.#pos + 1;
    const end = this.#s.indexOf(close, start);
    if (end < 0) this.#fail(`unterminated ${what}`);
    if (end === start) this.#fail(`empty ${what}`);
    this.#pos = end + 1;
    return this.#s.slice(start, end);
  }

  parse(): IfList[] {
    const lists: IfList[] = [];
    let form: "tagged" | "untagged" | undefined;
    let resource: string | null = null;
    let listsForResource = 0;
    for (;;) {
      this.#skipWs();
      if (this.#pos >= this.#s.length) break;
      const c = this.#s[this.#pos];
      if (c === "<") {
        if (form === "untagged") this.#fail("tagged list after untagged list");
        if (form === "tagged" && listsForResource === 0) this.#fail("resource tag without list");
        form = "tagged";
        resource = this.#delimited(">", "resource tag");
        listsForResource = 0;
      } else if (c === "(") {
        if (form === undefined) form = "untagged";
        lists.push({ resource, conditions: this.#list() });
        listsForResource++;
      } else {
        this.#fail(`unexpected "${c}"`);
      }
    }
    if (form === undefined) this.#fail("no list");
    if (listsForResource === 0) this.#fail("resource tag without list");
    return lists;
  }

  #list(): IfCondition[] {
    this.#pos++; // "("
    const conditions: IfCondition[] = [];
    for (;;) {
      this.#skipWs();
      if (this.#pos >= this.#s.length) this.#fail('missing ")"');
      if (this.#s[this.#pos] === ")") {
        if (conditions.length === 0) this.#fail("empty list");
        this.#pos++;
        return conditions;
      }
      let not = false;
      if (this.#s.slice(this.#pos, this.#pos + 3).toLowerCase() === "not") {
        not = true;
        this.#pos += 3;
        this.#skipWs();
      }
      const c = this.#s[this.#pos];
      if (c === "<") {
        conditions.push({ not, kind: "token", token: this.#delimited(">", "state token") });
      } else if (c === "[") {
        const start = this.#pos;
        const etag = this.#delimited("]", "entity tag");
        if (!isEntityTag(etag)) {
          this.#pos = start;
          this.#fail(`malformed entity tag [${etag}]`);
        }
        conditions.push({ not, kind: "etag", etag });
      } else {
        this.#fail(
          c === undefined ? 'missing ")"' : `expected <state-token> or [etag], got "${c}"`,
        );
      }
    }
  }
}

/** entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (RFC 9110 section 8.8.3). */
function isEntityTag(s: string): boolean {
  const q = s.startsWith("W/") ? s.slice(2) : s;
  return q.length >= 2 && q.startsWith('"') && q.endsWith('"') && !q.slice(1, -1).includes('"');
}

/**
 * Every state token in a non-negated condition of the If header: the lock tokens the client
 * submits to prove it owns locks (RFC 4918 section 6.4). `DAV:no-lock` is not a lock token and
 * is left out.
 */
export function submittedTokens(lists: IfList[] | null): Set<string> {
  const tokens = new Set<string>();
  for (const list of lists ?? []) {
    for (const c of list.conditions) {
      if (c.kind === "token" && !c.not && c.token !== NO_LOCK) tokens.add(c.token);
    }
  }
  return tokens;
}

/** The state of one resource as the If header sees it. */
export type IfResourceState = {
  /** Current strong entity tag as sent in ETag (e.g. `"abc"`), or null if unmapped. */
  etag: string | null;
  /**
   * For a symlink, the entity tag of what it leads to: the one GET of its URL sends (GET
   * and PUT act on that file), which matches as well as the symlink's own.
   */
  followedEtag?: string | null;
  /** Tokens of every lock whose scope covers the resource (direct or inherited). */
  tokens: readonly string[];
};

/**
 * Evaluates a parsed If header (RFC 4918 section 10.4).
 *
 * Per section 10.4.2, untagged lists apply to `requestUrl`, tagged lists to their Resource-Tag
 * (resolved against `requestUrl`); a list is the conjunction of its conditions, `Not` negates
 * one condition, and the whole header is true if and only if at least one list (of any
 * production, for any resource) is true: lists for several resources combine with OR, not AND.
 * Per section 10.4.4, a state token matches when it is exactly one of the resource's lock
 * tokens (`DAV:no-lock` never matches, so `Not <DAV:no-lock>` is always true) and an entity
 * tag matches by the strong comparison (a `W/` tag never matches). Per section 10.4.3, an
 * unmapped resource (`etag: null`) has no etag and no tokens, so only negated conditions hold.
 *
 * `state` is called at most once per distinct tag (null for the request URL), with the tag
 * resolved and as written (the tag's host is not compared; the caller judges it inside
 * `state` if it cares), and only for lists that are reached. A tag that does not resolve to
 * a URL makes its lists false.
 */
export async function evaluateIf(
  lists: IfList[],
  requestUrl: URL,
  state: (resourceUrl: URL, tag: string | null) => Promise<IfResourceState>,
): Promise<boolean> {
  const cache = new Map<string | null, Promise<IfResourceState>>();
  const stateOf = (url: URL, tag: string | null): Promise<IfResourceState> => {
    let p = cache.get(tag);
    if (p === undefined) {
      p = state(url, tag);
      cache.set(tag, p);
    }
    return p;
  };
  for (const list of lists) {
    const url = list.resource === null ? requestUrl : URL.parse(list.resource, requestUrl);
    if (url === null) continue;
    const s = await stateOf(url, list.resource);
    if (list.conditions.every((c) => matches(c, s) !== c.not)) return true;
  }
  return false;
}

function matches(c: IfCondition, s: IfResourceState): boolean {
  if (c.kind === "token") return c.token !== NO_LOCK && s.tokens.includes(c.token);
  return [s.etag, s.followedEtag ?? null].some((e) => e !== null && strongMatch(c.etag, e));
}

/** Strong comparison (RFC 9110 section 8.8.3.2); a bare value is taken as its quoted form. */
function strongMatch(a: string, b: string): boolean {
  const qa = quoteEtag(a);
  const qb = quoteEtag(b);
  return !qa.startsWith("W/") && !qb.startsWith("W/") && qa === qb;
}

function quoteEtag(e: string): string {
  const t = e.trim();
  return t.startsWith('"') || t.startsWith("W/") ? t : `"${t}"`;
}
