import { Hono } from "hono";
import { assert, assertEquals, assertRejects } from "./_assert.ts";
import {
  allows,
  AuthConfigError,
  Authenticator,
  type AuthenticatorOptions,
  type AuthEnv,
  checkExposure,
  constantTimeEqual,
  generateToken,
  hashPassword,
  hashToken,
  parseCredentials,
  type Principal,
  requireAuth,
  verifyPassword,
} from "../src/auth/mod.ts";
import { run } from "../src/auth/cli.ts";

const ITERATIONS = 1000; // PBKDF2 at full strength takes ~0.1 s per check

const basic = (name: string, password: string) => {
  const bytes = new TextEncoder().encode(`${name}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
};

interface Fixture {
  auth: Authenticator;
  checks: (string | null)[];
  token: string;
}

async function fixture(options: AuthenticatorOptions = {}): Promise<Fixture> {
  const token = generateToken();
  const alice = await hashPassword("alice-pw", { iterations: ITERATIONS });
  const bob = await hashPassword("bøb pw", { iterations: ITERATIONS });
  const checks: (string | null)[] = [];
  const auth = await Authenticator.load({
    PAGEFS_USERS: `alice:${alice}:rw:/home/alice, bob:${bob}:ro\nci:${await hashToken(
      token,
    )}:ro:/builds`,
  }, { onPasswordCheck: (user) => void checks.push(user), ...options });
  assert(auth !== null);
  return { auth, checks, token };
}

async function configError(env: Record<string, string>, files: Record<string, string> = {}) {
  const error = await assertRejects(() =>
    Authenticator.load(env, {
      readTextFile: (path) =>
        path in files ? Promise.resolve(files[path]!) : Promise.reject(new Error("not found")),
    })
  );
  assert(error instanceof AuthConfigError, String(error));
  return error;
}

Deno.test("hashPassword() round-trips and rejects a wrong password", async () => {
  const hash = await hashPassword("correct horse", { iterations: ITERATIONS });
  assert(/^pbkdf2-sha256\$1000\$[A-Za-z0-9+/]+=*\$[A-Za-z0-9+/]+=*$/.test(hash), hash);
  assert(await verifyPassword("correct horse", hash));
  assert(!await verifyPassword("correct horsE", hash));
  assert(!await verifyPassword("correct horse", hash.replace("$1000$", "$1001$")));
  assert(!await verifyPassword("correct horse", "pbkdf2-sha256$1000$bad$bad"));
  assertEquals(hash === await hashPassword("correct horse", { iterations: ITERATIONS }), false);
  // NFC and NFD spellings of one password are the same password.
  assert(await verifyPassword("cafe\u0301", await hashPassword("café", { iterations: 1 })));
});

Deno.test("hashPassword() defaults to 210000 iterations", async () => {
  const hash = await hashPassword("x");
  assert(hash.startsWith("pbkdf2-sha256$210000$"), hash);
  assert(await verifyPassword("x", hash));
  await assertRejects(() => hashPassword("x", { iterations: 0 }));
});

Deno.test("hashToken() is sha256 hex and generateToken() is 32 random bytes base64url", async () => {
  assertEquals(
    await hashToken("abc"),
    "sha256$ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  const a = generateToken(), b = generateToken();
  assert(/^[A-Za-z0-9_-]{43}$/.test(a) && a !== b, a);
});

Deno.test("constantTimeEqual() compares bytes and lengths", () => {
  assert(constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])));
  assert(!constantTimeEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 4])));
  assert(!constantTimeEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 3])));
});

Deno.test("parseCredentials() reads the compact form", async () => {
  const pw = await hashPassword("pw", { iterations: 1 });
  const tok = await hashToken("t");
  const creds = parseCredentials(
    `alice:${pw}:rw:/home/alice/ ,bob:${pw}:ro\nci:${tok}:ro:/a:b`,
    "X",
  );
  assertEquals(creds.users.map((u) => [u.name, u.access, u.prefix]), [
    ["alice", "rw", "/home/alice"],
    ["bob", "ro", "/"],
  ]);
  assertEquals(creds.tokens.map((t) => [t.name, t.access, t.prefix]), [["ci", "ro", "/a:b"]]);
});

Deno.test("parseCredentials() reads the JSON form", async () => {
  const pw = await hashPassword("pw", { iterations: 1 });
  const tok = await hashToken("t");
  const creds = parseCredentials(
    JSON.stringify({
      users: [{ name: "alice", password: pw, access: "rw", prefix: "/home/alice" }],
      tokens: [{ name: "ci", token: tok, access: "ro", prefix: "/builds" }],
    }),
    "PAGEFS_USERS",
  );
  assertEquals(creds.users[0]?.prefix, "/home/alice");
  assertEquals(creds.users[0]?.password.iterations, 1);
  assertEquals(creds.tokens[0]?.name, "ci");
  assertEquals(creds.tokens[0]?.digest.length, 32);
});

Deno.test("Authenticator.load() refuses plaintext secrets, naming source and principal", async () => {
  let error = await configError({ PAGEFS_USERS: "alice:hunter2:rw" });
  assert(/^PAGEFS_USERS: "alice": Plaintext/.test(error.message), error.message);
  assert(!error.message.includes("hunter2"), error.message);
  error = await configError({
    PAGEFS_USERS: JSON.stringify({ users: [{ name: "bob", password: "hunter2", access: "ro" }] }),
  });
  assert(/PAGEFS_USERS: user "bob": Plaintext passwords/.test(error.message), error.message);
  error = await configError({ PAGEFS_USERS_FILE: "/etc/u.json" }, {
    "/etc/u.json": JSON.stringify({ tokens: [{ name: "ci", token: "abc123", access: "ro" }] }),
  });
  assertEquals(error.variable, "PAGEFS_USERS_FILE");
  assert(/"\/etc\/u.json": token "ci": Plaintext tokens/.test(error.message), error.message);
  assert(!error.message.includes("abc123"), error.message);
});

Deno.test("Authenticator.load() rejects bad configuration with clear errors", async () => {
  const pw = await hashPassword("pw", { iterations: 1 });
  const cases: [Record<string, string>, RegExp][] = [
    [{ PAGEFS_USERS: `alice:${pw}:admin` }, /Access must be "ro" or "rw"/],
    [{ PAGEFS_USERS: `alice:${pw}:rw:/home/../etc` }, /Prefix must be an absolute path/],
    [{ PAGEFS_USERS: `alice:${pw}:rw:home` }, /Prefix must be an absolute path/],
    [{ PAGEFS_USERS: `alice:${pw}:rw,alice:${pw}:ro` }, /Duplicate user "alice"/],
    // The same name in NFC and NFD: two principals no one could tell apart.
    [{ PAGEFS_USERS: `ren\u00e9:${pw}:rw,rene\u0301:${pw}:ro` }, /Duplicate user "rene\u0301"/],
    [
      { PAGEFS_USERS: `t\u00e9:sha256$${"0".repeat(64)}:rw,te\u0301:sha256$${"1".repeat(64)}:ro` },
      /Duplicate token/,
    ],
    [{ PAGEFS_USERS: `alice:pbkdf2-sha256$1$x$y:rw` }, /Malformed password hash/],
    [{ PAGEFS_USERS: `ci:sha256$abc:rw` }, /Malformed token hash/],
    [{ PAGEFS_USERS: `alice:${pw}` }, /Expected name:hash:access/],
    [{ PAGEFS_USERS: `{"users": []}` }, /No users or tokens defined/],
    [{ PAGEFS_USERS: `{"users": [}` }, /Invalid JSON/],
    [{ PAGEFS_USERS: `{"user": []}` }, /Unknown key "user"/],
    [{ PAGEFS_USERS: JSON.stringify({ users: [{ name: "a", pasword: pw }] }) }, /Unknown key/],
    // JSON.parse would keep the last "prefix": the whole tree instead of /home/a.
    [
      {
        PAGEFS_USERS:
          `{"users": [{"name": "a", "password": "${pw}", "access": "rw", "prefix": "/home/a", "prefix": "/"}]}`,
      },
      /"prefix" is given twice in one object/,
    ],
    [{ PAGEFS_USERS_FILE: "/missing.json" }, /PAGEFS_USERS_FILE "\/missing.json": Cannot read/],
  ];
  for (const [env, pattern] of cases) {
    const error = await configError(env);
    assert(pattern.test(error.message), `${JSON.stringify(env)}: ${error.message}`);
  }
});

Deno.test("Authenticator.load() is null without credentials and merges env and file", async () => {
  assertEquals(await Authenticator.load({}), null);
  assertEquals(await Authenticator.load({ PAGEFS_USERS: "", PAGEFS_USERS_FILE: "" }), null);
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    const pw = await hashPassword("file-pw", { iterations: ITERATIONS });
    await Deno.writeTextFile(
      path,
      JSON.stringify({ users: [{ name: "carol", password: pw, access: "ro" }] }),
    );
    const auth = await Authenticator.load({
      PAGEFS_USERS_FILE: path,
      PAGEFS_USERS: `ci:${await hashToken("tok")}:rw`,
    });
    assertEquals(auth?.counts, { users: 1, tokens: 1 });
    assertEquals(await auth?.authenticate(basic("carol", "file-pw")), {
      name: "carol",
      access: "ro",
      prefix: "/",
      kind: "user",
    });
    assertEquals((await auth?.authenticate("Bearer tok"))?.name, "ci");
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("authenticate() checks Basic passwords; unknown users take the dummy hash", async () => {
  const { auth, checks } = await fixture();
  assertEquals(await auth.authenticate(basic("alice", "alice-pw")), {
    name: "alice",
    access: "rw",
    prefix: "/home/alice",
    kind: "user",
  });
  assertEquals((await auth.authenticate(basic("bob", "bøb pw")))?.access, "ro");
  assertEquals(await auth.authenticate(basic("alice", "wrong")), null);
  assertEquals(await auth.authenticate(basic("mallory", "alice-pw")), null);
  assertEquals(checks, ["alice", "bob", "alice", null]);
  for (
    const header of [null, "", "Basic", "Basic !!!", `Basic ${btoa("no-colon")}`, "Digest abc"]
  ) {
    assertEquals(await auth.authenticate(header), null, String(header));
  }
  assertEquals(await auth.authenticate(`Basic ${btoa("\xff:x")}`), null); // not UTF-8
});

Deno.test("a user name matches in Unicode NFC, as passwords do", async () => {
  const pw = await hashPassword("pw", { iterations: ITERATIONS });
  const auth = await Authenticator.load({ PAGEFS_USERS: `ren\u00e9:${pw}:rw:/home/rene` });
  assert(auth !== null);
  // A decomposed "é" (as macOS input often sends it) names the same, configured user.
  const principal = await auth.authenticate(basic("rene\u0301", "pw"));
  assertEquals(principal?.name, "ren\u00e9");
  assertEquals(principal?.prefix, "/home/rene");
  assertEquals(auth.userPrincipal("rene\u0301")?.name, "ren\u00e9");
  assertEquals(await auth.authenticate(basic("rene\u0301", "wrong")), null);
});

Deno.test("authenticate() caches Basic successes for a bounded time and size", async () => {
  let now = 0;
  const { auth, checks } = await fixture({ now: () => now, cacheTtlMs: 1000, cacheMaxEntries: 1 });
  const alice = basic("alice", "alice-pw");
  await auth.authenticate(alice);
  await auth.authenticate(alice);
  assertEquals(checks, ["alice"]);
  now = 1001;
  await auth.authenticate(alice);
  assertEquals(checks, ["alice", "alice"]);
  await auth.authenticate(basic("bob", "bøb pw")); // evicts alice
  await auth.authenticate(alice);
  assertEquals(checks, ["alice", "alice", "bob", "alice"]);
  // Failures are never cached; concurrent identical headers share one check.
  await auth.authenticate(basic("alice", "nope"));
  await auth.authenticate(basic("alice", "nope"));
  checks.length = 0;
  const bob = basic("bob", "bøb pw");
  await Promise.all([auth.authenticate(bob), auth.authenticate(bob), auth.authenticate(bob)]);
  assertEquals(checks, ["bob"]);
});

Deno.test("authenticate() accepts Bearer tokens by hash", async () => {
  const { auth, token, checks } = await fixture();
  assertEquals(await auth.authenticate(`Bearer ${token}`), {
    name: "ci",
    access: "ro",
    prefix: "/builds",
    kind: "token",
  });
  assertEquals(await auth.authenticate(`bearer ${token}`).then((p) => p?.name), "ci");
  assertEquals(await auth.authenticate(`Bearer ${token}x`), null);
  assertEquals(await auth.authenticate(`Bearer ${(await hashToken(token)).slice(7)}`), null);
  assertEquals(checks, []);
});

Deno.test("allows() applies access and prefix rules", () => {
  const alice: Principal = { name: "alice", access: "rw", prefix: "/home/alice" };
  const reader: Principal = { name: "r", access: "ro", prefix: "/" };
  assert(allows(alice, "PUT", "/home/alice"));
  assert(allows(alice, "DELETE", "/home/alice/a/b"));
  assert(allows(alice, "MKCOL", "/home/alice/"));
  assert(!allows(alice, "GET", "/home/alice2"));
  assert(!allows(alice, "GET", "/home/alice2/x"));
  assert(!allows(alice, "GET", "/home"));
  assert(!allows(alice, "GET", "/"));
  assert(!allows(alice, "GET", "/home/alice/../bob"));
  assert(!allows(alice, "GET", "/home/alice/./x"));
  assert(!allows(alice, "GET", "/home/alice//x"));
  assert(!allows(alice, "GET", "/home/alice/x\0"));
  assert(!allows(alice, "GET", "home/alice"));
  for (const method of ["GET", "HEAD", "OPTIONS", "PROPFIND", "get"]) {
    assert(allows(reader, method, "/any/where"), method);
  }
  for (const method of ["PUT", "POST", "PATCH", "DELETE", "MKCOL", "MOVE", "COPY", "LOCK"]) {
    assert(!allows(reader, method, "/any/where"), method);
  }
});

async function app(auth: Authenticator | null) {
  const app = new Hono<AuthEnv>();
  app.get("/healthz", (c) => c.text("ok"));
  const pathOf = (c: { req: { path: string } }) => decodeURIComponent(c.req.path.slice(3)) || "/";
  app.use(
    "/fs/*",
    requireAuth(auth, {
      pathOf,
      destinationOf: (c) => {
        const dest = c.req.header("destination");
        return dest ? decodeURIComponent(new URL(dest).pathname.slice(3)) : null;
      },
    }),
  );
  app.all("/fs/*", (c) => c.text(`${c.get("principal").name} ${c.req.method}`));
  return app;
}

Deno.test("requireAuth() answers 401 with Basic and Bearer challenges", async () => {
  const { auth } = await fixture();
  const server = await app(auth);
  for (const authorization of [undefined, basic("alice", "wrong"), "Bearer nope"]) {
    const res = await server.request("/fs/home/alice/a", {
      headers: authorization ? { authorization } : {},
    });
    assertEquals(res.status, 401);
    assertEquals(res.headers.get("content-type"), "application/problem+json");
    const challenge = res.headers.get("www-authenticate") ?? "";
    assert(challenge.startsWith('Basic realm="PageFS", charset="UTF-8", Bearer realm="PageFS"'));
    assertEquals(challenge.includes('error="invalid_token"'), authorization === "Bearer nope");
    const body = await res.json();
    assertEquals([body.type, body.status, body.errno], ["urn:pagefs:errno:EACCES", 401, "EACCES"]);
    assertEquals(body.path, null); // says nothing about the filesystem to a stranger
  }
  assertEquals((await server.request("/healthz")).status, 200);
});

Deno.test("requireAuth() answers 403 problem+json outside access and prefix", async () => {
  const { auth, token } = await fixture();
  const server = await app(auth);
  const as = (authorization: string, path: string, method = "GET", headers = {}) =>
    server.request(path, { method, headers: { authorization, ...headers } });
  const alice = basic("alice", "alice-pw"), bob = basic("bob", "bøb pw");

  let res = await as(alice, "/fs/home/alice/notes.txt", "PUT");
  assertEquals([res.status, await res.text()], [200, "alice PUT"]);
  res = await as(bob, "/fs/home/alice/notes.txt");
  assertEquals([res.status, await res.text()], [200, "bob GET"]);
  assertEquals((await as(bob, "/fs/x", "PROPFIND")).status, 200);
  assertEquals((await as(`Bearer ${token}`, "/fs/builds/1/log")).status, 200);

  res = await as(bob, "/fs/home/alice/notes.txt", "PUT");
  assertEquals(res.status, 403);
  assertEquals(res.headers.get("content-type"), "application/problem+json");
  assertEquals(await res.json(), {
    type: "urn:pagefs:errno:EACCES",
    title: "Permission denied",
    status: 403,
    detail: '"bob" has read-only access',
    errno: "EACCES",
    path: "/home/alice/notes.txt",
  });
  res = await as(alice, "/fs/home/alice2/x");
  assertEquals(res.status, 403);
  assertEquals((await res.json()).detail, '"alice" may only access "/home/alice"');
  assertEquals((await as(`Bearer ${token}`, "/fs/builds2")).status, 403);
  assertEquals((await as(`Bearer ${token}`, "/fs/builds/x", "DELETE")).status, 403);
  // Encoded tricks: the URL parser folds %2e%2e, and a decoded %2F is a separator.
  assertEquals((await as(alice, "/fs/home/alice/%2e%2e/bob/x")).status, 403);
  assertEquals((await as(alice, "/fs/home/alice%2F..%2Fbob")).status, 400);
  assertEquals((await as(alice, "/fs/home/alice%2Fx")).status, 200);
  assertEquals((await as(alice, "/fs/home/alice%00")).status, 400);
  // A MOVE needs write access to its destination too.
  const move = (dest: string) => as(alice, "/fs/home/alice/a", "MOVE", { destination: dest });
  assertEquals((await move("http://h/fs/home/alice/b")).status, 200);
  assertEquals((await move("http://h/fs/home/bob/b")).status, 403);
});

Deno.test("requireAuth(null) lets every request through as anonymous", async () => {
  const res = await (await app(null)).request("/fs/anything", { method: "DELETE" });
  assertEquals([res.status, await res.text()], [200, "anonymous DELETE"]);
});

Deno.test("checkExposure() requires credentials off loopback", async () => {
  const { auth } = await fixture();
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"]) {
    assertEquals(checkExposure(host, null), null, host);
  }
  for (const host of ["0.0.0.0", "::", "192.168.1.5", "example.com", "127.0.0.1.nip.io"]) {
    const message = checkExposure(host, null);
    assert(message?.includes(`"${host}"`) && message.includes("PAGEFS_USERS"), host);
    assertEquals(checkExposure(host, auth), null);
  }
});

Deno.test("cli.ts hashes passwords and tokens and makes new tokens", async () => {
  let out = "", err = "";
  const io = (secret: string) => ({
    readSecret: () => Promise.resolve(secret),
    write: (text: string) => out += text,
    error: (text: string) => err += text,
  });
  assertEquals(await run(["hash-password", "--iterations", "1000"], io("pw")), 0);
  assert(await verifyPassword("pw", out.trim()), out);
  out = "";
  assertEquals(await run(["new-token"], io("")), 0);
  const [, token, hash] = /^token: (\S+)\nhash: +(\S+)\n$/.exec(out) ?? [];
  assertEquals(await hashToken(token ?? ""), hash);
  out = "";
  assertEquals(await run(["hash-token"], io("abc")), 0);
  assertEquals(out, `${await hashToken("abc")}\n`);
  assertEquals(await run(["hash-password"], io("")), 2);
  assertEquals(await run(["hash-password", "--iterations", "x"], io("pw")), 2);
  assertEquals(await run(["nope"], io("")), 2);
  assert(err.includes("Usage:"));
});

Deno.test("a Basic check costs as many PBKDF2 iterations for every name, known or not", async () => {
  const cheap = await hashPassword("cheap-pw", { iterations: 1000 });
  const dear = await hashPassword("dear-pw", { iterations: 5000 });
  const auth = await Authenticator.load({
    PAGEFS_USERS: `cheap:${cheap}:rw,dear:${dear}:rw`,
  }, { cacheTtlMs: 0 });
  assert(auth !== null);
  // What each check asks of WebCrypto, counted where it is asked.
  const spent: number[] = [];
  const deriveBits = crypto.subtle.deriveBits;
  crypto.subtle.deriveBits = (...args: Parameters<typeof deriveBits>) => {
    spent.push((args[0] as Pbkdf2Params).iterations);
    return deriveBits.apply(crypto.subtle, args);
  };
  try {
    const cost = async (user: string, password: string) => {
      spent.length = 0;
      await auth.authenticate(basic(user, password));
      return spent.reduce((a, b) => a + b, 0);
    };
    const costs = [
      await cost("nobody", "x"),
      await cost("dear", "wrong"),
      await cost("cheap", "wrong"),
      await cost("cheap", "cheap-pw"),
    ];
    // Before: 5000 for the unknown name and the dear user, 1000 for the cheap one.
    assertEquals(costs, [5000, 5000, 5000, 5000]);
    assertEquals((await auth.authenticate(basic("cheap", "cheap-pw")))?.name, "cheap");
  } finally {
    crypto.subtle.deriveBits = deriveBits;
  }
});
