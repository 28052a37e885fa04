/**
 * XML for the WebDAV front end: a hardened parser for request bodies (RFC 4918 section 14),
 * a serializer that stores dead-property values and lock owners verbatim, and a fast
 * string-building writer for responses.
 *
 * The parser is `saxes` (strict, namespace-aware XML 1.0). Every DOCTYPE is refused, so no
 * entity can be defined: XXE and entity-expansion bombs cannot happen.
 *
 * Just over 500 lines on purpose: parser, serializer and writer share one model of names
 * and namespaces, and splitting them would split the hardening rules from what they guard.
 *
 * @module
 */

import { SaxesParser } from "saxes";
import type { SaxesTagNS } from "saxes";

/** The WebDAV namespace URI. */
export const DAV = "DAV:";

const XML_NS = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS = "http://www.w3.org/2000/xmlns/";

/** A request body that cannot be used: 400 malformed, 413 too large, 415 not UTF-8. */
export class XmlError extends Error {
  /** The HTTP status the front end should answer with. */
  readonly status: 400 | 413 | 415;

  /** Creates an error carrying the HTTP `status` to answer with. */
  constructor(status: 400 | 413 | 415, message: string) {
    super(message);
    this.name = "XmlError";
    this.status = status;
  }
}

/** An element with every name resolved to its namespace URI (`""` for no namespace). */
export interface XmlElement {
  /** Namespace URI, `""` when the element is in no namespace. */
  readonly ns: string;
  /** Local name. */
  readonly name: string;
  /** Attributes keyed by Clark name "{ns}local" or plain "local" for no-namespace. */
  readonly attrs: Readonly<Record<string, string>>;
  /** Child elements and text (adjacent text and CDATA are merged into one string). */
  readonly children: readonly XmlNode[];
}

/** An element or a run of text (CDATA included). */
export type XmlNode = XmlElement | string;

/** Limits for {@linkcode parseXml}. */
export interface ParseXmlOptions {
  /** Deepest element nesting allowed; the document element is depth 1. Default 64. */
  maxDepth?: number;
  /** Most elements plus text nodes allowed. Default 100000. */
  maxNodes?: number;
}

interface MutableElement {
  ns: string;
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
}

/**
 * Parses a whole XML document and returns its document element.
 *
 * Refuses (XmlError 400) any DOCTYPE, undefined entities, malformed XML, undeclared prefixes,
 * `xmlns:p=""` (forbidden in XML 1.0 namespaces), and documents deeper than `maxDepth` or with
 * more than `maxNodes` nodes. The XML declaration, comments and processing instructions are
 * ignored. Namespace declarations are not reported as attributes.
 *
 * @example Resolving a default namespace
 * ```ts
 * import { parseXml } from "./xml.ts";
 * const el = parseXml('<propfind xmlns="DAV:"><allprop/></propfind>');
 * if (el.ns !== "DAV:" || el.name !== "propfind") throw new Error("unexpected");
 * ```
 */
