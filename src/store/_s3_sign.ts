/**
 * AWS Signature Version 4 for the requests of `_s3_fetch.ts` (header-signed, no query), in
 * the shape the SDK's own signer (`@smithy/signature-v4`) gives them, at a fraction of its
 * CPU. That signer spent 60-120 µs per request in the server's profile (about a tenth of
 * a small WebDAV PUT's CPU): it derives the signing key's cache key with an HMAC of the
 * credentials on every request, and hashes through an async API that copies every input
 * into a fresh Buffer. Here the signing key is derived once per day, region and
 * credentials, and every hash is one synchronous call. The signature's HMAC is spelled
 * out as two hashes over the key's pads, kept with the key: `createHmac` sets up a keyed
 * context per call and cost 10-15 µs, the two hashes 4 µs (a 4 KiB body's hash 4-8 µs).
 *
 * Only what those requests need: the path arrives escaped (S3 signs it as sent), there is
 * no query string, and a body, when present, is bytes whose SHA-256 is signed (never
 * `UNSIGNED-PAYLOAD`: over plain HTTP it is the one end-to-end check of the bytes).
 *
 * @module
 */

import { createHash, createHmac } from "node:crypto";

/** Credentials as the SDK's provider resolves them. */
export interface SigningCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string | undefined;
}

/** One request to sign: its method, its path as sent (escaped), its headers and body. */
export interface SignInput {
  readonly method: string;
  readonly path: string;
  /** Names in lower case; `host` included (it is signed). */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Uint8Array | undefined;
  /** When the request is signed: the client's clock corrected by the learned offset. */
  readonly date: Date;
}

/** SHA-256 of nothing: the payload hash of a request without a body. */
const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** Headers SigV4 never signs (the SDK's `ALWAYS_UNSIGNABLE_HEADERS`, and proxy-/sec-). */
const UNSIGNABLE = new Set([
  "authorization",
  "cache-control",
  "connection",
  "expect",
  "from",
  "keep-alive",
  "max-forwards",
  "pragma",
  "referer",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "user-agent",
  "x-amzn-trace-id",
]);

/**
 * Signs requests for one region and service with the credentials it is given, keeping the
 * last signing key: it changes only with the day (UTC), the region or the credentials.
 */
export class S3Signer {
  readonly #service: string;
  /** What the signing key was derived from, and the key's HMAC pads. */
  #cached: { readonly id: string; readonly pads: Pads } | null = null;
  /** The last signing time's second and its `x-amz-date`. */
  #date: { readonly second: number; readonly text: string } | null = null;

  constructor(service = "s3") {
    this.#service = service;
  }

  /**
   * The headers to send: the request's own (without `host`, which fetch sets from the URL,
   * as signed), `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` with a
   * session token, and `authorization`.
   */
  sign(
    input: SignInput,
    context: { readonly credentials: SigningCredentials; readonly region: string },
  ): Record<string, string> {
    const { credentials, region } = context;
    const longDate = this.#amzDate(input.date);
    const shortDate = longDate.slice(0, 8);
    const scope = `${shortDate}/${region}/${this.#service}/aws4_request`;
    const payloadHash = input.body === undefined
      ? EMPTY_SHA256
      : createHash("sha256").update(input.body).digest("hex");
    const headers: Record<string, string> = { ...input.headers, "x-amz-date": longDate };
    if (credentials.sessionToken) headers["x-amz-security-token"] = credentials.sessionToken;
    headers["x-amz-content-sha256"] = payloadHash;

    const names = Object.keys(headers).filter((name) =>
      !UNSIGNABLE.has(name) && !name.startsWith("proxy-") && !name.startsWith("sec-")
    ).sort();
    let canonical = `${input.method}\n${input.path}\n\n`;
    for (const name of names) canonical += `${name}:${canonicalValue(headers[name]!)}\n`;
    const signedHeaders = names.join(";");
    canonical += `\n${signedHeaders}\n${payloadHash}`;
    const stringToSign = `AWS4-HMAC-SHA256\n${longDate}\n${scope}\n${
      createHash("sha256").update(canonical).digest("hex")
    }`;
    const signature = hmacHex(this.#pads(credentials, region, shortDate), stringToSign);
    headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, ` +
      `SignedHeaders=${signedHeaders}, Signature=${signature}`;
    delete headers.host;
    return headers;
  }

  /** The signing key's pads, derived again when the day, region or credentials change. */
  #pads(credentials: SigningCredentials, region: string, shortDate: string): Pads {
    // The secret is part of the id: new credentials (rotated, refreshed) get a new key.
    const id =
      `${shortDate}\n${region}\n${credentials.accessKeyId}\n${credentials.secretAccessKey}`;
    if (this.#cached?.id === id) return this.#cached.pads;
    let key: Uint8Array = new TextEncoder().encode(`AWS4${credentials.secretAccessKey}`);
    for (const part of [shortDate, region, this.#service, "aws4_request"]) {
      key = createHmac("sha256", key).update(part).digest();
    }
    const pads = padsOf(key);
    this.#cached = { id, pads };
    return pads;
  }

  #amzDate(date: Date): string {
    const second = Math.floor(date.getTime() / 1000);
    if (this.#date?.second === second) return this.#date.text;
    const text = amzDate(date);
    this.#date = { second, text };
    return text;
  }
}

/** A key XORed with HMAC's inner and outer pads (RFC 2104), for a key of 64 bytes or less. */
interface Pads {
  readonly inner: Uint8Array;
  readonly outer: Uint8Array;
}

function padsOf(key: Uint8Array): Pads {
  const inner = new Uint8Array(64).fill(0x36);
  const outer = new Uint8Array(64).fill(0x5c);
  for (let i = 0; i < key.length; i++) {
    inner[i]! ^= key[i]!;
    outer[i]! ^= key[i]!;
  }
  return { inner, outer };
}

/** HMAC-SHA256 of `message` (hex) as H(outer || H(inner || message)). */
function hmacHex(pads: Pads, message: string): string {
  const inner = createHash("sha256").update(pads.inner).update(message).digest();
  return createHash("sha256").update(pads.outer).update(inner).digest("hex");
}

/** `YYYYMMDDTHHMMSSZ`, the signing time as SigV4 writes it. */
export function amzDate(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "");
}

/** A header value as SigV4 signs it: line breaks and runs of blanks as one space, trimmed. */
function canonicalValue(value: string): string {
  return value.replace(/[\r\n]/g, " ").replace(/[ \t]+/g, " ").replace(/^ | $/g, "");
}
