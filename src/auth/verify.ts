/**
 * Authentication (who is this?) and authorisation (may they do this?) for requests.
 *
 * @module
 */

import {
  constantTimeEqual,
  decodeBase64,
  DEFAULT_ITERATIONS,
  type PasswordHash,
  sha256,
  toHex,
  verifyParsedPassword,
} from "./hash.ts";
import {
  type Access,
  type Credentials,
  loadCredentials,
  type LoadCredentialsOptions,
  type TokenEntry,
  type UserEntry,
} from "./users.ts";
import { normalisedPath } from "./_path.ts";
import { PasswordGate, type PasswordGateOptions } from "./password_gate.ts";

/** An authenticated caller and what it may reach. */
export interface Principal {
  readonly name: string;
  readonly access: Access;
  /** The subtree the principal is limited to; "/" when unlimited. */
  readonly prefix: string;
  /**
   * A configured user (password, session) or an API token: names are unique within each
   * kind only. Absent for {@linkcode ANONYMOUS}.
   */
  readonly kind?: "user" | "token";
}

/** The principal of every request when authentication is off (loopback, no credentials). */
export const ANONYMOUS: Principal = Object.freeze({ name: "anonymous", access: "rw", prefix: "/" });

/**
 * Who a principal is, for anything that records or compares identity (lock ownership and
 * each principal's share of the lock table, share links' maker, the request log, render
 * caches): `user:<name>` or `token:<name>`, null for {@linkcode ANONYMOUS}. Names are unique
 * per kind only, so the name alone does not say who: before session 20 a token named
 * "alice" (read-only, or limited to another folder) counted as user alice for her locks
 * and her share of the lock table. Names hold no colon, so the id reads back unambiguously.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ANONYMOUS, principalId } from "./verify.ts";
 * assert(principalId({ name: "alice", access: "rw", prefix: "/", kind: "token" }) === "token:alice");
 * assert(principalId(ANONYMOUS) === null);
 * ```
 */
export function principalId(principal: Principal | undefined): string | null {
  return principal?.kind === undefined ? null : `${principal.kind}:${principal.name}`;
}

/** Methods that only read; every other method needs `rw`. */
export const READ_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PROPFIND"]);

/**
 * Whether `principal` may use `method` on `path` (decoded, absolute, normalised): the method
 * needs `rw` unless it only reads, and the path must be the prefix or lie under it. A path
 * that is not normalised (`.`/`..`/empty segments, NUL) is never allowed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allows } from "./verify.ts";
 * const alice = { name: "alice", access: "rw", prefix: "/home/alice" } as const;
 * assert(allows(alice, "PUT", "/home/alice/notes.txt"));
 * assert(!allows(alice, "GET", "/home/alice2/notes.txt"));
 * ```
 */
export function allows(principal: Principal, method: string, path: string): boolean {
  if (principal.access !== "rw" && !READ_METHODS.has(method.toUpperCase())) return false;
  const normal = normalisedPath(path);
  if (normal === null) return false;
  const { prefix } = principal;
  return prefix === "/" || normal === prefix || normal.startsWith(prefix + "/");
}

/** Tuning and test hooks for {@linkcode Authenticator}. */
export interface AuthenticatorOptions extends LoadCredentialsOptions {
  /** How long a successful Basic verification is remembered (default 60 s). */
  readonly cacheTtlMs?: number;
  /** At most this many remembered verifications (default 1024); the oldest go first. */
  readonly cacheMaxEntries?: number;
  /** The clock, in milliseconds (default `Date.now`). */
  readonly now?: () => number;
  /**
   * Called before each PBKDF2 check of a Basic login, with the user's name, or `null` when
   * the name is unknown and the dummy hash is checked instead (a test hook; a promise it
   * returns holds the check, still counted as running, until it settles).
   */
  readonly onPasswordCheck?: (user: string | null) => void | Promise<void>;
  /**
   * Bounds on password checks: how many hash at once, wait, and come from one client, and
   * the back-off after failures (`password_gate.ts`).
   */
  readonly gate?: PasswordGateOptions;
}

/** Where a credential comes from, for the password checks' per-client bounds. */
export interface AuthenticateOptions {
  /** The client (its address; see `clientOf` in `src/http/forwarded.ts`). Default "". */
  readonly client?: string;
}

// Credentials that have succeeded, remembered (their SHA-256) at most this many.
const MAX_KNOWN = 4096;

