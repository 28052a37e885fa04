/**
 * Credentials: who may use PageFS, read from `PAGEFS_USERS` and/or the JSON file named by
 * `PAGEFS_USERS_FILE`. Secrets are only ever stored hashed; a plaintext one is refused.
 *
 * JSON form (the file, or `PAGEFS_USERS` when it starts with `{`):
 *
 * ```json
 * {
 *   "users": [
 *     { "name": "alice", "password": "pbkdf2-sha256$210000$<salt>$<hash>", "access": "rw",
 *       "prefix": "/home/alice" }
 *   ],
 *   "tokens": [
 *     { "name": "ci", "token": "sha256$<hex>", "access": "ro", "prefix": "/builds" }
 *   ]
 * }
 * ```
 *
 * Compact form (`PAGEFS_USERS` only): entries `name:hash:access[:prefix]` separated by
 * commas or newlines, e.g. `alice:pbkdf2-sha256$…:rw:/home/alice,ci:sha256$…:ro`. The hash
 * scheme decides the kind: `pbkdf2-sha256$` is a user (Basic), `sha256$` a token (Bearer).
 *
 * `access` is `ro` (GET, HEAD, OPTIONS, PROPFIND) or `rw` (everything); `prefix` limits the
 * principal to one subtree (default `/`, everything). Names are unique per kind.
 *
 * @module
 */

import { parsePasswordHash, parseTokenHash, type PasswordHash } from "./hash.ts";
import { normalisedPath } from "./_path.ts";
import { repeatedName } from "../json.ts";

/** What a principal may do: read only, or read and write. */
export type Access = "ro" | "rw";

/** A user who signs in with a password (HTTP Basic). */
export interface UserEntry {
  readonly name: string;
  readonly password: PasswordHash;
  readonly access: Access;
  readonly prefix: string;
}

/** An API token (HTTP Bearer); `digest` is the SHA-256 of the token. */
export interface TokenEntry {
  readonly name: string;
  readonly digest: Uint8Array;
  readonly access: Access;
  readonly prefix: string;
}

/** Every configured principal. */
export interface Credentials {
  readonly users: readonly UserEntry[];
  readonly tokens: readonly TokenEntry[];
}

/** Invalid credentials configuration; the message names the variable or file. */
export class AuthConfigError extends Error {
  /** The variable the bad value came from (`PAGEFS_USERS` or `PAGEFS_USERS_FILE`). */
  readonly variable: string;

  constructor(variable: string, message: string) {
    super(message);
    this.name = "AuthConfigError";
    this.variable = variable;
  }
}

type Env = Readonly<Record<string, string | undefined>>;

/** How {@linkcode loadCredentials} reads the users file (replaceable in tests). */
export interface LoadCredentialsOptions {
  readonly readTextFile?: (path: string) => Promise<string>;
}

/**
 * Reads the credentials from `PAGEFS_USERS` and `PAGEFS_USERS_FILE` (both may be set; the
 * principals are merged). `null` when neither is set.
 *
 * @throws {AuthConfigError} for an unreadable file, bad syntax, a plaintext secret, an empty
 * list or a duplicate name.
 */
