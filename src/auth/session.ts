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

/** The session cookie's name over plain HTTP. */
export const SESSION_COOKIE = "pagefs_session";
/**
 * The session cookie's name over HTTPS. A browser keeps a `__Host-` cookie only when it is
 * `Secure`, has `Path=/` and no `Domain`, and was set over HTTPS: so no page of a sibling
 * subdomain and no one on the network path over plain HTTP can plant one (a session of the
 * attacker's own that the victim then works in, or several cookies of one name to confuse
 * which one the server reads). Before session 20 the cookie was `pagefs_session` over HTTPS
 * too, which anyone able to set a cookie for the host could set.
 */
export const SECURE_SESSION_COOKIE = "__Host-pagefs_session";
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
  /**
   * The user's password stamp when it signed in (`Authenticator.sessionStamp`): a session
   * ends when the password changes. Absent in cookies from before session 21, which are
   * no session any more (the user signs in once again).
   */
  readonly stamp?: string;
}

/** Options of {@linkcode Sessions}. */
export interface SessionsOptions {
  /** Session lifetime in seconds (default {@linkcode SESSION_TTL_SECONDS}). */
  readonly ttlSeconds?: number;
  /** The clock in milliseconds (default `Date.now`). */
  readonly now?: () => number;
  /**
   * Whether the browser reached the service over HTTPS (default: the request URL's scheme;
   * the app passes `reachedOverHttps`, which also reads what a TLS proxy says). It decides
   * the cookie's name ({@linkcode SECURE_SESSION_COOKIE} or {@linkcode SESSION_COOKIE}).
   */
  readonly httpsOf?: (request: Request) => boolean;
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
  #httpsOf: (request: Request) => boolean;

  constructor(signer: Signer, options: SessionsOptions = {}) {
    this.#signer = signer;
    this.#ttl = options.ttlSeconds ?? SESSION_TTL_SECONDS;
    this.#now = options.now ?? Date.now;
    this.#httpsOf = options.httpsOf ?? ((request) => request.url.startsWith("https:"));
  }

  /**
   * The name the session cookie has on `request`: `__Host-pagefs_session` over HTTPS,
   * `pagefs_session` over HTTP (a browser refuses a `__Host-` cookie that is not `Secure`,
   * and a `Secure` one set over HTTP). Only that name is read: over HTTPS a plain
   * `pagefs_session` (one from before session 20, or planted) is no session, so a browser
   * signed in before the upgrade is signed out once and signs in again.
   */
  cookieName(request: Request): string {
    return this.#httpsOf(request) ? SECURE_SESSION_COOKIE : SESSION_COOKIE;
  }

  /** The session cookie's value in `request`, under its name there (see `cookieName`). */
  cookieOf(request: Request): string | null {
    return cookieValue(request.headers.get("cookie"), this.cookieName(request));
  }

  /**
   * A new session for `user` (with its password `stamp`, see {@linkcode Session}): the
   * cookie value and what it says.
   */
  async issue(user: string, stamp?: string): Promise<{ value: string; session: Session }> {
    const session: Session = {
      user,
      expires: Math.floor(this.#now() / 1000) + this.#ttl,
      nonce: base64url(crypto.getRandomValues(new Uint8Array(16))),
      ...(stamp === undefined ? {} : { stamp }),
    };
    const fields = { u: session.user, e: session.expires, n: session.nonce, s: session.stamp };
    const payload = base64url(encoder.encode(JSON.stringify(fields)));
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
    const { u, e, n, s } = data as Record<string, unknown>;
    if (typeof u !== "string" || typeof e !== "number" || typeof n !== "string") return null;
    if (s !== undefined && typeof s !== "string") return null;
    if (e * 1000 <= this.#now()) return null;
    return { user: u, expires: e, nonce: n, ...(s === undefined ? {} : { stamp: s }) };
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

  /**
   * The `Set-Cookie` values that store a session for the browser of `request`: over HTTPS
   * `__Host-` and `Secure`, and the plain-named cookie of before session 20 removed, which
   * the browser would otherwise keep sending until it lapsed.
   */
  cookies(value: string, request: Request): string[] {
    const name = this.cookieName(request);
    const set = `${name}=${value}; Path=/; Max-Age=${this.#ttl}; HttpOnly; SameSite=Strict`;
    if (name === SESSION_COOKIE) return [set];
    return [`${set}; Secure`, removal(SESSION_COOKIE, true)];
  }

  /** The `Set-Cookie` values that remove the session cookie (both names over HTTPS). */
  clearCookies(request: Request): string[] {
    if (this.cookieName(request) === SESSION_COOKIE) return [removal(SESSION_COOKIE, false)];
    return [removal(SECURE_SESSION_COOKIE, true), removal(SESSION_COOKIE, true)];
  }
}

function removal(name: string, secure: boolean): string {
  return `${name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure ? "; Secure" : ""}`;
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
