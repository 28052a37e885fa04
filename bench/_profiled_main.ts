/**
 * `main.ts --listen` for a profiled bench server (`BENCH_SERVER_FLAGS`): exits on SIGTERM
 * instead of dying by it, so that V8's `--cpu-prof` writes its profile.
 *
 * @module
 */

import { listenService, startService } from "../src/service.ts";

Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
const { config, app, logger } = await startService(Deno.env.toObject(), { listen: true });
listenService(config, app, logger);
