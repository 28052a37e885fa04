// WebDAV content and namespace methods through the whole app, on memory and on real S3:
// PUT (streamed, at an offset, cut short, with a client mtime), DELETE of trees, COPY and
// MOVE with Depth and Overwrite.

import { DAV, parseXml, textOf } from "../src/webdav/xml.ts";
import { assert, assertEquals } from "./_assert.ts";
import { chunked, pattern } from "./_stores.ts";
import { child, Dav, davTest, kids, ORIGIN, parseMultistatus, prop, propfindBody } from "./_dav.ts";
import { FsError } from "../src/vfs/errors.ts";
import { Authenticator, hashPassword } from "../src/auth/mod.ts";
import { snapshot } from "./rest_harness.ts";

async function bytesOf(dav: Dav, path: string): Promise<Uint8Array> {
  const res = await dav.send("GET", path);
  assertEquals(res.status, 200, `GET ${path}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function lastModified(dav: Dav, path: string): Promise<string> {
  const ms = await dav.propfind(path, "0", propfindBody([[DAV, "getlastmodified"]]));
  return textOf(prop(ms, path, DAV, "getlastmodified"));
}

davTest("PUT streams a body without Content-Length; 201 then 204", async ({ a }) => {
  const data = pattern(300_000, 7);
  const res = await a.send("PUT", "/big.bin", { body: chunked(data, 7777) });
  await res.body?.cancel();
  assertEquals(res.status, 201);
  const etag = res.headers.get("etag");
  assert(etag?.startsWith('"'), `ETag ${etag}`);
  assertEquals(await bytesOf(a, "/big.bin"), data);
  const ms = await a.propfind("/big.bin", "0", propfindBody([[DAV, "getetag"]]));
  assertEquals(textOf(prop(ms, "/big.bin", DAV, "getetag")), etag);

  const smaller = data.subarray(0, 1000);
  assertEquals(await a.put("/big.bin", chunked(smaller, 99)), 204);
  assertEquals(await bytesOf(a, "/big.bin"), smaller);
  assertEquals(await a.put("/empty", new Uint8Array(0)), 201);
  assertEquals(await a.text("/empty"), "");
});

davTest("PUT with Content-Range writes at the offset and keeps the rest", async ({ a }) => {
  assertEquals(await a.put("/r.txt", "0123456789"), 201);
  assertEquals(await a.put("/r.txt", "abcd", { "content-range": "bytes 4-7/*" }), 204);
  assertEquals(await a.text("/r.txt"), "0123abcd89");
  assertEquals(await a.put("/r.txt", "XY", { "content-range": "bytes 10-11/*" }), 204);
  assertEquals(await a.text("/r.txt"), "0123abcd89XY");
  // The body must be as long as the range says.
  assertEquals(await a.put("/r.txt", "abc", { "content-range": "bytes 0-7/*" }), 400);
  assertEquals(await a.text("/r.txt"), "0123abcd89XY");
});

davTest("PUT of a body shorter than Content-Length keeps the old content", async ({ a }) => {
  const old = pattern(50_000, 3);
  assertEquals(await a.put("/s.bin", chunked(old, 65536)), 201);
  const before = await snapshot(a.vfs);
  for (const size of [10, 70_000]) {
    const cut = pattern(size, 9);
    const status = await a.put("/s.bin", chunked(cut, 1000), {
      "content-length": String(size + 1),
    });
    assertEquals(status, 400, `${size} of ${size + 1} bytes`);
  }
  assertEquals(await bytesOf(a, "/s.bin"), old);
  // A new file cut short is not created either.
  assertEquals(await a.put("/t.bin", chunked(pattern(10), 3), { "content-length": "11" }), 400);
  assertEquals(await snapshot(a.vfs), before);
});

davTest("PUT takes X-OC-Mtime; refuses collections and missing parents", async ({ a }) => {
  const res = await a.send("PUT", "/m.txt", {
    body: "m",
    headers: { "x-oc-mtime": "1700000000" },
  });
  await res.body?.cancel();
  assertEquals([res.status, res.headers.get("x-oc-mtime")], [201, "accepted"]);
  assertEquals(await lastModified(a, "/m.txt"), "Tue, 14 Nov 2023 22:13:20 GMT");
  assertEquals(await a.put("/m.txt", "n", { "x-oc-mtime": "1600000000" }), 204);
  assertEquals(await lastModified(a, "/m.txt"), "Sun, 13 Sep 2020 12:26:40 GMT");
  assertEquals(await a.put("/m.txt", "o", { "x-oc-mtime": "yesterday" }), 400);
  assertEquals(await a.text("/m.txt"), "n");

  assertEquals(await a.put("/no/such/dir.txt", "x"), 409);
  assertEquals(await a.put("/m.txt/below", "x"), 409);
  assertEquals(await a.mkcol("/d"), 201);
  assertEquals(await a.put("/d", "x"), 405);
  assertEquals(await a.put("/d/", "x"), 405);
  assertEquals(await a.members("/"), ["d", "m.txt"]);
});

/** A tree: /t/a.txt, /t/sub/b.txt, /t/sub/deep/c.txt, /t/empty/. */
async function makeTree(dav: Dav, root: string): Promise<void> {
  for (const dir of ["", "/sub", "/sub/deep", "/empty"]) {
    assertEquals(await dav.mkcol(root + dir), 201);
  }
  assertEquals(await dav.put(`${root}/a.txt`, "a"), 201);
  assertEquals(await dav.put(`${root}/sub/b.txt`, "b"), 201);
  assertEquals(await dav.put(`${root}/sub/deep/c.txt`, "c"), 201);
}

davTest("DELETE removes a whole tree", async ({ a }) => {
  await makeTree(a, "/t");
  assertEquals(await a.put("/keep.txt", "k"), 201);
  assertEquals(await a.status("DELETE", "/t"), 204);
  assertEquals(await a.members("/"), ["keep.txt"]);
  assertEquals(await a.text("/t/sub/deep/c.txt"), null);
  assertEquals(await a.status("PROPFIND", "/t", { headers: { depth: "0" } }), 404);
  assertEquals(await a.status("DELETE", "/t"), 404);
  assertEquals(await a.status("DELETE", "/"), 403);
});

davTest("COPY copies trees; Depth 0 copies a collection without members", async ({ a }) => {
  await makeTree(a, "/t");
  const patch = `<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>` +
    `<Z:tag xmlns:Z="urn:z">dir</Z:tag></D:prop></D:set></D:propertyupdate>`;
  assertEquals(await a.status("PROPPATCH", "/t", { body: patch }), 207);

  const shallow = await a.status("COPY", "/t", {
    headers: { destination: "/dav/shallow", depth: "0" },
  });
  assertEquals(shallow, 201);
  assertEquals(await a.members("/shallow"), []);
  const ms = await a.propfind("/shallow", "0", propfindBody([["urn:z", "tag"]]));
  assertEquals(textOf(prop(ms, "/shallow", "urn:z", "tag")), "dir");

  assertEquals(await a.status("COPY", "/t", { headers: { destination: "/dav/full" } }), 201);
  assertEquals(await a.members("/full"), ["a.txt", "empty", "sub"]);
  assertEquals(await a.members("/full/sub"), ["b.txt", "deep"]);
  assertEquals(await a.text("/full/sub/deep/c.txt"), "c");
  // The copy is independent of the original.
  assertEquals(await a.put("/full/a.txt", "changed"), 204);
  assertEquals(await a.text("/t/a.txt"), "a");
  // COPY Depth 1 is not defined for collections; into itself is 403 (RFC 4918 9.8.5).
  const depth1 = { headers: { destination: "/dav/x", depth: "1" } };
  assertEquals(await a.status("COPY", "/t", depth1), 400);
  assertEquals(await a.status("COPY", "/t", { headers: { destination: "/dav/t/sub/x" } }), 403);
  assertEquals(await a.status("COPY", "/t/a.txt", { headers: { destination: "/dav/no/a" } }), 409);
  assertEquals(await a.status("COPY", "/none", { headers: { destination: "/dav/x" } }), 404);
  assertEquals(await a.members("/"), ["full", "shallow", "t"]);
});

davTest("COPY and MOVE with Overwrite F onto an existing target are 412", async ({ a }) => {
  await makeTree(a, "/src");
  await makeTree(a, "/dst");
  assertEquals(await a.put("/f.txt", "f"), 201);
  assertEquals(await a.put("/g.txt", "g"), 201);
  const before = await snapshot(a.vfs);
  for (const method of ["COPY", "MOVE"]) {
    for (const [from, to] of [["/src", "/dst"], ["/f.txt", "/g.txt"], ["/f.txt", "/dst"]]) {
      const status = await a.status(method, from!, {
        headers: { destination: `http://localhost/dav${to}`, overwrite: "F" },
      });
      assertEquals(status, 412, `${method} ${from} -> ${to}`);
    }
  }
  assertEquals(await snapshot(a.vfs), before);
});

