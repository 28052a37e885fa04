/**
 * One log line and one histogram sample per HTTP request, and a request id: an incoming
 * `X-Request-Id` when it looks sane, a fresh UUID otherwise, echoed in the response's
 * `X-Request-Id` and available to code below through {@linkcode RequestLog.currentId} (the
 * S3 failure lines carry it).
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { Context, MiddlewareHandler } from "hono";
import type { Logger } from "./log.ts";
import type { Telemetry } from "./metrics.ts";

/** An id a client may choose: short, printable, no spaces or quotes. */
const SANE_ID = /^[A-Za-z0-9._:@\/+=-]{1,128}$/;

/** Answers up to this many bytes are logged from `completed`, not counted (see below). */
const SMALL_ANSWER = 64 * 1024;

/** Methods counted under their own name; anything else is "OTHER" (bounded labels). */
const METHODS = new Set([
  "GET",
  "HEAD",
  "PUT",
  "POST",
  "PATCH",
  "DELETE",
  "OPTIONS",
  "PROPFIND",
  "PROPPATCH",
  "MKCOL",
  "COPY",
  "MOVE",
  "LOCK",
  "UNLOCK",
]);

export interface RequestLogOptions {
  readonly logger: Logger;
  readonly telemetry?: Telemetry | undefined;
  /** The front end a path belongs to (a metric label: keep the set small). */
  readonly frontOf: (path: string) => string;
  /** The authenticated principal's id (`user:<name>`, `token:<name>`), if any (read after the request ran). */
  readonly principalOf: (c: Context) => string | null;
}

/**
 * Sets a header of the answer in place. Hono's `c.header` on an answer already made copies
 * the whole Response to set it (a new Response and header list per request, a measurable
 * share of a small request's CPU); only an answer whose headers cannot change (one passed
 * on from `fetch`) still needs that copy.
 */
function setAnswerHeader(c: Context, name: string, value: string): void {
  if (c.finalized) {
    try {
      c.res.headers.set(name, value);
      return;
    } catch {
      // Immutable headers: Hono's copy takes them.
    }
  }
  c.header(name, value);
}

/** The request log middleware and the request id of the request being served. */
export class RequestLog {
  readonly #options: RequestLogOptions;
  readonly #current = new AsyncLocalStorage<string>();

  constructor(options: RequestLogOptions) {
    this.#options = options;
  }

  /** The id of the request this code runs for, if any. */
  currentId(): string | undefined {
    return this.#current.getStore();
  }

