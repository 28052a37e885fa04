// The UI's server side through app.request(): pages, headers, sign-in, share links.

import { assert, assertEquals } from "./_assert.ts";
import { createApp } from "../src/app.ts";
import { Authenticator, hashPassword } from "../src/auth/mod.ts";
import { MemoryStore, StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { ASSET_VERSION, ASSETS } from "../src/ui/_assets.ts";
import { buildAssetsModule } from "../src/ui/build_assets.ts";

const SECRET = "unit test secret that is long enough!";

async function fixture(options: { users?: boolean } = {}) {
  const vfs = await Vfs.open(new MemoryStore());
  const hash = await hashPassword("pw", { iterations: 1000 });
  const auth = options.users === false
    ? null
    : await Authenticator.load({ PAGEFS_USERS: `alice:${hash}:rw,rob:${hash}:ro` });
  const app = createApp({
    store: new MemoryStore(),
    metrics: new StoreMetrics(),
    vfs,
    auth,
    secret: SECRET,
  });
  const url = "http://pagefs.test";
  const signIn = async (user = "alice", password = "pw") => {
    const res = await app.request(`${url}/ui/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: url },
      body: new URLSearchParams({ user, password, next: "/" }),
    });
    await res.body?.cancel();
    const cookie = res.headers.get("set-cookie")?.split(";")[0] ?? "";
    return { res, cookie };
  };
  /** The page's CSRF token for a session cookie. */
  const csrfOf = async (cookie: string) => {
    const page = await (await app.request(`${url}/`, { headers: { cookie } })).text();
    return /data-csrf="([^"]*)"/.exec(page)![1]!;
  };
  return { app, vfs, url, signIn, csrfOf };
}

Deno.test("`_assets.ts` is up to date with src/ui/static and the pinned tus-js-client", async () => {
  const built = await buildAssetsModule();
  const current = await Deno.readTextFile(new URL("../src/ui/_assets.ts", import.meta.url));
  assert(built === current, "run `deno task ui:assets` and commit src/ui/_assets.ts");
});

Deno.test("`/` serves the shell with security headers on an open server", async () => {
  const { app, url } = await fixture({ users: false });
  const res = await app.request(`${url}/`);
  assertEquals(res.status, 200);
  const csp = res.headers.get("content-security-policy")!;
  for (const part of ["script-src 'self'", "frame-ancestors 'none'", "default-src 'none'"]) {
    assert(csp.includes(part), csp);
  }
  assert(!csp.includes("unsafe-inline"), csp);
  assertEquals(res.headers.get("x-content-type-options"), "nosniff");
  assertEquals(res.headers.get("x-frame-options"), "DENY");
  const page = await res.text();
  assert(page.includes(`/ui/assets/${ASSET_VERSION}/app.js`));
  assert(!/<script>/.test(page), "no inline script");
});

Deno.test("assets are served with their type and cached for good", async () => {
  const { app, url } = await fixture({ users: false });
  for (const name of ["app.js", "app.css", "tus.min.js"]) {
    const res = await app.request(`${url}/ui/assets/${ASSET_VERSION}/${name}`);
    assertEquals(res.status, 200);
    assertEquals(res.headers.get("content-type"), ASSETS[name]!.type);
    assert(res.headers.get("cache-control")!.includes("immutable"));
    assertEquals(await res.text(), ASSETS[name]!.body);
  }
  const missing = await app.request(`${url}/ui/assets/${ASSET_VERSION}/nope.js`);
  assertEquals(missing.status, 404);
  await missing.body?.cancel();
});

Deno.test("sign-in sets a session cookie, refuses a wrong password and cross-site posts", async () => {
  const { app, url, signIn } = await fixture();
  const start = await app.request(`${url}/`);
  assertEquals([start.status, start.headers.get("location")], [303, "/ui/login"]);
  const wrong = await signIn("alice", "nope");
  assertEquals(wrong.res.status, 401);
  assertEquals(wrong.cookie, "");
  // The failure is logged with the name as typed, quoted: a line break (or a terminal
  // escape) in it wrote a line of its own into the log.
  const warned: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warned.push(args.map(String).join(" "));
  try {
    const forged = await signIn("x\npagefs: forged\u001b[2J", "nope");
    assertEquals(forged.res.status, 401);
  } finally {
    console.warn = warn;
  }
  assertEquals(warned.length, 1, warned.join("|"));
  assert(![..."\n\r\x1b"].some((c) => warned[0]!.includes(c)), JSON.stringify(warned[0]));
  const { res } = await signIn();
  assertEquals(res.status, 303);
  const cookie = res.headers.get("set-cookie")!;
  assert(/HttpOnly/.test(cookie) && /SameSite=Strict/.test(cookie) && !/Secure/.test(cookie));
  const https = await app.request(`${url}/ui/login`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-forwarded-proto": "https",
    },
    body: new URLSearchParams({ user: "alice", password: "pw" }),
  });
  assert(/; Secure/.test(https.headers.get("set-cookie")!));
  const cross = await app.request(`${url}/ui/login`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "sec-fetch-site": "cross-site",
    },
    body: new URLSearchParams({ user: "alice", password: "pw" }),
  });
  assertEquals(cross.status, 403);
  assertEquals(cross.headers.get("set-cookie"), null);
  await cross.body?.cancel();
  // Nor can another site sign a visitor out: its form post carries no cookie (SameSite),
  // and the answer cleared the cookie all the same.
  for (const headers of [{ "sec-fetch-site": "cross-site" }, { origin: "https://evil.example" }]) {
    const out = await app.request(`${url}/ui/logout`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams({ csrf: "" }),
    });
    await out.body?.cancel();
    assertEquals([out.status, out.headers.get("set-cookie")], [403, null], JSON.stringify(headers));
  }
  // An open redirect through ?next is refused.
  const next = await app.request(`${url}/ui/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ user: "alice", password: "pw", next: "//evil.example/" }),
  });
  assertEquals(next.headers.get("location"), "/");
  // A Location header holds bytes: Latin-1 text went out as raw bytes.
  for (
    const [wanted, location] of [
      ["/#/a%20b", "/#/a%20b"],
      ["/#/a b", "/#/a%20b"],
      ["/#/中", "/#/%E4%B8%AD"],
      ["/#/é", "/#/%C3%A9"],
      ["/#/\x7f", "/"],
    ]
  ) {
    const res = await app.request(`${url}/ui/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ user: "alice", password: "pw", next: wanted! }),
    });
    await res.body?.cancel();
    assertEquals(res.status, 303, wanted);
    assertEquals(res.headers.get("location"), location, wanted);
  }
});

Deno.test("over HTTPS the session cookie is `__Host-` and a plain-named one is no session", async () => {
  const { app, url } = await fixture();
  const login = (headers: Record<string, string>, base = url) =>
    app.request(`${base}/ui/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: new URLSearchParams({ user: "alice", password: "pw", next: "/" }),
    });
  // Over plain HTTP: the plain name (a browser refuses a `__Host-` cookie there).
  const http = await login({});
  await http.body?.cancel();
  const plain = http.headers.getSetCookie();
  assertEquals(plain.length, 1, plain.join(" | "));
  assert(plain[0]!.startsWith("pagefs_session=v1."), plain[0]);
  // Over HTTPS, directly or as a TLS proxy says (either header): `__Host-`, Secure, Path=/,
  // no Domain; and the plain one of before is removed.
  const httpsUrl = url.replace("http:", "https:");
  for (
    const [headers, base] of [
      [{}, httpsUrl],
      [{ "x-forwarded-proto": "https" }, url],
      [{ forwarded: "for=1.2.3.4;proto=https" }, url],
    ] as const
  ) {
    const res = await login(headers, base);
    await res.body?.cancel();
    const [session, old] = res.headers.getSetCookie();
    const what = `${base} ${JSON.stringify(headers)}: ${res.headers.getSetCookie().join(" | ")}`;
    assert(/^__Host-pagefs_session=v1\.[^;]+; Path=\/;/.test(session ?? ""), what);
    assert(/; Secure/.test(session!) && !/Domain/i.test(session!), what);
    assert(/^pagefs_session=; .*Max-Age=0/.test(old ?? ""), what);
  }
  const sessionOf = (cookie: string) => cookie.split(";")[0]!.split("=").slice(1).join("=");
  const value = sessionOf(plain[0]!);
  const viaProxy = { "x-forwarded-proto": "https" };
  const list = (cookie: string, headers: Record<string, string> = {}) =>
    app.request(`${url}/api/v1/fs/`, { headers: { cookie, ...headers } });
  // The same session under `__Host-` over HTTPS works; under the plain name (one from
  // before session 20, or one a sibling subdomain or the network planted) it is no session:
  // signed out once.
  const hosted = await list(`__Host-pagefs_session=${value}`, viaProxy);
  assertEquals(hosted.status, 200, await hosted.text());
  const planted = await list(`pagefs_session=${value}`, viaProxy);
  assertEquals(planted.status, 401, await planted.text());
  const page = await app.request(`${httpsUrl}/`, {
    headers: { cookie: `pagefs_session=${value}` },
  });
  await page.body?.cancel();
  assertEquals([page.status, page.headers.get("location")], [303, "/ui/login"]);
  // Over plain HTTP only the plain name counts.
  const plainOk = await list(`pagefs_session=${value}`);
  assertEquals(plainOk.status, 200, await plainOk.text());
  const hostedHttp = await list(`__Host-pagefs_session=${value}`);
  assertEquals(hostedHttp.status, 401, await hostedHttp.text());
  // Sign-out over HTTPS clears both names.
  const shell = await app.request(`${url}/`, {
    headers: { cookie: `__Host-pagefs_session=${value}`, ...viaProxy },
  });
  const csrf = /data-csrf="([^"]*)"/.exec(await shell.text())![1]!;
  const out = await app.request(`${url}/ui/logout`, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      cookie: `__Host-pagefs_session=${value}`,
      origin: url,
      ...viaProxy,
    },
    body: new URLSearchParams({ csrf }),
  });
  await out.body?.cancel();
  assertEquals(out.status, 303);
  assertEquals(out.headers.getSetCookie().map((c) => c.split("=")[0]), [
    "__Host-pagefs_session",
    "pagefs_session",
  ]);
});

