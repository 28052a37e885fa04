// What one user can do to what other users see and do, by ways the escape battery
// (security_test.ts) and authz_test.ts do not try: values one front end stores and another
// renders for everyone, shared tables one principal can fill, and the headers of answers
// with a body. The whole app in process (app.request), four principals: alice (rw, limited
// to /home/alice), bob (rw, limited to /home/bob), reader (ro) and root (rw, everything).

import { assert, assertEquals } from "./_assert.ts";
import { createApp } from "../src/app.ts";
import { Authenticator, hashPassword } from "../src/auth/mod.ts";
import { MemoryStore, StoreMetrics } from "../src/store/mod.ts";
import { HookStore } from "./_hook_store.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { DAV, parseXml, textOf, type XmlElement } from "../src/webdav/xml.ts";

const ORIGIN = "http://pagefs.test";
type Who = "alice" | "bob" | "reader" | "root";

interface World {
  readonly vfs: Vfs;
  send(
    as: Who,
    method: string,
    path: string,
    options?: { headers?: Record<string, string>; body?: BodyInit },
  ): Promise<{ status: number; headers: Headers; body: string }>;
}

async function world(): Promise<World & { store: HookStore }> {
  const store = new HookStore(new MemoryStore());
  const vfs = await Vfs.open(store);
  const hash = await hashPassword("pw", { iterations: 1000 });
  const auth = await Authenticator.load({
    PAGEFS_USERS: [
      `alice:${hash}:rw:/home/alice`,
      `bob:${hash}:rw:/home/bob`,
      `reader:${hash}:ro`,
      `root:${hash}:rw`,
    ].join(","),
  });
  const app = createApp({
    store,
    metrics: new StoreMetrics(),
    vfs,
    auth,
    secret: "a test secret that is long enough to use",
  });
  for (const home of ["/home/alice", "/home/bob"]) await vfs.mkdir(home, { parents: true });
  const send: World["send"] = async (as, method, path, options = {}) => {
    const res = await app.request(`${ORIGIN}${path}`, {
      method,
      headers: { authorization: `Basic ${btoa(`${as}:pw`)}`, ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body }),
    });
    return { status: res.status, headers: res.headers, body: await res.text() };
  };
  return { vfs, send, store };
}

const JSON_TYPE = { "content-type": "application/json" };

function elements(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    if (e.ns === DAV && e.name === name) out.push(e);
    for (const c of e.children) if (typeof c !== "string") walk(c);
  };
  walk(el);
  return out;
}

