/**
 * The S3 backend. Each store method is exactly one S3 request (the metrics wrapper counts on
 * it), nothing below retries (the retry wrapper does), and every failure becomes a
 * {@linkcode StoreError} in {@linkcode translate}. HEAD, GET, small PUTs and single DELETEs
 * go out signed over `fetch` (`_s3_fetch.ts`, a third of the SDK's CPU per request); the
 * requests with XML bodies and the large uploads go through the SDK's client.
 *
 * This file holds the requests, one a method; its parts, imported by it alone, hold the
 * rest: `_s3_client.ts` the options and the SDK clients built from them, `_s3_errors.ts`
 * the one translation of failures, `_s3_fetch.ts` the signed `fetch` path.
 *
 * @module
 */

import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import {
  IDLE_TIMEOUT_MS,
  makeClients,
  type S3StoreOptions,
  unsignedPayload,
} from "./_s3_client.ts";
import { errorName, type Failure, kindOf, status, translate } from "./_s3_errors.ts";
import { S3Fetch, type S3FetchRequest, S3HttpError } from "./_s3_fetch.ts";
import { S3Outage, type Sent } from "./_s3_outage.ts";
import {
  bodyBytes,
  checkKey,
  checkPartNumber,
  rangeHeader,
  resolveRange,
  unquote,
} from "./_util.ts";
import {
  type Body,
  type GetOptions,
  type GetResult,
  type ListOptions,
  type ListPage,
  type MultipartUpload,
  type NotModified,
  type ObjectInfo,
  type ObjectStore,
  type PutOptions,
  type PutResult,
  StoreError,
  type UploadedPart,
  type UploadPage,
} from "./types.ts";

export type { S3StoreOptions } from "./_s3_client.ts";

/** S3's cap on keys per DeleteObjects request. */
const DELETE_BATCH = 1000;
/**
 * Largest PutObject body sent over `fetch`; larger ones go through the SDK's node:http
 * client, which returns its copies of the body sooner (see {@linkcode makeClients}).
 */
const FETCH_PUT_MAX = 1 << 20;

/**
 * An {@linkcode ObjectStore} on an S3 bucket (AWS S3, MinIO, Cloudflare R2, Ceph RGW).
 *
 * @example
 * ```ts ignore
 * import { S3Store } from "./s3.ts";
 * const store = new S3Store({ bucket: "pagefs", endpoint: "http://127.0.0.1:7480" });
 * const { etag } = await store.put("a", new TextEncoder().encode("hi"));
 * await store.put("a", new Uint8Array([1]), { mode: { kind: "replace", etag } });
 * ```
 */
export class S3Store implements ObjectStore {
  readonly kind = "s3";
  #client: S3Client;
  /** Sends the requests that carry a body: PutObject and UploadPart. */
  #uploader: S3Client;
  /** Sends HEAD, GET, small PUTs and single DELETEs. */
  #fetch: S3Fetch;
  #bucket: string;
  #prefix: string;
  /** The endpoint is reached over TLS (AWS's default is). */
  #tls: boolean;
  /** Whether the endpoint answers lately; requests wait for it, bounded, while it does not. */
  #outage: S3Outage;
  #timeoutMs: number;

