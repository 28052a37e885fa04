/**
 * Sums a V8 `.cpuprofile`'s self time by function and by module, and the total time under
 * each function (inclusive), so a profile of the server reads as a short table:
 * `deno run --allow-read tools/profile_sum.ts /tmp/prof/CPU.*.cpuprofile [top]`.
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
const files = Deno.args.filter((a) => !/^\d+$/.test(a) && !a.startsWith("--"));
const top = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? 40);
const selfByFn = new Map<string, number>();
const selfByMod = new Map<string, number>();
const inclByFn = new Map<string, number>();
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
  for (let i = 0; i < p.samples.length; i++) {
    at += p.timeDeltas[i] ?? 0;
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
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
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const k = key(byId.get(id)!);
      if (seen.has(k)) continue;
      seen.add(k);
      inclByFn.set(k, (inclByFn.get(k) ?? 0) + dt);
    }
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
