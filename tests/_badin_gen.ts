// The generator of tests/bad_input_fuzz_test.ts: valid requests of every front end (HTTP
// file API, WebDAV, tus, the UI and share links, health and metrics), each mutated in its
// path, headers, body or framing by a seeded PRNG. Case `i` of seed `s` draws from its own
// generator (seeded by both), so one case can be rebuilt alone from its two numbers.

/** What the requests need to know about the seeded server. */
export interface GenContext {
  readonly port: number;
  /** Authorization values: the unlimited user, alice (limited to /home/alice), a reader. */
  readonly auth: {
    readonly root: string;
    readonly alice: string;
    readonly reader: string;
    readonly aliceToken: string;
  };
  /** The root user's password (for the sign-in form). */
  readonly password: string;
  /** A share link's token for /docs. */
  share: string;
  /** The path of an unfinished upload (1 MiB long) and its offset. */
  upload: string;
  uploadOffset: number;
}

/** One request, kept in parts until it is written out. */
export interface FuzzRequest {
  /** Which template it came from, e.g. "dav LOCK". */
  readonly base: string;
  method: string;
  /** The raw path (no query), exactly as it goes on the request line. */
  path: string;
  /** The raw query with its "?", or "". */
  query: string;
  headers: [string, string][];
  body: Uint8Array;
  /** "auto": the body's true length when there is a body or the method sends one. */
  contentLength: "auto" | "none";
  halfClose: boolean;
  /** What was done to it, for the report. */
  readonly mutations: string[];
  /**
   * Facts the checks need: "foreign-destination", "transfer-coding", "chunked-cut",
   * "climb:<segment>", "upload".
   */
  readonly tags: Set<string>;
}

const encoder = new TextEncoder();

/** mulberry32: small, fast and good enough to pick mutations. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The generator of case `index` of run `seed`. */
export function caseRng(seed: number, index: number): () => number {
  return prng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(index + 1, 0xc2b2ae35));
}

type Rng = () => number;
const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;

const b64 = (s: string) => btoa(String.fromCharCode(...encoder.encode(s)));
export const tusMetadata = (fields: Record<string, string>) =>
  Object.entries(fields).map(([k, v]) => `${k} ${b64(v)}`).join(",");

const XML = "application/xml; charset=utf-8";
const JSON_TYPE = "application/json";
const PROPFIND_ALL = `<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:">` +
  `<D:allprop/></D:propfind>`;
const PROPFIND_SOME = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:Z="urn:z">` +
  `<D:prop><D:getcontentlength/><D:resourcetype/><D:lockdiscovery/><Z:p/></D:prop></D:propfind>`;
const PROPPATCH = `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">` +
  `<D:set><D:prop><Z:p>value</Z:p></D:prop></D:set><D:remove><D:prop><Z:q/></D:prop>` +
  `</D:remove></D:propertyupdate>`;
const LOCKINFO = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>` +
  `</D:lockscope><D:locktype><D:write/></D:locktype><D:owner><D:href>fuzz</D:href></D:owner>` +
  `</D:lockinfo>`;
const SEARCH = `<?xml version="1.0"?><D:searchrequest xmlns:D="DAV:"><D:basicsearch>` +
  `<D:select><D:allprop/></D:select><D:from><D:scope><D:href>/dav/</D:href>` +
  `<D:depth>infinity</D:depth></D:scope></D:from></D:basicsearch></D:searchrequest>`;

type Template = (ctx: GenContext) => Omit<FuzzRequest, "mutations" | "tags" | "halfClose">;

function req(
  base: string,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body: string | Uint8Array = "",
): Omit<FuzzRequest, "mutations" | "tags" | "halfClose"> {
  const q = target.indexOf("?");
  return {
    base,
    method,
    path: q < 0 ? target : target.slice(0, q),
    query: q < 0 ? "" : target.slice(q),
    headers: Object.entries(headers),
    body: typeof body === "string" ? encoder.encode(body) : body,
    contentLength: "auto",
  };
}

const A = "/docs/a.txt";
const post = (op: Record<string, unknown>, path = A) => (c: GenContext) =>
  req(`api POST ${op.op}`, "POST", `/api/v1/fs${path}`, {
    authorization: c.auth.root,
    "content-type": JSON_TYPE,
  }, JSON.stringify(op));
const root = (c: GenContext) => ({ authorization: c.auth.root });
const dest = (c: GenContext, path: string) => `http://127.0.0.1:${c.port}/dav${path}`;
const tus = (c: GenContext, extra: Record<string, string> = {}) => ({
  ...root(c),
  "tus-resumable": "1.0.0",
  ...extra,
});

