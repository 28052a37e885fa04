// Path resolution: from the root, one directory object per component, following
// symlinks. Every object read is revalidated, so a path sees other instances' changes.

import { ROOT_INO } from "../format/keys.ts";
import type { DirObject, Entry } from "../format/meta.ts";
import type { Ctx } from "./context.ts";
import { FsError } from "./errors.ts";
import { splitPath } from "./path.ts";
import { settleMovedFrom, settleMoving } from "../format/rename_intent.ts";
import { removeDirObject } from "../format/release.ts";
import { bumpNs, chainOf, clearStalePending, readEpoch, rememberChain } from "./epoch.ts";

/**
 * Reads of resolution reuse what this request already validated (see `ReadOptions`): a
 * path is resolved against the tree as it was at some point during the request.
 */
const RECENT = { recent: true } as const;

/** Symlinks followed in one resolution before ELOOP (Linux's limit). */
const MAX_HOPS = 40;

/**
 * `optimistic`: the last directory of a remembered path may be this instance's cached
 * version, not revalidated (the epoch still is): only for a write whose commit, a CAS of
 * that very directory, checks it, and whose caller decides again from fresh reads if the
 * version turns out stale (see `OpenOptions.expect`).
 */
export interface Optimistic {
  readonly optimistic?: boolean;
}

/** Where a path leads. */
export interface Location {
  /** The directory holding the entry; null when the path is the root. */
  readonly parent: DirObject | null;
  /** The last name ("" for the root). */
  readonly name: string;
  /** The entry, or null when the last name does not exist. */
  readonly entry: Entry | null;
  /** The path's names with symlinks in directories resolved. */
  readonly names: readonly string[];
}

/** True when `names` is the scope's root or lies below it. */
export function inScope(ctx: Ctx, names: readonly string[]): boolean {
  const { scope } = ctx;
  if (names.length < scope.length) return false;
  for (let i = 0; i < scope.length; i++) if (names[i] !== scope[i]) return false;
  return true;
}

/**
 * Refuses a path (or a symlink's destination) outside the scope.
 *
 * @throws {FsError} EACCES.
 */
export function checkScope(ctx: Ctx, names: readonly string[], path: string): void {
  if (!inScope(ctx, names)) {
    throw new FsError("EACCES", "Outside the folder this user may reach", { path });
  }
}

/**
 * Refuses where a symlink leads (`names`, resolved) when that is a folder the server keeps
 * for itself (`Vfs.hide`: the tus staging area). Front ends refuse such a folder by name;
 * a symlink to it (`/home/alice/st` -> `/.pagefs-uploads`) let any principal who may follow
 * it there list, read and change everyone's unfinished uploads. ENOENT, as for the name
 * itself: the folder is not there for clients.
 *
 * @throws {FsError} ENOENT.
 */
function checkHidden(ctx: Ctx, names: readonly string[], path: string): void {
  if (names.length > 0 && ctx.hidden.has(names[0]!)) {
    throw new FsError("ENOENT", "No such file or directory", { path });
  }
}

/** A directory's object; ENOENT if it was removed (or is being removed). */
export async function openDir(ctx: Ctx, ino: string, path?: string): Promise<DirObject> {
  let found = await ctx.dirs.get(ino, RECENT);
  const mark = found?.value.removing;
  if (mark !== undefined && markStale(ctx, ino, mark)) {
    if (found!.value.removed) {
      // A removal that became final and never unlinked the directory: finish it.
      await finishRemoval(ctx, ino).catch(() => {});
    } else if (await fenceEntry(ctx, found!.value, String(mark))) {
      // An rmdir (or a rename onto this empty directory) marked it and has not finished
      // while we watched: the directory is still linked, so it takes new entries again.
      // Safe even if that rmdir is only stalled: it can no longer make its removal final;
      // nor can such a rename, once its entry is fenced.
      await ctx.dirs.unmarkRemoving(ino, mark).catch(() => {});
    }
    found = await ctx.dirs.get(ino);
  }
  if (found && found.value.removing !== undefined && !found.value.removed) {
    throw new BeingRemoved(path);
  }
  if (!found || found.value.removing !== undefined) {
    throw new FsError("ENOENT", "No such directory", path === undefined ? {} : { path });
  }
  return found.value;
}

/**
 * ENOENT for a directory under a removal mark that is not final: an rmdir between its mark
 * and its tombstone, or a rename replacing the (empty) directory. Transient: the marker
 * finishes (the name goes, or leads to the directory a rename put there) or dies (the mark
 * is cleared once stale), so path resolution waits for it (see {@linkcode resolveDir}).
 */
export class BeingRemoved extends FsError {
  constructor(path?: string) {
    super("ENOENT", "No such directory", path === undefined ? {} : { path });
    this.name = "BeingRemoved";
  }
}

