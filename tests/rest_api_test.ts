// The HTTP file API through app.request, on memory and on real S3: reads with ranges and
// conditionals, streamed PUTs, offset PATCHes, deletes, and the problem documents.

import { assert, assertEquals, assertRejects } from "./_assert.ts";
import { bytes, chunked, pattern, text } from "./_stores.ts";
import { BASE, mount, restTest } from "./rest_harness.ts";
import { PageFsClient, PageFsError } from "../src/rest/mod.ts";
import { MemoryStore } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";

const DIGITS = "0123456789";

restTest("GET answers the range matrix of RFC 9110", async ({ client, req }) => {
  await client.put("/d.txt", DIGITS);
  await client.put("/empty", "");
  const cases: [string, number, string | null, string | null][] = [
    // [Range, status, body (null: no check), Content-Range]
    ["bytes=0-4", 206, "01234", "bytes 0-4/10"],
    ["bytes=5-", 206, "56789", "bytes 5-9/10"],
    ["bytes=-3", 206, "789", "bytes 7-9/10"],
    ["bytes=-20", 206, DIGITS, "bytes 0-9/10"],
    ["bytes=8-100", 206, "89", "bytes 8-9/10"],
    ["bytes=9-9", 206, "9", "bytes 9-9/10"],
    ["BYTES = 1-1", 206, "1", "bytes 1-1/10"],
    ["bytes=0-99999999999999999999", 206, DIGITS, "bytes 0-9/10"],
    ["bytes=10-", 416, null, "bytes */10"],
    ["bytes=10-20", 416, null, "bytes */10"],
    ["bytes=-0", 416, null, "bytes */10"],
    ["bytes=99999999999999999999-", 416, null, "bytes */10"],
    // Invalid or unsupported: ignored, the whole file (RFC 9110 section 14.2).
    ["bytes=5-2", 200, DIGITS, null],
    ["bytes=abc", 200, DIGITS, null],
    ["bytes=-1-2", 200, DIGITS, null],
    ["items=0-1", 200, DIGITS, null],
    ["bytes=0-1,3-4", 200, DIGITS, null],
    ["bytes=", 200, DIGITS, null],
  ];
  for (const [range, status, body, contentRange] of cases) {
    const res = await req("/fs/d.txt", { headers: { range } });
    const got = await res.text();
    assertEquals(res.status, status, range);
    assertEquals(res.headers.get("content-range"), contentRange, range);
    if (body !== null) {
      assertEquals(got, body, range);
      assertEquals(res.headers.get("content-length"), String(body.length), range);
    } else {
      assertEquals(res.headers.get("content-type"), "application/problem+json", range);
      assertEquals(JSON.parse(got).errno, "ERANGE");
    }
  }
  const empty = await req("/fs/empty", { headers: { range: "bytes=0-" } });
  assertEquals([empty.status, empty.headers.get("content-range")], [416, "bytes */0"]);
  await empty.body?.cancel();
  // A suffix range is the one satisfiable form for an empty file (RFC 9110 14.1.1), yet no
  // Content-Range can say so: the whole, empty file (before session 16: 416).
  const suffix = await req("/fs/empty", { headers: { range: "bytes=-5" } });
  assertEquals(
    [suffix.status, suffix.headers.get("content-range"), suffix.headers.get("content-length")],
    [200, null, "0"],
  );
  assertEquals(await suffix.text(), "");
  // HEAD ignores Range; If-Range applies it only for the current strong ETag.
  const head = await req("/fs/d.txt", { method: "HEAD", headers: { range: "bytes=0-1" } });
  assertEquals([head.status, head.headers.get("content-length")], [200, "10"]);
  const etag = (await client.stat("/d.txt")).etag;
  const ifRange = async (value: string) => {
    const res = await req("/fs/d.txt", { headers: { range: "bytes=0-1", "if-range": value } });
    return [res.status, await res.text()];
  };
  assertEquals(await ifRange(`"${etag}"`), [206, "01"]);
  assertEquals(await ifRange(`"stale"`), [200, DIGITS]);
  assertEquals(await ifRange(new Date(Date.now() + 3600_000).toUTCString()), [200, DIGITS]);
  // The client's offset/length reads.
  assertEquals(text(await client.readBytes("/d.txt", { offset: 3, length: 4 })), "3456");
});

