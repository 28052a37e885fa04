// WebDAV locks (RFC 4918 class 2) through the whole app, on memory and on real S3: locks
// live in the bucket, so a lock taken through one instance binds another; shared and
// exclusive scopes, refresh, UNLOCK, expiry, and locks on collections and their members.

import { Authenticator, hashPassword } from "../src/auth/mod.ts";
import { DAV, parseXml, textOf } from "../src/webdav/xml.ts";
import { assert, assertEquals } from "./_assert.ts";
import {
  child,
  Dav,
  davTest,
  kids,
  lockinfo,
  ORIGIN,
  pathOfHref,
  prop,
  propfindBody,
} from "./_dav.ts";
import { snapshot } from "./rest_harness.ts";

/**
 * Asserts a 423 whose `DAV:lock-token-submitted` (or `condition`) names the roots of the
 * locks in the way (filesystem paths: whether a collection's href ends with "/" is left to
 * the server).
 */
async function assertLocked(
  res: Response,
  roots: string[],
  what: string,
  condition = "lock-token-submitted",
): Promise<void> {
  const text = await res.text();
  assertEquals(res.status, 423, `${what}: ${text}`);
  const error = parseXml(text);
  assertEquals([error.ns, error.name], [DAV, "error"], what);
  const submitted = child(error, DAV, condition);
  const hrefs = kids(submitted, DAV, "href").map((h) => pathOfHref(textOf(h)));
  assertEquals(hrefs.sort(), roots.sort(), what);
}

/** The `activelock` elements PROPFIND reports for `path`. */
async function activeLocks(dav: Dav, path: string) {
  const ms = await dav.propfind(path, "0", propfindBody([[DAV, "lockdiscovery"]]));
  return kids(prop(ms, path, DAV, "lockdiscovery"), DAV, "activelock");
}

/** Seconds left of an `activelock` (its `Second-n` timeout). */
function secondsLeft(activelock: ReturnType<typeof kids>[number]): number {
  const match = /^Second-(\d+)$/.exec(textOf(child(activelock, DAV, "timeout")));
  assert(match, "timeout is Second-n");
  return Number(match[1]);
}

davTest("a lock taken through one instance binds the other until UNLOCK", async (t) => {
  const { a } = t;
  const b = await t.b();
  assertEquals(await a.put("/f.txt", "one"), 201);
  // B has seen the file (and the empty lock table) before A locks it.
  assertEquals(await b.text("/f.txt"), "one");
  const lock = await a.lock("/f.txt", { owner: "<D:href>mailto:alice@example.com</D:href>" });
  assertEquals(lock.status, 200);
  const token = lock.token;
  assert(token && token.startsWith("urn:uuid:"), `Lock-Token ${token}`);

  await assertLocked(await b.send("PUT", "/f.txt", { body: "two" }), ["/f.txt"], "PUT on B");
  assertEquals(await b.text("/f.txt"), "one");
  assertEquals(await a.text("/f.txt"), "one");
  // B reports the lock A took.
  const [active] = await activeLocks(b, "/f.txt");
  assert(active);
  assertEquals(textOf(child(child(active, DAV, "locktoken"), DAV, "href")), token);

  assertEquals(await b.put("/f.txt", "two", { if: `(<${token}>)` }), 204);
  assertEquals(await a.text("/f.txt"), "two");
  assertEquals(await b.unlock("/f.txt", token), 204);
  assertEquals(await a.put("/f.txt", "three"), 204);
  assertEquals(await b.text("/f.txt"), "three");
  assertEquals(await activeLocks(a, "/f.txt"), []);
});

davTest("a MOVE of a tree through one instance is seen at once by the other", async (t) => {
  const { a } = t;
  const b = await t.b();
  for (const dir of ["/src", "/src/d", "/src/d/sub", "/dst"]) assertEquals(await a.mkcol(dir), 201);
  assertEquals(await a.put("/src/d/x.txt", "x"), 201);
  assertEquals(await a.put("/src/d/sub/y.txt", "y"), 201);
  // B lists and reads everything first, so stale caches would show.
  assertEquals(await b.members("/src"), ["d"]);
  assertEquals(await b.members("/dst"), []);
  assertEquals(await b.text("/src/d/x.txt"), "x");

  const moved = await a.status("MOVE", "/src/d", {
    headers: { destination: "http://localhost/dav/dst/d" },
  });
  assertEquals(moved, 201);
  assertEquals(await b.members("/src"), []);
  assertEquals(await b.members("/dst"), ["d"]);
  assertEquals(await b.members("/dst/d"), ["sub", "x.txt"]);
  assertEquals(await b.text("/dst/d/x.txt"), "x");
  assertEquals(await b.text("/dst/d/sub/y.txt"), "y");
  assertEquals(await b.text("/src/d/x.txt"), null);
});

