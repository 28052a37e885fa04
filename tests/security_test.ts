// The escape battery: a real server process, three principals (limited to /home/alice,
// read-only, unlimited), and every traversal spelling, second path, symlink, lock and
// credential trick on every route and method of both front ends. Requests go out as raw
// bytes over TCP: a URL parser (fetch, `new Request`) would remove `..` and `%2e%2e`
// before the server saw them, which is exactly what an attacker's client does not do.
//
// Each case must be refused (a 4xx; 502 for a Destination on another server), must not
// leak a byte of what lies outside the folder, and afterwards the whole tree (names,
// types, bytes, extended attributes, locks) must be as it was.

import { assert, assertEquals } from "./_assert.ts";
import { startServer, type TestServer } from "./_server.ts";
import { rawRequest } from "./_raw_http.ts";
import { snapshot } from "./_tree_snapshot.ts";
import { generateToken, hashPassword, hashToken } from "../src/auth/mod.ts";

const SECRET = "BOB-SECRET-CONTENT-7f3a";
const LISTING_MARKER = "zz-only-in-listings";

const basic = (user: string, password: string) => `Basic ${btoa(`${user}:${password}`)}`;

interface Principals {
  readonly alice: string;
  readonly aliceToken: string;
  readonly reader: string;
  readonly root: string;
}

async function startWithPrincipals(): Promise<{ server: TestServer; auth: Principals }> {
  const password = "pw-" + generateToken().slice(0, 12);
  const hash = await hashPassword(password, { iterations: 1000 });
  const token = generateToken();
  const users = [
    `alice:${hash}:rw:/home/alice`,
    `reader:${hash}:ro`,
    `root:${hash}:rw`,
    `alicetoken:${await hashToken(token)}:rw:/home/alice`,
  ].join(",");
  const server = await startServer({ store: "memory", env: { PAGEFS_USERS: users } });
  return {
    server,
    auth: {
      alice: basic("alice", password),
      aliceToken: `Bearer ${token}`,
      reader: basic("reader", password),
      root: basic("root", password),
    },
  };
}

/** Lays out the tree every case runs against, as the unlimited principal. */
async function seed(server: TestServer, root: string): Promise<void> {
  const api = async (method: string, path: string, body?: string, type?: string) => {
    const res = await fetch(`${server.url}/api/v1/fs${path}`, {
      method,
      headers: { authorization: root, ...(type ? { "content-type": type } : {}) },
      ...(body === undefined ? {} : { body }),
    });
    await res.body?.cancel();
    assert(res.status < 300, `seed ${method} ${path}: ${res.status}`);
  };
  const op = (path: string, body: unknown) =>
    api("POST", path, JSON.stringify(body), "application/json");
  await api("PUT", "/home/alice/a.txt?parents=1", "alice's own");
  await op("/home/alice/sub", { op: "mkdir" });
  await api("PUT", "/home/bob/secret.txt?parents=1", SECRET);
  await api("PUT", `/home/bob/${LISTING_MARKER}`, "x");
  await api("PUT", "/home/alice2/f.txt?parents=1", SECRET);
  // Names that look like alice's folder: no layer normalises Unicode or case (session 18).
  for (const lookalike of LOOKALIKES) await api("PUT", `${lookalike}/f.txt?parents=1`, SECRET);
  await api("PUT", "/top.txt", SECRET);
  await api("PUT", `/${LISTING_MARKER}`, "x");
  await op("/home/bob/secret.txt", { op: "setxattr", name: "user.k", value: btoa(SECRET) });
  await op("/home/alice/out", { op: "symlink", target: "/home/bob" });
  await op("/home/alice/outfile", { op: "symlink", target: "/home/bob/secret.txt" });
  await op("/home/alice/rel", { op: "symlink", target: "../bob" });
  await op("/home/alice/sub/deep", { op: "symlink", target: "../../../top.txt" });
}

/** Creates a resumable upload as `authorization`; returns its URL's path. */
async function createUpload(
  server: TestServer,
  authorization: string,
  path: string,
  length = 10,
): Promise<string> {
  const res = await fetch(`${server.url}/api/v1/uploads/`, {
    method: "POST",
    headers: {
      ...TUS,
      authorization,
      "upload-length": String(length),
      "upload-metadata": tusMetadata({ path }),
    },
  });
  await res.body?.cancel();
  assertEquals(res.status, 201);
  return new URL(res.headers.get("location")!).pathname;
}

