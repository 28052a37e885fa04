// Bad input to the HTTP file API: every request below gets a 4xx and leaves the whole tree
// (entries, attributes, content tags, xattrs) exactly as it was.

import { assert, assertEquals } from "./_assert.ts";
import { chunked } from "./_stores.ts";
import { type RestFixture, restTest, snapshot } from "./rest_harness.ts";

interface BadRequest {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  /** The status it must get; 0: any 4xx. */
  readonly status: number;
  readonly init: RequestInit;
}

const A = "/fs/docs/a.txt";
const long = "n".repeat(256);
const JSON_TYPE = { "content-type": "application/json" };

/** `target` is "METHOD /path"; PUT, PATCH and POST get a small body unless `init` has one. */
function bad(name: string, status: number, target: string, init: RequestInit = {}): BadRequest {
  const [method, path] = target.split(" ") as [string, string];
  const body = ["PUT", "PATCH"].includes(method) ? { body: "evil" } : {};
  return { name, method, path, status, init: { method, ...body, ...init } };
}
const op = (name: string, status: number, path: string, body: unknown) =>
  bad(name, status, `POST ${path}`, {
    headers: JSON_TYPE,
    body: typeof body === "string" || body instanceof Uint8Array
      ? body as BodyInit
      : JSON.stringify(body),
  });
const range = (value: string) => ({ headers: { "content-range": value } });
const length = (value: string) => ({ headers: { "content-length": value } });

