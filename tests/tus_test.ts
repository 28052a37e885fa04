// The tus endpoint in process (app.request), on the memory store and on real S3: the
// protocol, bad input (each refusal changes nothing), preconditions and locks at
// completion, expiry on one injected clock, two instances on one bucket, and the staging
// folder kept out of every front end.

import { createHash } from "node:crypto";
import { createApp } from "../src/app.ts";
import { type ObjectStore, StoreMetrics } from "../src/store/mod.ts";
import { SKEW_MARGIN_MS, STAGING_DIR, Uploads } from "../src/tus/mod.ts";
import { isFsError, type Stat, Vfs } from "../src/vfs/mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { contract, pattern } from "./_stores.ts";
import { HookStore } from "./_hook_store.ts";

const ORIGIN = "http://pagefs.test";
const TUS = { "tus-resumable": "1.0.0" };
const CHUNK = { ...TUS, "content-type": "application/offset+octet-stream" };
const BACKENDS = { backends: ["memory", "s3"] };
const HOUR = 3600_000;

/** A clock the test moves by hand. */
function clock(start = Date.UTC(2026, 0, 1)) {
  const c = { t: start, now: () => c.t };
  return c;
}

interface Instance {
  vfs: Vfs;
  request(path: string, init?: RequestInit): Promise<Response>;
}

async function instance(
  store: ObjectStore,
  options: {
    now?: () => number;
    expiryMs?: number;
    sweepEveryMs?: number;
    trustForwarded?: boolean;
  } = {},
): Promise<Instance> {
  const vfs = await Vfs.open(store, options.now ? { now: options.now } : {});
  const app = createApp({
    store,
    metrics: new StoreMetrics(),
    vfs,
    uploads: {
      // Sweeps run only where a test asks for one (a background sweep would race it).
      sweepEveryMs: options.sweepEveryMs ?? Infinity,
      ...(options.now ? { now: options.now } : {}),
      ...(options.expiryMs ? { expiryMs: options.expiryMs } : {}),
    },
    ...(options.trustForwarded ? { trustForwarded: true } : {}),
  });
  return { vfs, request: async (path, init) => await app.request(`${ORIGIN}${path}`, init) };
}

function metadata(fields: Record<string, string>): string {
  const utf8 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
  return Object.entries(fields).map(([k, v]) => `${k} ${utf8(v)}`).join(",");
}

