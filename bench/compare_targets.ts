/**
 * The clients of `bench:compare`: one interface over direct S3, WebDAV (rclone and PageFS,
 * the same code) and the HTTP API (PageFS, and the bare server of the floor column), with
 * 503s sent again after their Retry-After and large bodies streamed.
 *
 * @module
 */

import http from "node:http";
import type { S3Store } from "../src/store/mod.ts";
import type { Proc, SystemKey } from "./compare_lib.ts";
import { directUpload } from "./_direct_upload.ts";
import { MiB, retried } from "./compare_run.ts";

export interface Target {
  readonly key: SystemKey;
  /** The server process, for RSS and (PageFS) /metrics; null for direct S3. */
  readonly proc: Proc | null;
  put(path: string, body: Uint8Array<ArrayBuffer>): Promise<void>;
  /**
   * Streams `size` bytes to `path`, chunked (Deno `fetch` with a stream body); multipart
   * from memory for direct S3.
   */
  putStream(path: string, size: number): Promise<void>;
  /**
   * Sends `size` bytes to `path` with a `Content-Length`, as curl, rclone and davfs2 send a
   * file of known size; for direct S3 the same as {@linkcode putStream}.
   */
  putSized(path: string, size: number): Promise<void>;
  /** Reads `path` to its end; resolves to the byte count. */
  get(path: string): Promise<number>;
  mkdir(path: string): Promise<void>;
  /** One directory listing (PROPFIND Depth 1, the API's listing, ListObjectsV2): entries. */
  list(dir: string): Promise<number>;
  /** Writes `body` at `offset` of an existing file (HTTP API only). */
  patch?(path: string, offset: number, body: Uint8Array<ArrayBuffer>): Promise<void>;
  close(): Promise<void>;
}

const REQUEST_TIMEOUT = 15 * 60_000;

const RETRIES = 5;
/**
 * Tries of a refused upload (a stream body made afresh each time): a server that admits a
 * few uploads at once refuses the others until one ends, which takes as long as an upload;
 * rclone too goes on re-sending (10 low-level retries, then the whole transfer again).
 */
const UPLOAD_RETRIES = 120;

/**
 * One request; a 503 is sent again after its Retry-After (at most {@linkcode RETRIES} times,
 * {@linkcode UPLOAD_RETRIES} for a streamed upload, each counted in {@linkcode retried}):
 * every request the workloads send is idempotent (a PUT of the same bytes, a PATCH of the
 * same bytes at the same offset, a read). A stream
 * body cannot be sent twice: one made by `fresh` is made again for each try (as rclone
 * re-opens its source), any other is not retried.
 */
async function call(
  system: SystemKey,
  method: string,
  url: string,
  ok: readonly number[],
  init: RequestInit = {},
  fresh?: () => ReadableStream<Uint8Array>,
): Promise<Response> {
  for (let attempt = 0;; attempt++) {
    const res = await fetch(url, {
      method,
      ...init,
      ...(fresh ? { body: fresh(), duplex: "half" } : {}),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT),
    });
    if (ok.includes(res.status)) return res;
    const text = await res.text().catch(() => "");
    let reason = text.slice(0, 200).replace(/\s+/g, " ");
    try {
      const problem = JSON.parse(text) as { detail?: string; title?: string };
      reason = problem.detail ?? problem.title ?? reason;
    } catch {
      // Not a problem document.
    }
    const replayable = fresh !== undefined || !(init.body instanceof ReadableStream);
    if (res.status === 503 && replayable && attempt < (fresh ? UPLOAD_RETRIES : RETRIES)) {
      await retryLater(
        system,
        `${method} ${res.status}: ${reason}`,
        res.headers.get("retry-after"),
      );
      continue;
    }
    throw new Error(`${method} ${new URL(url).pathname} answered ${res.status}: ${reason}`);
  }
}

export const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts a 503 sent again (in {@linkcode retried}), then waits its Retry-After (1-5 s). */
async function retryLater(system: SystemKey, why: string, retryAfter: string | null) {
  const reasons = retried.get(system) ?? new Map<string, number>();
  retried.set(system, reasons);
  const key = why.slice(0, 120);
  reasons.set(key, (reasons.get(key) ?? 0) + 1);
  const after = Number(retryAfter ?? 1);
  await delay(Math.min(Number.isFinite(after) ? after : 1, 5) * 1000);
}

async function drainCount(res: Response): Promise<number> {
  let n = 0;
  if (res.body) { for await (const chunk of res.body) n += chunk.length; }
  return n;
}

/** A body of `size` bytes in 1 MiB chunks, generated as it is sent. */
function stream(size: number, seed: number): ReadableStream<Uint8Array> {
  const chunk = new Uint8Array(MiB);
  for (let i = 0; i < chunk.length; i += 4096) chunk[i] = (i / 4096 + seed) & 0xff;
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= size) return controller.close();
      const n = Math.min(chunk.length, size - sent);
      const out = chunk.slice(0, n);
      out[0] = (sent / MiB) & 0xff;
      controller.enqueue(out);
      sent += n;
    },
  });
}

/**
 * A PUT of `size` bytes (the bytes of {@linkcode stream}) with a `Content-Length`, through
 * `node:http`: Deno's `fetch` sends any stream body chunked, and `Deno.serve` spends far more
 * CPU receiving a chunked body (docs/bench.md). A 503 is sent again as {@linkcode call} does.
 */
