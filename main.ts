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
import { AuthConfigError, Authenticator, checkExposure } from "./src/auth/mod.ts";
import { ConfigError, loadConfig } from "./src/config.ts";
import { FormatError } from "./src/format/superblock.ts";
import { openStore, StoreError, StoreMetrics } from "./src/store/mod.ts";
import { Vfs } from "./src/vfs/mod.ts";

function fail(message: string): never {
  console.error(`pagefs: ${message}`);
  Deno.exit(2);
}

/** `deno task start` passes this; `deno serve` and Deno Deploy listen by themselves. */
const listen = Deno.args.includes("--listen");

async function start() {
  const env = Deno.env.toObject();
  let config;
  let auth;
  try {
    config = loadConfig(env);
    auth = await Authenticator.load(env);
  } catch (error) {
    if (error instanceof ConfigError || error instanceof AuthConfigError) {
      fail(`invalid configuration: ${error.message}`);
    }
    throw error;
  }
  // Without --listen the address is not ours to choose (deno serve binds every interface,
  // Deploy is public): credentials are required then.
  const exposed = checkExposure(listen ? config.host : "0.0.0.0", auth);
  if (exposed) fail(exposed);
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
  const app = createApp({
    store,
    metrics,
    vfs,
    auth,
    corsOrigins: config.corsOrigins,
    metricsPublic: config.metricsPublic,
    secret: config.secret,
    uploads: { expiryMs: config.uploadExpiryMs },
  });
  if (config.secret === null && auth !== null) {
    console.warn(
      "pagefs: PAGEFS_SECRET is not set: browser sessions and share links are signed with a " +
        "random key of this process, so they end when it stops and other instances refuse them",
    );
  }
  return { config, app };
}

const { config, app } = await start();

if (import.meta.main && listen) {
  Deno.serve({
    port: config.port,
    hostname: config.host,
    onListen: ({ hostname, port }) => console.log(`pagefs: serving on http://${hostname}:${port}/`),
  }, app.fetch);
}

export default { fetch: app.fetch };
