/**
 * Reading XML request bodies for the WebDAV front end (RFC 4918 section 14): a hardened
 * parser into a small element tree with every name resolved to its namespace, the streaming
 * read of a body under a size limit and charset rules, and helpers to walk the tree.
 *
 * The parser is `saxes` (strict, namespace-aware XML 1.0). Every DOCTYPE is refused, so no
 * entity can be defined: XXE and entity-expansion bombs cannot happen.
 *
 * @module
 */

import { SaxesParser } from "saxes";
import type { SaxesTagNS } from "saxes";
import { BODY_IDLE_MS, idleRead } from "../http/input.ts";
import { bodyReader } from "../http/body_reader.ts";
import { FsError } from "../vfs/mod.ts";

/** The WebDAV namespace URI. */
export const DAV = "DAV:";

/** The namespace the `xml` prefix is bound to (never declared). */
export const XML_NS = "http://www.w3.org/XML/1998/namespace";
/** The namespace of namespace declarations (`xmlns`, `xmlns:p`). */
export const XMLNS_NS = "http://www.w3.org/2000/xmlns/";

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
 * import { parseXml } from "./xml_parse.ts";
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
  /** How long the body may send nothing (default {@linkcode BODY_IDLE_MS}): then 408. */
  idleMs?: number;
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
 * import { readXmlBody } from "./xml_parse.ts";
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

  const reader = bodyReader(request.body);
  const idleMs = options.idleMs ?? BODY_IDLE_MS;
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      // A body that breaks off (the client closed or reset the connection) is its doing.
      const read = idleRead(() => reader.read(), () => reader.cancel(), idleMs, size);
      const { done, value } = await read.catch((error) => {
        if (error instanceof FsError) throw error;
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
