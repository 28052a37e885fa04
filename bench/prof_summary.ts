/**
 * Sums a V8 `.cpuprofile` (from `deno run --cpu-prof`, e.g. the PageFS servers of
 * bench/cpu.ts or bench/compare.ts with BENCH_SERVER_FLAGS) into the tables that say where a
 * small request's CPU goes: self time by function, self time by module (PageFS's own files
 * one by one, each npm package and the runtime's `ext:` modules as one row each), and the
 * inclusive time of the children of a chosen function (default: the WebDAV and HTTP API
 * request handlers). Idle, program and garbage-collector samples are rows of their own, so
 * the JS thread's busy time is the total less `(idle)`.
 *
 * Inclusive times follow the sampled stacks, which for async code end at the microtask
 * that resumed a function: a handler's time after its first `await` is counted under
 * `(anonymous)` resumptions, not under the handler. Self times have no such gap.
 *
 * `deno run --allow-read bench/prof_summary.ts FILE.cpuprofile [--top N] [--under REGEX]`
 *
 * @module
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Per-row sums, in milliseconds. */
export type Sums = Map<string, number>;

/** A module's row name: PageFS's own path, or a package or runtime extension as a whole. */
export function moduleOf(url: string): string {
  if (url === "") return "(native)";
  const npm = url.match(/\/node_modules\/\.deno\/([^/]+)\//) ??
    url.match(/\/npm\/[^/]+\/([^/]+)\//);
  if (npm) return `npm:${npm[1]}`;
  if (url.startsWith("ext:")) return url.split("/")[0]!.replace(/^ext:/, "ext:");
  const src = url.indexOf("/src/");
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, "");
}

/** A function's row name: name, then module and line (1-based). */
export function functionOf(frame: CallFrame): string {
  const name = frame.functionName || "(anonymous)";
  if (frame.url === "") return name;
  return `${name} ${moduleOf(frame.url)}:${frame.lineNumber + 1}`;
}

/** Self time per function and per module, and each node's self time (for inclusive sums). */
export function summarise(profile: Profile): {
  byFunction: Sums;
  byModule: Sums;
  selfOf: Map<number, number>;
  totalMs: number;
} {
  const selfOf = new Map<number, number>();
  let totalMs = 0;
  // Each sample counts as the profile's usual interval (the median gap between samples),
  // not as the gap to the next one: on a shared machine a thread taken off its core for
  // 30 ms would otherwise charge those 30 ms to whatever function it was in.
  const gaps = [...profile.timeDeltas].sort((a, b) => a - b);
  const ms = (gaps[Math.floor(gaps.length / 2)] ?? 0) / 1000;
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfOf.set(id, (selfOf.get(id) ?? 0) + ms);
    totalMs += ms;
  }
  const byFunction: Sums = new Map();
  const byModule: Sums = new Map();
  for (const node of profile.nodes) {
    const ms = selfOf.get(node.id) ?? 0;
    if (ms === 0) continue;
    add(byFunction, functionOf(node.callFrame), ms);
    add(byModule, moduleOf(node.callFrame.url), ms);
  }
  return { byFunction, byModule, selfOf, totalMs };
}

/**
 * Inclusive time of the children of every node whose function row matches `under`, summed by
 * the child's function row (a recursive match is counted once, at its outermost node).
 */
export function childrenOf(profile: Profile, selfOf: Map<number, number>, under: RegExp): Sums {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const inclusive = new Map<number, number>();
  const total = (id: number): number => {
    const known = inclusive.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    let ms = selfOf.get(id) ?? 0;
    for (const child of node.children ?? []) ms += total(child);
    inclusive.set(id, ms);
    return ms;
  };
  const out: Sums = new Map();
  const walk = (id: number, inside: boolean) => {
    const node = byId.get(id)!;
    const matches = under.test(functionOf(node.callFrame));
    for (const child of node.children ?? []) {
      if (matches && !inside) add(out, functionOf(byId.get(child)!.callFrame), total(child));
      walk(child, inside || matches);
    }
    if (matches && !inside) add(out, "(self)", selfOf.get(id) ?? 0);
  };
  walk(profile.nodes[0]!.id, false);
  return out;
}

function add(sums: Sums, key: string, ms: number): void {
  sums.set(key, (sums.get(key) ?? 0) + ms);
}

/** The rows of `sums`, largest first, as a Markdown table with their share of `totalMs`. */
export function table(title: string, sums: Sums, totalMs: number, top: number): string {
  const rows = [...sums].sort((a, b) => b[1] - a[1]).slice(0, top);
  const lines = [`\n${title}\n`, "| ms | % | row |", "| ---: | ---: | --- |"];
  for (const [key, ms] of rows) {
    lines.push(`| ${ms.toFixed(1)} | ${(100 * ms / totalMs).toFixed(1)} | ${key} |`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const args = [...Deno.args];
  const flag = (name: string): string | null => {
    const at = args.indexOf(name);
    if (at < 0) return null;
    const value = args[at + 1] ?? "";
    args.splice(at, 2);
    return value;
  };
  const top = Number(flag("--top") ?? 40);
  const under = new RegExp(flag("--under") ?? "^(davHandler|restHandler|dispatch) ");
  const file = args[0];
  if (file === undefined) throw new Error("Usage: prof_summary.ts FILE.cpuprofile");
  const profile = JSON.parse(await Deno.readTextFile(file)) as Profile;
  const { byFunction, byModule, selfOf, totalMs } = summarise(profile);
  const idle = (byFunction.get("(idle)") ?? 0) + (byFunction.get("(program)") ?? 0);
  console.log(
    `${file}: ${totalMs.toFixed(0)} ms sampled, ${(totalMs - idle).toFixed(0)} ms outside ` +
      `(idle) and (program)`,
  );
  console.log(table("Self time by module", byModule, totalMs, top));
  console.log(table("Self time by function", byFunction, totalMs, top));
  const kids = childrenOf(profile, selfOf, under);
  if (kids.size > 0) {
    console.log(table(`Inclusive time of the children of ${under}`, kids, totalMs, top));
  }
}