export function parseXml(text: string, options: ParseXmlOptions = {}): XmlElement {
  const maxDepth = options.maxDepth ?? 64;
  const maxNodes = options.maxNodes ?? 100_000;
  const parser = new SaxesParser({
    xmlns: true,
    defaultXMLVersion: "1.0",
    forceXMLVersion: true,
  });
  const stack: MutableElement[] = [];
  let root: MutableElement | undefined;
  let nodes = 0;

  const count = (): void => {
    if (++nodes > maxNodes) {
      throw new XmlError(400, `XML body has more than ${maxNodes} nodes`);
    }
  };
  const addText = (text: string): void => {
    const parent = stack[stack.length - 1];
    if (parent === undefined || text === "") return; // whitespace outside the document element
    const children = parent.children;
    const last = children[children.length - 1];
    if (typeof last === "string") {
      children[children.length - 1] = last + text;
    } else {
      count();
      children.push(text);
    }
  };

  parser.on("doctype", () => {
    throw new XmlError(400, "XML body must not contain a DOCTYPE");
  });
  parser.on("opentag", (tag: SaxesTagNS) => {
    count();
    if (stack.length >= maxDepth) {
      throw new XmlError(400, `XML body is nested deeper than ${maxDepth} elements`);
    }
    const entries: [string, string][] = [];
    for (const attr of Object.values(tag.attributes)) {
      if (attr.uri === XMLNS_NS) continue;
      entries.push([attr.uri === "" ? attr.local : `{${attr.uri}}${attr.local}`, attr.value]);
    }
    const el: MutableElement = {
      ns: tag.uri ?? "",
      name: tag.local ?? tag.name,
      // fromEntries defines own properties, so an attribute named "__proto__" stays data.
      attrs: Object.fromEntries(entries),
      children: [],
    };
    const parent = stack[stack.length - 1];
    if (parent === undefined) root = el;
    else parent.children.push(el);
    stack.push(el);
  });
  parser.on("closetag", () => {
    stack.pop();
  });
  parser.on("text", addText);
  parser.on("cdata", addText);

  try {
    parser.write(text).close();
  } catch (e) {
    if (e instanceof XmlError) throw e;
    throw new XmlError(400, `Malformed XML: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (root === undefined) throw new XmlError(400, "Malformed XML: no document element");
  return root;
}

/** Options for {@linkcode readXmlBody}. */
export interface ReadXmlBodyOptions {
  /** Largest body accepted, in bytes. Default 1 MiB. */
  limit?: number;
}

/**
 * Reads and parses an XML request body, streaming.
 *
 * Returns `null` for an empty body (no body, `Content-Length: 0`, or a stream with no bytes).
 * Throws XmlError 413 as soon as the body exceeds `limit` (the rest is not read; a declared
 * Content-Length over the limit fails before reading), 415 for a charset other than UTF-8 in
 * Content-Type or a UTF-16 byte order mark, 400 for invalid UTF-8 or anything
 * {@linkcode parseXml} refuses. It does not judge the media type; handlers may.
 *
 * @example
 * ```ts
 * import { readXmlBody } from "./xml.ts";
 * const el = await readXmlBody(new Request("http://h/", { method: "POST", body: "<a/>" }));
 * if (el?.name !== "a") throw new Error("unexpected");
 * ```
 */
export async function readXmlBody(
  request: Request,
  options: ReadXmlBodyOptions = {},
): Promise<XmlElement | null> {
  const limit = options.limit ?? 1024 * 1024;
  const tooLarge = () => new XmlError(413, `XML body is larger than ${limit} bytes`);
  checkCharset(request.headers.get("content-type"));
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared.trim())) {
    const length = Number(declared.trim());
    if (length === 0) return null;
    if (length > limit) throw tooLarge();
  }
  if (request.body === null) return null;

  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      // A body that breaks off (the client closed or reset the connection) is its doing.
      const { done, value } = await reader.read().catch((error) => {
        const why = error instanceof Error ? error.message : String(error);
        throw new XmlError(400, `The XML body broke off after ${size} bytes: ${why}`);
      });
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        // Do not wait for the source: an endless body must not hold the request open.
        reader.cancel().catch(() => {});
        throw tooLarge();
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  if (size === 0) return null;

  const bytes = concat(chunks, size);
  if (
    bytes.length >= 2 &&
    ((bytes[0] === 0xfe && bytes[1] === 0xff) || (bytes[0] === 0xff && bytes[1] === 0xfe))
  ) {
    throw new XmlError(415, "XML body must be UTF-8, not UTF-16");
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new XmlError(400, "XML body is not valid UTF-8");
  }
  return parseXml(text);
}

function checkCharset(contentType: string | null): void {
  if (contentType === null) return;
  for (const param of contentType.split(";").slice(1)) {
    const eq = param.indexOf("=");
    if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== "charset") continue;
    const charset = param.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1").toLowerCase();
    if (charset !== "utf-8" && charset !== "utf8" && charset !== "us-ascii") {
      throw new XmlError(415, `XML body charset "${charset}" is not supported; use UTF-8`);
    }
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0];
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** Whether `n` is an element rather than text. */
export function isElement(n: XmlNode): n is XmlElement {
  return typeof n !== "string";
}

/**
 * The child elements of `el`, optionally only those in namespace `ns` and, when `name` is
 * given too, with that local name.
 */
export function childElements(el: XmlElement, ns?: string, name?: string): XmlElement[] {
  const out: XmlElement[] = [];
  for (const child of el.children) {
    if (typeof child === "string") continue;
    if (ns !== undefined && child.ns !== ns) continue;
    if (name !== undefined && child.name !== name) continue;
    out.push(child);
  }
  return out;
}

/** The first child element of `el` named `{ns}name`, or undefined. */
export function firstChild(el: XmlElement, ns: string, name: string): XmlElement | undefined {
  for (const child of el.children) {
    if (typeof child !== "string" && child.ns === ns && child.name === name) return child;
  }
  return undefined;
}

/** All descendant text of `el`, concatenated in document order. */
export function textOf(el: XmlElement): string {
  const parts: string[] = [];
  const walk = (e: XmlElement): void => {
    for (const child of e.children) {
      if (typeof child === "string") parts.push(child);
      else walk(child);
    }
  };
  walk(el);
  return parts.join("");
}

// Characters XML 1.0 cannot carry at all, even as character references: C0 controls other
// than tab/LF/CR, U+FFFE, U+FFFF and lone surrogates. The `u` flag makes the surrogate range of
// the replacing patterns match only unpaired halves; the quick tests (no `u`, faster) flag any
// surrogate, so text with a valid pair just takes the slower exact path.
// deno-lint-ignore no-control-regex -- matching control characters is the point
const TEXT_SPECIAL = /[&<>"'\r\0-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;
// deno-lint-ignore no-control-regex -- idem
const TEXT_SPECIAL_G = /[&<>"'\r]|[\0-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDFFF]/gu;
// deno-lint-ignore no-control-regex -- idem
const ATTR_SPECIAL = /[&<>"'\r\n\t\0-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;
// deno-lint-ignore no-control-regex -- idem
const ATTR_SPECIAL_G = /[&<>"'\r\n\t]|[\0-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]|[\uD800-\uDFFF]/gu;
const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&apos;",
  // A literal CR would be normalized to LF by the reader; tab and LF in attribute values
  // would be normalized to spaces. Character references survive both.
  "\r": "&#xD;",
  "\n": "&#xA;",
  "\t": "&#x9;",
};
const escapeChar = (c: string): string => ESCAPES[c] ?? "";

/**
 * Escapes text for XML content or attribute values: `& < > " '` become entity references,
 * CR becomes `&#xD;` (so it survives line-end normalization), and characters XML 1.0 cannot
 * represent at all (C0 controls other than tab/LF/CR, U+FFFE, U+FFFF, lone surrogates) are
 * dropped.
 *
 * @example
 * ```ts
 * import { escapeXml } from "./xml.ts";
 * if (escapeXml(`a<b & "c"`) !== "a&lt;b &amp; &quot;c&quot;") throw new Error("bad");
 * ```
 */
export function escapeXml(s: string): string {
  return TEXT_SPECIAL.test(s) ? s.replace(TEXT_SPECIAL_G, escapeChar) : s;
}

function escapeAttr(s: string): string {
  return ATTR_SPECIAL.test(s) ? s.replace(ATTR_SPECIAL_G, escapeChar) : s;
}

/** Splits a Clark name "{ns}local" (or plain "local") into namespace and local name. */
function splitClark(key: string): [ns: string, local: string] {
  if (key.startsWith("{")) {
    const end = key.indexOf("}");
    if (end > 0) return [key.slice(1, end), key.slice(end + 1)];
  }
  return ["", key];
}

/** Maps namespace URIs to prefixes; the `xml` namespace is predefined and never declared. */
class Prefixes {
  readonly #map = new Map<string, string>();
  readonly decls: string[] = [];
  #next = 0;

  constructor(fixed: Record<string, string> = {}) {
    for (const [ns, prefix] of Object.entries(fixed)) this.#bind(ns, prefix);
  }

  #bind(ns: string, prefix: string): void {
    this.#map.set(ns, prefix);
    this.decls.push(` xmlns:${prefix}="${escapeAttr(ns)}"`);
  }

  /** The prefix for namespace `ns`, binding a new one on first use. */
  prefix(ns: string): string {
    if (ns === XML_NS) return "xml";
    if (ns === XMLNS_NS) throw new Error(`Cannot use the reserved namespace "${ns}"`);
    let prefix = this.#map.get(ns);
    if (prefix === undefined) {
      prefix = `ns${this.#next++}`;
      this.#bind(ns, prefix);
    }
    return prefix;
  }

  qname(ns: string, local: string): string {
    return ns === "" ? local : `${this.prefix(ns)}:${local}`;
  }
}

/**
 * Serializes `el` and its subtree as a self-contained XML fragment that re-parses to the same
 * names, attributes and text wherever it is embedded.
 *
 * Every namespace used is declared with a generated prefix (`ns0`, `ns1`, ...) on the
 * fragment's outermost element; the default namespace is never used for namespaced names, and
 * the outermost element carries `xmlns=""` when any element in the subtree is in no namespace,
 * so an enclosing default namespace cannot capture it. `xml:*` attributes keep the predefined
 * `xml` prefix. Prefixes inside attribute or text values (QNames in content) are not rewritten.
 *
 * @example
 * ```ts
 * import { parseXml, serializeFragment } from "./xml.ts";
 * const el = parseXml('<x:a xmlns:x="urn:x"><b xmlns="">1</b></x:a>');
 * const out = serializeFragment(el); // <ns0:a xmlns:ns0="urn:x" xmlns=""><b>1</b></ns0:a>
 * if (parseXml(out).children.length !== 1) throw new Error("bad");
 * ```
 */
export function serializeFragment(el: XmlElement): string {
  const prefixes = new Prefixes();
  let needsEmptyDefault = false;
  const collect = (e: XmlElement): void => {
    if (e.ns === "") needsEmptyDefault = true;
    else prefixes.prefix(e.ns);
    for (const key of Object.keys(e.attrs)) {
      const [ns] = splitClark(key);
      if (ns !== "") prefixes.prefix(ns);
    }
    for (const child of e.children) if (typeof child !== "string") collect(child);
  };
  collect(el);

  const out: string[] = [];
  const write = (e: XmlElement, outermost: boolean): void => {
    const qname = prefixes.qname(e.ns, e.name);
    out.push("<", qname);
    if (outermost) {
      out.push(...prefixes.decls);
      if (needsEmptyDefault) out.push(' xmlns=""');
    }
    for (const [key, value] of Object.entries(e.attrs)) {
      const [ns, local] = splitClark(key);
      out.push(" ", prefixes.qname(ns, local), '="', escapeAttr(value), '"');
    }
    if (e.children.length === 0) {
      out.push("/>");
      return;
    }
    out.push(">");
    for (const child of e.children) {
      if (typeof child === "string") out.push(escapeXml(child));
      else write(child, false);
    }
    out.push("</", qname, ">");
  };
  write(el, true);
  return out.join("");
}

/** An element to render: namespace, local name, Clark-keyed attributes and children. */
export type XmlOut = {
  ns: string;
  name: string;
  /** Attributes keyed by Clark name "{ns}local" or plain "local". */
  attrs?: Record<string, string>;
  /** Elements, text (escaped on output) and `{ raw }` markup inserted verbatim. */
  children?: (XmlOut | string | { raw: string })[];
};

/**
 * Renders a response document: the XML declaration, then `root` with `DAV:` bound to prefix
 * `D` and every other namespace bound to a generated prefix (`ns0`, ...), all declared on the
 * root. Text and attribute values go through {@linkcode escapeXml} (characters XML 1.0 cannot
 * carry are dropped); `{ raw }` children are inserted verbatim and must be self-contained
 * fragments such as {@linkcode serializeFragment} produces. Names are not validated.
 *
 * @example
 * ```ts
 * import { DAV, renderXml } from "./xml.ts";
 * const xml = renderXml({ ns: DAV, name: "multistatus", children: [] });
 * if (!xml.endsWith('<D:multistatus xmlns:D="DAV:"/>')) throw new Error("bad");
 * ```
 */
export function renderXml(root: XmlOut): string {
  const out: string[] = ['<?xml version="1.0" encoding="utf-8"?>\n'];
  renderElement(root, out, true);
  return out.join("");
}

/**
 * Renders one element of a document whose root binds `DAV:` to `D` (the members of a
 * streamed multistatus): namespaces other than `DAV:` are declared on the element itself.
 */
export function renderMember(element: XmlOut): string {
  const out: string[] = [];
  renderElement(element, out, false);
  return out.join("");
}

/** Renders `e` into `out`, declaring on it every namespace it uses (`DAV:` only on a root). */
function renderElement(e: XmlOut, out: string[], root: boolean): void {
  const prefixes = new Prefixes({ [DAV]: "D" });
  const fixed = prefixes.decls.length;
  const collect = (e: XmlOut): void => {
    if (e.ns !== "") prefixes.prefix(e.ns);
    if (e.attrs !== undefined) {
      for (const key of Object.keys(e.attrs)) {
        const [ns] = splitClark(key);
        if (ns !== "") prefixes.prefix(ns);
      }
    }
    if (e.children !== undefined) {
      for (const child of e.children) {
        if (typeof child !== "string" && !("raw" in child)) collect(child);
      }
    }
  };
  collect(e);
  const decls = (root ? prefixes.decls : prefixes.decls.slice(fixed)).join("");
  const write = (e: XmlOut, top: boolean): void => {
    const qname = prefixes.qname(e.ns, e.name);
    let open = `<${qname}`;
    if (top) open += decls;
    if (e.attrs !== undefined) {
      for (const [key, value] of Object.entries(e.attrs)) {
        const [ns, local] = splitClark(key);
        open += ` ${prefixes.qname(ns, local)}="${escapeAttr(value)}"`;
      }
    }
    const children = e.children;
    if (children === undefined || children.length === 0) {
      out.push(`${open}/>`);
      return;
    }
    out.push(`${open}>`);
    for (const child of children) {
      if (typeof child === "string") out.push(escapeXml(child));
      else if ("raw" in child) out.push(child.raw);
      else write(child, false);
    }
    out.push(`</${qname}>`);
  };
  write(e, true);
}
