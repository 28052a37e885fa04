// Base for stores that wrap another store and change a few calls. Not public.

import type {
  Body,
  GetOptions,
  GetResult,
  ListOptions,
  ListPage,
  MultipartUpload,
  NotModified,
  ObjectInfo,
  ObjectStore,
  PutOptions,
  PutResult,
  UploadedPart,
  UploadPage,
} from "./types.ts";

/** The S3 API operation each store method performs; metrics and faults are keyed by it. */
export const S3_OPERATION = {
  head: "HeadObject",
  get: "GetObject",
  put: "PutObject",
  delete: "DeleteObject",
  deleteMany: "DeleteObjects",
  list: "ListObjectsV2",
  createMultipart: "CreateMultipartUpload",
  uploadPart: "UploadPart",
  completeMultipart: "CompleteMultipartUpload",
  abortMultipart: "AbortMultipartUpload",
  listMultipart: "ListMultipartUploads",
} as const satisfies Record<Exclude<keyof ObjectStore, "kind">, string>;

export type StoreMethod = keyof typeof S3_OPERATION;
export type S3Operation = (typeof S3_OPERATION)[StoreMethod];

/**
 * Funnels every call through {@linkcode WrappedStore.call}, so a wrapper overrides one
 * method to act on all of them and the rest forward unchanged.
 */
export abstract class WrappedStore implements ObjectStore {
  protected readonly inner: ObjectStore;

  constructor(inner: ObjectStore) {
    this.inner = inner;
  }

  get kind(): string {
    return this.inner.kind;
  }

  /** Runs one store call; `run` performs it on the inner store. */
  protected abstract call<T>(
    method: StoreMethod,
    detail: { key?: string; mutating: boolean; retrySafe: boolean },
    run: () => Promise<T>,
  ): Promise<T>;

  head(key: string): Promise<ObjectInfo | null> {
    return this.call(
      "head",
      { key, mutating: false, retrySafe: true },
      () => this.inner.head(key),
    );
  }

  get(key: string, options?: GetOptions): Promise<GetResult | NotModified | null> {
    return this.call(
      "get",
      { key, mutating: false, retrySafe: true },
      () => this.inner.get(key, options),
    );
  }

  put(key: string, body: Body, options?: PutOptions): Promise<PutResult> {
    // A stream cannot be replayed, and a conditional put that may have been applied must
    // be resolved by the caller re-reading: neither is retried after an ambiguous failure.
    const conditional = options?.mode !== undefined && options.mode.kind !== "overwrite";
    const retrySafe = body instanceof Uint8Array && !conditional;
    return this.call(
      "put",
      { key, mutating: true, retrySafe },
      () => this.inner.put(key, body, options),
    );
  }

  delete(key: string): Promise<void> {
    return this.call(
      "delete",
      { key, mutating: true, retrySafe: true },
      () => this.inner.delete(key),
    );
  }

  deleteMany(keys: readonly string[]): Promise<void> {
    return this.call(
      "deleteMany",
      { mutating: true, retrySafe: true },
      () => this.inner.deleteMany(keys),
    );
  }

  list(options?: ListOptions): Promise<ListPage> {
    return this.call("list", { mutating: false, retrySafe: true }, () => this.inner.list(options));
  }

  createMultipart(key: string, options?: { contentType?: string }): Promise<MultipartUpload> {
    return this.call(
      "createMultipart",
      { key, mutating: true, retrySafe: true },
      () => this.inner.createMultipart(key, options),
    );
  }

  uploadPart(upload: MultipartUpload, partNumber: number, body: Uint8Array): Promise<UploadedPart> {
    return this.call(
      "uploadPart",
      { key: upload.key, mutating: true, retrySafe: true },
      () => this.inner.uploadPart(upload, partNumber, body),
    );
  }

  completeMultipart(upload: MultipartUpload, parts: readonly UploadedPart[]): Promise<PutResult> {
    // A repeated complete after an ambiguous one fails with NoSuchUpload: let the caller
    // check with head instead.
    return this.call(
      "completeMultipart",
      { key: upload.key, mutating: true, retrySafe: false },
      () => this.inner.completeMultipart(upload, parts),
    );
  }

  abortMultipart(upload: MultipartUpload): Promise<void> {
    return this.call(
      "abortMultipart",
      { key: upload.key, mutating: true, retrySafe: true },
      () => this.inner.abortMultipart(upload),
    );
  }

  listMultipart(options?: { prefix?: string; cursor?: string }): Promise<UploadPage> {
    return this.call(
      "listMultipart",
      { mutating: false, retrySafe: true },
      () => this.inner.listMultipart(options),
    );
  }
}
