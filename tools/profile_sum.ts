/**
 * Sums a V8 `.cpuprofile`'s self time by function and by module, and the total time under
 * each function (inclusive), so a profile of the server reads as a short table:
 * `deno run --allow-read tools/profile_sum.ts /tmp/prof/CPU.*.cpuprofile [top]
 * [--skip=SECONDS] [--under=REGEX]`.
 *
 * Each sample counts as the profile's usual interval (the median gap between samples), not
 * as the gap to the next sample: on a machine shared with the S3 server and the client, a
 * thread taken off its core for 30 ms charged those 30 ms to whatever function it was in
 * (one such sample put 55 ms on `setUpReadableStreamBYOBReader` in one run, 1 ms in the
 * next). With `--under=REGEX`, the inclusive time of the children of every function whose
 * row matches (e.g. `^putMethod `), by child: what a handler's own time is spent on, as far
 * as the sampled stacks reach (after an `await`, a function's time is under the microtask
 * that resumed it, not under its caller).
 *
 * @module
 */

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function shortUrl(url: string): string {
  const npm = url.match(/registry\.npmjs\.org\/(@[^/]+\/[^/]+|[^/]+)\//);
  if (npm) return `npm:${npm[1]}`;
  const i = url.indexOf("/src/");
  if (i >= 0) return url.slice(i + 1);
  return url.replace(/^.*\//, "") || "(native)";
}

const skipArg = Deno.args.find((a) => a.startsWith("--skip="));
/** Seconds from the profile's start to leave out (start-up, warm-up). */
const skip = Number(skipArg?.slice(7) ?? 0) * 1e6;
const underArg = Deno.args.find((a) => a.startsWith("--under="));
/** Functions whose children's inclusive time is listed (`--under=REGEX`). */
const under = underArg ? new RegExp(underArg.slice(8)) : null;
const files = Deno.args.filter((a) => !/^\d+$/.test(a) && !a.startsWith("--"));
const top = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 40);
const selfByFn = new Map<string, number>();
const selfByMod = new Map<string, number>();
const inclByFn = new Map<string, number>();
/** Inclusive time of the children of the functions `--under` names, by child. */
const underByChild = new Map<string, number>();
/** Self time charged to the nearest caller that is a library or ours (runtime code skipped). */
const byArea = new Map<string, number>();
/** The same, by the charged function. */
const byAreaFn = new Map<string, number>();
function area(url: string): string | null {
  if (/@aws-sdk|@smithy|@aws-crypto/.test(url)) return "aws sdk";
  const npm = url.match(/registry\.npmjs\.org\/(@[^/]+\/[^/]+|[^/]+)\//);
  if (npm) return `npm:${npm[1]}`;
  const i = url.indexOf("/src/");
  if (i >= 0) return url.slice(i + 1).replace(/\/[^/]*$/, "/");
  return null;
}
let total = 0;
for (const file of files) {
  const p: Profile = JSON.parse(await Deno.readTextFile(file));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n: Node) =>
    `${n.callFrame.functionName || "(anon)"} ${shortUrl(n.callFrame.url)}:${
      n.callFrame.lineNumber + 1
    }`;
  let at = 0;
  const busyPerSecond: number[] = [];
  const gaps = [...p.timeDeltas].sort((a, b) => a - b);
  const dt = (gaps[Math.floor(gaps.length / 2)] ?? 0) / 1000;
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    const second = Math.floor(at / 1e6);
    const idle = byId.get(p.samples[i]!)!.callFrame.functionName === "(idle)";
    if (!idle) busyPerSecond[second] = (busyPerSecond[second] ?? 0) + dt;
    if (at < skip) continue;
    const n = byId.get(p.samples[i]!)!;
    if (n.callFrame.functionName === "(idle)") continue;
    total += dt;
    selfByFn.set(key(n), (selfByFn.get(key(n)) ?? 0) + dt);
    const mod = shortUrl(n.callFrame.url);
    selfByMod.set(mod, (selfByMod.get(mod) ?? 0) + dt);
    let a: string | null = null;
    let charged = n;
    for (let id: number | undefined = n.id; id !== undefined && a === null; id = parent.get(id)) {
      charged = byId.get(id)!;
      a = area(charged.callFrame.url);
    }
    if (a !== null) byAreaFn.set(key(charged), (byAreaFn.get(key(charged)) ?? 0) + dt);
    a ??= `runtime ${shortUrl(n.callFrame.url)}`;
    byArea.set(a, (byArea.get(a) ?? 0) + dt);
    const seen = new Set<string>();
    // The child of the outermost matching function on this stack, if any.
    let child: string | null = null;
    for (
      let id: number | undefined = n.id, below: string = "(self)";
      id !== undefined;
      id = parent.get(id)
    ) {
      const k = key(byId.get(id)!);
      if (under?.test(k)) child = below;
      below = k;
      if (seen.has(k)) continue;
      seen.add(k);
      inclByFn.set(k, (inclByFn.get(k) ?? 0) + dt);
    }
    if (child !== null) underByChild.set(child, (underByChild.get(child) ?? 0) + dt);
  }
  console.log(
    `${file}: busy ms per second of the profile: ${
      Array.from(busyPerSecond, (v) => (v ?? 0).toFixed(0)).join(" ")
    }`,
  );
}
const show = (title: string, m: Map<string, number>) => {
  console.log(`\n## ${title} (ms, % of ${total.toFixed(0)} ms busy)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${v.toFixed(0).padStart(8)} ${(100 * v / total).toFixed(1).padStart(5)}%  ${k}`);
  }
};
show("by area (self time of runtime code charged to its caller)", byArea);
show("by charged function", byAreaFn);
show("self by module", selfByMod);
show("self by function", selfByFn);
show("inclusive by function", inclByFn);
if (under) show(`inclusive by child of ${under}`, underByChild);