  /** The middleware: mount it first, on every route. */
  middleware(): MiddlewareHandler {
    const { logger, telemetry, frontOf, principalOf } = this.#options;
    return async (c, next) => {
      const started = performance.now();
      const incoming = c.req.header("x-request-id");
      const id = incoming !== undefined && SANE_ID.test(incoming) ? incoming : crypto.randomUUID();
      try {
        await this.#current.run(id, next);
      } finally {
        setAnswerHeader(c, "X-Request-Id", id);
      }
      const status = c.res.status;
      const path = pathOf(c.req.url);
      const front = frontOf(path);
      const done = (bytes: number | null, aborted: boolean) => {
        const seconds = (performance.now() - started) / 1000;
        const method = METHODS.has(c.req.method) ? c.req.method : "OTHER";
        telemetry?.httpRequest({ front, method, status, seconds, bytes });
        const level = status >= 500 ? "error" : status >= 400 ? "warn" : "info";
        if (!logger.enabled(level)) return;
        logger.log(level, "request", {
          id,
          front,
          method: c.req.method.slice(0, 16),
          path: path.length > 512 ? path.slice(0, 512) + "…" : path,
          status,
          bytes: bytes ?? "-",
          ms: Math.round(seconds * 10_000) / 10,
          principal: principalOf(c) ?? "-",
          ...(aborted ? { aborted: true } : {}),
        });
      };
      const finished = (bytes: number | null, aborted: boolean) => {
        done(bytes, aborted);
        if (!aborted) afterSent(c)?.();
      };
      if (c.req.method === "HEAD") {
        finished(0, false);
        return;
      }
      // A small answer with a declared length goes out untouched under Deno.serve, whose
      // `completed` says when it was sent: the counting stream below costs a promise per
      // chunk and a new Response, a measurable share of a small GET. Deno 2.9 resolves
      // `completed` even for a client that hung up, so larger answers (downloads, where
      // "aborted" matters) keep the stream, whose cancel Deno does report.
      const completed = sentSignal(c.env);
      const declared = Number(c.res.headers.get("content-length") ?? NaN);
      // So does an answer the runtime streams by itself (a large read passed on from S3,
      // see markStreamedByRuntime): a counting stream would cost it a JavaScript hop per
      // chunk, as much time again as the GET. Its line cannot tell a client that hung up.
      // Decided before `c.res.body` is read: reading it turns an answer of bytes into a
      // stream, which Deno.serve then pumps through a resource of its own instead of
      // sending the bytes at once (4-5 µs a request in a bare server, more under load).
      if (completed !== null && (declared <= SMALL_ANSWER || isStreamedByRuntime(c))) {
        completed.then(() => finished(declared, false), () => finished(null, true));
        return;
      }
      const body = c.res.body;
      if (body === null) {
        finished(0, false);
        return;
      }
      // The line is written once the body is sent (or abandoned): its size and the time
      // it took are then known, whether or not the response declared a length.
      const reader = body.getReader();
      let bytes = 0;
      const counted = new ReadableStream<Uint8Array>({
        async pull(controller) {
          try {
            const { done: end, value } = await reader.read();
            if (end) {
              controller.close();
              finished(bytes, false);
              return;
            }
            bytes += value.byteLength;
            controller.enqueue(value);
          } catch (error) {
            controller.error(error);
            finished(bytes, true);
          }
        },
        async cancel(reason) {
          finished(bytes, true);
          await reader.cancel(reason);
        },
      });
      const wrapped = new Response(counted, c.res);
      // Hono's setter would copy every header of the old answer onto the new one, which
      // already carries them; clearing first skips that (a measurable cost per request).
      c.res = undefined;
      c.res = wrapped;
    };
  }
}

/**
 * The path of a request URL for the log line. A URL that does not parse (a Host such as
 * `a b`, refused with a 400 further in) is logged as it came, after its authority: the
 * log's own `new URL()` turned that 400 into a 500.
 */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    const scheme = url.indexOf("://");
    const rest = scheme < 0 ? url : url.slice(scheme + 3);
    const start = rest.indexOf("/");
    return start < 0 ? "/" : rest.slice(start);
  }
}

/** The context variable set by {@linkcode markStreamedByRuntime}. */
const RUNTIME_BODY = "pagefs.runtimeBody";

/** The context variable holding the `sent` callback of {@linkcode markStreamedByRuntime}. */
const AFTER_SENT = "pagefs.afterSent";

/**
 * Marks the answer of `c` as one whose body the runtime streams itself (the body of an S3
 * GET passed on untouched, `Vfs.readStream`'s `direct`): the request log then does not
 * wrap it in a counting stream, and logs it as sent in full once `completed` resolves.
 * `sent` (`Vfs.readStream`'s, which fills the disk tier) is called then, off the answer's
 * path; not when the answer failed.
 */
export function markStreamedByRuntime(c: Context, sent?: () => void): void {
  c.set(RUNTIME_BODY as never, true as never);
  if (sent) c.set(AFTER_SENT as never, sent as never);
}

function afterSent(c: Context): (() => void) | undefined {
  return c.get(AFTER_SENT as never) as (() => void) | undefined;
}

function isStreamedByRuntime(c: Context): boolean {
  return c.get(RUNTIME_BODY as never) === true;
}

/**
 * `Deno.ServeHandlerInfo.completed` when the app runs under `Deno.serve` (Hono passes the
 * handler info as `c.env`); null elsewhere (`app.request` in tests, other runtimes).
 */
function sentSignal(env: unknown): Promise<void> | null {
  if (typeof env !== "object" || env === null || !("completed" in env)) return null;
  const completed = (env as { completed: unknown }).completed;
  return completed instanceof Promise ? completed : null;
}
