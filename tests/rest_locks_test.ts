// WebDAV locks bind the HTTP API: a write under a lock needs the lock's token in
// `Lock-Token`, else 423 problem+json and nothing changes; reads and copies from a locked
// resource stay free.

import { api, davTest, json } from "./_dav.ts";
import { assert, assertEquals } from "./_assert.ts";

davTest("a WebDAV lock through one instance binds the HTTP API of the other", async (t) => {
  const b = await t.b();
  assertEquals((await api(t.a, "PUT", "/docs/a.txt?parents=1", { body: "one" })).status, 201);
  const { token } = await t.a.lock("/docs", { depth: "infinity" });
  assert(token);

  const refused = [
    await api(b, "PUT", "/docs/a.txt", { body: "two" }),
    await api(b, "PUT", "/docs/new.txt", { body: "new" }),
    await api(b, "PATCH", "/docs/a.txt?offset=0", { body: "X" }),
    await api(b, "DELETE", "/docs/a.txt"),
    await api(b, "DELETE", "/docs?recursive=1"),
    await api(b, "POST", "/docs/a.txt", json({ op: "chmod", mode: 0o600 })),
    await api(b, "POST", "/docs/a.txt", json({ op: "rename", to: "/a.txt" })),
  ];
  for (const r of refused) {
    assertEquals(r.status, 423, r.text);
    assertEquals(JSON.parse(r.text).status, 423);
  }
  // A rename *into* the locked tree is refused too; reading and copying out are not.
  assertEquals((await api(b, "PUT", "/elsewhere.txt", { body: "x" })).status, 201);
  const into = await api(b, "POST", "/elsewhere.txt", json({ op: "rename", to: "/docs/x.txt" }));
  assertEquals(into.status, 423, into.text);
  assertEquals((await api(b, "GET", "/docs/a.txt")).text, "one");
  const copy = await api(b, "POST", "/docs/a.txt", json({ op: "copy", to: "/copy.txt" }));
  assertEquals(copy.status, 201, copy.text);
  assertEquals((await api(b, "GET", "/docs/")).status, 200);
  const names = JSON.parse((await api(b, "GET", "/docs/")).text).entries.map(
    (e: { name: string }) => e.name,
  );
  assertEquals(names, ["a.txt"]);

  // With the token the same writes go through.
  const lockToken = { "lock-token": `<${token}>` };
  assertEquals(
    (await api(b, "PUT", "/docs/a.txt", { body: "two", headers: lockToken })).status,
    204,
  );
  assertEquals((await api(b, "GET", "/docs/a.txt")).text, "two");
  // After UNLOCK nothing is needed.
  assertEquals(await b.unlock("/docs", token), 204);
  assertEquals((await api(t.a, "DELETE", "/docs/a.txt")).status, 204);
});

// RFC 4918 section 6.1: "If a request causes the lock-root of any lock to become an
// unmapped URL, then the lock MUST also be deleted by that request." WebDAV's DELETE and
// MOVE did; the HTTP API's DELETE and rename with the token left the lock on the gone
// path, so the next LOCK or create there was 423 until the lock timed out (protocol fuzz
// ext seed 2).
davTest("an API DELETE or rename that unmaps a locked path deletes its locks", async (t) => {
  const b = await t.b();
  for (const how of ["delete", "delete-tree", "rename"] as const) {
    const dir = `/${how}`;
    assertEquals((await api(t.a, "PUT", `${dir}/f?parents=1`, { body: "one" })).status, 201);
    const root = how === "delete-tree" ? dir : `${dir}/f`;
    const { token } = await t.a.lock(root, { depth: "0" });
    assert(token);
    const headers = { "lock-token": `<${token}>` };
    const done = how === "rename"
      ? await api(b, "POST", root, {
        ...json({ op: "rename", to: `${dir}/g` }),
        headers: { ...json({}).headers, ...headers },
      })
      : await api(b, "DELETE", root + (how === "delete-tree" ? "?recursive=1" : ""), { headers });
    assertEquals(done.status, how === "rename" ? 200 : 204, done.text);
    // Without the lock: a create at the path needs no token, and a new lock is granted.
    assertEquals((await api(t.a, "PUT", `${root}${how === "delete-tree" ? "/" : ""}`)).status, 201);
    assertEquals((await b.lock(root, { depth: "0" })).status, 200, how);
  }
});
