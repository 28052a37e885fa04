// A fresh traversal battery (session 20), table-driven, against a real server process: for
// a user limited to /home/alice (and one limited to /home/josé, whose name has a
// composed é), every front end that takes a path (the HTTP API's paths and JSON bodies, the
// zip download, WebDAV's request path and Destination, tus uploads' metadata and URLs, share
// links, the UI's routes) with every spelling of a way out: encoded dots and separators in
// either case, overlong UTF-8, double encoding, NUL, `;` parameters, empty segments,
// trailing dots, backslashes, very long segments, Unicode lookalikes and the other
// normalisation form of the prefix, and symlinks alice made that lead out, read, copied,
// zipped, listed to infinite depth, shared and opened through a share link.
//
// Every case must be refused (4xx; 502 for a Destination on another server) or, where it is
// marked `own`, answer from alice's own tree only; no answer may hold a byte of what lies
// outside her folder; and afterwards everything outside /home/alice must be as it was
// (listed as the unlimited principal, bob's folder named explicitly). Requests go out as raw
// bytes (tests/_raw_http.ts): a URL parser would clean the path before the server saw it.
// tests/security_test.ts is the older battery; this one is written from the list of the
// issue, not from it.

import { assert, assertEquals } from "./_assert.ts";
import { startServer, type TestServer } from "./_server.ts";
import { rawRequest } from "./_raw_http.ts";
import { snapshot } from "./_tree_snapshot.ts";
import { generateToken, hashPassword } from "../src/auth/mod.ts";

const SECRET = "BOB-ONLY-9c1e-SECRET";
const MARKER = "zz-bob-listing-marker";
const JOSE_NFC = "jos\u00e9";
const JOSE_NFD = "jose\u0301";

type Who = "alice" | "jose" | "root";

/** One request of the battery. */
interface Row {
  readonly name: string;
  readonly as?: Who;
  readonly method: string;
  readonly target: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** A 2xx is fine: the answer comes from the principal's own tree (it must not leak). */
  readonly own?: boolean;
  /** Statuses that count as refused besides the 4xx ones. */
  readonly alsoOk?: readonly number[];
}

