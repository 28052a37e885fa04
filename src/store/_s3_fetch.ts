/**
 * Signed S3 requests over `fetch` for the object requests the file system sends most: HEAD,
 * GET, PUT of small bodies and DELETE of one key. The SDK's client spends about 1.1 ms of
 * CPU per request on its middleware stack, endpoint rules and serializers; signing with the
 * SDK's own signer (`@smithy/signature-v4`, with the client's credentials, region, hash and
 * clock offset) and sending with `fetch` costs about 0.4 ms. On a 2-core machine shared
 * with the S3 server that is the difference between the SDK and the file system's own work
 * limiting a small-file workload. Requests with XML bodies (list, multipart, batch delete)
 * stay with the SDK, which parses them. Since session 12 the requests are signed by
 * `_s3_sign.ts` (same headers as the SDK's signer, about a fifth of its CPU), with the SDK
 * client's credentials, region and clock offset.
 *
 * An error answer becomes an {@linkcode S3HttpError} shaped as the SDK's service exceptions
 * (`name` is S3's error code, `$metadata.httpStatusCode` the status), so that the store's one
 * translation to {@linkcode StoreError}s serves both paths.
 *
 * @module
 */

import type { S3Client } from "@aws-sdk/client-s3";
import { S3Signer, type SigningCredentials } from "./_s3_sign.ts";
import { Deadlines } from "../deadlines.ts";

/** What the fetch path needs to know of the bucket. */
export interface S3FetchOptions {
  readonly bucket: string;
  /** Endpoint URL of an S3-compatible server; AWS's regional endpoint when absent. */
  readonly endpoint?: string | undefined;
  readonly forcePathStyle: boolean;
  /** Bound in ms on one request until its answer's headers (error bodies included). */
  readonly timeoutMs: number;
  /** Sends the signed requests; the global `fetch` unless a test counts or stubs them. */
  readonly fetch?: typeof fetch | undefined;
}

/** One request: the full object key (prefix included), headers and an optional body. */
export interface S3FetchRequest {
  readonly method: "GET" | "HEAD" | "PUT" | "DELETE";
  readonly key: string;
  readonly headers?: Record<string, string>;
  readonly body?: Uint8Array;
  readonly signal?: AbortSignal | undefined;
  /**
   * A 404 for the key (not for the bucket) resolves to null rather than throwing: absence
   * is an everyday answer, and building an error for it costs a stack trace.
   */
  readonly orNull?: boolean;
}

/** An S3 error answer, shaped as the SDK's service exceptions. */
export class S3HttpError extends Error {
  override readonly name: string;
  readonly $metadata: { readonly httpStatusCode: number };

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

/** S3 and the SDK call a bodiless (HEAD) error answer by its status. */
const STATUS_CODES: Readonly<Record<number, string>> = {
  301: "PermanentRedirect",
  304: "NotModified",
  400: "BadRequest",
  403: "Forbidden",
  404: "NotFound",
  412: "PreconditionFailed",
  416: "InvalidRange",
  500: "InternalError",
  503: "SlowDown",
};

/** Codes by which S3 says the request's signing time is too far from its own clock. */
const SKEW_CODES = new Set(["RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture"]);

/**
 * Signs and sends object requests for one bucket, with the credentials, region, hash and
 * clock offset of an SDK client, so that both paths sign alike and learn the same skew.
 */
export class S3Fetch {
  #client: S3Client;
  #signer = new S3Signer();
  /** The region, resolved once (the provider answers the same every time). */
  #region: Promise<string> | undefined;
  /** The credentials last resolved, kept until 5 minutes before they expire. */
  #credentials: SigningCredentials & { readonly expiration?: Date | undefined } | undefined;
  #options: S3FetchOptions;
  #fetch: typeof fetch;
  #deadlines: Deadlines;
  /** Where keys go: the bucket's URL up to and including the slash before the key. */
  #base: Promise<string> | undefined;

  constructor(client: S3Client, options: S3FetchOptions) {
    this.#client = client;
    this.#options = options;
    this.#fetch = options.fetch ?? fetch;
    // One interval timer bounds every request in flight (see `deadlines.ts`); it never
    // keeps the process alive: a request's own connection does.
    this.#deadlines = new Deadlines(options.timeoutMs, { keepAlive: false });
  }