async function sizedPut(system: SystemKey, url: string, size: number): Promise<void> {
  for (let attempt = 0;; attempt++) {
    const { status, text, retryAfter } = await sizedPutOnce(url, size);
    if (status >= 200 && status < 300) return;
    if (status === 503 && attempt < UPLOAD_RETRIES) {
      await retryLater(system, `PUT ${status}: ${text}`, retryAfter);
      continue;
    }
    throw new Error(`PUT ${new URL(url).pathname} answered ${status}: ${text.slice(0, 200)}`);
  }
}

function sizedPutOnce(
  url: string,
  size: number,
): Promise<{ status: number; text: string; retryAfter: string | null }> {
  const target = new URL(url);
  const body = stream(size, target.pathname.length).getReader();
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: target.hostname,
      port: target.port,
      path: target.pathname + target.search,
      method: "PUT",
      headers: { "content-length": String(size) },
      timeout: REQUEST_TIMEOUT,
    }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (piece: string) => text = (text + piece).slice(0, 1000));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          text,
          retryAfter: res.headers["retry-after"] ?? null,
        }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.on("timeout", () => req.destroy(new Error(`PUT ${target.pathname}: timed out`)));
    const write = async () => {
      for (;;) {
        const { done, value } = await body.read();
        if (done) return void req.end();
        if (!req.write(value)) await new Promise((drained) => req.once("drain", drained));
      }
    };
    write().catch((error) => req.destroy(error));
  });
}

const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");

/** What rclone's webdav backend sends to list a directory (also used for PageFS). */
const PROPFIND_BODY = '<?xml version="1.0"?>' +
  '<d:propfind xmlns:d="DAV:"><d:prop><d:displayname/><d:getlastmodified/>' +
  "<d:getcontentlength/><d:resourcetype/><d:getcontenttype/><d:getetag/></d:prop></d:propfind>";

/** PUTs and GET over HTTP, the same for WebDAV and the HTTP API: only the URLs differ. */
function transfers(
  key: SystemKey,
  url: (path: string) => string,
): Pick<Target, "put" | "putStream" | "putSized" | "get"> {
  return {
    async put(path, body) {
      await (await call(key, "PUT", url(path), [200, 201, 204], { body })).body?.cancel();
    },
    async putStream(path, size) {
      const res = await call(
        key,
        "PUT",
        url(path),
        [200, 201, 204],
        {},
        () => stream(size, path.length),
      );
      await res.body?.cancel();
    },
    putSized(path, size) {
      return sizedPut(key, url(path), size);
    },
    async get(path) {
      return await drainCount(await call(key, "GET", url(path), [200]));
    },
  };
}

/** The WebDAV client: the same code for rclone and PageFS. */
export function davTarget(key: SystemKey, proc: Proc, root: () => string): Target {
  const url = (path: string) => root() + encodePath(path);
  return {
    key,
    proc,
    ...transfers(key, url),
    async mkdir(path) {
      await (await call(key, "MKCOL", url(path) + "/", [201])).body?.cancel();
    },
    async list(dir) {
      const res = await call(key, "PROPFIND", url(dir) + "/", [207], {
        headers: { depth: "1", "content-type": "application/xml; charset=utf-8" },
        body: PROPFIND_BODY,
      });
      const text = await res.text();
      // The directory itself is the first response; the rest are its members.
      return (text.match(/<(?:[\w.-]+:)?response[\s>]/g) ?? []).length - 1;
    },
    close: () => proc.close(),
  };
}

/** The HTTP API's client (also the bare server's, which speaks that much of it). */
export function httpTarget(proc: Proc, key: SystemKey = "http"): Target {
  const url = (path: string) => `${proc.url()}/api/v1/fs/${encodePath(path)}`;
  return {
    key,
    proc,
    ...transfers(key, url),
    async mkdir(path) {
      await (await call(key, "PUT", url(path) + "/", [201])).body?.cancel();
    },
    async list(dir) {
      let entries = 0;
      for (let cursor: string | null = null;;) {
        const query: string = `?limit=10000${
          cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""
        }`;
        const page = await (await call(key, "GET", url(dir) + "/" + query, [200])).json() as {
          entries: unknown[];
          cursor: string | null;
        };
        entries += page.entries.length;
        cursor = page.cursor;
        if (!cursor) return entries;
      }
    },
    async patch(path, offset, body) {
      const res = await call(key, "PATCH", url(path), [204], {
        headers: { "content-range": `bytes ${offset}-${offset + body.length - 1}/*` },
        body,
      });
      await res.body?.cancel();
    },
    close: () => proc.close(),
  };
}

export function s3Target(store: S3Store): Target {
  return {
    key: "s3",
    proc: null,
    async put(path, body) {
      await store.put(path, body);
    },
    putStream(path, size) {
      return directUpload(store, path, size);
    },
    putSized(path, size) {
      return this.putStream(path, size);
    },
    async get(path) {
      const r = await store.get(path);
      if (r?.status !== "ok") throw new Error(`GetObject ${path}: missing`);
      let n = 0;
      for await (const chunk of r.body) n += chunk.length;
      return n;
    },
    async mkdir() {
      // S3 has no directories.
    },
    async list(dir) {
      let entries = 0;
      for (let cursor: string | null = null;;) {
        const page = await store.list({
          prefix: `${dir}/`,
          delimiter: "/",
          ...(cursor ? { cursor } : {}),
        });
        entries += page.objects.length + page.prefixes.length;
        cursor = page.cursor;
        if (!cursor) return entries;
      }
    },
    close: async () => {},
  };
}
