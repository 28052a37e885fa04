/**
 * Multipart uploads in the local store. An upload is a folder `.uploads/<uploadId>` holding
 * `upload.json` (its key and content type) and one object file a part, named by its number;
 * completing streams the parts, checked as S3 checks them, into one new object. A part of
 * {@linkcode LocalStore} (`local.ts`), imported by it and its other parts alone.
 *
 * @module
 */

import { fileStream, ignoreNotFound, openObject, readDir } from "./_local_format.ts";
import { checkPartNumber } from "./_util.ts";
import {
  MIN_PART_SIZE,
  type MultipartUpload,
  type PendingUpload,
  StoreError,
  type UploadedPart,
} from "./types.ts";

/** How an upload id looks; a folder in `.uploads/` named otherwise is not ours. */
export const UPLOAD_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Makes the folder `dir` of a new upload, with its key and content type. */
export async function startUpload(
  dir: string,
  key: string,
  contentType: string | undefined,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const state = { key, contentType: contentType ?? null };
  await Deno.writeTextFile(`${dir}/upload.json`, JSON.stringify(state));
}

/**
 * The content type of the upload in folder `dir`.
 *
 * @throws {StoreError} kind `not-found` when there is no such upload for that key.
 */
export async function uploadContentType(
  dir: string,
  upload: MultipartUpload,
): Promise<string | null> {
  const state = UPLOAD_ID.test(upload.uploadId)
    ? await Deno.readTextFile(`${dir}/upload.json`).catch(ignoreNotFound)
    : undefined;
  const { key, contentType } = state ? JSON.parse(state) : { key: null, contentType: null };
  if (key !== upload.key) {
    throw new StoreError("not-found", `No such upload ${upload.uploadId}`, { key: upload.key });
  }
  return contentType;
}

/**
 * The data of `parts` of the upload in folder `dir`, in order. Parts are checked as they
 * stream: a bad one throws, so the caller's temp file is dropped and nothing changes.
 */
export async function* partChunks(
  dir: string,
  key: string,
  parts: readonly UploadedPart[],
): AsyncGenerator<Uint8Array> {
  for (const [i, part] of parts.entries()) {
    checkPartNumber(part.partNumber, key);
    const opened = await openObject(`${dir}/${part.partNumber}`, key);
    let fault = null;
    if (!opened || opened.info.etag !== part.etag) fault = `Invalid part ${part.partNumber}`;
    else if (i > 0 && part.partNumber <= parts[i - 1]!.partNumber) {
      fault = "Parts must be in ascending order";
    } else if (i < parts.length - 1 && opened.info.size < MIN_PART_SIZE) {
      fault = `Part ${part.partNumber} is smaller than 5 MiB`;
    }
    if (fault !== null || !opened) {
      opened?.file.close();
      throw new StoreError("invalid", fault ?? "Invalid part", { key });
    }
    await opened.file.seek(opened.dataStart, Deno.SeekMode.Start);
    yield* fileStream(opened.file, opened.info.size);
  }
}

/** The uploads in folder `root` (the store's `.uploads/`) whose keys start with `prefix`. */
export async function listUploads(root: string, prefix: string): Promise<PendingUpload[]> {
  const uploads = [];
  for (const entry of await readDir(root).catch(() => [])) {
    if (!UPLOAD_ID.test(entry.name)) continue;
    const dir = `${root}/${entry.name}`;
    const state = await Deno.readTextFile(`${dir}/upload.json`).catch(() => null);
    const stat = await Deno.stat(dir).catch(() => null);
    if (state === null || !stat) continue;
    const { key } = JSON.parse(state) as { key: string };
    if (!key.startsWith(prefix)) continue;
    uploads.push({ key, uploadId: entry.name, initiated: stat.mtime ?? new Date(0) });
  }
  return uploads;
}
