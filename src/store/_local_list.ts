/**
 * Listing in the local store: which keys a listing wants, found by walking the folder tree
 * (from the deepest folder the prefix names) and the `.long/` folder of keys too long for
 * the tree, then paged with S3's rules (`paginate`). A part of {@linkcode LocalStore}
 * (`local.ts`), imported by it and its other parts alone.
 *
 * @module
 */

import {
  isLongName,
  LONG,
  objectInfo,
  prefixFolder,
  readDir,
  unescapeSegment,
} from "./_local_format.ts";
import { compareKeys, paginate } from "./_util.ts";
import type { ListOptions, ListPage, ObjectInfo } from "./types.ts";

/** One page of the keys under `root` that `options` asks for, as the store's `list`. */
export async function listObjects(root: string, options: ListOptions): Promise<ListPage> {
  const prefix = options.prefix ?? "";
  const query = { prefix, after: options.cursor ?? "", group: options.delimiter === "/" };
  const found: Found[] = [];
  const folder = prefixFolder(prefix);
  if (folder) await walk(root + folder.rel, folder.dirKey, query, found);
  for (const entry of await readDir(`${root}/${LONG}`)) {
    if (!entry.isFile || !isLongName(entry.name)) continue;
    const info = await objectInfo(`${root}/${LONG}/${entry.name}`, null);
    if (info && info.key.startsWith(prefix) && after(info.key, query.after)) {
      found.push({ key: info.key, path: null, info });
    }
  }
  const page = paginate(found.sort((a, b) => compareKeys(a.key, b.key)), options);
  const objects: ObjectInfo[] = [];
  for (let at = 0; at < page.objects.length; at += 64) {
    const infos = await Promise.all(
      page.objects.slice(at, at + 64).map(async (item) => {
        if (item.info || item.path === null) return item.info;
        return await objectInfo(item.path, item.key);
      }),
    );
    // An object deleted since the walk is simply left out, as S3 may do.
    for (const info of infos) if (info) objects.push(info);
  }
  return { objects, prefixes: page.prefixes, cursor: page.cursor };
}

/** A key found while listing; `path` null stands for a folder grouped by the delimiter. */
interface Found {
  readonly key: string;
  readonly path: string | null;
  readonly info?: ObjectInfo;
}

/** What a listing wants: keys with `prefix`, after `after`; `group` folds folders. */
interface Query {
  readonly prefix: string;
  readonly after: string;
  readonly group: boolean;
}

/** Collects the keys under folder `dir` (whose keys start with `dirKey`) that `query` wants. */
async function walk(dir: string, dirKey: string, query: Query, out: Found[]): Promise<void> {
  for (const entry of await readDir(dir)) {
    const segment = unescapeSegment(entry.name.slice(1));
    if (segment === null) continue;
    const path = `${dir}/${entry.name}`;
    if (entry.name[0] === "o" && entry.isFile) {
      const key = dirKey + segment;
      if (key.startsWith(query.prefix) && after(key, query.after)) out.push({ key, path });
    } else if (entry.name[0] === "d" && entry.isDirectory) {
      const key = `${dirKey}${segment}/`;
      if (!key.startsWith(query.prefix) && !query.prefix.startsWith(key)) continue;
      // Every key in the folder sorts before the cursor.
      if (!after(key, query.after) && !query.after.startsWith(key)) continue;
      if (!query.group || !key.startsWith(query.prefix)) await walk(path, key, query, out);
      // With delimiter "/" the whole folder is one common prefix: one stand-in will do.
      else if (await hasObject(path)) out.push({ key, path: null });
    }
  }
}

async function hasObject(dir: string): Promise<boolean> {
  for (const entry of await readDir(dir)) {
    if (unescapeSegment(entry.name.slice(1)) === null) continue;
    if (entry.name[0] === "o" && entry.isFile) return true;
    if (entry.name[0] === "d" && entry.isDirectory && await hasObject(`${dir}/${entry.name}`)) {
      return true;
    }
  }
  return false;
}

/** True when `key` sorts after the cursor (or there is none). */
function after(key: string, cursor: string): boolean {
  return cursor === "" || compareKeys(key, cursor) > 0;
}
