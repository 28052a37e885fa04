/**
 * The object-store contract every backend (S3, local directory, memory) and every
 * wrapper (retry, metrics, fault injection) implements. It is deliberately small:
 * what PageFS needs from S3 and nothing more.
 *
 * @module
 */

/** Body accepted by {@linkcode ObjectStore.put}: bytes, or a stream of bytes of any length. */
export type Body = Uint8Array | ReadableStream<Uint8Array>;

/**
 * A byte range of an object, inclusive at both ends like HTTP's `Range: bytes=a-b`.
 *
 * - `{ start, end }`: bytes `start..end` (an `end` past the object's end is clamped);
 * - `{ start }`: from `start` to the end of the object;
 * - `{ suffix }`: the last `suffix` bytes.
 */
export type ByteRange =
  | { readonly start: number; readonly end?: number }
  | { readonly suffix: number };

/** How a put treats an object that may already exist. */
export type PutMode =
  /** Write unconditionally. */
  | { readonly kind: "overwrite" }
  /** Write only if no object has the key (`If-None-Match: *`). */
  | { readonly kind: "create" }
  /** Write only if the current object has this ETag (`If-Match`). */
  | { readonly kind: "replace"; readonly etag: string };

/** What a store knows about one object without reading it. */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  /** Opaque version tag, quotes stripped; equal tags mean equal content. */
  readonly etag: string;
  readonly lastModified: Date;
}

/** A successful read: the (possibly ranged) body and the object's metadata. */
export interface GetResult {
  readonly status: "ok";
  readonly info: ObjectInfo;
  /** The bytes returned; for a ranged read only the range. Must be consumed or cancelled. */
  readonly body: ReadableStream<Uint8Array>;
  /** First byte of `body` within the object (0 for a whole read). */
  readonly offset: number;
  /** Number of bytes in `body`. */
  readonly length: number;
  /**
   * The store's own clock when it answered, in ms since the epoch (S3's `Date` header:
   * whole seconds). Absent from a backend that keeps the host's time (memory, local):
   * there the host's clock is the store's. See `format/store_clock.ts`.
   */
  readonly date?: number;
}

/** A conditional read whose `ifNoneMatch` ETag still matches: nothing was transferred. */
export interface NotModified {
  readonly status: "not-modified";
  readonly etag: string;
  /** The store's clock when it answered, as in {@linkcode GetResult}. */
  readonly date?: number;
}

export interface GetOptions {
  readonly range?: ByteRange;
  /** Answer {@linkcode NotModified} instead of the body when the ETag is this one. */
  readonly ifNoneMatch?: string;
  readonly signal?: AbortSignal;
  /**
   * The body goes to the runtime to pipe into an HTTP answer (a large read served whole):
   * a backend hands over its own stream, unwrapped, since a JavaScript layer per chunk costs
   * the native pipe (about a quarter of a 256 MiB GET's time); that answer's reader, the
   * client, then bounds a stall. Without it, a backend bounds each read of the body.
   */
  readonly piped?: boolean;
}

