/** Public types of the HTTP file API client, and its error. @module */

import type { EntryJson, ListingJson, StatJson } from "./render.ts";

export type { EntryJson, ListingJson, StatJson };
export type { StatFs } from "../vfs/types.ts";

/** Options of {@linkcode PageFsClient}. */
export interface PageFsClientOptions {
  /** Sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  /** Sent as `Authorization: Basic …`. */
  readonly basic?: { readonly user: string; readonly password: string };
  /** Replaces the global `fetch` (tests pass `(input, init) => app.request(input, init)`). */
  readonly fetch?: (input: string, init: RequestInit) => Response | Promise<Response>;
}

/** A failed request, from the server's problem document. */
export class PageFsError extends Error {
  /** The HTTP status. */
  readonly status: number;
  /** The errno code (e.g. "ENOENT"), or null when the answer was not a problem document. */
  readonly errno: string | null;
  /** What went wrong, in words. */
  readonly detail: string;
  /** The filesystem path concerned, when the server named one. */
  readonly path: string | null;

  /** Made by the client from a response; exported for `instanceof`. */
  constructor(status: number, init: { errno: string | null; detail: string; path: string | null }) {
    super(`${status} ${init.errno ?? "error"}: ${init.detail}`);
    this.name = "PageFsError";
    this.status = status;
    this.errno = init.errno;
    this.detail = init.detail;
    this.path = init.path;
  }
}

/** File bytes and the headers that describe them. */
export interface ReadResult {
  /** 200 whole, 206 a range, 304 not modified (then `body` is null). */
  readonly status: number;
  /** The bytes, streamed. */
  readonly body: ReadableStream<Uint8Array> | null;
  /** The content's ETag, unquoted (as in `StatJson.etag`). */
  readonly etag: string | null;
  /** The whole file's size. */
  readonly size: number | null;
  /** The media type, from the file's extension. */
  readonly contentType: string | null;
  /** The HTTP date of the file's mtime. */
  readonly lastModified: string | null;
}

/** Data a PUT or PATCH sends: bytes, text, or a stream (sent without Content-Length). */
export type Body = Uint8Array | string | ReadableStream<Uint8Array>;

/** Preconditions, with ETags unquoted as in `StatJson.etag` ("*" for any). */
export interface Conditions {
  /** Proceed only if the file's current ETag is this one ("*": the file exists). */
  readonly ifMatch?: string;
  /** Proceed only if the ETag is not this one ("*": the file does not exist). */
  readonly ifNoneMatch?: string;
}