Deno.test("the API takes the session cookie, and writes need the CSRF token", async () => {
  const { app, url, signIn, csrfOf } = await fixture();
  const { cookie } = await signIn();
  const csrf = await csrfOf(cookie);
  const noToken = await app.request(`${url}/api/v1/fs/a.txt`, {
    method: "PUT",
    body: "x",
    headers: { cookie },
  });
  assertEquals(noToken.status, 403);
  await noToken.body?.cancel();
  const put = await app.request(`${url}/api/v1/fs/a.txt`, {
    method: "PUT",
    body: "x",
    headers: { cookie, "x-csrf-token": csrf },
  });
  assertEquals(put.status, 201);
  await put.body?.cancel();
  const get = await app.request(`${url}/api/v1/fs/a.txt`, { headers: { cookie } });
  assertEquals(await get.text(), "x");
});

Deno.test("a read-only user's page has no write controls", async () => {
  const { app, url, signIn } = await fixture();
  const { cookie } = await signIn("rob");
  const page = await (await app.request(`${url}/`, { headers: { cookie } })).text();
  for (const id of ["upload-files", "new-folder", "rename", "delete", "share"]) {
    assert(!page.includes(`id="${id}"`), id);
  }
  assert(page.includes('id="download"'));
});

Deno.test("a share link opens signed out, is read-only, and stops when revoked", async () => {
  const { app, url, signIn, csrfOf, vfs } = await fixture();
  await vfs.mkdir("/docs");
  await vfs.writeFile(
    "/docs/<img src=x onerror=alert(1)>.txt",
    new TextEncoder().encode("shared bytes"),
  );
  const { cookie } = await signIn();
  const headers = {
    cookie,
    "x-csrf-token": await csrfOf(cookie),
    "content-type": "application/json",
  };
  const made = await app.request(`${url}/ui/share`, {
    method: "POST",
    headers,
    body: JSON.stringify({ path: "/docs", seconds: 3600 }),
  });
  assertEquals(made.status, 201);
  const { url: link } = await made.json();
  const listing = await app.request(`${url}${link}`);
  assertEquals(listing.status, 200);
  const text = await listing.text();
  assert(
    text.includes("&lt;img src=x onerror=alert(1)&gt;.txt") && !text.includes("<img src=x"),
    text,
  );
  const raw = await app.request(
    `${url}${link}${encodeURIComponent("<img src=x onerror=alert(1)>.txt")}?dl=1`,
  );
  assertEquals(await raw.text(), "shared bytes");
  assert(raw.headers.get("content-disposition")!.startsWith("attachment"));
  assert(raw.headers.get("content-security-policy")!.includes("sandbox"));
  const escape = await app.request(`${url}${link}..%2F..%2Fetc`);
  assert(escape.status >= 400, String(escape.status));
  await escape.body?.cancel();
  // Without write access no link is made.
  const rob = await signIn("rob");
  const refused = await app.request(`${url}/ui/share`, {
    method: "POST",
    headers: {
      cookie: rob.cookie,
      "x-csrf-token": await csrfOf(rob.cookie),
      "content-type": "application/json",
    },
    body: JSON.stringify({ path: "/docs" }),
  });
  assertEquals(refused.status, 403);
  await refused.body?.cancel();
  const revoke = await app.request(`${url}/ui/share/revoke`, {
    method: "POST",
    headers,
    body: JSON.stringify({ path: "/docs" }),
  });
  assertEquals(revoke.status, 200);
  await revoke.body?.cancel();
  const gone = await app.request(`${url}${link}`);
  assertEquals(gone.status, 410);
  await gone.body?.cancel();
});