export async function loadCredentials(
  env: Env,
  options: LoadCredentialsOptions = {},
): Promise<Credentials | null> {
  const inline = env.PAGEFS_USERS?.trim() || undefined;
  const file = env.PAGEFS_USERS_FILE || undefined;
  if (inline === undefined && file === undefined) return null;
  const users: UserEntry[] = [];
  const tokens: TokenEntry[] = [];
  const add = (parsed: Credentials, variable: string, where: string) => {
    if (parsed.users.length + parsed.tokens.length === 0) {
      throw new AuthConfigError(variable, `${where}: No users or tokens defined`);
    }
    for (const user of parsed.users) {
      if (users.some((u) => u.name === user.name)) {
        throw new AuthConfigError(variable, `${where}: Duplicate user "${user.name}"`);
      }
      users.push(user);
    }
    for (const token of parsed.tokens) {
      if (tokens.some((t) => t.name === token.name)) {
        throw new AuthConfigError(variable, `${where}: Duplicate token "${token.name}"`);
      }
      tokens.push(token);
    }
  };
  if (inline !== undefined) {
    add(parseCredentials(inline, "PAGEFS_USERS"), "PAGEFS_USERS", "PAGEFS_USERS");
  }
  if (file !== undefined) {
    const where = `PAGEFS_USERS_FILE "${file}"`;
    const read = options.readTextFile ?? Deno.readTextFile;
    let text: string;
    try {
      text = await read(file);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new AuthConfigError("PAGEFS_USERS_FILE", `${where}: Cannot read the file: ${reason}`);
    }
    add(parseJson(text, where, "PAGEFS_USERS_FILE"), "PAGEFS_USERS_FILE", where);
  }
  return { users, tokens };
}

/**
 * Parses credentials in either form; `source` names the origin in error messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseCredentials } from "./users.ts";
 * const hash = "sha256$" + "0".repeat(64);
 * const { tokens } = parseCredentials(`ci:${hash}:ro:/builds`, "PAGEFS_USERS");
 * assert(tokens[0]?.prefix === "/builds");
 * ```
 * @throws {AuthConfigError} naming `source` and the principal.
 */
export function parseCredentials(text: string, source: string): Credentials {
  const trimmed = text.trim();
  return trimmed.startsWith("{")
    ? parseJson(trimmed, source, source)
    : parseCompact(trimmed, source);
}

function parseCompact(text: string, source: string): Credentials {
  const users: UserEntry[] = [];
  const tokens: TokenEntry[] = [];
  const entries = text.split(/[,\n]/).map((e) => e.trim()).filter((e) => e !== "");
  entries.forEach((entry, i) => {
    const [name = "", secret = "", access, ...rest] = entry.split(":");
    const where = name ? `"${name}"` : `entry ${i + 1}`;
    const fail = (message: string): never => {
      throw new AuthConfigError(source, `${source}: ${where}: ${message}`);
    };
    checkName(name, fail);
    if (access === undefined) fail("Expected name:hash:access[:prefix]");
    const principal = {
      name,
      access: checkAccess(access, fail),
      prefix: checkPrefix(rest.length ? rest.join(":") : undefined, fail),
    };
    if (secret === "") {
      fail("Missing the password or token hash");
    } else if (secret.startsWith("sha256$")) {
      tokens.push({ ...principal, digest: tokenDigest(secret, fail) });
    } else if (secret.startsWith("pbkdf2-sha256$")) {
      users.push({ ...principal, password: passwordHash(secret, fail) });
    } else {
      fail(
        "Plaintext secrets are refused: give a pbkdf2-sha256$ password hash or a sha256$ " +
          'token hash (see "deno run src/auth/cli.ts")',
      );
    }
  });
  return unique({ users, tokens }, source);
}

