import { assert, assertEquals } from "../tests/_assert.ts";
import { createApp } from "./app.ts";
import { MemoryStore, MeteredStore, StoreMetrics } from "./store/mod.ts";
import { Logger } from "./observe/mod.ts";

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
  options: { corsOrigins?: readonly string[] | "*"; metricsPublic?: boolean; logger?: Logger } = {},
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
  const lines: string[] = [];
  const logger = new Logger({ format: "json", write: (line) => lines.push(line) });
  const { app: a, basic } = await authedApp({ logger });
  const refusals = [
    await a.request("/api/v1/fs/", { headers: { authorization: `Basic ${btoa("root:wrong")}` } }),
    await a.request("/dav/", { method: "PROPFIND", headers: { authorization: "Bearer nope" } }),
    await a.request("/api/v1/fs/"),
  ];
  for (const r of refusals) await r.text();
  const text = await (await a.request("/metrics", { headers: basic("root") })).text();
  assert(text.includes('pagefs_auth_failures_total{reason="invalid"} 2'), text);
  assert(text.includes('pagefs_auth_failures_total{reason="missing"} 1'), text);
  const logged = lines.filter((l) => JSON.parse(l).msg.startsWith("authentication"));
  assertEquals(logged.length, 3);
  assert(JSON.parse(logged[0]!).user === "root" && !logged[0]!.includes("wrong"), logged[0]);
  // Each refusal is also a request line, at warn level.
  const refused = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "request");
  assertEquals(refused.filter((l) => l.status === 401 && l.level === "warn").length, 3);
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

Deno.test("every request is logged once, with its id echoed in X-Request-Id", async () => {
  const lines: string[] = [];
  const logger = new Logger({ format: "json", write: (line) => lines.push(line) });
  const { app: a, basic } = await authedApp({ logger });
  const put = await a.request("/api/v1/fs/home/alice/a.txt?parents=1", {
    method: "PUT",
    body: "hello",
    headers: { ...basic("root"), "x-request-id": "client-id-1" },
  });
  assertEquals(put.status, 201);
  assertEquals(put.headers.get("x-request-id"), "client-id-1");
  await put.body?.cancel();
  const get = await a.request("/api/v1/fs/home/alice/a.txt", {
    headers: { ...basic("alice"), "x-request-id": 'bad "id" with spaces' },
  });
  assertEquals(await get.text(), "hello");
  const id = get.headers.get("x-request-id")!;
  assert(/^[0-9a-f-]{36}$/.test(id), `a fresh id replaces an insane one: ${id}`);
  const requests = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "request");
  assertEquals(requests.length, 2);
  const [p, g] = requests;
  assertEquals(
    [p.id, p.front, p.method, p.path, p.status, p.principal, p.level],
    ["client-id-1", "api", "PUT", "/api/v1/fs/home/alice/a.txt", 201, "user:root", "info"],
  );
  assertEquals(p.aborted, true, "a body the client dropped is marked so");
  assertEquals([g.id, g.status, g.bytes, g.principal], [id, 200, 5, "user:alice"]);
  assert(typeof g.ms === "number" && g.ms >= 0 && typeof g.time === "string", JSON.stringify(g));
});

Deno.test("the text log format writes key=value lines; level warn keeps 4xx and 5xx only", async () => {
  const lines: string[] = [];
  const logger = new Logger({ level: "warn", write: (line) => lines.push(line) });
  const { app: a, basic } = await authedApp({ logger });
  await a.request("/healthz");
  await (await a.request("/healthz")).text();
  await (await a.request("/api/v1/fs/missing.txt", { headers: basic("root") })).text();
  assertEquals(lines.length, 1, lines.join("\n"));
  assert(
    /^time=\S+ level=warn msg=request id=\S+ front=api method=GET path=\/api\/v1\/fs\/missing.txt status=404 bytes=\d+ ms=[\d.]+ principal=user:root$/
      .test(lines[0]!),
    lines[0],
  );
});

Deno.test("/metrics adds request and S3 latency histograms, cache, group commits and memory", async () => {
  const { Telemetry } = await import("./observe/mod.ts");
  const { Vfs } = await import("./vfs/mod.ts");
  const metrics = new StoreMetrics();
  const telemetry = new Telemetry();
  const store = new MeteredStore(new MemoryStore(), metrics);
  const vfs = await Vfs.open(store, {
    onGroupCommit: (writes, bytes) => telemetry.groupCommit(writes, bytes),
  });
  const logger = new Logger({ write: () => {} });
  const a = createApp({ store, metrics, vfs, telemetry, logger, metricsPublic: true });
  const big = new Uint8Array(5000).fill(7); // past the inline limit: a segment
  const put = await a.request("/api/v1/fs/f", { method: "PUT", body: big });
  assertEquals([put.status, (await put.text()).length > 0], [201, true]);
  const get = await a.request("/api/v1/fs/f");
  assertEquals((await get.bytes()).length, 5000);
  const dav = await a.request("/dav/f", { method: "PROPFIND", headers: { depth: "0" } });
  assertEquals(dav.status, 207);
  await dav.body?.cancel();
  const text = await (await a.request("/metrics")).text();
  for (
    const expected of [
      'pagefs_http_request_duration_seconds_count{front="api",method="PUT",status="201"} 1',
      'pagefs_http_request_duration_seconds_count{front="dav",method="PROPFIND",status="207"} 1',
      'pagefs_s3_request_duration_seconds_count{op="PutObject",outcome="ok"}',
      'pagefs_s3_request_duration_seconds_bucket{le="0.001",op="GetObject",outcome="ok"}',
      "pagefs_page_cache_hits_total",
      "pagefs_page_cache_misses_total",
      "pagefs_page_cache_bytes",
      "pagefs_group_commit_writes_count 1",
      "pagefs_group_commit_bytes_total 5000",
      'pagefs_process_memory_bytes{kind="rss"}',
      'pagefs_s3_requests_total{op="PutObject"}',
    ]
  ) assert(text.includes(expected), `${expected} missing from:\n${text}`);
});

