/**
 * `Content-Disposition: attachment` for a file name (RFC 6266): the name itself in
 * `filename*` (RFC 8187, UTF-8, percent-encoded), and an ASCII `filename=` beside it for
 * clients that do not read `filename*`.
 *
 * @module
 */

import { savedName } from "./shown_name.ts";

/**
 * The header value that makes a browser save the answer as `original`, with every character
 * that would hide or reorder text as `_` (since session 20).
 *
 * Before session 19 the zip and share downloads sent `filename*` alone, so a client that
 * reads only `filename` (older HTTP libraries, some download managers) fell back to the
 * URL's last segment; and `filename*` carried `'`, `(`, `)` and `*` unencoded
 * (`encodeURIComponent` keeps them), which RFC 8187's `attr-char` does not allow: a name with
 * `'` read as another charset or language delimiter.
 *
 * @example
 * ```ts
 * import { attachment } from "./disposition.ts";
 * const value = attachment("Résumé (1).zip");
 * if (value !== `attachment; filename="R_sum_ (1).zip"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%281%29.zip`) {
 *   throw new Error(value);
 * }
 * ```
 */
export function attachment(original: string): string {
  // Saved without characters that hide or reorder text (`invoice\u202Egpj.exe` is saved as
  // `invoice_gpj.exe`, not as a file that shows as "invoiceexe.jpg"): see shown_name.ts.
  const name = savedName(original);
  // Printable ASCII only, without the quoted-string's specials and `%` (which some
  // clients decode in `filename`, RFC 6266 appendix D).
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/gu, "_");
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}