/** Ways to write "go up one level" in a URL path segment. */
const UP = [
  "..",
  "%2e%2e",
  "%2E%2E",
  ".%2e",
  "%2e.",
  "%252e%252e",
  "%25%32%65%25%32%65",
  "..;",
  "..;x=1",
  "%2e%2e;",
  "%c0%ae%c0%ae",
  "%e0%80%ae%e0%80%ae",
  "%c0%2e%c0%2e",
];
/** Ways to write "up one level and a separator" inside one segment. */
const UP_SLASH = [
  "..%2f",
  "..%2F",
  "%2e%2e%2f",
  "..%5c",
  "..%5C",
  "..\\",
  "%2e%2e%5c",
  "..%252f",
  "..%c0%af",
  "..%c1%9c",
];

/** Request targets under `front` that climb from /home/alice to `outside` (names). */
function climbs(front: string, outside: string): string[] {
  const targets: string[] = [];
  for (const up of UP) {
    targets.push(`${front}/home/alice/${up}/${outside}`);
    targets.push(`${front}/home/alice/sub/${up}/${up}/${outside}`);
    // Padding: climb far above the front end's own prefix, then come back down.
    targets.push(`${front}/home/alice/${`${up}/`.repeat(8)}home/${outside}`);
    targets.push(`${front}/home/alice/./${up}/${outside}`);
  }
  for (const up of UP_SLASH) targets.push(`${front}/home/alice/${up}${outside}`);
  targets.push(`${front}/home/alice//../${outside}`);
  targets.push(`${front}//home/bob/secret.txt`);
  targets.push(`${front}/home/alice/%00/../${outside}`);
  targets.push(`${front}/home/alice/..%00/${outside}`);
  targets.push(`${front}/home/alice/a.txt#/../../${outside}`);
  return targets;
}

interface Case {
  readonly name: string;
  readonly method: string;
  readonly target: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Statuses that count as refused besides 400, 401, 403, 404, 405, 409, 412, 415, 423. */
  readonly alsoOk?: readonly number[];
}

const JSON_TYPE = { "content-type": "application/json" };
const API_ROUTES = ["/api/v1/fs", "/api/v1/stat", "/api/v1/readlink", "/api/v1/xattr"];

function apiRequests(target: string): Case[] {
  return [
    { name: "GET", method: "GET", target },
    { name: "HEAD", method: "HEAD", target },
    { name: "PUT", method: "PUT", target: target + "?parents=1", body: "pwned" },
    {
      name: "PATCH",
      method: "PATCH",
      target,
      body: "pwned",
      headers: { "content-range": "bytes 0-4/*" },
    },
    { name: "DELETE", method: "DELETE", target: target + "?recursive=1" },
    {
      name: "POST mkdir",
      method: "POST",
      target,
      body: JSON.stringify({ op: "mkdir", parents: true }),
      headers: JSON_TYPE,
    },
    {
      name: "POST setxattr",
      method: "POST",
      target,
      body: JSON.stringify({ op: "setxattr", name: "user.k", value: btoa("pwned") }),
      headers: JSON_TYPE,
    },
    {
      name: "POST rename in",
      method: "POST",
      target,
      body: JSON.stringify({ op: "rename", to: "/home/alice/stolen" }),
      headers: JSON_TYPE,
    },
  ];
}

const DAV_METHODS: readonly Omit<Case, "target">[] = [
  { name: "GET", method: "GET" },
  { name: "HEAD", method: "HEAD" },
  { name: "PUT", method: "PUT", body: "pwned" },
  { name: "DELETE", method: "DELETE" },
  { name: "MKCOL", method: "MKCOL" },
  { name: "OPTIONS", method: "OPTIONS" },
  { name: "PROPFIND", method: "PROPFIND", headers: { depth: "1" } },
  {
    name: "PROPPATCH",
    method: "PROPPATCH",
    headers: { "content-type": "application/xml" },
    body: `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set>` +
      `<D:prop><Z:p>pwned</Z:p></D:prop></D:set></D:propertyupdate>`,
  },
  {
    name: "LOCK",
    method: "LOCK",
    headers: { "content-type": "application/xml", depth: "infinity" },
    body: `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>` +
      `</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`,
  },
  { name: "UNLOCK", method: "UNLOCK", headers: { "lock-token": "<urn:uuid:nope>" } },
  { name: "COPY in", method: "COPY", headers: { destination: "/dav/home/alice/stolen" } },
  { name: "MOVE in", method: "MOVE", headers: { destination: "/dav/home/alice/stolen" } },
];