/**
 * Pauses (ms) of a resolution that meets a directory being removed, before it answers
 * ENOENT: about 1.3 s in all, the few S3 round trips a cross-directory rename takes to
 * replace a directory, with room for a slow store. An unlink that yields to an older
 * unlink mark (src/vfs/unlink_marks.ts) waits the same way.
 */
export const MARK_WAITS = [5, 10, 20, 40, 80, 160, 320, 320, 320];

/**
 * Fences the entry naming directory `dir` with removal mark `mark`, before that mark is
 * cleared: a rename that marked the directory to replace it checks for the fence in the
 * very CAS that replaces the entry (same object), so once the directory takes entries
 * again a stalled rename can no longer unlink it. An rmdir needs no fence (its removal
 * becomes final only by a CAS on the directory itself).
 * @returns false when no entry names the directory (a rename replaced it, or the parent
 * pointer lags a rename in flight): then it must stay closed.
 */
async function fenceEntry(ctx: Ctx, dir: DirObject, mark: string): Promise<boolean> {
  const parent = await ctx.dirs.get(dir.parent);
  if (!parent) return false;
  const name = (await ctx.dirs.list(parent.value)).find(([, e]) => e.ino === dir.ino)?.[0];
  if (name === undefined) return false;
  return await ctx.dirs.update(dir.parent, [name], (draft) => {
    const current = draft.get(name);
    if (current?.ino !== dir.ino) return false;
    if (current.fence !== mark) draft.set(name, { ...current, fence: mark });
    return true;
  }, { touch: false }).catch(() => false);
}

/**
 * Whether this instance has seen removal mark `mark` on directory `ino` for at least the
 * lease, by its own clock (the first sighting starts the count): never by the time the
 * marker wrote, which another clock took. Unlink marks (src/vfs/unlink_marks.ts) are
 * judged the same way, by the directory holding the entry.
 */
export function markStale(ctx: Ctx, ino: string, mark: string | number): boolean {
  const key = `${ino} ${mark}`;
  const now = ctx.now();
  const first = ctx.marksSeen.get(key);
  if (first === undefined) {
    if (ctx.marksSeen.size >= 10_000) ctx.marksSeen.clear();
    ctx.marksSeen.set(key, now);
    return ctx.removingLeaseMs <= 0;
  }
  if (now - first < ctx.removingLeaseMs) return false;
  ctx.marksSeen.delete(key);
  return true;
}

/**
 * Finishes the final removal of directory `ino` (a tombstone): unlinks the entry naming
 * it, wherever renames in flight have taken it (`hint`: where the remover found it),
 * then deletes its objects.
 */
export async function finishRemoval(
  ctx: Ctx,
  ino: string,
  hint?: { dir: string; name: string },
): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const tomb = await ctx.dirs.get(ino);
    if (!tomb) return;
    if (!tomb.value.removed) throw new Error(`Directory ${ino} is not a tombstone`);
    // First where the remover found it (the CAS below checks it is still there), then
    // wherever the tombstone's parent pointer says.
    const guess = attempt === 0 && hint !== undefined;
    const parentIno = guess ? hint.dir : tomb.value.parent;
    let name: string | undefined = guess ? hint.name : undefined;
    if (!guess) {
      const parent = await ctx.dirs.get(parentIno);
      if (parent) {
        name = (await ctx.dirs.list(parent.value)).find(([, e]) => e.ino === ino)?.[0];
      }
    }
    if (name !== undefined) {
      const done = await ctx.dirs.update(parentIno, [name], (draft) => {
        const current = draft.get(name);
        if (current?.ino !== ino) return false;
        if (current.moving || current.movedFrom) return current;
        draft.delete(name);
        return true;
      }).catch((error) => {
        if ((error as Error)?.name !== "DirectoryGone") throw error;
        return false;
      });
      if (done === false) continue;
      if (done !== true) {
        // A rename in flight carries the entry: settle it, then look where it is now.
        // A directory's rename, settled for someone else: either way a name of it may go.
        if (done.moving) await settleMoving(ctx, parentIno, name, done);
        else await settleMovedFrom(ctx, parentIno, name, done);
        await bumpNs(ctx);
        continue;
      }
    } else {
      // Unlinked already (the object is an orphan for fsck), or the parent pointer lags a
      // rename in flight: look again, but never delete an object an entry may still name.
      if (attempt < 3) continue;
      return;
    }
    await removeDirObject(ctx, tomb.value); // its proofs of hard links' removals counted off
    return;
  }
  throw new FsError("EAGAIN", "Directory is being renamed");
}

