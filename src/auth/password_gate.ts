/**
 * Failed sign-ins as a CPU attack, bounded. Every Basic check that is not remembered runs
 * PBKDF2 at the highest configured iteration count (by design: a wrong name costs what a
 * wrong password does), so before session 21 sixteen clients sending wrong passwords kept
 * both cores of a small server hashing (82 checks a second at 210,000 iterations here) and
 * every other request waited for CPU. Two rules, both about the attacker, none about a name
 * (a lockout by name would let anyone lock any user out):
 *
 * - {@linkcode PasswordGate}: at most `concurrency` checks hash at once (default: half the
 *   cores, at least one), at most `queue` more wait in line, and one client has at most
 *   `perClient` checks running or waiting. Past that the answer is 503 (the line is full) or
 *   429 (this client's share is), with `Retry-After`, and no hashing. A credential that has
 *   succeeded before in this process goes to the front of the line and skips the client
 *   rules: a signed-in user behind the attacker's proxy is not locked out with it. Among
 *   the others, the check of the client with the fewest recent failures goes first: a
 *   user's first sign-in waits for the one check hashing, not behind an attacker's line.
 * - {@linkcode FailureBackoff}: after `freeFailures` wrong passwords (each within 15
 *   minutes of the one before; a right one does not reset them) a client waits before its
 *   next check, 1 s doubling with each further failure to at most 60 s,
 *   and is refused 429 until then (a malformed credential costs no hashing and counts not).
 *   Forgotten after 15 minutes without a failure. Share-link passwords (a cheap HMAC, so
 *   only guessing matters) use the same back-off.
 *
 * A client is what `clientOf` says (the peer address, or with `PAGEFS_TRUST_FORWARDED` what
 * the proxy says: `src/http/forwarded.ts`); IPv6 peers count per /64. The client `""` is
 * everyone who cannot be told apart (a loopback peer: behind an untrusted proxy on the same
 * host every client is one): it is held to the bounds on checks at once and in line only,
 * never to a back-off or a share, since one guesser's failures would lock everyone out.
 *
 * @module
 */

/** A check refused before it ran: too many at once (503) or from this client (429). */
export class AuthBusy extends Error {
  /** 429: this client must wait; 503: the server is checking as many as it will. */
  readonly status: 429 | 503;
  /** Seconds to wait, for `Retry-After`. */
  readonly retryAfter: number;