davTest("MOVE with Overwrite T replaces a non-empty collection", async ({ a }) => {
  await makeTree(a, "/src");
  for (const dir of ["/dst", "/dst/old"]) assertEquals(await a.mkcol(dir), 201);
  assertEquals(await a.put("/dst/old/z.txt", "z"), 201);
  assertEquals(await a.put("/dst/a.txt", "old a"), 201);
  const moved = await a.status("MOVE", "/src", {
    headers: { destination: "/dav/dst", overwrite: "T" },
  });
  assertEquals(moved, 204);
  assertEquals(await a.members("/"), ["dst"]);
  assertEquals(await a.members("/dst"), ["a.txt", "empty", "sub"]);
  assertEquals(await a.text("/dst/a.txt"), "a");
  assertEquals(await a.text("/dst/old/z.txt"), null);
  assertEquals(await a.text("/dst/sub/deep/c.txt"), "c");

  // A file replaces a collection, and a file replaces a file, without Overwrite (T).
  assertEquals(await a.put("/f.txt", "f"), 201);
  assertEquals(await a.status("MOVE", "/f.txt", { headers: { destination: "/dav/dst" } }), 204);
  assertEquals(await a.text("/dst"), "f");
  assertEquals(await a.put("/g.txt", "g"), 201);
  assertEquals(await a.status("COPY", "/g.txt", { headers: { destination: "/dav/dst" } }), 204);
  assertEquals([await a.text("/dst"), await a.text("/g.txt")], ["g", "g"]);
  assertEquals(await a.status("MOVE", "/g.txt", { headers: { destination: "/dav/g.txt" } }), 403);
});

