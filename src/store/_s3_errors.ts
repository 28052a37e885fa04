/**
 * The one place where SDK, fetch and network errors of the S3 adapter become
 * {@linkcode StoreError}s: which request failed (its key, whether it changes state, whether
 * it was conditional) decides how a status reads. A part of {@linkcode S3Store} (`s3.ts`),
 * imported by it alone.
 *
 * @module
 */

import { StoreError, type StoreErrorKind } from "./types.ts";

/** Which request failed, so that {@linkcode translate} can read its status right. */
export interface Failure {
  readonly key?: string;
  /** The request changes state: losing it mid-flight leaves its effect unknown. */
  readonly mutating?: boolean;
  /** A conditional PutObject: 409 means a lost race like 412 (nothing was applied). */
  readonly conditional?: boolean;
  readonly signal?: AbortSignal | undefined;
}

/** The HTTP status of an SDK or fetch-path error, when it had an answer. */
export function status(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/** The S3 error code (or the JavaScript error's name). */
export function errorName(error: unknown): string | undefined {
  return (error as { name?: string })?.name;
}

const THROTTLED = new Set(["SlowDown", "Throttling", "ThrottlingException", "TooManyRequests"]);
const TRANSIENT = new Set(["InternalError", "RequestTimeout", "OperationAborted"]);
const NOT_FOUND = new Set(["NoSuchKey", "NoSuchUpload", "NoSuchBucket", "NotFound"]);
const DENIED = new Set(["AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"]);

/** Maps an HTTP status and S3 error code to a kind; both may be missing. */
export function kindOf(code: number | undefined, name: string | undefined): StoreErrorKind {
  if (code === 503 || code === 429 || (name && THROTTLED.has(name))) return "throttled";
  if (code === 412 || name === "PreconditionFailed") return "precondition-failed";
  if (code === 404 || (name && NOT_FOUND.has(name))) return "not-found";
  if (code === 416 || name === "InvalidRange") return "invalid-range";
  if ((code !== undefined && code >= 500) || (name && TRANSIENT.has(name))) return "transient";
  if (code === 401 || code === 403 || (name && DENIED.has(name))) return "denied";
  if (code !== undefined && code >= 400 && code < 500) return "invalid";
  return "unknown";
}

/** Failures below HTTP: the request may or may not have reached the server. */
function isNetworkError(error: unknown): boolean {
  if (error instanceof TypeError) return true; // fetch: refused, reset, DNS, TLS
  const e = error as { name?: string; code?: string };
  return e?.name === "TimeoutError" || e?.name === "AbortError" ||
    /^(ECONN|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|ENETUNREACH)/.test(e?.code ?? "");
}

/** The one place where SDK and network errors become {@linkcode StoreError}s. */
export function translate(error: unknown, failure: Failure): unknown {
  if (error instanceof StoreError) return error;
  // The caller's own abort is not a store failure: hand back its reason, as fetch does.
  if (failure.signal?.aborted) return failure.signal.reason;
  const code = status(error);
  const name = errorName(error);
  const where = failure.key !== undefined ? ` on "${failure.key}"` : "";
  const base = { ...(failure.key !== undefined ? { key: failure.key } : {}), cause: error };
  if (code === undefined) {
    // No HTTP answer: a mutating request may or may not have been applied.
    const kind = isNetworkError(error) ? "transient" : "unknown";
    const message = `S3 request failed${where}: ${(error as Error)?.message ?? error}`;
    return new StoreError(kind, message, { ...base, ambiguous: failure.mutating ?? false });
  }
  // 412, and AWS's 409 for a conflicting conditional write, say nothing was written.
  if (failure.conditional && (code === 412 || code === 409)) {
    return new StoreError(
      "precondition-failed",
      `Write condition failed${where} (HTTP ${code})`,
      base,
    );
  }
  const kind = kindOf(code, name);
  // A 5xx does not prove that a write was not applied: a proxy's 502 or 504 may follow
  // the write, and RGW answers the loser of two colliding conditional puts with 500
  // (ECANCELED) just as it would a failure after the write. The caller resolves it by
  // re-reading (`src/format/cas.ts`); the retry wrapper repeats it only when harmless.
  const ambiguous = (failure.mutating ?? false) && code >= 500;
  return new StoreError(kind, `S3 answered ${code} ${name ?? ""}${where}`.trimEnd(), {
    ...base,
    ambiguous,
  });
}