restTest("GET and HEAD carry validators, type and length", async ({ client, req }) => {
  await client.put("/page.html", "<p>hi</p>");
  const stat = await client.stat("/page.html");
  for (const method of ["GET", "HEAD"]) {
    const res = await req("/fs/page.html", { method });
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("etag"), `"${stat.etag}"`);
    assertEquals(res.headers.get("last-modified"), new Date(stat.mtime).toUTCString());
    assertEquals(res.headers.get("accept-ranges"), "bytes");
    assertEquals(res.headers.get("content-type"), "text/html; charset=utf-8");
    assertEquals(res.headers.get("content-length"), "9");
    assertEquals(res.headers.get("content-security-policy"), "sandbox");
    assertEquals(await res.text(), method === "GET" ? "<p>hi</p>" : "");
  }
  for (const [name, type] of [["a.PNG", "image/png"], ["b", "application/octet-stream"]]) {
    await client.put(`/${name}`, "x");
    assertEquals((await client.head(`/${name}`)).contentType, type);
  }
});

restTest("conditional requests follow RFC 9110 precedence", async ({ client, req, vfs }) => {
  await client.put("/f", "v1");
  const stat = await vfs.lookup("/f");
  const e = `"${stat.etag}"`;
  const past = new Date(stat.mtime - 3600_000).toUTCString();
  const future = new Date(stat.mtime + 3600_000).toUTCString();
  const get = async (headers: Record<string, string>) => {
    const res = await req("/fs/f", { headers });
    await res.body?.cancel();
    return res.status;
  };
  const matrix: [Record<string, string>, number][] = [
    [{ "if-none-match": e }, 304],
    [{ "if-none-match": `W/${e}` }, 304],
    [{ "if-none-match": `"x", ${e}` }, 304],
    [{ "if-none-match": "*" }, 304],
    [{ "if-none-match": `"other"` }, 200],
    [{ "if-match": e }, 200],
    [{ "if-match": "*" }, 200],
    [{ "if-match": `"other"` }, 412],
    [{ "if-match": `W/${e}` }, 412],
    [{ "if-modified-since": future }, 304],
    [{ "if-modified-since": past }, 200],
    [{ "if-modified-since": "not a date" }, 200],
    [{ "if-unmodified-since": past }, 412],
    [{ "if-unmodified-since": future }, 200],
    // If-None-Match outranks If-Modified-Since; If-Match outranks If-Unmodified-Since.
    [{ "if-none-match": `"other"`, "if-modified-since": future }, 200],
    [{ "if-none-match": e, "if-modified-since": past }, 304],
    [{ "if-match": e, "if-unmodified-since": past }, 200],
    [{ "if-match": `"other"`, "if-none-match": `"other"` }, 412],
    [{ "if-match": e, "if-none-match": e }, 304],
  ];
  for (const [headers, status] of matrix) {
    assertEquals(await get(headers), status, JSON.stringify(headers));
  }
  const notModified = await req("/fs/f", { headers: { "if-none-match": e } });
  assertEquals(notModified.headers.get("etag"), e);
  assertEquals(await notModified.text(), "");
  // A listing has no entity tag: If-Match of a tag fails, If-None-Match: * is 304 (RFC
  // 9110 13.1.1 and 13.1.2); before session 16 a listing ignored both (200).
  const listing = async (headers: Record<string, string>, method = "GET") => {
    const res = await req("/fs/", { method, headers });
    await res.body?.cancel();
    return res.status;
  };
  assertEquals(
    [
      await listing({ "if-match": e }),
      await listing({ "if-none-match": "*" }),
      await listing({ "if-none-match": "*" }, "HEAD"),
      await listing({ "if-match": "*" }),
      await listing({ "if-none-match": e }),
      await listing({ "if-modified-since": future }),
    ],
    [412, 304, 304, 200, 200, 200],
  );

  // Writes: a failed precondition is 412 and changes nothing.
  const put = (headers: Record<string, string>, path = "/fs/f") =>
    req(path, { method: "PUT", headers, body: "v2" }).then(async (r) => {
      await r.body?.cancel();
      return r.status;
    });
  assertEquals(await put({ "if-match": `"stale"` }), 412);
  assertEquals(await put({ "if-none-match": "*" }), 412);
  assertEquals(await put({ "if-unmodified-since": past }), 412);
  assertEquals(await put({ "if-match": "*" }, "/fs/missing"), 412);
  assertEquals(await client.readText("/f"), "v1");
  assertEquals(await put({ "if-match": e }), 204);
  assertEquals(await client.readText("/f"), "v2");
  assertEquals(await put({ "if-none-match": "*" }, "/fs/new"), 201);
  const error = await assertRejects(() => client.put("/f", "v3", { ifMatch: stat.etag }));
  assert(error instanceof PageFsError);
  assertEquals([error.status, error.errno], [412, "ESTALE"]);
  // A missing file is 404 for GET and DELETE whatever the preconditions say.
  const gone = await req("/fs/nothing", { headers: { "if-match": "*" } });
  assertEquals(gone.status, 404);
  await gone.body?.cancel();
  // DELETE honours If-Match.
  const current = (await client.stat("/f")).etag;
  await assertRejects(() => client.delete("/f", { ifMatch: "stale" }));
  assertEquals(await client.readText("/f"), "v2");
  await client.delete("/f", { ifMatch: current });
  assertEquals((await client.read("/new")).status, 200);
});