/** Fresh each time: one body is a stream, readable once. */
const badRequests = (): BadRequest[] => [
  // Path traversal and malformed paths. URLs resolve "..", "%2e%2e" and "." themselves,
  // so traversal either stays inside /fs/ (a plain path) or leaves the route (404).
  bad("%2e%2e out of /fs", 404, "PUT /fs/%2e%2e/%2e%2e/%2e%2e/x"),
  bad(".. out of /fs", 404, "PUT /fs/../../x"),
  bad(".%2e out of /fs", 0, "DELETE /fs/a/.%2e/.%2e/.%2E/x"),
  bad("encoded slash", 400, "PUT /fs/a%2Fb"),
  bad("encoded ../", 400, "DELETE /fs/..%2Fdocs%2Fa.txt"),
  bad("encoded /..", 400, "PUT /fs/docs%2F..%2F.."),
  // Names that would climb if some layer decoded them again are refused, not taken literally.
  bad("double-encoded %2F", 400, "DELETE /fs/docs%252F.."),
  bad("double-encoded ..", 400, "PUT /fs/docs/%252e%252e"),
  bad("encoded backslash climb", 400, "PUT /fs/docs/..%5Cx"),
  bad("NUL", 400, "PUT /fs/a%00b"),
  bad("NUL alone", 400, "DELETE /fs/docs/%00"),
  bad("empty segment", 400, "DELETE /fs/docs//a.txt"),
  bad("bad escape", 400, "PUT /fs/a%zz"),
  bad("invalid UTF-8", 400, "PUT /fs/%C0%AF"),
  bad("lone surrogate", 400, "PUT /fs/%ED%A0%80"),
  bad("overlong name", 400, `PUT /fs/${long}`),
  bad("overlong name in mkdir", 400, `PUT /fs/docs/${long}/`),
  op("overlong xattr name", 0, A, { op: "setxattr", name: long, value: "" }),
  // Ranges and offsets.
  bad("suffix range of 0", 416, `GET ${A}`, { headers: { range: "bytes=-0" } }),
  bad("range past EOF", 416, `GET ${A}`, { headers: { range: "bytes=99-" } }),
  // A partial PUT (RFC 9110 14.5: 400 where not supported); before session 16 the file was
  // replaced by the part alone.
  bad("Content-Range on PUT", 400, `PUT ${A}`, range("bytes 0-3/*")),
  bad("Content-Range backwards", 416, `PATCH ${A}`, range("bytes 5-2/*")),
  bad("Content-Range negative", 400, `PATCH ${A}`, range("bytes -1-2/*")),
  bad("Content-Range overflow", 400, `PATCH ${A}`, range("bytes 0-99999999999999999999/*")),
  bad("Content-Range length mismatch", 400, `PATCH ${A}`, range("bytes 0-1/*")),
  bad("Content-Range beyond length", 400, `PATCH ${A}`, range("bytes 0-3/2")),
  bad("Content-Range other unit", 400, `PATCH ${A}`, range("items 0-3/*")),
  bad("offset=-1", 400, `PATCH ${A}?offset=-1`),
  bad("offset=1e30", 400, `PATCH ${A}?offset=1e30`),
  bad("offset=abc", 400, `PATCH ${A}?offset=abc`),
  bad("offset overflow", 400, `PATCH ${A}?offset=99999999999999999999`),
  bad("offset past the size limit", 413, `PATCH ${A}?offset=9007199254740991`),
  bad("offset and append", 400, `PATCH ${A}?offset=0&append=1`),
  bad("PATCH without a position", 400, `PATCH ${A}`),
  bad("append=yes", 400, `PATCH ${A}?append=yes`),
  bad("PATCH a directory", 409, "PATCH /fs/docs?offset=0"),
  // Lengths, flags, state.
  bad("Content-Length abc", 400, `PUT ${A}`, length("abc")),
  bad("Content-Length -1", 400, `PUT ${A}`, length("-1")),
  bad("Content-Length 1e3", 400, `PUT ${A}`, length("1e3")),
  bad("Content-Length too small", 400, `PUT ${A}`, length("2")),
  bad("Content-Length too large", 400, `PUT ${A}`, length("5")),
  bad("append longer than declared", 400, `PATCH ${A}?append=1`, length("2")),
  bad("offset write longer than declared", 400, `PATCH ${A}?offset=1`, length("3")),
  bad("mtime=abc", 400, `PUT ${A}?mtime=abc`),
  bad("X-OC-Mtime negative", 400, `PUT ${A}`, { headers: { "x-oc-mtime": "-5" } }),
  bad("recursive=yes", 400, "DELETE /fs/docs?recursive=yes"),
  bad("limit=0", 400, "GET /fs/docs?limit=0"),
  bad("limit=-5", 400, "GET /fs/docs?limit=-5"),
  bad("limit too large", 400, "GET /fs/docs?limit=100001"),
  bad("delete the root", 409, "DELETE /fs/?recursive=1"),
  bad("delete a non-empty directory", 409, "DELETE /fs/docs"),
  bad("PUT over a directory", 409, "PUT /fs/docs"),
  bad("stale If-Match", 412, `PUT ${A}`, { headers: { "if-match": '"x"' } }),
  bad("unknown method", 405, "PROPFIND /fs/docs"),
  // JSON operations.
  op("malformed JSON", 400, A, '{"op":'),
  op("JSON array", 400, A, "[]"),
  op("JSON string", 400, A, '"chmod"'),
  op("JSON null", 400, A, "null"),
  // RFC 8259 leaves the meaning of a repeated name open (JSON.parse keeps the last): which
  // target or which operation was meant cannot be told, so neither runs.
  op("repeated field", 400, A, '{"op":"rename","to":"/docs/b.txt","to":"/docs/c.txt"}'),
  op("repeated op", 400, A, '{"op":"truncate","size":0,"op":"chmod","mode":0}'),
  op("repeated escaped name", 400, A, '{"op":"truncate","size":0,"\\u0073ize":1}'),
  op("invalid UTF-8 JSON", 400, A, new Uint8Array([0x7b, 0xff, 0x7d])),
  op("no op", 400, A, { mode: 1 }),
  op("unknown op", 400, A, { op: "explode" }),
  op("op from the prototype", 400, A, { op: "constructor" }),
  op("op not a string", 400, A, { op: 1 }),
  op("unknown field", 400, "/fs/docs/new", { op: "mkdir", evil: true }),
  op("size as text", 400, A, { op: "truncate", size: "0" }),
  op("negative size", 400, A, { op: "truncate", size: -1 }),
  op("fractional size", 400, A, { op: "truncate", size: 1.5 }),
  op("huge size", 400, A, { op: "truncate", size: 1e300 }),
  op("missing size", 400, A, { op: "truncate" }),
  op("mode not octal", 400, A, { op: "chmod", mode: "999" }),
  op("mode too large", 400, A, { op: "chmod", mode: 70000 }),
  op("uid too large", 400, A, { op: "chown", uid: 2 ** 32 }),
  op("chown without ids", 400, A, { op: "chown" }),
  op("flag as text", 400, "/fs/docs/x", { op: "mkdir", parents: "yes" }),
  op("relative target path", 400, A, { op: "rename", to: "b.txt" }),
  op("dotdot target path", 400, A, { op: "rename", to: "/docs/../b" }),
  op("NUL target path", 400, A, { op: "copy", to: "/b\u0000" }),
  // Names that climb where "\" is a separator, as the URL refuses them (a Windows client
  // that downloads them, in a zip or by a sync tool, would write outside its folder).
  op("backslash dotdot target", 400, A, { op: "copy", to: "/docs/..\\..\\evil.txt" }),
  op("dotdot backslash target", 400, A, { op: "rename", to: "/docs/x\\.." }),
  op("dotdot parameter target", 400, A, { op: "link", to: "/docs/..;x" }),
  op("numeric target path", 400, A, { op: "link", to: 5 }),
  op("overlong target name", 400, A, { op: "rename", to: `/${long}` }),
  op("rename into itself", 0, "/fs/docs", { op: "rename", to: "/docs/sub/docs" }),
  op("copy into itself", 400, "/fs/docs", { op: "copy", to: "/docs/sub/x" }),
  op("empty symlink target", 400, "/fs/docs/l", { op: "symlink", target: "" }),
  op("bad base64", 400, A, { op: "setxattr", name: "user.a", value: "not base64!" }),
  op("time as words", 400, A, { op: "utimes", mtime: "yesterday" }),
  op("negative time", 400, A, { op: "utimes", mtime: -1 }),
  op("mkdir over a file", 409, A, { op: "mkdir" }),
  // A target ending with a slash names a directory, as in a URL: a file is not renamed,
  // copied or linked to "/x/" (before session 17 the slash was dropped: "/x" was made).
  op("file renamed to a slashed target", 409, A, { op: "rename", to: "/x/" }),
  op("file copied to a slashed target", 409, A, { op: "copy", to: "/x/" }),
  op("link to a slashed target", 409, A, { op: "link", to: "/x/" }),
  op("symlink renamed to a slashed target", 409, "/fs/link", { op: "rename", to: "/x/" }),
  op("oversized JSON", 413, "/fs/docs/x", { op: "mkdir", pad: "x".repeat(70_000) }),
  bad("oversized streamed JSON", 413, "POST /fs/docs/x", {
    headers: JSON_TYPE,
    body: chunked(new TextEncoder().encode(`{"op":"mkdir","p":"${"x".repeat(70_000)}"}`), 8192),
    duplex: "half",
  } as RequestInit),
  bad("text/plain body", 415, "POST /fs/docs/x", { body: '{"op":"mkdir"}' }),
];

