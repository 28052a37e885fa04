/**
 * The shape check: builds the import graph of `src/` from `deno info --json` (type-only
 * imports included, since a type import couples two modules as much as a value import does)
 * and fails on any import cycle and on any import that points up the layer order below.
 *
 * Run it with `deno task imports`; `deno task ok` and `.ci/run` run it too. The order is
 * documented, with a picture, in docs/architecture.md.
 *
 * @module
 */

/**
 * The layers of `src/`, lowest first. A module may import modules of its own unit (the
 * folder, or the file for a top-level file) and of any lower layer, never a higher one, and
 * never another unit of its own layer: the front ends do not import each other.
 *
 * `json.ts` (strict JSON checks) and `deadlines.ts` (one timer for many time limits) sit at
 * the bottom, and so does `config.ts`: it is typed settings parsed from the environment, imports
 * nothing from `src/`, and the store factory takes its types. `http/` (request paths,
 * preconditions, ranges, the errno status table) and `auth/` (principals, verification) sit
 * between the VFS and the front ends that use them.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ["config.ts", "version.ts", "json.ts", "deadlines.ts"],
  ["store"],
  ["format"],
  ["cache"],
  ["vfs"],
  ["http", "auth", "observe"],
  ["rest", "webdav", "tus", "ui"],
  ["app.ts"],
  ["service.ts"],
  ["cli"],
  ["cli.ts"],
];

/**
 * Rules inside a unit: an import from a module matching `from` to a module matching `to`
 * (other than itself) is refused, for the reason given.
 */
export const INNER_RULES: readonly { from: RegExp; to: RegExp; why: string }[] = [
  {
    from: /^vfs\/ops\//,
    to: /^vfs\/ops\//,
    why: "operations never import each other (share code through src/vfs internals)",
  },
  {
    from: /^vfs\/(?!ops\/|_?vfs(_[a-z]+)?\.ts$|mod\.ts$)/,
    to: /^vfs\/ops\//,
    why: "the VFS internals sit below the operations",
  },
  {
    from: /^vfs\/(?!_vfs_[a-z]+\.ts$|vfs\.ts$)/,
    to: /^vfs\/_vfs_/,
    why: "the facade's parts (_vfs_*.ts) are imported only by the facade",
  },
  {
    from: /^store\/(?!s3\.ts$|_s3_[a-z]+\.ts$)/,
    to: /^store\/_s3_/,
    why: "the S3 adapter's parts (_s3_*.ts) are imported only by s3.ts and each other",
  },
  {
    from: /^store\/(?!local\.ts$|_local_[a-z]+\.ts$)/,
    to: /^store\/_local_/,
    why: "the local adapter's parts (_local_*.ts) are imported only by local.ts and each other",
  },
];

/** One import between two modules of `src/`, as paths relative to `src/`. */
export interface Edge {
  from: string;
  to: string;
}

/**
 * The unit a `src/`-relative path belongs to: its top folder, or for a top-level file the
 * file itself (its `_test.ts` belongs to it).
 */
export function unitOf(path: string): string {
  const slash = path.indexOf("/");
  return slash < 0 ? path.replace(/_test\.ts$/, ".ts") : path.slice(0, slash);
}

/** The layer index of a unit, or -1 when the table does not name it. */
export function layerOf(unit: string): number {
  return LAYERS.findIndex((layer) => layer.includes(unit));
}

/** The problems with one edge: an unknown unit, an upward import, a sideways import. */
export function edgeProblems(edge: Edge): string[] {
  const [a, b] = [unitOf(edge.from), unitOf(edge.to)];
  if (a === b) {
    return INNER_RULES.filter((r) =>
      edge.from !== edge.to && r.from.test(edge.from) && r.to.test(edge.to)
    ).map((r) => `${edge.from} -> ${edge.to}: ${r.why}`);
  }
  const [la, lb] = [layerOf(a), layerOf(b)];
  const problems: string[] = [];
  for (const [unit, layer] of [[a, la], [b, lb]] as const) {
    if (layer < 0) problems.push(`${unit} is in no layer (add it to LAYERS in tools/imports.ts)`);
  }
  if (problems.length > 0) return problems;
  if (lb > la) problems.push(`upward import: ${edge.from} -> ${edge.to} (${a} is below ${b})`);
  if (lb === la) {
    problems.push(`sideways import: ${edge.from} -> ${edge.to} (${a} and ${b} share a layer)`);
  }
  return problems;
}

