/**
 * Makes credentials for `PAGEFS_USERS` / `PAGEFS_USERS_FILE`:
 *
 * ```sh
 * deno run src/auth/cli.ts hash-password [--iterations N]   # password from stdin
 * deno run src/auth/cli.ts hash-token                       # token from stdin
 * deno run src/auth/cli.ts new-token                        # prints a token and its hash
 * ```
 *
 * On a terminal the secret is read without echo; otherwise stdin is read to its end and
 * one trailing newline dropped. A usage error exits 2.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DEFAULT_ITERATIONS, generateToken, hashPassword, hashToken } from "./hash.ts";
import { AuthConfigError, parseCredentials } from "./users.ts";

/** The auth commands' usage text. */
export const USAGE = `Usage:
  cli.ts hash-password [--iterations N]   read a password from stdin, print its hash
  cli.ts hash-token                       read a token from stdin, print its hash
  cli.ts new-token                        print a new token and its hash
  cli.ts entry NAME [--read-only] [--prefix /path] [--token]
                                          print a whole PAGEFS_USERS entry: a user whose
                                          password is read from stdin, or with --token an
                                          API token (printed once) for Bearer`;

/** What the commands read and write (replaceable in tests). */
export interface CliIo {
  /** Reads one secret; `prompt` is shown when reading from a terminal. */
  readonly readSecret: (prompt: string) => Promise<string>;
  readonly write: (text: string) => void;
  readonly error: (text: string) => void;
}

/**
 * Runs one command and returns the exit code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { run } from "./cli.ts";
 * let out = "";
 * const io = { readSecret: () => Promise.resolve(""), write: (t: string) => out += t, error() {} };
 * assert(await run(["new-token"], io) === 0 && out.includes("sha256$"));
 * ```
 */
export async function run(args: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args;
  const usage = (message: string) => {
    io.error(`${message}\n${USAGE}\n`);
    return 2;
  };
  if (command === "new-token" && rest.length === 0) {
    const token = generateToken();
    io.write(`token: ${token}\nhash:  ${await hashToken(token)}\n`);
    return 0;
  }
  if (command === "hash-token" && rest.length === 0) {
    const token = await io.readSecret("Token: ");
    if (token === "") return usage("Empty token");
    io.write(`${await hashToken(token)}\n`);
    return 0;
  }
  if (command === "entry") {
    let parsed;
    try {
      parsed = parseArgs({
        args: [...rest],
        allowPositionals: true,
        strict: true,
        options: {
          "read-only": { type: "boolean" },
          prefix: { type: "string" },
          token: { type: "boolean" },
        },
      });
    } catch (error) {
      return usage((error as Error).message.replace(/\. To specify a positional.*$/s, ""));
    }
    const [name, ...extra] = parsed.positionals;
    if (name === undefined || extra.length > 0) return usage("entry takes one NAME");
    const { values } = parsed;
    let secret = "";
    let hash: string;
    if (values.token) {
      secret = generateToken();
      hash = await hashToken(secret);
    } else {
      const password = await io.readSecret("Password: ");
      if (password === "") return usage("Empty password");
      hash = await hashPassword(password);
    }
    const entry = [name, hash, values["read-only"] ? "ro" : "rw"]
      .concat(values.prefix === undefined ? [] : [values.prefix]).join(":");
    try {
      parseCredentials(entry, "the entry"); // the server must accept what this prints
    } catch (error) {
      if (error instanceof AuthConfigError) return usage(error.message);
      throw error;
    }
    if (secret) io.write(`token: ${secret}\n`);
    io.write(`${entry}\n`);
    return 0;
  }
  if (command === "hash-password") {
    let iterations = DEFAULT_ITERATIONS;
    if (rest.length > 0) {
      const [flag, value = ""] = rest;
      if (flag !== "--iterations" || rest.length !== 2 || !/^[1-9]\d{0,7}$/.test(value)) {
        return usage(`Bad options "${rest.join(" ")}"`);
      }
      iterations = Number(value);
    }
    const password = await io.readSecret("Password: ");
    if (password === "") return usage("Empty password");
    io.write(`${await hashPassword(password, { iterations })}\n`);
    return 0;
  }
  return usage(`Unknown command "${args.join(" ")}"`);
}

/** Reads a secret from stdin: without echo on a terminal, else stdin to its end. */
export async function readSecret(prompt: string): Promise<string> {
  if (!Deno.stdin.isTerminal()) {
    return (await new Response(Deno.stdin.readable).text()).replace(/\r?\n$/, "");
  }
  const encoder = new TextEncoder();
  Deno.stderr.writeSync(encoder.encode(prompt));
  Deno.stdin.setRaw(true);
  const bytes: number[] = [];
  try {
    const buffer = new Uint8Array(64);
    read: for (;;) {
      const n = await Deno.stdin.read(buffer);
      if (n === null) break;
      for (const byte of buffer.subarray(0, n)) {
        if (byte === 3) throw new Error("Interrupted"); // Ctrl-C
        if (byte === 13 || byte === 10 || byte === 4) break read; // Enter, Ctrl-D
        if (byte === 127 || byte === 8) bytes.pop(); // may split a multi-byte char; rare
        else bytes.push(byte);
      }
    }
  } finally {
    Deno.stdin.setRaw(false);
    Deno.stderr.writeSync(encoder.encode("\n"));
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

if (import.meta.main) {
  const encoder = new TextEncoder();
  const code = await run(Deno.args, {
    readSecret,
    write: (text) => Deno.stdout.writeSync(encoder.encode(text)),
    error: (text) => Deno.stderr.writeSync(encoder.encode(text)),
  });
  Deno.exit(code);
}