async function seed({ client }: RestFixture): Promise<void> {
  await client.put("/docs/a.txt", "alpha", { parents: true });
  await client.put("/docs/sub/b.bin", new Uint8Array([1, 2, 3]), { parents: true });
  await client.symlink("/link", "/docs/a.txt");
  await client.mkdir("/empty");
  await client.setxattr("/docs/a.txt", "user.k", { value: "v" });
}

restTest("bad input gets a 4xx and changes nothing", async (t) => {
  await seed(t);
  const before = await snapshot(t.vfs);
  const failures: string[] = [];
  for (const bad of badRequests()) {
    const res = await t.req(bad.path, bad.init);
    const body = await res.text();
    const ok = res.status >= 400 && res.status < 500 &&
      (bad.status === 0 || res.status === bad.status);
    if (!ok) failures.push(`${bad.name}: ${res.status} ${body.slice(0, 200)}`);
    // Anything the API itself answers is a problem document (a 404 off the route is Hono's).
    const type = res.headers.get("content-type") ?? "";
    if (ok && res.status !== 404 && !type.startsWith("application/problem+json")) {
      failures.push(`${bad.name}: ${type}`);
    }
  }
  assertEquals(failures, []);
  assertEquals(await snapshot(t.vfs), before);
});

restTest("percent-encoding is decoded exactly once per segment", async ({ req, client }) => {
  for (
    const [raw, name] of [
      ["100%2525", "100%25"],
      ["a%252Fb", "a%2Fb"],
      ["%C3%A9%20x", "é x"],
    ] as const
  ) {
    const res = await req(`/fs/${raw}`, { method: "PUT", body: name });
    assertEquals(res.status, 201, raw);
    assertEquals((await res.json()).path, `/${name}`);
    assertEquals(await client.readText(`/${name}`), name);
  }
  const names = (await client.listAll("/")).map((e) => e.name).sort();
  assertEquals(names, ["100%25", "a%2Fb", "é x"]);
  assert(names.every((n) => !n.includes("/")));
});

restTest(
  "a trailing slash names a directory: on a file it is 404 and changes nothing",
  async (t) => {
    // As open(2) says of "f/" (ENOTDIR) and nginx answers (404). Before session 16 the slash
    // was dropped: GET answered the file, DELETE removed it.
    assertEquals((await t.req("/fs/f.txt", { method: "PUT", body: "content" })).status, 201);
    const before = await snapshot(t.vfs);
    for (const [method, body] of [["GET"], ["HEAD"], ["DELETE"], ["PATCH", "x"], ["POST", "{}"]]) {
      const headers: Record<string, string> = method === "PATCH"
        ? { "content-range": "bytes 0-0/*" }
        : method === "POST"
        ? { "content-type": "application/json" }
        : {};
      const res = await t.req("/fs/f.txt/", { method: method!, headers, body: body ?? null });
      await res.body?.cancel();
      assertEquals(res.status, 404, `${method} /fs/f.txt/`);
    }
    assertEquals(await snapshot(t.vfs), before);
  },
);
