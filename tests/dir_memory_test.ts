import { assert } from "./_assert.ts";
import type { HeapProbe } from "../bench/heap_probe.ts";

Deno.test("an instance that fills a directory of 10,000 files keeps under 900 B of heap an entry", async () => {
  // What a writer keeps of each entry is paid twice in RSS (V8 grows its heap to twice
  // what is live), by every large directory it writes to. Before session 15 it was about
  // 1,350 B (each entry's JSON kept for life, a chain of 32 name indexes per object, the
  // halves of lost split races cached); about 640 B since.
  const probe = new URL("../bench/heap_probe.ts", import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--v8-flags=--expose-gc", probe, "10000", "--json"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  assert(code === 0, text.decode(stderr));
  const result = JSON.parse(text.decode(stdout)) as HeapProbe;
  assert(result.writer < 900, `the writer keeps ${result.writer} B an entry`);
  // A lister keeps the decoded entries alone; a writer adds what encoding needs.
  assert(result.lister < 900, `the lister keeps ${result.lister} B an entry`);
});
