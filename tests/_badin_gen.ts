// The generator of tests/bad_input_fuzz_test.ts: valid requests of every front end (HTTP
// file API, WebDAV, tus, the UI and share links, health and metrics), each mutated in its
// path, headers, body or framing by a seeded PRNG. Case `i` of seed `s` draws from its own
// generator (seeded by both), so one case can be rebuilt alone from its two numbers.

import {
  caseRng,
  encoder,
  type FuzzRequest,
  type GenContext,
  headerOf,
  pick,
  tusMetadata,
} from "./_badin_request.ts";
import {
  mutateBody,
  mutateFraming,
  mutateHeader,
  mutateLine,
  mutatePath,
} from "./_badin_mutations.ts";

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

type Template = (
  ctx: GenContext,
) => Omit<FuzzRequest, "mutations" | "tags" | "halfClose" | "version">;

function req(
  base: string,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body: string | Uint8Array = "",
): Omit<FuzzRequest, "mutations" | "tags" | "halfClose" | "version"> {
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
/** Root holds a lock on it (see GenContext.lock). */
const LOCKED = "/docs/sub/c.txt";
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
  // The standing lock on /docs/sub/c.txt: writes with its token, a refresh, its UNLOCK.
  (c) =>
    req("dav PUT locked", "PUT", `/dav${LOCKED}`, { ...root(c), if: `(<${c.lock}>)` }, "relock"),
  (c) =>
    req("dav PROPPATCH locked", "PROPPATCH", `/dav${LOCKED}`, {
      ...root(c),
      "content-type": XML,
      if: `<http://127.0.0.1:${c.port}/dav${LOCKED}> (<${c.lock}>)`,
    }, PROPPATCH),
  (c) =>
    req("dav LOCK refresh", "LOCK", `/dav${LOCKED}`, {
      ...root(c),
      if: `(<${c.lock}>)`,
      timeout: "Second-120",
    }),
  (c) =>
    req("dav MOVE locked", "MOVE", `/dav${LOCKED}`, {
      ...root(c),
      destination: dest(c, "/docs/sub/moved.txt"),
      if: `(<${c.lock}>)`,
    }),
  (c) =>
    req("api PUT locked", "PUT", `/api/v1/fs${LOCKED}`, {
      ...root(c),
      "lock-token": `<${c.lock}>`,
    }, "api relock"),
  (c) =>
    req("dav UNLOCK real", "UNLOCK", `/dav${LOCKED}`, { ...root(c), "lock-token": `<${c.lock}>` }),
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

/** Where alice's copy of /docs lives: her folder is all she may reach. */
export const ALICE_DOCS = "/home/alice/docs";

/**
 * The same request as alice, limited to /home/alice, on her copy of /docs: every mutation
 * then also tries her folder's walls. Upload metadata keeps its target (base64).
 */
function asAlice(r: FuzzRequest, ctx: GenContext): void {
  const move = (text: string) =>
    text.replace(
      /(\/(?:api\/v1\/(?:fs|stat|readlink|xattr|zip)|dav))\/docs(?=\/|$)/,
      `$1${ALICE_DOCS}`,
    );
  r.path = move(r.path);
  r.headers = r.headers.map(([name, value]) => {
    if (/^authorization$/i.test(name)) return [name, ctx.auth.alice];
    if (/^destination$/i.test(name)) return [name, move(value)];
    return [name, value];
  });
  const text = new TextDecoder().decode(r.body);
  if (text.includes('"/docs')) r.body = encoder.encode(text.replaceAll('"/docs', `"${ALICE_DOCS}`));
  r.tags.add("as-alice");
  r.mutations.push("as alice");
}

/** Case `index` of run `seed`: a template and one to three mutations (heavy: two to six). */
export function generate(
  seed: number,
  index: number,
  ctx: GenContext,
  options: { heavy?: boolean } = {},
): FuzzRequest {
  const rng = caseRng(seed, index);
  const template = pick(rng, TEMPLATES);
  const r: FuzzRequest = {
    ...template(ctx),
    mutations: [],
    tags: new Set(),
    halfClose: false,
    version: "HTTP/1.1",
  };
  if (r.path === ctx.upload || r.path.startsWith("/api/v1/uploads")) r.tags.add("upload");
  if (rng() < 0.25) asAlice(r, ctx);
  const { path, query } = r;
  // Mostly one mutation, some two or three; heavy runs pile two to six on each request.
  const count = options.heavy ? 2 + Math.floor(rng() * 5) : 1 + Math.floor(rng() * rng() * 3.5);
  for (let i = 0; i < count; i++) {
    const roll = rng();
    if (roll < 0.04) mutateLine(r, rng);
    else if (roll < 0.38) mutatePath(r, rng, ctx.port);
    else if (roll < 0.72) mutateHeader(r, rng, ctx);
    else if (roll < 0.9) mutateBody(r, rng);
    else mutateFraming(r, rng);
  }
  // A whole PUT to its own target: once acknowledged, the target must hold its body.
  const framed = ["content-range", "content-length", "transfer-encoding"].some((name) =>
    headerOf(r, name) !== undefined
  );
  if (
    r.method === "PUT" && r.path === path && r.query === query && !framed &&
    r.contentLength === "auto" && r.version === "HTTP/1.1" && !r.tags.has("foreign-destination")
  ) r.tags.add("whole-put");
  return r;
}