davTest("a depth-infinity lock on a collection through A guards its members on B", async (t) => {
  const { a } = t;
  const b = await t.b();
  assertEquals(await a.mkcol("/c"), 201);
  assertEquals(await a.put("/c/m.txt", "member"), 201);
  assertEquals(await a.put("/outside.txt", "out"), 201);
  const { status, token } = await a.lock("/c/", { depth: "infinity" });
  assertEquals(status, 200);
  assert(token);
  const before = await snapshot(b.vfs);

  await assertLocked(await b.send("PUT", "/c/new.txt", { body: "n" }), ["/c"], "create");
  await assertLocked(await b.send("MKCOL", "/c/sub"), ["/c"], "MKCOL");
  await assertLocked(await b.send("PUT", "/c/m.txt", { body: "w" }), ["/c"], "write");
  await assertLocked(await b.send("DELETE", "/c/m.txt"), ["/c"], "delete");
  const into = { headers: { destination: "/dav/c/outside.txt" } };
  await assertLocked(await b.send("MOVE", "/outside.txt", into), ["/c"], "MOVE into");
  await assertLocked(await b.send("COPY", "/outside.txt", into), ["/c"], "COPY into");
  const out = { headers: { destination: "/dav/m.txt" } };
  await assertLocked(await b.send("MOVE", "/c/m.txt", out), ["/c"], "MOVE out");
  assertEquals(await snapshot(b.vfs), before);
  assertEquals(await b.members("/c"), ["m.txt"]);

  // With the token, B may change the collection; the lock stays.
  const withToken = { if: `(<${token}>)` };
  assertEquals(await b.put("/c/new.txt", "n", withToken), 201);
  assertEquals(await b.status("DELETE", "/c/m.txt", { headers: withToken }), 204);
  assertEquals(await b.members("/c"), ["new.txt"]);
  assertEquals((await activeLocks(b, "/c/new.txt")).length, 1);
});

davTest("LOCK on an unmapped URL creates an empty locked file", async ({ a }) => {
  const lock = await a.lock("/new.txt", { owner: "alice", timeout: "Second-600" });
  assertEquals(lock.status, 201);
  assert(lock.token);
  assertEquals(lock.headers.get("content-type"), "application/xml; charset=utf-8");
  const body = parseXml(lock.body);
  assertEquals([body.ns, body.name], [DAV, "prop"]);
  const active = child(child(body, DAV, "lockdiscovery"), DAV, "activelock");
  assertEquals(textOf(child(child(active, DAV, "locktoken"), DAV, "href")), lock.token);
  assertEquals(textOf(child(active, DAV, "owner")), "alice");
  assertEquals(textOf(child(child(active, DAV, "lockroot"), DAV, "href")), "/dav/new.txt");
  assertEquals(textOf(child(active, DAV, "depth")), "0");
  assert(kids(child(active, DAV, "lockscope"), DAV, "exclusive").length === 1);
  const left = secondsLeft(active);
  assert(left > 590 && left <= 600, `timeout ${left}`);

  const get = await a.send("GET", "/new.txt");
  assertEquals([get.status, await get.text()], [200, ""]);
  assertEquals(get.headers.get("content-length"), "0");
  // A missing parent is 409 and creates nothing.
  assertEquals((await a.lock("/none/x.txt")).status, 409);
  assertEquals(await a.members("/"), ["new.txt"]);
});