/**
 * Folders whose names differ from "alice" only by Unicode normalisation (é composed, and
 * "e" with a combining accent), case, or an invisible character (zero-width space, a
 * right-to-left override), percent-encoded as a client sends them.
 */
const LOOKALIKES = [
  "/home/alic%C3%A9",
  "/home/alice%CC%81",
  "/home/ALICE",
  "/home/Alice",
  "/home/alice%E2%80%8B",
  "/home/%E2%80%8Balice",
  "/home/%E2%80%AEecila",
];

/** Targets outside alice's folder, reached directly (no traversal). */
const OUTSIDE = [
  "/home/bob/secret.txt",
  "/home/bob/",
  "/top.txt",
  "/",
  "/home/alice2/f.txt",
  ...LOOKALIKES.flatMap((folder) => [`${folder}/f.txt`, `${folder}/`]),
];

/** tus `Upload-Metadata` from text values. */
function tusMetadata(fields: Record<string, string>): string {
  const b64 = (s: string) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
  return Object.entries(fields).map(([k, v]) => `${k} ${b64(v)}`).join(",");
}

const TUS = { "tus-resumable": "1.0.0" };

/** Resumable uploads: targets from metadata, and upload URLs, out of the folder. */
function uploadCases(rootUpload: string): Case[] {
  const out: Case[] = [];
  const create = (name: string, meta: Record<string, string>): Case => ({
    name: `tus create ${name} ${JSON.stringify(meta)}`,
    method: "POST",
    target: "/api/v1/uploads/",
    headers: { ...TUS, "upload-length": "5", "upload-metadata": tusMetadata(meta) },
  });
  const paths = [
    "/home/bob/x",
    "/home/alice/../bob/x",
    "/home/alice/./../bob/x",
    "/home/alice//../bob/x",
    "/home/alice/..\\bob/x",
    "/top2.txt",
    "/home/alice2/x",
    ...LOOKALIKES.map((folder) => `${decodeURIComponent(folder)}/x`),
    "/",
    "home/alice/rel",
    "/home/alice/out/new.txt",
    "/home/alice/rel/new.txt",
    "/home/alice/outfile",
    "/home/alice/sub/deep",
    "/.pagefs-uploads/x",
  ];
  for (const path of paths) out.push(create("path", { path }));
  const dirs = [
    "/home/bob",
    "/home/alice/..",
    "/home/alice/../bob",
    "/home/alice/out",
    "/home/alice/rel",
    "/",
    "home/alice",
    "/.pagefs-uploads",
  ];
  for (const dir of dirs) out.push(create("dir", { filename: "x.txt", dir }));
  for (const filename of ["../x.txt", "../../top.txt", "..", ".", "a/../../x"]) {
    out.push(create("filename", { filename, dir: "/home/alice" }));
  }
  // Metadata `path` wins over `filename` + `dir`, so a harmless pair cannot smuggle it.
  out.push(create("path wins", { path: "/home/bob/x", filename: "x.txt", dir: "/home/alice" }));
  // Upload URLs that climb out of the endpoint, by every method tus uses.
  const chunk = { ...TUS, "content-type": "application/offset+octet-stream", "upload-offset": "0" };
  for (const target of climbs("/api/v1/uploads", "bob/secret.txt")) {
    out.push({ name: `tus HEAD ${target}`, method: "HEAD", target, headers: TUS });
    out.push({
      name: `tus PATCH ${target}`,
      method: "PATCH",
      target,
      headers: chunk,
      body: "pwned",
    });
    out.push({ name: `tus DELETE ${target}`, method: "DELETE", target, headers: TUS });
  }
  // Someone else's upload (the unlimited principal's, to /top-upload.txt).
  out.push({ name: "tus HEAD root's upload", method: "HEAD", target: rootUpload, headers: TUS });
  out.push({
    name: "tus PATCH root's upload",
    method: "PATCH",
    target: rootUpload,
    headers: chunk,
    body: "pwned",
  });
  out.push({
    name: "tus DELETE root's upload",
    method: "DELETE",
    target: rootUpload,
    headers: TUS,
  });
  out.push({
    name: "tus override root's upload",
    method: "POST",
    target: rootUpload,
    headers: { ...chunk, "x-http-method-override": "PATCH" },
    body: "pwned",
  });
  return out;
}

