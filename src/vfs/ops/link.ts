// link(): a new name of a file. A file with one name is first moved out of its entry into
// its own inode object `i/<ino>` (one link counted: a state as consistent as before); then
// the link goes under a link intent on the inode (docs/format.md, "A link cut short"): the
// intent (CAS of the inode), the name with its proof (CAS of the directory), the count
// raised by the intent's id (CAS of the inode), the proof dropped. Before session 20 the
// count went up first and a crash before the name left it one too high for good.

import { outcomeUnknown } from "../../format/cas.ts";
import { beginLink, dropLink, finishLink } from "../../format/release.ts";
import { type Entry, type FileEntry, FORMAT_VERSION, type InodeObject } from "../../format/meta.ts";
import { type Ctx, statOf } from "../context.ts";
import { FsError } from "../errors.ts";
import { locate } from "../resolve.ts";
import type { Stat } from "../types.ts";

/** Makes `path` a new hard link to the file at `existing`. */
export async function link(ctx: Ctx, existing: string, path: string): Promise<Stat> {
  const src = await locate(ctx, existing);
  if (!src.entry) throw new FsError("ENOENT", "No such file or directory", { path: existing });
  if (src.entry.t === "d") throw new FsError("EPERM", "Cannot link a directory", { path });
  if (src.entry.t === "l") throw new FsError("EPERM", "Cannot link a symlink", { path });
  const dst = await locate(ctx, path);
  if (!dst.parent) throw new FsError("EEXIST", "File exists", { path });
  if (dst.entry) throw new FsError("EEXIST", "File exists", { path });
  const ino = src.entry.ino;
  if (src.entry.t === "f") {
    await promoteToInode(ctx, src.parent!.ino, src.name, src.entry, existing);
  }
  // The name goes in before the count goes up, each by its own CAS: a crash between leaves
  // the intent and the name's proof, and whoever meets the intent raises the count once
  // (a removal of any name of the file settles it first; until then the count is one
  // short, and the inode object stays even at 0: see `release.ts`).
  const intent = await beginLink(ctx, { ino, dir: dst.parent.ino, name: dst.name });
  if (!intent) throw new FsError("ENOENT", "File was removed", { path: existing });
  try {
    // Any entry already there is EEXIST, even one of the same inode: two links racing to
    // one name each wrote their intent, and only the one whose name went in is counted.
    await ctx.dirs.update(dst.parent.ino, [dst.name], (draft) => {
      if (draft.get(dst.name)) throw new FsError("EEXIST", "File exists", { path });
      draft.set(dst.name, { t: "h", ino });
      draft.noteReleased(intent.id, ino, dst.name, true);
    });
  } catch (error) {
    // A name that may have been added keeps its intent: its proof lets it be counted.
    if (!outcomeUnknown(error)) await dropLink(ctx, intent).catch(() => {});
    throw error;
  }
  await finishLink(ctx, intent);
  const inode = await ctx.inodes.get(ino);
  if (!inode) throw new FsError("ENOENT", "File was removed", { path });
  return statOf(ino, "file", inode.value.attr, { nlink: inode.value.nlink, data: inode.value });
}

/**
 * Moves a file's inode out of its entry into `i/<ino>`, with its one link counted (the
 * entry then `t: "h"`). Nothing when a concurrent link promoted it first. The object holds
 * no intent: two linkers of one plain file may each replace the other's object while the
 * entry is still plain (below), which would drop the other's intent (its link then never
 * counted: tests/vfs_concurrency_test.ts, "both link one plain file").
 */
async function promoteToInode(
  ctx: Ctx,
  dir: string,
  name: string,
  entry: Entry,
  path: string,
): Promise<void> {
  const inodeOf = (entry: Entry): InodeObject => {
    const { t: _t, ino, moving: _m, movedFrom: _f, ...record } = entry as FileEntry & Entry;
    return {
      ...record,
      v: FORMAT_VERSION,
      ino,
      nlink: 1,
      attr: { ...record.attr, ctime: ctx.now() },
    };
  };
  /** The entry as it is now: still a plain file (to promote), or already promoted. */
  const refresh = async (): Promise<Entry | null> => {
    // A new scope: this look must see what another linker did since this request began
    // (its promotion, its link count), not the directory version this request read.
    const fresh = await ctx.meta.inNewScope(() => locate(ctx, path));
    if (fresh.entry?.t === "h" && fresh.entry.ino === entry.ino) return null;
    if (fresh.entry?.t !== "f" || fresh.entry.ino !== entry.ino) {
      throw new FsError("ENOENT", "File changed during link", { path });
    }
    return fresh.entry;
  };
  for (let attempt = 0; attempt < 10; attempt++) {
    if (!await ctx.inodes.put(inodeOf(entry), null)) {
      // Left by a promotion that was cut short, or that races us, before its entry swap.
      // While the entry is still a plain file nothing uses it: replace it, by CAS so
      // that a change made to it once it is in use is never overwritten.
      const left = await ctx.inodes.get(entry.ino);
      const fresh = await refresh();
      if (!fresh) return;
      entry = fresh;
      if (!left || !await ctx.inodes.put(inodeOf(entry), left)) continue;
    }
    // The swap only if the entry is exactly what the inode object was made from (a
    // chmod or setxattr does not change its generation).
    const swapped = await ctx.dirs.update(dir, [name], (draft) => {
      const current = draft.get(name);
      if (JSON.stringify(current) !== JSON.stringify(entry)) return false;
      draft.set(name, {
        t: "h",
        ino: entry.ino,
        ...(entry.movedFrom ? { movedFrom: entry.movedFrom } : {}),
      });
      return true;
    }, { touch: false });
    if (swapped) return;
    // The object is left for the next attempt (or a later link) to replace: a concurrent
    // promotion may be using it.
    const fresh = await refresh();
    if (!fresh) return;
    entry = fresh;
  }
  throw new FsError("EAGAIN", "File changed too often during link", { path });
}