Deno.test("a dead property stored through the HTTP API neither breaks nor forges another user's PROPFIND", async () => {
  const { send } = await world();
  const put = await send("alice", "PUT", "/api/v1/fs/home/alice/f.txt", { body: "f" });
  assertEquals(put.status, 201, put.body);
  // A PROPPATCH'd property, which must still be reported.
  const patched = await send("alice", "PROPPATCH", "/dav/home/alice/f.txt", {
    headers: { "content-type": "application/xml" },
    body: `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set>` +
      `<D:prop><Z:kept>yes</Z:kept></D:prop></D:set></D:propertyupdate>`,
  });
  assertEquals(patched.status, 207, patched.body);
  // Values no PROPPATCH could store, under `dav:` names, through the API's setxattr.
  const forged = `<x:a xmlns:x="urn:x">1</x:a></D:prop></D:propstat></D:response>` +
    `<D:response><D:href>/dav/home/bob/forged</D:href><D:propstat><D:prop>` +
    `<x:a xmlns:x="urn:x">`;
  const values: [string, string][] = [
    ["dav:{urn:x}a", forged],
    ["dav:{urn:x}ctl", `<x:ctl xmlns:x="urn:x">\u0001</x:ctl>`],
    ["dav:{urn:x}open", `<x:open xmlns:x="urn:x">`],
    ["dav:{urn:x}other", `<D:getetag xmlns:D="DAV:">"spoofed"</D:getetag>`],
    ["dav:{urn:x}bad name><y", `<y/>`],
    ["dav:{DAV:}displayname", `<D:displayname xmlns:D="DAV:">x</D:nope>`],
  ];
  for (const [name, value] of values) {
    const bytes = new TextEncoder().encode(value);
    const res = await send("alice", "POST", "/api/v1/fs/home/alice/f.txt", {
      headers: JSON_TYPE,
      body: JSON.stringify({ op: "setxattr", name, value: btoa(String.fromCharCode(...bytes)) }),
    });
    assertEquals(res.status, 200, `${name}: ${res.body}`);
  }
  const queries = {
    allprop: `<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`,
    propname: `<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`,
    prop: `<D:propfind xmlns:D="DAV:" xmlns:x="urn:x"><D:prop><x:a/><x:ctl/><x:open/>` +
      `<x:other/><D:displayname/><D:getetag/></D:prop></D:propfind>`,
  };
  for (const [kind, query] of Object.entries(queries)) {
    // Root lists alice's folder; before, each answer was malformed or held bob's forged path.
    const res = await send("root", "PROPFIND", "/dav/home/alice/", {
      headers: { depth: "1", "content-type": "application/xml" },
      body: query,
    });
    assertEquals(res.status, 207, `${kind}: ${res.body}`);
    let root: XmlElement;
    try {
      root = parseXml(res.body);
    } catch (error) {
      throw new Error(`${kind}: the listing is not well-formed XML (${error})\n${res.body}`);
    }
    const hrefs = elements(root, "href").map(textOf);
    assertEquals(hrefs.sort(), ["/dav/home/alice/", "/dav/home/alice/f.txt"], kind);
    assert(!res.body.includes("forged") && !res.body.includes("spoofed"), `${kind}: ${res.body}`);
    if (kind !== "propname") {
      const names = elements(root, "displayname").map(textOf);
      assertEquals(names.sort(), ["alice", "f.txt"], kind);
    }
    if (kind === "allprop") assert(res.body.includes(">yes</"), `${kind}: ${res.body}`);
  }
});

const lockinfo = (owner: string) =>
  `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:shared/></D:lockscope>` +
  `<D:locktype><D:write/></D:locktype><D:owner>${owner}</D:owner></D:lockinfo>`;

Deno.test("one user cannot fill the lock table that every user's writes read", async () => {
  const { send } = await world();
  // Shared locks on one file of her own, each with a long owner: before, alice could take
  // 10,000 (over 40 MB of table, rewritten by every LOCK and UNLOCK of anyone, and no new
  // lock for anyone else for up to 7 days).
  const owner = "o".repeat(4000);
  let taken = 0;
  let refused: { status: number; body: string } | null = null;
  for (let i = 0; i < 400 && refused === null; i++) {
    const res = await send("alice", "LOCK", "/dav/home/alice/f.txt", {
      headers: { "content-type": "application/xml", timeout: "Infinite" },
      body: lockinfo(owner),
    });
    if (res.status < 300) taken++;
    else refused = res;
  }
  assert(refused !== null, `alice took ${taken} locks of ${owner.length}-character owners`);
  assertEquals(refused.status, 507, refused.body);
  assert(taken >= 200, `alice took only ${taken}`);
  // Bob still locks and writes his own files.
  const bob = await send("bob", "LOCK", "/dav/home/bob/g.txt", {
    headers: { "content-type": "application/xml" },
    body: lockinfo("bob"),
  });
  assertEquals(bob.status, 201, bob.body);
  const token = bob.headers.get("lock-token")!;
  const put = await send("bob", "PUT", "/dav/home/bob/g.txt", {
    headers: { if: `(${token})` },
    body: "bob",
  });
  assertEquals(put.status, 204, put.body);
});