davTest("shared locks coexist and exclude exclusive ones", async ({ a }) => {
  assertEquals(await a.put("/s.txt", "s"), 201);
  const one = await a.lock("/s.txt", { scope: "shared", owner: "one" });
  const two = await a.lock("/s.txt", { scope: "shared", owner: "two" });
  assertEquals([one.status, two.status], [200, 200]);
  assert(one.token && two.token && one.token !== two.token);
  const active = await activeLocks(a, "/s.txt");
  assertEquals(active.map((l) => textOf(child(l, DAV, "owner"))).sort(), ["one", "two"]);
  assert(active.every((l) => kids(child(l, DAV, "lockscope"), DAV, "shared").length === 1));

  const exclusive = await a.lock("/s.txt", { scope: "exclusive" });
  assertEquals([exclusive.status, exclusive.token], [423, null]);
  // Either shared token lets a write through.
  assertEquals(await a.put("/s.txt", "t", { if: `(<${two.token}>)` }), 204);

  assertEquals(await a.put("/e.txt", "e"), 201);
  const held = await a.lock("/e.txt");
  assertEquals(held.status, 200);
  assertEquals((await a.lock("/e.txt")).status, 423);
  assertEquals((await a.lock("/e.txt", { scope: "shared" })).status, 423);
  // A depth-infinity lock on a parent conflicts with the exclusive lock below it.
  assertEquals((await a.lock("/")).status, 423);
  assertEquals((await activeLocks(a, "/e.txt")).length, 1);
});

// RFC 4918 sections 9.10.6 and 16: a LOCK refused for a lock already there is 423 with
// DAV:no-conflicting-lock naming the conflicting locks' roots. Before session 16 it was
// DAV:lock-token-submitted, the condition of a write that lacks a token.
davTest(
  "a conflicting LOCK is 423 with no-conflicting-lock naming the lock roots",
  async ({ a }) => {
    assertEquals(await a.mkcol("/c"), 201);
    assertEquals(await a.put("/c/e.txt", "e"), 201);
    assertEquals((await a.lock("/c/e.txt")).status, 200);
    const lock = (path: string, depth: "0" | "infinity") =>
      a.send("LOCK", path, {
        headers: { "content-type": "application/xml", depth },
        body: lockinfo("exclusive", null),
      });
    await assertLocked(await lock("/c/e.txt", "0"), ["/c/e.txt"], "same", "no-conflicting-lock");
    await assertLocked(await lock("/c", "infinity"), ["/c/e.txt"], "above", "no-conflicting-lock");
    // A write without the token is still lock-token-submitted.
    await assertLocked(await a.send("PUT", "/c/e.txt", { body: "x" }), ["/c/e.txt"], "write");
  },
);

davTest(
  "lock-token-submitted names a locked collection by its href, slash included",
  async ({ a }) => {
    assertEquals(await a.mkcol("/c d"), 201);
    assertEquals((await a.lock("/c d", { depth: "infinity" })).status, 200);
    const res = await a.send("PUT", "/c d/f", { body: "x" });
    assertEquals(res.status, 423);
    const error = parseXml(await res.text());
    const hrefs = kids(child(error, DAV, "lock-token-submitted"), DAV, "href").map(textOf);
    // Before session 16: "/dav/c%20d", without the slash every other href of it has.
    assertEquals(hrefs, ["/dav/c%20d/"]);
  },
);

davTest("refresh extends a lock; UNLOCK with a wrong token is 409", async ({ a }) => {
  assertEquals(await a.put("/r.txt", "r"), 201);
  assertEquals(await a.put("/other.txt", "o"), 201);
  const { token } = await a.lock("/r.txt", { timeout: "Second-100" });
  const other = await a.lock("/other.txt");
  assert(token && other.token);
  const [before] = await activeLocks(a, "/r.txt");
  assert(before && secondsLeft(before) <= 100);

  const res = await a.send("LOCK", "/r.txt", {
    headers: { if: `(<${token}>)`, timeout: "Second-5000" },
  });
  const body = await res.text();
  assertEquals(res.status, 200, body);
  // A refresh does not hand out a token again (RFC 4918 section 9.10.2).
  assertEquals(res.headers.get("lock-token"), null);
  const refreshed = child(child(parseXml(body), DAV, "lockdiscovery"), DAV, "activelock");
  assert(secondsLeft(refreshed) > 4990, textOf(child(refreshed, DAV, "timeout")));
  const [after] = await activeLocks(a, "/r.txt");
  assert(after && secondsLeft(after) > 4990);
  // Refreshing with a token of another resource's lock fails.
  const wrong = await a.send("LOCK", "/r.txt", { headers: { if: `(<${other.token}>)` } });
  assertEquals(wrong.status, 412, await wrong.text());

  assertEquals(await a.unlock("/r.txt", `urn:uuid:${crypto.randomUUID()}`), 409);
  assertEquals(await a.unlock("/r.txt", other.token), 409);
  assertEquals(await a.status("UNLOCK", "/r.txt"), 400);
  // Still locked after the failed attempts.
  assertEquals(await a.put("/r.txt", "x"), 423);
  assertEquals(await a.unlock("/r.txt", token), 204);
  assertEquals(await a.put("/r.txt", "x"), 204);
  assertEquals(await a.unlock("/r.txt", token), 409);
});