/** Looks up a name, first settling a rename that is moving the entry. */
export async function lookupEntry(
  ctx: Ctx,
  dir: DirObject,
  name: string,
  options: Optimistic = {},
): Promise<Entry | null> {
  for (let attempt = 0; attempt < 10; attempt++) {
    // Optimistic: the shard holding the name as cached too, as the directory object is
    // (the commit's CAS on that very shard checks it).
    const first = options.optimistic ? { cached: true } : RECENT;
    const entry = await ctx.dirs.lookup(dir, name, attempt === 0 ? first : {});
    if (!entry?.moving && !entry?.movedFrom) return entry;
    if (entry.moving) {
      // Its target's folder under a dead rmdir's mark holds the settling up (the target
      // write tries again): taken off once stale, as a path through it would be.
      await openDir(ctx, entry.moving.dir).catch(() => {});
      await settleMoving(ctx, dir.ino, name, entry);
    } else {
      // The source's folder under a dead rmdir's mark holds the settling up (the source may
      // still carry the intent): taken off once stale, as a path through it would be.
      await openDir(ctx, entry.movedFrom!.dir).catch(() => {});
      await settleMovedFrom(ctx, dir.ino, name, entry);
    }
    // Someone else's rename of a directory or symlink, rolled forward or back here: from
    // the source's mark or the target's, settling may remove the source's name or the
    // target's, so paths remembered through either must be walked again.
    if (entry.t === "d" || entry.t === "l") await bumpNs(ctx);
    dir = await openDir(ctx, dir.ino);
  }
  throw new FsError("EAGAIN", "Entry is being renamed", { path: name });
}

/**
 * The directory at `names` as this instance resolved it before, if that resolution still
 * holds: one conditional GET of the lock table (for the namespace epoch) and one of the
 * directory, at once. It holds when no namespace change started since (same `ns`, none
 * pending) and the directory is still there and open; otherwise null (resolve in full).
 */
export async function cachedDir(
  ctx: Ctx,
  names: readonly string[],
  options: Optimistic = {},
): Promise<DirObject | null> {
  const chain = names.length > 0 ? chainOf(ctx, names) : undefined;
  if (!chain) return null;
  const [epoch, found] = await Promise.all([
    readEpoch(ctx),
    ctx.dirs.get(chain.ino, options.optimistic ? { cached: true } : RECENT),
  ]);
  const holds = epoch.ns === chain.ns && epoch.pending.length === 0 && found !== null &&
    found.value.removing === undefined;
  return holds ? found.value : null;
}

/**
 * Resolves names to the directory they denote, following symlinks. A path resolved
 * before costs the lock table's and the directory's conditional GETs (see
 * {@linkcode cachedDir}); otherwise every directory from the root is read, after the
 * epoch, and the chain is remembered under it (not when it crosses a symlink, nor while
 * a namespace change is pending).
 */
export async function resolveDir(
  ctx: Ctx,
  names: readonly string[],
  path: string,
  hops = { n: 0 },
  options: Optimistic = {},
): Promise<{ dir: DirObject; names: string[] }> {
  // A directory on the way under a removal mark: the path may lead on once its marker is
  // done (a rename replacing it), so look again from fresh reads after a pause, a few times
  // (before: ENOENT at once, which no order of the two operations explains).
  for (let wait = 0;; wait++) {
    const start = { n: hops.n };
    try {
      const resolved = wait === 0
        ? await resolveOnce(ctx, names, path, start, options)
        : await ctx.meta.inNewScope(() => resolveOnce(ctx, names, path, start, {}));
      hops.n = start.n;
      return resolved;
    } catch (error) {
      if (!(error instanceof BeingRemoved) || wait >= MARK_WAITS.length) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, MARK_WAITS[wait]));
  }
}

async function resolveOnce(
  ctx: Ctx,
  names: readonly string[],
  path: string,
  hops: { n: number },
  options: Optimistic,
): Promise<{ dir: DirObject; names: string[] }> {
  if (hops.n > 0 || names.length === 0) return await walk(ctx, names, path, hops, null, null);
  const cached = await cachedDir(ctx, names, options);
  if (cached) return { dir: cached, names: [...names] };
  // A chain is remembered under `ns` only if every directory on it was read after that
  // epoch read returned: a change that starts after the read bumps `ns` past the one
  // remembered, and one that finished before it is in every later read. So the epoch is
  // read first, afresh, and the walk after it in a new scope: reusing this request's
  // earlier reads (older than an epoch our own CAS on the lock table may have just
  // written) remembered a moved directory's old name under the newest `ns`.
  return await ctx.meta.inNewScope(async () => {
    const epoch = await readEpoch(ctx);
    if (epoch.pending.length > 0) await clearStalePending(ctx, epoch);
    const ns = epoch.pending.length === 0 ? epoch.ns : null;
    const start = ns === null ? null : await rememberedParent(ctx, names, ns);
    return await walk(ctx, names, path, hops, start, ns);
  });
}

