// A lock is on the resource, not on the URL that named it (RFC 4918 sections 6 and 7):
// every path that leads to a locked file or collection through a symlink, on the way or
// as its last name, needs the lock's token, through WebDAV and the HTTP API alike.

import { api, child, Dav, davTest, json, kids, ORIGIN, prop, propfindBody } from "./_dav.ts";
import { DAV, parseXml, textOf, type XmlElement } from "../src/webdav/xml.ts";
import { assert, assertEquals } from "./_assert.ts";

/** /d/f and /d/g, with /s -> /d and /l -> /d/f. */
async function setUp(dav: Dav): Promise<void> {
  assertEquals(await dav.mkcol("/d"), 201);
  assertEquals(await dav.put("/d/f", "one"), 201);
  assertEquals(await dav.put("/d/g", "one"), 201);
  assertEquals((await api(dav, "POST", "/s", json({ op: "symlink", target: "/d" }))).status, 201);
  assertEquals((await api(dav, "POST", "/l", json({ op: "symlink", target: "d/f" }))).status, 201);
}

const move = (dav: Dav, from: string, to: string, headers: Record<string, string> = {}) =>
  dav.status("MOVE", from, {
    headers: { destination: `${ORIGIN}/dav${to}`, overwrite: "T", ...headers },
  });

davTest("a locked file is locked through every symlink that leads to it", async (t) => {
  const b = await t.b();
  await setUp(t.a);
  const { token } = await t.a.lock("/d/f", { depth: "0" });
  assert(token);
  // Before: each of these went through without the token (201/204), the lock kept by URL.
  const refused = [
    ["dav PUT /s/f", await b.put("/s/f", "two")],
    ["dav PUT /l", await b.put("/l", "two")],
    ["dav DELETE /s/f", await b.status("DELETE", "/s/f")],
    ["dav MOVE /s/f", await move(b, "/s/f", "/moved")],
    ["dav MOVE over /s/f", await move(b, "/d/g", "/s/f")],
    ["dav PROPPATCH /s/f", await b.status("PROPPATCH", "/s/f", { body: proppatch })],
    ["api PUT /s/f", (await api(b, "PUT", "/s/f", { body: "two" })).status],
    ["api PUT /l", (await api(b, "PUT", "/l", { body: "two" })).status],
    ["api PATCH /l", (await api(b, "PATCH", "/l?offset=0", { body: "X" })).status],
    ["api DELETE /s/f", (await api(b, "DELETE", "/s/f")).status],
    ["api truncate /l", (await api(b, "POST", "/l", json({ op: "truncate", size: 0 }))).status],
    ["api rename /s/f", (await api(b, "POST", "/s/f", json({ op: "rename", to: "/x" }))).status],
  ] as const;
  const statuses = Object.fromEntries(refused);
  assertEquals(statuses, Object.fromEntries(refused.map(([what]) => [what, 423])));
  assertEquals(await t.a.text("/d/f"), "one");
  // The symlink itself is another resource: deleting /l changes nothing of /d/f.
  assertEquals(await b.status("DELETE", "/l"), 204);
  // With the token, through the alias: allowed, and the If header's token is matched
  // against the locks on the resource the alias leads to.
  const ifHeader = { "if": `(<${token}>)` };
  assertEquals(await b.put("/s/f", "two", ifHeader), 204);
  assertEquals(
    (await api(b, "PUT", "/s/f", { body: "three", headers: { "lock-token": `<${token}>` } }))
      .status,
    204,
  );
  assertEquals(await t.a.text("/d/f"), "three");
  // A DELETE through the alias unmaps the resource: its lock goes with it.
  assertEquals(await b.status("DELETE", "/s/f", { headers: ifHeader }), 204);
  assertEquals(await t.a.put("/d/f", "anew"), 201);
});

const proppatch = `<?xml version="1.0"?>
<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:p>v</Z:p></D:prop></D:set>
</D:propertyupdate>`;