restTest("PUT streams a body with or without Content-Length", async ({ client, req, vfs }) => {
  const data = pattern(300_000, 7);
  const withLength = await req("/fs/a.bin", {
    method: "PUT",
    headers: { "content-length": String(data.length) },
    body: data as BodyInit,
  });
  assertEquals(withLength.status, 201);
  const created = await withLength.json();
  assertEquals([created.path, created.size, created.type], ["/a.bin", data.length, "file"]);
  assertEquals(withLength.headers.get("etag"), `"${created.etag}"`);
  const streamed = await client.put("/b.bin", chunked(data, 7_777));
  assertEquals(streamed.created, true);
  assertEquals(await client.readBytes("/b.bin"), data);
  assertEquals(await client.readBytes("/a.bin"), data);
  // Replacing is 204; the new ETag is the file's.
  const replaced = await client.put("/b.bin", chunked(data.subarray(0, 5000), 999));
  assertEquals(replaced.created, false);
  assertEquals(replaced.etag, (await vfs.lookup("/b.bin")).etag);
  assertEquals((await vfs.lookup("/b.bin")).size, 5000);
  // A body shorter or longer than declared is refused and the file is left as it was.
  for (const declared of [data.length + 1, 10]) {
    const res = await req("/fs/a.bin", {
      method: "PUT",
      headers: { "content-length": String(declared) },
      body: chunked(data, 65536),
      duplex: "half",
    } as RequestInit);
    assertEquals(res.status, 400);
    await res.body?.cancel();
  }
  assertEquals(await client.readBytes("/a.bin"), data);
});

restTest("PUT makes directories, parents, and takes the client's mtime", async ({ client }) => {
  await assertRejects(() => client.put("/x/y/z.txt", "z"));
  assertEquals((await client.put("/top.txt", "t", { parents: true })).created, true);
  assertEquals((await client.put("/x/y/z.txt", "z", { parents: true })).created, true);
  assertEquals(await client.readText("/x/y/z.txt"), "z");
  const dir = await client.request("PUT", `${BASE}/fs/newdir/`);
  assertEquals(dir.status, 201);
  assertEquals((await dir.json()).type, "directory");
  assertEquals((await client.stat("/newdir")).type, "directory");
  await client.put("/m.txt", "m", { mtime: 1_600_000_000_000 });
  assertEquals((await client.stat("/m.txt")).mtime, "2020-09-13T12:26:40.000Z");
  await client.request("PUT", `${BASE}/fs/m.txt?mtime=1500000000.5`, { body: "n" });
  assertEquals((await client.stat("/m.txt")).mtime, "2017-07-14T02:40:00.500Z");
  const error = await assertRejects(() => client.put("/newdir", "x"));
  assertEquals((error as PageFsError).errno, "EISDIR");
  assertEquals((error as PageFsError).status, 409);
});

restTest("PATCH writes at offsets and appends, keeping the other bytes", async ({ client }) => {
  const reference = pattern(20_000, 3);
  await client.put("/p.bin", reference);
  const writes: [number, number][] = [[0, 10], [4095, 2], [10_000, 5000], [19_990, 10]];
  for (const [offset, length] of writes) {
    const chunk = pattern(length, offset + 11);
    const { etag } = await client.patch("/p.bin", chunk, { offset });
    reference.set(chunk, offset);
    assertEquals(etag, (await client.stat("/p.bin")).etag);
  }
  assertEquals(await client.readBytes("/p.bin"), reference);
  // ?offset= with a streamed body, past the end: the gap reads as zeros.
  const tail = pattern(3000, 99);
  await client.patch("/p.bin", chunked(tail, 1000), { offset: 25_000 });
  const grown = new Uint8Array(28_000);
  grown.set(reference);
  grown.set(tail, 25_000);
  assertEquals(await client.readBytes("/p.bin"), grown);
  await client.patch("/p.bin", "!!", { append: true });
  await client.patch("/p.bin", chunked(bytes("??"), 1), { append: true });
  assertEquals(text((await client.readBytes("/p.bin")).subarray(28_000)), "!!??");
  // Missing files need ?create=1.
  const missing = await assertRejects(() => client.patch("/none", "x", { offset: 0 }));
  assertEquals((missing as PageFsError).status, 404);
  await client.patch("/new", "abc", { offset: 2, create: true });
  assertEquals(await client.readBytes("/new"), new Uint8Array([0, 0, 97, 98, 99]));
  await client.patch("/log", "a", { append: true, create: true });
  await client.patch("/log", "b", { append: true, create: true });
  assertEquals(await client.readText("/log"), "ab");
});