// A header longer than this is no credential PageFS issued; don't spend hashing on it.
const MAX_HEADER_LENGTH = 4096;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Checks `Authorization` headers against the configured users and tokens. */
export class Authenticator {
  #users = new Map<string, UserEntry>();
  #tokens: readonly TokenEntry[];
  #dummy: PasswordHash;
  #cache = new Map<string, { principal: Principal; expires: number }>();
  #pending = new Map<string, Promise<Principal | null>>();
  #ttl: number;
  #maxEntries: number;
  #now: () => number;
  #onPasswordCheck: ((user: string | null) => void | Promise<void>) | undefined;
  #gate: PasswordGate;
  // Headers that succeeded in this process: credentials change only at a restart, so such
  // a header is a user's, and its check jumps the line (see `password_gate.ts`).
  #known = new Set<string>();
  #stamps = new Map<string, Promise<string>>();

  /** An authenticator for already-parsed credentials. */
  constructor(credentials: Credentials, options: AuthenticatorOptions = {}) {
    // Keyed by the name in Unicode NFC, as passwords are checked: a client that sends "é"
    // decomposed (macOS input often does) names the same user. Names that differ only so
    // are refused as duplicates by the configuration parser.
    for (const user of credentials.users) this.#users.set(user.name.normalize("NFC"), user);
    this.#tokens = credentials.tokens;
    this.#ttl = options.cacheTtlMs ?? 60_000;
    this.#maxEntries = options.cacheMaxEntries ?? 1024;
    this.#now = options.now ?? Date.now;
    this.#onPasswordCheck = options.onPasswordCheck;
    this.#gate = new PasswordGate(options.gate);
    // Unknown users are checked against this, at the cost of the dearest real hash, so
    // the time taken does not reveal whether a name exists. It matches no password.
    const iterations = Math.max(
      0,
      ...credentials.users.map((u) => u.password.iterations),
    ) || DEFAULT_ITERATIONS;
    this.#dummy = {
      iterations,
      salt: crypto.getRandomValues(new Uint8Array(16)),
      hash: crypto.getRandomValues(new Uint8Array(32)),
    };
  }

  /**
   * Loads the credentials named by `PAGEFS_USERS` / `PAGEFS_USERS_FILE`; `null` when
   * neither is set (authentication off, allowed only on loopback: see `checkExposure`).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Authenticator } from "./verify.ts";
   * assert(await Authenticator.load({}) === null);
   * ```
   * @throws {AuthConfigError} for invalid credentials.
   */
  static async load(
    env: Readonly<Record<string, string | undefined>>,
    options: AuthenticatorOptions = {},
  ): Promise<Authenticator | null> {
    const credentials = await loadCredentials(env, options);
    return credentials === null ? null : new Authenticator(credentials, options);
  }

  /** How many users and tokens are configured. */
  get counts(): { users: number; tokens: number } {
    return { users: this.#users.size, tokens: this.#tokens.length };
  }

  /**
   * The principal of the configured user `name` (for a signed session cookie, which names
   * a user without a password), or null when no such user is configured any more.
   */
  userPrincipal(name: string): Principal | null {
    const user = this.#users.get(name.normalize("NFC"));
    return user === undefined ? null : principalOf(user, "user");
  }

  /**
   * What a session cookie carries of the user's password: a digest of its stored hash and
   * salt, null when no such user is configured. A new password (a new salt) changes it, so
   * the restart that takes the change in ends the sessions signed in with the old one.
   */
  sessionStamp(name: string): Promise<string | null> {
    const user = this.#users.get(name.normalize("NFC"));
    if (user === undefined) return Promise.resolve(null);
    let stamp = this.#stamps.get(user.name);
    if (stamp === undefined) {
      const { salt, hash, iterations } = user.password;
      const text = `pagefs session stamp\0${iterations}\0${toHex(salt)}\0${toHex(hash)}`;
      stamp = sha256(new TextEncoder().encode(text)).then((d) => toHex(d.subarray(0, 12)));
      this.#stamps.set(user.name, stamp);
    }
    return stamp;
  }

  /**
   * The principal of a session cookie's user, or null when the user is gone or its
   * password is not the one the session was signed in with (`stamp`).
   */
  async sessionPrincipal(name: string, stamp: string | undefined): Promise<Principal | null> {
    const current = await this.sessionStamp(name);
    if (current === null || stamp === undefined || stamp !== current) return null;
    return this.userPrincipal(name);
  }

  /**
   * The principal of the configured user or token `name` as the configuration says now, or
   * null when there is none any more: for a record made by a principal (a share link) whose
   * rights must still hold when it is used.
   */
  principalNamed(kind: "user" | "token", name: string): Principal | null {
    if (kind === "user") return this.userPrincipal(name);
    const token = this.#tokens.find((entry) => entry.name === name);
    return token === undefined ? null : principalOf(token, "token");
  }

  /**
   * The principal an `Authorization` header (`Basic …` or `Bearer …`) proves, or `null`
   * when it is missing, malformed or wrong.
   *
   * @throws {AuthBusy} when a password check is refused before it runs: too many at once
   * (503) or from `options.client` (429; see `password_gate.ts`).
   */
  async authenticate(
    header: string | null,
    options: AuthenticateOptions = {},
  ): Promise<Principal | null> {
    if (header === null || header.length > MAX_HEADER_LENGTH) return null;
    const match = /^([A-Za-z]+) +([A-Za-z0-9._~+/-]+=*) *$/.exec(header);
    if (match === null) return null;
    const scheme = match[1]!.toLowerCase();
    const credential = match[2]!;
    if (scheme === "bearer") return this.#bearer(credential);
    if (scheme !== "basic") return null;
    const key = toHex(await sha256(new TextEncoder().encode(header)));
    const cached = this.#cache.get(key);
    if (cached !== undefined) {
      this.#cache.delete(key);
      if (cached.expires > this.#now()) {
        this.#cache.set(key, cached); // most recently used goes last
        return cached.principal;
      }
    }
    // Clients open several connections at once with the same header: hash once.
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#basic(credential, key, options.client ?? "")
        .finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
    }
    const principal = await pending;
    if (principal !== null) this.#remember(key, principal);
    return principal;
  }

  #remember(key: string, principal: Principal): void {
    this.#known.delete(key);
    this.#known.add(key);
    if (this.#known.size > MAX_KNOWN) this.#known.delete(this.#known.values().next().value!);
    this.#cache.delete(key);
    this.#cache.set(key, { principal, expires: this.#now() + this.#ttl });
    while (this.#cache.size > this.#maxEntries) {
      const oldest = this.#cache.keys().next().value;
      if (oldest === undefined) break;
      this.#cache.delete(oldest);
    }
  }

  /**
   * A Basic credential checked: a malformed one at once, a password within the gate's
   * bounds (`password_gate.ts`) for `client`; `key` names the header for the gate.
   */
  async #basic(credential: string, key: string, client: string): Promise<Principal | null> {
    const bytes = decodeBase64(credential);
    if (bytes === null) return null;
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      return null;
    }
    const colon = text.indexOf(":");
    if (colon < 0) return null;
    const name = text.slice(0, colon);
    const password = text.slice(colon + 1);
    const user = this.#users.get(name.normalize("NFC"));
    const known = this.#known.has(key);
    const ok = await this.#gate.run(client, { known }, () => this.#password(user, password));
    return ok && user !== undefined ? principalOf(user, "user") : null;
  }

  /** Whether `password` is `user`'s, at the cost of the dearest hash whoever asks. */
  async #password(user: UserEntry | undefined, password: string): Promise<boolean> {
    // One path for known and unknown names, so both cost one PBKDF2 of the same strength.
    await this.#onPasswordCheck?.(user?.name ?? null);
    const ok = await verifyParsedPassword(password, user?.password ?? this.#dummy);
    // A user whose hash is cheaper than the dearest (made with fewer iterations) costs the
    // difference too: else a wrong password for that name answered sooner than one for a
    // name that does not exist, and said that it does.
    const short = this.#dummy.iterations - (user?.password.iterations ?? this.#dummy.iterations);
    if (short > 0) await verifyParsedPassword(password, { ...this.#dummy, iterations: short });
    return ok && user !== undefined;
  }

  async #bearer(token: string): Promise<Principal | null> {
    const digest = await sha256(new TextEncoder().encode(token));
    // Compare against every token, without stopping at a match.
    let found: TokenEntry | null = null;
    for (const entry of this.#tokens) {
      const equal = constantTimeEqual(digest, entry.digest);
      if (equal) found ??= entry;
    }
    return found === null ? null : principalOf(found, "token");
  }
}

function principalOf(entry: UserEntry | TokenEntry, kind: "user" | "token"): Principal {
  return Object.freeze({ name: entry.name, access: entry.access, prefix: entry.prefix, kind });
}