  constructor(status: 429 | 503, retryAfter: number) {
    super(
      status === 429
        ? `Too many failed sign-ins: try again in ${retryAfter} s`
        : "Too many sign-ins are being checked: try again shortly",
    );
    this.name = "AuthBusy";
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

/** Options of {@linkcode FailureBackoff}. */
export interface BackoffOptions {
  /** Failures a client may make before it has to wait (default 5). */
  readonly freeFailures?: number;
  /** The longest wait, in ms (default 60,000). */
  readonly maxDelayMs?: number;
  /** Clients remembered at most (default 10,000); the least recent go first. */
  readonly maxClients?: number;
  /** The clock, in ms (default `Date.now`). */
  readonly now?: () => number;
}

const FORGET_MS = 15 * 60_000;

/**
 * Per-client back-off after failed password checks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FailureBackoff } from "./password_gate.ts";
 * let now = 0;
 * const backoff = new FailureBackoff({ freeFailures: 2, now: () => now });
 * backoff.failed("1.2.3.4");
 * assert(backoff.waitMs("1.2.3.4") === 0);
 * backoff.failed("1.2.3.4");
 * assert(backoff.waitMs("1.2.3.4") === 1000 && backoff.waitMs("5.6.7.8") === 0);
 * now = 1000;
 * assert(backoff.waitMs("1.2.3.4") === 0);
 * ```
 */
export class FailureBackoff {
  #clients = new Map<string, { failures: number; last: number }>();
  #free: number;
  #maxDelay: number;
  #maxClients: number;
  #now: () => number;

  constructor(options: BackoffOptions = {}) {
    this.#free = options.freeFailures ?? 5;
    this.#maxDelay = options.maxDelayMs ?? 60_000;
    this.#maxClients = options.maxClients ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * How long `client` must still wait before its next check, in ms (0: it may go). The
   * client `""` (clients not told apart) never waits.
   */
  waitMs(client: string): number {
    if (client === "") return 0;
    const entry = this.#clients.get(client);
    if (entry === undefined) return 0;
    const now = this.#now();
    if (now - entry.last > FORGET_MS) {
      this.#clients.delete(client);
      return 0;
    }
    // From the `freeFailures`-th failure on: 1 s, then doubling.
    const over = entry.failures - this.#free;
    if (over < 0) return 0;
    const delay = Math.min(this.#maxDelay, 1000 * 2 ** Math.min(over, 30));
    return Math.max(0, entry.last + delay - now);
  }

  /** How many failures of `client` are remembered (0 once forgotten). */
  failures(client: string): number {
    const entry = this.#clients.get(client);
    return entry === undefined || this.#now() - entry.last > FORGET_MS ? 0 : entry.failures;
  }

  /** Refuses (throws {@linkcode AuthBusy} 429) while `client` must wait. */
  check(client: string): void {
    const wait = this.waitMs(client);
    if (wait > 0) throw new AuthBusy(429, Math.ceil(wait / 1000));
  }

  /** Counts one failed check of `client` (none for `""`, clients not told apart). */
  failed(client: string): void {
    if (client === "") return;
    const now = this.#now();
    const entry = this.#clients.get(client);
    const failures = entry === undefined || now - entry.last > FORGET_MS ? 1 : entry.failures + 1;
    this.#clients.delete(client); // most recent goes last
    this.#clients.set(client, { failures, last: now });
    while (this.#clients.size > this.#maxClients) {
      const oldest = this.#clients.keys().next().value;
      if (oldest === undefined) break;
      this.#clients.delete(oldest);
    }
  }
}

/** Options of {@linkcode PasswordGate}. */
export interface PasswordGateOptions extends BackoffOptions {
  /** Checks hashing at once (default: half the cores, at least one). */
  readonly concurrency?: number;
  /** Checks waiting at most (default 64). */
  readonly queue?: number;
  /** Checks of one client running or waiting at most (default 2). */
  readonly perClient?: number;
}

function defaultConcurrency(): number {
  const cores = typeof navigator === "object" ? navigator.hardwareConcurrency ?? 2 : 2;
  return Math.max(1, Math.floor(cores / 2));
}

/**
 * Bounds the password checks in flight and slows clients that keep failing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AuthBusy, PasswordGate } from "./password_gate.ts";
 * const gate = new PasswordGate({ concurrency: 1, queue: 0 });
 * let release = () => {};
 * const first = gate.run("a", { known: false }, () => new Promise<boolean>((r) => release = () => r(true)));
 * await assert.rejects(gate.run("b", { known: false }, async () => true), AuthBusy);
 * release();
 * assert(await first);
 * ```
 */
export class PasswordGate {
  readonly #backoff: FailureBackoff;
  readonly #concurrency: number;
  readonly #queueMax: number;
  readonly #perClient: number;
  #running = 0;
  // Waiting checks; the next to run has the lowest rank (-1 for a known credential, else
  // its client's failures), the earliest among equals.
  #waiting: { rank: number; go: () => void }[] = [];
  #byClient = new Map<string, number>();

  constructor(options: PasswordGateOptions = {}) {
    this.#backoff = new FailureBackoff(options);
    this.#concurrency = Math.max(1, options.concurrency ?? defaultConcurrency());
    this.#queueMax = Math.max(0, options.queue ?? 64);
    this.#perClient = Math.max(1, options.perClient ?? 2);
  }

  /**
   * Runs `check` (one password check; it resolves true when the password was right) within
   * the bounds, for `client`. `known`: the credential has succeeded before in this process
   * (it jumps the line and is not held to the client's back-off or share).
   *
   * @throws {AuthBusy} when refused without running.
   */
  async run(
    client: string,
    options: { known: boolean },
    check: () => Promise<boolean>,
  ): Promise<boolean> {
    const { known } = options;
    if (!known) {
      this.#backoff.check(client);
      const mine = this.#byClient.get(client) ?? 0;
      if (client !== "" && mine >= this.#perClient) throw new AuthBusy(429, 1);
    }
    if (this.#running >= this.#concurrency) {
      if (!known && this.#waiting.length >= this.#queueMax) throw new AuthBusy(503, 1);
      const rank = known ? -1 : this.#backoff.failures(client);
      this.#count(client, 1);
      try {
        await new Promise<void>((go) => this.#waiting.push({ rank, go }));
      } finally {
        this.#count(client, -1);
      }
    } else {
      this.#running++;
    }
    this.#count(client, 1);
    try {
      const ok = await check();
      if (!ok) this.#backoff.failed(client);
      return ok;
    } finally {
      this.#count(client, -1);
      const next = this.#next();
      if (next === undefined) this.#running--;
      else next(); // the slot passes on: #running stays
    }
  }

  /** Takes the waiting check to run next: a known credential, else the fewest failures. */
  #next(): (() => void) | undefined {
    let best = -1;
    for (let i = 0; i < this.#waiting.length; i++) {
      if (best < 0 || this.#waiting[i]!.rank < this.#waiting[best]!.rank) best = i;
    }
    return best < 0 ? undefined : this.#waiting.splice(best, 1)[0]!.go;
  }

  #count(client: string, delta: number): void {
    const n = (this.#byClient.get(client) ?? 0) + delta;
    if (n <= 0) this.#byClient.delete(client);
    else this.#byClient.set(client, n);
  }
}