/** Valid requests, one per route and method worth mutating. */
export const TEMPLATES: readonly Template[] = [
  // The HTTP file API.
  (c) => req("api GET file", "GET", `/api/v1/fs${A}`, { ...root(c), range: "bytes=0-2" }),
  (c) => req("api GET listing", "GET", "/api/v1/fs/docs/?limit=2", root(c)),
  (c) => req("api HEAD", "HEAD", `/api/v1/fs${A}`, root(c)),
  (c) => req("api PUT new", "PUT", "/api/v1/fs/docs/new.txt", root(c), "fresh"),
  (c) => req("api PUT over", "PUT", `/api/v1/fs${A}?parents=1`, root(c), "alpha"),
  (c) => req("api PATCH offset", "PATCH", `/api/v1/fs${A}?offset=1`, root(c), "L"),
  (c) =>
    req("api PATCH range", "PATCH", `/api/v1/fs${A}`, {
      ...root(c),
      "content-range": "bytes 0-1/*",
    }, "al"),
  (c) => req("api PATCH append", "PATCH", `/api/v1/fs${A}?append=1`, root(c), ""),
  (c) => req("api DELETE", "DELETE", "/api/v1/fs/docs/b.txt", root(c)),
  (c) => req("api DELETE tree", "DELETE", "/api/v1/fs/docs/sub?recursive=1", root(c)),
  post({ op: "mkdir" }, "/docs/newdir"),
  post({ op: "mkdir", parents: true }, "/docs/x/y"),
  post({ op: "rename", to: "/docs/b2.txt" }, "/docs/b.txt"),
  post({ op: "copy", to: "/docs/a-copy.txt" }),
  post({ op: "link", to: "/docs/a-link.txt" }),
  post({ op: "symlink", target: "a.txt" }, "/docs/l2"),
  post({ op: "setxattr", name: "user.k", value: btoa("v") }),
  post({ op: "removexattr", name: "user.k" }),
  post({ op: "truncate", size: 2 }),
  post({ op: "chmod", mode: 0o600 }),
  post({ op: "chown", uid: 1, gid: 1 }),
  post({ op: "utimes", mtime: 1_000_000 }),
  (c) => req("api stat", "GET", `/api/v1/stat${A}`, root(c)),
  (c) => req("api readlink", "GET", "/api/v1/readlink/docs/link", root(c)),
  (c) => req("api xattr", "GET", `/api/v1/xattr${A}?name=user.k`, root(c)),
  (c) => req("api statfs", "GET", "/api/v1/statfs", root(c)),
  (c) => req("api openapi", "GET", "/api/v1/openapi.json", root(c)),
  (c) => req("api zip", "GET", "/api/v1/zip/docs/?name=a.txt&name=sub", root(c)),
  // WebDAV.
  (c) => req("dav OPTIONS", "OPTIONS", "/dav/", root(c)),
  (c) => req("dav GET", "GET", `/dav${A}`, { ...root(c), range: "bytes=1-" }),
  (c) => req("dav HEAD", "HEAD", `/dav${A}`, root(c)),
  (c) => req("dav PUT", "PUT", "/dav/docs/dav-new.txt", root(c), "dav body"),
  (c) =>
    req("dav PUT range", "PUT", `/dav${A}`, { ...root(c), "content-range": "bytes 0-1/*" }, "AL"),
  (c) => req("dav DELETE", "DELETE", "/dav/docs/b.txt", root(c)),
  (c) => req("dav MKCOL", "MKCOL", "/dav/docs/newcol/", root(c)),
  (c) =>
    req("dav COPY", "COPY", `/dav${A}`, {
      ...root(c),
      destination: dest(c, "/docs/a-copy.txt"),
      overwrite: "F",
    }),
  (c) =>
    req("dav COPY tree", "COPY", "/dav/docs/sub/", {
      ...root(c),
      destination: dest(c, "/docs/sub-copy/"),
      depth: "infinity",
    }),
  (c) =>
    req("dav MOVE", "MOVE", "/dav/docs/b.txt", { ...root(c), destination: "/dav/docs/b3.txt" }),
  (c) =>
    req(
      "dav PROPFIND",
      "PROPFIND",
      "/dav/docs/",
      { ...root(c), depth: "1", "content-type": XML },
      PROPFIND_ALL,
    ),
  (c) =>
    req("dav PROPFIND prop", "PROPFIND", `/dav${A}`, {
      ...root(c),
      depth: "0",
      "content-type": XML,
    }, PROPFIND_SOME),
  (c) =>
    req("dav PROPPATCH", "PROPPATCH", `/dav${A}`, { ...root(c), "content-type": XML }, PROPPATCH),
  (c) =>
    req("dav LOCK", "LOCK", `/dav${A}`, {
      ...root(c),
      "content-type": XML,
      timeout: "Second-60",
      depth: "0",
    }, LOCKINFO),
  (c) =>
    req("dav LOCK tree", "LOCK", "/dav/docs/sub/", {
      ...root(c),
      "content-type": XML,
      depth: "infinity",
    }, LOCKINFO),
  (c) =>
    req("dav UNLOCK", "UNLOCK", `/dav${A}`, {
      ...root(c),
      "lock-token": "<urn:uuid:6f1c2d1e-0000-4000-8000-000000000000>",
    }),
  (c) => req("dav SEARCH", "SEARCH", "/dav/docs/", { ...root(c), "content-type": XML }, SEARCH),
  // tus.
  (c) => req("tus OPTIONS", "OPTIONS", "/api/v1/uploads/", tus(c)),
  (c) =>
    req(
      "tus create",
      "POST",
      "/api/v1/uploads/",
      tus(c, {
        "upload-length": "5",
        "upload-metadata": tusMetadata({ path: "/docs/tus-new.txt" }),
      }),
    ),
  (c) =>
    req(
      "tus create in dir",
      "POST",
      "/api/v1/uploads",
      tus(c, {
        "upload-length": "3",
        "upload-metadata": tusMetadata({ filename: "t.txt", dir: "/docs" }),
        "content-type": "application/offset+octet-stream",
      }),
      "abc",
    ),
  (c) =>
    req(
      "tus create deferred",
      "POST",
      "/api/v1/uploads/",
      tus(c, {
        "upload-defer-length": "1",
        "upload-metadata": tusMetadata({ path: "/docs/tus-deferred.txt", ifNoneMatch: "*" }),
      }),
    ),
  (c) => req("tus HEAD", "HEAD", c.upload, tus(c)),
  (c) =>
    req(
      "tus PATCH",
      "PATCH",
      c.upload,
      tus(c, {
        "upload-offset": String(c.uploadOffset),
        "content-type": "application/offset+octet-stream",
      }),
      "chunk",
    ),
  (c) =>
    req(
      "tus PATCH override",
      "POST",
      c.upload,
      tus(c, {
        "x-http-method-override": "PATCH",
        "upload-offset": String(c.uploadOffset),
        "content-type": "application/offset+octet-stream",
      }),
      "chunk",
    ),
  (c) => req("tus DELETE", "DELETE", c.upload, tus(c)),
  // The browser UI and share links.
  (c) => req("ui page", "GET", "/", root(c)),
  () => req("ui login page", "GET", "/ui/login?next=%2Fdocs"),
  (c) =>
    req("ui login", "POST", "/ui/login", {
      "content-type": "application/x-www-form-urlencoded",
      origin: `http://127.0.0.1:${c.port}`,
      "sec-fetch-site": "same-origin",
    }, `user=root&password=${encodeURIComponent(c.password)}&next=%2F`),
  () =>
    req("ui logout", "POST", "/ui/logout", {
      "content-type": "application/x-www-form-urlencoded",
      cookie: "pagefs_session=v1.e30.AAAA",
    }, "csrf=x"),
  (c) =>
    req(
      "ui share",
      "POST",
      "/ui/share",
      { ...root(c), "content-type": JSON_TYPE },
      JSON.stringify({ path: A, seconds: 3600 }),
    ),
  (c) =>
    req(
      "ui revoke",
      "POST",
      "/ui/share/revoke",
      { ...root(c), "content-type": JSON_TYPE },
      JSON.stringify({ path: "/docs/sub" }),
    ),
  (c) => req("share listing", "GET", `/s/${c.share}/`),
  (c) => req("share file", "GET", `/s/${c.share}/a.txt`, { range: "bytes=0-1" }),
  (c) => req("share deep", "GET", `/s/${c.share}/sub/c.txt`),
  (c) => req("share bare", "GET", `/s/${c.share}`),
  (c) =>
    req("share password", "POST", `/s/${c.share}/`, {
      "content-type": "application/x-www-form-urlencoded",
    }, "password=x"),
  () => req("ui asset", "GET", "/ui/assets/0/app.js"),
  // Health and metrics.
  () => req("healthz", "GET", "/healthz"),
  () => req("readyz", "GET", "/readyz"),
  (c) => req("metrics", "GET", "/metrics", root(c)),
];

