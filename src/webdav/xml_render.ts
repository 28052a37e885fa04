/**
 * Writing XML for the WebDAV front end: escaping, a serializer that stores dead-property
 * values and lock owners verbatim as self-contained fragments ({@linkcode serializeFragment}),
 * and a fast string-building writer for response documents ({@linkcode renderXml},
 * {@linkcode renderMember}). Names are those of `xml_parse.ts`: namespace URI plus local
 * name, attributes keyed by Clark name.
 *
 * @module
 */

import { DAV, XML_NS, type XmlElement, XMLNS_NS } from "./xml_parse.ts";

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
 * import { escapeXml } from "./xml_render.ts";
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
 * import { parseXml } from "./xml_parse.ts";
 * import { serializeFragment } from "./xml_render.ts";
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
 * import { DAV } from "./xml_parse.ts";
 * import { renderXml } from "./xml_render.ts";
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