const utf8Basic = (user: string, password: string) =>
  `Basic ${btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${password}`)))}`;
const JSON_TYPE = { "content-type": "application/json" };
const TUS = { "tus-resumable": "1.0.0" };
const tusMeta = (fields: Record<string, string>) =>
  Object.entries(fields).map(([k, v]) =>
    `${k} ${btoa(String.fromCharCode(...new TextEncoder().encode(v)))}`
  ).join(",");
const enc = (path: string) => path.split("/").map(encodeURIComponent).join("/");

/**
 * Spellings of "leave /home/alice for /home/bob", as the rest of a request path after
 * `<route>/home/alice/`: each must be refused wherever a path is read.
 */
const OUT_OF_ALICE: readonly string[] = [
  "%2e%2e/bob/secret.txt",
  "%2E%2e/bob/secret.txt",
  "%2e%2E/%2E%2E/home/bob/secret.txt",
  "..%2fbob/secret.txt",
  "..%2Fbob%2Fsecret.txt",
  "%2e%2e%2fbob%2fsecret.txt",
  "..%5cbob%5csecret.txt",
  "..%5Cbob/secret.txt",
  "..\\bob\\secret.txt",
  "%c0%ae%c0%ae/bob/secret.txt",
  "%e0%80%ae%e0%80%ae/bob/secret.txt",
  "%c0%ae%c0%ae%c0%afbob/secret.txt",
  "%252e%252e/bob/secret.txt",
  "%252e%252e%252fbob%252fsecret.txt",
  "..%00/bob/secret.txt",
  "%00/../bob/secret.txt",
  "a.txt%00/../../bob/secret.txt",
  "..;/bob/secret.txt",
  "..;x=1/bob/secret.txt",
  "sub;/..;/..;/bob/secret.txt",
  "/../bob/secret.txt",
  "sub//..//..//bob/secret.txt",
  ".%2e/bob/secret.txt",
  "%2e./bob/secret.txt",
  "./../bob/secret.txt",
  "sub/./../../bob/secret.txt",
  "..",
  "../",
  "%2e%2e",
  "%2e%2e/",
  "sub/..%2f..%2f",
  `${"..%2f".repeat(2000)}home/bob/secret.txt`,
  `${"%2e%2e/".repeat(300)}home/bob/secret.txt`,
];

/** Paths outside alice's folder, reached without any climbing, and near misses. */
const OUTSIDE: readonly string[] = [
  "/home/bob/secret.txt",
  "/home/bob/",
  "/home/bob/.",
  "/home/bob/./",
  "//home/bob/secret.txt",
  "/home//bob/secret.txt",
  "/home/alice%2f..%2fbob/secret.txt",
  "/home%2fbob%2fsecret.txt",
  "/home/alice2/f.txt",
  "/home/alic%65%cc%81/f.txt",
  "/home/ALICE/f.txt",
  "/home/alice%e2%80%8b/f.txt",
  "/home/%e2%80%aeecila/f.txt",
  "/home/alice%ef%bc%8fbob/f.txt", // a fullwidth solidus, one name
  "/home/alice%e2%88%95bob/f.txt", // a division slash, one name
  "/home/%d0%b0lice/f.txt", // Cyrillic а
  "/top.txt",
  "/",
];

/** The long-segment cases, each at one route. */
const LONG: readonly string[] = [
  `/home/alice/${"a".repeat(256)}`,
  `/home/alice/${"a".repeat(70_000)}`,
  `/home/alice/${"%2e".repeat(3000)}/bob`,
];

async function start(): Promise<{ server: TestServer; auth: Record<Who, string> }> {
  const password = "pw-" + generateToken().slice(0, 12);
  const hash = await hashPassword(password, { iterations: 1000 });
  const users = [
    `alice:${hash}:rw:/home/alice`,
    `${JOSE_NFC}:${hash}:rw:/home/${JOSE_NFC}`,
    `root:${hash}:rw`,
  ].join(",");
  const server = await startServer({ store: "memory", env: { PAGEFS_USERS: users } });
  return {
    server,
    auth: {
      alice: utf8Basic("alice", password),
      jose: utf8Basic(JOSE_NFC, password),
      root: utf8Basic("root", password),
    },
  };
}

async function call(
  server: TestServer,
  authorization: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; text: string }> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization,
      ...(body !== undefined && typeof body !== "string" ? JSON_TYPE : {}),
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}

/** The tree: bob's secrets, a lookalike of josé's folder, and alice's links that lead out. */
async function seed(server: TestServer, auth: Record<Who, string>): Promise<void> {
  const ok = async (p: Promise<{ status: number; text: string }>, what: string) => {
    const { status, text } = await p;
    assert(status < 300, `seed ${what}: ${status} ${text}`);
  };
  const put = (who: Who, path: string, body: string) =>
    ok(call(server, auth[who], "PUT", `/api/v1/fs${enc(path)}?parents=1`, body), path);
  const op = (who: Who, path: string, body: unknown) =>
    ok(call(server, auth[who], "POST", `/api/v1/fs${enc(path)}`, body), `${path} ${body}`);
  await put("root", "/home/bob/secret.txt", SECRET);
  await put("root", `/home/bob/${MARKER}`, "x");
  await put("root", "/bob/secret.txt", SECRET);
  await put("root", "/top.txt", SECRET);
  await put("root", "/home/alice2/f.txt", SECRET);
  await put("root", "/home/alice\u0065\u0301/f.txt", SECRET);
  await put("root", `/home/${JOSE_NFD}/f.txt`, SECRET);
  await put("root", `/home/${JOSE_NFC}/own.txt`, "josé's own");
  await put("alice", "/home/alice/a.txt", "alice's own");
  await op("alice", "/home/alice/sub", { op: "mkdir" });
  await put("alice", "/home/alice/sub/b.txt", "alice's b");
  // Links alice makes herself (a link is only text: making one is allowed).
  await op("alice", "/home/alice/up2", { op: "symlink", target: "../../bob" });
  await op("alice", "/home/alice/abs", { op: "symlink", target: "/home/bob" });
  await op("alice", "/home/alice/rel", { op: "symlink", target: "../bob" });
  await op("alice", "/home/alice/sub/file", { op: "symlink", target: "../../bob/secret.txt" });
  await op("alice", "/home/alice/sub/top", { op: "symlink", target: "/top.txt" });
  await op("jose", `/home/${JOSE_NFC}/nfd`, { op: "symlink", target: `/home/${JOSE_NFD}` });
}

/** Shares alice makes: of her folder, of a link to bob's folder, of a link to his file. */
async function shares(server: TestServer, auth: Record<Who, string>) {
  const make = async (path: string) => {
    const res = await call(server, auth.alice, "POST", "/ui/share", { path, seconds: 3600 });
    return { path, status: res.status, url: res.status === 201 ? JSON.parse(res.text).url : null };
  };
  return [
    await make("/home/alice"),
    await make("/home/alice/abs"),
    await make("/home/alice/sub/file"),
    await make("/home/alice/sub"),
  ];
}

function rows(port: number, folderShare: string, subShare: string, linkShares: string[]): Row[] {
  const out: Row[] = [];
  const add = (row: Row) => out.push(row);
  const API_READS = ["/api/v1/fs", "/api/v1/stat", "/api/v1/readlink", "/api/v1/xattr"];
  // 1. Request paths: every spelling, every front end that reads one.
  for (const rest of OUT_OF_ALICE) {
    for (const route of API_READS) {
      add({ name: "read", method: "GET", target: `${route}/home/alice/${rest}` });
    }
    add({
      name: "put",
      method: "PUT",
      target: `/api/v1/fs/home/alice/${rest}?parents=1`,
      body: "pwned",
    });
    add({ name: "delete", method: "DELETE", target: `/api/v1/fs/home/alice/${rest}?recursive=1` });
    add({
      name: "mkdir",
      method: "POST",
      target: `/api/v1/fs/home/alice/${rest}`,
      headers: JSON_TYPE,
      body: JSON.stringify({ op: "mkdir", parents: true }),
    });
    add({ name: "zip", method: "GET", target: `/api/v1/zip/home/alice/${rest}` });
    add({ name: "zip dir", method: "GET", target: `/api/v1/zip/home/alice/${rest}/` });
    for (const method of ["GET", "PUT", "DELETE", "MKCOL"]) {
      add({
        name: "dav",
        method,
        target: `/dav/home/alice/${rest}`,
        ...(method === "PUT" ? { body: "pwned" } : {}),
      });
    }
    add({
      name: "dav propfind infinity",
      method: "PROPFIND",
      target: `/dav/home/alice/${rest}`,
      headers: { depth: "infinity" },
    });
    add({ name: "tus head", method: "HEAD", target: `/api/v1/uploads/${rest}`, headers: TUS });
    add({
      name: "tus patch",
      method: "PATCH",
      target: `/api/v1/uploads/${rest}`,
      headers: { ...TUS, "content-type": "application/offset+octet-stream", "upload-offset": "0" },
      body: "pwned",
    });
    add({ name: "share", method: "GET", target: `${folderShare}${rest}` });
    add({ name: "share dl", method: "GET", target: `${folderShare}${rest}?dl=1` });
    add({ name: "ui", method: "GET", target: `/ui/${rest}` });
    add({ name: "ui assets", method: "GET", target: `/ui/assets/x/${rest}` });
  }
  for (const path of [...OUTSIDE, ...LONG]) {
    for (const route of API_READS) {
      add({ name: "outside read", method: "GET", target: `${route}${path}` });
    }
    add({
      name: "outside put",
      method: "PUT",
      target: `/api/v1/fs${path}?parents=1`,
      body: "pwned",
    });
    add({
      name: "outside zip",
      method: "GET",
      target: `/api/v1/zip${path}${path.endsWith("/") ? "" : "/"}`,
    });
    add({
      name: "outside dav",
      method: "PROPFIND",
      target: `/dav${path}`,
      headers: { depth: "infinity" },
    });
    add({ name: "outside dav put", method: "PUT", target: `/dav${path}`, body: "pwned" });
  }
  // 2. The other normalisation form of a prefix: josé (NFC) in the NFD folder.
  for (
    const target of [
      `/api/v1/fs/home/jose%cc%81/f.txt`,
      `/api/v1/fs/home/jose%cc%81/`,
      `/dav/home/jose%cc%81/f.txt`,
      `/api/v1/zip/home/jose%cc%81/`,
      `/api/v1/fs/home/jos%c3%a9/nfd/f.txt`,
      `/dav/home/jos%c3%a9/nfd/f.txt`,
    ]
  ) add({ name: "nfd", as: "jose", method: "GET", target });
  add({
    name: "nfc own",
    as: "jose",
    method: "GET",
    target: "/api/v1/fs/home/jos%c3%a9/own.txt",
    own: true,
  });
  add({
    name: "nfd put",
    as: "jose",
    method: "PUT",
    target: "/api/v1/fs/home/jose%cc%81/new.txt",
    body: "pwned",
  });
  add({
    name: "nfd tus",
    as: "jose",
    method: "POST",
    target: "/api/v1/uploads/",
    headers: {
      ...TUS,
      "upload-length": "5",
      "upload-metadata": tusMeta({ path: `/home/${JOSE_NFD}/x` }),
    },
  });
  add({
    name: "nfd rename",
    as: "jose",
    method: "POST",
    target: "/api/v1/fs/home/jos%c3%a9/own.txt",
    headers: JSON_TYPE,
    body: JSON.stringify({ op: "copy", to: `/home/${JOSE_NFD}/stolen` }),
  });
  // 3. Second paths: JSON bodies (rename, copy, link targets), symlink targets that are fine.
  const tos = [
    "/home/bob/x",
    "/home/alice/../bob/x",
    "/home/alice/./../bob/x",
    "/home/alice//../bob/x",
    "/home/alice/..\\bob\\x",
    "/home/alice/..\\..\\x",
    "//home/bob/x",
    "/home/alice/x/.",
    "/home/alice/x/..",
    "/home/alice/x\u0000",
    "/home/alice/abs/x",
    "/home/alice/rel/x",
    "/home/alice\u0065\u0301/x",
    "home/alice/x",
    "",
    "/",
    `/home/alice/${"a".repeat(256)}`,
  ];
  for (const to of tos) {
    for (const op of ["rename", "copy", "link"]) {
      add({
        name: `${op} to ${JSON.stringify(to).slice(0, 40)}`,
        method: "POST",
        target: "/api/v1/fs/home/alice/a.txt",
        headers: JSON_TYPE,
        body: JSON.stringify({ op, to }),
      });
    }
  }
  const targets = ["../../bob", "/home/bob", "..\\..\\bob", "../bob/secret.txt"];
  for (const [i, target] of targets.entries()) {
    add({
      name: `make link to ${target}`,
      method: "POST",
      target: `/api/v1/fs/home/alice/new-link-${i}`,
      headers: JSON_TYPE,
      body: JSON.stringify({ op: "symlink", target }),
      own: true,
    });
  }
  // WebDAV Destination: another host, another prefix, scheme-relative, climbing spellings.
  const h = `127.0.0.1:${port}`;
  const destinations = [
    `http://${h}/dav/home/bob/x`,
    `http://${h}/dav/home/alice/../bob/x`,
    `http://${h}/dav/home/alice/%2e%2e/bob/x`,
    `http://${h}/dav/home/alice/%2E%2e/bob/x`,
    `http://${h}/dav/home/alice/..%2fbob%2fx`,
    `http://${h}/dav/home/alice/..%5cbob%5cx`,
    `http://${h}/dav/home/alice/%c0%ae%c0%ae/bob/x`,
    `http://${h}/dav/home/alice/%252e%252e/bob/x`,
    `http://${h}/dav/home/alice/..;/bob/x`,
    `http://${h}/dav/home/alice/x%00`,
    `http://${h}/dav//home/bob/x`,
    `http://${h}/dav/home/alice/abs/x`,
    `http://${h}/dav/home/alic%65%cc%81/x`,
    `http://${h}/api/v1/fs/home/alice/x`,
    `http://${h}/davx/home/alice/x`,
    `http://${h}/dav/../home/alice/x`,
    `http://evil.example/dav/home/alice/x`,
    `https://${h}/dav/home/bob/x`,
    `//${h}/dav/home/bob/x`,
    `//evil.example/dav/home/alice/x`,
    `/dav/home/bob/x`,
    `/dav/home/alice/%2e%2e/bob/x`,
    `/api/v1/fs/home/alice/x`,
    `dav/home/alice/x`,
    `file:///dav/home/alice/x`,
    `http://alice@${h}/dav/home/bob/x`,
    `http://${h}/dav/home/alice/x#/../../bob/x`,
  ];
  for (const destination of destinations) {
    for (const method of ["COPY", "MOVE"]) {
      add({
        name: `${method} to ${destination}`,
        method,
        target: "/dav/home/alice/a.txt",
        headers: { destination, overwrite: "T" },
        alsoOk: [502],
      });
    }
  }
  // tus metadata.
  const uploads: Record<string, string>[] = [
    { path: "/home/bob/x" },
    { path: "/home/alice/../bob/x" },
    { path: "/home/alice/%2e%2e/bob/x" },
    { path: "/home/alice/..\\bob\\x" },
    { path: "/home/alice/abs/x" },
    { path: "/home/alice/sub/file" },
    { path: "//home/bob/x" },
    { path: "/home/alice/x/." },
    { path: "/home/alic\u0065\u0301/x" },
    { filename: "../bob/x", dir: "/home/alice" },
    { filename: "..\\..\\x", dir: "/home/alice" },
    { filename: "x", dir: "/home/alice/.." },
    { filename: "x", dir: "/home/alice/rel" },
    { filename: "x\u0000", dir: "/home/alice" },
    { filename: "a".repeat(256), dir: "/home/alice" },
    { path: "/home/bob/x", filename: "x", dir: "/home/alice" },
  ];
  for (const meta of uploads) {
    add({
      name: `tus create ${JSON.stringify(meta).slice(0, 60)}`,
      method: "POST",
      target: "/api/v1/uploads/",
      headers: { ...TUS, "upload-length": "5", "upload-metadata": tusMeta(meta) },
    });
  }
  // 4. alice's links that lead out: read, listed, copied, zipped, through a share link.
  for (const link of ["up2", "abs", "rel"]) {
    add({
      name: "through link",
      method: "GET",
      target: `/api/v1/fs/home/alice/${link}/secret.txt`,
    });
    add({ name: "list link", method: "GET", target: `/api/v1/fs/home/alice/${link}/` });
    add({ name: "dav through link", method: "GET", target: `/dav/home/alice/${link}/secret.txt` });
    add({
      name: "propfind link",
      method: "PROPFIND",
      target: `/dav/home/alice/${link}/`,
      headers: { depth: "infinity" },
    });
    add({ name: "zip link", method: "GET", target: `/api/v1/zip/home/alice/${link}/` });
    add({
      name: "copy link (WebDAV)",
      method: "COPY",
      target: `/dav/home/alice/${link}`,
      headers: { destination: `/dav/home/alice/copy-${link}`, depth: "infinity" },
    });
    add({
      name: "copy link (API)",
      method: "POST",
      target: `/api/v1/fs/home/alice/${link}`,
      headers: JSON_TYPE,
      body: JSON.stringify({ op: "copy", to: `/home/alice/api-copy-${link}` }),
    });
  }
  for (const link of ["sub/file", "sub/top"]) {
    add({ name: "read file link", method: "GET", target: `/api/v1/fs/home/alice/${link}` });
    add({ name: "dav file link", method: "GET", target: `/dav/home/alice/${link}` });
    // Symlinks are left out of a zip: an empty one serves her own tree (nothing).
    add({
      name: "zip file link",
      method: "GET",
      target: `/api/v1/zip/home/alice/sub/?name=${link.slice(4)}`,
      own: true,
    });
    add({
      name: "write file link",
      method: "PUT",
      target: `/api/v1/fs/home/alice/${link}`,
      body: "pwned",
    });
  }
  // Her own tree, links inside it: answered from her tree only (links kept as links, left
  // out of the zip, listed as links, never followed).
  add({
    name: "own propfind infinity",
    method: "PROPFIND",
    target: "/dav/home/alice/",
    headers: { depth: "infinity" },
    own: true,
  });
  add({ name: "own zip", method: "GET", target: "/api/v1/zip/home/alice/", own: true });
  add({
    name: "own zip of links",
    method: "GET",
    target: "/api/v1/zip/home/alice/?name=abs&name=up2&name=rel&name=sub",
    own: true,
  });
  add({
    name: "own copy with links (WebDAV)",
    method: "COPY",
    target: "/dav/home/alice/sub/",
    headers: { destination: "/dav/home/alice/sub-copy/", depth: "infinity" },
    own: true,
  });
  add({
    name: "own copy with links (API)",
    method: "POST",
    target: "/api/v1/fs/home/alice/sub",
    headers: JSON_TYPE,
    body: JSON.stringify({ op: "copy", to: "/home/alice/sub-api-copy" }),
    own: true,
  });
  add({
    name: "read the copied link",
    method: "GET",
    target: "/api/v1/fs/home/alice/sub-copy/file",
  });
  add({
    name: "read the API-copied link",
    method: "GET",
    target: "/api/v1/fs/home/alice/sub-api-copy/file",
  });
  // Share links: her folder's link, then the links inside it; links of links.
  add({ name: "share own", as: "root", method: "GET", target: folderShare, own: true });
  for (
    const rest of [
      "abs/secret.txt",
      "up2/secret.txt",
      "rel/secret.txt",
      "abs/",
      "rel/",
      "sub/file",
      "sub/file?dl=1",
      "sub/top?raw=1",
    ]
  ) {
    add({ name: "share through link", method: "GET", target: `${folderShare}${rest}` });
  }
  add({ name: "sub share link", method: "GET", target: `${subShare}file?dl=1` });
  add({ name: "sub share climb", method: "GET", target: `${subShare}..%2f..%2fbob/secret.txt` });
  for (const url of linkShares) {
    add({ name: "share of a link", method: "GET", target: url });
    add({ name: "share of a link, below", method: "GET", target: `${url}secret.txt` });
    add({ name: "share of a link, dl", method: "GET", target: `${url}?dl=1` });
    add({ name: "share of a link, raw", method: "GET", target: `${url}?raw=1` });
  }
  for (
    const path of [
      "/home/bob/secret.txt",
      "/home/alice/../bob",
      "/home/alice/%2e%2e/bob",
      "/home/alice/..\\bob",
      "//home/bob",
      "/home/alice/abs/secret.txt",
      "/home/alic\u0065\u0301",
      "/.pagefs-uploads",
    ]
  ) {
    add({
      name: `make share ${path}`,
      method: "POST",
      target: "/ui/share",
      headers: JSON_TYPE,
      body: JSON.stringify({ path, seconds: 3600 }),
    });
  }
  // The UI's routes around the API.
  for (
    const target of [
      "/ui/../api/v1/fs/home/bob/secret.txt",
      "/ui/%2e%2e/api/v1/fs/home/bob/secret.txt",
      "/ui/assets/..%2f..%2fapi%2fv1%2ffs%2fhome%2fbob%2fsecret.txt",
      "/s/%2e%2e/api/v1/fs/home/bob/secret.txt",
      "/s/x/..%2f..%2fapi/v1/fs/home/bob/secret.txt",
      "/%2e%2e/api/v1/fs/home/bob/secret.txt",
      "/api/v1/fs/home/alice/a.txt/../../bob/secret.txt",
      "/api/v1/%2e%2e/v1/fs/home/bob/secret.txt",
      "/dav/%2e%2e/api/v1/fs/home/bob/secret.txt",
    ]
  ) add({ name: "ui route", method: "GET", target });
  return out;
}