restTest("DELETE removes files, empty directories, and trees on request", async (t) => {
  const { client, vfs } = t;
  await client.put("/t/a/b/c.txt", "c", { parents: true });
  await client.put("/t/a/d.txt", "d");
  await client.put("/t/e.txt", "e");
  await client.symlink("/t/link", "/t/a");
  await client.mkdir("/t/empty");
  const notEmpty = await assertRejects(() => client.delete("/t/a"));
  assertEquals([(notEmpty as PageFsError).status, (notEmpty as PageFsError).errno], [
    409,
    "ENOTEMPTY",
  ]);
  await client.delete("/t/empty");
  await client.delete("/t/e.txt");
  await client.delete("/t/link");
  assertEquals((await client.stat("/t/a/d.txt")).size, 1);
  await client.delete("/t", { recursive: true });
  const gone = await assertRejects(() => client.stat("/t"));
  assertEquals((gone as PageFsError).status, 404);
  assertEquals((await vfs.readdir("/")).entries.length, 0);
  const root = await assertRejects(() => client.delete("/", { recursive: true }));
  assertEquals([(root as PageFsError).status, (root as PageFsError).errno], [409, "EBUSY"]);
});

restTest("GET of a directory lists it in pages", async ({ client, req }) => {
  for (let i = 0; i < 7; i++) await client.put(`/dir/f${i}`, "x".repeat(i), { parents: true });
  await client.mkdir("/dir/sub", { mode: 0o700 });
  const first = await client.list("/dir", { limit: 3 });
  assertEquals(first.entries.map((e) => e.name), ["f0", "f1", "f2"]);
  assertEquals(first.entries[2]!.size, 2);
  assert(first.cursor !== null);
  const all = await client.listAll("/dir", { limit: 3 });
  assertEquals(all.map((e) => e.name), ["f0", "f1", "f2", "f3", "f4", "f5", "f6", "sub"]);
  const sub = all.find((e) => e.name === "sub")!;
  assertEquals([sub.type, sub.modeOctal], ["directory", "0700"]);
  const trailing = await req("/fs/dir/?limit=1");
  assertEquals((await trailing.json()).entries.length, 1);
  const root = await (await req("/fs")).json();
  assertEquals([root.path, root.entries.length], ["/", 1]);
});

