/**
 * The idempotent release of a hard link's name (docs/format.md, "A release cut short"):
 * removing a name of a hard-linked file is a CAS of the object holding the name, then one
 * of the inode `i/<ino>` (its `nlink` down by one, the object deleted at 0). A remover that
 * died between the two left the count one too high, and removing the last name then left
 * the inode (and its data) with no name. So a removal goes in four steps:
 *
 * 1. **intent** (CAS of the inode): `{ id, dir, name }` added to `releases`, a fresh id;
 * 2. **removal** (CAS of the name's object, the VFS's): the name goes, and the same CAS
 *    notes `{ id, ino, name }` in that object's `released` member: the proof;
 * 3. **count** (CAS of the inode, {@linkcode countOff}): only while the intent is there,
 *    `nlink` down by one and the intent dropped in one CAS; so it happens once, whoever
 *    makes it (the remover, its retry after a lost answer, or someone settling for it);
 * 4. **clean-up** (CAS of the name's object, {@linkcode dropProof}): the proof dropped.
 *
 * Whoever begins a removal of any name of the file settles the intents it meets on the
 * inode ({@linkcode settleReleases}): from a fresh read of the object that held the
 * intent's name, a proof there means step 2 happened, so it makes steps 3 and 4; no proof
 * means the removal has not happened (or never will: its remover died, or the name went
 * another way), and the intent, which changes no count, is left (fsck drops old ones).
 * This module is the protocol's one owner: the VFS's unlink and rmdir and fsck call it.
 *
 * @module
 */

import type { MetaStore } from "./cas.ts";
import type { Directories } from "./dir.ts";
import { shardFor } from "./_dir_entries.ts";
import type { Inodes } from "./inodes.ts";
import { isObject } from "./meta_check.ts";
import { newId, shardKey } from "./keys.ts";
import { checkShard } from "./meta_check.ts";
import type { DirObject, InodeObject, ReleaseIntent, ShardObject } from "./meta_types.ts";
import { releasedOf } from "./_dir_released.ts";
import { closedCandidates, shardIdsOf } from "./_dir_ages.ts";

export type { ReleasedRecord, ReleaseIntent } from "./meta_types.ts";
export { releasedOf } from "./_dir_released.ts";

/** What the protocol needs: the stores and the clock of the inode's `ctime`. */
export interface ReleaseStores {
  readonly meta: MetaStore;
  readonly dirs: Directories;
  readonly inodes: Inodes;
  readonly now: () => number;
}

/** One removal: the inode whose name `name` of directory `dir` goes, under intent `id`. */
export interface Release {
  readonly ino: string;
  readonly dir: string;
  readonly name: string;
  readonly id: string;
}

/** The well-formed intents of an inode object (others are ignored). */
export function releasesOf(inode: InodeObject): ReleaseIntent[] {
  const intents = (inode as { releases?: unknown }).releases;
  if (!Array.isArray(intents)) return [];
  return intents.filter((r): r is ReleaseIntent =>
    isObject(r) && typeof r.id === "string" && typeof r.dir === "string" &&
    typeof r.name === "string"
  );
}

function setReleases(inode: InodeObject, intents: readonly ReleaseIntent[]): void {
  if (intents.length > 0) inode.releases = [...intents];
  else delete inode.releases;
}

/** The well-formed link intents of an inode object (`links`; others are ignored). */
export function linksOf(inode: InodeObject): ReleaseIntent[] {
  const intents = (inode as { links?: unknown }).links;
  if (!Array.isArray(intents)) return [];
  return intents.filter((r): r is ReleaseIntent =>
    isObject(r) && typeof r.id === "string" && typeof r.dir === "string" &&
    typeof r.name === "string"
  );
}

function setLinks(inode: InodeObject, intents: readonly ReleaseIntent[]): void {
  if (intents.length > 0) inode.links = [...intents];
  else delete inode.links;
}