  /**
   * Sends one request. Resolves with the answer for 2xx and 304 (its body not yet read),
   * with null for a 404 when the request says `orNull`; throws an {@linkcode S3HttpError}
   * for every other status, and fetch's own error (or a `TimeoutError`) when no answer came.
   */
  send(request: S3FetchRequest & { orNull: true }): Promise<Response | null>;
  send(request: S3FetchRequest): Promise<Response>;
  async send(request: S3FetchRequest): Promise<Response | null> {
    // A failed lookup (the region) is not kept: the next request tries again.
    const base = await (this.#base ??= this.#resolveBase().catch((error) => {
      this.#base = undefined;
      throw error;
    }));
    // Appended, not resolved: a key may start with "/" or look like a scheme ("a:b").
    const url = new URL(base + escapeKey(request.key));
    const config = this.#client.config;
    const credentials = await this.#credentialsNow();
    const region = await (this.#region ??= config.region().catch((error) => {
      this.#region = undefined;
      throw error;
    }));
    // S3 signs the path as sent, escaped once ({@linkcode escapeKey} does it); fetch sets
    // Host from the URL, which is what is signed.
    const sent = this.#signer.sign({
      method: request.method,
      path: url.pathname,
      headers: { host: url.host, ...request.headers },
      body: request.body,
      date: new Date(Date.now() + (config.systemClockOffset ?? 0)),
    }, { credentials, region });

    const controller = new AbortController();
    const done = this.#deadlines.start(() =>
      controller.abort(
        new DOMException(`No answer in ${this.#options.timeoutMs} ms`, "TimeoutError"),
      )
    );
    const timeout = { signal: controller.signal, done };
    const signal = request.signal
      ? AbortSignal.any([request.signal, timeout.signal])
      : timeout.signal;
    try {
      const response = await this.#fetch(url, {
        method: request.method,
        headers: sent,
        ...(request.body ? { body: request.body as Uint8Array<ArrayBuffer> } : {}),
        signal,
      });
      if (response.ok || response.status === 304) return response;
      const { code, message } = await this.#failure(response, request.method);
      if (request.orNull && response.status === 404 && code !== "NoSuchBucket") return null;
      throw new S3HttpError(response.status, code, message);
    } finally {
      timeout.done();
    }
  }

  /**
   * `body` (an answer's, from {@linkcode send}) with each read bounded as the request was
   * until its headers: a read that gets no bytes within the limit fails with `stalled()`
   * and cancels the body (its connection is given up). Only while a read waits: a caller
   * slow to ask for the next bytes is not counted. Before, nothing bounded a body once the
   * headers had come: a metadata GET whose body stopped coming (a connection lost without
   * a reset, an S3 server stalling under memory pressure) kept the directory's group
   * commit, and every read of the key coalesced behind it, waiting for good: 16 PUTs into
   * one directory hung for 10+ minutes with no S3 request (bench:compare, session 15).
   * `ended` is told when the body has come whole.
   */
  bounded(
    body: ReadableStream<Uint8Array>,
    stalled: () => Error,
    ended?: () => void,
  ): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        let expire!: (error: Error) => void;
        const expired = new Promise<never>((_, reject) => expire = reject);
        const done = this.#deadlines.start(() => expire(stalled()));
        let next: ReadableStreamReadResult<Uint8Array>;
        try {
          next = await Promise.race([reader.read(), expired]);
        } catch (error) {
          reader.cancel(error).catch(() => {});
          throw error;
        } finally {
          done();
        }
        if (next.done) {
          controller.close();
          ended?.();
        } else controller.enqueue(next.value);
      },
      cancel: (reason) => reader.cancel(reason),
    }, { highWaterMark: 0 });
  }

  /**
   * The SDK client's credentials. Its provider memoizes them too, but each call costs a
   * few promises; static ones (no expiration) are kept for good, expiring ones until 5
   * minutes before they expire (the SDK's own refresh margin).
   */
  async #credentialsNow(): Promise<SigningCredentials> {
    const kept = this.#credentials;
    if (kept && (!kept.expiration || kept.expiration.getTime() - Date.now() > 5 * 60_000)) {
      return kept;
    }
    const fresh = await this.#client.config.credentials();
    this.#credentials = fresh;
    return fresh;
  }

  /** Reads an error answer's code and, when S3 says our clock is off, learns the offset. */
  async #failure(
    response: Response,
    method: string,
  ): Promise<{ code: string; message: string }> {
    const text = method === "HEAD" ? "" : await response.text();
    const code = xmlField(text, "Code") ?? STATUS_CODES[response.status] ??
      `Http${response.status}`;
    // A HEAD's refusal has no code to read: a Date more than 5 minutes off says it (the
    // SDK's test too).
    const date = Date.parse(response.headers.get("date") ?? "");
    const config = this.#client.config;
    const skewed = SKEW_CODES.has(code) ||
      (response.status === 403 && method === "HEAD" &&
        Math.abs(date - (Date.now() + (config.systemClockOffset ?? 0))) > 5 * 60_000);
    if (skewed && Number.isFinite(date)) config.systemClockOffset = date - Date.now();
    return { code, message: xmlField(text, "Message") ?? `HTTP ${response.status}` };
  }

  async #resolveBase(): Promise<string> {
    const { bucket, endpoint, forcePathStyle } = this.#options;
    const root = endpoint !== undefined
      ? new URL(endpoint)
      : new URL(`https://s3.${await this.#client.config.region()}.amazonaws.com`);
    const path = root.pathname.endsWith("/") ? root.pathname : `${root.pathname}/`;
    // Virtual-hosted style needs a bucket name that is a valid host label (no dots over TLS).
    if (forcePathStyle || bucket.includes(".")) {
      return `${root.origin}${path}${escapeSegment(bucket)}/`;
    }
    return `${root.protocol}//${bucket}.${root.host}${path}`;
  }
}

/**
 * A key as a URL path relative to the bucket's: each segment escaped as SigV4 wants (RFC
 * 3986 unreserved characters kept), and `.` / `..` segments escaped so that URL parsing
 * cannot resolve them away.
 */
export function escapeKey(key: string): string {
  return key.split("/").map(escapeSegment).join("/");
}

function escapeSegment(segment: string): string {
  if (segment === ".") return "%2E";
  if (segment === "..") return "%2E%2E";
  return encodeURIComponent(segment).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/**
 * The text of the first `<name>` element of a small S3 error document (up to the next
 * tag). Found by `indexOf`: a 404 for an absent key (the lock table, most often) is an
 * everyday answer, and a RegExp built per call showed in its CPU.
 */
function xmlField(text: string, name: string): string | undefined {
  const open = `<${name}>`;
  const start = text.indexOf(open);
  if (start < 0) return undefined;
  const from = start + open.length;
  const end = text.indexOf("<", from);
  return end < 0 || !text.startsWith(`</${name}>`, end) ? undefined : text.slice(from, end);
}
