// Failed sign-ins as a CPU attack (docs/auth.md, "Failed sign-ins"): password checks are
// bounded in number at once and per client, a client that keeps failing waits, and the
// UI's sign-in form and share-link passwords are held to the same back-off. Before session
// 21 every wrong Basic password ran PBKDF2 at once, however many came from whom.

import { assert, assertEquals } from "./_assert.ts";
import { createApp } from "../src/app.ts";
import { Authenticator, type AuthenticatorOptions, hashPassword } from "../src/auth/mod.ts";
import { MemoryStore, StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";

const SECRET = "unit test secret that is long enough!";
const URL_ = "http://pagefs.test";

async function fixture(options: AuthenticatorOptions = {}) {
  const vfs = await Vfs.open(new MemoryStore());
  const hash = await hashPassword("pw", { iterations: 1000 });
  const auth = await Authenticator.load({ PAGEFS_USERS: `alice:${hash}:rw` }, options);
  const app = createApp({
    store: new MemoryStore(),
    metrics: new StoreMetrics(),
    vfs,
    auth,
    secret: SECRET,
  });
  /** A GET of the API from `client` (Deno.serve's peer address) with a Basic password. */
  const get = async (client: string, password: string, user = "alice") => {
    const res = await app.request(`${URL_}/api/v1/stat/`, {
      headers: { authorization: `Basic ${btoa(`${user}:${password}`)}` },
    }, { remoteAddr: { hostname: client, port: 40000, transport: "tcp" } });
    await res.body?.cancel();
    return res;
  };
  return { app, vfs, get };
}

Deno.test("a client that keeps failing Basic sign-ins waits, and no one else does", async () => {
  const { get } = await fixture();
  const attacker = "203.0.113.5";
  // A good login first: its credential is known from then on.
  assertEquals((await get(attacker, "pw")).status, 200);
  for (let i = 0; i < 5; i++) assertEquals((await get(attacker, `wrong${i}`)).status, 401);
  const sixth = await get(attacker, "wrong5");
  assertEquals(sixth.status, 429); // before: 401, and PBKDF2 ran for it
  assertEquals(sixth.headers.get("retry-after"), "1");
  // Another client is not slowed, nor is a name locked out.
  assertEquals((await get("198.51.100.7", "wrong")).status, 401);
  assertEquals((await get("198.51.100.7", "pw")).status, 200);
  // The credential that succeeded before still works from the throttled address (a user
  // behind the attacker's proxy); a new guess from it does not run.
  assertEquals((await get(attacker, "pw")).status, 200);
  assertEquals((await get(attacker, "pw2")).status, 429);
  // IPv6: one /64 is one client.
  for (let i = 0; i < 5; i++) await get(`2001:db8:1:2::${i + 1}`, "x");
  assertEquals((await get("2001:db8:1:2:ffff::9", "x")).status, 429);
});

Deno.test("password checks past the bound are refused before they hash", async () => {
  // One check hashes at a time, one waits; the hook holds each check until released.
  const held: (() => void)[] = [];
  let hashed = 0;
  const { get } = await fixture({
    gate: { concurrency: 1, queue: 1 },
    onPasswordCheck: () => {
      hashed++;
      return new Promise<void>((resolve) => held.push(resolve));
    },
  });
  const first = get("192.0.2.1", "a");
  while (held.length < 1) await new Promise((r) => setTimeout(r, 1));
  // Of the next two, one waits in the line and the other finds it full, whichever comes
  // first; the one refused answers while the other still waits.
  const others = [get("192.0.2.2", "b"), get("192.0.2.3", "c")];
  const refused = await Promise.race(others);
  assertEquals(refused.status, 503); // before: 401 after a third PBKDF2 at once
  assertEquals(refused.headers.get("retry-after"), "1");
  assertEquals(hashed, 1);
  held.shift()!();
  while (held.length < 1) await new Promise((r) => setTimeout(r, 1));
  assertEquals(hashed, 2);
  held.shift()!();
  const statuses = [first, ...others].map(async (res) => (await res).status);
  assertEquals((await Promise.all(statuses)).sort(), [401, 401, 503]);
});

Deno.test("one client has at most two password checks in flight", async () => {
  const held: (() => void)[] = [];
  const { get } = await fixture({
    gate: { concurrency: 8 },
    onPasswordCheck: () => new Promise<void>((resolve) => held.push(resolve)),
  });
  const running = [get("192.0.2.9", "a"), get("192.0.2.9", "b")];
  while (held.length < 2) await new Promise((r) => setTimeout(r, 1));
  assertEquals((await get("192.0.2.9", "c")).status, 429); // before: a third check ran
  // Another client's check still runs.
  running.push(get("192.0.2.10", "c"));
  while (held.length < 3) await new Promise((r) => setTimeout(r, 1));
  for (const release of held) release();
  for (const res of await Promise.all(running)) assertEquals(res.status, 401);
});

Deno.test("the sign-in form and share-link passwords slow a client that keeps failing", async () => {
  const { app, vfs } = await fixture();
  const env = (hostname: string) => ({ remoteAddr: { hostname, port: 1, transport: "tcp" } });
  const login = async (client: string, password: string) => {
    const res = await app.request(`${URL_}/ui/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: URL_ },
      body: new URLSearchParams({ user: "alice", password, next: "/" }),
    }, env(client));
    return res;
  };
  for (let i = 0; i < 5; i++) {
    const res = await login("203.0.113.9", `nope${i}`);
    assertEquals(res.status, 401);
    await res.body?.cancel();
  }
  const refused = await login("203.0.113.9", "nope");
  assertEquals(refused.status, 429); // before: 401
  assert((await refused.text()).includes("Too many"));
  const ok = await login("198.51.100.1", "pw");
  assertEquals(ok.status, 303);
  const cookie = ok.headers.get("set-cookie")!.split(";")[0]!;
  const page = await (await app.request(`${URL_}/`, { headers: { cookie } })).text();
  const csrf = /data-csrf="([^"]*)"/.exec(page)![1]!;

  await vfs.writeFile("/secret.txt", new TextEncoder().encode("s"));
  const made = await app.request(`${URL_}/ui/share`, {
    method: "POST",
    headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" },
    body: JSON.stringify({ path: "/secret.txt", seconds: 600, password: "open sesame" }),
  });
  const { url: link } = await made.json();
  const unlock = (client: string, password: string) =>
    app.request(`${URL_}${link}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ password }),
    }, env(client));
  for (let i = 0; i < 5; i++) {
    const res = await unlock("203.0.113.77", `guess${i}`);
    assertEquals(res.status, 401);
    await res.body?.cancel();
  }
  const slowed = await unlock("203.0.113.77", "open sesame");
  assertEquals(slowed.status, 429); // before: every guess was checked, as fast as sent
  assert(Number(slowed.headers.get("retry-after")) >= 1);
  await slowed.body?.cancel();
  // Another reader of the link is not locked out by the guesser.
  const right = await unlock("198.51.100.2", "open sesame");
  assertEquals(right.status, 303);
  await right.body?.cancel();
});

Deno.test("behind an untrusted proxy on the same host one guesser locks no one out", async () => {
  // Every client's address is the proxy's loopback one: a back-off for it would make one
  // guesser's failures everyone's, so none applies (the bounds on checks at once still do).
  const { get } = await fixture();
  for (let i = 0; i < 8; i++) assertEquals((await get("127.0.0.1", `wrong${i}`)).status, 401);
  assertEquals((await get("127.0.0.1", "pw")).status, 200);
  for (let i = 0; i < 8; i++) assertEquals((await get("::1", `wrong${i}`)).status, 401);
});
