/**
 * PageFS's entry point: reads the configuration from the environment, opens the store and
 * the filesystem in it (formatting an empty one), and serves the app (`src/service.ts`).
 *
 * `deno task start` runs `main.ts --listen`, which listens on `HOST:PORT`. `deno serve
 * main.ts` and Deno Deploy use the default export and do their own listening: both also
 * run the module as the main module, so only the explicit flag starts a server here.
 * `deno task pagefs serve` does the same as `deno task start`.
 *
 * @module
 */

import { listenService, SERVE_USAGE, startService } from "./src/service.ts";

if (import.meta.main && Deno.args.some((a) => a === "--help" || a === "-h")) {
  console.log(SERVE_USAGE);
  Deno.exit(0);
}
const unknown = Deno.args.find((a) => a !== "--listen");
if (import.meta.main && unknown !== undefined) {
  console.error(`pagefs: unknown option "${unknown}"\n${SERVE_USAGE}`);
  Deno.exit(2);
}

/** `deno task start` passes this; `deno serve` and Deno Deploy listen by themselves. */
const listen = Deno.args.includes("--listen");

const { config, app, logger } = await startService(Deno.env.toObject(), { listen });

if (import.meta.main && listen) listenService(config, app, logger);

export default { fetch: app.fetch };