function cases(port: number, rootUpload: string): { as: keyof Principals; c: Case }[] {
  const out: { as: keyof Principals; c: Case }[] = [];
  const alice = (c: Case) => out.push({ as: "alice", c }, { as: "aliceToken", c });
  // 1. Traversal spellings on every route and method.
  for (const route of API_ROUTES) {
    for (const target of [...climbs(route, "bob/secret.txt"), ...climbs(route, "../top.txt")]) {
      const requests = route === "/api/v1/fs" ? apiRequests(target) : [{
        name: "GET",
        method: "GET",
        target,
      }];
      for (const r of requests) alice({ ...r, name: `${route} ${r.name} ${target}` });
    }
  }
  for (const target of [...climbs("/dav", "bob/secret.txt"), ...climbs("/dav", "../top.txt")]) {
    for (const m of DAV_METHODS) alice({ ...m, target, name: `dav ${m.name} ${target}` });
  }
  // 2. Outside the folder without traversal, and a sibling that shares the prefix's text.
  for (const path of OUTSIDE) {
    for (const route of API_ROUTES) {
      const rs = route === "/api/v1/fs"
        ? apiRequests(route + path)
        : [{ name: "GET", method: "GET", target: route + path }];
      for (const r of rs) alice({ ...r, name: `${route} ${r.name} ${path}` });
    }
    for (const m of DAV_METHODS) {
      alice({ ...m, target: `/dav${path}`, name: `dav ${m.name} ${path}` });
    }
  }
  alice({ name: "root listing", method: "GET", target: "/api/v1/fs/" });
  alice({ name: "dav root", method: "PROPFIND", target: "/dav/", headers: { depth: "1" } });
  alice({ name: "dav mount", method: "PROPFIND", target: "/dav", headers: { depth: "0" } });
  // 3. Second paths out of the folder.
  const tos = [
    "/home/bob/x",
    "/home/alice/../bob/x",
    "/home/alice/%2e%2e/bob/x",
    "/top2.txt",
    "/home/alice2/x",
    "/",
    "home/alice/rel",
    ...LOOKALIKES.map((folder) => `${decodeURIComponent(folder)}/x`),
  ];
  for (const to of tos) {
    for (const op of ["rename", "copy", "link"]) {
      alice({
        name: `POST ${op} to ${to}`,
        method: "POST",
        target: "/api/v1/fs/home/alice/a.txt",
        body: JSON.stringify({ op, to }),
        headers: JSON_TYPE,
      });
    }
  }
  const destinations = [
    `http://127.0.0.1:${port}/dav/home/bob/x`,
    `http://127.0.0.1:${port}/dav/home/alice/../bob/x`,
    `http://127.0.0.1:${port}/dav/home/alice/%2e%2e/bob/x`,
    `http://127.0.0.1:${port}/dav/home/alice/..%2fbob/x`,
    `http://127.0.0.1:${port}/dav/home/alice/..%5cbob/x`,
    `http://127.0.0.1:${port}/dav/../dav/home/bob/x`,
    `http://127.0.0.1:${port}/dav/top.txt`,
    `http://127.0.0.1:${port}/dav/`,
    `http://127.0.0.1:${port}/dav/home/alice2/x`,
    ...LOOKALIKES.map((folder) => `http://127.0.0.1:${port}/dav${folder}/x`),
    `http://127.0.0.1:${port}/api/v1/fs/home/bob/x`,
    `http://evil.example/dav/home/alice/x`,
    `/dav/home/bob/x`,
    `/dav/home/alice/%2E%2E/%2E%2E/top.txt`,
    `/dav/home/alice/..;/bob/x`,
    `//evil.example/dav/home/alice/x`,
    `file:///dav/home/alice/x`,
  ];
  for (const destination of destinations) {
    for (const method of ["COPY", "MOVE"]) {
      alice({
        name: `${method} to ${destination}`,
        method,
        target: "/dav/home/alice/a.txt",
        headers: { destination, overwrite: "T" },
        alsoOk: [502],
      });
    }
  }
  // 4. Symlinks that lead out of the folder. Through a link (a directory on the way): every
  // route and method. A link as the last name: the operations that follow it (the others
  // act on the link itself, which is the user's own).
  for (
    const path of [
      "/home/alice/out/secret.txt",
      "/home/alice/rel/secret.txt",
      "/home/alice/out/new.txt",
    ]
  ) {
    for (const r of apiRequests("/api/v1/fs" + path)) {
      alice({ ...r, name: `link ${r.name} ${path}` });
    }
    alice({ name: `link stat ${path}`, method: "GET", target: `/api/v1/stat${path}` });
    alice({ name: `link xattr ${path}`, method: "GET", target: `/api/v1/xattr${path}` });
    // OPTIONS reads nothing at the path: it answers the same anywhere.
    for (const m of DAV_METHODS.filter((m) => m.method !== "OPTIONS")) {
      alice({ ...m, target: `/dav${path}`, name: `link dav ${m.name} ${path}` });
    }
  }
  for (
    const path of [
      "/home/alice/outfile",
      "/home/alice/sub/deep",
      "/home/alice/out",
      "/home/alice/out/",
    ]
  ) {
    const follows = new Set(["GET", "HEAD", "PUT", "PATCH"]);
    for (const r of apiRequests("/api/v1/fs" + path).filter((r) => follows.has(r.name))) {
      alice({ ...r, name: `final link ${r.name} ${path}` });
    }
    alice({
      name: `final link stat ${path}`,
      method: "GET",
      target: `/api/v1/stat${path}?follow=1`,
    });
    for (const m of DAV_METHODS.filter((m) => ["GET", "HEAD", "PUT", "COPY in"].includes(m.name))) {
      alice({ ...m, target: `/dav${path}`, name: `final link dav ${m.name} ${path}` });
    }
  }
  alice({
    name: "copy through a link",
    method: "POST",
    target: "/api/v1/fs/home/alice/outfile",
    body: JSON.stringify({ op: "copy", to: "/home/alice/stolen" }),
    headers: JSON_TYPE,
  });
  for (const c of uploadCases(rootUpload)) alice(c);
  // 5. Credentials: missing, wrong, malformed.
  const badAuth = [
    null,
    "Basic " + btoa("alice:wrong"),
    "Basic " + btoa("nobody:x"),
    "Basic !!!notbase64",
    "Basic " + btoa("alice"),
    "Basic ",
    "Basic",
    "Bearer wrong-token",
    "Bearer ",
    "Digest username=alice",
    "basic " + btoa(":"),
    "Basic " + "A".repeat(5000),
  ];
  for (const authorization of badAuth) {
    for (
      const [method, target, body] of [
        ["PUT", "/api/v1/fs/home/alice/a.txt", "pwned"],
        ["GET", "/api/v1/fs/home/bob/secret.txt", undefined],
        ["PUT", "/dav/home/alice/a.txt", "pwned"],
        ["PROPFIND", "/dav/", undefined],
        ["GET", "/metrics", undefined],
        ["POST", "/api/v1/uploads/", undefined],
        ["PATCH", rootUpload, "pwned"],
      ] as const
    ) {
      out.push({
        as: "none" as keyof Principals,
        c: {
          name: `credentials ${authorization?.slice(0, 20)} ${method} ${target}`,
          method,
          target,
          ...(body === undefined ? {} : { body }),
          headers: authorization === null ? {} : { authorization },
        },
      });
    }
  }
  // 6. The read-only principal writing, by every method that writes.
  const writes: Case[] = [
    ...apiRequests("/api/v1/fs/home/alice/a.txt").filter((r) => !["GET", "HEAD"].includes(r.name)),
    ...DAV_METHODS.filter((m) => !["GET", "HEAD", "OPTIONS", "PROPFIND"].includes(m.name)).map(
      (m) => ({ ...m, target: "/dav/home/alice/a.txt" }),
    ),
  ];
  for (const w of writes) out.push({ as: "reader", c: { ...w, name: `read-only ${w.name}` } });
  for (const c of uploadCases(rootUpload).filter((c) => c.method !== "HEAD")) {
    out.push({ as: "reader", c: { ...c, name: `read-only ${c.name}` } });
  }
  out.push({
    as: "reader",
    c: {
      name: "read-only tus create in a writable-looking place",
      method: "POST",
      target: "/api/v1/uploads/",
      headers: { ...TUS, "upload-length": "5", "upload-metadata": tusMetadata({ path: "/r.txt" }) },
    },
  });
  return out;
}

