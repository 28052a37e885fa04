/**
 * Dead properties as they go into an answer: each stored value parsed and written again,
 * and a bounded memo of the results so that a listing of files that carry the same values
 * (Windows sets `Win32FileAttributes` and three timestamps on every file it copies in) does
 * not parse each again.
 *
 * @module
 */

import { parseXml, serializeFragment, type XmlElement } from "./xml.ts";

/** A property name: namespace URI and local name. */
export interface PropName {
  readonly ns: string;
  readonly name: string;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The stored element of dead property `p` as it goes into an answer, or null when the stored
 * bytes are not one well-formed element of that name (then the property counts as absent).
 *
 * PROPPATCH stores only what `serializeFragment` wrote, but the attribute is an extended
 * attribute like any other: the HTTP API's `setxattr` (and any future writer) can store any
 * bytes under a `dav:` name. Inserted verbatim, such a value broke every PROPFIND of its
 * folder for every user (a control character, an unclosed element), or forged members
 * (`</D:prop>…<D:response><D:href>/dav/elsewhere</D:href>…`) in another user's listing
 * (before session 19). So each is parsed and written again, as PROPPATCH would have.
 *
 * @example
 * ```ts
 * import { storedElement } from "./stored_props.ts";
 * const p = { ns: "urn:x", name: "a" };
 * const ok = new TextEncoder().encode('<x:a xmlns:x="urn:x">1</x:a>');
 * if (storedElement(p, ok) !== '<ns0:a xmlns:ns0="urn:x">1</ns0:a>') throw new Error("ok");
 * const forged = new TextEncoder().encode('<x:a xmlns:x="urn:x"/></D:prop>');
 * if (storedElement(p, forged) !== null) throw new Error("forged");
 * ```
 */
export function storedElement(p: PropName, bytes: Uint8Array): string | null {
  let element: XmlElement;
  try {
    element = parseXml(strictUtf8.decode(bytes));
  } catch {
    return null;
  }
  if (element.ns !== p.ns || element.name !== p.name) return null;
  return serializeFragment(element);
}

/** Distinct stored values remembered, and the longest one remembered (UTF-8 bytes). */
const MEMO_ENTRIES = 8192;
const MEMO_VALUE_MAX = 1024;

/**
 * {@linkcode storedElement} with a memo of short values, one per WebDAV front end: keyed by
 * the property's name and the stored bytes, so it is right whatever wrote them. When full it
 * is forgotten at once (a bound on memory, not an LRU: values repeat across a listing).
 */
export class StoredProps {
  readonly #memo = new Map<string, string | null>();

  /** The element for `p` stored as `bytes`, or null (see {@linkcode storedElement}). */
  element(p: PropName, bytes: Uint8Array): string | null {
    if (bytes.length > MEMO_VALUE_MAX) return storedElement(p, bytes);
    let text: string;
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      return null;
    }
    const key = `{${p.ns}}${p.name}\n${text}`;
    const known = this.#memo.get(key);
    if (known !== undefined) return known;
    const element = storedElement(p, bytes);
    if (this.#memo.size >= MEMO_ENTRIES) this.#memo.clear();
    this.#memo.set(key, element);
    return element;
  }
}