Deno.test("a password-protected share link asks first", async () => {
  const { app, url, signIn, csrfOf, vfs } = await fixture();
  await vfs.writeFile("/secret.txt", new TextEncoder().encode("s"));
  const { cookie } = await signIn();
  const made = await app.request(`${url}/ui/share`, {
    method: "POST",
    headers: { cookie, "x-csrf-token": await csrfOf(cookie), "content-type": "application/json" },
    body: JSON.stringify({ path: "/secret.txt", seconds: 600, password: "open sesame" }),
  });
  const { url: link } = await made.json();
  const ask = await app.request(`${url}${link}?raw=1`);
  assertEquals(ask.status, 401);
  assert((await ask.text()).includes("protected"));
  const form = (password: string) =>
    app.request(`${url}${link}`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ password }),
    });
  const wrong = await form("nope");
  assertEquals(wrong.status, 401);
  await wrong.body?.cancel();
  const right = await form("open sesame");
  assertEquals(right.status, 303);
  const unlock = right.headers.get("set-cookie")!.split(";")[0]!;
  const raw = await app.request(`${url}${link}?raw=1`, { headers: { cookie: unlock } });
  assertEquals(await raw.text(), "s");
});

Deno.test("a share link to a long path, with a password, opens (its token is no file name)", async () => {
  const { app, url, signIn, csrfOf, vfs } = await fixture();
  const folder = "/" + "a-folder-with-a-long-name-".repeat(8);
  await vfs.mkdir(folder);
  await vfs.writeFile(`${folder}/report.txt`, new TextEncoder().encode("r"));
  const { cookie } = await signIn();
  const made = await app.request(`${url}/ui/share`, {
    method: "POST",
    headers: { cookie, "x-csrf-token": await csrfOf(cookie), "content-type": "application/json" },
    body: JSON.stringify({ path: `${folder}/report.txt`, seconds: 600, password: "pw" }),
  });
  assertEquals(made.status, 201);
  const { url: link, token } = await made.json();
  assert(token.length > 255, `a token of ${token.length} bytes`);
  const ask = await app.request(`${url}${link}?raw=1`);
  assertEquals(ask.status, 401); // before: 400, a name longer than 255 bytes
  await ask.body?.cancel();
  // Elsewhere a name is still held to 255 bytes.
  const long = await app.request(`${url}/api/v1/fs/${"x".repeat(256)}`);
  assertEquals(long.status, 400);
  await long.body?.cancel();
});

