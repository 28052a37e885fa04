/**
 * `main.ts --listen` for a profiled bench server (`BENCH_SERVER_FLAGS`): exits on SIGTERM
 * instead of dying by it, so that V8's `--cpu-prof` writes its profile. With
 * `BENCH_MEMORY_LOG` set to a file name, it also appends `Deno.memoryUsage()` (epoch seconds, then MiB: rss,
 * heap total, heap used, external) to that file every 100 ms, to see where a peak RSS is.
 *
 * @module
 */

import { listenService, startService } from "../src/service.ts";

Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
const { config, app, logger } = await startService(Deno.env.toObject(), { listen: true });
listenService(config, app, logger);

const memoryLog = Deno.env.get("BENCH_MEMORY_LOG");
if (memoryLog) {
  const MiB = 1024 * 1024;
  setInterval(() => {
    const m = Deno.memoryUsage();
    const line = [Date.now() / 1000, m.rss, m.heapTotal, m.heapUsed, m.external]
      .map((v, i) => i === 0 ? v.toFixed(1) : (v / MiB).toFixed(0)).join(" ");
    Deno.writeTextFileSync(memoryLog, line + "\n", { append: true });
  }, 100);
}
