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