Deno.test("`/s/<token>` redirects to `/s/<token>/` with the token encoded, whatever it holds", async () => {
  // Before session 18 a decoded CR/LF went into Location as it was: a 500.
  const { app, url } = await fixture();
  for (
    const [raw, location] of [
      ["abc.def", "/s/abc.def/"],
      ["a%0D%0ASet-Cookie:%20x=1", "/s/a%0D%0ASet-Cookie%3A%20x%3D1/"],
      ["a%3B%20b", "/s/a%3B%20b/"],
    ]
  ) {
    const res = await app.request(`${url}/s/${raw}`);
    await res.body?.cancel();
    assertEquals(res.status, 301, raw);
    assertEquals(res.headers.get("location"), location, raw);
    assertEquals(res.headers.get("set-cookie"), null, raw);
  }
});

Deno.test("a symbolic link is not shared: the link would open nothing, wherever it leads", async () => {
  // A share reads through a view limited to the shared path, so a link (to a folder of the
  // maker's or one outside it) served nothing: before session 20 it was made (201) and
  // opened 404. Now it is refused when made, and nothing is recorded.
  const { app, url, signIn, csrfOf, vfs } = await fixture();
  await vfs.mkdir("/docs");
  await vfs.writeFile("/docs/a.txt", new TextEncoder().encode("a"));
  await vfs.symlink("/docs", "/inside");
  await vfs.symlink("/elsewhere", "/dangling");
  const { cookie } = await signIn();
  const headers = {
    cookie,
    "x-csrf-token": await csrfOf(cookie),
    "content-type": "application/json",
  };
  for (const path of ["/inside", "/dangling"]) {
    const made = await app.request(`${url}/ui/share`, {
      method: "POST",
      headers,
      body: JSON.stringify({ path, seconds: 3600 }),
    });
    const problem = await made.json();
    assertEquals(made.status, 400, `${path}: ${JSON.stringify(problem)}`);
    assert(/symbolic link/.test(problem.detail), problem.detail);
  }
  // What the link leads to is shared as usual.
  const target = await app.request(`${url}/ui/share`, {
    method: "POST",
    headers,
    body: JSON.stringify({ path: "/docs", seconds: 3600 }),
  });
  assertEquals(target.status, 201);
  await target.body?.cancel();
});

