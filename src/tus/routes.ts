/**
 * The tus 1.0.0 handlers: OPTIONS, POST (creation, with upload, deferred length), HEAD,
 * PATCH (with checksum) and DELETE (termination). Each PATCH body streams straight into
 * one offset write of the upload's staging file, committed by CAS on the file's version
 * after the checksum and length checks pass, so a chunk is stored whole or not at all.
 *
 * The five handlers share the upload's record and the checks of one protocol; each stays
 * next to the statuses the tus spec gives it. What a creation request asks for is read in
 * `request.ts`; a chunk's body is counted and hashed in `body.ts`.
 *
 * @module
 */

import type { Context, Hono } from "hono";
import { badRequest, HttpError, preconditionFailed } from "../http/errors.ts";
import { checkLocks } from "../http/locks.ts";
import { bodyIdleMs } from "../http/input.ts";
import { bodySlotOf } from "../http/body_slots.ts";
import { httpDate } from "../http/preconditions.ts";
import { Recheck } from "../http/recheck.ts";
import { FsError, isFsError, parentOf, type Stat, type Vfs } from "../vfs/mod.ts";
import { countedBody, sameBytes, tooLong } from "./body.ts";
import {
  checkResumable,
  CHECKSUM_ALGORITHMS,
  checksumMismatch,
  OFFSET_STREAM,
  parseChecksum,
  parseMetadata,
  TUS_EXTENSIONS,
  TUS_HEADERS,
  TUS_VERSION,
  uintHeader,
} from "./protocol.ts";
import { preconditionsOf, targetOf } from "./request.ts";
import { originOf } from "../http/forwarded.ts";
import { type Upload, UploadGone, type UploadRecord, Uploads } from "./uploads.ts";

/** How the handlers reach the filesystem and the request's principal. */
export interface RouteOptions {
  /** Where the endpoint is mounted (e.g. "/api/v1/uploads"), for `Location`. */
  readonly mount: string;
  /** The filesystem view of the request's principal (targets are checked through it). */
  readonly vfsOf: (c: Context) => Vfs;
  /** The folder the request's principal may reach ("/" for everything). */
  readonly scopeOf: (c: Context) => string;
  /** Throws (403) unless the request's principal may write `path` as a PUT would. */
  readonly checkTarget: (c: Context, path: string) => void;
  /** Largest upload accepted (bytes). */
  readonly maxSize: number;
  /** `Location` from a proxy's `Forwarded` headers (see `TusOptions`). */
  readonly trustForwarded: boolean;
}

/** Registers the tus routes on `app` (mounted at `options.mount`). */
export function registerTusRoutes(app: Hono, uploads: Uploads, options: RouteOptions): void {
  const h = new Handlers(uploads, options);
  // Routes carry the whole mount (mount the app at "/"), so that both the collection's
  // spellings, with and without the trailing slash, reach creation.
  const m = options.mount;
  for (const path of [m, `${m}/`]) {
    app.options(path, (c) => h.options(c));
    app.post(path, (c) => h.run(c, () => h.create(c)));
    // Hono answers HEAD with the GET route. RFC 9110 section 15.5.6: a 405 says what the
    // resource allows (before: 404, as if the endpoint were not there).
    app.on(["GET", "PUT", "PATCH", "DELETE"], path, (c) =>
      h.run(c, () => {
        throw notAllowed(COLLECTION_ALLOWS, "The collection takes POST (create) and OPTIONS");
      }));
  }
  const one = `${m}/:id`;
  app.options(one, (c) => h.options(c));
  app.patch(one, (c) => h.run(c, () => h.patch(c, c.req.param("id")!)));
  app.delete(one, (c) => h.run(c, () => h.terminate(c, c.req.param("id")!)));
  // Clients behind proxies that allow only GET and POST (tus-js-client's
  // `overridePatchMethod`) send the method in X-HTTP-Method-Override.
  app.post(one, (c) =>
    h.run(c, () => {
      const method = c.req.header("x-http-method-override")?.trim().toUpperCase();
      const id = c.req.param("id")!;
      if (method === "PATCH") return h.patch(c, id);
      if (method === "DELETE") return h.terminate(c, id);
      if (method === "HEAD") return h.head(c, id);
      throw notAllowed(UPLOAD_ALLOWS, "POST creates uploads at the collection only");
    }));
  // Hono answers HEAD with the GET route (and drops the body).
  app.get(one, (c) =>
    h.run(c, () => {
      if (c.req.method === "HEAD") return h.head(c, c.req.param("id")!);
      throw notAllowed(UPLOAD_ALLOWS, "Uploads are not readable: GET the target file");
    }));
  app.put(one, (c) =>
    h.run(c, () => {
      throw notAllowed(UPLOAD_ALLOWS, "Uploads take PATCH");
    }));
}