/** Segments that climb in some spelling: a request holding one must be refused. */
const CLIMB = [
  "..",
  "%2e%2e",
  "%2E%2e",
  ".%2e",
  "%2e.",
  "%252e%252e",
  "..;",
  "..;x=1",
  "%c0%ae%c0%ae",
  "%e0%80%ae%e0%80%ae",
  "..%2f",
  "..%5c",
  "..\\",
  "%2e%2e%5c",
  "..%252f",
  "..%c0%af",
];
/** Other bad or odd segments. */
const ODD = [
  ".",
  "%2e",
  "",
  "%00",
  "a%00b",
  "%2f",
  "a%2fb",
  "%5c",
  "a\\b",
  "%ff",
  "%c0%af",
  "%ed%a0%80",
  "%fe%ff",
  "%",
  "%g1",
  "%2",
  "%25",
  "%252f",
  "name.",
  "name ",
  "name%20",
  "name...",
  "%20",
  "x;y=1",
  "%3b",
  ";",
  "caf%C3%A9.txt",
  "cafe%CC%81.txt",
  "caf\u00e9.txt",
  "cafe\u0301.txt",
  "%e2%80%ae",
  "%ef%bb%bf",
  "CON",
  "a#b",
  "%23",
  "?",
  "%3f",
  "*",
  "~",
  "%7e",
  ".pagefs-uploads",
  "%2epagefs-uploads",
  "a\tb",
  "\u007f",
];

