// Test harness for WebDAV: the whole app (createApp) over a fresh store, driven with
// app.request; a second instance over the same store on demand; requests named by
// filesystem path (each segment percent-encoded) and multistatus bodies parsed with the
// front end's own XML parser.

import type { Hono } from "hono";
import { createApp } from "../src/app.ts";
import type { Authenticator } from "../src/auth/mod.ts";
import { type ObjectStore, StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { DAV, parseXml, textOf, type XmlElement } from "../src/webdav/xml.ts";
import { assert, assertEquals } from "./_assert.ts";
import { contract } from "./_stores.ts";

export const ORIGIN = "http://localhost";

/** The request path of filesystem path `path` ("/a b/" -> "/dav/a%20b/"). */
export function davUrl(path: string): string {
  return "/dav" + path.split("/").map(encodeURIComponent).join("/");
}

/** The filesystem path an href names ("/dav/a%20b/" -> "/a b"); hrefs may be absolute URLs. */
export function pathOfHref(href: string): string {
  const pathname = href.startsWith("/") ? href : new URL(href).pathname;
  assert(pathname.startsWith("/dav/"), `href outside /dav/: ${href}`);
  const rest = pathname.slice("/dav".length).replace(/(.)\/$/, "$1");
  return rest.split("/").map(decodeURIComponent).join("/");
}

export interface SendOptions {
  readonly headers?: Record<string, string>;
  readonly body?: BodyInit | null;
  /** Use this raw request path instead of encoding the filesystem path. */
  readonly raw?: string;
}

/** One instance: an app over its own Vfs. */
export class Dav {
  readonly app: Hono;
  readonly vfs: Vfs;
  /** Headers sent with every request (credentials). */
  readonly #headers: Record<string, string>;

  constructor(
    vfs: Vfs,
    store: ObjectStore,
    options: {
      auth?: Authenticator;
      headers?: Record<string, string>;
      davInfinityMax?: number;
      trustForwarded?: boolean;
    } = {},
  ) {
    this.vfs = vfs;
    this.app = createApp({
      store,
      metrics: new StoreMetrics(),
      vfs,
      auth: options.auth ?? null,
      ...(options.davInfinityMax === undefined ? {} : { davInfinityMax: options.davInfinityMax }),
      ...(options.trustForwarded ? { trustForwarded: true } : {}),
    });
    this.#headers = options.headers ?? {};
  }

  /** `method` on filesystem path `path` (or options.raw). */
  async send(method: string, path: string, options: SendOptions = {}): Promise<Response> {
    const headers = { ...this.#headers, ...options.headers };
    const init: RequestInit & { duplex?: "half" } = { method, headers };
    if (options.body !== undefined) init.body = options.body;
    if (options.body instanceof ReadableStream) init.duplex = "half";
    return await this.app.request(ORIGIN + (options.raw ?? davUrl(path)), init);
  }

  /** The status of a request whose body does not matter. */
  async status(method: string, path: string, options: SendOptions = {}): Promise<number> {
    const res = await this.send(method, path, options);
    await res.body?.cancel();
    return res.status;
  }

  put(path: string, body: BodyInit, headers: Record<string, string> = {}): Promise<number> {
    return this.status("PUT", path, { body, headers });
  }

  mkcol(path: string): Promise<number> {
    return this.status("MKCOL", path);
  }

  /** The file's content through GET, or null when GET is 404. */
  async text(path: string): Promise<string | null> {
    const res = await this.send("GET", path);
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    assertEquals(res.status, 200, `GET ${path}`);
    return await res.text();
  }

  /** A PROPFIND (allprop when `props` is omitted), which must answer 207. */
  async propfind(
    path: string,
    depth: "0" | "1",
    body: string | null = null,
    headers: Record<string, string> = {},
  ): Promise<Multistatus> {
    const res = await this.send("PROPFIND", path, {
      headers: { depth, "content-type": "application/xml", ...headers },
      body,
    });
    const text = await res.text();
    assertEquals(res.status, 207, `PROPFIND ${path}: ${text}`);
    assertEquals(res.headers.get("content-type"), "application/xml; charset=utf-8");
    return parseMultistatus(text);
  }

  /** The names in collection `path`, sorted, through a Depth 1 PROPFIND. */
  async members(path: string): Promise<string[]> {
    const ms = await this.propfind(path, "1", propfindBody([[DAV, "resourcetype"]]));
    return [...ms.keys()].filter((p) => p !== path).map((p) => p.slice(p.lastIndexOf("/") + 1))
      .sort();
  }

  /** Takes a lock; returns the response, its token and body. */
  async lock(
    path: string,
    options: {
      scope?: "exclusive" | "shared";
      depth?: "0" | "infinity";
      timeout?: string;
      owner?: string;
      headers?: Record<string, string>;
    } = {},
  ): Promise<{ status: number; token: string | null; body: string; headers: Headers }> {
    const headers: Record<string, string> = {
      "content-type": "application/xml",
      ...(options.depth ? { depth: options.depth } : {}),
      ...(options.timeout ? { timeout: options.timeout } : {}),
      ...options.headers,
    };
    const res = await this.send("LOCK", path, {
      headers,
      body: lockinfo(options.scope ?? "exclusive", options.owner ?? null),
    });
    const token = res.headers.get("lock-token")?.replace(/^<(.*)>$/, "$1") ?? null;
    return { status: res.status, token, body: await res.text(), headers: res.headers };
  }

  unlock(path: string, token: string): Promise<number> {
    return this.status("UNLOCK", path, { headers: { "lock-token": `<${token}>` } });
  }
}

/** A store served by two instances, as two servers on one bucket. */
export interface DavFixture {
  readonly store: ObjectStore;
  /** The first instance. */
  readonly a: Dav;
  /** A second instance over the same store, opened on first use. */
  b(): Promise<Dav>;
}

/** Registers `fn` once per backend (memory and S3 unless named). */
export function davTest(
  name: string,
  fn: (t: DavFixture) => Promise<void>,
  options: { backends?: readonly string[] } = {},
): void {
  contract(name, async (store) => {
    const a = new Dav(await Vfs.open(store), store);
    let second: Dav | null = null;
    await fn({
      store,
      a,
      b: async () => second ??= new Dav(await Vfs.open(store), store),
    });
  }, { backends: options.backends ?? ["memory", "s3"] });
}

/** One `DAV:response` of a multistatus. */
export interface DavResponse {
  readonly href: string;
  /** The response-level status (DELETE, COPY failures), or null when it has propstats. */
  readonly status: number | null;
  /** Every property named, by Clark name, with its propstat's status. */
  readonly props: Map<string, { status: number; element: XmlElement }>;
}

/** Responses of a multistatus by filesystem path (decoded from the hrefs). */
export type Multistatus = Map<string, DavResponse>;

function statusCode(el: XmlElement): number {
  const match = /^HTTP\/1\.1 (\d{3})( |$)/.exec(textOf(el).trim());
  assert(match, `bad status line "${textOf(el)}"`);
  return Number(match[1]);
}

/** Elements among `el`'s children (text dropped). */
export function kids(el: XmlElement, ns?: string, name?: string): XmlElement[] {
  return el.children.filter((c): c is XmlElement =>
    typeof c !== "string" && (ns === undefined || c.ns === ns) &&
    (name === undefined || c.name === name)
  );
}

/** The one child `ns:name` of `el`. */
export function child(el: XmlElement, ns: string, name: string): XmlElement {
  const found = kids(el, ns, name);
  assertEquals(found.length, 1, `expected one {${ns}}${name} in {${el.ns}}${el.name}`);
  return found[0]!;
}

export function parseMultistatus(text: string): Multistatus {
  const root = parseXml(text);
  assertEquals([root.ns, root.name], [DAV, "multistatus"]);
  const out: Multistatus = new Map();
  for (const response of kids(root, DAV, "response")) {
    const hrefs = kids(response, DAV, "href");
    assertEquals(hrefs.length, 1, "one href per response");
    const href = textOf(hrefs[0]!);
    const props = new Map<string, { status: number; element: XmlElement }>();
    for (const ps of kids(response, DAV, "propstat")) {
      const status = statusCode(child(ps, DAV, "status"));
      for (const element of kids(child(ps, DAV, "prop"))) {
        props.set(`{${element.ns}}${element.name}`, { status, element });
      }
    }
    const statuses = kids(response, DAV, "status");
    const path = pathOfHref(href);
    assert(!out.has(path), `two responses for ${path}`);
    out.set(path, { href, status: statuses[0] ? statusCode(statuses[0]) : null, props });
  }
  return out;
}

/** The response for `path` in `ms`. */
export function responseOf(ms: Multistatus, path: string): DavResponse {
  const r = ms.get(path);
  assert(r, `no response for ${path} among ${[...ms.keys()].join(", ")}`);
  return r;
}

/** The value element of property `{ns}name` of `path`, which must be 200. */
export function prop(ms: Multistatus, path: string, ns: string, name: string): XmlElement {
  const p = responseOf(ms, path).props.get(`{${ns}}${name}`);
  assert(p, `no {${ns}}${name} for ${path}`);
  assertEquals(p.status, 200, `status of {${ns}}${name} for ${path}`);
  return p.element;
}

/** A `propfind` body asking for the named properties. */
export function propfindBody(names: readonly (readonly [string, string])[]): string {
  const props = names.map(([ns, name], i) => `<p${i}:${name} xmlns:p${i}="${ns}"/>`).join("");
  return `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>${props}</D:prop></D:propfind>`;
}

/** A `lockinfo` body; `owner` is raw XML inside `D:owner`. */
export function lockinfo(scope: "exclusive" | "shared", owner: string | null): string {
  return `<?xml version="1.0" encoding="utf-8"?><D:lockinfo xmlns:D="DAV:">` +
    `<D:lockscope><D:${scope}/></D:lockscope><D:locktype><D:write/></D:locktype>` +
    (owner === null ? "" : `<D:owner>${owner}</D:owner>`) + `</D:lockinfo>`;
}

/** An element tree without whitespace-only text, for comparing parsed values. */
export function tree(el: XmlElement): unknown {
  return {
    ns: el.ns,
    name: el.name,
    attrs: el.attrs,
    children: el.children
      .filter((c) => typeof c !== "string" || c.trim() !== "")
      .map((c) => typeof c === "string" ? c : tree(c)),
  };
}

/** A request to the HTTP API of `dav`'s app (the same VFS as its WebDAV). */
export async function api(
  dav: Dav,
  method: string,
  path: string,
  init: { body?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; text: string }> {
  const res = await dav.app.request(`${ORIGIN}/api/v1/fs${path}`, { method, ...init });
  return { status: res.status, text: await res.text() };
}

/** A JSON request body for {@linkcode api}. */
export function json(body: unknown): { body: string; headers: Record<string, string> } {
  return { body: JSON.stringify(body), headers: { "content-type": "application/json" } };
}
