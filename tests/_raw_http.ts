// Raw HTTP/1.1 over TCP for the bad-input batteries: a request goes out exactly as written,
// byte for byte (no URL parser removes `..` or `%2e%2e`, merges headers or fixes a
// Content-Length), which is what an attacker's client sends and `fetch` cannot.

/** What came back on one connection. */
export interface RawAnswer {
  /** The final status (interim 1xx answers skipped); null when none came. */
  readonly status: number | null;
  /** Every status line's code in order, interim answers included. */
  readonly statuses: readonly number[];
  readonly headers: Headers;
  readonly body: string;
  /**
   * "answered": a whole final answer; "closed": the server closed without a final answer;
   * "timeout": nothing complete within the deadline.
   */
  readonly outcome: "answered" | "closed" | "timeout";
}

export interface RawExchangeOptions {
  /** Close our sending side once the bytes are out (a body cut short, then EOF). */
  readonly halfClose?: boolean;
  /** Give up waiting after this long (default 10 s). */
  readonly deadlineMs?: number;
  /** The request was a HEAD: its answer has no body whatever its headers say. */
  readonly head?: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

interface Parsed {
  readonly statuses: number[];
  readonly headers: Headers;
  readonly bodyStart: number;
  /** The final answer is complete in `bytes`. */
  readonly complete: boolean;
  readonly bodyEnd: number;
}

/** Where the head of a message starting at `from` ends (after its blank line), or -1. */
function headEnd(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 3 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) {
      return i + 4;
    }
  }
  return -1;
}

/** Reads the answers in `bytes` so far: interim ones skipped, the final one's framing. */
function parse(bytes: Uint8Array, head: boolean): Parsed | null {
  const statuses: number[] = [];
  let at = 0;
  for (;;) {
    const end = headEnd(bytes, at);
    if (end < 0) return null;
    const text = decoder.decode(bytes.subarray(at, end - 4));
    const [statusLine, ...lines] = text.split("\r\n");
    const status = Number(statusLine?.split(" ")[1]);
    statuses.push(status);
    if (status >= 100 && status < 200 && status !== 101) {
      at = end;
      continue;
    }
    const headers = new Headers();
    for (const line of lines) {
      const i = line.indexOf(":");
      if (i > 0) {
        try {
          headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
        } catch {
          // A header this parser cannot hold; the status is what matters.
        }
      }
    }
    const noBody = head || status === 204 || status === 304;
    const length = headers.get("content-length");
    if (noBody) return { statuses, headers, bodyStart: end, bodyEnd: end, complete: true };
    if (length !== null && /^\d+$/.test(length)) {
      const bodyEnd = end + Number(length);
      return { statuses, headers, bodyStart: end, bodyEnd, complete: bytes.length >= bodyEnd };
    }
    if (/chunked/i.test(headers.get("transfer-encoding") ?? "")) {
      const tail = decoder.decode(bytes.subarray(Math.max(end, bytes.length - 7)));
      const done = /(^|\r\n)0\r\n\r\n$/.test(tail) ||
        (bytes.length - end === 5 && tail === "0\r\n\r\n");
      return { statuses, headers, bodyStart: end, bodyEnd: bytes.length, complete: done };
    }
    // Delimited by the close.
    return { statuses, headers, bodyStart: end, bodyEnd: bytes.length, complete: false };
  }
}

/**
 * Sends `request` as is on a fresh connection and reads until the final answer is complete,
 * the server closes, or the deadline passes.
 */
export async function rawExchange(
  port: number,
  request: Uint8Array,
  options: RawExchangeOptions = {},
): Promise<RawAnswer> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const chunks: Uint8Array[] = [];
  let timedOut = false;
  const deadline = setTimeout(() => {
    timedOut = true;
    try {
      conn.close();
    } catch {
      // Closed already.
    }
  }, options.deadlineMs ?? 10_000);
  let parsed: Parsed | null = null;
  let all: Uint8Array = new Uint8Array();
  try {
    // Written while reading: a server that answers early and stops reading must not
    // leave us blocked in a write.
    const writing = (async () => {
      try {
        for (let n = 0; n < request.length;) n += await conn.write(request.subarray(n));
        if (options.halfClose) await conn.closeWrite();
      } catch {
        // The server closed or answered first; what it said is read below.
      }
    })();
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      all = concat(chunks);
      parsed = parse(all, options.head ?? false);
      if (parsed?.complete) break;
    }
    await Promise.race([writing, new Promise((r) => setTimeout(r, 50))]);
  } finally {
    clearTimeout(deadline);
    try {
      conn.close();
    } catch {
      // Closed by the deadline or the server.
    }
  }
  all = concat(chunks);
  parsed = parse(all, options.head ?? false);
  const statuses = parsed?.statuses ?? [];
  const final = parsed ? statuses[statuses.length - 1] ?? null : null;
  // An answer delimited by the close is whole once the server closed.
  const whole = parsed !== null && (parsed.complete || !timedOut);
  return {
    status: whole ? final : null,
    statuses,
    headers: parsed?.headers ?? new Headers(),
    body: parsed ? decoder.decode(all.subarray(parsed.bodyStart, parsed.bodyEnd)) : "",
    outcome: whole ? "answered" : timedOut ? "timeout" : "closed",
  };
}

/** A simple raw request: headers as given, `Connection: close`, the body's true length. */
export async function rawRequest(
  port: number,
  method: string,
  target: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; headers: Headers; body: string }> {
  const body = encoder.encode(options.body ?? "");
  const lines = [`${method} ${target} HTTP/1.1`, `Host: 127.0.0.1:${port}`, "Connection: close"];
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    lines.push(`${name}: ${value}`);
  }
  if (options.body !== undefined || ["PUT", "POST", "PATCH"].includes(method)) {
    lines.push(`Content-Length: ${body.length}`);
  }
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  const answer = await rawExchange(port, concat([head, body]), { head: method === "HEAD" });
  return { status: answer.status ?? NaN, headers: answer.headers, body: answer.body };
}
