/**
 * Share links: stateless tokens signed with the server secret, so any instance with the same
 * secret opens them and nothing is stored per link.
 *
 * A token is `<payload>.<mac>`, both base64url; the payload is JSON
 * `{ p, i, e, g, u?, s?, h? }`: the shared path, its inode (a new file later created at the
 * same path is not shared), the expiry in unix seconds, the revocation generation of the
 * path when the link was made, who made it (`user:<name>` or `token:<name>`; absent on an
 * open server, and in links made before session 17), and for a password, a random salt
 * and the keyed hash
 * HMAC(secret, salt, password) (keyed, so someone holding the link cannot guess the password
 * offline). The MAC is HMAC-SHA256 under a key derived for share links only.
 *
 * Revocation: the shared entry carries the extended attribute {@linkcode GENERATION_XATTR},
 * a random id. Making the first link to an entry sets it; revoking replaces it with a new
 * random id (one CAS), which invalidates every link made before. Removing the attribute
 * revokes too: no token carries the absent value.
 *
 * @module
 */

import { base64url, fromBase64url, type Signer } from "../auth/mod.ts";
import { constantTimeEqual } from "../auth/mod.ts";
import { FsError, isFsError, type Vfs } from "../vfs/mod.ts";

const encoder = new TextEncoder();

/** The extended attribute that holds a path's share-link generation. */
export const GENERATION_XATTR = "user.pagefs.share-generation";
/** The longest a link may live: one year. */
export const MAX_SHARE_SECONDS = 366 * 24 * 3600;

/** What a valid token grants. */
export interface ShareGrant {
  readonly path: string;
  readonly ino: string;
  /** Expiry, unix seconds. */
  readonly expires: number;
  readonly generation: string;
  /**
   * Who made the link, `user:<name>` or `token:<name>`: the link works only while that
   * principal may still share the path (null: made with authentication off, or before
   * session 17).
   */
  readonly by: string | null;
  /** Whether a password must be given before anything is shown. */
  readonly hasPassword: boolean;
  /** The salt and keyed hash of the password (internal). */
  readonly passwordCheck: { salt: string; hash: string } | null;
}

const MAX_TOKEN = 4096;

/** Makes and opens share tokens. */
export class ShareTokens {
  #signer: Signer;
  #now: () => number;

  constructor(signer: Signer, options: { now?: () => number } = {}) {
    this.#signer = signer;
    this.#now = options.now ?? Date.now;
  }

  /** The current time in unix seconds. */
  nowSeconds(): number {
    return Math.floor(this.#now() / 1000);
  }

  /**
   * A token for `path` (inode `ino`, generation `generation`) valid for `seconds`, with an
   * optional password.
   */
  async create(
    grant: { path: string; ino: string; generation: string; by?: string | null },
    options: { seconds: number; password?: string | null },
  ): Promise<{ token: string; expires: number }> {
    const expires = this.nowSeconds() + options.seconds;
    const payload: Record<string, unknown> = {
      p: grant.path,
      i: grant.ino,
      e: expires,
      g: grant.generation,
    };
    if (grant.by) payload.u = grant.by;
    if (options.password) {
      const salt = base64url(crypto.getRandomValues(new Uint8Array(12)));
      payload.s = salt;
      payload.h = await this.#passwordHash(salt, options.password);
    }
    const body = base64url(new TextEncoder().encode(JSON.stringify(payload)));
    const mac = base64url(await this.#signer.sign("share", body));
    return { token: `${body}.${mac}`, expires };
  }

  async #passwordHash(salt: string, password: string): Promise<string> {
    return base64url(
      await this.#signer.sign("share-password", `${salt}\0${password.normalize("NFC")}`),
    );
  }

  /**
   * What `token` grants, or why not: "invalid" (malformed or forged) or "expired". The
   * generation and inode are the caller's to compare with the entry's current ones.
   */
  async open(token: string): Promise<ShareGrant | "invalid" | "expired"> {
    if (token.length > MAX_TOKEN) return "invalid";
    const dot = token.indexOf(".");
    if (dot < 0) return "invalid";
    const body = token.slice(0, dot);
    const mac = token.slice(dot + 1);
    if (!await this.#signer.verify("share", body, mac)) return "invalid";
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(new TextDecoder().decode(fromBase64url(body) ?? new Uint8Array()));
    } catch {
      return "invalid";
    }
    const { p, i, e, g, u, s, h } = data ?? {};
    if (
      typeof p !== "string" || typeof i !== "string" || typeof e !== "number" ||
      typeof g !== "string" || (u !== undefined && typeof u !== "string")
    ) return "invalid";
    if (e <= this.nowSeconds()) return "expired";
    const passwordCheck = typeof s === "string" && typeof h === "string"
      ? { salt: s, hash: h }
      : null;
    return {
      path: p,
      ino: i,
      expires: e,
      generation: g,
      by: u ?? null,
      hasPassword: passwordCheck !== null,
      passwordCheck,
    };
  }

  /** Whether `password` is the grant's password (true when it has none). */
  async checkPassword(grant: ShareGrant, password: string): Promise<boolean> {
    if (grant.passwordCheck === null) return true;
    const given = await this.#passwordHash(grant.passwordCheck.salt, password);
    return constantTimeEqual(
      new TextEncoder().encode(given),
      new TextEncoder().encode(grant.passwordCheck.hash),
    );
  }

  /**
   * The value of the cookie that remembers a password was given for `token` (until the
   * link expires); bound to the token, so it opens no other link.
   */
  async unlockValue(token: string): Promise<string> {
    return base64url(await this.#signer.sign("share-unlock", token));
  }

  /** Whether `value` is the unlock cookie of `token`. */
  async checkUnlock(token: string, value: string | null): Promise<boolean> {
    return value !== null && await this.#signer.verify("share-unlock", token, value);
  }
}

/** A fresh random generation id. */
export function newGeneration(): string {
  return base64url(crypto.getRandomValues(new Uint8Array(9)));
}

/**
 * The share-link generation of `path`: null when it has none; with `create`, a fresh one is
 * set first (exclusively: a concurrent first link wins and both use its value).
 */
export async function currentGeneration(
  vfs: Vfs,
  path: string,
  options: { create?: boolean } = {},
): Promise<string | null> {
  try {
    return new TextDecoder().decode(await vfs.getxattr(path, GENERATION_XATTR));
  } catch (error) {
    if (!isFsError(error, "ENODATA")) throw error;
  }
  if (!options.create) return null;
  try {
    await vfs.setxattr(path, GENERATION_XATTR, encoder.encode(newGeneration()), { create: true });
  } catch (error) {
    if (!isFsError(error, "EEXIST")) throw error;
  }
  const value = await currentGeneration(vfs, path);
  if (value === null) throw new FsError("EAGAIN", "The share generation vanished", { path });
  return value;
}