const REFUSED = (status: number) => status >= 400 && status < 500;

/** Everything outside /home/alice, as root sees it. */
async function outside(server: TestServer, root: string): Promise<Record<string, string>> {
  const all = await snapshot(server, root);
  return Object.fromEntries(
    Object.entries(all).filter(([path]) =>
      path !== "/home/alice" && !path.startsWith("/home/alice/")
    ),
  );
}

Deno.test("traversal battery: no spelling, second path, link or share leads out of a user's folder", async () => {
  const { server, auth } = await start();
  try {
    await seed(server, auth);
    const made = await shares(server, auth);
    const [folder, absLink, fileLink, sub] = made;
    assertEquals(folder!.status, 201, "alice shares her folder");
    assertEquals(sub!.status, 201, "alice shares her subfolder");
    // A share of a link that leads out is refused when made, or serves nothing when opened.
    const linkShares = [absLink!, fileLink!].filter((s) => s.url !== null).map((s) =>
      s.url as string
    );
    const before = await outside(server, auth.root);
    const port = Number(new URL(server.url).port);
    const all = rows(port, folder!.url, sub!.url, linkShares);
    const escaped: string[] = [];
    const byStatus = new Map<number, number>();
    for (const row of all) {
      const as = row.as ?? "alice";
      const res = await rawRequest(port, row.method, row.target, {
        headers: { authorization: auth[as], ...row.headers },
        ...(row.body === undefined ? {} : { body: row.body }),
      });
      byStatus.set(res.status, (byStatus.get(res.status) ?? 0) + 1);
      // BATTERY_TRACE=1 prints every answer, to see what refused each case.
      if (Deno.env.get("BATTERY_TRACE")) {
        console.log(
          `${res.status} ${as} ${row.name} ${row.method} ${row.target.slice(0, 100)} ${
            res.body.slice(0, 100).replaceAll("\n", " ")
          }`,
        );
      }
      const ok = REFUSED(res.status) || (row.alsoOk ?? []).includes(res.status) ||
        (row.own === true && res.status >= 200 && res.status < 300);
      const leaked = res.body.includes(SECRET) || res.body.includes(MARKER) ||
        res.body.includes(btoa(SECRET));
      if (!ok || leaked) {
        escaped.push(
          `${as} ${row.name} ${row.method} ${row.target.slice(0, 120)}: ${res.status}` +
            `${leaked ? " LEAKED" : ""} ${res.body.slice(0, 120)}`,
        );
      }
    }
    console.log(
      `traversal battery: ${all.length} requests, ${escaped.length} not refused; ` +
        `link shares made: ${made.map((s) => `${s.path} ${s.status}`).join(", ")}; statuses ` +
        JSON.stringify(Object.fromEntries([...byStatus].sort(([a], [b]) => a - b))),
    );
    assertEquals(escaped.slice(0, 40), [], `${escaped.length} requests were not refused`);
    // Nothing outside alice's folder changed, and bob's folder holds what it held.
    assertEquals(await outside(server, auth.root), before);
    const bob = JSON.parse((await call(server, auth.root, "GET", "/api/v1/fs/home/bob/")).text);
    assertEquals(bob.entries.map((e: { name: string }) => e.name).sort(), ["secret.txt", MARKER]);
    assertEquals(
      (await call(server, auth.root, "GET", "/api/v1/fs/home/bob/secret.txt")).text,
      SECRET,
    );
    // Her copies of a folder with links hold links, not what they lead to.
    for (const copy of ["/home/alice/sub-copy", "/home/alice/sub-api-copy"]) {
      const stat = await call(server, auth.root, "GET", `/api/v1/stat${copy}/file`);
      assertEquals(JSON.parse(stat.text).type, "symlink", `${copy}/file: ${stat.text}`);
    }
  } finally {
    await server.close();
  }
});
