// What a limited, read-only or merely other principal can reach by ways the escape battery
// (security_test.ts) does not try: trees copied with their symlinks, the names a lock shows,
// and the server's own staging area behind a symlink. A real server process, requests as
// raw bytes over TCP (share links, which need several configurations over one bucket, go
// through app.request()), three principals: alice (rw, limited to /home/alice), reader (ro,
// everything) and root (rw, everything).

import { assert, assertEquals } from "./_assert.ts";
import { startServer, type TestServer } from "./_server.ts";
import { rawRequest } from "./_raw_http.ts";
import { Authenticator, generateToken, hashPassword, hashToken } from "../src/auth/mod.ts";
import { createApp } from "../src/app.ts";
import { MemoryStore, StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";

const SECRET = "BOB-SECRET-CONTENT-a51c";
const JSON_TYPE = { "content-type": "application/json" };
const TUS = { "tus-resumable": "1.0.0" };

interface World {
  readonly server: TestServer;
  /** Sends one request as `as` (a principal's name, or null for none). */
  send(
    as: "alice" | "reader" | "root",
    method: string,
    target: string,
    options?: { headers?: Record<string, string>; body?: string },
  ): Promise<{ status: number; headers: Headers; body: string }>;
  /** A POST operation of the HTTP API as root; asserts it succeeded. */
  op(path: string, body: Record<string, unknown>): Promise<void>;
}

async function start(): Promise<World> {
  const password = "pw-authz";
  const hash = await hashPassword(password, { iterations: 1000 });
  const users = [`alice:${hash}:rw:/home/alice`, `reader:${hash}:ro`, `root:${hash}:rw`].join(",");
  const server = await startServer({ store: "memory", env: { PAGEFS_USERS: users } });
  const port = Number(new URL(server.url).port);
  const send: World["send"] = (as, method, target, options = {}) =>
    rawRequest(port, method, target, {
      ...options,
      headers: { authorization: `Basic ${btoa(`${as}:${password}`)}`, ...options.headers },
    });
  const op: World["op"] = async (path, body) => {
    const res = await send("root", "POST", `/api/v1/fs${path}`, {
      headers: JSON_TYPE,
      body: JSON.stringify(body),
    });
    assert(res.status < 300, `${body.op} ${path}: ${res.status} ${res.body}`);
  };
  try {
    const files: [string, string][] = [
      ["/home/alice/tree/own.txt", "alice's own"],
      ["/home/bob/secret.txt", SECRET],
      ["/home/bob/more/deeper.txt", SECRET],
    ];
    for (const [path, body] of files) {
      const res = await send("root", "PUT", `/api/v1/fs${path}?parents=1`, { body });
      assertEquals(res.status, 201, `PUT ${path}`);
    }
    // Links alice may make herself (a symlink is only text): never followed for her.
    await op("/home/alice/tree/out", { op: "symlink", target: "/home/bob" });
    await op("/home/alice/tree/outfile", { op: "symlink", target: "../../bob/secret.txt" });
  } catch (error) {
    await server.close();
    throw error;
  }
  return { server, send, op };
}

Deno.test("a copied tree holds its symlinks as symlinks, never what they lead to", async () => {
  const { server, send } = await start();
  try {
    // Someone who may read everything copies alice's folder for her, by either front end.
    const dav = await send("root", "COPY", "/dav/home/alice/tree/", {
      headers: { destination: "/dav/home/alice/copy-dav/", depth: "infinity" },
    });
    assertEquals(dav.status, 201, dav.body);
    const api = await send("root", "POST", "/api/v1/fs/home/alice/tree", {
      headers: JSON_TYPE,
      body: JSON.stringify({ op: "copy", to: "/home/alice/copy-api" }),
    });
    assertEquals(api.status, 201, api.body);
    const check = async (copy: string) => {
      for (const path of ["out/secret.txt", "out/more/deeper.txt", "outfile"]) {
        const res = await send("alice", "GET", `/dav/home/alice/${copy}/${path}`);
        assert(!res.body.includes(SECRET), `${copy}/${path}: ${res.status} leaked bob's file`);
        assertEquals(res.status, 403, `${copy}/${path}`);
      }
      for (const [name, target] of [["out", "/home/bob"], ["outfile", "../../bob/secret.txt"]]) {
        const link = await send("alice", "GET", `/api/v1/readlink/home/alice/${copy}/${name}`);
        assertEquals(link.status, 200, `${copy}/${name}: ${link.body}`);
        assert(link.body.includes(`"target":${JSON.stringify(target)}`), link.body);
      }
      const listing = await send("alice", "PROPFIND", `/dav/home/alice/${copy}/`, {
        headers: { depth: "infinity" },
      });
      assertEquals(listing.status, 207);
      assert(!listing.body.includes("secret.txt"), `${copy}: ${listing.body}`);
      const own = await send("alice", "GET", `/dav/home/alice/${copy}/own.txt`);
      assertEquals([own.status, own.body], [200, "alice's own"]);
    };
    // Nothing of bob's came into alice's folder: before, each copy held bob's tree.
    for (const copy of ["copy-dav", "copy-api"]) await check(copy);
    // Alice herself copies it too: her links are hers to copy (before: 403 halfway, since
    // the copy followed them out of her folder).
    const own = await send("alice", "COPY", "/dav/home/alice/tree/", {
      headers: { destination: "/dav/home/alice/copy-own/" },
    });
    assertEquals(own.status, 201, own.body);
    await check("copy-own");
  } finally {
    await server.close();
  }
});

const LOCKINFO = `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>` +
  `</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`;

Deno.test("a lock taken through a symlink elsewhere names no path outside a user's folder", async () => {
  const { server, send, op } = await start();
  try {
    await op("/srv/private-projects", { op: "mkdir", parents: true });
    await op("/srv/private-projects/alice-home", { op: "symlink", target: "/home/alice" });
    const lock = await send("root", "LOCK", "/dav/srv/private-projects/alice-home/tree/own.txt", {
      headers: { "content-type": "application/xml", depth: "0" },
      body: LOCKINFO,
    });
    assertEquals(lock.status, 200, lock.body);
    // Root still sees the name it locked through (RFC 4918 section 14.12).
    const mine = await send("root", "PROPFIND", "/dav/home/alice/tree/own.txt", {
      headers: { depth: "0" },
    });
    assert(mine.body.includes("/dav/srv/private-projects/alice-home/tree/own.txt"), mine.body);
    // Alice sees the lock on her file, rooted at her file's name.
    const props = await send("alice", "PROPFIND", "/dav/home/alice/tree/", {
      headers: { depth: "1" },
    });
    assertEquals(props.status, 207);
    const outside = (res: { body: string }) => res.body.match(/[^<>]*private-projects[^<>]*/)?.[0];
    assertEquals(outside(props), undefined, "a name outside her folder");
    assert(props.body.includes("<D:lockroot><D:href>/dav/home/alice/tree/own.txt<"), props.body);
    const refused = await send("alice", "LOCK", "/dav/home/alice/tree/own.txt", {
      headers: { "content-type": "application/xml", depth: "0" },
      body: LOCKINFO,
    });
    assertEquals(refused.status, 423);
    const write = await send("alice", "PUT", "/dav/home/alice/tree/own.txt", { body: "x" });
    assertEquals(write.status, 423);
    for (const res of [refused, write]) {
      assertEquals(outside(res), undefined, "a name outside her folder");
    }
  } finally {
    await server.close();
  }
});

Deno.test("no symlink leads into the server's staging area of resumable uploads", async () => {
  const { server, send } = await start();
  try {
    const metadata = `path ${btoa("/home/alice/upload.txt")}`;
    const created = await send("alice", "POST", "/api/v1/uploads/", {
      headers: { ...TUS, "upload-length": "10", "upload-metadata": metadata },
    });
    assertEquals(created.status, 201);
    const id = new URL(created.headers.get("location")!).pathname.split("/").pop()!;
    const link = await send("alice", "POST", "/api/v1/fs/home/alice/staged", {
      headers: JSON_TYPE,
      body: JSON.stringify({ op: "symlink", target: "/.pagefs-uploads" }),
    });
    assertEquals(link.status, 201);
    // Alice may not follow it (outside her folder); nobody else may either, though the
    // reader and root may read everything a client can name.
    const reads = [
      ["reader", "GET", "/api/v1/fs/home/alice/staged/"],
      ["reader", "GET", `/api/v1/fs/home/alice/staged/${id}.json`],
      ["reader", "GET", `/dav/home/alice/staged/${id}.json`],
      ["reader", "PROPFIND", "/dav/home/alice/staged/"],
      ["root", "GET", `/api/v1/stat/home/alice/staged/${id}?follow=1`],
    ] as const;
    for (const [as, method, target] of reads) {
      const res = await send(
        as,
        method,
        target,
        method === "PROPFIND" ? { headers: { depth: "1" } } : {},
      );
      // PROPFIND answers for the link itself (it does not follow a final one).
      const expected = method === "PROPFIND" ? 207 : 404;
      assertEquals(res.status, expected, `${as} ${method} ${target}: ${res.body}`);
      // Neither the record (which names the target) nor, in a listing, the upload's id.
      const named = target.includes(id);
      assert(!res.body.includes("upload.txt"), `${as} ${method} ${target}: ${res.body}`);
      assert(named || !res.body.includes(id), `${as} ${method} ${target}: ${res.body}`);
    }
    // Root writing through it: the record that holds the upload's target stays as it was.
    const record = JSON.stringify({ target: "/top.txt" });
    for (const method of ["PUT", "DELETE"]) {
      const res = await send("root", method, `/dav/home/alice/staged/${id}.json`, {
        ...(method === "PUT" ? { body: record } : {}),
      });
      assertEquals(res.status, method === "PUT" ? 409 : 404, `root ${method}: ${res.body}`);
    }
    // The upload is alice's as before, and lands where she asked.
    const patch = await send("alice", "PATCH", `/api/v1/uploads/${id}`, {
      headers: {
        ...TUS,
        "content-type": "application/offset+octet-stream",
        "upload-offset": "0",
      },
      body: "0123456789",
    });
    assertEquals(patch.status, 204, patch.body);
    const got = await send("alice", "GET", "/api/v1/fs/home/alice/upload.txt");
    assertEquals([got.status, got.body], [200, "0123456789"]);
  } finally {
    await server.close();
  }
});

Deno.test("a share link works only while whoever made it may still share what it names", async () => {
  const vfs = await Vfs.open(new MemoryStore());
  await vfs.mkdir("/home/alice/docs", { parents: true });
  await vfs.writeFile("/home/alice/docs/plan.txt", new TextEncoder().encode("the plan"));
  const hash = await hashPassword("pw", { iterations: 1000 });
  const token = generateToken();
  const tokenHash = await hashToken(token);
  /** The service as configured with `users` (compact form), over the same bucket. */
  const serve = async (users: string) =>
    createApp({
      store: new MemoryStore(),
      metrics: new StoreMetrics(),
      vfs,
      auth: await Authenticator.load({ PAGEFS_USERS: users }),
      secret: "a secret shared by every configuration here",
    });
  const before = await serve(`alice:${hash}:rw:/home/alice,ci:${tokenHash}:rw:/home/alice`);
  const share = async (authorization: string, path: string) => {
    const res = await before.request("http://pagefs.test/ui/share", {
      method: "POST",
      headers: { authorization, "content-type": "application/json" },
      body: JSON.stringify({ path }),
    });
    assertEquals(res.status, 201);
    return (await res.json()).url as string;
  };
  const byAlice = await share(`Basic ${btoa("alice:pw")}`, "/home/alice/docs");
  const byToken = await share(`Bearer ${token}`, "/home/alice/docs/plan.txt");
  const open = async (app: typeof before, url: string) => {
    const res = await app.request(`http://pagefs.test${url}${url.endsWith("/") ? "" : "/"}`);
    await res.body?.cancel();
    return res.status;
  };
  const status = async (users: string) => {
    const app = await serve(users);
    return [
      await open(app, byAlice),
      await open(app, `${byAlice}plan.txt?raw=1`),
      await open(app, byToken),
    ];
  };
  // Unchanged: the links work.
  assertEquals(await status(`alice:${hash}:rw:/home/alice,ci:${tokenHash}:rw:/home/alice`), [
    200,
    200,
    200,
  ]);
  // Made read-only, moved to another folder, or removed: alice's link ends with her right
  // to share (before: 200, for as long as the link was made to last).
  for (const alice of [`alice:${hash}:ro:/home/alice`, `alice:${hash}:rw:/home/alice2`, null]) {
    const users = [alice, `ci:${tokenHash}:rw:/home/alice`].filter((u) => u !== null).join(",");
    assertEquals(await status(users), [410, 410, 200], users);
  }
  // The same for a token, and a user of the same name does not stand in for it.
  assertEquals(await status(`alice:${hash}:rw:/home/alice,ci:${hash}:rw:/home/alice`), [
    200,
    200,
    410,
  ]);
});

Deno.test("an upload lands inside its creator's folder, whoever finishes it", async () => {
  const { server, send } = await start();
  try {
    const mkdir = await send("alice", "MKCOL", "/dav/home/alice/d");
    assertEquals(mkdir.status, 201);
    const metadata = `path ${btoa("/home/alice/d/planted.txt")}`;
    const created = await send("alice", "POST", "/api/v1/uploads/", {
      headers: { ...TUS, "upload-length": "8", "upload-metadata": metadata },
    });
    assertEquals(created.status, 201);
    const upload = new URL(created.headers.get("location")!).pathname;
    const chunk = (offset: number) => ({
      ...TUS,
      "content-type": "application/offset+octet-stream",
      "upload-offset": String(offset),
    });
    const first = await send("alice", "PATCH", upload, { headers: chunk(0), body: "PLAN" });
    assertEquals(first.status, 204);
    // Between two chunks alice puts a symlink out of her folder where her folder was.
    const moved = await send("alice", "MOVE", "/dav/home/alice/d", {
      headers: { destination: "/dav/home/alice/d-old" },
    });
    assertEquals(moved.status, 201);
    const link = await send("alice", "POST", "/api/v1/fs/home/alice/d", {
      headers: JSON_TYPE,
      body: JSON.stringify({ op: "symlink", target: "/home/bob" }),
    });
    assertEquals(link.status, 201);
    // Root, who may write anywhere, finishes it (a shared client, an admin's tool): the
    // target is still resolved as alice may (before: 204, and her bytes in /home/bob).
    const last = await send("root", "PATCH", upload, { headers: chunk(4), body: "TED!" });
    assertEquals(last.status, 403, last.body);
    const planted = await send("root", "GET", "/api/v1/fs/home/bob/planted.txt");
    assertEquals(planted.status, 404);
    const head = await send("root", "HEAD", upload, { headers: TUS });
    assertEquals(head.status, 200);
    assertEquals((await send("root", "GET", "/api/v1/fs/home/bob/planted.txt")).status, 404);
  } finally {
    await server.close();
  }
});