davTest("an expired lock stops blocking, on every instance", async (t) => {
  const { a } = t;
  const b = await t.b();
  assertEquals(await a.put("/x.txt", "x"), 201);
  const { status, token } = await a.lock("/x.txt", { timeout: "Second-1" });
  assertEquals(status, 200);
  assertEquals(await b.put("/x.txt", "y"), 423);
  // A lock lasts its timeout on the store's clock. S3's `Date` has whole seconds: the
  // granter counts from the latest the store's time can be, B judges by the earliest, each
  // in doubt by up to a second (plus the answer's travel) until answers stamped at other
  // fractions of a second narrow it (format/store_clock.ts). Memory keeps the host's time.
  const doubt = t.store.kind === "s3" ? 2_200 : 0;
  await new Promise((resolve) => setTimeout(resolve, 1500 + doubt));
  assertEquals(await b.put("/x.txt", "y"), 204);
  assertEquals(await a.text("/x.txt"), "y");
  assertEquals(await activeLocks(b, "/x.txt"), []);
  assertEquals(await a.unlock("/x.txt", token!), 409);
  // The lapsed lock does not conflict with a new exclusive one either.
  assertEquals((await b.lock("/x.txt")).status, 200);
});

davTest("DELETE in a locked collection needs the token; DELETE releases locks", async ({ a }) => {
  assertEquals(await a.mkcol("/d"), 201);
  assertEquals(await a.put("/d/m.txt", "m"), 201);
  assertEquals(await a.put("/d/n.txt", "n"), 201);
  const { token } = await a.lock("/d", { depth: "infinity" });
  assert(token);
  await assertLocked(await a.send("DELETE", "/d/m.txt"), ["/d"], "member");
  await assertLocked(await a.send("DELETE", "/d"), ["/d"], "collection");
  assertEquals(await a.members("/d"), ["m.txt", "n.txt"]);

  assertEquals(await a.status("DELETE", "/d/m.txt", { headers: { if: `(<${token}>)` } }), 204);
  // Deleting a member leaves the collection's lock.
  assertEquals(await a.put("/d/n.txt", "changed"), 423);
  assertEquals(await a.status("DELETE", "/d", { headers: { if: `(<${token}>)` } }), 204);
  // The lock went with the collection: a new one by the same name is free.
  assertEquals(await a.mkcol("/d"), 201);
  assertEquals(await a.put("/d/n.txt", "new"), 201);
  assertEquals((await a.lock("/d", { depth: "infinity" })).status, 200);
});

davTest("DELETE of a tree with locks below it needs their tokens and drops them", async ({ a }) => {
  for (const dir of ["/t", "/t/sub"]) assertEquals(await a.mkcol(dir), 201);
  assertEquals(await a.put("/t/f.txt", "f"), 201);
  assertEquals(await a.put("/t/sub/g.txt", "g"), 201);
  const f = await a.lock("/t/f.txt");
  const sub = await a.lock("/t/sub", { depth: "infinity", scope: "shared" });
  assert(f.token && sub.token);
  await assertLocked(await a.send("DELETE", "/t"), ["/t/f.txt", "/t/sub"], "none");
  const onlyF = { if: `</dav/t/f.txt> (<${f.token}>)` };
  await assertLocked(await a.send("DELETE", "/t", { headers: onlyF }), ["/t/sub"], "one");
  assertEquals(await a.members("/t"), ["f.txt", "sub"]);

  const both = `</dav/t/f.txt> (<${f.token}>) </dav/t/sub/> (<${sub.token}>)`;
  assertEquals(await a.status("DELETE", "/t", { headers: { if: both } }), 204);
  assertEquals(await a.members("/"), []);
  for (const dir of ["/t", "/t/sub"]) assertEquals(await a.mkcol(dir), 201);
  assertEquals(await a.put("/t/f.txt", "again"), 201);
  assertEquals(await a.put("/t/sub/g.txt", "again"), 201);
  assertEquals(await a.unlock("/t/f.txt", f.token), 409);
});

