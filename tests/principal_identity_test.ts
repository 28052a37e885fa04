// A user and an API token may share a name ("Names are unique per kind", src/auth/users.ts):
// they are two principals, and nothing that records who did something may take one for the
// other. Before session 20 locks, each principal's share of the lock table and the request
// log knew only the name, so a token named "alice" (here limited to a subfolder of hers)
// could use, refresh and remove user alice's locks, and fill her share of the lock table.
// The whole app in process (app.request).

import { assert, assertEquals } from "./_assert.ts";
import { createApp } from "../src/app.ts";
import { Authenticator, hashPassword, hashToken } from "../src/auth/mod.ts";
import { MemoryStore, StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { Logger } from "../src/observe/mod.ts";

const ORIGIN = "http://pagefs.test";
const TOKEN = "a-token-named-alice";

async function world() {
  const store = new MemoryStore();
  const vfs = await Vfs.open(store);
  const hash = await hashPassword("pw", { iterations: 1000 });
  const auth = await Authenticator.load({
    PAGEFS_USERS: [
      `alice:${hash}:rw:/home/alice`,
      `alice:${await hashToken(TOKEN)}:rw:/home/alice/ci`,
    ].join(","),
  });
  const lines: string[] = [];
  const logger = new Logger({ level: "info", write: (line: string) => lines.push(line) });
  const app = createApp({
    store,
    metrics: new StoreMetrics(),
    vfs,
    auth,
    logger,
    secret: "a test secret that is long enough to use",
  });
  await vfs.mkdir("/home/alice/ci", { parents: true });
  await vfs.writeFile("/home/alice/ci/f.txt", new TextEncoder().encode("f"));
  const send = async (
    as: "user" | "token",
    method: string,
    path: string,
    options: { headers?: Record<string, string>; body?: string } = {},
  ) => {
    const authorization = as === "user" ? `Basic ${btoa("alice:pw")}` : `Bearer ${TOKEN}`;
    const res = await app.request(`${ORIGIN}${path}`, {
      method,
      headers: { authorization, ...options.headers },
      ...(options.body === undefined ? {} : { body: options.body }),
    });
    return { status: res.status, headers: res.headers, body: await res.text() };
  };
  return { vfs, store, send, lines };
}

const lockinfo = (owner: string, scope = "exclusive") =>
  `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:${scope}/></D:lockscope>` +
  `<D:locktype><D:write/></D:locktype><D:owner>${owner}</D:owner></D:lockinfo>`;
const XML = { "content-type": "application/xml" };

Deno.test("a token named like a user cannot use, refresh or remove the user's lock", async () => {
  const { vfs, send } = await world();
  const lock = await send("user", "LOCK", "/dav/home/alice/ci/f.txt", {
    headers: XML,
    body: lockinfo("alice's editor"),
  });
  assertEquals(lock.status, 200, lock.body);
  const token = lock.headers.get("lock-token")!;
  const bare = token.slice(1, -1);
  // The token, which may write the file, sends the user's lock token (it can read it in
  // lockdiscovery): before, each of these was the user's own and succeeded.
  const put = await send("token", "PUT", "/dav/home/alice/ci/f.txt", {
    headers: { if: `(${token})` },
    body: "changed by the token",
  });
  assertEquals(put.status, 423, `WebDAV PUT: ${put.body}`);
  const api = await send("token", "PUT", "/api/v1/fs/home/alice/ci/f.txt", {
    headers: { "lock-token": token },
    body: "changed by the token",
  });
  assertEquals(api.status, 423, `API PUT: ${api.body}`);
  const refresh = await send("token", "LOCK", "/dav/home/alice/ci/f.txt", {
    headers: { if: `(${token})`, timeout: "Second-60" },
  });
  assert(refresh.status >= 400, `refresh: ${refresh.status} ${refresh.body}`);
  const unlock = await send("token", "UNLOCK", "/dav/home/alice/ci/f.txt", {
    headers: { "lock-token": token },
  });
  assertEquals(unlock.status, 403, `UNLOCK: ${unlock.body}`);
  assertEquals(new TextDecoder().decode(await vfs.read("/home/alice/ci/f.txt", 0, 100)), "f");
  assertEquals((await vfs.locks.covering("/home/alice/ci/f.txt")).map((l) => l.token), [bare]);
  // The user still holds it.
  const own = await send("user", "PUT", "/dav/home/alice/ci/f.txt", {
    headers: { if: `(${token})` },
    body: "alice",
  });
  assertEquals(own.status, 204, own.body);
  const mine = await send("user", "UNLOCK", "/dav/home/alice/ci/f.txt", {
    headers: { "lock-token": token },
  });
  assertEquals(mine.status, 204, mine.body);
});

Deno.test("a token named like a user has a share of the lock table of its own", async () => {
  const { send } = await world();
  const owner = "o".repeat(4000);
  let taken = 0;
  let refused: { status: number; body: string } | null = null;
  for (let i = 0; i < 400 && refused === null; i++) {
    const res = await send("token", "LOCK", "/dav/home/alice/ci/f.txt", {
      headers: { ...XML, timeout: "Infinite" },
      body: lockinfo(owner, "shared"),
    });
    if (res.status < 300) taken++;
    else refused = res;
  }
  assert(refused !== null && refused.status === 507, `the token took ${taken} locks`);
  // Before, the user had nothing left: the token's locks counted as hers (507).
  const user = await send("user", "LOCK", "/dav/home/alice/g.txt", {
    headers: XML,
    body: lockinfo(owner),
  });
  assertEquals(user.status, 201, user.body);
});

Deno.test("the request log tells a user from a token of the same name", async () => {
  const { send, lines } = await world();
  assertEquals((await send("user", "GET", "/api/v1/fs/home/alice/ci/f.txt")).status, 200);
  assertEquals((await send("token", "GET", "/api/v1/fs/home/alice/ci/f.txt")).status, 200);
  const principals = lines.filter((l) => l.includes("msg=request"))
    .map((l) => / principal=(\S+)/.exec(l)?.[1]);
  assertEquals(principals, ["user:alice", "token:alice"]);
});

Deno.test("a lock recorded with a bare name before session 20 stays the user's", async () => {
  const { vfs, send } = await world();
  // What the running version writes: the name alone.
  const lock = await vfs.locks.lock({
    root: "/home/alice/ci/f.txt",
    depth: "0",
    scope: "exclusive",
    owner: "",
    principal: "alice",
    timeout: 600,
  });
  const token = `<${lock.token}>`;
  const byToken = await send("token", "PUT", "/dav/home/alice/ci/f.txt", {
    headers: { if: `(${token})` },
    body: "token",
  });
  assertEquals(byToken.status, 423, byToken.body);
  const byUser = await send("user", "PUT", "/dav/home/alice/ci/f.txt", {
    headers: { if: `(${token})` },
    body: "user",
  });
  assertEquals(byUser.status, 204, byUser.body);
});
