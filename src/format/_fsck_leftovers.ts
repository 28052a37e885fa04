/**
 * fsck's check of what WebDAV COPY and MOVE leave between their steps (`leftovers.ts`):
 * reported by age, and removed through the VFS (passed in) where that is safe. Split from
 * `fsck.ts`, which calls {@linkcode checkLeftovers}.
 *
 * @module
 */

import type { Directories } from "./dir.ts";
import { isSharded } from "./_dir_ages.ts";
import { parseLeftover } from "./leftovers.ts";
import type { Entry } from "./meta.ts";
import { type Problem, problem, type ProblemKind, type Walk } from "./_walk_result.ts";

/** A leftover older than the grace period is damage fsck reports as an error. */
export const LEFTOVER_SEVERITY = "error";

type Fix = () => Promise<boolean>;

/**
 * The leftovers of WebDAV COPY and MOVE (leftovers.ts): each entry whose name parses as one
 * and whose id is older than the grace period. The grace is fsck's own notion of "may belong
 * to an operation still running", the one that rename intents (whose time is also their
 * writer's clock) are judged by: ten minutes by default covers clock skew between hosts and a
 * request slow between two of its steps. The removing lease (30 s) would not: it is judged by
 * an instance's own first sighting, which a single fsck run does not have, and a COPY builds
 * its copy for as long as the tree takes. A request still at work under an old name shows by
 * the ctime of what it changes (on its clock too), so that counts as well; what remains is a
 * COPY building a sharded directory past the grace (docs/webdav.md).
 *
 * A replaced destination (the request's own next step was to delete it) and an unfinished
 * copy (its source is intact) are removed through `removeTree`; a moved source is the only
 * copy of a client's data under a name that does not say where it belongs: only reported.
 * Nor is a tree removed that holds a moved source (of any age: a MOVE may be staging one
 * in it right now). Entries that carry a rename intent are left to the intent's repair, and
 * what lies inside a leftover still young goes with it (a copy being built carries the
 * names it copies).
 */
export async function checkLeftovers(
  dirs: Directories,
  tree: Walk,
  options: {
    now: number;
    graceMs: number;
    add: (p: Problem<ProblemKind | "leftover">, fix?: Fix) => void;
    removeTree: ((path: string, options: { again: boolean }) => Promise<void>) | null;
  },
): Promise<void> {
  const { now, graceMs, add, removeTree } = options;
  const found: {
    path: string;
    kind: string;
    age: number;
    dir: string;
    name: string;
    entry: Entry;
    /** A rename's source in flight: its intent's repair settles it first. */
    intent: boolean;
  }[] = [];
  for (const [ino, { path, object }] of tree.dirs) {
    const entries = isSharded(object)
      ? await dirs.list(object, { cached: true }).catch(() => [])
      : Object.entries(object.entries ?? {});
    for (const [name, entry] of entries) {
      const leftover = parseLeftover(name);
      if (!leftover) continue;
      found.push({
        path: path === "/" ? `/${name}` : `${path}/${name}`,
        kind: leftover.kind,
        age: now - leftover.at,
        dir: ino,
        name,
        entry,
        intent: entry.moving !== undefined,
      });
    }
  }
  const within = (inner: string, outer: string) => inner.startsWith(`${outer}/`);
  const young = found.filter((l) => l.age < graceMs);
  const old = found.filter((l) =>
    l.age >= graceMs && !l.intent && !young.some((y) => within(l.path, y.path))
  ).sort((a, b) => a.path < b.path ? -1 : 1);
  // Whether the entry the walk saw is still there (read afresh): the VFS's removal counts
  // an entry it cannot open (a directory carrying a removal mark) as gone already.
  const present = async (l: (typeof found)[number]) => {
    const dir = await dirs.get(l.dir);
    return dir !== null && (await dirs.lookup(dir.value, l.name))?.ino === l.entry.ino;
  };
  const remove = async (l: (typeof found)[number], remover: NonNullable<typeof removeTree>) => {
    await remover(l.path, { again: false });
    if (!await present(l)) return true;
    await remover(l.path, { again: true });
    return !await present(l);
  };
  const removals = new Map<string, Promise<boolean>>();
  const fixes = new Map<string, Fix>();
  for (const l of old) {
    let detail = {
      replaced: "The collection a WebDAV COPY or MOVE replaced, kept under this name until " +
        "the request deleted it (its next step)",
      copying: "An unfinished WebDAV COPY (its source is intact)",
      moving: "The source of an unfinished WebDAV MOVE, moved beside its destination: the " +
        "only copy of it, under a name that does not say where it was; move it back or " +
        'delete it (docs/webdav.md, "What is left"); --repair never deletes it',
    }[l.kind as "replaced" | "copying" | "moving"];
    detail = `Leftover "${l.kind}", ${age(l.age)} old (by the time in its name): ${detail}`;
    // A request still at work on an old name (a COPY building a large tree, or deleting a
    // replaced one) changes the directories in it, each change stamping their ctime on its
    // instance's clock: judged by the same grace.
    const changed = Math.max(
      "attr" in l.entry ? l.entry.attr.ctime : -Infinity,
      ...[...tree.dirs.values()].filter((d) => d.path === l.path || within(d.path, l.path))
        .map((d) => d.object.attr.ctime),
    );
    if (l.kind !== "moving" && now - changed < graceMs) {
      add(problem("in-flight", `${detail}; changed ${age(now - changed)} ago: kept`, l));
      continue;
    }
    let fix: Fix | undefined;
    const holds = found.filter((m) => m.kind === "moving" && within(m.path, l.path));
    const outer = old.find((o) => within(l.path, o.path) && fixes.has(o.path));
    if (l.kind === "moving" || removeTree === null) fix = undefined;
    else if (holds.length > 0) {
      detail += `; kept, since it holds the moved source ${holds[0]!.path}`;
    } else if (l.entry.movedFrom) detail += "; kept while a rename into it is settled";
    else if (outer) fix = fixes.get(outer.path);
    else {
      fix = () => {
        let removal = removals.get(l.path);
        if (!removal) removals.set(l.path, removal = remove(l, removeTree));
        return removal;
      };
    }
    if (fix) fixes.set(l.path, fix);
    add({ kind: "leftover", severity: LEFTOVER_SEVERITY, path: l.path, detail }, fix);
  }
}

/** An age for a report: minutes, hours or days. */
function age(ms: number): string {
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 120) return `${minutes} min`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)} h`;
  return `${Math.floor(minutes / 1440)} days`;
}