Deno.test("every answer with a body says nosniff, and a zip names its file in ASCII too", async () => {
  const { send, vfs } = await world();
  await vfs.mkdir("/home/alice/it's (1) é", { parents: true });
  await vfs.write("/home/alice/it's (1) é/f", 0, new Uint8Array([1]), { create: true });
  const cases: [Who, string, string][] = [
    ["alice", "GET", "/dav/home/alice/missing"],
    ["alice", "PROPFIND", "/dav/home/alice/missing"],
    ["alice", "GET", "/dav/home/alice/"],
    ["alice", "DELETE", "/dav/home/bob/x"],
    ["alice", "GET", "/api/v1/fs/home/alice/missing"],
    ["alice", "GET", "/api/v1/fs/home/bob/"],
    ["reader", "PUT", "/api/v1/fs/home/alice/x"],
    ["alice", "PATCH", "/api/v1/uploads/0123"],
    ["alice", "GET", "/api/v1/zip/home/alice/it's%20(1)%20%C3%A9/"],
  ];
  for (const [who, method, path] of cases) {
    const res = await send(who, method, path, { headers: { "tus-resumable": "1.0.0" } });
    assert(res.body.length > 0, `${method} ${path}: ${res.status} has no body`);
    assertEquals(res.headers.get("x-content-type-options"), "nosniff", `${method} ${path}`);
  }
  const zip = await send("alice", "GET", "/api/v1/zip/home/alice/it's%20(1)%20%C3%A9/");
  assertEquals(zip.status, 200);
  // RFC 6266: an ASCII filename= for clients that do not read filename*, and filename*
  // with only RFC 8187's attr-chars (`'`, `(`, `)` encoded).
  assertEquals(
    zip.headers.get("content-disposition"),
    `attachment; filename="it's (1) _.zip"; filename*=UTF-8''it%27s%20%281%29%20%C3%A9.zip`,
  );
});

Deno.test("a walk of a deep folder costs a few reads per directory, even after a rename elsewhere", async () => {
  const { send, vfs, store } = await world();
  const depth = 100;
  await vfs.mkdir(`/home/alice/deep${"/d".repeat(depth)}`, { parents: true });
  const walks: [string, string, Record<string, string>][] = [
    ["PROPFIND", "/dav/home/alice/deep/", { depth: "infinity" }],
    ["GET", "/api/v1/zip/home/alice/deep/", {}],
    ["COPY", "/dav/home/alice/deep/", { destination: "/dav/home/alice/copy/" }],
  ];
  for (const [method, path, headers] of walks) {
    // Any rename of a directory (bob's, of his own) makes every path resolve afresh.
    await vfs.mkdir("/home/bob/t", { parents: true });
    const moved = await send("bob", "MOVE", "/dav/home/bob/t/", {
      headers: { destination: "/dav/home/bob/t2/" },
    });
    assertEquals(moved.status, 201, moved.body);
    await vfs.rmdir("/home/bob/t2");
    const before = store.calls.length;
    const res = await send("alice", method, path, { headers });
    assert(res.status < 300, `${method} ${path}: ${res.status} ${res.body.slice(0, 200)}`);
    const reads = store.calls.slice(before).filter((call) => call.op === "GetObject").length;
    // Each directory costs a few reads (410 for the PROPFIND, 808 for the COPY, which
    // also writes). Before, each was resolved from the root again: about depth²/2 reads
    // (5,662 and 11,108 here), which for a 2,200-deep folder kept a core busy for 23 s.
    assert(reads < 15 * depth, `${method} of a ${depth}-deep folder made ${reads} reads`);
  }
});

Deno.test("a cross-site form post with the Basic credentials a browser holds changes nothing", async () => {
  const { send, vfs } = await world();
  // What an HTML form on another site can send (no custom header, a form's content types),
  // with the credentials the browser remembers for this site: every POST route refuses it.
  const forms: [string, string, string][] = [
    ["/dav/home/alice/x", "text/plain", "hello"],
    ["/api/v1/fs/home/alice/x", "text/plain", '{"op":"mkdir"}'],
    ["/api/v1/fs/home/alice/x", "application/x-www-form-urlencoded", "op=mkdir"],
    ["/api/v1/uploads/", "text/plain", "x"],
    ["/ui/share", "text/plain", '{"path":"/home/alice"}'],
    ["/ui/share/revoke", "text/plain", '{"path":"/home/alice"}'],
  ];
  for (const [path, type, body] of forms) {
    const res = await send("alice", "POST", path, {
      headers: {
        "content-type": type,
        origin: "https://evil.example",
        "sec-fetch-site": "cross-site",
      },
      body,
    });
    assert([405, 412, 415].includes(res.status), `${path} (${type}): ${res.status} ${res.body}`);
  }
  assertEquals((await vfs.readdir("/home/alice")).entries, []);
  assertEquals(await vfs.listxattr("/home/alice"), []);
});