restTest("POST operations answer the resulting stat", async ({ client, vfs }) => {
  assertEquals((await client.mkdir("/a/b/c", { parents: true })).type, "directory");
  const modeText = await client.op("/m", { op: "mkdir", mode: "0701" });
  assertEquals(modeText.modeOctal, "0701");
  await client.put("/a/f.txt", "hello");
  // rename, with and without replacing.
  await client.put("/a/g.txt", "other");
  const clash = await assertRejects(() =>
    client.rename("/a/f.txt", "/a/g.txt", { noReplace: true })
  );
  assertEquals([(clash as PageFsError).status, (clash as PageFsError).errno], [409, "EEXIST"]);
  const moved = await client.rename("/a/f.txt", "/a/b/moved.txt");
  assertEquals([moved.path, moved.size], ["/a/b/moved.txt", 5]);
  await assertRejects(() => client.stat("/a/f.txt"));
  // copy shares content; noReplace refuses an existing target.
  const copied = await client.copy("/a/b/moved.txt", "/copy.txt");
  assertEquals(copied.path, "/copy.txt");
  assertEquals(await client.readText("/copy.txt"), "hello");
  await assertRejects(() => client.copy("/a/g.txt", "/copy.txt", { noReplace: true }));
  assertEquals(await client.readText("/copy.txt"), "hello");
  // symlink and readlink; link raises nlink.
  assertEquals((await client.symlink("/ln", "/a/b/moved.txt")).type, "symlink");
  assertEquals(await client.readlink("/ln"), "/a/b/moved.txt");
  assertEquals((await client.stat("/ln", { follow: true })).type, "file");
  assertEquals(await client.readText("/ln"), "hello");
  assertEquals((await client.link("/copy.txt", "/hard.txt")).nlink, 2);
  assertEquals((await client.stat("/copy.txt")).nlink, 2);
  // Attributes.
  assertEquals((await client.truncate("/copy.txt", 2)).size, 2);
  assertEquals(await client.readText("/hard.txt"), "he");
  assertEquals((await client.chmod("/copy.txt", 0o600)).modeOctal, "0600");
  const owned = await client.chown("/copy.txt", { uid: 1000, gid: 100 });
  assertEquals([owned.uid, owned.gid], [1000, 100]);
  const timed = await client.utimes("/copy.txt", {
    atime: 1_000_000,
    mtime: new Date("2001-02-03T04:05:06.789Z"),
  });
  assertEquals([timed.atime, timed.mtime], [
    new Date(1_000_000).toISOString(),
    "2001-02-03T04:05:06.789Z",
  ]);
  const iso = await client.op("/copy.txt", { op: "utimes", mtime: "2010-01-01T00:00:00+02:00" });
  assertEquals(iso.mtime, "2009-12-31T22:00:00.000Z");
  const touched = await client.utimes("/copy.txt", {});
  assert(Date.parse(touched.mtime) > Date.parse("2020-01-01"));
  // Extended attributes.
  await client.setxattr("/copy.txt", "user.color", { value: new Uint8Array([0, 255, 7]) });
  await client.setxattr("/copy.txt", "user.tag", { value: "x" });
  assertEquals(await client.listxattr("/copy.txt"), ["user.color", "user.tag"]);
  assertEquals(await client.getxattr("/copy.txt", "user.color"), new Uint8Array([0, 255, 7]));
  const exists = await assertRejects(() =>
    client.setxattr("/copy.txt", "user.tag", { value: "y", create: true })
  );
  assertEquals((exists as PageFsError).status, 409);
  const absent = await assertRejects(() =>
    client.setxattr("/copy.txt", "user.none", { value: "y", replace: true })
  );
  assertEquals([(absent as PageFsError).status, (absent as PageFsError).errno], [404, "ENODATA"]);
  await client.removexattr("/copy.txt", "user.tag");
  assertEquals(await vfs.listxattr("/copy.txt"), ["user.color"]);
  const noAttr = await assertRejects(() => client.getxattr("/copy.txt", "user.tag"));
  assertEquals((noAttr as PageFsError).errno, "ENODATA");
  const statfs = await client.statfs();
  assertEquals(statfs.nameMax, 255);
});

restTest("errors are problem documents with the errno and path", async ({ req, client }) => {
  await client.put("/file", "x");
  const cases: [string, RequestInit, number, string][] = [
    ["/fs/missing/x", {}, 404, "ENOENT"],
    ["/stat/file/below", {}, 409, "ENOTDIR"],
    ["/readlink/file", {}, 400, "EINVAL"],
    ["/fs/file", { method: "PATCH", body: "x" }, 400, "EINVAL"],
    ["/fs/", { method: "DELETE" }, 409, "EBUSY"],
  ];
  for (const [path, init, status, errno] of cases) {
    const res = await req(path, init);
    assertEquals(res.status, status, path);
    assertEquals(res.headers.get("content-type"), "application/problem+json");
    const problem = await res.json();
    assertEquals(Object.keys(problem).sort(), [
      "detail",
      "errno",
      "path",
      "status",
      "title",
      "type",
    ]);
    assertEquals([problem.status, problem.errno], [status, errno], path);
    assertEquals(problem.type, `urn:pagefs:errno:${errno}`);
    assert(typeof problem.title === "string" && problem.title.length > 0);
  }
  const missing = await (await req("/fs/missing/x")).json();
  assertEquals(missing.path, "/missing/x");
  const error = await assertRejects(() => client.readText("/nope"));
  assert(error instanceof PageFsError);
  assertEquals([error.status, error.errno, error.path], [404, "ENOENT", "/nope"]);
  const method = await req("/fs/file", { method: "OPTIONS" });
  assertEquals([method.status, method.headers.get("allow")], [
    405,
    "GET, HEAD, PUT, PATCH, DELETE, POST",
  ]);
});