/**
 * Where a resolution of `names` may start instead of the root: the directory of its parent
 * path when that path's chain is remembered under `ns` (the epoch this resolution just read
 * afresh) and the directory, read now, is not being removed, as {@linkcode cachedDir} judges
 * a chain. Null otherwise (the walk starts at the root, as before).
 *
 * A walk of a tree (PROPFIND, a zip, a COPY, a DELETE) resolves each directory after its
 * parent; once the chains lapse (any rename of a directory anywhere, or a minute), each of
 * them was resolved from the root again, re-reading every directory on the way and joining
 * and hashing every longer prefix as a key: a tree's walk cost the cube of its depth. Before
 * session 19 a user's PROPFIND of its 2,200-deep folder after a rename kept a core busy for
 * 23 s, and a COPY of it for 26 s, while anyone's rename made it so again.
 */
async function rememberedParent(
  ctx: Ctx,
  names: readonly string[],
  ns: number,
): Promise<Start | null> {
  if (names.length < 2) return null;
  const parent = names.slice(0, -1);
  const chain = chainOf(ctx, parent);
  if (chain === undefined || chain.ns !== ns) return null;
  const found = await ctx.dirs.get(chain.ino, RECENT);
  if (found === null || found.value.removing !== undefined) return null;
  return { dir: found.value, depth: parent.length, at: chain.at };
}

/** Where a walk starts: a directory, how many names lead to it, and when that was known. */
interface Start {
  readonly dir: DirObject;
  readonly depth: number;
  /** When its chain was remembered: the chains the walk remembers are no younger. */
  readonly at: number;
}

/**
 * Resolution from `start` (the root if null), in full; remembers chains under `ns` if given.
 */
async function walk(
  ctx: Ctx,
  names: readonly string[],
  path: string,
  hops: { n: number },
  start: Start | null,
  ns: number | null,
): Promise<{ dir: DirObject; names: string[] }> {
  let dir = start?.dir ?? await openDir(ctx, ROOT_INO, path);
  const at: string[] = names.slice(0, start?.depth ?? 0);
  for (let i = at.length; i < names.length; i++) {
    const name = names[i]!;
    const entry = await lookupEntry(ctx, dir, name);
    if (!entry) throw new FsError("ENOENT", "No such file or directory", { path });
    if (entry.t === "l") {
      if (++hops.n > MAX_HOPS) throw new FsError("ELOOP", "Too many symlinks", { path });
      const target = joinTarget(at, entry.target);
      const rest = names.slice(i + 1);
      // A symlink may not lead a scoped caller out of its folder (nor back through it).
      checkScope(ctx, [...target, ...rest], path);
      checkHidden(ctx, target, path);
      return resolveDir(ctx, [...target, ...rest], path, hops);
    }
    if (entry.t !== "d") throw new FsError("ENOTDIR", "Not a directory", { path });
    dir = await openDir(ctx, entry.ino, path);
    at.push(name);
    if (ns !== null) rememberChain(ctx, at, { ino: entry.ino, ns }, start?.at);
  }
  return { dir, names: at };
}

/**
 * Resolves a path to its parent directory and entry. With `follow`, a final symlink is
 * followed (stat); without, it is returned itself (lstat).
 */
export async function locate(
  ctx: Ctx,
  path: string,
  options: { follow?: boolean } & Optimistic = {},
  hops = { n: 0 },
): Promise<Location> {
  const names = splitPath(path);
  checkScope(ctx, names, path);
  const name = names.pop();
  if (name === undefined) return { parent: null, name: "", entry: null, names: [] };
  const { dir, names: parentNames } = await resolveDir(ctx, names, path, hops, options);
  const entry = await lookupEntry(ctx, dir, name, options);
  if (options.follow && entry?.t === "l") {
    if (++hops.n > MAX_HOPS) throw new FsError("ELOOP", "Too many symlinks", { path });
    const target = joinTarget(parentNames, entry.target);
    checkHidden(ctx, target, path);
    return locate(ctx, "/" + target.join("/"), options, hops);
  }
  return { parent: dir, name, entry, names: [...parentNames, name] };
}

/**
 * The path `path` leads to with every symlink on the way resolved (and, with `follow`, a
 * final one too): the name of the entry a change through `path` would act on. Its last
 * name need not exist. Reads what {@linkcode locate} reads, reusing this request's versions.
 */
export async function realpath(
  ctx: Ctx,
  path: string,
  options: { follow?: boolean } & Optimistic = {},
): Promise<string> {
  const { follow = false, optimistic = false } = options;
  const { names } = await locate(ctx, path, { follow, optimistic });
  return "/" + names.join("/");
}

/** A symlink target resolved against the names of the directory holding the link. */
function joinTarget(base: readonly string[], target: string): string[] {
  const out = target.startsWith("/") ? [] : [...base];
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out;
}