davTest(
  "a stale If-Match on MOVE, COPY, PROPPATCH, LOCK, UNLOCK or MKCOL is 412 and changes nothing",
  async ({ a }) => {
    await (await a.send("PUT", "/f", { body: "content" })).body?.cancel();
    await (await a.send("MKCOL", "/d/")).body?.cancel();
    const before = await snapshot(a.vfs);
    const destination = { destination: "http://localhost/dav/g" };
    const proppatch = '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">' +
      "<D:set><D:prop><Z:p>v</Z:p></D:prop></D:set></D:propertyupdate>";
    const lock = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>' +
      "</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>";
    const cases: [string, string, Record<string, string>, string?][] = [
      ["MOVE", "/f", destination],
      ["COPY", "/f", destination],
      ["MOVE", "/d/", destination],
      ["PROPPATCH", "/f", {}, proppatch],
      ["LOCK", "/f", {}, lock],
      ["UNLOCK", "/f", { "lock-token": "<urn:uuid:00000000-0000-0000-0000-000000000000>" }],
      ["MKCOL", "/e/", {}],
    ];
    for (const [method, path, headers, body] of cases) {
      for (
        const condition of [{ "if-match": '"stale"' }, {
          "if-unmodified-since": "Thu, 01 Jan 1970 00:00:00 GMT",
        }]
      ) {
        if (method === "MKCOL" && "if-unmodified-since" in condition) continue; // nothing there
        const res = await a.send(method, path, {
          headers: { ...headers, ...condition },
          ...(body ? { body } : {}),
        });
        assertEquals(
          res.status,
          412,
          `${method} ${path} ${JSON.stringify(condition)}: ${await res.text()}`,
        );
      }
    }
    assertEquals(await snapshot(a.vfs), before);
    // A current ETag lets the MOVE through.
    const etag = (await a.send("HEAD", "/f")).headers.get("etag")!;
    const moved = await a.send("MOVE", "/f", { headers: { ...destination, "if-match": etag } });
    assertEquals(moved.status, 201, await moved.text());
  },
);

