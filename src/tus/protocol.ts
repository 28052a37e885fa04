/**
 * tus 1.0.0 on the wire: the headers of the core protocol and of the extensions PageFS
 * serves, parsed strictly (anything malformed is a 400 that changes nothing).
 *
 * @module
 */

import { badRequest, HttpError } from "../http/errors.ts";

/** The one protocol version spoken. */
export const TUS_VERSION = "1.0.0";

/** The extensions served, as `Tus-Extension` lists them. */
export const TUS_EXTENSIONS = [
  "creation",
  "creation-with-upload",
  "creation-defer-length",
  "termination",
  "expiration",
  "checksum",
] as const;

/** Checksum algorithms accepted in `Upload-Checksum`. */
export const CHECKSUM_ALGORITHMS = ["sha1", "md5", "sha256"] as const;
export type ChecksumAlgorithm = typeof CHECKSUM_ALGORITHMS[number];

/** The content type of every PATCH body (and of a creation-with-upload body). */
export const OFFSET_STREAM = "application/offset+octet-stream";

/** Headers every tus answer carries. */
export const TUS_HEADERS: Readonly<Record<string, string>> = {
  "tus-resumable": TUS_VERSION,
  "cache-control": "no-store",
};

/** Largest `Upload-Metadata` header accepted (bytes). */
const METADATA_MAX = 16 * 1024;

/**
 * Refuses a request without `Tus-Resumable: 1.0.0` (412, with the versions spoken).
 *
 * @throws {HttpError} 412.
 */
export function checkResumable(headers: Headers): void {
  const value = headers.get("tus-resumable");
  if (value?.trim() !== TUS_VERSION) {
    throw new HttpError(
      412,
      "EINVAL",
      value === null
        ? "Tus-Resumable is missing: this server speaks tus 1.0.0"
        : `Unsupported Tus-Resumable "${value}": this server speaks tus 1.0.0`,
      { headers: { "tus-version": TUS_VERSION } },
    );
  }
}

/** A header holding a non-negative integer, or undefined when absent. */
export function uintHeader(headers: Headers, name: string): number | undefined {
  const text = headers.get(name);
  if (text === null) return undefined;
  const value = /^\d{1,16}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(value)) {
    throw badRequest(`Invalid ${name} "${text.slice(0, 40)}": expected a non-negative integer`);
  }
  return value;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeBase64(text: string, what: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) {
    throw badRequest(`Invalid base64 in ${what}`);
  }
  try {
    return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  } catch {
    throw badRequest(`Invalid base64 in ${what}`);
  }
}

/**
 * Parses `Upload-Metadata`: comma-separated pairs of a key and an optional base64 value.
 * Values are decoded as UTF-8 (a value that is not is refused; PageFS reads only text
 * keys); a key without a value maps to "".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMetadata } from "./protocol.ts";
 * const m = parseMetadata("filename bm90ZXMudHh0,dir L2RvY3M=,flag");
 * assert(m.filename === "notes.txt" && m.dir === "/docs" && m.flag === "");
 * ```
 * @throws {HttpError} 400 for a malformed header or a repeated key.
 */
export function parseMetadata(header: string | null): Record<string, string> {
  const out: Record<string, string> = Object.create(null);
  if (header === null || header.trim() === "") return out;
  if (header.length > METADATA_MAX) throw badRequest("Upload-Metadata is too long");
  for (const pair of header.split(",")) {
    const parts = pair.trim().split(" ");
    const key = parts[0] ?? "";
    if (parts.length > 2 || !/^[\x21-\x2b\x2d-\x7e]{1,128}$/.test(key)) {
      throw badRequest("Malformed Upload-Metadata: expected comma-separated `key base64` pairs");
    }
    if (key in out) throw badRequest(`Upload-Metadata repeats the key "${key}"`);
    const raw = parts[1];
    let value = "";
    if (raw !== undefined) {
      try {
        value = utf8.decode(decodeBase64(raw, `Upload-Metadata "${key}"`));
      } catch (error) {
        if (error instanceof HttpError) throw error;
        throw badRequest(`Upload-Metadata "${key}" is not UTF-8 text`);
      }
    }
    out[key] = value;
  }
  return out;
}

/** A checksum the client sent for a PATCH body. */
export interface Checksum {
  readonly algorithm: ChecksumAlgorithm;
  readonly digest: Uint8Array;
}

const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { sha1: 20, md5: 16, sha256: 32 };

/**
 * Parses `Upload-Checksum: <algorithm> <base64 digest>`; null when absent.
 *
 * @throws {HttpError} 400 for an unsupported algorithm or a malformed digest.
 */
export function parseChecksum(header: string | null): Checksum | null {
  if (header === null) return null;
  const match = /^\s*([A-Za-z0-9-]{1,20}) ([A-Za-z0-9+/=]{1,100})\s*$/.exec(header);
  if (!match) throw badRequest("Malformed Upload-Checksum: expected `<algorithm> <base64>`");
  const algorithm = match[1]!.toLowerCase() as ChecksumAlgorithm;
  if (!CHECKSUM_ALGORITHMS.includes(algorithm)) {
    throw badRequest(`Unsupported checksum algorithm "${match[1]}"`);
  }
  const digest = decodeBase64(match[2]!, "Upload-Checksum");
  if (digest.length !== DIGEST_BYTES[algorithm]) {
    throw badRequest(`An ${algorithm} digest has ${DIGEST_BYTES[algorithm]} bytes`);
  }
  return { algorithm, digest };
}

/** The answer to a checksum mismatch (the extension's own status). */
export function checksumMismatch(): HttpError {
  return new HttpError(460, "EINVAL", "Checksum mismatch: the chunk was not stored");
}