davTest("a lock token only counts for the user who took the lock", async ({ a, store }) => {
  const hash = await hashPassword("pw", { iterations: 1000 });
  const auth = await Authenticator.load({ PAGEFS_USERS: `alice:${hash}:rw, bob:${hash}:rw` });
  assert(auth);
  const as = (name: string) =>
    new Dav(a.vfs, store, { auth, headers: { authorization: `Basic ${btoa(`${name}:pw`)}` } });
  const alice = as("alice");
  const bob = as("bob");
  assertEquals(await alice.put("/f.txt", "a"), 201);
  const { token } = await alice.lock("/f.txt");
  assert(token);
  const withToken = { if: `(<${token}>)` };
  // Bob has learnt the token (lockdiscovery shows it to anyone) but did not take the lock.
  await assertLocked(
    await bob.send("PUT", "/f.txt", { body: "b", headers: withToken }),
    ["/f.txt"],
    "bob",
  );
  assertEquals(await bob.unlock("/f.txt", token), 403);
  // Nor through the HTTP API, whose writes submit tokens in Lock-Token.
  const bobApi = async (method: string, path: string, body?: string, type?: string) => {
    const res = await bob.app.request(`${ORIGIN}/api/v1/fs${path}`, {
      method,
      ...(body === undefined ? {} : { body }),
      headers: {
        authorization: `Basic ${btoa("bob:pw")}`,
        "lock-token": `<${token}>`,
        ...(type ? { "content-type": type } : {}),
      },
    });
    return `${method} ${path} ${res.status} ${await res.text()}`.slice(0, 120);
  };
  for (
    const answer of [
      await bobApi("PUT", "/f.txt", "b"),
      await bobApi("PATCH", "/f.txt?offset=0", "b"),
      await bobApi(
        "POST",
        "/f.txt",
        JSON.stringify({ op: "truncate", size: 0 }),
        "application/json",
      ),
      await bobApi(
        "POST",
        "/f.txt",
        JSON.stringify({ op: "rename", to: "/g.txt" }),
        "application/json",
      ),
      await bobApi("DELETE", "/f.txt"),
    ]
  ) {
    assert(answer.includes(" 423 "), answer);
  }
  assertEquals(await alice.text("/f.txt"), "a");
  assertEquals(await alice.put("/f.txt", "a2", withToken), 204);
  assertEquals(await alice.unlock("/f.txt", token), 204);
  assertEquals(await bob.put("/f.txt", "b"), 204);
});

// RFC 4918 section 17: unknown elements in a lockinfo, also inside lockscope and locktype,
// are ignored; a lockscope or locktype with nothing known in it is still refused.
davTest("LOCK ignores elements it does not know in its lockinfo", async ({ a }) => {
  assertEquals(await a.put("/f.txt", "f"), 201);
  const lock = (inner: string) =>
    a.send("LOCK", "/f.txt", {
      headers: { "content-type": "application/xml" },
      body: `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:" xmlns:X="urn:x">${inner}` +
        `</D:lockinfo>`,
    });
  const res = await lock(
    `<X:hint/><D:lockscope><X:flavour/><D:shared/></D:lockscope>` +
      `<D:locktype><X:kind/><D:write/></D:locktype><D:owner>o</D:owner>`,
  );
  const text = await res.text();
  assertEquals(res.status, 200, text);
  const active = child(child(parseXml(text), DAV, "lockdiscovery"), DAV, "activelock");
  assert(child(child(active, DAV, "lockscope"), DAV, "shared"));
  for (
    const [inner, status] of [
      [`<D:lockscope><X:flavour/></D:lockscope><D:locktype><D:write/></D:locktype>`, 400],
      [`<D:lockscope><D:shared/></D:lockscope><D:locktype><X:kind/></D:locktype>`, 422],
    ] as const
  ) {
    const refused = await lock(inner);
    assertEquals(refused.status, status, inner);
    await refused.body?.cancel();
  }
});