const REFUSED = new Set([400, 401, 403, 404, 405, 409, 412, 415, 423]);

Deno.test("no path, second path, symlink, lock or credential leads out of a user's folder", async () => {
  const { server, auth } = await startWithPrincipals();
  try {
    await seed(server, auth.root);
    const rootUpload = await createUpload(server, auth.root, "/top-upload.txt");
    const before = await snapshot(server, auth.root);
    const port = Number(new URL(server.url).port);
    const all = cases(port, rootUpload);
    const escaped: string[] = [];
    const byStatus = new Map<number, number>();
    for (const { as, c } of all) {
      const headers: Record<string, string> = { ...c.headers };
      const principal = (auth as unknown as Record<string, string>)[as];
      if (principal !== undefined && headers.authorization === undefined) {
        headers.authorization = principal;
      }
      const res = await rawRequest(port, c.method, c.target, {
        headers,
        ...(c.body === undefined ? {} : { body: c.body }),
      });
      byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
      const refused = REFUSED.has(res.status) || (c.alsoOk ?? []).includes(res.status);
      const leaked = res.body.includes(SECRET) || res.body.includes(LISTING_MARKER) ||
        res.body.includes(btoa(SECRET));
      if (!refused || leaked) {
        escaped.push(
          `${as} ${c.name}: ${res.status}${leaked ? " LEAKED" : ""} ${res.body.slice(0, 160)}`,
        );
      }
    }
    const after = await snapshot(server, auth.root);
    console.log(
      `security: ${all.length} cases, ${escaped.length} not refused; statuses ${
        JSON.stringify(Object.fromEntries([...byStatus].sort(([a], [b]) => a - b)))
      }`,
    );
    assertEquals(escaped.slice(0, 40), [], `${escaped.length} cases were not refused`);
    assertEquals(after, before);
    // Root's upload is untouched: still there, nothing written to it.
    const head = await fetch(`${server.url}${rootUpload}`, {
      method: "HEAD",
      headers: { ...TUS, authorization: auth.root },
    });
    await head.body?.cancel();
    assertEquals([head.status, head.headers.get("upload-offset")], [200, "0"]);
  } finally {
    await server.close();
  }
});