/** Creates an upload; returns its path (below the origin). */
async function create(
  at: Instance,
  length: number | null,
  meta: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<string> {
  const res = await at.request("/api/v1/uploads/", {
    method: "POST",
    headers: {
      ...TUS,
      ...(length === null ? { "upload-defer-length": "1" } : { "upload-length": String(length) }),
      "upload-metadata": metadata(meta),
      ...headers,
    },
  });
  const text = await res.text();
  assertEquals(res.status, 201, text);
  const location = res.headers.get("location")!;
  assert(location.startsWith(`${ORIGIN}/api/v1/uploads/`), location);
  return new URL(location).pathname;
}

async function patch(
  at: Instance,
  upload: string,
  offset: number,
  body: Uint8Array | ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
): Promise<{ status: number; offset: string | null; text: string }> {
  const res = await at.request(upload, {
    method: "PATCH",
    headers: { ...CHUNK, "upload-offset": String(offset), ...headers },
    body: body as BodyInit,
  });
  return { status: res.status, offset: res.headers.get("upload-offset"), text: await res.text() };
}

async function offsetOf(at: Instance, upload: string): Promise<number | null> {
  const res = await at.request(upload, { method: "HEAD", headers: TUS });
  await res.body?.cancel();
  return res.status === 200 ? Number(res.headers.get("upload-offset")) : null;
}

async function statOrNull(vfs: Vfs, path: string): Promise<Stat | null> {
  try {
    return await vfs.getattr(path);
  } catch (error) {
    if (isFsError(error, "ENOENT")) return null;
    throw error;
  }
}

async function readAll(vfs: Vfs, path: string): Promise<Uint8Array> {
  const { body } = await vfs.readStream(path);
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** What a refused request must leave alone: the target, and the upload's offset and bytes. */
async function state(at: Instance, upload: string, target: string): Promise<string> {
  const id = upload.split("/").pop()!;
  const staged = await statOrNull(at.vfs, `${STAGING_DIR}/${id}`);
  const bytes = staged ? await readAll(at.vfs, `${STAGING_DIR}/${id}`) : null;
  const digest = bytes ? createHash("sha1").update(bytes).digest("hex") : null;
  return JSON.stringify({
    target: (await statOrNull(at.vfs, target))?.etag ?? null,
    offset: await offsetOf(at, upload),
    staged: staged?.etag ?? null,
    digest,
  });
}

function b64(algorithm: string, data: Uint8Array): string {
  return createHash(algorithm).update(data).digest("base64");
}

contract("tus: an upload in chunks appears at its target only when complete", async (store) => {
  const at = await instance(store);
  await at.vfs.mkdir("/docs");
  const data = pattern(300_000, 3);
  const upload = await create(at, data.length, { filename: "report.bin", dir: "/docs" });
  for (let offset = 0; offset < data.length; offset += 100_000) {
    assertEquals(await statOrNull(at.vfs, "/docs/report.bin"), null, "no partial target");
    const r = await patch(at, upload, offset, data.slice(offset, offset + 100_000));
    assertEquals(r.status, 204, r.text);
    assertEquals(r.offset, String(offset + 100_000));
  }
  assertEquals(await readAll(at.vfs, "/docs/report.bin"), data);
  // The staging file became the target: the upload is gone, its folder empty and hidden.
  assertEquals(await offsetOf(at, upload), null);
  assertEquals((await at.vfs.readdir(STAGING_DIR)).entries.length, 0);
  assertEquals((await at.vfs.readdir("/")).entries.map((e) => e.name), ["docs"]);
}, BACKENDS);

contract("tus: bad input is refused with its status and changes nothing", async (store) => {
  const c = clock();
  const at = await instance(store, { now: c.now, expiryMs: HOUR });
  const data = pattern(1000, 5);
  const upload = await create(at, data.length, { path: "/t.bin" });
  assertEquals((await patch(at, upload, 0, data.slice(0, 400))).status, 204);
  const before = await state(at, upload, "/t.bin");
  const rest = data.slice(400);
  const cases: [string, Promise<{ status: number; text: string }>, number][] = [
    ["wrong offset", patch(at, upload, 300, rest), 409],
    ["offset past the end of the bytes", patch(at, upload, 500, rest.slice(100)), 409],
    ["no Tus-Resumable", patch(at, upload, 400, rest, { "tus-resumable": "" }), 412],
    ["wrong Tus-Resumable", patch(at, upload, 400, rest, { "tus-resumable": "0.2.2" }), 412],
    [
      "sha1 mismatch",
      patch(at, upload, 400, rest, { "upload-checksum": `sha1 ${b64("sha1", data)}` }),
      460,
    ],
    [
      "md5 mismatch",
      patch(at, upload, 400, rest, { "upload-checksum": `md5 ${b64("md5", data)}` }),
      460,
    ],
    [
      "unknown checksum algorithm",
      patch(at, upload, 400, rest, { "upload-checksum": "crc9 AA==" }),
      400,
    ],
    ["declared length exceeded", patch(at, upload, 400, pattern(601, 6)), 413],
    [
      "streamed length exceeded",
      patch(at, upload, 400, ReadableStream.from([pattern(600, 7), pattern(1, 8)])),
      413,
    ],
    ["wrong content type", patch(at, upload, 400, rest, { "content-type": "text/plain" }), 415],
    ["changed Upload-Length", patch(at, upload, 400, rest, { "upload-length": "2000" }), 400],
    [
      "unknown upload",
      patch(at, "/api/v1/uploads/ffffffffffffffffffffffffffffffff", 400, rest),
      404,
    ],
    ["malformed id", patch(at, "/api/v1/uploads/xyz", 400, rest), 404],
  ];
  for (const [what, pending, status] of cases) {
    const r = await pending;
    assertEquals(r.status, status, `${what}: ${r.text}`);
    assertEquals(await state(at, upload, "/t.bin"), before, what);
  }
  for (const method of ["HEAD", "DELETE"]) {
    const res = await at.request("/api/v1/uploads/0123456789abcdef0123456789abcdef", {
      method,
      headers: TUS,
    });
    await res.body?.cancel();
    assertEquals(res.status, 404, method);
  }
  const noVersion = await at.request(upload, { method: "HEAD" });
  await noVersion.body?.cancel();
  assertEquals(noVersion.status, 412);
  assertEquals(noVersion.headers.get("tus-version"), "1.0.0");

  // The right checksums are taken.
  const ok = await patch(at, upload, 400, rest.slice(0, 100), {
    "upload-checksum": `sha1 ${b64("sha1", rest.slice(0, 100))}`,
  });
  assertEquals(ok.status, 204, ok.text);
  const ok2 = await patch(at, upload, 500, rest.slice(100, 200), {
    "upload-checksum": `md5 ${b64("md5", rest.slice(100, 200))}`,
  });
  assertEquals(ok2.status, 204, ok2.text);

  // Expired: 410 once past the deadline and the skew margin (by this clock), then gone.
  c.t += HOUR + SKEW_MARGIN_MS - 1;
  assertEquals(await offsetOf(at, upload), 600, "not expired within the margin");
  c.t += 2;
  const before410 = await statOrNull(at.vfs, "/t.bin");
  const expired = await patch(at, upload, 600, data.slice(600));
  assertEquals(expired.status, 410, expired.text);
  assertEquals(await statOrNull(at.vfs, "/t.bin"), before410);
  assertEquals(await offsetOf(at, upload), null);
  assertEquals((await patch(at, upload, 600, data.slice(600))).status, 404);
}, BACKENDS);

contract("tus: creation with upload, deferred length and termination", async (store) => {
  const at = await instance(store);
  // creation-with-upload: the POST body is the first chunk.
  const res = await at.request("/api/v1/uploads", {
    method: "POST",
    headers: {
      ...CHUNK,
      "upload-length": "10",
      "upload-metadata": metadata({ filename: "ten.txt" }),
    },
    body: "01234",
  });
  await res.body?.cancel();
  assertEquals(res.status, 201);
  assertEquals(res.headers.get("upload-offset"), "5");
  const first = new URL(res.headers.get("location")!).pathname;
  assertEquals((await patch(at, first, 5, new TextEncoder().encode("56789"))).status, 204);
  assertEquals(new TextDecoder().decode(await readAll(at.vfs, "/ten.txt")), "0123456789");

  // creation-defer-length: the length comes with a later PATCH.
  const deferred = await create(at, null, { path: "/later.txt" });
  const head = await at.request(deferred, { method: "HEAD", headers: TUS });
  await head.body?.cancel();
  assertEquals(head.headers.get("upload-defer-length"), "1");
  assertEquals((await patch(at, deferred, 0, new TextEncoder().encode("abc"))).status, 204);
  const last = await patch(at, deferred, 3, new TextEncoder().encode("def"), {
    "upload-length": "6",
  });
  assertEquals(last.status, 204, last.text);
  assertEquals(new TextDecoder().decode(await readAll(at.vfs, "/later.txt")), "abcdef");

  // termination: DELETE removes the upload and its bytes; the target never appears.
  const doomed = await create(at, 10, { path: "/doomed.txt" });
  assertEquals((await patch(at, doomed, 0, new TextEncoder().encode("xx"))).status, 204);
  const del = await at.request(doomed, { method: "DELETE", headers: TUS });
  assertEquals(del.status, 204);
  assertEquals(await offsetOf(at, doomed), null);
  assertEquals(await statOrNull(at.vfs, "/doomed.txt"), null);
  assertEquals((await at.vfs.readdir(STAGING_DIR)).entries.length, 0);
}, BACKENDS);

contract("tus: the target comes from metadata and is validated like a JSON path", async (store) => {
  const at = await instance(store);
  await at.vfs.mkdir("/a");
  const refused: [Record<string, string>, number][] = [
    [{}, 400],
    [{ path: "relative.txt" }, 400],
    [{ path: "/a/../b.txt" }, 400],
    [{ path: "/a/./b.txt" }, 400],
    [{ path: "/a//b.txt" }, 400],
    [{ path: "/a/" }, 400],
    [{ path: "/" }, 400],
    [{ filename: "../x.txt" }, 400],
    [{ filename: "a/b.txt" }, 400],
    // Names that climb where "\" is a separator, as in a URL (session 18).
    [{ filename: "..\\..\\x.txt" }, 400],
    [{ path: "/a/..\\x.txt" }, 400],
    [{ filename: "x.txt", dir: "/a/.." }, 400],
    [{ filename: "x.txt", dir: "a" }, 400],
    [{ path: `${STAGING_DIR}/x` }, 400],
    [{ filename: "x", dir: STAGING_DIR }, 400],
    [{ path: "/missing/x.txt" }, 404],
    [{ path: "/a" }, 409],
  ];
  for (const [meta, status] of refused) {
    const res = await at.request("/api/v1/uploads/", {
      method: "POST",
      headers: { ...TUS, "upload-length": "1", "upload-metadata": metadata(meta) },
    });
    await res.body?.cancel();
    assertEquals(res.status, status, JSON.stringify(meta));
  }
  const malformed = await at.request("/api/v1/uploads/", {
    method: "POST",
    headers: { ...TUS, "upload-length": "1", "upload-metadata": "path !!notbase64" },
  });
  await malformed.body?.cancel();
  assertEquals(malformed.status, 400);
  // None of them created an upload.
  assertEquals(await statOrNull(at.vfs, STAGING_DIR), null);
  const upload = await create(at, 2, { name: "uppy.txt", dir: "/a" });
  assertEquals((await patch(at, upload, 0, new TextEncoder().encode("hi"))).status, 204);
  assertEquals((await at.vfs.getattr("/a/uppy.txt")).size, 2);
}, BACKENDS);

contract("tus: If-None-Match and If-Match from metadata hold at completion", async (store) => {
  const at = await instance(store);
  await at.vfs.writeFile("/exists.txt", new TextEncoder().encode("old"));
  const refused = await at.request("/api/v1/uploads/", {
    method: "POST",
    headers: {
      ...TUS,
      "upload-length": "3",
      "upload-metadata": metadata({ path: "/exists.txt", ifNoneMatch: "*" }),
    },
  });
  await refused.body?.cancel();
  assertEquals(refused.status, 412);

  // The target appears while the upload runs: the last chunk is refused, nothing lands.
  const upload = await create(at, 6, { path: "/new.txt", ifNoneMatch: "*" });
  assertEquals((await patch(at, upload, 0, new TextEncoder().encode("abc"))).status, 204);
  await at.vfs.writeFile("/new.txt", new TextEncoder().encode("theirs"));
  const before = await state(at, upload, "/new.txt");
  const last = await patch(at, upload, 3, new TextEncoder().encode("def"));
  assertEquals(last.status, 412, last.text);
  assertEquals(await state(at, upload, "/new.txt"), before);
  assertEquals(new TextDecoder().decode(await readAll(at.vfs, "/new.txt")), "theirs");

  // If-Match: replaces only the version named.
  const etag = (await at.vfs.getattr("/exists.txt")).etag;
  const matched = await create(at, 3, { path: "/exists.txt", ifMatch: `"${etag}"` });
  await at.vfs.writeFile("/exists.txt", new TextEncoder().encode("changed"));
  const stale = await patch(at, matched, 0, new TextEncoder().encode("new"));
  assertEquals(stale.status, 412, stale.text);
  assertEquals(new TextDecoder().decode(await readAll(at.vfs, "/exists.txt")), "changed");
  const fresh = (await at.vfs.getattr("/exists.txt")).etag;
  const ok = await create(at, 3, { path: "/exists.txt", ifMatch: `"${fresh}"` });
  assertEquals((await patch(at, ok, 0, new TextEncoder().encode("new"))).status, 204);
  assertEquals(new TextDecoder().decode(await readAll(at.vfs, "/exists.txt")), "new");
}, BACKENDS);

contract("tus: a WebDAV lock on the target holds the last chunk back", async (store) => {
  const at = await instance(store);
  await at.vfs.mkdir("/locked");
  const lock = await at.vfs.locks.lock({
    root: "/locked/f.txt",
    depth: "0",
    scope: "exclusive",
    owner: "test",
    timeout: 3600,
  });
  const early = await at.request("/api/v1/uploads/", {
    method: "POST",
    headers: {
      ...TUS,
      "upload-length": "4",
      "upload-metadata": metadata({ path: "/locked/f.txt" }),
    },
  });
  await early.body?.cancel();
  assertEquals(early.status, 423);
  const token = { "lock-token": `<${lock.token}>` };
  const upload = await create(at, 4, { path: "/locked/f.txt" }, token);
  assertEquals((await patch(at, upload, 0, new TextEncoder().encode("ab"), token)).status, 204);
  const before = await state(at, upload, "/locked/f.txt");
  const refused = await patch(at, upload, 2, new TextEncoder().encode("cd"));
  assertEquals(refused.status, 423, refused.text);
  assertEquals(await state(at, upload, "/locked/f.txt"), before);
  const done = await patch(at, upload, 2, new TextEncoder().encode("cd"), token);
  assertEquals(done.status, 204, done.text);
  assertEquals(new TextDecoder().decode(await readAll(at.vfs, "/locked/f.txt")), "abcd");
}, BACKENDS);

contract("tus: any instance continues an upload; racing chunks, one wins", async (store) => {
  const a = await instance(store);
  const b = await instance(store);
  const data = pattern(30_000, 9);
  const upload = await create(a, data.length, { path: "/shared.bin" });
  assertEquals((await patch(b, upload, 0, data.slice(0, 10_000))).status, 204);
  assertEquals(await offsetOf(a, upload), 10_000);
  // Two chunks at the same offset through two instances: exactly one is stored.
  const [x, y] = await Promise.all([
    patch(a, upload, 10_000, data.slice(10_000, 20_000)),
    patch(b, upload, 10_000, pattern(10_000, 99)),
  ]);
  assertEquals([x.status, y.status].sort(), [204, 409], `${x.text} ${y.text}`);
  const winner = x.status === 204 ? data.slice(10_000, 20_000) : pattern(10_000, 99);
  assertEquals(await offsetOf(b, upload), 20_000);
  assertEquals((await patch(a, upload, 20_000, data.slice(20_000))).status, 204);
  const expected = data.slice();
  expected.set(winner, 10_000);
  assertEquals(await readAll(b.vfs, "/shared.bin"), expected);
}, BACKENDS);

contract("tus: a sweep removes expired uploads, judged by the sweeper's clock", async (store) => {
  const c = clock();
  const at = await instance(store, { now: c.now, expiryMs: HOUR });
  const old = await create(at, 10, { path: "/old.txt" });
  assertEquals((await patch(at, old, 0, new TextEncoder().encode("12345"))).status, 204);
  c.t += HOUR / 2;
  const young = await create(at, 10, { path: "/young.txt" });
  const uploads = new Uploads(at.vfs, { expiryMs: HOUR, now: c.now });
  assertEquals(await uploads.sweep(), 0);
  c.t += HOUR / 2 + SKEW_MARGIN_MS + 1;
  assertEquals(await uploads.sweep(), 1);
  const left = (await at.vfs.readdir(STAGING_DIR)).entries.map((e) => e.name);
  assertEquals(left, [`${young.split("/").pop()}.json`]);
  assertEquals(await offsetOf(at, old), null);
}, BACKENDS);

contract("tus: a sweep reads no record that cannot have expired yet", async (store) => {
  const c = clock();
  const hooks = new HookStore(store);
  const at = await instance(hooks, { now: c.now, expiryMs: HOUR });
  const old = await create(at, 10, { path: "/old.txt" });
  c.t += HOUR / 2;
  // Records with metadata too long to be kept inline in the folder's listing (a client may
  // send 16 KiB), swept by another instance (whose cache has none of them).
  const pad = "p".repeat(4000);
  for (let i = 0; i < 20; i++) await create(at, 10, { path: `/young-${i}.txt`, pad });
  const other = await Vfs.open(hooks, { now: c.now });
  const uploads = new Uploads(other, { expiryMs: HOUR, now: c.now });
  const reads = async () => {
    const before = hooks.calls.length;
    const removed = await other.fresh(() => uploads.sweep());
    const calls = hooks.calls.slice(before);
    return { removed, reads: calls.filter((call) => call.op !== "ListObjectsV2").length };
  };
  // Before, each sweep read every record (20 young ones left by a user: 20 reads or more
  // each time, on every instance that sweeps); now the listing says they are younger than
  // an expiry.
  const first = await reads();
  assertEquals(first.removed, 0);
  assert(first.reads <= 5, `a sweep of 21 young uploads made ${first.reads} requests`);
  // The old one is read (and removed) once it may have expired; the young ones still not.
  c.t += HOUR / 2 + SKEW_MARGIN_MS + 1;
  const second = await reads();
  assertEquals(second.removed, 1);
  assertEquals(await offsetOf(at, old), null);
  assertEquals((await at.vfs.readdir(STAGING_DIR)).entries.length, 20);
}, BACKENDS);

contract("tus: the staging folder is no path any front end serves", async (store) => {
  const at = await instance(store);
  const upload = await create(at, 10, { path: "/x.txt" });
  assertEquals((await patch(at, upload, 0, new TextEncoder().encode("12345"))).status, 204);
  const id = upload.split("/").pop()!;
  const json = { "content-type": "application/json" };
  const checks: [string, RequestInit, number][] = [
    [`/api/v1/fs${STAGING_DIR}/`, {}, 404],
    [`/api/v1/fs${STAGING_DIR}/${id}`, {}, 404],
    [`/api/v1/fs${STAGING_DIR}/${id}`, { method: "PUT", body: "evil" }, 404],
    [`/api/v1/fs${STAGING_DIR}/${id}`, { method: "DELETE" }, 404],
    [`/api/v1/stat${STAGING_DIR}/${id}`, {}, 404],
    [
      "/api/v1/fs/x2.txt?parents=1",
      { method: "PUT", body: "y" },
      201,
    ],
    [
      "/api/v1/fs/x2.txt",
      {
        method: "POST",
        headers: json,
        body: JSON.stringify({ op: "rename", to: `${STAGING_DIR}/${id}` }),
      },
      400,
    ],
    [`/dav${STAGING_DIR}/${id}`, {}, 404],
    [`/dav${STAGING_DIR}/`, { method: "PROPFIND", headers: { depth: "1" } }, 404],
    [
      "/dav/x2.txt",
      { method: "MOVE", headers: { destination: `${ORIGIN}/dav${STAGING_DIR}/${id}` } },
      400,
    ],
  ];
  for (const [path, init, status] of checks) {
    const res = await at.request(path, init);
    const text = await res.text();
    assertEquals(res.status, status, `${init.method ?? "GET"} ${path}: ${text}`);
  }
  const listing = await (await at.request("/api/v1/fs/")).text();
  assert(!listing.includes(STAGING_DIR.slice(1)), listing);
  const propfind = await at.request("/dav/", { method: "PROPFIND", headers: { depth: "1" } });
  assert(!(await propfind.text()).includes(STAGING_DIR.slice(1)));
  assertEquals(await offsetOf(at, upload), 5);
}, BACKENDS);

/** POST of a new 1-byte upload to /p with extra `headers`; asserts 201. */
async function createOneByte(at: Instance, headers: Record<string, string>): Promise<Response> {
  const res = await at.request("/api/v1/uploads/", {
    method: "POST",
    headers: {
      ...TUS,
      "upload-length": "1",
      "upload-metadata": metadata({ path: "/p" }),
      ...headers,
    },
  });
  await res.body?.cancel();
  assertEquals(res.status, 201);
  return res;
}

contract("tus: Location names the origin a proxy forwarded", async (store) => {
  const at = await instance(store, { trustForwarded: true });
  for (
    const [headers, origin] of [
      [
        { "x-forwarded-host": "files.example.com", "x-forwarded-proto": "https" },
        "https://files.example.com",
      ],
      [
        { forwarded: 'for=1.2.3.4;host="up.example.org:8443";proto=https' },
        "https://up.example.org:8443",
      ],
      [{ "x-forwarded-host": "bad host/evil" }, ORIGIN],
    ] as const
  ) {
    const res = await createOneByte(at, headers);
    assert(
      res.headers.get("location")!.startsWith(`${origin}/api/v1/uploads/`),
      res.headers.get("location")!,
    );
  }
}, { backends: ["memory"] });

// Before session 16 the forwarded headers were always trusted: a client sending
// `X-Forwarded-Host: evil.example` got a Location there, and tus-js-client sent its chunks
// (and credentials) to it.
contract("tus: Location ignores forwarded headers unless a proxy is trusted", async (store) => {
  const at = await instance(store);
  for (
    const headers of [
      { "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" },
      { forwarded: 'host="evil.example";proto=https' },
    ]
  ) {
    const res = await createOneByte(at, headers);
    const location = res.headers.get("location")!;
    assert(location.startsWith(`${ORIGIN}/api/v1/uploads/`), location);
  }
}, { backends: ["memory"] });

contract("tus: an empty file lands at creation", async (store) => {
  const at = await instance(store);
  const upload = await create(at, 0, { path: "/empty.txt" });
  assertEquals((await at.vfs.getattr("/empty.txt")).size, 0);
  assertEquals(await offsetOf(at, upload), null);
}, BACKENDS);

contract(
  "tus: HEAD finishes an upload whose bytes are all durable but not placed",
  async (store) => {
    const at = await instance(store);
    await at.vfs.mkdir("/d");
    const upload = await create(at, 6, { path: "/d/f.txt" });
    assertEquals((await patch(at, upload, 0, new TextEncoder().encode("abc"))).status, 204);
    // As if the request carrying the last chunk died after its commit, before the rename.
    const id = upload.split("/").pop()!;
    await at.vfs.write(`${STAGING_DIR}/${id}`, 3, new TextEncoder().encode("def"));
    assertEquals(await statOrNull(at.vfs, "/d/f.txt"), null);
    // A lock taken meanwhile holds it back (HEAD says why; a client retries)...
    const lock = await at.vfs.locks.lock({
      root: "/d/f.txt",
      depth: "0",
      scope: "exclusive",
      owner: "test",
      timeout: 3600,
    });
    const held = await at.request(upload, { method: "HEAD", headers: TUS });
    await held.body?.cancel();
    assertEquals(held.status, 423);
    assertEquals(await statOrNull(at.vfs, "/d/f.txt"), null);
    // ...and with the lock's token, HEAD rolls the completion forward: offset = length is true.
    const head = await at.request(upload, {
      method: "HEAD",
      headers: { ...TUS, "lock-token": `<${lock.token}>` },
    });
    await head.body?.cancel();
    assertEquals([head.status, head.headers.get("upload-offset")], [200, "6"]);
    assertEquals(new TextDecoder().decode(await readAll(at.vfs, "/d/f.txt")), "abcdef");
    assertEquals(await offsetOf(at, upload), null);
  },
  BACKENDS,
);

contract("tus: creating an upload sweeps expired ones in the background", async (store) => {
  const c = clock();
  const at = await instance(store, { now: c.now, expiryMs: HOUR, sweepEveryMs: 60_000 });
  const old = await create(at, 10, { path: "/old.txt" });
  c.t += HOUR + SKEW_MARGIN_MS + 1;
  await create(at, 10, { path: "/new.txt" }); // starts the sweep
  const oldId = old.split("/").pop()!;
  for (let i = 0; i < 200; i++) {
    if (await statOrNull(at.vfs, `${STAGING_DIR}/${oldId}.json`) === null) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  assertEquals(await statOrNull(at.vfs, `${STAGING_DIR}/${oldId}.json`), null);
  assertEquals((await at.vfs.readdir(STAGING_DIR)).entries.length, 1);
}, BACKENDS);

contract(
  "tus: a method the endpoint does not take is 405 with what it allows, and changes nothing",
  async (store) => {
    const at = await instance(store);
    const upload = await create(at, 10, { path: "/t.bin" });
    const cases: [string, string, string][] = [
      ["GET", "/api/v1/uploads/", "OPTIONS, POST"],
      ["HEAD", "/api/v1/uploads", "OPTIONS, POST"],
      ["DELETE", "/api/v1/uploads/", "OPTIONS, POST"],
      ["PUT", "/api/v1/uploads/", "OPTIONS, POST"],
      ["GET", upload, "HEAD, PATCH, DELETE, OPTIONS, POST"],
      ["PUT", upload, "HEAD, PATCH, DELETE, OPTIONS, POST"],
    ];
    for (const [method, path, allow] of cases) {
      const res = await at.request(path, { method, headers: TUS });
      await res.body?.cancel();
      assertEquals([method, path, res.status, res.headers.get("allow")], [
        method,
        path,
        405,
        allow,
      ]);
    }
    assertEquals(await offsetOf(at, upload), 0);
    assertEquals(await statOrNull(at.vfs, "/t.bin"), null);
  },
  BACKENDS,
);