function segments(path: string): string[] {
  return path.split("/");
}

function mutatePath(r: FuzzRequest, rng: Rng, port: number): void {
  const segs = segments(r.path);
  const at = 1 + Math.floor(rng() * Math.max(1, segs.length - 1));
  const kind = Math.floor(rng() * 12);
  const note = (what: string) => r.mutations.push(`path ${what}`);
  switch (kind) {
    case 0:
    case 1: {
      const s = pick(rng, CLIMB);
      segs.splice(at, 0, s);
      r.tags.add(`climb:${s}`);
      note(`insert ${JSON.stringify(s)}`);
      break;
    }
    case 2:
    case 3: {
      const s = pick(rng, ODD);
      segs.splice(at, rng() < 0.5 ? 1 : 0, s);
      note(`odd ${JSON.stringify(s)}`);
      break;
    }
    case 4: {
      const s = pick(rng, CLIMB);
      segs[segs.length - 1] = (segs[segs.length - 1] ?? "") + s;
      note(`suffix ${JSON.stringify(s)}`);
      break;
    }
    case 5: {
      // Overlong: a name over 255 bytes, or a path over 4096.
      const which = pick(rng, ["name", "utf8 name", "path", "huge path"]);
      if (which === "name") segs.splice(at, 0, "n".repeat(256));
      else if (which === "utf8 name") segs.splice(at, 0, "%C3%A9".repeat(128));
      else if (which === "path") segs.splice(at, 0, ...Array(21).fill("p".repeat(200)));
      else segs.splice(at, 0, ...Array(400).fill("q".repeat(200)));
      note(`overlong ${which}`);
      break;
    }
    case 6: {
      const p = pick(rng, [";a=b", ";", ";jsessionid=1", ";%2e%2e", ";/../x"]);
      segs[at] = (segs[at] ?? "") + p;
      note(`params ${JSON.stringify(p)}`);
      break;
    }
    case 7: {
      const q = pick(rng, [
        "?",
        "?%zz",
        "?a=%ff",
        "?offset=-1",
        "?offset=99999999999999999999",
        "?limit=0",
        "?limit=abc",
        "?parents=yes",
        "?recursive=maybe",
        "?append=1&offset=0",
        "?name=../../etc",
        "?name=%00",
        "?cursor=%ff%fe",
        "?&&&==",
        "?next=//evil.example",
        "?next=javascript:alert(1)",
        "?follow=2",
        "?x=" + "y".repeat(10_000),
        "?mtime=-1",
        "?create=no",
      ]);
      r.query = rng() < 0.5 ? q : r.query + (r.query ? "&" : "") + q.slice(1);
      note(`query ${JSON.stringify(q.slice(0, 40))}`);
      break;
    }
    case 8:
      segs.splice(at, 0, "");
      note("empty segment");
      break;
    case 9: {
      const prefix = pick(rng, [
        "http://other.example",
        `http://127.0.0.1:${port}`,
        "https://127.0.0.1",
        "//other.example",
        "http://user:pw@127.0.0.1",
      ]);
      r.path = prefix + r.path;
      // The server then judges a Destination against that authority: 502 is its answer.
      if (prefix !== `http://127.0.0.1:${port}`) r.tags.add("foreign-destination");
      note(`absolute-form ${prefix}`);
      return;
    }
    case 10: {
      const last = segs.length - 1;
      if (segs[last] === "") segs.pop();
      else segs.push(pick(rng, ["", "", "x"]));
      note("trailing slash flipped");
      break;
    }
    default: {
      const f = pick(rng, ["#", "#frag", "#/../../x", "%23x"]);
      segs[segs.length - 1] = (segs[segs.length - 1] ?? "") + f;
      note(`fragment ${JSON.stringify(f)}`);
    }
  }
  r.path = segs.join("/");
}

function setHeader(r: FuzzRequest, name: string, value: string | null): void {
  r.headers = r.headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase());
  if (value !== null) r.headers.push([name, value]);
}

export function headerOf(r: FuzzRequest, name: string): string | undefined {
  return r.headers.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];
}