Deno.test("the two reported commands are refused and change nothing", async () => {
  const { server, auth } = await startWithPrincipals();
  try {
    await seed(server, auth.root);
    const before = await snapshot(server, auth.root);
    const port = Number(new URL(server.url).port);
    const list = await rawRequest(port, "GET", "/api/v1/fs/%2e%2e/%2e%2e/%2e%2e/x/y/z/", {
      headers: { authorization: auth.alice },
    });
    assertEquals(list.status, 400);
    const put = await rawRequest(port, "PUT", "/api/v1/fs/../../../a/b/c/pwned.txt", {
      headers: { authorization: auth.alice },
      body: "pwned",
    });
    assertEquals(put.status, 400);
    assertEquals(await snapshot(server, auth.root), before);
    // Her own folder still works, through both front ends.
    const own = await rawRequest(port, "PUT", "/api/v1/fs/home/alice/new.txt", {
      headers: { authorization: auth.alice },
      body: "mine",
    });
    assertEquals(own.status, 201);
    const dav = await rawRequest(port, "GET", "/dav/home/alice/new.txt", {
      headers: { authorization: auth.alice },
    });
    assertEquals([dav.status, dav.body], [200, "mine"]);
    // And a resumable upload into it lands (the rename from the staging area is hers).
    const upload = await createUpload(server, auth.alice, "/home/alice/up.txt", 4);
    const patch = await fetch(`${server.url}${upload}`, {
      method: "PATCH",
      headers: {
        ...TUS,
        authorization: auth.alice,
        "content-type": "application/offset+octet-stream",
        "upload-offset": "0",
      },
      body: "tus!",
    });
    await patch.body?.cancel();
    assertEquals(patch.status, 204);
    const got = await rawRequest(port, "GET", "/api/v1/fs/home/alice/up.txt", {
      headers: { authorization: auth.alice },
    });
    assertEquals([got.status, got.body], [200, "tus!"]);
  } finally {
    await server.close();
  }
});
