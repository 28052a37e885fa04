import { assert, assertEquals } from "../tests/_assert.ts";
import { createApp } from "./app.ts";
import { MemoryStore, MeteredStore, StoreMetrics } from "./store/mod.ts";

function app() {
  const metrics = new StoreMetrics();
  const store = new MeteredStore(new MemoryStore(), metrics);
  return { app: createApp({ store, metrics }), store, metrics };
}

Deno.test("/healthz answers 200 with the store kind", async () => {
  const res = await app().app.request("/healthz");
  assertEquals(res.status, 200);
  assertEquals(await res.json(), { status: "ok", store: "memory" });
});

Deno.test("/metrics renders request and byte counters in Prometheus format", async () => {
  const { app: a, store } = app();
  await store.put("k", new Uint8Array(5));
  await store.head("k");
  const res = await a.request("/metrics");
  assertEquals(res.status, 200);
  assert(res.headers.get("content-type")?.startsWith("text/plain"));
  const text = await res.text();
  assert(text.includes('pagefs_s3_requests_total{op="PutObject"} 1'), text);
  assert(text.includes('pagefs_s3_requests_total{op="HeadObject"} 1'), text);
  assert(text.includes('pagefs_s3_bytes_total{direction="upload"} 5'), text);
});

Deno.test("unknown routes answer 404 with a JSON error", async () => {
  const res = await app().app.request("/nope");
  assertEquals(res.status, 404);
  assertEquals((await res.json()).error, "not-found");
});

async function authedApp(
  options: { corsOrigins?: readonly string[] | "*"; metricsPublic?: boolean } = {},
) {
  const { Authenticator, hashPassword } = await import("./auth/mod.ts");
  const { Vfs } = await import("./vfs/mod.ts");
  const hash = await hashPassword("pw", { iterations: 1000 });
  const auth = await Authenticator.load({
    PAGEFS_USERS: `root:${hash}:rw,alice:${hash}:rw:/home/alice`,
  });
  const metrics = new StoreMetrics();
  const store = new MeteredStore(new MemoryStore(), metrics);
  const vfs = await Vfs.open(store);
  const app = createApp({ store, metrics, vfs, auth, ...options });
  const basic = (user: string) => ({ authorization: `Basic ${btoa(`${user}:pw`)}` });
  return { app, basic };
}

Deno.test("/metrics needs an unlimited principal unless configured public", async () => {
  const { app: a, basic } = await authedApp();
  assertEquals((await a.request("/metrics")).status, 401);
  assertEquals((await a.request("/metrics", { headers: basic("alice") })).status, 403);
  const res = await a.request("/metrics", { headers: basic("root") });
  assertEquals(res.status, 200);
  assert((await res.text()).includes("pagefs_s3_requests_total"));
  const open = (await authedApp({ metricsPublic: true })).app;
  assertEquals((await open.request("/metrics")).status, 200);
});

Deno.test("failed authentications are counted in /metrics", async () => {
  const { app: a, basic } = await authedApp();
  const warn = console.warn;
  const logged: string[] = [];
  console.warn = (line: string) => logged.push(line);
  try {
    await a.request("/api/v1/fs/", { headers: { authorization: `Basic ${btoa("root:wrong")}` } });
    await a.request("/dav/", { method: "PROPFIND", headers: { authorization: "Bearer nope" } });
    await a.request("/api/v1/fs/");
  } finally {
    console.warn = warn;
  }
  const text = await (await a.request("/metrics", { headers: basic("root") })).text();
  assert(text.includes('pagefs_auth_failures_total{reason="invalid"} 2'), text);
  assert(text.includes('pagefs_auth_failures_total{reason="missing"} 1'), text);
  assertEquals(logged.length, 3);
  assert(logged[0]!.includes('for "root"') && !logged[0]!.includes("wrong"), logged[0]);
});

Deno.test("CORS: preflights are answered before auth, credentials only for listed origins", async () => {
  const { app: a, basic } = await authedApp({ corsOrigins: ["https://app.example"] });
  const preflight = (origin: string) =>
    a.request("/api/v1/fs/home/alice/a.txt", {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "PUT" },
    });
  const listed = await preflight("https://app.example");
  assertEquals(listed.status, 204);
  assertEquals(listed.headers.get("access-control-allow-origin"), "https://app.example");
  assertEquals(listed.headers.get("access-control-allow-credentials"), "true");
  assert(listed.headers.get("access-control-allow-methods")?.includes("PATCH"));
  const other = await preflight("https://evil.example");
  assertEquals(other.headers.get("access-control-allow-origin"), null);
  assertEquals(other.headers.get("access-control-allow-credentials"), null);
  // A real request from the listed origin still needs credentials, and can read the ETag.
  const get = (headers: Record<string, string>) =>
    a.request("/api/v1/fs/", { headers: { origin: "https://app.example", ...headers } });
  const denied = await get({});
  assertEquals(denied.status, 401);
  assertEquals(denied.headers.get("access-control-allow-origin"), "https://app.example");
  const ok = await get(basic("root"));
  assertEquals(ok.status, 200);
  assert(ok.headers.get("access-control-expose-headers")?.includes("ETag"));
  // "*" lets any origin in, without credentials.
  const any = (await authedApp({ corsOrigins: "*" })).app;
  const res = await any.request("/api/v1/fs/", {
    method: "OPTIONS",
    headers: { origin: "https://x.example", "access-control-request-method": "GET" },
  });
  assertEquals(res.headers.get("access-control-allow-origin"), "*");
  assertEquals(res.headers.get("access-control-allow-credentials"), null);
  // No CORS configured: no CORS headers at all.
  const none = (await authedApp()).app;
  const plain = await none.request("/api/v1/fs/", { headers: { origin: "https://app.example" } });
  assertEquals(plain.headers.get("access-control-allow-origin"), null);
});