/**
 * Step 1 for removing name `name` of directory `dir`, which names inode `ino`: settles the
 * intents already on the inode, then adds this removal's (CAS). `id`: the removal's id when
 * it has one already (a rename's: its intent id, see `rename_intent.ts`), else a fresh one.
 * @returns the removal to pass to the removal's CAS and to {@linkcode finishRelease}, or
 * null when the inode is gone or counted down to 0 already (nothing left to count off).
 */
export async function beginRelease(
  stores: ReleaseStores,
  at: { ino: string; dir: string; name: string; id?: string },
): Promise<Release | null> {
  await settleReleases(stores, at.ino);
  const id = at.id ?? newId(stores.now());
  const added = await stores.inodes.update<boolean>(at.ino, (inode) => {
    if (!inode || inode.value.nlink === 0) return { result: false };
    setReleases(inode.value, [...releasesOf(inode.value), { id, dir: at.dir, name: at.name }]);
    return { write: inode.value, result: true };
  });
  return added ? { ino: at.ino, dir: at.dir, name: at.name, id } : null;
}

/**
 * Step 3: counts one link of the inode off for removal `id`, only while its intent is on
 * the inode, dropping the intent in the same CAS; deletes the object at 0. Nothing when the
 * intent is gone (counted already by whoever got there first, or dropped by fsck).
 * @returns whether this call counted the link off.
 */
export async function countOff(
  stores: ReleaseStores,
  at: { ino: string; id: string },
): Promise<boolean> {
  return (await count(stores, at)) !== "none";
}

/** {@linkcode countOff}, saying whether other intents are left on the inode. */
async function count(
  stores: ReleaseStores,
  { ino, id }: { ino: string; id: string },
): Promise<"none" | "counted" | "others" | "last"> {
  const outcome = await stores.inodes.update<"none" | "counted" | "others" | "last">(
    ino,
    (inode) => {
      if (!inode) return { result: "none" };
      const intents = releasesOf(inode.value);
      if (!intents.some((r) => r.id === id)) return { result: "none" };
      const others = intents.filter((r) => r.id !== id);
      setReleases(inode.value, others);
      if (inode.value.nlink > 0) inode.value.nlink--;
      inode.value.attr.ctime = Math.max(stores.now(), inode.value.attr.ctime);
      // A link() under way may have added its name, not counted yet: the object stays (at
      // 0 until that link is counted; GC's, once no name reaches it).
      const linking = linksOf(inode.value).length > 0;
      const result = inode.value.nlink === 0 && !linking
        ? "last"
        : others.length > 0 || linking
        ? "others"
        : "counted";
      return { write: inode.value, result };
    },
  );
  if (outcome === "last") await stores.inodes.remove(ino);
  return outcome;
}

/**
 * Step 4: drops the proof of removal `id` from the object that held name `name` of `dir`.
 * Nothing when it is gone (or the directory is).
 */
export async function dropProof(
  stores: ReleaseStores,
  { dir, name, id }: { dir: string; name: string; id: string },
): Promise<boolean> {
  return await stores.dirs.update(dir, [name], (draft) => draft.takeReleased(id), {
    touch: false,
  }).catch((error) => {
    if ((error as Error)?.name === "DirectoryGone") return false;
    throw error;
  });
}

/**
 * Steps 3 and 4 after a removal's CAS made its proof. A clean-up that fails leaves the
 * proof, which anyone may drop once its intent is gone (fsck reports it). Other intents
 * left on the inode are settled once more after the count: a concurrent removal whose
 * proof landed after this one's step 1 looked, and whose remover then died, would
 * otherwise be left to fsck (and its file, all names gone, to GC).
 */
export async function finishRelease(stores: ReleaseStores, release: Release): Promise<void> {
  const counted = await count(stores, release);
  await dropProof(stores, release).catch(() => false);
  if (counted === "others") await settleReleases(stores, release.ino);
}

/**
 * Step 1's abandon: drops intent `id` from inode `ino` (the removal did not happen: its
 * name was gone or held another file). Never after a removal whose outcome is unknown:
 * its proof may be there, and the intent is what lets someone count it off.
 */