/** Header mutations: a name and the values it may take (null: remove it). */
function headerChoices(r: FuzzRequest, port: number): [string, (string | null)[]][] {
  const here = `http://127.0.0.1:${port}`;
  return [
    ["depth", ["0", "1", "infinity", "2", "-1", "", "Infinity", "1, 0", "0 ", null]],
    ["overwrite", ["T", "F", "t", "X", "", "TF", null]],
    ["destination", [
      "http://evil.example/dav/docs/x",
      "x",
      "../x",
      "/dav/../etc",
      "/dav/docs/%2e%2e/%2e%2e/x",
      "ftp://127.0.0.1/dav/x",
      "",
      null,
      `${here}/api/v1/fs/docs/x`,
      `${here}/dav/docs/` + "d".repeat(5000),
      `${here}${r.path}`,
      `${here}/dav/docs`,
      `${here}/dav/docs/sub/inside`,
      `${here}/dav/docs/a%00b`,
      `${here}/dav/docs/%ff`,
      `http://[::1]:${port}/dav/docs/x`,
      `http://user@127.0.0.1:${port}/dav/docs/x`,
      `${here}/dav/docs/x?y=1#z`,
      `${here}/dav/`,
      `${here}/dav`,
      "/dav/home/bob/x",
      "http://127.0.0.1:1/dav/docs/x",
      "urn:x",
      "http://",
      "/dav/docs/x\\..\\..\\y",
    ]],
    ["if", [
      "garbage",
      "(<urn:uuid:x>)",
      "<http://evil.example/> (<x>)",
      "(Not <DAV:no-lock>)",
      "(",
      "((",
      "(<" + "z".repeat(10_000) + ">)",
      '(["etag"])',
      "(<opaquelocktoken:",
      "<>(<x>)",
      "(Not)",
      '(["x"] ["y"]) (Not <DAV:no-lock> ["z"])',
      `<${here}/dav/docs/a.txt> (<urn:uuid:6f1c2d1e-0000-4000-8000-000000000000>)`,
    ]],
    ["if-match", ["garbage", "*", '""', 'W/"x"', ",", '"x", *', '"' + "e".repeat(5000) + '"']],
    ["if-none-match", ["*", "garbage", 'W/"x"', '"x"', ", ,", "*, *"]],
    ["if-unmodified-since", [
      "garbage",
      "Thu, 01 Jan 1970 00:00:00 GMT",
      "99999999999",
      "Sun, 06 Nov 2994 08:49:37 GMT",
      "",
    ]],
    ["if-modified-since", ["garbage", "Sun, 06 Nov 2994 08:49:37 GMT", "-1"]],
    ["if-range", ["garbage", '"x"', "Thu, 01 Jan 1970 00:00:00 GMT"]],
    ["lock-token", [
      "garbage",
      "<>",
      "<urn:uuid:00000000-0000-0000-0000-000000000000>",
      "urn:uuid:x",
      "<" + "t".repeat(5000) + ">",
      "<opaquelocktoken:x>, <y>",
      null,
    ]],
    ["timeout", [
      "Second-abc",
      "Infinite",
      "Second-99999999999999999999",
      "Second--1",
      "",
      "Second-0",
      "Infinite, Second-4100000000",
      "Second-1e3",
    ]],
    ["range", [
      "bytes=0-0,1-1,2-2",
      "bytes=5-2",
      "bytes=0-99999999999999999999",
      "bytes=-1-2",
      "bytes=-0",
      "bytes=",
      "items=0-1",
      "bytes=" + Array.from({ length: 2000 }, (_, i) => `${i}-${i}`).join(","),
      "bytes=1-0",
      "bytes=9007199254740993-",
      "bytes=0-1, 0-1",
      "bytes= 0 - 1",
    ]],
    ["content-range", [
      "bytes 0-4/*",
      "bytes 5-2/*",
      "bytes */10",
      "bytes 0-99999999999999999999/*",
      "garbage",
      "bytes -1-2/*",
      "bytes 0-1/0",
      "bytes 9007199254740990-9007199254740994/*",
    ]],
    ["content-type", [
      "application/xml; charset=latin1",
      "text/plain",
      "garbage",
      "application/json; charset=utf-16",
      "multipart/form-data; boundary=",
      "multipart/form-data; boundary=x",
      "application/x-www-form-urlencoded",
      "application/offset+octet-stream",
      "a/" + "b".repeat(5000),
      "",
      null,
    ]],
    ["upload-offset", ["-1", "abc", "1e3", "99999999999999999999", "", "0, 0", " 0", null]],
    ["upload-length", ["-1", "abc", "0", "99999999999999999999", "", "1125899906842625", null]],
    ["upload-metadata", [
      "path",
      "path !!!",
      tusMetadata({ path: "../x" }),
      tusMetadata({ path: "/docs/../x" }),
      tusMetadata({ filename: "\0" }),
      tusMetadata({ filename: "..", dir: "/docs" }),
      tusMetadata({ path: "/docs/a.txt/x" }),
      tusMetadata({ path: "/.pagefs-uploads/x" }),
      tusMetadata({ path: "/docs/" + "n".repeat(300) }),
      tusMetadata({ path: "/docs/x", ifMatch: "garbage garbage" }),
      tusMetadata({ path: "/docs/x", ifNoneMatch: "no" }),
      "path " + b64("/docs/a") + ",path " + b64("/docs/b"),
      ",",
      "path " + "A".repeat(20_000),
      "a b c",
      "path " + b64("/docs/\udc00x"),
      "p\u00e9 " + b64("/x"),
    ]],
    ["upload-defer-length", ["1", "0", "x", ""]],
    ["tus-resumable", ["0.2.2", "", "garbage", "1.0.0, 1.0.0", null]],
    ["x-http-method-override", ["PATCH", "DELETE", "HEAD", "GET", "PROPFIND", "", "patch "]],
    ["expect", ["100-continue", "garbage"]],
    ["cookie", [
      "pagefs_session=v1.x.y",
      "pagefs_session=" + "c".repeat(5000),
      "pagefs_session=; pagefs_session=v1..",
      "pagefs_unlock=x",
    ]],
    ["x-csrf-token", ["garbage", ""]],
    ["origin", ["http://evil.example", "null", ""]],
    ["sec-fetch-site", ["cross-site", "none", "garbage"]],
    ["x-forwarded-proto", ["https", "garbage"]],
    ["forwarded", ['host="evil.example";proto=https', "garbage", "host="]],
    ["x-forwarded-host", ["evil.example", "", "a b"]],
    ["x-oc-mtime", ["-5", "abc", "99999999999999999999", "1e3"]],
    ["accept-encoding", ["gzip", "br;q=garbage", "*;q=0"]],
    ["accept", ["application/json", "garbage", "*/*;q=x"]],
  ];
}

