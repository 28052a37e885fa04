/**
 * fsck's view of the releases of hard links' names (`release.ts`): intents on inodes and
 * proofs in directory objects. An intent with its proof is a removal that happened and
 * whose count step has not: a decrement owed, which the link count check counts as made
 * and a repair makes by the protocol's own step ({@linkcode countOff}), never by setting
 * `nlink` past it. An intent without a proof changes no count; older than the grace period
 * (by the time in its id, its remover's clock, as for rename intents) its remover is taken
 * for dead and a repair drops it (a remover only stalled then lowers nothing: the count one
 * too high, which fsck reports, never too low). A proof whose intent is gone is left over
 * from a clean-up cut short (or whose remover is at its clean-up, while younger than the
 * grace period by the time in the id): a warning, which a repair drops.
 *
 * @module
 */

import type { MetaStore } from "./cas.ts";
import { Directories } from "./dir.ts";
import { Inodes } from "./inodes.ts";
import { idTime } from "./keys.ts";
import {
  countOff,
  dropIntent,
  dropProof,
  linksOf,
  raiseLink,
  releasedOf,
  type ReleasedRecord,
  releasesOf,
  type ReleaseStores,
} from "./release.ts";
import { type Problem, problem, type Walk } from "./_walk_result.ts";
import { holdersOf } from "./_walk_util.ts";

type Fix = () => Promise<boolean>;

/** A proof found in a reachable directory object, with where it is. */
interface Proof {
  readonly record: ReleasedRecord;
  readonly dir: string;
  readonly key: string;
  readonly path: string;
}

/** Per inode, the ids of the count changes owed: decrements, and link()s' raises. */
export interface Owed {
  readonly releases: Map<string, Set<string>>;
  readonly raises: Map<string, Set<string>>;
}

/**
 * Reports the intents and proofs of the reachable tree, each with its repair.
 * @returns per inode, the ids of the intents whose decrements (or link()s' raises) are
 * owed (with their proof), for the link count check to count as made.
 */
export async function checkReleases(
  meta: MetaStore,
  tree: Walk,
  { now, graceMs, add }: {
    now: number;
    graceMs: number;
    add: (p: Problem, fix?: Fix) => void;
  },
): Promise<Owed> {
  const stores: ReleaseStores = {
    meta,
    dirs: new Directories(meta),
    inodes: new Inodes(meta),
    now: () => now,
  };
  const proofs = new Map<string, Proof>();
  for (const [ino, { path, object }] of tree.dirs) {
    const holders = await holdersOf(meta, ino, object);
    for (const { key, value } of holders) {
      for (const record of releasedOf(value)) {
        proofs.set(record.id, { record, dir: ino, key, path: `${path}/${record.name}` });
      }
    }
  }
  const owed = new Map<string, Set<string>>();
  const raises = new Map<string, Set<string>>();
  const intentIds = new Set<string>();
  for (const [ino, reached] of tree.inodes) {
    if (!reached.value) continue;
    for (const intent of linksOf(reached.value)) {
      intentIds.add(intent.id);
      const where = { key: reached.key, path: reached.path };
      const proof = proofs.get(intent.id);
      const young = now - idTime(intent.id) < graceMs;
      if (proof?.record.link && proof.record.ino === ino) {
        raises.set(ino, (raises.get(ino) ?? new Set()).add(intent.id));
        const detail = `A link() that added the name ${proof.path} and did not count it yet`;
        if (young) add(problem("in-flight", detail, where));
        else {
          add(
            problem("link-owed", `${detail}: its linker stopped between its steps`, where),
            async () => {
              await raiseLink(stores, { ino, id: intent.id });
              await dropProof(stores, intent);
              return true;
            },
          );
        }
        continue;
      }
      const detail = "A link() of this file whose name is not there (it changes no count)";
      add(problem(young ? "in-flight" : "link-intent", detail, where));
    }
    for (const intent of releasesOf(reached.value)) {
      intentIds.add(intent.id);
      const where = { key: reached.key, path: reached.path };
      const proof = proofs.get(intent.id);
      const at = idTime(intent.id);
      const young = now - at < graceMs;
      if (proof && !proof.record.link && proof.record.ino === ino) {
        owed.set(ino, (owed.get(ino) ?? new Set()).add(intent.id));
        const detail = `A removal of the name ${proof.path} whose link was not counted off yet`;
        if (young) add(problem("in-flight", detail, where));
        else {
          add(
            problem("release-owed", `${detail}: its remover stopped between its steps`, where),
            async () => {
              await countOff(stores, { ino, id: intent.id });
              await dropProof(stores, intent);
              return true;
            },
          );
        }
        continue;
      }
      if (young) {
        add(problem("in-flight", "A removal of a name of this file under way", where));
        continue;
      }
      add(
        problem(
          "release-intent",
          "An intent to remove a name of this file whose removal never happened: its " +
            "remover died or the name went another way (it changes no count)",
          where,
        ),
        () => dropIntent(stores, { ino, id: intent.id }).then(() => true),
      );
    }
  }
  for (const proof of proofs.values()) {
    if (intentIds.has(proof.record.id)) continue;
    // Its inode may be one no name reaches any more: look at the object itself.
    const inode = tree.inodes.get(proof.record.ino)?.value ??
      (await stores.inodes.get(proof.record.ino).catch(() => null))?.value;
    const intents = inode ? [...releasesOf(inode), ...linksOf(inode)] : [];
    if (intents.some((r) => r.id === proof.record.id)) continue;
    const where = { key: proof.key, path: proof.path };
    if (now - idTime(proof.record.id) < graceMs) {
      add(problem("in-flight", `A proof of the removal of ${proof.path} to clean up`, where));
      continue;
    }
    add(
      problem(
        "released-record",
        `A proof of the removal of ${proof.path} whose link was counted off already (its ` +
          "clean-up was cut short)",
        where,
      ),
      () => dropProof(stores, { dir: proof.dir, name: proof.record.name, id: proof.record.id }),
    );
  }
  return { releases: owed, raises };
}