restTest("two racing PUT If-None-Match: * get exactly one 201", async ({ req, client }) => {
  for (let round = 0; round < 4; round++) {
    const path = `/race${round}`;
    const put = (body: Uint8Array) =>
      req(`/fs${path}`, {
        method: "PUT",
        headers: { "if-none-match": "*" },
        body: chunked(body, 4096),
        duplex: "half",
      } as RequestInit);
    const bodies = [pattern(20_000, 1), pattern(20_000, 2)];
    const results = await Promise.all(bodies.map(put));
    const statuses = results.map((r) => r.status).sort();
    for (const r of results) await r.body?.cancel();
    assertEquals(statuses, [201, 412], `round ${round}`);
    const winner = bodies[results.findIndex((r) => r.status === 201)]!;
    assertEquals(await client.readBytes(path), winner);
  }
});

restTest(
  "racing PUTs and PATCHes with the same If-Match: exactly one wins",
  async ({ req, client }) => {
    for (let round = 0; round < 4; round++) {
      const path = `/match${round}`;
      const first = await req(`/fs${path}`, {
        method: "PUT",
        body: chunked(pattern(30_000, 7), 4096),
        duplex: "half",
      } as RequestInit);
      await first.body?.cancel();
      const etag = first.headers.get("etag")!;
      const method = round % 2 ? "PATCH" : "PUT";
      const send = (body: Uint8Array) =>
        req(`/fs${path}${method === "PATCH" ? "?offset=100" : ""}`, {
          method,
          headers: { "if-match": etag },
          body: chunked(body, 4096),
          duplex: "half",
        } as RequestInit);
      const bodies = [pattern(20_000, 1), pattern(20_000, 2)];
      const results = await Promise.all(bodies.map(send));
      for (const r of results) await r.body?.cancel();
      const statuses = results.map((r) => r.status).sort();
      assertEquals(statuses, method === "PUT" ? [204, 412] : [204, 412], `round ${round}`);
      const winner = bodies[results.findIndex((r) => r.status === 204)]!;
      const expected = method === "PUT" ? winner : pattern(30_000, 7);
      if (method === "PATCH") expected.set(winner, 100);
      assertEquals(await client.readBytes(path), expected);
    }
  },
);

Deno.test({
  name: "the API serves over a real HTTP server, streaming both ways",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const app = mount(await Vfs.open(new MemoryStore()));
    const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, app.fetch);
    try {
      const client = new PageFsClient(`http://127.0.0.1:${server.addr.port}/api/v1/`);
      const data = pattern(2_000_000, 5);
      assertEquals((await client.put("/big.bin", chunked(data, 100_000))).created, true);
      const read = await client.read("/big.bin");
      assertEquals(read.size, data.length);
      assertEquals(new Uint8Array(await new Response(read.body).arrayBuffer()), data);
      const range = await client.readBytes("/big.bin", { offset: 1_999_990, length: 100 });
      assertEquals(range, data.subarray(1_999_990));
      await client.patch("/big.bin", "xyz", { offset: 10 });
      assertEquals(text(await client.readBytes("/big.bin", { offset: 10, length: 3 })), "xyz");
    } finally {
      await server.shutdown();
    }
  },
});

Deno.test({
  name: "a PUT or append cut short commits nothing and leaves no multipart upload open",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    class Counting extends MemoryStore {
      open = 0;
      override createMultipart(key: string) {
        this.open++;
        return super.createMultipart(key);
      }
      override completeMultipart(...args: Parameters<MemoryStore["completeMultipart"]>) {
        this.open--;
        return super.completeMultipart(...args);
      }
      override abortMultipart(...args: Parameters<MemoryStore["abortMultipart"]>) {
        this.open--;
        return super.abortMultipart(...args);
      }
    }
    const store = new Counting();
    const vfs = await Vfs.open(store, { partSize: 5 << 20 });
    const app = mount(vfs);
    await vfs.writeFile("/f", bytes("keep"));
    const big = pattern(6 << 20, 3);
    for (const url of ["/fs/f", "/fs/f?append=1"]) {
      const res = await app.request(BASE + url, {
        method: url.includes("append") ? "PATCH" : "PUT",
        // Declared one byte more than sent: the body ends early, like a dropped client.
        headers: { "content-length": String(big.length + 1) },
        body: chunked(big, 1 << 20),
        duplex: "half",
      } as RequestInit);
      assertEquals(res.status, 400, url);
      await res.body?.cancel();
      assertEquals(store.open, 0, url);
      assertEquals(text(await vfs.read("/f", 0, 100)), "keep");
    }
  },
});