function mutateHeader(r: FuzzRequest, rng: Rng, ctx: GenContext): void {
  const roll = rng();
  if (roll < 0.12) {
    const value = pick(rng, [
      null,
      "Basic " + btoa("root:wrong"),
      "Basic !!!notbase64",
      "Basic " + btoa("root"),
      "Basic ",
      "Bearer ",
      "Bearer wrong-token",
      "Digest username=root",
      "basic " + btoa(":"),
      "Basic " + "A".repeat(5000),
      ctx.auth.alice,
      ctx.auth.reader,
      ctx.auth.aliceToken,
      ctx.auth.root + ", " + ctx.auth.root,
      "Basic " + btoa("root:" + ctx.password + "\u0000"),
    ]);
    setHeader(r, "authorization", value);
    r.mutations.push(`authorization ${value === null ? "removed" : value.slice(0, 30)}`);
    return;
  }
  if (roll < 0.2) {
    // A header given twice, the second time with another value.
    const [name, value] = r.headers.length ? pick(rng, r.headers) : ["depth", "1"];
    r.headers.push([name, pick(rng, [value, value + "x", "", "0", "*"])]);
    r.mutations.push(`duplicate ${name}`);
    return;
  }
  if (roll < 0.24) {
    const what = pick(rng, ["huge value", "many headers", "bad name", "host"]);
    if (what === "huge value") r.headers.push(["x-big", "v".repeat(70_000)]);
    else if (what === "many headers") {
      for (let i = 0; i < 300; i++) r.headers.push([`x-h${i}`, "v"]);
    } else if (what === "bad name") r.headers.push(["x bad", "v"]);
    else {
      const host = pick(rng, ["evil.example", "", "127.0.0.1:1", "a b", "[::1"]);
      r.headers.unshift(["host", host]);
      r.tags.add("foreign-destination");
    }
    r.mutations.push(`headers ${what}`);
    return;
  }
  const choices = headerChoices(r, ctx.port);
  const [name, values] = pick(rng, choices);
  const value = pick(rng, values);
  setHeader(r, name, value);
  if (
    name === "destination" && value !== null && /^https?:\/\/(?!127\.0\.0\.1:\d+\/)/.test(value)
  ) {
    r.tags.add("foreign-destination");
  }
  if (name === "destination" && value?.startsWith("http://127.0.0.1:1/")) {
    r.tags.add("foreign-destination");
  }
  r.mutations.push(`${name}: ${value === null ? "(removed)" : JSON.stringify(value.slice(0, 50))}`);
}

function nested(depth: number): string {
  return `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>` + "<a>".repeat(depth) +
    "</a>".repeat(depth) + `</D:prop></D:propfind>`;
}

const LAUGHS = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">` +
  Array.from(
    { length: 9 },
    (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? "" : i};`.repeat(10)}">`,
  ).join("") +
  `]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol9;</D:displayname></D:prop>` +
  `</D:propfind>`;