// RFC 9110 section 13.2.1: preconditions are ignored when the request without them would
// fail anyway. Before session 16 these were 412, which blamed the client's condition.
davTest(
  "a MKCOL over something, or a PROPPATCH of nothing, fails as it would unconditionally",
  async ({ a }) => {
    assertEquals(await a.mkcol("/d"), 201);
    const before = await snapshot(a.vfs);
    const proppatch = '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z">' +
      "<D:set><D:prop><Z:p>v</Z:p></D:prop></D:set></D:propertyupdate>";
    const statuses: Record<string, number> = {};
    for (const condition of [{ "if-none-match": "*" }, { "if-match": '"stale"' }]) {
      const key = JSON.stringify(condition);
      statuses[`MKCOL /d ${key}`] = await a.status("MKCOL", "/d", { headers: condition });
      statuses[`PROPPATCH /nope ${key}`] = await a.status("PROPPATCH", "/nope", {
        headers: condition,
        body: proppatch,
      });
    }
    assertEquals(statuses, {
      'MKCOL /d {"if-none-match":"*"}': 405,
      'PROPPATCH /nope {"if-none-match":"*"}': 404,
      'MKCOL /d {"if-match":"\\"stale\\""}': 405,
      'PROPPATCH /nope {"if-match":"\\"stale\\""}': 404,
    });
    assertEquals(await snapshot(a.vfs), before);
    // Where the method would succeed, the condition decides: 412.
    assertEquals(await a.status("MKCOL", "/e", { headers: { "if-match": "*" } }), 412);
  },
);

// Windows' Mini-Redirector sends OPTIONS and PROPFIND to / before using
// http://host/dav/, and gives up unless they speak DAV (filestash issue 669, redmine_dmsf
// issue 598); gvfs PROPFINDs / too. Before session 16: 404 for both.
davTest(
  "OPTIONS and PROPFIND of the server root speak DAV, without credentials",
  async ({ a, store }) => {
    const hash = await hashPassword("pw", { iterations: 1000 });
    const auth = await Authenticator.load({ PAGEFS_USERS: `alice:${hash}:rw` });
    assert(auth);
    for (const dav of [a, new Dav(a.vfs, store, { auth })]) {
      const res = await dav.app.request(`${ORIGIN}/`, { method: "OPTIONS" });
      await res.body?.cancel();
      assertEquals(res.status, 200);
      assertEquals(res.headers.get("dav"), "1, 2");
      assertEquals(res.headers.get("ms-author-via"), "DAV");
      const found = await dav.app.request(`${ORIGIN}/`, {
        method: "PROPFIND",
        headers: { depth: "1" },
        body: propfindBody([[DAV, "resourcetype"], [DAV, "getetag"]]),
      });
      assertEquals(found.status, 207);
      const root = parseXml(await found.text());
      const responses = kids(root, DAV, "response").map((r) => ({
        href: textOf(child(r, DAV, "href")),
        props: Object.fromEntries(
          kids(r, DAV, "propstat").flatMap((ps) =>
            kids(child(ps, DAV, "prop")).map((p) => [
              `{${p.ns}}${p.name}`,
              textOf(child(ps, DAV, "status")).split(" ")[1],
            ])
          ),
        ),
      }));
      // The root and the mount, both collections; what they do not have is 404.
      const props = { "{DAV:}resourcetype": "200", "{DAV:}getetag": "404" };
      assertEquals(responses, [{ href: "/", props }, { href: "/dav/", props }]);
    }
    // The root is still the UI for everything else.
    const other = await a.app.request(`${ORIGIN}/`, { method: "MKCOL" });
    await other.body?.cancel();
    assertEquals(other.status, 404);
  },
);

davTest("a collection's GET has no entity tag to match", async ({ a }) => {
  assertEquals(await a.mkcol("/c"), 201);
  const get = (headers: Record<string, string>) => a.status("GET", "/c", { headers });
  assertEquals(
    [await get({ "if-match": '"x"' }), await get({ "if-none-match": "*" }), await get({})],
    [412, 304, 200],
  );
});

