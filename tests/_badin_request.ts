// The requests of tests/bad_input_fuzz_test.ts: their parts, the seeded generators that
// pick them, and their bytes on the wire. Case `i` of seed `s` draws from its own generator
// (seeded by both), so one case can be rebuilt alone from its two numbers.

export interface GenContext {
  readonly port: number;
  /** Authorization values: the unlimited user, alice (limited to /home/alice), a reader. */
  readonly auth: {
    readonly root: string;
    readonly alice: string;
    readonly reader: string;
    readonly aliceToken: string;
  };
  /** The root user's password (for the sign-in form). */
  readonly password: string;
  /** A signed-in browser's session: its `Cookie` header value and its CSRF token. */
  readonly session: { readonly cookie: string; readonly csrf: string };
  /** A share link's token for /docs. */
  share: string;
  /** The token of root's lock on /docs/sub/c.txt (taken again after every reset). */
  lock: string;
  /** The path of an unfinished upload (1 MiB long) and its offset. */
  upload: string;
  uploadOffset: number;
}

/** One request, kept in parts until it is written out. */
export interface FuzzRequest {
  /** Which template it came from, e.g. "dav LOCK". */
  readonly base: string;
  method: string;
  /** The raw path (no query), exactly as it goes on the request line. */
  path: string;
  /** The raw query with its "?", or "". */
  query: string;
  headers: [string, string][];
  body: Uint8Array;
  /** "auto": the body's true length when there is a body or the method sends one. */
  contentLength: "auto" | "none";
  halfClose: boolean;
  /** The request line's protocol version, "HTTP/1.1" unless mutated. */
  version: string;
  /** What was done to it, for the report. */
  readonly mutations: string[];
  /**
   * Facts the checks need: "foreign-destination", "transfer-coding",
   * "climb:<segment>", "upload", "whole-put", "method", "version",
   * "bad-token", "no-csrf".
   */
  readonly tags: Set<string>;
}

export const encoder = new TextEncoder();

/** mulberry32: small, fast and good enough to pick mutations. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The generator of case `index` of run `seed`. */
export function caseRng(seed: number, index: number): () => number {
  return prng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
}

export type Rng = () => number;
export const pick = <T>(rng: Rng, items: readonly T[]): T =>
  items[Math.floor(rng() * items.length)]!;

export const b64 = (s: string) => btoa(String.fromCharCode(...encoder.encode(s)));
export const tusMetadata = (fields: Record<string, string>) =>
  Object.entries(fields).map(([k, v]) => `${k} ${b64(v)}`).join(",");

export function setHeader(r: FuzzRequest, name: string, value: string | null): void {
  r.headers = r.headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase());
  if (value !== null) r.headers.push([name, value]);
}

export function headerOf(r: FuzzRequest, name: string): string | undefined {
  return r.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

/** The request's bytes on the wire. */
export function serialize(r: FuzzRequest, port: number): Uint8Array {
  const lines = [`${r.method} ${r.path}${r.query} ${r.version}`];
  if (!r.headers.some(([n]) => n.toLowerCase() === "host")) lines.push(`Host: 127.0.0.1:${port}`);
  for (const [name, value] of r.headers) lines.push(`${name}: ${value}`);
  if (
    r.contentLength === "auto" && (r.body.length > 0 || ["PUT", "POST", "PATCH"].includes(r.method))
  ) {
    lines.push(`Content-Length: ${r.body.length}`);
  }
  lines.push("Connection: close");
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  const out = new Uint8Array(head.length + r.body.length);
  out.set(head);
  out.set(r.body, head.length);
  return out;
}

/** One line for a report: the request line, the mutations, the size of the body. */
export function describe(r: FuzzRequest): string {
  const target = `${r.path}${r.query}`;
  const shown = target.length > 160 ? `${target.slice(0, 160)}…(${target.length})` : target;
  return `${r.base}: ${r.method} ${JSON.stringify(shown)} [${
    r.mutations.join("; ")
  }] body ${r.body.length} B`;
}