/** Bodies: malformed or hostile XML, JSON and form data, bytes that are not UTF-8. */
function mutateBody(r: FuzzRequest, rng: Rng): void {
  const choice = Math.floor(rng() * 28);
  const text = (s: string) => encoder.encode(s);
  let body: Uint8Array;
  let what: string;
  switch (choice) {
    case 0:
      [body, what] = [text("<"), "xml <"];
      break;
    case 1:
      [body, what] = [text(`<?xml version='1.0'?><D:propfind xmlns:D='DAV:'>`), "xml unclosed"];
      break;
    case 2:
      [body, what] = [text(`<D:propfind xmlns:D="DAV:"><D:prop></D:propfind>`), "xml mismatched"];
      break;
    case 3:
      [body, what] = [
        text(
          `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` +
            `<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:p>&e;</Z:p>` +
            `</D:prop></D:set></D:propertyupdate>`,
        ),
        "xxe",
      ];
      break;
    case 4:
      [body, what] = [text(LAUGHS), "billion laughs"];
      break;
    case 5:
      [body, what] = [text(nested(pick(rng, [1000, 20_000, 100_000]))), "deep nesting"];
      break;
    case 6: {
      const n = pick(rng, [300, 70_000, 600_000]);
      body = text(
        `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>` +
          `<Z:${"p".repeat(n)}>v</Z:${"p".repeat(n)}></D:prop></D:set></D:propertyupdate>`,
      );
      what = `huge property name ${n}`;
      break;
    }
    case 7: {
      const n = pick(rng, [70_000, 900_000, 2_000_000]);
      body = text(
        `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>` +
          `<Z:p>${"v".repeat(n)}</Z:p></D:prop></D:set></D:propertyupdate>`,
      );
      what = `huge property value ${n}`;
      break;
    }
    case 8:
      [body, what] = [
        text(`<?xml version="1.0"?><D:propfind xmlns:D="urn:not-dav"><D:allprop/></D:propfind>`),
        "wrong namespace",
      ];
      break;
    case 9:
      [body, what] = [
        text(`<?xml version="1.0"?><propfind><allprop/></propfind>`),
        "no namespace",
      ];
      break;
    case 10:
      [body, what] = [
        new Uint8Array([0x3c, 0x3f, 0x78, 0xff, 0xfe, 0xc0, 0xae, 0x3e]),
        "not UTF-8",
      ];
      break;
    case 11:
      [body, what] = [new Uint8Array([0xff, 0xfe, 0x3c, 0x00, 0x61, 0x00]), "UTF-16 BOM"];
      break;
    case 12:
      [body, what] = [
        text(
          `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>` +
            `<D:getcontentlength>5</D:getcontentlength><D:resourcetype/></D:prop></D:set>` +
            `</D:propertyupdate>`,
        ),
        "protected properties",
      ];
      break;
    case 13:
      [body, what] = [
        text(
          `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set>` +
            `<D:prop><Z:p xml:lang="&#0;">\u0000</Z:p></D:prop></D:set></D:propertyupdate>`,
        ),
        "NUL in XML",
      ];
      break;
    case 14:
      [body, what] = [
        text(
          `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>` +
            `<D:shared/></D:lockscope><D:locktype><D:read/></D:locktype></D:lockinfo>`,
        ),
        "lockinfo both scopes",
      ];
      break;
    case 15:
      [body, what] = [
        text(
          `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:owner>` + "<x>".repeat(5000) +
            "</x>".repeat(5000) + `</D:owner></D:lockinfo>`,
        ),
        "lockinfo deep owner",
      ];
      break;
    case 16:
      [body, what] = [text("{"), "json {"];
      break;
    case 17:
      [body, what] = [text("[".repeat(100_000) + "]".repeat(100_000)), "json deep arrays"];
      break;
    case 18:
      [body, what] = [text('{"op":"mkdir","op":"rmdir"}'), "json repeated op"];
      break;
    case 19:
      [body, what] = [text('{"op":"truncate","size":1e999}'), "json huge number"];
      break;
    case 20:
      [body, what] = [
        text('{"op":"setxattr","name":"user.\\ud800","value":"x"}'),
        "json lone surrogate",
      ];
      break;
    case 21:
      [body, what] = [
        text(JSON.stringify({ op: "rename", to: "/docs/../../x" })),
        "json climbing target",
      ];
      break;
    case 22:
      [body, what] = [
        text(JSON.stringify({ path: "/docs/\u0000", seconds: 1e300, password: 5 })),
        "json share garbage",
      ];
      break;
    case 23:
      [body, what] = [text("user=%ff&password=%zz&next=%00"), "form bad escapes"];
      break;
    case 24:
      [body, what] = [text("a=" + "b".repeat(3_000_000)), "form 3 MB"];
      break;
    case 25:
      [body, what] = [
        text('--x\r\nContent-Disposition: form-data; name="user"\r\n\r\nroot\r\n--x'),
        "multipart truncated",
      ];
      break;
    case 26:
      [body, what] = [new Uint8Array(0), "empty"];
      break;
    default: {
      const n = pick(rng, [1, 100, 5000]);
      body = new Uint8Array(n);
      for (let i = 0; i < n; i++) body[i] = Math.floor(rng() * 256);
      what = `random ${n} bytes`;
    }
  }
  r.body = body;
  r.mutations.push(`body ${what}`);
}

