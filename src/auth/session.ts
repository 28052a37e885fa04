/**
 * Browser sessions: a signed, stateless session cookie and the CSRF token that goes with it,
 * both keyed by a server secret (`PAGEFS_SECRET`).
 *
 * - The cookie holds `v1.<payload>.<mac>`: the payload is base64url JSON `{ u, e, n }` (user
 *   name, expiry in unix seconds, a random nonce), the MAC is HMAC-SHA256 over `v1.<payload>`
 *   with a key derived from the secret for sessions only. Nothing is stored server-side, so
 *   any instance with the same secret accepts it; a session ends at its expiry or when the
 *   secret changes (sign-out clears the cookie in that browser only).
 * - The CSRF token is HMAC-SHA256 of the nonce under a second derived key: the page receives
 *   it (the cookie is HttpOnly) and sends it back in `X-CSRF-Token` on every state-changing
 *   request. A cross-site page can neither read the page nor the cookie, so it cannot
 *   produce the token (a keyed double submit, on top of SameSite=Strict).
 *
 * @module
 */

import { constantTimeEqual } from "./hash.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "pagefs_session";
/** The header that carries the CSRF token on state-changing requests. */
export const CSRF_HEADER = "x-csrf-token";
/** How long a session lasts by default: 12 hours. */
export const SESSION_TTL_SECONDS = 12 * 3600;

const encoder = new TextEncoder();

/** Base64url without padding. */
export function base64url(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Decodes base64url (no padding); null when it is not base64url. */
export function fromBase64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return null;
  try {
    const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

/**
 * HMAC-SHA256 keys derived from one server secret, one per purpose, so a MAC made for one
 * purpose (a session) is never accepted for another (a share link).
 */
export class Signer {
  #keys = new Map<string, Promise<CryptoKey>>();
  #secret: Uint8Array<ArrayBuffer>;

  /** A signer for `secret` (at least 16 bytes of entropy is the caller's duty). */
  constructor(secret: string | Uint8Array) {
    this.#secret = typeof secret === "string" ? encoder.encode(secret) : new Uint8Array(secret);
    if (this.#secret.length === 0) throw new Error("The server secret must not be empty");
  }

  /** A signer with a random secret: valid for this process only. */
  static random(): Signer {
    return new Signer(crypto.getRandomValues(new Uint8Array(32)));
  }

  #key(purpose: string): Promise<CryptoKey> {
    let key = this.#keys.get(purpose);
    if (key === undefined) {
      key = (async () => {
        const master = await crypto.subtle.importKey(
          "raw",
          this.#secret,
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["sign"],
        );
        const derived = await crypto.subtle.sign(
          "HMAC",
          master,
          encoder.encode(`pagefs key: ${purpose}`),
        );
        return await crypto.subtle.importKey(
          "raw",
          derived,
          { name: "HMAC", hash: "SHA-256" },
          false,
          ["sign"],
        );
      })();
      this.#keys.set(purpose, key);
    }
    return key;
  }

  /** The MAC of `data` for `purpose`. */
  async sign(purpose: string, data: string): Promise<Uint8Array> {
    const mac = await crypto.subtle.sign("HMAC", await this.#key(purpose), encoder.encode(data));
    return new Uint8Array(mac);
  }

  /** Whether `mac` (base64url) is the MAC of `data` for `purpose`, in constant time. */
  async verify(purpose: string, data: string, mac: string): Promise<boolean> {
    const given = fromBase64url(mac);
    if (given === null) return false;
    return constantTimeEqual(given, await this.sign(purpose, data));
  }
}

/** What a valid session cookie says. */
export interface Session {
  /** The user's name (a configured user; the caller looks up what they may do). */
  readonly user: string;
  /** Expiry, unix seconds. */
  readonly expires: number;
  /** The random nonce the CSRF token is derived from. */
  readonly nonce: string;
}

/** Options of {@linkcode Sessions}. */
export interface SessionsOptions {
  /** Session lifetime in seconds (default {@linkcode SESSION_TTL_SECONDS}). */
  readonly ttlSeconds?: number;
  /** The clock in milliseconds (default `Date.now`). */
  readonly now?: () => number;
}

// A cookie longer than this is none we issued.
const MAX_COOKIE = 1024;

/**
 * Issues and checks session cookies and their CSRF tokens.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Sessions, Signer } from "./session.ts";
 * const sessions = new Sessions(new Signer("a long random server secret"));
 * const { value, session } = await sessions.issue("alice");
 * assert((await sessions.verify(value))?.user === "alice");
 * const csrf = await sessions.csrfToken(session);
 * assert(await sessions.checkCsrf(session, csrf));
 * ```
 */
export class Sessions {
  #signer: Signer;
  #ttl: number;
  #now: () => number;

  constructor(signer: Signer, options: SessionsOptions = {}) {
    this.#signer = signer;
    this.#ttl = options.ttlSeconds ?? SESSION_TTL_SECONDS;
    this.#now = options.now ?? Date.now;
  }

  /** A new session for `user`: the cookie value and what it says. */
  async issue(user: string): Promise<{ value: string; session: Session }> {
    const session: Session = {
      user,
      expires: Math.floor(this.#now() / 1000) + this.#ttl,
      nonce: base64url(crypto.getRandomValues(new Uint8Array(16))),
    };
    const payload = base64url(
      encoder.encode(JSON.stringify({ u: session.user, e: session.expires, n: session.nonce })),
    );
    const body = `v1.${payload}`;
    const mac = base64url(await this.#signer.sign("session", body));
    return { value: `${body}.${mac}`, session };
  }

  /** The session a cookie value proves, or null when it is malformed, forged or expired. */
  async verify(value: string | undefined | null): Promise<Session | null> {
    if (!value || value.length > MAX_COOKIE) return null;
    const parts = value.split(".");
    if (parts.length !== 3 || parts[0] !== "v1") return null;
    const [, payload, mac] = parts as [string, string, string];
    if (!await this.#signer.verify("session", `v1.${payload}`, mac)) return null;
    const bytes = fromBase64url(payload);
    if (bytes === null) return null;
    let data: unknown;
    try {
      data = JSON.parse(new TextDecoder().decode(bytes));
    } catch {
      return null;
    }
    if (typeof data !== "object" || data === null) return null;
    const { u, e, n } = data as Record<string, unknown>;
    if (typeof u !== "string" || typeof e !== "number" || typeof n !== "string") return null;
    if (e * 1000 <= this.#now()) return null;
    return { user: u, expires: e, nonce: n };
  }

  /** The CSRF token of a session. */
  async csrfToken(session: Session): Promise<string> {
    return base64url(await this.#signer.sign("csrf", session.nonce));
  }

  /** Whether `token` is the CSRF token of `session`. */
  async checkCsrf(session: Session, token: string | undefined | null): Promise<boolean> {
    if (!token || token.length > 128) return false;
    return await this.#signer.verify("csrf", session.nonce, token);
  }

  /** The `Set-Cookie` value that stores a session (`secure` on HTTPS). */
  cookie(value: string, options: { secure: boolean }): string {
    return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${this.#ttl}; HttpOnly; ` +
      `SameSite=Strict${options.secure ? "; Secure" : ""}`;
  }

  /** The `Set-Cookie` value that removes the session cookie. */
  clearCookie(options: { secure: boolean }): string {
    return `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict` +
      `${options.secure ? "; Secure" : ""}`;
  }
}

/** The value of cookie `name` in a `Cookie` header, or null. */
export function cookieValue(header: string | undefined | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