function parseJson(text: string, where: string, variable: string): Credentials {
  const fail = (message: string): never => {
    throw new AuthConfigError(variable, `${where}: ${message}`);
  };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    return fail(`Invalid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  // A repeated "prefix" or "access" would be read as its last value: refuse it, as a
  // misspelt key is refused, rather than grant what the other one did not.
  const repeated = repeatedName(text);
  if (repeated !== null) return fail(`${JSON.stringify(repeated)} is given twice in one object`);
  if (!isObject(data)) return fail('Expected an object with "users" and/or "tokens"');
  checkKeys(data, ["users", "tokens"], fail);
  const list = (key: "users" | "tokens"): unknown[] => {
    const value = data[key] ?? [];
    return Array.isArray(value) ? value : fail(`"${key}" must be an array`);
  };
  const principal = (item: unknown, kind: string, i: number, secretKey: string) => {
    const name = isObject(item) && typeof item.name === "string" ? item.name : "";
    const at = name ? `${kind} "${name}"` : `${kind} ${i + 1}`;
    const failAt = (message: string): never => fail(`${at}: ${message}`);
    if (!isObject(item)) return failAt("Expected an object");
    checkKeys(item, ["name", secretKey, "access", "prefix"], failAt);
    checkName(name, failAt);
    const secret = item[secretKey];
    if (typeof secret !== "string") return failAt(`"${secretKey}" must be a string`);
    if (item.prefix !== undefined && typeof item.prefix !== "string") {
      return failAt('"prefix" must be a string');
    }
    return {
      base: {
        name,
        access: checkAccess(item.access, failAt),
        prefix: checkPrefix(item.prefix, failAt),
      },
      secret,
      failAt,
    };
  };
  const users = list("users").map((item, i) => {
    const { base, secret, failAt } = principal(item, "user", i, "password");
    return { ...base, password: passwordHash(secret, failAt) };
  });
  const tokens = list("tokens").map((item, i) => {
    const { base, secret, failAt } = principal(item, "token", i, "token");
    return { ...base, digest: tokenDigest(secret, failAt) };
  });
  return unique({ users, tokens }, where, variable);
}

function unique(credentials: Credentials, where: string, variable = where): Credentials {
  for (
    const [kind, list] of [["user", credentials.users], ["token", credentials.tokens]] as const
  ) {
    // Compared in Unicode NFC, as a sign-in matches names: two names that look the same
    // ("é" as one code point or as "e" and a combining accent) would be two principals
    // that logs, share links and people cannot tell apart.
    const seen = new Set<string>();
    for (const { name } of list) {
      const key = name.normalize("NFC");
      if (seen.has(key)) {
        throw new AuthConfigError(
          variable,
          `${where}: Duplicate ${kind} "${name}"`,
        );
      }
      seen.add(key);
    }
  }
  return credentials;
}

function passwordHash(secret: string, fail: (message: string) => never): PasswordHash {
  if (!secret.startsWith("pbkdf2-sha256$")) {
    return fail(
      'Plaintext passwords are refused: give a hash from "deno run src/auth/cli.ts hash-password"',
    );
  }
  return parsePasswordHash(secret) ??
    fail("Malformed password hash (expected pbkdf2-sha256$<iterations>$<salt>$<hash>)");
}

function tokenDigest(secret: string, fail: (message: string) => never): Uint8Array {
  if (!secret.startsWith("sha256$")) {
    return fail(
      'Plaintext tokens are refused: give the hash printed by "deno run src/auth/cli.ts new-token"',
    );
  }
  return parseTokenHash(secret) ?? fail("Malformed token hash (expected sha256$<64 hex digits>)");
}

function checkName(name: string, fail: (message: string) => never): void {
  // A Basic credential is "name:password", so a name cannot hold a colon.
  // deno-lint-ignore no-control-regex
  if (!name || name.length > 256 || /[:\x00-\x1f\x7f]/.test(name)) {
    fail("Names must be 1 to 256 characters without colons or control characters");
  }
}

function checkAccess(value: unknown, fail: (message: string) => never): Access {
  return value === "ro" || value === "rw"
    ? value
    : fail(`Access must be "ro" or "rw", got ${JSON.stringify(value) ?? "nothing"}`);
}

function checkPrefix(value: string | undefined, fail: (message: string) => never): string {
  if (value === undefined || value === "") return "/";
  return normalisedPath(value) ??
    fail(`Prefix must be an absolute path without "." or ".." segments, got "${value}"`);
}

function checkKeys(
  value: Record<string, unknown>,
  allowed: readonly string[],
  fail: (message: string) => never,
): void {
  const unknown = Object.keys(value).find((key) => !allowed.includes(key));
  if (unknown !== undefined) fail(`Unknown key "${unknown}" (expected ${allowed.join(", ")})`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