/** Framing: a Content-Length that lies, bodies cut short, transfer codings. */
function mutateFraming(r: FuzzRequest, rng: Rng): void {
  const kind = pick(rng, [
    "short then close",
    "short then close",
    "long body",
    "cl garbage",
    "two lengths",
    "chunked bad",
    "chunked cut",
    "chunked and length",
    "gzip coding",
    "no length",
  ]);
  const n = r.body.length;
  switch (kind) {
    case "short then close":
      r.contentLength = "none";
      r.headers.push(["content-length", String(n + 1 + Math.floor(rng() * 100_000))]);
      r.halfClose = true;
      break;
    case "long body":
      r.contentLength = "none";
      r.headers.push(["content-length", String(Math.max(0, n - 1))]);
      break;
    case "cl garbage":
      r.contentLength = "none";
      r.headers.push([
        "content-length",
        pick(rng, ["abc", "-1", "1e3", " ", "0x10", `${n}, ${n + 1}`]),
      ]);
      r.halfClose = true;
      break;
    case "two lengths":
      r.contentLength = "none";
      r.headers.push(["content-length", String(n)], ["content-length", String(n + 3)]);
      break;
    case "chunked bad":
      r.contentLength = "none";
      r.headers.push(["transfer-encoding", "chunked"]);
      r.body = encoder.encode(
        pick(rng, ["zz\r\nabc\r\n0\r\n\r\n", "3\r\nabcdef\r\n0\r\n\r\n", "-1\r\n"]),
      );
      r.halfClose = true;
      r.tags.add("transfer-coding");
      break;
    case "chunked cut":
      r.contentLength = "none";
      r.headers.push(["transfer-encoding", "chunked"]);
      r.body = encoder.encode("10\r\nabc");
      r.halfClose = true;
      r.tags.add("transfer-coding");
      r.tags.add("chunked-cut");
      break;
    case "chunked and length":
      r.contentLength = "none";
      r.headers.push(["transfer-encoding", "chunked"], ["content-length", "3"]);
      r.body = encoder.encode("3\r\nabc\r\n0\r\n\r\n");
      r.tags.add("transfer-coding");
      break;
    case "gzip coding":
      r.contentLength = "none";
      r.headers.push(["transfer-encoding", pick(rng, ["gzip", "gzip, chunked", "chunked, gzip"])]);
      r.halfClose = true;
      r.tags.add("transfer-coding");
      break;
    default:
      // The body (if any) then goes as stray bytes after a request of none.
      r.contentLength = "none";
  }
  r.mutations.push(`framing ${kind}`);
}

/** Case `index` of run `seed`: a template and one to three mutations. */
export function generate(seed: number, index: number, ctx: GenContext): FuzzRequest {
  const rng = caseRng(seed, index);
  const template = pick(rng, TEMPLATES);
  const r: FuzzRequest = { ...template(ctx), mutations: [], tags: new Set(), halfClose: false };
  if (r.path === ctx.upload || r.path.startsWith("/api/v1/uploads")) r.tags.add("upload");
  const count = 1 + Math.floor(rng() * rng() * 3.5);
  for (let i = 0; i < count; i++) {
    const roll = rng();
    if (roll < 0.38) mutatePath(r, rng, ctx.port);
    else if (roll < 0.72) mutateHeader(r, rng, ctx);
    else if (roll < 0.9) mutateBody(r, rng);
    else mutateFraming(r, rng);
  }
  return r;
}

/** The request's bytes on the wire. */
export function serialize(r: FuzzRequest, port: number): Uint8Array {
  const lines = [`${r.method} ${r.path}${r.query} HTTP/1.1`];
  if (!r.headers.some(([n]) => n.toLowerCase() === "host")) lines.push(`Host: 127.0.0.1:${port}`);
  for (const [name, value] of r.headers) lines.push(`${name}: ${value}`);
  if (
    r.contentLength === "auto" && (r.body.length > 0 || ["PUT", "POST", "PATCH"].includes(r.method))
  ) {
    lines.push(`Content-Length: ${r.body.length}`);
  }
  lines.push("Connection: close");
  const head = encoder.encode(lines.join("\r\n") + "\r\n\r\n");
  const out = new Uint8Array(head.length + r.body.length);
  out.set(head);
  out.set(r.body, head.length);
  return out;
}

/** One line for a report: the request line, the mutations, the size of the body. */
export function describe(r: FuzzRequest): string {
  const target = `${r.path}${r.query}`;
  const shown = target.length > 160 ? `${target.slice(0, 160)}…(${target.length})` : target;
  return `${r.base}: ${r.method} ${JSON.stringify(shown)} [${
    r.mutations.join("; ")
  }] body ${r.body.length} B`;
}
