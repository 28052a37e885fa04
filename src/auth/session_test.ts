import { Hono } from "hono";
import { assert, assertEquals } from "../../tests/_assert.ts";
import { Authenticator, type AuthEnv, hashPassword, requireAuth } from "./mod.ts";
import {
  base64url,
  cookieValue,
  CSRF_HEADER,
  fromBase64url,
  SECURE_SESSION_COOKIE,
  SESSION_COOKIE,
  Sessions,
  Signer,
} from "./session.ts";

const SECRET = "test secret, long enough to be a secret";

Deno.test("`Sessions.verify()` accepts the cookie it issued and names the user", async () => {
  const sessions = new Sessions(new Signer(SECRET));
  const { value, session } = await sessions.issue("alice");
  assertEquals(await sessions.verify(value), session);
  // Another instance with the same secret accepts it too: nothing is stored.
  assertEquals(await new Sessions(new Signer(SECRET)).verify(value), session);
});

Deno.test("`Sessions.verify()` refuses an expired session", async () => {
  let now = 1_700_000_000_000;
  const sessions = new Sessions(new Signer(SECRET), { ttlSeconds: 60, now: () => now });
  const { value } = await sessions.issue("alice");
  now += 59_000;
  assert(await sessions.verify(value) !== null);
  now += 1_000;
  assertEquals(await sessions.verify(value), null);
});

Deno.test("`Sessions.verify()` refuses tampered, foreign and malformed cookies", async () => {
  const sessions = new Sessions(new Signer(SECRET));
  const { value } = await sessions.issue("bob");
  const [version, payload, mac] = value.split(".") as [string, string, string];
  // The payload rewritten to another user, keeping the MAC.
  const data = JSON.parse(new TextDecoder().decode(fromBase64url(payload)!));
  const forged = base64url(new TextEncoder().encode(JSON.stringify({ ...data, u: "alice" })));
  assertEquals(await sessions.verify(`${version}.${forged}.${mac}`), null);
  // The expiry pushed out.
  const later = base64url(new TextEncoder().encode(JSON.stringify({ ...data, e: data.e + 1e6 })));
  assertEquals(await sessions.verify(`${version}.${later}.${mac}`), null);
  // One bit of the MAC flipped.
  const bytes = fromBase64url(mac)!;
  bytes[0]! ^= 1;
  assertEquals(await sessions.verify(`${version}.${payload}.${base64url(bytes)}`), null);
  // Signed with another secret.
  const other = await new Sessions(new Signer("another secret entirely")).issue("bob");
  assertEquals(await sessions.verify(other.value), null);
  for (const bad of ["", "v1", "v1..", `v2.${payload}.${mac}`, "x".repeat(5000), "v1.!.!"]) {
    assertEquals(await sessions.verify(bad), null, bad);
  }
});

Deno.test("a session's CSRF token is accepted for it and for no other session", async () => {
  const sessions = new Sessions(new Signer(SECRET));
  const a = await sessions.issue("alice");
  const b = await sessions.issue("alice");
  const token = await sessions.csrfToken(a.session);
  assert(await sessions.checkCsrf(a.session, token));
  assert(!await sessions.checkCsrf(b.session, token));
  assert(!await sessions.checkCsrf(a.session, ""));
  assert(!await sessions.checkCsrf(a.session, null));
  assert(!await sessions.checkCsrf(a.session, token.slice(1)));
  // A MAC for another purpose over the same nonce is no CSRF token.
  const signer = new Signer(SECRET);
  assert(
    !await sessions.checkCsrf(a.session, base64url(await signer.sign("session", a.session.nonce))),
  );
});

Deno.test("`Sessions.cookies()` is HttpOnly, SameSite=Strict, and `__Host-` and Secure on HTTPS", () => {
  const sessions = new Sessions(new Signer(SECRET));
  const http = new Request("http://pagefs.test/");
  const https = new Request("https://pagefs.test/");
  const [plain, ...more] = sessions.cookies("v", http);
  assertEquals(more, []);
  assert(plain!.startsWith(`${SESSION_COOKIE}=v; Path=/;`), plain);
  assert(plain!.includes("HttpOnly") && plain!.includes("SameSite=Strict"), plain);
  assert(!plain!.includes("Secure") && !plain!.includes("Domain"), plain);
  // Over HTTPS: the `__Host-` name, Secure, Path=/ and no Domain (else a browser drops it),
  // and the plain-named cookie of before removed.
  const [secure, old] = sessions.cookies("v", https);
  assert(secure!.startsWith(`${SECURE_SESSION_COOKIE}=v; Path=/;`), secure);
  assert(secure!.endsWith("; Secure") && !secure!.includes("Domain"), secure);
  assert(old!.startsWith(`${SESSION_COOKIE}=;`) && old!.includes("Max-Age=0"), old);
  assertEquals(sessions.clearCookies(http).length, 1);
  assert(sessions.clearCookies(http)[0]!.includes("Max-Age=0"));
  assertEquals(sessions.clearCookies(https).map((c) => c.split("=")[0]), [
    SECURE_SESSION_COOKIE,
    SESSION_COOKIE,
  ]);
  assertEquals(cookieValue(`a=1; ${SESSION_COOKIE}=xyz; b=2`, SESSION_COOKIE), "xyz");
  assertEquals(cookieValue("a=1", SESSION_COOKIE), null);
  // Each scheme reads its own name only.
  const both = `${SESSION_COOKIE}=plain; ${SECURE_SESSION_COOKIE}=host`;
  assertEquals(sessions.cookieOf(new Request(http, { headers: { cookie: both } })), "plain");
  assertEquals(sessions.cookieOf(new Request(https, { headers: { cookie: both } })), "host");
  const planted = new Request(https, { headers: { cookie: `${SESSION_COOKIE}=plain` } });
  assertEquals(sessions.cookieOf(planted), null);
});

