/**
 * Secret hashing for PageFS credentials: PBKDF2-SHA256 for passwords (slow on purpose) and
 * SHA-256 for API tokens (high-entropy, so a fast hash is enough), all through WebCrypto.
 *
 * Encodings:
 * - password: `pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>`
 * - token: `sha256$<64 lowercase hex digits>`
 *
 * @module
 */

/** Iterations for new password hashes (OWASP's 2023 figure for PBKDF2-HMAC-SHA256). */
export const DEFAULT_ITERATIONS = 210_000;

/** Prefix of a password hash. */
export const PASSWORD_SCHEME = "pbkdf2-sha256";
/** Prefix of a token hash. */
export const TOKEN_SCHEME = "sha256";

// Far above any sane setting; stops a typo from making every login take minutes.
const MAX_ITERATIONS = 10_000_000;
const SALT_BYTES = 16;
const HASH_BYTES = 32;

const encoder = new TextEncoder();

/** A parsed password hash. */
export interface PasswordHash {
  readonly iterations: number;
  readonly salt: Uint8Array;
  readonly hash: Uint8Array;
}

/**
 * Hashes a password with PBKDF2-SHA256 and a random 16-byte salt. The password is
 * normalised to Unicode NFC first, as is every password checked against the hash.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashPassword, verifyPassword } from "./hash.ts";
 * const hash = await hashPassword("s3cret", { iterations: 1000 });
 * assert(hash.startsWith("pbkdf2-sha256$1000$"));
 * assert(await verifyPassword("s3cret", hash));
 * ```
 */
export async function hashPassword(
  password: string,
  options: { iterations?: number } = {},
): Promise<string> {
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isSafeInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) {
    throw new RangeError(`Iterations must be from 1 to ${MAX_ITERATIONS}, got ${iterations}`);
  }
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await pbkdf2(password, salt, iterations);
  return formatPasswordHash({ iterations, salt, hash });
}

/**
 * Checks a password against a hash from {@linkcode hashPassword} in constant time
 * (for a given hash). A malformed hash never matches.
 */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parsePasswordHash(encoded);
  if (parsed === null) return false;
  return verifyParsedPassword(password, parsed);
}

/** Like {@linkcode verifyPassword}, for a hash already parsed. */
export async function verifyParsedPassword(
  password: string,
  expected: PasswordHash,
): Promise<boolean> {
  const actual = await pbkdf2(password, expected.salt, expected.iterations, expected.hash.length);
  return constantTimeEqual(actual, expected.hash);
}

/** Encodes a password hash as `pbkdf2-sha256$<iterations>$<salt>$<hash>`. */
export function formatPasswordHash(value: PasswordHash): string {
  return [PASSWORD_SCHEME, value.iterations, toBase64(value.salt), toBase64(value.hash)]
    .join("$");
}

/** Parses `pbkdf2-sha256$<iterations>$<salt>$<hash>`; `null` when malformed. */
export function parsePasswordHash(encoded: string): PasswordHash | null {
  const parts = encoded.split("$");
  if (parts.length !== 4 || parts[0] !== PASSWORD_SCHEME) return null;
  const [, iterText = "", saltText = "", hashText = ""] = parts;
  if (!/^[1-9]\d{0,7}$/.test(iterText)) return null;
  const iterations = Number(iterText);
  if (iterations > MAX_ITERATIONS) return null;
  const salt = decodeBase64(saltText);
  const hash = decodeBase64(hashText);
  if (salt === null || hash === null || salt.length < 8 || hash.length < 16) return null;
  return { iterations, salt, hash };
}

/**
 * Hashes an API token as `sha256$<hex>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashToken } from "./hash.ts";
 * assert((await hashToken("abc")).startsWith("sha256$ba7816bf"));
 * ```
 */
export async function hashToken(token: string): Promise<string> {
  return `${TOKEN_SCHEME}$${toHex(await sha256(encoder.encode(token)))}`;
}

/** The 32 digest bytes of a `sha256$<hex>` token hash; `null` when malformed. */
export function parseTokenHash(encoded: string): Uint8Array | null {
  const match = /^sha256\$([0-9a-fA-F]{64})$/.exec(encoded);
  if (match === null) return null;
  const hex = match[1]!.toLowerCase();
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 32; i++) bytes[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

/**
 * A new API token: 32 random bytes, base64url without padding (43 characters).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateToken } from "./hash.ts";
 * assert(/^[A-Za-z0-9_-]{43}$/.test(generateToken()));
 * ```
 */
export function generateToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return toBase64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/**
 * Compares two byte arrays without an early exit, so the time taken does not reveal where
 * they differ. Arrays of different lengths are unequal (lengths are not secret here).
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/** SHA-256 of some bytes. */
export async function sha256(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

/** Lowercase hex of some bytes. */
export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function pbkdf2(
  password: string,
  salt: Uint8Array,
  iterations: number,
  length = HASH_BYTES,
): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(password.normalize("NFC")),
    "PBKDF2",
    false,
    ["deriveBits"],
  );
  const bits = await crypto.subtle.deriveBits(
    { name: "PBKDF2", hash: "SHA-256", salt: new Uint8Array(salt), iterations },
    key,
    length * 8,
  );
  return new Uint8Array(bits);
}

function toBase64(bytes: Uint8Array): string {
  return bytes.toBase64();
}

/** Decodes standard base64 (as in a Basic credential); `null` when malformed. */
export function decodeBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  try {
    return Uint8Array.from(atob(text), (ch) => ch.charCodeAt(0));
  } catch {
    return null;
  }
}
