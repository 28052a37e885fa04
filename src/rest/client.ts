/**
 * A typed client for the HTTP file API. It needs only `fetch`, so it runs in Deno, Node,
 * browsers and workers; tests pass `app.request` as `fetch` to skip the network.
 *
 * @example
 * ```ts ignore
 * import { PageFsClient } from "./client.ts";
 * const fs = new PageFsClient("http://127.0.0.1:8080/api/v1", { token: "…" });
 * await fs.put("/notes/today.txt", "hello", { parents: true });
 * console.log(await fs.readText("/notes/today.txt"));
 * ```
 *
 * @module
 */

import { base64, conditionHeaders, encodePath, unquote } from "./_client_util.ts";
import {
  type Body,
  type Conditions,
  type EntryJson,
  type ListingJson,
  type PageFsClientOptions,
  PageFsError,
  type ReadResult,
  type StatFs,
  type StatJson,
} from "./client_types.ts";

export * from "./client_types.ts";

/** A client for one PageFS server's `/api/v1`. */
export class PageFsClient {
  readonly #base: string;
  readonly #fetch: NonNullable<PageFsClientOptions["fetch"]>;
  readonly #auth: string | null;

  /** `baseUrl` is the API root, e.g. `http://127.0.0.1:8080/api/v1`. */
  constructor(baseUrl: string, options: PageFsClientOptions = {}) {
    this.#base = baseUrl.replace(/\/+$/, "");
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#auth = options.token !== undefined
      ? `Bearer ${options.token}`
      : options.basic
      ? `Basic ${base64(`${options.basic.user}:${options.basic.password}`)}`
      : null;
  }

