/**
 * Properties: the live ones computed from a stat (RFC 4918 section 15, quotas from RFC
 * 4331) and dead ones kept as extended attributes, one per property, holding the property
 * element exactly as the client sent it. PROPFIND renders them; PROPPATCH changes dead
 * properties all-or-nothing.
 *
 * @module
 */

import { contentTypeOf } from "../http/media_types.ts";
import { httpDate } from "../http/preconditions.ts";
import type { Stat } from "../vfs/mod.ts";
import type { LockInfo } from "../vfs/locks.ts";
import { DavError } from "./errors.ts";
import { DAV, escapeXml, type XmlElement, type XmlOut } from "./xml.ts";
import { type PropName, storedElement, type StoredProps } from "./stored_props.ts";

export type { PropName } from "./stored_props.ts";

/** Extended attribute names of dead properties start with this, then `{ns}name`. */
export const DEAD_PREFIX = "dav:";

/** The Clark notation of a name, `{ns}name`. */
export function clark(p: PropName): string {
  return `{${p.ns}}${p.name}`;
}

/** The xattr that stores dead property `p`. */
export function deadKey(p: PropName): string {
  return DEAD_PREFIX + clark(p);
}

/** The property name a dead-property xattr stores, or null for other xattrs. */
export function deadName(key: string): PropName | null {
  if (!key.startsWith(DEAD_PREFIX + "{")) return null;
  const close = key.indexOf("}", DEAD_PREFIX.length);
  if (close < 0) return null;
  return { ns: key.slice(DEAD_PREFIX.length + 1, close), name: key.slice(close + 1) };
}

/** Live properties this server computes, in the order allprop lists them. */
export const LIVE = [
  "resourcetype",
  "getcontentlength",
  "getlastmodified",
  "creationdate",
  "getetag",
  "getcontenttype",
  "displayname",
  "supportedlock",
  "lockdiscovery",
  "quota-available-bytes",
  "quota-used-bytes",
] as const;

type Live = typeof LIVE[number];

/** RFC 4331: quota properties are not part of allprop (they cost a usage count). */
const NOT_IN_ALLPROP: ReadonlySet<string> = new Set(["quota-available-bytes", "quota-used-bytes"]);

/** Win32 properties Windows' WebDAV client sets after copying a file in. */
export const WIN32_NS = "urn:schemas-microsoft-com:";

/** True when `p` is a live property (computed, so never stored). */
export function isLive(p: PropName): boolean {
  return p.ns === DAV && (LIVE as readonly string[]).includes(p.name);
}

/**
 * `displayname` is computed (the last name of the path) until a client sets one, which is
 * kept as a dead property and reported instead: RFC 4918 section 15.2 says it SHOULD NOT
 * be protected (before session 16 a PROPPATCH of it was 403).
 */
const DISPLAYNAME_KEY = deadKey({ ns: DAV, name: "displayname" });

/** True when PROPPATCH may not change `p` (403): every live property but `displayname`. */
export function isProtected(p: PropName): boolean {
  return isLive(p) && !(p.ns === DAV && p.name === "displayname");
}

/** What PROPFIND asked for. */
export type PropQuery =
  | { readonly kind: "allprop"; readonly include: readonly PropName[] }
  | { readonly kind: "propname" }
  | { readonly kind: "prop"; readonly names: readonly PropName[] };

/** Whether answering `query` needs dead properties (extended attributes). */
export function needsDead(query: PropQuery): boolean {
  // A dead property, or the displayname a client may have set.
  return query.kind !== "prop" || query.names.some((n) => !isProtected(n));
}

/** Whether answering `query` needs lock discovery. */
export function needsLocks(query: PropQuery): boolean {
  if (query.kind === "allprop") return true;
  return query.kind === "prop" &&
    query.names.some((n) => n.ns === DAV && n.name === "lockdiscovery");
}

