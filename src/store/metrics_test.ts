import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { MemoryStore } from "./memory.ts";
import { MeteredStore, StoreMetrics } from "./metrics.ts";
import { StoreError } from "./types.ts";

Deno.test("MeteredStore does not count a call refused unsent as an S3 request", async () => {
  // While the S3 endpoint is taken for unreachable, calls fail with kind `unavailable`
  // before anything is sent (src/store/_s3_outage.ts): /metrics must not show them as
  // requests made to S3; failures that did reach it still count.
  const refusing = new MemoryStore();
  let kind: "unavailable" | "transient" = "unavailable";
  refusing.head = () => Promise.reject(new StoreError(kind, "refused"));
  const metrics = new StoreMetrics();
  const seen: unknown[] = [];
  metrics.observers.push({ request: (_op, _s, error) => seen.push(error) });
  const store = new MeteredStore(refusing, metrics);
  await assertRejects(() => store.head("k"));
  assertEquals([metrics.total(), seen.length], [0, 1]);
  kind = "transient";
  await assertRejects(() => store.head("k"));
  assertEquals(metrics.snapshot().errors, { HeadObject: 1 });
});
