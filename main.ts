/**
 * PageFS's entry point: reads the configuration from the environment, opens the store,
 * and serves the app. `deno task start` runs it; `deno serve main.ts` and Deno Deploy use
 * the default export.
 *
 * @module
 */

import { createApp } from "./src/app.ts";
import { ConfigError, loadConfig } from "./src/config.ts";
import { openStore, StoreMetrics } from "./src/store/mod.ts";

function configure() {
  try {
    return loadConfig(Deno.env.toObject());
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`pagefs: invalid configuration: ${error.message}`);
    Deno.exit(2);
  }
}

const config = configure();
const metrics = new StoreMetrics();
const store = openStore(config.store, { metrics });
const app = createApp({ store, metrics });

if (import.meta.main) {
  Deno.serve({
    port: config.port,
    hostname: config.host,
    onListen: ({ hostname, port }) =>
      console.log(`pagefs: serving on http://${hostname}:${port}/ (store: ${store.kind})`),
  }, app.fetch);
}

export default { fetch: app.fetch };