async function sessionApp() {
  const hash = await hashPassword("pw", { iterations: 1000 });
  const auth = await Authenticator.load({ PAGEFS_USERS: `alice:${hash}:rw, rob:${hash}:ro` });
  const sessions = new Sessions(new Signer(SECRET));
  const app = new Hono<AuthEnv>();
  app.use("/f/*", requireAuth(auth, { pathOf: (c) => c.req.path.slice(2), sessions }));
  app.all("/f/*", (c) => c.text(c.get("principal").name));
  // As the sign-in does: the session carries the user's password stamp.
  const issue = async (user: string) =>
    await sessions.issue(user, await auth!.sessionStamp(user) ?? undefined);
  return { app, sessions, issue };
}

Deno.test("`requireAuth()` takes a session cookie, and needs its CSRF token to write", async () => {
  const { app, sessions, issue } = await sessionApp();
  const { value, session } = await issue("alice");
  const cookie = `${SESSION_COOKIE}=${value}`;
  const get = await app.request("/f/a", { headers: { cookie } });
  assertEquals([get.status, await get.text()], [200, "alice"]);
  const put = await app.request("/f/a", { method: "PUT", headers: { cookie } });
  assertEquals(put.status, 403);
  assert((await put.text()).includes("CSRF"));
  const wrong = await app.request("/f/a", {
    method: "DELETE",
    headers: {
      cookie,
      [CSRF_HEADER]: await sessions.csrfToken((await sessions.issue("alice")).session),
    },
  });
  assertEquals(wrong.status, 403);
  await wrong.body?.cancel();
  const ok = await app.request("/f/a", {
    method: "PUT",
    headers: { cookie, [CSRF_HEADER]: await sessions.csrfToken(session) },
  });
  assertEquals([ok.status, await ok.text()], [200, "alice"]);
});

Deno.test("`requireAuth()` refuses a bad session without a Basic challenge", async () => {
  const { app, sessions } = await sessionApp();
  const res = await app.request("/f/a", { headers: { cookie: `${SESSION_COOKIE}=v1.x.y` } });
  assertEquals(res.status, 401);
  await res.body?.cancel();
  assert(!/basic/i.test(res.headers.get("www-authenticate") ?? ""));
  // A session of a user no longer configured is no session.
  const gone = await sessions.issue("mallory");
  const res2 = await app.request("/f/a", {
    headers: { cookie: `${SESSION_COOKIE}=${gone.value}` },
  });
  assertEquals(res2.status, 401);
  await res2.body?.cancel();
});

Deno.test("`requireAuth()` keeps a read-only user's session read-only", async () => {
  const { app, sessions, issue } = await sessionApp();
  const { value, session } = await issue("rob");
  const res = await app.request("/f/a", {
    method: "PUT",
    headers: {
      cookie: `${SESSION_COOKIE}=${value}`,
      [CSRF_HEADER]: await sessions.csrfToken(session),
    },
  });
  assertEquals(res.status, 403);
  assert((await res.text()).includes("read-only"));
});

Deno.test("`requireAuth()` ends a session when the user's password changes", async () => {
  // The server restarts with a new hash for alice (the way a password changes): a session
  // signed in with the old password, stolen or not, is over. Before session 21 it stayed
  // valid until it expired (12 hours), whatever the password became.
  const { sessions, issue } = await sessionApp();
  const old = await issue("alice");
  const hash = await hashPassword("new", { iterations: 1000 });
  const auth = await Authenticator.load({ PAGEFS_USERS: `alice:${hash}:rw` });
  const app = new Hono<AuthEnv>();
  app.use("/f/*", requireAuth(auth, { pathOf: (c) => c.req.path.slice(2), sessions }));
  app.all("/f/*", (c) => c.text(c.get("principal").name));
  const stale = await app.request("/f/a", {
    headers: { cookie: `${SESSION_COOKIE}=${old.value}` },
  });
  assertEquals(stale.status, 401);
  await stale.body?.cancel();
  // A cookie with no stamp (made before session 21) is no session either.
  const bare = await sessions.issue("alice");
  const res = await app.request("/f/a", { headers: { cookie: `${SESSION_COOKIE}=${bare.value}` } });
  assertEquals(res.status, 401);
  await res.body?.cancel();
  // One signed in with the new password works.
  const fresh = await sessions.issue("alice", await auth!.sessionStamp("alice") ?? undefined);
  const ok = await app.request("/f/a", { headers: { cookie: `${SESSION_COOKIE}=${fresh.value}` } });
  assertEquals([ok.status, await ok.text()], [200, "alice"]);
});