Deno.test("a session ends when its user's password changes (at the restart that takes it in)", async () => {
  // A stolen cookie, or one left signed in on a shared machine, lasted its 12 hours whatever
  // the password became before session 21: the cookie named the user alone.
  const { vfs, url, signIn } = await fixture();
  const { cookie } = await signIn();
  const restarted = async (password: string) => {
    const hash = await hashPassword(password, { iterations: 1000 });
    const auth = await Authenticator.load({ PAGEFS_USERS: `alice:${hash}:rw` });
    return createApp({
      store: new MemoryStore(),
      metrics: new StoreMetrics(),
      vfs,
      auth,
      secret: SECRET,
    });
  };
  const changed = await restarted("new password");
  const page = await changed.request(`${url}/`, { headers: { cookie } });
  assertEquals([page.status, page.headers.get("location")], [303, "/ui/login"]);
  const api = await changed.request(`${url}/api/v1/stat/`, { headers: { cookie } });
  assertEquals(api.status, 401);
  await api.body?.cancel();
  // The same password hashed again (a new salt) is a change too; the same hash is not.
  const same = createApp({
    store: new MemoryStore(),
    metrics: new StoreMetrics(),
    vfs,
    auth: await Authenticator.load({
      PAGEFS_USERS: `alice:${await hashPassword("pw", { iterations: 1000 })}:rw`,
    }),
    secret: SECRET,
  });
  const rehashed = await same.request(`${url}/api/v1/stat/`, { headers: { cookie } });
  assertEquals(rehashed.status, 401);
  await rehashed.body?.cancel();
});

Deno.test("the session cookie is no credential for WebDAV, even with its CSRF token", async () => {
  // WebDAV methods cannot be sent cross-site without a preflight, but a page of the same site
  // could still try; and the cookie must not turn a PROPFIND (a read, so no token) into a
  // listing for whoever can make the browser send it.
  const { app, url, signIn, csrfOf, vfs } = await fixture();
  await vfs.writeFile("/secret.txt", new TextEncoder().encode("s"));
  const { cookie } = await signIn();
  const csrf = await csrfOf(cookie);
  for (const [method, body] of [["PROPFIND", null], ["PUT", "x"], ["DELETE", null]] as const) {
    const res = await app.request(`${url}/dav/secret.txt`, {
      method,
      headers: { cookie, "x-csrf-token": csrf, depth: "0" },
      body,
    });
    assertEquals(res.status, 401, `${method}: ${res.status}`);
    await res.body?.cancel();
  }
  const still = await vfs.lookup("/secret.txt");
  assertEquals(still.size, 1);
});