/** The methods of the collection, and of one upload (with POST for a method override). */
const COLLECTION_ALLOWS = "OPTIONS, POST";
const UPLOAD_ALLOWS = "HEAD, PATCH, DELETE, OPTIONS, POST";

/** A 405 with the `Allow` header that RFC 9110 requires of it. */
function notAllowed(allow: string, message: string): HttpError {
  return new HttpError(405, "EINVAL", message, { headers: { allow } });
}

async function lstatOrNull(vfs: Vfs, path: string): Promise<Stat | null> {
  try {
    return await vfs.lookup(path);
  } catch (error) {
    if (isFsError(error, "ENOENT")) return null;
    throw error;
  }
}

class Handlers {
  readonly #uploads: Uploads;
  readonly #o: RouteOptions;

  constructor(uploads: Uploads, options: RouteOptions) {
    this.#uploads = uploads;
    this.#o = options;
  }

  /** Runs a handler; errors become the HTTP errors the app renders, with tus headers. */
  async run(c: Context, fn: () => Promise<Response> | Response): Promise<Response> {
    for (const [name, value] of Object.entries(TUS_HEADERS)) c.header(name, value);
    try {
      return await fn();
    } catch (error) {
      throw translate(error);
    }
  }

  options(c: Context): Response {
    return c.body(null, 204, {
      ...TUS_HEADERS,
      "tus-version": TUS_VERSION,
      "tus-extension": TUS_EXTENSIONS.join(","),
      "tus-checksum-algorithm": CHECKSUM_ALGORITHMS.join(","),
      "tus-max-size": String(this.#o.maxSize),
    });
  }

  async create(c: Context): Promise<Response> {
    const headers = c.req.raw.headers;
    checkResumable(headers);
    const length = uintHeader(headers, "upload-length");
    const defer = headers.get("upload-defer-length");
    if ((length === undefined) === (defer === null)) {
      throw badRequest("Send exactly one of Upload-Length and Upload-Defer-Length");
    }
    if (defer !== null && defer.trim() !== "1") throw badRequest("Upload-Defer-Length must be 1");
    const rawMeta = headers.get("upload-metadata");
    const meta = parseMetadata(rawMeta);
    const target = targetOf(meta);
    const pre = preconditionsOf(meta);
    this.#o.checkTarget(c, target);
    const fs = this.#o.vfsOf(c);
    if (length !== undefined) await this.#checkRoom(fs, length);
    const parent = await fs.getattr(parentOf(target)).catch((error) => {
      if (isFsError(error, "ENOENT")) {
        throw new FsError("ENOENT", "The target's folder does not exist", { path: target });
      }
      throw error;
    });
    if (parent.type !== "directory") {
      throw new FsError("ENOTDIR", "The target's folder is not a folder", { path: target });
    }
    await this.#checkTarget(c, fs, target, pre);
    this.#uploads.maybeSweep();
    let upload = await this.#uploads.create({
      length: length ?? null,
      metadata: rawMeta ?? "",
      target,
      scope: this.#o.scopeOf(c),
      ...pre,
    });
    const out: Record<string, string> = {
      "location": `${originOf(c.req.raw, this.#o.trustForwarded)}${this.#o.mount}/${upload.id}`,
      "upload-expires": httpDate(upload.record.expires),
    };
    const type = c.req.header("content-type")?.split(";")[0]?.trim().toLowerCase();
    if (type === OFFSET_STREAM && c.req.raw.body) {
      // creation-with-upload: the body is the first chunk.
      upload = await this.#write(c, fs, upload, 0);
      out["upload-offset"] = String(upload.offset);
    } else {
      await c.req.raw.body?.cancel();
      // An empty file is complete once created (clients send no PATCH for it).
      if (length === 0) upload = await this.#write(c, fs, upload, 0, { body: false });
    }
    return c.body(null, 201, out);
  }

  async head(c: Context, id: string): Promise<Response> {
    checkResumable(c.req.raw.headers);
    let upload = await this.#uploads.get(id);
    this.#o.checkTarget(c, upload.record.target);
    if (!upload.placed && upload.offset === upload.record.length) {
      // Every byte is durable but the file is not at its target: the request that wrote the
      // last chunk died, or lost a race to a lock, before the rename. A client takes "offset
      // = length" for done, so roll the completion forward now (or answer why it cannot).
      upload = await this.#finish(c, this.#viewOf(c, upload.record), upload);
    }
    const { record } = upload;
    const out: Record<string, string> = {
      "upload-offset": String(upload.offset),
      "upload-expires": httpDate(record.expires),
    };
    if (record.length === null) out["upload-defer-length"] = "1";
    else out["upload-length"] = String(record.length);
    if (record.metadata !== "") out["upload-metadata"] = record.metadata;
    return c.body(null, 200, out);
  }

  async patch(c: Context, id: string): Promise<Response> {
    const headers = c.req.raw.headers;
    checkResumable(headers);
    const type = headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
    if (type !== OFFSET_STREAM) {
      throw new HttpError(415, "EINVAL", `A PATCH body must be ${OFFSET_STREAM}`);
    }
    const offset = uintHeader(headers, "upload-offset");
    if (offset === undefined) throw badRequest("Upload-Offset is missing");
    const declaredLength = uintHeader(headers, "upload-length");
    let upload = await this.#uploads.get(id);
    this.#o.checkTarget(c, upload.record.target);
    const fs = this.#viewOf(c, upload.record);
    if (declaredLength !== undefined) {
      if (upload.record.length === null) {
        if (declaredLength < upload.offset) {
          throw badRequest("Upload-Length is below the bytes already uploaded");
        }
        await this.#checkRoom(fs, declaredLength);
        upload = await this.#uploads.update(upload, { length: declaredLength });
      } else if (declaredLength !== upload.record.length) {
        throw badRequest("Upload-Length differs from the length declared before");
      }
    }
    upload = await this.#write(c, fs, upload, offset);
    return c.body(null, 204, {
      "upload-offset": String(upload.offset),
      "upload-expires": httpDate(upload.record.expires),
    });
  }

  async terminate(c: Context, id: string): Promise<Response> {
    checkResumable(c.req.raw.headers);
    const upload = await this.#uploads.get(id);
    this.#o.checkTarget(c, upload.record.target);
    await this.#uploads.remove(id);
    return c.body(null, 204);
  }

  /**
   * The view an upload's target is checked and placed through: the request's principal's,
   * narrowed to the folder of the upload's creator. Before, a principal who may reach more
   * (root finishing or rolling forward alice's upload) resolved alice's target in its own
   * view, so a symlink alice put on the way since her last chunk (`/home/alice/d` ->
   * `/home/bob`) placed her bytes where she may not write.
   */
  #viewOf(c: Context, record: UploadRecord): Vfs {
    const fs = this.#o.vfsOf(c);
    const scope = record.scope;
    if (scope === undefined || scope === "/") return fs;
    const own = this.#o.scopeOf(c);
    // The two folders both hold the target: one lies within the other. Keep the narrower.
    return own === "/" || scope.startsWith(own + "/") ? fs.scoped(scope) : fs;
  }

  /** Refuses an upload longer than the server takes or than statfs says is free. */
  async #checkRoom(fs: Vfs, length: number): Promise<void> {
    if (length > this.#o.maxSize) {
      throw new HttpError(413, "EFBIG", `Uploads are limited to ${this.#o.maxSize} bytes`);
    }
    const st = await fs.statfs();
    if (length > st.blocksFree * st.blockSize) {
      throw new HttpError(413, "ENOSPC", "Not enough free space for this upload");
    }
  }

  /** Whether the target can take the upload now: preconditions, type, locks. */
  async #checkTarget(
    c: Context,
    fs: Vfs,
    target: string,
    pre: Pick<UploadRecord, "noReplace" | "ifMatch">,
  ): Promise<void> {
    // The rename replaces what is at the path itself: a symlink there would be replaced,
    // where a PUT writes through it. Refused rather than surprising either way.
    const current = await lstatOrNull(fs, target);
    if (current?.type === "directory") {
      throw new FsError("EISDIR", "The target is a folder", { path: target });
    }
    if (current?.type === "symlink") {
      throw new HttpError(409, "EINVAL", "The target is a symbolic link: upload to what it names");
    }
    if (pre.noReplace && current) {
      throw preconditionFailed("If-None-Match failed: the target exists", "EEXIST");
    }
    if (pre.ifMatch !== undefined && current?.etag !== pre.ifMatch) {
      throw preconditionFailed(
        current ? "If-Match failed: the target's ETag differs" : "If-Match failed: no target",
        current ? "ESTALE" : "ENOENT",
      );
    }
    await checkLocks(c, fs, target, { membership: current === null });
  }

  /**
   * Writes the request body at `offset` into the staging file, as one commit: the chunk is
   * stored whole, after its checksum and the upload's length check, or not at all. The
   * last chunk also checks the target first, then the upload moves there.
   */
  async #write(
    c: Context,
    fs: Vfs,
    upload: Upload,
    offset: number,
    options: { body?: boolean } = {},
  ): Promise<Upload> {
    const { record } = upload;
    const source = options.body === false ? null : c.req.raw.body;
    if (offset !== upload.offset) {
      await source?.cancel();
      throw new HttpError(
        409,
        "ESTALE",
        `Upload-Offset ${offset} differs from the upload's offset ${upload.offset}`,
      );
    }
    const declared = source ? uintHeader(c.req.raw.headers, "content-length") : 0;
    const length = record.length;
    if (length !== null && declared !== undefined && offset + declared > length) {
      await source?.cancel();
      throw tooLong(length);
    }
    const checksum = source ? parseChecksum(c.req.header("upload-checksum") ?? null) : null;
    if (upload.placed) {
      await source?.cancel();
      if (declared) throw new HttpError(409, "ESTALE", "The upload is complete");
      return upload;
    }
    const body = countedBody(source, {
      offset,
      length,
      declared,
      checksum,
      idleMs: bodyIdleMs(c),
      slot: bodySlotOf(c),
    });
    const isLast = () => length !== null && offset + body.count() === length;
    const recheck = new Recheck(async () => {
      const failure = body.failure();
      if (failure) throw failure;
      if (checksum && !sameBytes(body.digest()!, checksum.digest)) throw checksumMismatch();
      // Afresh: the chunk streamed in meanwhile (see Vfs.fresh).
      if (isLast()) await fs.fresh(() => this.#checkTarget(c, fs, record.target, record));
    });
    const staging = this.#uploads.dataPath(upload.id);
    try {
      await this.#uploads.vfs.write(
        staging,
        offset,
        body.stream,
        upload.dataTag === null
          ? { create: true, exclusive: true, beforeCommit: recheck.beforeCommit }
          : { ifMatch: upload.dataTag, beforeCommit: recheck.beforeCommit },
      );
    } catch (error) {
      const reason = body.failure() ?? recheck.reason(error);
      if (isFsError(reason, "ESTALE", "EEXIST")) {
        throw new HttpError(409, "ESTALE", "Another request wrote to this upload meanwhile");
      }
      throw reason;
    }
    // An empty body into an existing file commits nothing, so no check ran before a commit.
    if (checksum && body.count() === 0 && !sameBytes(body.digest()!, checksum.digest)) {
      throw checksumMismatch();
    }
    let done: Upload = { ...upload, offset: offset + body.count() };
    if (length !== null && done.offset === length) done = await this.#finish(c, fs, done);
    return done;
  }

  /** Moves a fully written upload to its target (one atomic rename) and drops its record. */
  async #finish(c: Context, fs: Vfs, upload: Upload): Promise<Upload> {
    let current = upload;
    if (!current.record.finishing) {
      // The record's own version changes: a second request finishing at once loses here.
      try {
        current = await this.#uploads.update(current, { finishing: true });
      } catch (error) {
        if (isFsError(error, "ESTALE")) {
          throw new HttpError(409, "ESTALE", "Another request is finishing this upload");
        }
        throw error;
      }
    }
    const { target } = current.record;
    await this.#checkTarget(c, fs, target, current.record);
    try {
      await fs.adopt(this.#uploads.dataPath(current.id), target, {
        noReplace: current.record.noReplace ?? false,
      });
    } catch (error) {
      if (current.record.noReplace && isFsError(error, "EEXIST")) {
        throw preconditionFailed("If-None-Match failed: the target exists", "EEXIST");
      }
      // A concurrent finisher (a HEAD rolling forward) renamed it first: done either way.
      if (!isFsError(error, "ENOENT") || !(await this.#placedMeanwhile(current.id))) throw error;
    }
    await this.#uploads.forget(current.id);
    return { ...current, placed: true, dataTag: null };
  }

  /** Whether another request finished upload `id` (its staging file is at the target). */
  async #placedMeanwhile(id: string): Promise<boolean> {
    try {
      return (await this.#uploads.get(id)).placed;
    } catch (error) {
      // Its record is gone too: finished and forgotten (or terminated) meanwhile.
      if (error instanceof UploadGone) return !error.expired;
      throw error;
    }
  }
}

/** Errors of the staging area and the lock table as HTTP errors the app renders. */
function translate(error: unknown): unknown {
  if (error instanceof UploadGone) {
    return error.expired
      ? new HttpError(410, "ENOENT", error.message)
      : new HttpError(404, "ENOENT", error.message);
  }
  return error;
}