davTest("a locked collection is locked through a symlink on the way", async (t) => {
  await setUp(t.a);
  const { token } = await t.a.lock("/d", { depth: "infinity" });
  assert(token);
  const refused = [
    ["dav PUT /s/new", await t.a.put("/s/new", "x")],
    ["dav MKCOL /s/sub", await t.a.mkcol("/s/sub")],
    ["dav PUT /s/g", await t.a.put("/s/g", "x")],
    [
      "dav COPY to /s/c",
      await t.a.status("COPY", "/l", {
        headers: { destination: `${ORIGIN}/dav/s/c` },
      }),
    ],
    ["api PUT /s/new", (await api(t.a, "PUT", "/s/new", { body: "x" })).status],
    ["api mkdir /s/sub", (await api(t.a, "POST", "/s/sub", json({ op: "mkdir" }))).status],
    ["api DELETE /s/g", (await api(t.a, "DELETE", "/s/g")).status],
  ] as const;
  const statuses = Object.fromEntries(refused);
  assertEquals(statuses, Object.fromEntries(refused.map(([what]) => [what, 423])));
  assertEquals(await t.a.members("/d"), ["f", "g"]);
});

davTest("a lock taken through a symlink is on the resource it leads to", async (t) => {
  await setUp(t.a);
  const { status, token } = await t.a.lock("/s/g", { depth: "0" });
  assertEquals(status, 200);
  assert(token);
  // Before: the lock sat on /s/g, and /d/g, the same file, took writes without it.
  assertEquals(await t.a.put("/d/g", "two"), 423);
  assertEquals((await api(t.a, "PUT", "/d/g", { body: "two" })).status, 423);
  assertEquals(await t.a.put("/d/g", "two", { "if": `(<${token}>)` }), 204);
  // Discovery through either name, and UNLOCK through the other one.
  const res = await t.a.send("PROPFIND", "/d/g", { headers: { depth: "0" } });
  assert((await res.text()).includes(token), "lockdiscovery of /d/g lists the lock");
  assertEquals(await t.a.unlock("/d/g", token), 204);
  assertEquals(await t.a.put("/s/g", "three"), 204);
});

/** The `lockroot` href of each `activelock` under `el`. */
function lockroots(el: XmlElement): string[] {
  return kids(el, DAV, "activelock").map((a) =>
    textOf(child(child(a, DAV, "lockroot"), DAV, "href"))
  );
}

// RFC 4918 section 14.12: lockroot is the URL through which the resource was addressed in
// the LOCK request. Before session 16 it was the resolved path (/dav/d/g), a URL the
// client never used (and a collection's had no trailing slash).
davTest("a lock taken through a symlink reports the URL it named as its lockroot", async (t) => {
  await setUp(t.a);
  const taken = await t.a.lock("/s/g", { depth: "0" });
  assertEquals(taken.status, 200);
  const answered = child(parseXml(taken.body), DAV, "lockdiscovery");
  assertEquals(lockroots(answered), ["/dav/s/g"]);
  for (const path of ["/s/g", "/d/g"]) {
    const ms = await t.a.propfind(path, "0", propfindBody([[DAV, "lockdiscovery"]]));
    assertEquals(lockroots(prop(ms, path, DAV, "lockdiscovery")), ["/dav/s/g"], path);
  }
  const refreshed = await t.a.send("LOCK", "/d/g", {
    headers: { "if": `(<${taken.token}>)`, timeout: "Second-60" },
  });
  assertEquals(refreshed.status, 200);
  const again = child(parseXml(await refreshed.text()), DAV, "lockdiscovery");
  assertEquals(lockroots(again), ["/dav/s/g"]);
  // A collection locked through the symlink itself as the way: an href with its slash.
  assertEquals(await t.a.mkcol("/d/c"), 201);
  const coll = await t.a.lock("/s/c", { depth: "infinity" });
  assertEquals(coll.status, 200);
  assertEquals(lockroots(child(parseXml(coll.body), DAV, "lockdiscovery")), ["/dav/s/c/"]);
  // Without a symlink, the path itself, as before.
  const plain = await t.a.lock("/d/f", { depth: "0" });
  assertEquals(lockroots(child(parseXml(plain.body), DAV, "lockdiscovery")), ["/dav/d/f"]);
});

davTest("a MOVE of a collection into itself through a symlink is 403", async (t) => {
  await setUp(t.a);
  // /s/x is /d/x: inside /d. Before: the rename's EINVAL, 400.
  assertEquals(await move(t.a, "/d", "/s/x"), 403);
  assertEquals(
    await t.a.status("COPY", "/d", { headers: { destination: `${ORIGIN}/dav/s/x` } }),
    403,
  );
  assertEquals(await t.a.members("/d"), ["f", "g"]);
});
