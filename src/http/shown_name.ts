/**
 * Names as people see them. A name may hold characters that show as nothing or that move
 * the text around them: controls (Cc), format characters (Cf: the bidi overrides
 * U+202A-202E, isolates U+2066-2069, marks U+200E, U+200F and U+061C, zero-width U+200B-200D
 * and U+2060, U+FEFF, the soft hyphen) and the line and paragraph separators. A file named
 * `invoice\u202Egpj.exe` showed as "invoiceexe.jpg" in the share pages and WebDAV's
 * collection index, and was saved under that name by a download, before session 20. The
 * stored name never changes: these functions are for display and for the name a download is
 * saved under only.
 *
 * The browser UI's script does the same in `src/ui/static/util.js` (`shownName`, `nameNode`,
 * `downloadName`): it cannot import this module; `tests/ui_names_browser_test.ts` checks
 * both in Chromium.
 *
 * @module
 */

const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const HIDDEN_ALL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
const PICTOGRAPH = /\p{Extended_Pictographic}/u;

/** One piece of a shown name: text as it is, or a hidden character's `U+XXXX` label. */
export type NamePart = { readonly text: string } | { readonly hidden: string };

/**
 * The `U+XXXX` label of the hidden character `ch` at `offset` of `text`, or null to keep it:
 * a ZWJ between two pictographs, which joins an emoji sequence (a family, a profession).
 */
function labelOf(ch: string, offset: number, text: string): string | null {
  if (ch === "\u200D") {
    const prev = [...text.slice(0, offset).replace(/\uFE0F$/, "")].at(-1) ?? "";
    const next = [...text.slice(offset + 1, offset + 3)][0] ?? "";
    if (PICTOGRAPH.test(prev) && PICTOGRAPH.test(next)) return null;
  }
  return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * `name` split into text and hidden characters, for markup that shows each hidden one
 * marked (`<span class="hidden-char">U+202E</span>`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nameParts } from "./shown_name.ts";
 * assert.deepEqual(nameParts("a\u202Eb"), [{ text: "a" }, { hidden: "U+202E" }, { text: "b" }]);
 * ```
 */
export function nameParts(name: string): NamePart[] {
  const parts: NamePart[] = [];
  let last = 0;
  for (const match of name.matchAll(HIDDEN_ALL)) {
    const label = labelOf(match[0], match.index, name);
    if (label === null) continue;
    if (match.index > last) parts.push({ text: name.slice(last, match.index) });
    parts.push({ hidden: label });
    last = match.index + match[0].length;
  }
  if (last < name.length) parts.push({ text: name.slice(last) });
  return parts;
}

/**
 * `name` as plain text to show (a page title, an attribute): each hidden character as
 * `⟨U+202E⟩`, inside a left-to-right isolate (U+2066 … U+2069) so that it neither reorders
 * itself nor the text around it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shownName } from "./shown_name.ts";
 * assert.equal(shownName("invoice\u202Egpj.exe"), "\u2066invoice\u27E8U+202E\u27E9gpj.exe\u2069");
 * ```
 */
export function shownName(name: string): string {
  if (!HIDDEN.test(name)) return `\u2066${name}\u2069`;
  const parts = nameParts(name);
  return `\u2066${
    parts.map((p) => "text" in p ? p.text : `\u27E8${p.hidden}\u27E9`).join("")
  }\u2069`;
}

/**
 * The name a download is saved under: each hidden character as `_` (as the zip does for
 * controls), so that the saved file does not pass for another in the file manager it lands in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { savedName } from "./shown_name.ts";
 * assert.equal(savedName("invoice\u202Egpj.exe"), "invoice_gpj.exe");
 * ```
 */
export function savedName(name: string): string {
  if (!HIDDEN.test(name)) return name;
  return name.replace(HIDDEN_ALL, (ch, offset: number) => labelOf(ch, offset, name) ? "_" : ch);
}

const HTML_ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * `name` as HTML to show (for pages built as strings, such as WebDAV's collection index):
 * escaped, inside `<bdi dir="ltr">`, each hidden character as a marked `⟨U+202E⟩`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nameHtml } from "./shown_name.ts";
 * assert.equal(
 *   nameHtml("<b>\u202E"),
 *   '<bdi dir="ltr">&lt;b&gt;<span class="hidden-char" title="U+202E">⟨U+202E⟩</span></bdi>',
 * );
 * ```
 */
export function nameHtml(name: string): string {
  const escape = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
  const inner = nameParts(name).map((p) =>
    "text" in p
      ? escape(p.text)
      : `<span class="hidden-char" title="${p.hidden}">\u27E8${p.hidden}\u27E9</span>`
  ).join("");
  return `<bdi dir="ltr">${inner}</bdi>`;
}