/** Whether answering `query` needs quota figures. */
export function needsQuota(query: PropQuery): boolean {
  const quota = (n: PropName) => n.ns === DAV && NOT_IN_ALLPROP.has(n.name);
  if (query.kind === "prop") return query.names.some(quota);
  return query.kind === "allprop" && query.include.some(quota);
}

/** Facts shared by every resource of one PROPFIND. */
export interface PropContext {
  readonly hrefOf: (path: string, collection: boolean) => string;
  readonly quota: { readonly used: number; readonly available: number } | null;
  /** The front end's memo of dead property values as rendered (none: each parsed). */
  readonly stored?: StoredProps;
}

/** The stored element of dead property `p`, through the memo when there is one. */
function rendered(ctx: PropContext, p: PropName, bytes: Uint8Array): string | null {
  return ctx.stored ? ctx.stored.element(p, bytes) : storedElement(p, bytes);
}

/** One resource to describe. */
export interface Resource {
  readonly path: string;
  readonly stat: Stat;
  /** Dead properties by xattr key (only when the query needs them). */
  readonly xattrs: Readonly<Record<string, Uint8Array>>;
  /** Live locks covering the resource (only when the query needs them). */
  readonly locks: readonly LockInfo[];
}

/**
 * The `activelock` element of a lock (RFC 4918 section 14.1). Its `lockroot` is the URL
 * the LOCK request named (section 14.12), not the path it resolved to: before session 16 a
 * lock taken through `/s/f` with `/s` -> `/d` reported `/d/f`, a URL the client never used.
 * `collection`: the lock's root is a collection (its href then ends with "/").
 */
export function activeLock(
  lock: LockInfo,
  ctx: PropContext,
  options: { now: number; collection: boolean },
): XmlOut {
  const { now } = options;
  // Never more than granted: a deadline is set from the latest the store's clock can be
  // and judged by the earliest (vfs/locks.ts), which may differ by about a second.
  const remaining = Math.max(0, Math.min(lock.timeout, Math.round((lock.expires - now) / 1000)));
  const children: XmlOut["children"] = [
    dav("locktype", [dav("write")]),
    dav("lockscope", [dav(lock.scope)]),
    dav("depth", [lock.depth === "0" ? "0" : "infinity"]),
  ];
  if (lock.owner !== "") children.push(dav("owner", [{ raw: lock.owner }]));
  children.push(
    dav("timeout", [`Second-${remaining}`]),
    dav("locktoken", [dav("href", [lock.token])]),
    dav("lockroot", [dav("href", [ctx.hrefOf(lock.via ?? lock.root, options.collection)])]),
  );
  return dav("activelock", children);
}

function dav(name: string, children: XmlOut["children"] = []): XmlOut {
  return { ns: DAV, name, children };
}

/** The value of live property `name` for `r`, or null when it has none. */
function liveValue(
  name: Live,
  r: Resource,
  ctx: PropContext,
  now: number,
): XmlOut | { raw: string } | null {
  const { stat } = r;
  const collection = stat.type === "directory";
  switch (name) {
    case "resourcetype":
      return dav(name, collection ? [dav("collection")] : []);
    case "getcontentlength":
      return collection ? null : dav(name, [String(stat.size)]);
    case "getlastmodified":
      return dav(name, [httpDate(stat.mtime)]);
    case "creationdate":
      return dav(name, [new Date(stat.btime).toISOString()]);
    case "getetag":
      return dav(name, [`"${stat.etag}"`]);
    case "getcontenttype":
      return dav(name, [collection ? "httpd/unix-directory" : contentTypeOf(r.path)]);
    case "displayname": {
      const stored = r.xattrs[DISPLAYNAME_KEY];
      const set = stored ? rendered(ctx, { ns: DAV, name }, stored) : null;
      if (set !== null) return { raw: set };
      return dav(name, [r.path === "/" ? "" : r.path.slice(r.path.lastIndexOf("/") + 1)]);
    }
    case "supportedlock":
      return dav(
        name,
        (["exclusive", "shared"] as const).map((scope) =>
          dav("lockentry", [dav("lockscope", [dav(scope)]), dav("locktype", [dav("write")])])
        ),
      );
    case "lockdiscovery":
      // A depth-infinity lock is only ever taken on a collection; a depth-0 one covers
      // only its own root, which is `r` (by one of its names).
      return dav(
        name,
        r.locks.map((lock) =>
          activeLock(lock, ctx, { now, collection: lock.depth === "infinity" || collection })
        ),
      );
    case "quota-available-bytes":
      return ctx.quota ? dav(name, [String(ctx.quota.available)]) : null;
    case "quota-used-bytes":
      return ctx.quota ? dav(name, [String(ctx.quota.used)]) : null;
  }
}

