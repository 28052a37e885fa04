/**
 * An object store in RAM, for unit tests and `PAGEFS_STORE=memory`. It follows S3's
 * semantics exactly (ranges, conditional puts, listing order, multipart rules), so a test
 * that passes here and fails on S3 points at the S3 adapter, not at this store.
 *
 * @module
 */

import {
  bodyBytes,
  checkKey,
  checkPartNumber,
  compareKeys,
  concat,
  paginate,
  resolveRange,
  streamOf,
} from "./_util.ts";
import {
  type Body,
  type GetOptions,
  type GetResult,
  type ListOptions,
  type ListPage,
  MIN_PART_SIZE,
  type MultipartUpload,
  type NotModified,
  type ObjectInfo,
  type ObjectStore,
  type PutMode,
  type PutOptions,
  type PutResult,
  StoreError,
  type UploadedPart,
  type UploadPage,
} from "./types.ts";

/** Options of {@linkcode MemoryStore}. */
export interface MemoryStoreOptions {
  /**
   * A clock of the store's own, apart from the host's (tests of instances whose clocks
   * disagree): answers then carry its time in `date`, in whole seconds like S3's `Date`,
   * and objects are stamped by it. Without it answers carry none: the host's clock is the
   * store's, as it is for a store in this very process.
   */
  readonly clock?: () => number;
}

interface Entry {
  readonly info: ObjectInfo;
  readonly bytes: Uint8Array;
}

/**
 * An in-memory {@linkcode ObjectStore}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryStore } from "./memory.ts";
 * const store = new MemoryStore();
 * await store.put("a", new TextEncoder().encode("hi"), { mode: { kind: "create" } });
 * assert((await store.head("a"))?.size === 2);
 * ```
 */
export class MemoryStore implements ObjectStore {
  readonly kind = "memory";
  #objects = new Map<string, Entry>();
  #uploads = new Map<
    string,
    { key: string; parts: Map<number, Uint8Array>; initiated: Date }
  >();
  #sorted: Entry[] | null = null;
  #version = 0;
  readonly #clock: (() => number) | undefined;

  constructor(options: MemoryStoreOptions = {}) {
    this.#clock = options.clock;
  }

  /** `{ date }` of an answer given now, when the store has a clock of its own. */
  #date(): { date?: number } {
    return this.#clock ? { date: Math.floor(this.#clock() / 1000) * 1000 } : {};
  }

  async head(key: string): Promise<ObjectInfo | null> {
    checkKey(key);
    return this.#objects.get(key)?.info ?? null;
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult | NotModified | null> {
    checkKey(key);
    const entry = this.#objects.get(key);
    if (!entry) return null;
    if (options.ifNoneMatch !== undefined && options.ifNoneMatch === entry.info.etag) {
      return { status: "not-modified", etag: entry.info.etag, ...this.#date() };
    }
    const { start, end } = options.range
      ? resolveRange(options.range, entry.bytes.length, key)
      : { start: 0, end: entry.bytes.length };
    return {
      status: "ok",
      info: entry.info,
      body: streamOf(entry.bytes.slice(start, end)),
      offset: start,
      length: end - start,
      ...this.#date(),
    };
  }

  async put(key: string, body: Body, options: PutOptions = {}): Promise<PutResult> {
    checkKey(key);
    const bytes = await bodyBytes(body);
    // The check and the write happen in one synchronous step, so concurrent puts race
    // exactly as they do on S3: one create wins, one replace per ETag wins.
    this.#checkMode(key, options.mode);
    return { etag: this.#store(key, bytes.slice()), ...this.#date() };
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    if (this.#objects.delete(key)) this.#sorted = null;
    return;
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.delete(key);
  }

  async list(options: ListOptions = {}): Promise<ListPage> {
    this.#sorted ??= [...this.#objects.values()].sort((a, b) =>
      compareKeys(a.info.key, b.info.key)
    );
    const page = paginate(this.#sorted.map((e) => e.info), options);
    return page;
  }

  async createMultipart(key: string): Promise<MultipartUpload> {
    checkKey(key);
    const uploadId = crypto.randomUUID();
    this.#uploads.set(uploadId, { key, parts: new Map(), initiated: new Date() });
    return { key, uploadId };
  }

  async uploadPart(
    upload: MultipartUpload,
    partNumber: number,
    body: Uint8Array,
  ): Promise<UploadedPart> {
    const state = this.#upload(upload);
    checkPartNumber(partNumber, upload.key);
    state.parts.set(partNumber, body.slice());
    return { partNumber, etag: `${upload.uploadId}-${partNumber}` };
  }

  async completeMultipart(
    upload: MultipartUpload,
    parts: readonly UploadedPart[],
  ): Promise<PutResult> {
    const state = this.#upload(upload);
    if (parts.length === 0) {
      throw new StoreError("invalid", "An upload needs at least one part", { key: upload.key });
    }
    const chunks: Uint8Array[] = [];
    parts.forEach((part, i) => {
      const bytes = state.parts.get(part.partNumber);
      if (!bytes || part.etag !== `${upload.uploadId}-${part.partNumber}`) {
        throw new StoreError("invalid", `Invalid part ${part.partNumber}`, { key: upload.key });
      }
      if (i > 0 && part.partNumber <= parts[i - 1]!.partNumber) {
        throw new StoreError("invalid", "Parts must be in ascending order", { key: upload.key });
      }
      if (i < parts.length - 1 && bytes.length < MIN_PART_SIZE) {
        throw new StoreError("invalid", `Part ${part.partNumber} is smaller than 5 MiB`, {
          key: upload.key,
        });
      }
      chunks.push(bytes);
    });
    this.#uploads.delete(upload.uploadId);
    return { etag: this.#store(upload.key, concat(chunks)) };
  }

  async abortMultipart(upload: MultipartUpload): Promise<void> {
    this.#uploads.delete(upload.uploadId);
    return;
  }

  async listMultipart(options: { prefix?: string } = {}): Promise<UploadPage> {
    const uploads = [...this.#uploads]
      .filter(([, u]) => u.key.startsWith(options.prefix ?? ""))
      .map(([uploadId, u]) => ({ key: u.key, uploadId, initiated: u.initiated }));
    return { uploads, cursor: null };
  }

  #upload(upload: MultipartUpload) {
    const state = this.#uploads.get(upload.uploadId);
    if (!state || state.key !== upload.key) {
      throw new StoreError("not-found", `No such upload ${upload.uploadId}`, { key: upload.key });
    }
    return state;
  }

  #checkMode(key: string, mode: PutMode | undefined): void {
    const current = this.#objects.get(key);
    if (mode?.kind === "create" && current) {
      throw new StoreError("precondition-failed", `Object "${key}" exists`, { key });
    }
    if (mode?.kind === "replace" && current?.info.etag !== mode.etag) {
      throw new StoreError("precondition-failed", `Object "${key}" changed`, { key });
    }
  }

  #store(key: string, bytes: Uint8Array): string {
    const etag = `m${++this.#version}-${bytes.length}`;
    if (!this.#objects.has(key)) this.#sorted = null;
    const info = {
      key,
      size: bytes.length,
      etag,
      lastModified: this.#clock ? new Date(this.#clock()) : new Date(),
    };
    this.#objects.set(key, { info, bytes });
    if (this.#sorted) {
      const at = this.#sorted.findIndex((e) => e.info.key === key);
      this.#sorted[at] = { info, bytes };
    }
    return etag;
  }
}
