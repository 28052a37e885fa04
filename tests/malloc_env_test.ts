import { assert, assertEquals } from "./_assert.ts";
import { SERVER_ENV } from "../bench/compare_lib.ts";

/** The variables `deno task start` sets before `deno run` (deno.json). */
async function startTaskEnv(): Promise<Record<string, string>> {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  ) as { tasks: Record<string, string> };
  const prefix = config.tasks.start!.split("deno run")[0]!.trim();
  return Object.fromEntries(
    prefix.split(/\s+/).filter((a) => a !== "").map((a) => a.split("=", 2) as [string, string]),
  );
}

/**
 * A child that frees 16 buffers of 8 MiB (as the budget frees part buffers after 16
 * uploads), each allocated next to a small one that stays: its RSS before, at the peak and
 * after, in MiB.
 */
const CHILD = `
const rss = () => Number(Deno.readTextFileSync("/proc/self/status").match(/VmRSS:\\s+(\\d+)/)[1]) / 1024;
new Uint8Array(8 << 20).fill(1).buffer.transfer(0);
const before = rss();
const big = [], keep = [];
for (let i = 0; i < 16; i++) {
  big.push(new Uint8Array(8 << 20).fill(1));
  keep.push(new Uint8Array(16 << 10).fill(1));
}
const peak = rss();
for (const b of big) b.buffer.transfer(0);
console.log(JSON.stringify({ before, peak, after: rss(), kept: keep.length }));
`;

Deno.test({
  name: "the start task's allocator settings give freed part buffers back to the system",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    // glibc raises its mmap threshold to the size of the first large block freed, so every
    // later part buffer came from its heap, where the small blocks allocated meanwhile
    // kept the freed ones resident: about 100 MiB after the bench's 16 uploads, under
    // every later workload. A fixed threshold keeps large blocks mapped on their own.
    const env = await startTaskEnv();
    assertEquals(env, SERVER_ENV, "the bench runs PageFS as the start task does");
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", CHILD],
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    assert(code === 0, text.decode(stderr));
    const { before, peak, after } = JSON.parse(text.decode(stdout));
    assert(peak - before >= 100, `the buffers took ${peak - before} MiB`);
    assert(after - before < 32, `${after - before} MiB of 128 freed stayed resident`);
  },
});