/**
 * The dead properties of a resource: name and stored element, those that hold one (see
 * {@linkcode storedElement}: a name that is no XML name is left out with its value).
 */
function deadProps(r: Resource, ctx: PropContext): [PropName, string][] {
  const out: [PropName, string][] = [];
  for (const [key, value] of Object.entries(r.xattrs)) {
    const name = deadName(key);
    // A set displayname is reported as the live one it overrides, not twice.
    if (!name || isLive(name)) continue;
    const element = rendered(ctx, name, value);
    if (element !== null) out.push([name, element]);
  }
  return out;
}

/** The `response` element for one resource (RFC 4918 section 14.24). */
export function propResponse(r: Resource, query: PropQuery, ctx: PropContext, now: number): XmlOut {
  const found: XmlOut["children"] = [];
  const missing: XmlOut[] = [];
  const collection = r.stat.type === "directory";
  if (query.kind === "propname") {
    for (const name of LIVE) {
      if (NOT_IN_ALLPROP.has(name)) continue;
      if (liveValue(name, r, ctx, now)) found.push(dav(name));
    }
    for (const [name] of deadProps(r, ctx)) found.push({ ns: name.ns, name: name.name });
  } else if (query.kind === "allprop") {
    const extra = new Set(query.include.filter(isLive).map((n) => n.name));
    for (const name of LIVE) {
      if (NOT_IN_ALLPROP.has(name) && !extra.has(name)) continue;
      const value = liveValue(name, r, ctx, now);
      if (value) found.push(value);
    }
    const dead = deadProps(r, ctx);
    for (const [, element] of dead) found.push({ raw: element });
    // An included name the resource has no value for is reported missing, as a `prop`
    // query would (RFC 4918 section 9.1: include asks for those properties by name).
    for (const name of query.include) {
      const has = isLive(name)
        ? liveValue(name.name as Live, r, ctx, now) !== null
        : dead.some(([p]) => p.ns === name.ns && p.name === name.name);
      if (!has) missing.push({ ns: name.ns, name: name.name });
    }
  } else {
    for (const name of query.names) {
      if (isLive(name)) {
        const value = liveValue(name.name as Live, r, ctx, now);
        if (value) found.push(value);
        else missing.push({ ns: name.ns, name: name.name });
        continue;
      }
      const bytes = r.xattrs[deadKey(name)];
      const stored = bytes ? rendered(ctx, name, bytes) : null;
      if (stored !== null) found.push({ raw: stored });
      else missing.push({ ns: name.ns, name: name.name });
    }
  }
  const children: XmlOut["children"] = [dav("href", [ctx.hrefOf(r.path, collection)])];
  if (found.length > 0 || missing.length === 0) {
    children.push(dav("propstat", [dav("prop", found), dav("status", ["HTTP/1.1 200 OK"])]));
  }
  if (missing.length > 0) {
    children.push(
      dav("propstat", [dav("prop", missing), dav("status", ["HTTP/1.1 404 Not Found"])]),
    );
  }
  return dav("response", children);
}