export async function dropIntent(
  stores: ReleaseStores,
  { ino, id }: { ino: string; id: string },
): Promise<void> {
  await stores.inodes.update<void>(ino, (inode) => {
    if (!inode) return { result: undefined };
    const intents = releasesOf(inode.value);
    if (!intents.some((r) => r.id === id)) return { result: undefined };
    setReleases(inode.value, intents.filter((r) => r.id !== id));
    return { write: inode.value, result: undefined };
  });
}

/**
 * The objects of directory `dir` that may hold name `name` (the directory's own, or its
 * shard; in an age-sharded one, the shards it may be in), read afresh; none when the
 * directory (or that shard, mid-split) is gone. Read
 * whole, not through an update: a directory being removed takes no change but still holds
 * its proofs until its remover counts them off ({@linkcode settleDirProofs}).
 */
async function holdersOf(stores: ReleaseStores, dir: string, name: string): Promise<object[]> {
  return await stores.meta.inNewScope(async () => {
    const found = await stores.dirs.get(dir);
    if (found?.value.ages) {
      // Age shards: the proof is in the shard that held the name when it was removed, a
      // closed one whose filter passes the name (its proofs' names are in the filter) or
      // the open one.
      const ids = [
        ...closedCandidates(found.value.ages, name).map((c) => c.id),
        found.value.ages.open,
      ];
      const keys = ids.map((id) => shardKey(dir, id));
      const shards = await stores.meta.readMany<ShardObject>(keys, checkShard);
      return shards.flatMap((s) => s ? [s.value] : []);
    }
    if (!found?.value.shards) return found ? [found.value] : [];
    const key = shardKey(dir, shardFor(found.value.shards, name).id);
    const shard = await stores.meta.read<ShardObject>(key, checkShard);
    return shard ? [shard.value] : [];
  });
}

/**
 * Whether the object that held intent `r`'s name (or, `link`, holds the name a link
 * intent adds), read afresh, holds its proof.
 */
export async function provenRelease(
  stores: ReleaseStores,
  ino: string,
  r: ReleaseIntent,
  link = false,
): Promise<boolean> {
  const holders = await holdersOf(stores, r.dir, r.name);
  return holders.some((h) =>
    releasedOf(h).some((p) => p.id === r.id && p.ino === ino && (p.link === true) === link)
  );
}

/**
 * Settles the intents on inode `ino` whose removals happened (a proof in the object that
 * held the name, read after the intent): counts each off once and drops its proof. Those
 * without a proof are left: they change no count. So are link()s whose name went in (their
 * proof there): each raises the count once ({@linkcode raiseLink}).
 * @returns how many removals this call counted off.
 */
export async function settleReleases(stores: ReleaseStores, ino: string): Promise<number> {
  const inode = await stores.meta.inNewScope(() => stores.inodes.get(ino));
  let settled = 0;
  for (const r of inode ? linksOf(inode.value) : []) {
    if (await provenRelease(stores, ino, r, true)) await finishLink(stores, { ino, ...r });
  }
  for (const r of inode ? releasesOf(inode.value) : []) {
    if (!await provenRelease(stores, ino, r)) continue;
    if (await countOff(stores, { ino, id: r.id })) settled++;
    await dropProof(stores, { dir: r.dir, name: r.name, id: r.id }).catch(() => false);
  }
  return settled;
}

/**
 * Raises the count of inode `ino` for each link() whose name went in (its proof there) and
 * whose count was not raised yet (`settleReleases` does this too, before a removal): a stat
 * of the file then never shows a count that leaves out a name it has.
 * @returns whether this call raised it.
 */
export async function settleLinks(stores: ReleaseStores, ino: string): Promise<boolean> {
  const inode = await stores.meta.inNewScope(() => stores.inodes.get(ino));
  let raised = false;
  for (const r of inode ? linksOf(inode.value) : []) {
    if (!await provenRelease(stores, ino, r, true)) continue;
    if (await raiseLink(stores, { ino, id: r.id })) raised = true;
    await dropProof(stores, { dir: r.dir, name: r.name, id: r.id }).catch(() => false);
  }
  return raised;
}