davTest("a collection's GET shows names with a bidi override as stored", async ({ a }) => {
  // A browser showed "invoice\u202Egpj.exe" as "invoiceexe.jpg" (before session 20).
  assertEquals(await a.mkcol("/c\u202Ed"), 201);
  assertEquals(await a.put("/c\u202Ed/invoice\u202Egpj.exe", "MZ"), 201);
  const res = await a.send("GET", "/c\u202Ed/");
  assertEquals(res.status, 200);
  const html = await res.text();
  assert(!html.includes("\u202E"), html);
  assert(
    html.includes(
      '<bdi dir="ltr">invoice<span class="hidden-char" title="U+202E">\u27E8U+202E\u27E9</span>' +
        "gpj.exe</bdi>",
    ),
    html,
  );
  assert(html.includes("<title>/\u2066c\u27E8U+202E\u27E9d\u2069</title>"), html);
  // The link still names the file as it is stored.
  assert(html.includes("invoice%E2%80%AEgpj.exe"), html);
});

// RFC 4918 section 9.9.2 restricts the Depth of a collection's MOVE only (Apache's mod_dav
// likewise). Before session 16 a file's MOVE with Depth 0 was 400.
davTest("MOVE of a file takes Depth 0; of a collection only infinity", async ({ a }) => {
  assertEquals(await a.put("/f", "f"), 201);
  assertEquals(await a.mkcol("/c"), 201);
  const move = (from: string, to: string, depth: string) =>
    a.status("MOVE", from, { headers: { destination: `${ORIGIN}/dav${to}`, depth } });
  assertEquals(await move("/f", "/g", "0"), 201);
  assertEquals(await a.text("/g"), "f");
  const before = await snapshot(a.vfs);
  assertEquals(await move("/c", "/d", "0"), 400);
  assertEquals(await move("/g", "/h", "1"), 400);
  assertEquals(await snapshot(a.vfs), before);
  assertEquals(await move("/c", "/d", "infinity"), 201);
});

davTest(
  "DELETE of a collection with a Depth other than infinity is 400 and removes nothing",
  async ({ a }) => {
    await (await a.send("MKCOL", "/c/")).body?.cancel();
    await (await a.send("PUT", "/c/f", { body: "kept" })).body?.cancel();
    const before = await snapshot(a.vfs);
    for (const depth of ["0", "1"]) {
      const res = await a.send("DELETE", "/c/", { headers: { depth } });
      assertEquals(res.status, 400, await res.text());
    }
    assertEquals(await snapshot(a.vfs), before);
    // A file's DELETE takes any Depth; a collection's with infinity or none goes.
    assertEquals((await a.send("DELETE", "/c/f", { headers: { depth: "0" } })).status, 204);
    assertEquals((await a.send("DELETE", "/c/", { headers: { depth: "infinity" } })).status, 204);
  },
);

// RFC 4918 section 9.6.1: a DELETE that removes part of a tree answers 207 naming what stayed;
// a collection's href ends with a slash (section 8.3), a file's does not.
davTest("DELETE of a tree answers 207 with the members it could not remove", async ({ a }) => {
  for (const dir of ["/t", "/t/sub"]) assertEquals(await a.mkcol(dir), 201);
  assertEquals(await a.put("/t/sub/f.txt", "f"), 201);
  assertEquals(await a.put("/t/g.txt", "g"), 201);
  const { rmdir, unlink } = a.vfs;
  a.vfs.rmdir = (path, ...rest) =>
    path === "/t/sub"
      ? Promise.reject(new FsError("EACCES", "injected", { path }))
      : rmdir.call(a.vfs, path, ...rest);
  a.vfs.unlink = (path, ...rest) =>
    path === "/t/g.txt"
      ? Promise.reject(new FsError("EACCES", "injected", { path }))
      : unlink.call(a.vfs, path, ...rest);
  const res = await a.send("DELETE", "/t");
  a.vfs.rmdir = rmdir;
  a.vfs.unlink = unlink;
  const ms = parseMultistatus(await res.text());
  assertEquals(res.status, 207);
  assertEquals(
    [...ms.values()].map((r) => [r.href, r.status]).sort(),
    [["/dav/t/g.txt", 403], ["/dav/t/sub/", 403]],
  );
  assertEquals(await a.members("/t"), ["g.txt", "sub"]);
  assertEquals(await a.members("/t/sub"), []);
});