  /** The URL of a route for `path`, with query parameters (undefined ones dropped). */
  url(route: string, path: string, query: Record<string, string | undefined> = {}): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, v);
    const search = params.size > 0 ? `?${params}` : "";
    return `${this.#base}/${route}${encodePath(path)}${search}`;
  }

  /** Sends a request; any status outside `ok` (default 2xx) becomes a {@linkcode PageFsError}. */
  async request(
    method: string,
    url: string,
    init: { headers?: Record<string, string>; body?: Body | null; ok?: number[] } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.#auth) headers["authorization"] = this.#auth;
    const body = init.body ?? null;
    // A Uint8Array over any ArrayBufferLike is a valid body; the DOM types are narrower.
    const request: RequestInit & { duplex?: "half" } = { method, headers, body: body as BodyInit };
    if (body instanceof ReadableStream) request.duplex = "half";
    const response = await this.#fetch(url, request);
    if (init.ok ? init.ok.includes(response.status) : response.ok) return response;
    throw await PageFsClient.#error(response);
  }

  static async #error(response: Response): Promise<PageFsError> {
    const text = await response.text().catch(() => "");
    if (response.headers.get("content-type")?.startsWith("application/problem+json")) {
      try {
        const p = JSON.parse(text);
        return new PageFsError(response.status, {
          errno: typeof p.errno === "string" ? p.errno : null,
          detail: String(p.detail ?? p.title ?? ""),
          path: typeof p.path === "string" ? p.path : null,
        });
      } catch { /* not JSON after all: fall through */ }
    }
    return new PageFsError(response.status, { errno: null, detail: text, path: null });
  }

  async #json<T>(method: string, url: string, body?: unknown): Promise<T> {
    const init = body === undefined ? {} : {
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    };
    return await (await this.request(method, url, init)).json() as T;
  }

  /** Streams a file, or `length` bytes of it from `offset`. */
  async read(
    path: string,
    options: Conditions & { offset?: number; length?: number; ifModifiedSince?: Date } = {},
  ): Promise<ReadResult> {
    const headers = conditionHeaders(options);
    if (options.offset !== undefined || options.length !== undefined) {
      const start = options.offset ?? 0;
      const end = options.length === undefined ? "" : String(start + options.length - 1);
      headers["range"] = `bytes=${start}-${end}`;
    }
    if (options.ifModifiedSince) {
      headers["if-modified-since"] = options.ifModifiedSince.toUTCString();
    }
    const response = await this.request("GET", this.url("fs", path), {
      headers,
      ok: [200, 206, 304],
    });
    const range = response.headers.get("content-range");
    const length = response.headers.get("content-length");
    return {
      status: response.status,
      body: response.status === 304 ? null : response.body,
      etag: unquote(response.headers.get("etag")),
      size: range ? Number(range.split("/")[1]) : length === null ? null : Number(length),
      contentType: response.headers.get("content-type"),
      lastModified: response.headers.get("last-modified"),
    };
  }

  /** A file's bytes (or a range of them). */
  async readBytes(
    path: string,
    options: { offset?: number; length?: number } = {},
  ): Promise<Uint8Array> {
    const { body } = await this.read(path, options);
    return new Uint8Array(await new Response(body).arrayBuffer());
  }

  /** A file's text (UTF-8). */
  async readText(path: string): Promise<string> {
    return new TextDecoder().decode(await this.readBytes(path));
  }

  /** A file's headers without its bytes. */
  async head(path: string): Promise<Omit<ReadResult, "body">> {
    const response = await this.request("HEAD", this.url("fs", path));
    const length = response.headers.get("content-length");
    return {
      status: response.status,
      etag: unquote(response.headers.get("etag")),
      size: length === null ? null : Number(length),
      contentType: response.headers.get("content-type"),
      lastModified: response.headers.get("last-modified"),
    };
  }

  /** Creates or replaces a file; `mtime` in ms. */
  async put(
    path: string,
    data: Body,
    options: Conditions & { parents?: boolean; mtime?: number } = {},
  ): Promise<{ created: boolean; etag: string | null }> {
    const headers = conditionHeaders(options);
    if (options.mtime !== undefined) headers["x-oc-mtime"] = String(options.mtime / 1000);
    const url = this.url("fs", path, { parents: options.parents ? "1" : undefined });
    const response = await this.request("PUT", url, { headers, body: data });
    await response.body?.cancel();
    return { created: response.status === 201, etag: unquote(response.headers.get("etag")) };
  }

  /**
   * Writes `data` at `offset` (sent as `Content-Range` when its length is known, else as
   * `?offset=`), or appends it; the rest of the file is unchanged.
   */
  async patch(
    path: string,
    data: Body,
    options: Conditions & { offset?: number; append?: boolean; create?: boolean } = {},
  ): Promise<{ etag: string | null }> {
    const headers = conditionHeaders(options);
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const query: Record<string, string | undefined> = { create: options.create ? "1" : undefined };
    if (options.append) query.append = "1";
    else if (bytes instanceof Uint8Array && bytes.length > 0) {
      const start = options.offset ?? 0;
      headers["content-range"] = `bytes ${start}-${start + bytes.length - 1}/*`;
    } else query.offset = String(options.offset ?? 0);
    const response = await this.request("PATCH", this.url("fs", path, query), {
      headers,
      body: bytes,
    });
    return { etag: unquote(response.headers.get("etag")) };
  }

  /** Removes a file or an empty directory; a whole tree with `recursive`. */
  async delete(path: string, options: Conditions & { recursive?: boolean } = {}): Promise<void> {
    const query = { recursive: options.recursive ? "1" : undefined };
    await this.request("DELETE", this.url("fs", path, query), {
      headers: conditionHeaders(options),
    });
  }

  /** One page of a directory listing. */
  list(path: string, options: { cursor?: string; limit?: number } = {}): Promise<ListingJson> {
    const query = { cursor: options.cursor, limit: options.limit?.toString() };
    return this.#json("GET", this.url("fs", path, query));
  }

  /** Every entry of a directory, page by page. */
  async listAll(path: string, options: { limit?: number } = {}): Promise<EntryJson[]> {
    const all: EntryJson[] = [];
    let cursor: string | null = null;
    do {
      const page: ListingJson = await this.list(path, {
        ...options,
        ...(cursor ? { cursor } : {}),
      });
      all.push(...page.entries);
      cursor = page.cursor;
    } while (cursor !== null);
    return all;
  }

  /** Attributes (of a symlink itself unless `follow`). */
  stat(path: string, options: { follow?: boolean } = {}): Promise<StatJson> {
    return this.#json("GET", this.url("stat", path, { follow: options.follow ? "1" : undefined }));
  }

  /** Filesystem statistics. */
  statfs(): Promise<StatFs> {
    return this.#json("GET", `${this.#base}/statfs`);
  }

  /** A symlink's target. */
  async readlink(path: string): Promise<string> {
    return (await this.#json<{ target: string }>("GET", this.url("readlink", path))).target;
  }

  /** Runs a POST operation (`{ op, ...fields }`) and returns the resulting stat. */
  op(path: string, body: { op: string } & Record<string, unknown>): Promise<StatJson> {
    return this.#json("POST", this.url("fs", path), body);
  }

  /** Makes a directory (and missing parents with `parents`). */
  mkdir(path: string, options: { parents?: boolean; mode?: number } = {}): Promise<StatJson> {
    return this.op(path, { op: "mkdir", ...options });
  }

  /** Moves `from` to `to` atomically; with `noReplace`, EEXIST if `to` exists. */
  rename(from: string, to: string, options: { noReplace?: boolean } = {}): Promise<StatJson> {
    return this.op(from, { op: "rename", to, ...options });
  }

  /** Server-side copy (files share their data; directories are copied recursively). */
  copy(from: string, to: string, options: { noReplace?: boolean } = {}): Promise<StatJson> {
    return this.op(from, { op: "copy", to, ...options });
  }

  /** Makes `path` a symlink to `target`. */
  symlink(path: string, target: string): Promise<StatJson> {
    return this.op(path, { op: "symlink", target });
  }

  /** Makes `path` another hard link to the file at `existing`. */
  link(existing: string, path: string): Promise<StatJson> {
    return this.op(existing, { op: "link", to: path });
  }

  /** Cuts or extends (with a hole) a file to `size` bytes. */
  truncate(path: string, size: number): Promise<StatJson> {
    return this.op(path, { op: "truncate", size });
  }

  /** Sets the permission bits. */
  chmod(path: string, mode: number): Promise<StatJson> {
    return this.op(path, { op: "chmod", mode });
  }

  /** Sets the owner and/or group. */
  chown(path: string, owner: { uid?: number; gid?: number }): Promise<StatJson> {
    return this.op(path, { op: "chown", ...owner });
  }

  /** Sets times (ms or Date); with neither, both become now. */
  utimes(
    path: string,
    times: { atime?: number | Date; mtime?: number | Date },
  ): Promise<StatJson> {
    const ms = (t: number | Date | undefined) => t instanceof Date ? t.getTime() : t;
    return this.op(path, { op: "utimes", atime: ms(times.atime), mtime: ms(times.mtime) });
  }

  /** Sets an extended attribute (`create`: must be new; `replace`: must exist). */
  setxattr(
    path: string,
    name: string,
    options: { value: Uint8Array | string; create?: boolean; replace?: boolean },
  ): Promise<StatJson> {
    const { value, ...flags } = options;
    const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
    const encoded = btoa(Array.from(bytes, (b) => String.fromCharCode(b)).join(""));
    return this.op(path, { op: "setxattr", name, value: encoded, ...flags });
  }

  /** One extended attribute's value. */
  async getxattr(path: string, name: string): Promise<Uint8Array> {
    const { value } = await this.#json<{ value: string }>("GET", this.url("xattr", path, { name }));
    return Uint8Array.from(atob(value), (c) => c.charCodeAt(0));
  }

  /** The names of a file's extended attributes. */
  async listxattr(path: string): Promise<string[]> {
    return (await this.#json<{ names: string[] }>("GET", this.url("xattr", path))).names;
  }

  /** Removes an extended attribute. */
  removexattr(path: string, name: string): Promise<StatJson> {
    return this.op(path, { op: "removexattr", name });
  }
}