/** Every elementary cycle's representative: one cycle per strongly connected component. */
export function findCycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) {
    next.set(from, [...(next.get(from) ?? []), to]);
    if (!next.has(to)) next.set(to, []);
  }
  // Tarjan's strongly connected components; a component of two or more modules, or one
  // module importing itself, holds a cycle.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    for (let w = stack.pop()!;; w = stack.pop()!) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1 || (next.get(v) ?? []).includes(v)) components.push(component);
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return components.map((c) => cyclePath(c, next));
}

/** One cycle through a strongly connected component, as a path that returns to its start. */
function cyclePath(component: string[], next: Map<string, string[]>): string[] {
  const members = new Set(component);
  const start = [...component].sort()[0]!;
  // Breadth-first from start back to start, inside the component: the shortest cycle.
  const parent = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of next.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let u: string | undefined = v; u !== undefined && u !== start; u = parent.get(u)) {
          path.splice(1, 0, u);
        }
        return [...path, start];
      }
      if (!parent.has(w)) {
        parent.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

interface InfoModule {
  specifier: string;
  dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
}

/** The import edges among the modules under `srcDir`, from one `deno info --json` run. */
export async function importGraph(srcDir: string): Promise<{ modules: string[]; edges: Edge[] }> {
  const root = new URL(`file://${await Deno.realPath(srcDir)}/`);
  const files: string[] = [];
  const collect = async (dir: URL): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      if (e.isDirectory) await collect(new URL(`${e.name}/`, dir));
      else if (e.name.endsWith(".ts")) files.push(new URL(e.name, dir).href);
    }
  };
  await collect(root);
  files.sort();
  // One entry module importing every file gives the whole graph in one run.
  const entry = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(entry, files.map((f) => `import "${f}";\n`).join(""));
    const config = new URL("../deno.json", import.meta.url);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", config.pathname, entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: InfoModule[] };
    const rel = (s: string) => s.startsWith(root.href) ? s.slice(root.href.length) : null;
    const edges = new Map<string, Edge>();
    for (const m of info.modules) {
      const from = rel(m.specifier);
      if (from === null) continue;
      for (const d of m.dependencies ?? []) {
        for (const target of [d.code?.specifier, d.type?.specifier]) {
          const to = target === undefined ? null : rel(target);
          if (to !== null) edges.set(`${from}\0${to}`, { from, to });
        }
      }
    }
    return {
      modules: files.map((f) => rel(f)!),
      edges: [...edges.values()].sort((a, b) =>
        a.from.localeCompare(b.from) || a.to.localeCompare(b.to)
      ),
    };
  } finally {
    await Deno.remove(entry);
  }
}

/** Every problem with the graph: its cycles, then its refused imports. */
export function graphProblems(edges: readonly Edge[]): string[] {
  return [
    ...findCycles(edges).map((c) => `import cycle: ${c.join(" -> ")}`),
    ...new Set(edges.flatMap(edgeProblems)),
  ];
}

if (import.meta.main) {
  const src = new URL("../src", import.meta.url).pathname;
  const { modules, edges } = await importGraph(src);
  const problems = graphProblems(edges);
  for (const p of problems) console.error(`imports: ${p}`);
  console.log(
    `imports: ${modules.length} modules, ${edges.length} imports in src/, ` +
      `${problems.length} problem${problems.length === 1 ? "" : "s"}`,
  );
  if (problems.length > 0) Deno.exit(1);
}