export interface PutOptions {
  /** Defaults to overwrite. */
  readonly mode?: PutMode;
  /** Length of a stream body when known; lets a backend avoid buffering. */
  readonly contentLength?: number;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

export interface PutResult {
  readonly etag: string;
  /** The store's clock when it answered, as in {@linkcode GetResult} (when known). */
  readonly date?: number;
}

export interface ListOptions {
  readonly prefix?: string;
  /** Group keys by the part before this string after the prefix, like S3's `Delimiter`. */
  readonly delimiter?: string;
  /** Opaque token from a previous page's `cursor`. */
  readonly cursor?: string;
  /** At most this many keys and prefixes together (default and cap 1000). */
  readonly limit?: number;
}

export interface ListPage {
  /** Objects, in ascending key order (UTF-8 byte order, as S3 sorts). */
  readonly objects: readonly ObjectInfo[];
  /** Common prefixes when a delimiter was given, each ending with the delimiter. */
  readonly prefixes: readonly string[];
  /** Set when more results remain: pass it back as `cursor`. */
  readonly cursor: string | null;
}

/** One uploaded part of a multipart upload, as `completeMultipart` needs it. */
export interface UploadedPart {
  readonly partNumber: number;
  readonly etag: string;
}

/** Handle of a multipart upload in progress. */
export interface MultipartUpload {
  readonly key: string;
  readonly uploadId: string;
}

/** An incomplete multipart upload, as {@linkcode ObjectStore.listMultipart} lists it. */
export interface PendingUpload extends MultipartUpload {
  /** When the store says it began (its own clock). */
  readonly initiated: Date;
}

/** One page of {@linkcode ObjectStore.listMultipart}. */
export interface UploadPage {
  readonly uploads: readonly PendingUpload[];
  /** Set when more remain: pass it back as `cursor`. */
  readonly cursor: string | null;
}

/** Multipart parts other than the last must be at least this large (S3's rule). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3 allows at most this many parts in one upload. */
export const MAX_PARTS = 10_000;

/**
 * An object store: S3 or something that behaves exactly like it.
 *
 * Absence is `null`, never an exception. Everything else that goes wrong is a
 * {@linkcode StoreError}.
 */
export interface ObjectStore {
  /** Short name of the backend for health and logs ("s3", "local", "memory"). */
  readonly kind: string;
  head(key: string): Promise<ObjectInfo | null>;
  get(key: string, options?: GetOptions): Promise<GetResult | NotModified | null>;
  /** @throws {StoreError} kind `precondition-failed` when the mode's condition does not hold. */
  put(key: string, body: Body, options?: PutOptions): Promise<PutResult>;
  /** Deleting an absent key succeeds. */
  delete(key: string): Promise<void>;
  /** Deletes up to any number of keys (batched by the backend); absent keys are fine. */
  deleteMany(keys: readonly string[]): Promise<void>;
  list(options?: ListOptions): Promise<ListPage>;
  createMultipart(key: string, options?: { contentType?: string }): Promise<MultipartUpload>;
  uploadPart(upload: MultipartUpload, partNumber: number, body: Uint8Array): Promise<UploadedPart>;
  completeMultipart(upload: MultipartUpload, parts: readonly UploadedPart[]): Promise<PutResult>;
  abortMultipart(upload: MultipartUpload): Promise<void>;
  /** Incomplete multipart uploads whose key starts with `prefix` (GC aborts stale ones). */
  listMultipart(options?: { prefix?: string; cursor?: string }): Promise<UploadPage>;
}

/** What went wrong in a store call. */
export type StoreErrorKind =
  /** A conditional put's condition did not hold (S3 412, also 409 and RGW's 500 race loss). */
  | "precondition-failed"
  /** The object, bucket or upload does not exist where existence was required. */
  | "not-found"
  /** A range that the object cannot satisfy (S3 416). */
  | "invalid-range"
  /** The backend asked us to slow down (S3 503 SlowDown, 429). */
  | "throttled"
  /** A failure that may succeed when retried: network errors, timeouts, 5xx. */
  | "transient"
  /**
   * The store has not answered lately (a request timed out and nothing answered since), so
   * this request was not sent (`src/store/_s3_outage.ts`). Never ambiguous, and not
   * retried: the caller hears it at once and may try again later.
   */
  | "unavailable"
  /** The request itself is wrong: bad key, part too small, bad arguments. */
  | "invalid"
  /** Credentials refused. */
  | "denied"
  /** Anything else. */
  | "unknown";

/** The one error type of the store layer. Backends translate their own errors into it. */
export class StoreError extends Error {
  readonly kind: StoreErrorKind;
  /** The key concerned, if any. */
  readonly key: string | undefined;
  /**
   * True when the request may have taken effect even though it failed (a connection lost
   * after the body was sent). Callers resolve such a failure by re-reading, never by
   * repeating a conditional write.
   */
  readonly ambiguous: boolean;

  constructor(
    kind: StoreErrorKind,
    message: string,
    options?: { key?: string; ambiguous?: boolean; cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "StoreError";
    this.kind = kind;
    this.key = options?.key;
    this.ambiguous = options?.ambiguous ?? false;
  }
}

/** True for errors a retry with backoff may cure. */
export function isRetryable(error: unknown): boolean {
  return error instanceof StoreError && (error.kind === "transient" || error.kind === "throttled");
}