Deno.test("/readyz answers 503 within its bound while the store hangs, 200 once it answers", async () => {
  const { Readiness } = await import("./observe/mod.ts");
  let hang = true;
  let probes = 0;
  const never = new Promise<never>(() => {});
  const readiness = new Readiness(() => {
    probes++;
    return hang ? never : Promise.resolve(null);
  }, { timeoutMs: 200, cacheMs: 0 });
  const metrics = new StoreMetrics();
  const a = createApp({
    store: new MemoryStore(),
    metrics,
    readiness,
    logger: new Logger({ write: () => {} }),
  });
  const started = performance.now();
  const down = await a.request("/readyz");
  const took = performance.now() - started;
  assertEquals(down.status, 503);
  assert((await down.json()).reason.includes("200 ms"));
  assert(took >= 190 && took < 1000, `answered in ${took} ms`);
  assertEquals((await a.request("/healthz")).status, 200, "alive all the same");
  hang = false;
  const up = await a.request("/readyz");
  assertEquals(up.status, 200);
  assertEquals((await up.json()).status, "ready");
  assertEquals(probes, 2);
});

Deno.test("/readyz: a flood of probes costs one store request per cache period", async () => {
  const metrics = new StoreMetrics();
  const store = new MeteredStore(new MemoryStore(), metrics);
  const a = createApp({ store, metrics, logger: new Logger({ write: () => {} }) });
  const answers = await Promise.all(Array.from({ length: 50 }, () => a.request("/readyz")));
  assert(answers.every((r) => r.status === 200));
  assertEquals(metrics.total(), 1);
});

Deno.test("a failed S3 request is logged with its cause and the request's id", async () => {
  const { FaultyStore } = await import("./store/mod.ts");
  const { Vfs } = await import("./vfs/mod.ts");
  const metrics = new StoreMetrics();
  let failing = false;
  const store = new MeteredStore(
    new FaultyStore(new MemoryStore(), {
      plan: () => failing ? { kind: "fail-before", errorKind: "throttled" } : null,
    }),
    metrics,
  );
  const vfs = await Vfs.open(store);
  const lines: string[] = [];
  const logger = new Logger({ format: "json", write: (line) => lines.push(line) });
  const a = createApp({ store, metrics, vfs, logger });
  failing = true;
  const res = await a.request("/api/v1/fs/x", { headers: { "x-request-id": "r-42" } });
  assert(res.status >= 500, `status ${res.status}`);
  await res.text();
  const logged = lines.map((l) => JSON.parse(l));
  const s3 = logged.filter((l) => l.msg === "s3 request failed");
  assert(s3.length >= 1, lines.join("\n"));
  assertEquals([s3[0].id, s3[0].kind, s3[0].level], ["r-42", "throttled", "warn"]);
  assert(typeof s3[0].cause === "string" && s3[0].cause.length > 0);
  const req = logged.find((l) => l.msg === "request")!;
  assertEquals([req.id, req.status, req.level], ["r-42", res.status, "error"]);
});

Deno.test("CORS headers and the request id reach a file's PUT, GET, 304 and HEAD answers", async () => {
  const { app: a, basic } = await authedApp({ corsOrigins: ["https://app.example"] });
  const headers = { origin: "https://app.example", ...basic("root") };
  const url = "/api/v1/fs/c.txt";
  const put = await a.request(url, { method: "PUT", body: "hello", headers });
  assertEquals(put.status, 201);
  const created = await put.text();
  assertEquals(JSON.parse(created).size, 5);
  assertEquals(put.headers.get("content-length"), String(new TextEncoder().encode(created).length));
  assertEquals(put.headers.get("content-type"), "application/json");
  const etag = put.headers.get("etag")!;
  const get = await a.request(url, { headers });
  const notModified = await a.request(url, { headers: { ...headers, "if-none-match": etag } });
  const head = await a.request(url, { method: "HEAD", headers });
  const replaced = await a.request(url, { method: "PUT", body: "again", headers });
  assertEquals(await get.text(), "hello");
  for (
    const [res, status] of [[put, 201], [get, 200], [notModified, 304], [head, 200], [
      replaced,
      204,
    ]] as const
  ) {
    if (!res.bodyUsed) await res.body?.cancel();
    assertEquals(res.status, status);
    assertEquals(res.headers.get("access-control-allow-origin"), "https://app.example");
    assert(res.headers.get("access-control-expose-headers")?.includes("ETag"));
    assert(res.headers.get("x-request-id"));
  }
  const dav = await a.request("/dav/d.txt", { method: "PUT", body: "x", headers: basic("root") });
  assertEquals([dav.status, Boolean(dav.headers.get("etag"))], [201, true]);
});