/**
 * link()'s step 1 (docs/format.md, "A link cut short"): adds intent `{ id, dir, name }` to
 * the inode's `links` (CAS), before the name goes in; the count is raised only after it
 * did, by this id, so that a link() cut short leaves the count right: before its name
 * (the intent changes nothing), or after it (its proof there: whoever meets the intent
 * raises the count once).
 * @returns the link to pass to the name's CAS and to {@linkcode finishLink}, or null when
 * the inode is gone or counted down to 0 (the file was removed).
 */
export async function beginLink(
  stores: ReleaseStores,
  at: { ino: string; dir: string; name: string },
): Promise<Release | null> {
  const id = newId(stores.now());
  const added = await stores.inodes.update<boolean>(at.ino, (inode) => {
    if (!inode || inode.value.nlink === 0) return { result: false };
    setLinks(inode.value, [...linksOf(inode.value), { id, dir: at.dir, name: at.name }]);
    return { write: inode.value, result: true };
  });
  return added ? { ...at, id } : null;
}

/**
 * link()'s step 3: raises the count by one for link `id`, only while its intent is on the
 * inode, dropping the intent in the same CAS: once, whoever makes it.
 * @returns whether this call raised it.
 */
export async function raiseLink(
  stores: ReleaseStores,
  { ino, id }: { ino: string; id: string },
): Promise<boolean> {
  return await stores.inodes.update<boolean>(ino, (inode) => {
    if (!inode) return { result: false };
    const intents = linksOf(inode.value);
    if (!intents.some((r) => r.id === id)) return { result: false };
    setLinks(inode.value, intents.filter((r) => r.id !== id));
    inode.value.nlink++;
    inode.value.attr.ctime = Math.max(stores.now(), inode.value.attr.ctime);
    return { write: inode.value, result: true };
  });
}

/** link()'s steps 3 and 4 once its name went in with its proof: the raise, the clean-up. */
export async function finishLink(stores: ReleaseStores, link: Release): Promise<void> {
  await raiseLink(stores, link);
  await dropProof(stores, link).catch(() => false);
}

/**
 * link()'s abandon: drops link intent `id` (its name did not go in). Never after a name
 * CAS whose outcome is unknown: its proof may be there.
 */
export async function dropLink(
  stores: ReleaseStores,
  { ino, id }: { ino: string; id: string },
): Promise<void> {
  await stores.inodes.update<void>(ino, (inode) => {
    if (!inode) return { result: undefined };
    const intents = linksOf(inode.value);
    if (!intents.some((r) => r.id === id)) return { result: undefined };
    setLinks(inode.value, intents.filter((r) => r.id !== id));
    return { write: inode.value, result: undefined };
  });
}

/**
 * Counts off the removals proven in directory `dir` and its shards, a tombstone about to
 * be deleted (rmdir's last step; it takes no change, so no new proof): its proofs go with
 * it, and nobody could settle those intents afterwards.
 */
export async function settleDirProofs(stores: ReleaseStores, dir: DirObject): Promise<void> {
  const holders: object[] = [dir];
  for (const id of shardIdsOf(dir) ?? []) {
    const shard = await stores.meta.read<ShardObject>(shardKey(dir.ino, id), checkShard);
    if (shard) holders.push(shard.value);
  }
  for (const holder of holders) {
    for (const r of releasedOf(holder)) {
      if (r.link) await raiseLink(stores, { ino: r.ino, id: r.id });
      else await countOff(stores, { ino: r.ino, id: r.id });
    }
  }
}

/**
 * Deletes directory object `dir` (a tombstone, or an empty directory a rename replaced),
 * counting off the removals proven in it first ({@linkcode settleDirProofs}).
 */
export async function removeDirObject(stores: ReleaseStores, dir: DirObject): Promise<void> {
  await settleDirProofs(stores, dir);
  await stores.dirs.remove(dir);
}
