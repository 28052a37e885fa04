/**
 * PageFS's entry point: reads the configuration from the environment, opens the store and
 * the filesystem in it (formatting an empty one), and serves the app.
 *
 * `deno task start` runs `main.ts --listen`, which listens on `HOST:PORT`. `deno serve
 * main.ts` and Deno Deploy use the default export and do their own listening: both also
 * run the module as the main module, so only the explicit flag starts a server here.
 *
 * @module
 */

import { createApp } from "./src/app.ts";
import { ConfigError, loadConfig } from "./src/config.ts";
import { FormatError } from "./src/format/superblock.ts";
import { openStore, StoreError, StoreMetrics } from "./src/store/mod.ts";
import { Vfs } from "./src/vfs/mod.ts";

function fail(message: string): never {
  console.error(`pagefs: ${message}`);
  Deno.exit(2);
}

async function start() {
  let config;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (error) {
    if (error instanceof ConfigError) fail(`invalid configuration: ${error.message}`);
    throw error;
  }
  const metrics = new StoreMetrics();
  const store = openStore(config.store, { metrics });
  let vfs;
  try {
    vfs = await Vfs.open(store);
  } catch (error) {
    let cause: unknown = error;
    while (!(cause instanceof FormatError || cause instanceof StoreError)) {
      const next = (cause as { cause?: unknown })?.cause;
      if (next === undefined) break;
      cause = next;
    }
    if (cause instanceof FormatError) fail(cause.message);
    if (cause instanceof StoreError) {
      const where = config.store.kind === "s3" ? `bucket "${config.store.bucket}"` : "the store";
      fail(`cannot open ${where}: ${cause.message}`);
    }
    throw error;
  }
  return { config, app: createApp({ store, metrics, vfs }) };
}

const { config, app } = await start();

if (import.meta.main && Deno.args.includes("--listen")) {
  Deno.serve({
    port: config.port,
    hostname: config.host,
    onListen: ({ hostname, port }) => console.log(`pagefs: serving on http://${hostname}:${port}/`),
  }, app.fetch);
}

export default { fetch: app.fetch };