  constructor(options: S3StoreOptions) {
    [this.#client, this.#uploader] = makeClients(options);
    this.#timeoutMs = options.requestTimeoutMs ?? IDLE_TIMEOUT_MS;
    this.#fetch = new S3Fetch(this.#client, {
      bucket: options.bucket,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
      timeoutMs: this.#timeoutMs,
      fetch: options.fetch,
    });
    this.#bucket = options.bucket;
    this.#prefix = options.prefix ?? "";
    this.#tls = !options.endpoint?.toLowerCase().startsWith("http:");
    this.#outage = new S3Outage(this.#fetch, { ...options, prefix: this.#prefix });
  }

  /** True while the endpoint is taken for unreachable (a request timed out, none answered). */
  get unreachable(): boolean {
    return this.#outage.down;
  }

  /**
   * Creates the bucket unless it exists already (for tests and first-run tooling).
   *
   * @throws {StoreError} when the bucket cannot be created for another reason.
   */
  static createBucketIfMissing(options: S3StoreOptions): Promise<void> {
    return new S3Store(options).createBucket();
  }

  /** Creates this store's bucket; one that exists already and is ours is fine. */
  async createBucket(): Promise<void> {
    await this.#call(
      { mutating: true },
      (c) => c.send(new CreateBucketCommand(this.#at())),
      (e) =>
        errorName(e) === "BucketAlreadyOwnedByYou" || errorName(e) === "BucketAlreadyExists"
          ? null
          : undefined,
    );
  }

  /** Deletes this store's bucket, which must be empty (for tests). */
  async deleteBucket(): Promise<void> {
    await this.#call({ mutating: true }, (c) => c.send(new DeleteBucketCommand(this.#at())));
  }

  async head(key: string): Promise<ObjectInfo | null> {
    checkKey(key);
    // A HEAD answer has no body to tell a missing bucket from a missing key: both read null.
    const response = await this.#send({ key }, {
      method: "HEAD",
      key: this.#prefix + key,
      orNull: true,
    });
    return response && answerInfo(key, response, Number(response.headers.get("content-length")));
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult | NotModified | null> {
    checkKey(key);
    const { range, ifNoneMatch, signal } = options;
    // Malformed ranges and zero suffixes fail here with memory's error kinds; whether a
    // well-formed range fits the object only S3 knows.
    if (range) resolveRange(range, Number.MAX_SAFE_INTEGER, key);
    const headers: Record<string, string> = {};
    if (range) headers.range = rangeHeader(range);
    if (ifNoneMatch !== undefined) headers["if-none-match"] = `"${ifNoneMatch}"`;
    // Headers then a stalled body are no answer: the store counts as answering this request
    // once its body has come whole (or is handed over to be piped).
    const sent: Sent = { at: 0, bodyFollows: true };
    const response = await this.#send(
      { key, signal },
      { method: "GET", key: this.#prefix + key, headers, signal, orNull: true },
      sent,
    );
    const whole = () => this.#outage.answered(sent.at);
    if (response === null) {
      whole();
      return null;
    }
    if (response.status === 304) {
      whole();
      await response.body?.cancel();
      if (ifNoneMatch !== undefined) {
        return { status: "not-modified", etag: ifNoneMatch, ...dateOf(response) };
      }
      throw translate(new S3HttpError(304, "NotModified", "Unasked 304"), { key });
    }
    const length = Number(response.headers.get("content-length") ?? 0);
    const span = parseContentRange(response.headers.get("content-range") ?? undefined);
    const offset = span?.start ?? 0;
    // Each read of the body is bounded as the request was (see `S3Fetch.bounded`): a stalled
    // metadata body held its directory's group commit, a stalled data range its page cache
    // fill (a slot of its parallel GETs, a share of the memory budget) and every read
    // waiting on it. Not a body the caller pipes natively into an answer (`piped`).
    let body = response.body ?? new ReadableStream<Uint8Array>({ start: (c) => c.close() });
    if (!response.body || options.piped) whole();
    else {
      body = this.#fetch.bounded(response.body, () => {
        // Nothing came for the whole bound: unless the store answered a request sent after
        // this one, it stopped answering.
        this.#outage.timedOut(sent.at);
        return new StoreError("transient", `The answer to GET "${key}" stopped coming`, { key });
      }, whole);
    }
    return {
      status: "ok",
      info: answerInfo(key, response, span?.size ?? offset + length),
      body,
      offset,
      length,
      ...dateOf(response),
    };
  }

  /**
   * Writes an object in one PutObject. A stream body is read into memory first: the fetch
   * handler cannot sign a streamed body, and large objects go through multipart anyway.
   */
  async put(key: string, body: Body, options: PutOptions = {}): Promise<PutResult> {
    checkKey(key);
    const bytes = await bodyBytes(body);
    const { mode = { kind: "overwrite" }, contentType, signal } = options;
    const failure = { key, mutating: true, conditional: mode.kind !== "overwrite", signal };
    if (bytes.length <= FETCH_PUT_MAX) {
      const headers: Record<string, string> = {};
      if (contentType !== undefined) headers["content-type"] = contentType;
      // RGW only matches an unquoted If-Match on PutObject; AWS and MinIO accept it too.
      if (mode.kind === "create") headers["if-none-match"] = "*";
      if (mode.kind === "replace") headers["if-match"] = unquote(mode.etag);
      const request = { method: "PUT", key: this.#prefix + key, headers, body: bytes, signal };
      const response = await this.#send(failure, request as S3FetchRequest);
      await response.body?.cancel();
      return { etag: unquote(response.headers.get("etag") ?? ""), ...dateOf(response) };
    }
    const condition = mode.kind === "create"
      ? { IfNoneMatch: "*" }
      : mode.kind === "replace"
      ? { IfMatch: unquote(mode.etag) }
      : {};
    const command = new PutObjectCommand({
      ...this.#at(key),
      Body: bytes,
      ContentLength: bytes.length,
      ...(contentType !== undefined ? { ContentType: contentType } : {}),
      ...condition,
    });
    const out = await this.#call(
      failure,
      (c) => c.send(command, signal ? { abortSignal: signal } : {}),
      undefined,
      this.#uploader,
    );
    return { etag: unquote(out.ETag ?? "") };
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    const response = await this.#send({ key, mutating: true }, {
      method: "DELETE",
      key: this.#prefix + key,
      orNull: true,
    });
    await response?.body?.cancel();
  }

  /** One DeleteObjects request per 1000 keys, sent one after another. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    keys.forEach(checkKey);
    for (let at = 0; at < keys.length; at += DELETE_BATCH) {
      const objects = keys.slice(at, at + DELETE_BATCH).map((k) => ({ Key: this.#prefix + k }));
      const command = new DeleteObjectsCommand({
        ...this.#at(),
        Delete: { Objects: objects, Quiet: true },
      });
      const out = await this.#call({ mutating: true }, (c) => c.send(command));
      // Absent keys are not errors in S3 either; anything reported here is a real failure.
      const failed = out.Errors?.find((e) => e.Code !== "NoSuchKey");
      if (failed) {
        const key = failed.Key?.slice(this.#prefix.length) ?? "";
        const message = `Cannot delete "${key}": ${failed.Code} ${failed.Message ?? ""}`;
        throw new StoreError(kindOf(undefined, failed.Code), message.trimEnd(), { key });
      }
    }
  }

  /** The cursor is S3's continuation token, passed through untouched. */
  async list(options: ListOptions = {}): Promise<ListPage> {
    const strip = (k: string) => k.slice(this.#prefix.length);
    const command = new ListObjectsV2Command({
      ...this.#at(),
      Prefix: this.#prefix + (options.prefix ?? ""),
      MaxKeys: Math.min(Math.max(options.limit ?? 1000, 1), 1000),
      ...(options.delimiter ? { Delimiter: options.delimiter } : {}),
      ...(options.cursor ? { ContinuationToken: options.cursor } : {}),
    });
    const out = await this.#call({}, (c) => c.send(command));
    return {
      objects: (out.Contents ?? []).map((o) =>
        info(strip(o.Key ?? ""), o.Size ?? 0, o.ETag, o.LastModified)
      ),
      prefixes: (out.CommonPrefixes ?? []).map((p) => strip(p.Prefix ?? "")),
      cursor: out.IsTruncated ? out.NextContinuationToken ?? null : null,
    };
  }

  async createMultipart(
    key: string,
    options: { contentType?: string } = {},
  ): Promise<MultipartUpload> {
    checkKey(key);
    const command = new CreateMultipartUploadCommand({
      ...this.#at(key),
      ...(options.contentType !== undefined ? { ContentType: options.contentType } : {}),
    });
    const out = await this.#call({ key, mutating: true }, (c) => c.send(command));
    if (!out.UploadId) throw new StoreError("unknown", "S3 returned no upload id", { key });
    return { key, uploadId: out.UploadId };
  }

  async uploadPart(
    upload: MultipartUpload,
    partNumber: number,
    body: Uint8Array,
  ): Promise<UploadedPart> {
    const { key, uploadId } = upload;
    checkPartNumber(partNumber, key);
    const command = new UploadPartCommand({
      ...this.#at(key),
      UploadId: uploadId,
      PartNumber: partNumber,
      Body: body,
      ContentLength: body.length,
    });
    if (this.#tls) unsignedPayload(command);
    const out = await this.#call(
      { key, mutating: true },
      (c) => c.send(command),
      undefined,
      this.#uploader,
    );
    return { partNumber, etag: unquote(out.ETag ?? "") };
  }

  /**
   * Completes an upload in one CompleteMultipartUpload request.
   *
   * @returns the ETag S3 reports, or `""` when the backend reports none (Ceph RGW answers an
   * empty ETag here; {@linkcode head} gives the real one at the cost of one more request).
   */
  async completeMultipart(
    upload: MultipartUpload,
    parts: readonly UploadedPart[],
  ): Promise<PutResult> {
    const command = new CompleteMultipartUploadCommand({
      ...this.#at(upload.key),
      UploadId: upload.uploadId,
      MultipartUpload: {
        Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: `"${p.etag}"` })),
      },
    });
    const out = await this.#call({ key: upload.key, mutating: true }, (c) => c.send(command));
    return { etag: unquote(out.ETag ?? "") };
  }

  /** Aborting an upload that no longer exists succeeds, as deleting an absent key does. */
  async abortMultipart(upload: MultipartUpload): Promise<void> {
    const command = new AbortMultipartUploadCommand({
      ...this.#at(upload.key),
      UploadId: upload.uploadId,
    });
    await this.#call(
      { key: upload.key, mutating: true },
      (c) => c.send(command),
      (e) => errorName(e) === "NoSuchUpload" ? null : undefined,
    );
  }

  /** The cursor is S3's key and upload-id markers, joined by a newline. */
  async listMultipart(options: { prefix?: string; cursor?: string } = {}): Promise<UploadPage> {
    const [keyMarker, idMarker] = options.cursor?.split("\n") ?? [];
    const command = new ListMultipartUploadsCommand({
      ...this.#at(),
      Prefix: this.#prefix + (options.prefix ?? ""),
      ...(keyMarker ? { KeyMarker: keyMarker } : {}),
      ...(idMarker ? { UploadIdMarker: idMarker } : {}),
    });
    const out = await this.#call({}, (c) => c.send(command));
    const uploads = (out.Uploads ?? []).flatMap((u) =>
      u.Key && u.UploadId
        ? [{
          key: u.Key.slice(this.#prefix.length),
          uploadId: u.UploadId,
          initiated: u.Initiated ?? new Date(0),
        }]
        : []
    );
    const more = out.IsTruncated && out.NextKeyMarker;
    return {
      uploads,
      cursor: more ? `${out.NextKeyMarker}\n${out.NextUploadIdMarker ?? ""}` : null,
    };
  }

  /** Bucket and full key of a request. */
  #at(): { Bucket: string };
  #at(key: string): { Bucket: string; Key: string };
  #at(key?: string): { Bucket: string; Key?: string } {
    return key === undefined ? { Bucket: this.#bucket } : {
      Bucket: this.#bucket,
      Key: this.#prefix + key,
    };
  }

  /**
   * Sends one request over `fetch`; failures as in {@linkcode #call}, which notes in `sent`
   * when it went out.
   */
  #send(
    failure: Failure,
    request: S3FetchRequest & { orNull: true },
    sent?: Sent,
  ): Promise<Response | null>;
  #send(failure: Failure, request: S3FetchRequest, sent?: Sent): Promise<Response>;
  #send(
    failure: Failure,
    request: S3FetchRequest,
    sent?: Sent,
  ): Promise<Response | null> {
    return this.#call(failure, () => this.#fetch.send(request), undefined, this.#client, sent);
  }

  /**
   * Sends one request. A failure that `recover` maps to a value (absence, not-modified)
   * becomes the result; every other failure becomes a {@linkcode StoreError}. While the
   * endpoint is taken for unreachable the request waits, bounded, for it to answer again,
   * and is not sent at all if it does not (`_s3_outage.ts`).
   */
  async #call<T, R = never>(
    failure: Failure,
    send: (client: S3Client) => Promise<T>,
    recover?: (error: unknown) => R | undefined,
    client: S3Client = this.#client,
    sent?: Sent,
  ): Promise<T | R> {
    const offset = client.config.systemClockOffset;
    const admitted = this.#outage.admit();
    const sentAt = typeof admitted === "number" ? admitted : await admitted;
    if (sent) sent.at = sentAt;
    try {
      const result = await send(client).catch((error) => {
        // Refused for its signature's time (403), nothing happened; the answer's Date has
        // corrected the clock offset (the SDK's signer and #failure in _s3_fetch.ts do),
        // so the request goes once more, signed at the server's time. Bodies are bytes.
        if (status(error) !== 403 || client.config.systemClockOffset === offset) throw error;
        return send(client);
      });
      if (!sent?.bodyFollows) this.#outage.answered(sentAt);
      return result;
    } catch (error) {
      this.#outage.failed(sentAt, error, failure.signal);
      const value = recover?.(error);
      if (value !== undefined) return value;
      throw translate(error, failure);
    }
  }
}

function info(key: string, size: number, etag?: string, lastModified?: Date): ObjectInfo {
  return { key, size, etag: unquote(etag ?? ""), lastModified: lastModified ?? new Date(0) };
}

/** An object's info from the headers of a HEAD or GET answer. */
function answerInfo(key: string, response: Response, size: number): ObjectInfo {
  const modified = response.headers.get("last-modified");
  const etag = response.headers.get("etag") ?? undefined;
  return info(key, size, etag, modified ? new Date(modified) : undefined);
}

/**
 * The answer's `Date` (the store's clock, whole seconds) as `{ date }`, or nothing when it
 * has none or it does not parse: a proxy may strip it, and then the host's clock stands.
 */
function dateOf(response: Response): { date?: number } {
  const date = Date.parse(response.headers.get("date") ?? "");
  return Number.isFinite(date) ? { date } : {};
}

/** Parses `bytes a-b/total` (total may be `*`). */
function parseContentRange(
  header: string | undefined,
): { start: number; size: number | undefined } | null {
  const match = header?.match(/^bytes (\d+)-(\d+)\/(\d+|\*)$/);
  if (!match) return null;
  return { start: Number(match[1]), size: match[3] === "*" ? undefined : Number(match[3]) };
}