/** What a `propfind` element may ask for (RFC 4918 section 14.20). */
const PROPFIND_KINDS: ReadonlySet<string> = new Set(["propname", "allprop", "prop"]);

/**
 * Reads a PROPFIND body (null: no body, which means allprop). Elements it does not know,
 * in any namespace, are ignored with their children (RFC 4918 section 17); what remains
 * must ask for exactly one of prop, allprop (with an optional include) or propname.
 */
export function parsePropfind(body: XmlElement | null): PropQuery {
  if (body === null) return { kind: "allprop", include: [] };
  if (body.ns !== DAV || body.name !== "propfind") {
    throw new DavError(400, "The PROPFIND body must be a DAV:propfind element");
  }
  const kids = elements(body).filter((k) => k.ns === DAV);
  const asked = kids.filter((k) => PROPFIND_KINDS.has(k.name));
  const first = asked[0];
  if (!first) throw new DavError(400, "PROPFIND needs prop, allprop or propname");
  if (asked.length > 1) {
    throw new DavError(400, "PROPFIND asks for one of prop, allprop or propname, not several");
  }
  switch (first.name) {
    case "propname":
      return { kind: "propname" };
    case "allprop": {
      const include = kids.find((k) => k.name === "include");
      return { kind: "allprop", include: include ? elements(include).map(nameOf) : [] };
    }
    default:
      return { kind: "prop", names: elements(first).map(nameOf) };
  }
}

function elements(el: XmlElement): XmlElement[] {
  return el.children.filter((c): c is XmlElement => typeof c !== "string");
}

function nameOf(el: XmlElement): PropName {
  return { ns: el.ns, name: el.name };
}

/** One change a PROPPATCH asks for, in document order. */
export type PropChange =
  | { readonly op: "set"; readonly name: PropName; readonly element: XmlElement }
  | { readonly op: "remove"; readonly name: PropName };

const XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang";

/** Reads a PROPPATCH body (RFC 4918 section 14.19). */
export function parseProppatch(body: XmlElement | null): PropChange[] {
  if (!body || body.ns !== DAV || body.name !== "propertyupdate") {
    throw new DavError(400, "The PROPPATCH body must be a DAV:propertyupdate element");
  }
  const changes: PropChange[] = [];
  for (const action of elements(body)) {
    // Anything but set and remove is ignored, with its children (RFC 4918 section 17).
    if (action.ns !== DAV || (action.name !== "set" && action.name !== "remove")) continue;
    const prop = elements(action).find((e) => e.ns === DAV && e.name === "prop");
    if (!prop) throw new DavError(400, `DAV:${action.name} needs a DAV:prop`);
    // The xml:lang in scope is part of a dead property's value (RFC 4918 section 4.3).
    const lang = prop.attrs[XML_LANG] ?? action.attrs[XML_LANG] ?? body.attrs[XML_LANG];
    for (const element of elements(prop)) {
      const value = lang === undefined || XML_LANG in element.attrs
        ? element
        : { ...element, attrs: { ...element.attrs, [XML_LANG]: lang } };
      changes.push(
        action.name === "set"
          ? { op: "set", name: nameOf(element), element: value }
          : { op: "remove", name: nameOf(element) },
      );
    }
  }
  if (changes.length === 0) throw new DavError(400, "PROPPATCH changes no property");
  return changes;
}

/** The `propstat` of a PROPPATCH response: names with one status. */
export function propstat(names: readonly PropName[], status: string): XmlOut {
  return dav("propstat", [
    dav("prop", names.map((n) => ({ ns: n.ns, name: n.name }))),
    dav("status", [`HTTP/1.1 ${status}`]),
  ]);
}

/** The text of a `DAV:error` body holding one precondition element. */
export function errorBody(condition: string, hrefs: readonly string[]): string {
  const inner = hrefs.map((h) => `<D:href>${escapeXml(h)}</D:href>`).join("");
  return `<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:${condition}>${inner}</D:${condition}></D:error>`;
}
