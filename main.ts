/**
 * PageFS's entry point: reads the configuration from the environment, opens the store and
 * the filesystem in it (formatting an empty one), and serves the app.
 *
 * `deno task start` runs `main.ts --listen`, which listens on `HOST:PORT`. `deno serve
 * main.ts` and Deno Deploy use the default export and do their own listening: both also
 * run the module as the main module, so only the explicit flag starts a server here.
 *
 * Start-up fails fast, with one line on stderr and a non-zero exit: 2 for a configuration
 * error, 1 when the service cannot start (the store does not answer within
 * `PAGEFS_STARTUP_TIMEOUT_MS`, refuses us, ignores conditional writes, or the port is in
 * use).
 *
 * @module
 */

import { createApp } from "./src/app.ts";
import { AuthConfigError, Authenticator, checkExposure } from "./src/auth/mod.ts";
import { type Config, ConfigError, loadConfig } from "./src/config.ts";
import { probeKey, SUPERBLOCK_KEY } from "./src/format/keys.ts";
import { FormatError } from "./src/format/superblock.ts";
import { causeChain, Logger, Readiness, Telemetry } from "./src/observe/mod.ts";
import { openStore, probeConditionalWrites, StoreError, StoreMetrics } from "./src/store/mod.ts";
import { Vfs } from "./src/vfs/mod.ts";

/** Exit status: the configuration is invalid. */
const EXIT_CONFIG = 2;
/** Exit status: the configuration is fine but the service cannot start. */
const EXIT_START = 1;

function fail(message: string, code = EXIT_CONFIG): never {
  console.error(`pagefs: ${message}`);
  Deno.exit(code);
}

/** `deno task start` passes this; `deno serve` and Deno Deploy listen by themselves. */
const listen = Deno.args.includes("--listen");

/** Where the store is, for messages. */
function storeName(config: Config): string {
  const s = config.store;
  if (s.kind !== "s3") return s.kind === "local" ? `the local store "${s.dataDir}"` : "memory";
  return `bucket "${s.bucket}" at ${s.endpoint ?? "AWS S3"}`;
}

class StartupTimeout extends Error {}

async function start() {
  const startedAt = performance.now();
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
  const logger = new Logger({ level: config.logLevel, format: config.logFormat });
  const telemetry = new Telemetry();
  const metrics = new StoreMetrics();
  const store = openStore(config.store, {
    metrics,
    requestTimeoutMs: config.s3TimeoutMs,
    retry: { onRetry: (method) => telemetry.retry(method) },
  });
  const where = storeName(config);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StartupTimeout()), config.startupTimeoutMs);
  });
  let vfs;
  try {
    vfs = await Promise.race([
      (async () => {
        // Before anything is formatted: a store that ignores conditions gets nothing.
        if (!config.singleInstance) {
          const ignored = await probeConditionalWrites(store, probeKey(crypto.randomUUID()));
          if (ignored !== null) {
            fail(
              `${where} does not honour conditional writes: it ignored ${ignored}. ` +
                "Several instances would overwrite each other's changes; set " +
                "PAGEFS_SINGLE_INSTANCE=true to serve it from exactly one instance anyway",
              EXIT_START,
            );
          }
        }
        return await Vfs.open(store, {
          onGroupCommit: (writes, bytes) => telemetry.groupCommit(writes, bytes),
        });
      })(),
      deadline,
    ]);
  } catch (error) {
    if (error instanceof StartupTimeout) {
      fail(
        `cannot open ${where}: no answer within ${config.startupTimeoutMs} ms ` +
          "(PAGEFS_STARTUP_TIMEOUT_MS)",
        EXIT_START,
      );
    }
    let cause: unknown = error;
    while (!(cause instanceof FormatError || cause instanceof StoreError)) {
      const next = (cause as { cause?: unknown })?.cause;
      if (next === undefined) break;
      cause = next;
    }
    if (cause instanceof FormatError) fail(cause.message, EXIT_START);
    if (cause instanceof StoreError) fail(`cannot open ${where}: ${causeChain(cause)}`, EXIT_START);
    throw error;
  } finally {
    clearTimeout(timer);
  }
  const readiness = new Readiness(() => store.head(SUPERBLOCK_KEY), {
    timeoutMs: config.readyTimeoutMs,
  });
  const app = createApp({
    store,
    metrics,
    vfs,
    auth,
    corsOrigins: config.corsOrigins,
    metricsPublic: config.metricsPublic,
    logger,
    telemetry,
    readiness,
    davInfinityMax: config.davInfinityMax,
  });
  logger.notice("store open", {
    store: where,
    ms: Math.round(performance.now() - startedAt),
    level: config.logLevel,
  });
  return { config, app, logger };
}

const { config, app, logger } = await start();

if (import.meta.main && listen) {
  try {
    Deno.serve({
      port: config.port,
      hostname: config.host,
      onListen: ({ hostname, port }) =>
        logger.notice("serving", { url: `http://${hostname}:${port}/` }),
    }, app.fetch);
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) {
      fail(
        `cannot listen on ${config.host}:${config.port}: the port is in use (set PORT)`,
        EXIT_START,
      );
    }
    if (
      error instanceof Deno.errors.AddrNotAvailable || error instanceof Deno.errors.PermissionDenied
    ) {
      fail(`cannot listen on ${config.host}:${config.port}: ${causeChain(error)}`, EXIT_START);
    }
    throw error;
  }
}

export default { fetch: app.fetch };
