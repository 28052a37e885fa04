/**
 * Composes the Hono application: health, metrics, and (as they arrive) the front ends.
 * Runtime-specific work (listening, reading the environment) stays in `main.ts`, so tests
 * drive this app with `app.request()` and no server.
 *
 * @module
 */

import { Hono } from "hono";
import type { ObjectStore, StoreMetrics } from "./store/mod.ts";
import type { Vfs } from "./vfs/mod.ts";

export interface AppOptions {
  readonly store: ObjectStore;
  readonly metrics: StoreMetrics;
  /** The filesystem the front ends serve (they arrive with the HTTP API and WebDAV). */
  readonly vfs?: Vfs;
}

/**
 * Builds the application.
 *
 * @example
 * ```ts
 * import { createApp } from "./app.ts";
 * import { MemoryStore, StoreMetrics } from "./store/mod.ts";
 * const app = createApp({ store: new MemoryStore(), metrics: new StoreMetrics() });
 * const res = await app.request("/healthz");
 * console.assert(res.status === 200);
 * ```
 */
export function createApp(options: AppOptions): Hono {
  const app = new Hono();

  app.get("/healthz", (c) => c.json({ status: "ok", store: options.store.kind }));

  app.get("/metrics", (c) =>
    c.body(options.metrics.render(), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }));

  app.notFound((c) => c.json({ error: "not-found", message: "No such route" }, 404));
  app.onError((error, c) => {
    console.error(error);
    return c.json({ error: "internal", message: "Internal error" }, 500);
  });
  return app;
}
