// A reference model of the filesystem's POSIX semantics, in memory, and the tools the
// randomized tests share: one operation type applied to both the model and a Vfs, a
// seeded PRNG, whole-tree snapshots, and a raw consistency check of the bucket.
//
// The model follows POSIX (Linux where POSIX leaves a choice) except where PageFS chose
// otherwise on purpose; each such place says so.

import { MetaStore } from "../src/format/cas.ts";
import { Directories } from "../src/format/dir.ts";
import { inodeKey, mapKey, parseSegmentRef, ROOT_INO, segmentKey } from "../src/format/keys.ts";
import { checkInode, type Entry, type InodeObject } from "../src/format/meta.ts";
import { checkPageMap, type PageMap } from "../src/format/page_map.ts";
import { readAll } from "../src/store/_util.ts";
import type { ObjectStore } from "../src/store/types.ts";
import type { Errno } from "../src/vfs/errors.ts";
import { FsError } from "../src/vfs/errors.ts";
import type { ReaddirPage, Stat } from "../src/vfs/types.ts";
import type { Vfs } from "../src/vfs/vfs.ts";

/** An error of the model, with the errno the filesystem must answer. */
export class ModelError extends Error {
  readonly code: Errno;
  constructor(code: Errno, message = code) {
    super(message);
    this.code = code;
  }
}

type Xattrs = Map<string, Uint8Array>;

export interface MFile {
  readonly kind: "file";
  readonly id: number;
  data: Uint8Array;
  nlink: number;
  xattr: Xattrs;
}
export interface MDir {
  readonly kind: "directory";
  readonly id: number;
  entries: Map<string, MNode>;
  xattr: Xattrs;
}
export interface MSymlink {
  readonly kind: "symlink";
  readonly id: number;
  readonly target: string;
  xattr: Xattrs;
}
export type MNode = MFile | MDir | MSymlink;

/** The parts of a stat the model predicts. Directories' size and link count are not. */
export interface ShortStat {
  readonly type: "file" | "directory" | "symlink";
  readonly size?: number;
  readonly nlink?: number;
}

interface Loc {
  readonly parent: MDir | null;
  readonly name: string;
  readonly entry: MNode | null;
  readonly names: readonly string[];
}

const MAX_HOPS = 40;
const encoder = new TextEncoder();

/** The in-memory reference filesystem. */
export class Model {
  root: MDir;
  #next = 2;

  constructor() {
    this.root = { kind: "directory", id: 1, entries: new Map(), xattr: new Map() };
  }

  /** A deep copy (hard links stay shared within the copy). */
  clone(): Model {
    const copy = new Model();
    copy.#next = this.#next;
    const seen = new Map<MNode, MNode>();
    const dup = (node: MNode): MNode => {
      const known = seen.get(node);
      if (known) return known;
      const xattr = new Map([...node.xattr].map(([k, v]) => [k, v.slice()]));
      let out: MNode;
      if (node.kind === "file") {
        out = { kind: "file", id: node.id, data: node.data.slice(), nlink: node.nlink, xattr };
      } else if (node.kind === "symlink") {
        out = { kind: "symlink", id: node.id, target: node.target, xattr };
      } else {
        const dir: MDir = { kind: "directory", id: node.id, entries: new Map(), xattr };
        seen.set(node, dir);
        for (const [name, child] of node.entries) dir.entries.set(name, dup(child));
        out = dir;
      }
      seen.set(node, out);
      return out;
    };
    copy.root = dup(this.root) as MDir;
    return copy;
  }

  // --- resolution (the same rules as src/vfs/resolve.ts: symlinks resolved against the
  // physical names of the directory holding them, ".." is the physical parent) ---

  #resolveDir(names: readonly string[], hops: { n: number }): { dir: MDir; names: string[] } {
    let dir = this.root;
    const at: string[] = [];
    for (let i = 0; i < names.length; i++) {
      const entry = dir.entries.get(names[i]!);
      if (!entry) throw new ModelError("ENOENT");
      if (entry.kind === "symlink") {
        if (++hops.n > MAX_HOPS) throw new ModelError("ELOOP");
        return this.#resolveDir([...joinTarget(at, entry.target), ...names.slice(i + 1)], hops);
      }
      if (entry.kind !== "directory") throw new ModelError("ENOTDIR");
      dir = entry;
      at.push(names[i]!);
    }
    return { dir, names: at };
  }

  #locate(path: string, follow: boolean, hops = { n: 0 }): Loc {
    const names = splitPath(path);
    const name = names.pop();
    if (name === undefined) return { parent: null, name: "", entry: null, names: [] };
    const { dir, names: at } = this.#resolveDir(names, hops);
    const entry = dir.entries.get(name) ?? null;
    if (follow && entry?.kind === "symlink") {
      if (++hops.n > MAX_HOPS) throw new ModelError("ELOOP");
      return this.#locate("/" + joinTarget(at, entry.target).join("/"), follow, hops);
    }
    return { parent: dir, name, entry, names: [...at, name] };
  }

  #newFile(): MFile {
    return { kind: "file", id: this.#next++, data: new Uint8Array(0), nlink: 1, xattr: new Map() };
  }

  /** The node at `path` (no symlink followed at the end), or null. */
  nodeAt(path: string): MNode | null {
    try {
      const loc = this.#locate(path, false);
      return loc.parent ? loc.entry : this.root;
    } catch {
      return null;
    }
  }

  /** What `path` leads to, a final symlink followed (null when nothing, or an error). */
  followed(path: string): MNode | null {
    try {
      const loc = this.#locate(path, true);
      return loc.parent ? loc.entry : this.root;
    } catch {
      return null;
    }
  }

  /**
   * The path of the entry `path` names (a final symlink not followed) with the symlinks
   * on the way resolved, or null when a step fails.
   */
  physical(path: string): string | null {
    try {
      return "/" + this.#locate(path, false).names.join("/");
    } catch {
      return null;
    }
  }

  /**
   * The path `path` leads to with every symlink resolved, a final one too (its last name
   * need not exist), or null when a step fails.
   */
  followedPath(path: string): string | null {
    try {
      return "/" + this.#locate(path, true).names.join("/");
    } catch {
      return null;
    }
  }

  // --- operations ---

  lookup(path: string): ShortStat {
    const loc = this.#locate(path, false);
    if (!loc.parent) return statOfNode(this.root);
    if (!loc.entry) throw new ModelError("ENOENT");
    return statOfNode(loc.entry);
  }

  getattr(path: string): ShortStat {
    const loc = this.#locate(path, true);
    if (!loc.parent) return statOfNode(this.root);
    if (!loc.entry) throw new ModelError("ENOENT");
    return statOfNode(loc.entry);
  }

  mkdir(path: string): ShortStat {
    const loc = this.#locate(path, false);
    if (!loc.parent || loc.entry) throw new ModelError("EEXIST");
    const dir: MDir = { kind: "directory", id: this.#next++, entries: new Map(), xattr: new Map() };
    loc.parent.entries.set(loc.name, dir);
    return statOfNode(dir);
  }

  /** open(O_CREAT [| O_EXCL]) and close. */
  create(path: string, exclusive: boolean): ShortStat {
    return statOfNode(this.#open(path, { create: true, exclusive }));
  }

  #open(path: string, options: { create?: boolean; exclusive?: boolean }): MFile {
    // O_EXCL does not follow a final symlink: an existing link is EEXIST (POSIX open()).
    const loc = this.#locate(path, !(options.create && options.exclusive));
    if (!loc.parent) throw new ModelError("EISDIR");
    if (loc.entry) {
      if (options.create && options.exclusive) throw new ModelError("EEXIST");
      if (loc.entry.kind === "directory") throw new ModelError("EISDIR");
      return loc.entry as MFile;
    }
    if (!options.create) throw new ModelError("ENOENT");
    const file = this.#newFile();
    loc.parent.entries.set(loc.name, file);
    return file;
  }

  /** A sequence of writes and truncates through one open handle. */
  writes(
    path: string,
    steps: readonly Step[],
    options: { create?: boolean; exclusive?: boolean; truncate?: boolean },
  ): ShortStat {
    const file = this.#open(path, options);
    if (options.truncate) file.data = resize(file.data, 0);
    for (const step of steps) {
      if ("size" in step) {
        file.data = resize(file.data, step.size);
      } else if (step.data.length > 0) {
        const end = step.offset + step.data.length;
        if (end > file.data.length) file.data = resize(file.data, end);
        file.data.set(step.data, step.offset);
      }
    }
    return statOfNode(file);
  }

  write(path: string, offset: number, data: Uint8Array, create: boolean): ShortStat {
    return this.writes(path, [{ offset, data }], { create });
  }

  /** O_APPEND: the bytes land at the end of the file as it is when they commit. */
  append(path: string, data: Uint8Array, create: boolean): ShortStat {
    const end = this.#open(path, { create }).data.length;
    return this.writes(path, [{ offset: end, data }], { create });
  }

  read(path: string, offset: number, length: number): Uint8Array {
    const loc = this.#locate(path, true);
    // read(2) of a directory is EISDIR, the root included.
    if (!loc.parent) throw new ModelError("EISDIR");
    if (!loc.entry) throw new ModelError("ENOENT");
    if (loc.entry.kind === "directory") throw new ModelError("EISDIR");
    const file = loc.entry as MFile;
    return file.data.slice(Math.min(offset, file.data.length), offset + length);
  }

  truncate(path: string, size: number): ShortStat {
    const loc = this.#locate(path, true);
    if (!loc.parent) throw new ModelError("EISDIR");
    if (!loc.entry) throw new ModelError("ENOENT");
    if (loc.entry.kind === "directory") throw new ModelError("EISDIR");
    const file = loc.entry as MFile;
    file.data = resize(file.data, size);
    return statOfNode(file);
  }

  unlink(path: string): void {
    const loc = this.#locate(path, false);
    if (!loc.parent) throw new ModelError("EISDIR");
    if (!loc.entry) throw new ModelError("ENOENT");
    if (loc.entry.kind === "directory") throw new ModelError("EISDIR"); // Linux's choice
    loc.parent.entries.delete(loc.name);
    if (loc.entry.kind === "file") loc.entry.nlink--;
  }

  rmdir(path: string): void {
    const loc = this.#locate(path, false);
    if (!loc.parent) throw new ModelError("EBUSY");
    if (!loc.entry) throw new ModelError("ENOENT");
    if (loc.entry.kind !== "directory") throw new ModelError("ENOTDIR");
    if (loc.entry.entries.size > 0) throw new ModelError("ENOTEMPTY");
    loc.parent.entries.delete(loc.name);
  }

  /** As `Vfs.rename`: "same file" when both names lead to one inode (nothing done). */
  rename(from: string, to: string, noReplace: boolean): "renamed" | "same file" {
    const src = this.#locate(from, false);
    if (!src.parent) throw new ModelError("EBUSY");
    if (!src.entry) throw new ModelError("ENOENT");
    const dst = this.#locate(to, false);
    if (!dst.parent) throw new ModelError("EBUSY");
    const entry = src.entry;
    const isDir = entry.kind === "directory";
    if (
      isDir && dst.names.length > src.names.length &&
      src.names.every((n, i) => dst.names[i] === n)
    ) {
      throw new ModelError("EINVAL");
    }
    const target = dst.entry;
    // Two names of one inode: rename does nothing (POSIX). PageFS checks this before
    // noReplace (Linux's renameat2 would say EEXIST with RENAME_NOREPLACE).
    if (target === entry) return "same file";
    if (target) {
      if (noReplace) throw new ModelError("EEXIST");
      if (isDir && target.kind !== "directory") throw new ModelError("ENOTDIR");
      if (!isDir && target.kind === "directory") throw new ModelError("EISDIR");
      if (target.kind === "directory" && target.entries.size > 0) {
        throw new ModelError("ENOTEMPTY");
      }
    }
    src.parent.entries.delete(src.name);
    dst.parent.entries.set(dst.name, entry);
    if (target?.kind === "file") target.nlink--;
    return "renamed";
  }

  link(existing: string, path: string): ShortStat {
    const src = this.#locate(existing, false);
    if (!src.entry) throw new ModelError("ENOENT");
    if (src.entry.kind === "directory") throw new ModelError("EPERM");
    // PageFS refuses hard links to symlinks (Linux would link the symlink itself).
    if (src.entry.kind === "symlink") throw new ModelError("EPERM");
    const dst = this.#locate(path, false);
    if (!dst.parent || dst.entry) throw new ModelError("EEXIST");
    src.entry.nlink++;
    dst.parent.entries.set(dst.name, src.entry);
    return statOfNode(src.entry);
  }

  symlink(target: string, path: string): ShortStat {
    const loc = this.#locate(path, false);
    if (!loc.parent || loc.entry) throw new ModelError("EEXIST");
    const link: MSymlink = { kind: "symlink", id: this.#next++, target, xattr: new Map() };
    loc.parent.entries.set(loc.name, link);
    return statOfNode(link);
  }

  readlink(path: string): string {
    const loc = this.#locate(path, false);
    if (!loc.parent) throw new ModelError("EINVAL");
    if (!loc.entry) throw new ModelError("ENOENT");
    if (loc.entry.kind !== "symlink") throw new ModelError("EINVAL");
    return loc.entry.target;
  }

  readdir(path: string): string[] {
    const { dir } = this.#resolveDir(splitPath(path), { n: 0 });
    return [...dir.entries.keys()].sort(compareUtf8);
  }

  #xattrOf(path: string): Xattrs {
    const loc = this.#locate(path, false);
    if (!loc.parent) return this.root.xattr;
    if (!loc.entry) throw new ModelError("ENOENT");
    return loc.entry.xattr;
  }

  setxattr(
    path: string,
    name: string,
    value: Uint8Array,
    flags: { create?: boolean; replace?: boolean },
  ): ShortStat {
    const xattr = this.#xattrOf(path);
    if (flags.create && xattr.has(name)) throw new ModelError("EEXIST");
    if (flags.replace && !xattr.has(name)) throw new ModelError("ENODATA");
    xattr.set(name, value.slice());
    return this.lookup(path);
  }

  getxattr(path: string, name: string): Uint8Array {
    const value = this.#xattrOf(path).get(name);
    if (!value) throw new ModelError("ENODATA");
    return value.slice();
  }

  removexattr(path: string, name: string): ShortStat {
    if (!this.#xattrOf(path).delete(name)) throw new ModelError("ENODATA");
    return this.lookup(path);
  }

  listxattr(path: string): string[] {
    return [...this.#xattrOf(path).keys()].sort();
  }

  /** Every path in the tree (not the root), parents before children. */
  paths(): string[] {
    const out: string[] = [];
    const walk = (dir: MDir, prefix: string) => {
      for (const [name, node] of [...dir.entries].sort(([a], [b]) => compareUtf8(a, b))) {
        const path = `${prefix}/${name}`;
        out.push(path);
        if (node.kind === "directory") walk(node, path);
      }
    };
    walk(this.root, "");
    return out;
  }
}

function statOfNode(node: MNode): ShortStat {
  switch (node.kind) {
    case "file":
      return { type: "file", size: node.data.length, nlink: node.nlink };
    case "symlink":
      return { type: "symlink", size: encoder.encode(node.target).length, nlink: 1 };
    case "directory":
      return { type: "directory" };
  }
}

/** The parts of a Vfs stat the model predicts. */
export function shortStat(stat: Stat): ShortStat {
  return stat.type === "directory"
    ? { type: "directory" }
    : { type: stat.type, size: stat.size, nlink: stat.nlink };
}

function resize(data: Uint8Array, size: number): Uint8Array {
  if (size === data.length) return data;
  const out = new Uint8Array(size);
  out.set(data.subarray(0, Math.min(size, data.length)));
  return out;
}

function splitPath(path: string): string[] {
  if (!path.startsWith("/")) throw new ModelError("EINVAL");
  return path.split("/").filter((n) => n !== "");
}

function joinTarget(base: readonly string[], target: string): string[] {
  const out = target.startsWith("/") ? [] : [...base];
  for (const part of target.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return out;
}

export function compareUtf8(a: string, b: string): number {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}

// --- one operation, applied to the model or to a Vfs ---

/** One step of a multi-write through one handle: a write, or a truncate. */
export type Step = { readonly offset: number; readonly data: Uint8Array } | {
  readonly size: number;
};

export type Op =
  | { readonly op: "mkdir"; readonly path: string }
  | { readonly op: "create"; readonly path: string; readonly exclusive: boolean }
  | {
    readonly op: "write";
    readonly path: string;
    readonly offset: number;
    readonly data: Uint8Array;
    readonly create: boolean;
  }
  | {
    readonly op: "writes";
    readonly path: string;
    readonly steps: readonly Step[];
    readonly create: boolean;
    readonly truncate: boolean;
  }
  | {
    readonly op: "append";
    readonly path: string;
    readonly data: Uint8Array;
    readonly create: boolean;
  }
  /** A whole-file replace (an HTTP PUT): create or truncate, then write. */
  | { readonly op: "writeFile"; readonly path: string; readonly data: Uint8Array }
  | { readonly op: "read"; readonly path: string; readonly offset: number; readonly length: number }
  | { readonly op: "truncate"; readonly path: string; readonly size: number }
  | { readonly op: "unlink"; readonly path: string }
  | { readonly op: "rmdir"; readonly path: string }
  | {
    readonly op: "rename";
    readonly from: string;
    readonly to: string;
    readonly noReplace: boolean;
  }
  | { readonly op: "link"; readonly existing: string; readonly path: string }
  | { readonly op: "symlink"; readonly target: string; readonly path: string }
  | { readonly op: "readlink"; readonly path: string }
  | {
    readonly op: "setxattr";
    readonly path: string;
    readonly name: string;
    readonly value: Uint8Array;
    readonly flags: { create?: boolean; replace?: boolean };
  }
  | { readonly op: "getxattr"; readonly path: string; readonly name: string }
  | { readonly op: "removexattr"; readonly path: string; readonly name: string }
  | { readonly op: "listxattr"; readonly path: string }
  | { readonly op: "readdir"; readonly path: string }
  | { readonly op: "lookup"; readonly path: string }
  | { readonly op: "getattr"; readonly path: string };

/** What an operation answered: a value, or an errno. */
export type Outcome = { readonly ok: true; readonly value: unknown } | {
  readonly ok: false;
  readonly code: string;
  readonly message?: string;
};

/** Whether an operation may change the tree. */
export function mutates(op: Op): boolean {
  return !["read", "readlink", "getxattr", "listxattr", "readdir", "lookup", "getattr"]
    .includes(op.op);
}

export function applyModel(model: Model, op: Op): Outcome {
  try {
    return { ok: true, value: runModel(model, op) };
  } catch (error) {
    if (error instanceof ModelError) return { ok: false, code: error.code };
    throw error;
  }
}

function runModel(m: Model, op: Op): unknown {
  switch (op.op) {
    case "mkdir":
      return m.mkdir(op.path);
    case "create":
      return m.create(op.path, op.exclusive);
    case "write":
      return m.write(op.path, op.offset, op.data, op.create);
    case "writes":
      return m.writes(op.path, op.steps, { create: op.create, truncate: op.truncate });
    case "append":
      return m.append(op.path, op.data, op.create);
    case "writeFile":
      return m.writes(op.path, [{ offset: 0, data: op.data }], { create: true, truncate: true });
    case "read":
      return m.read(op.path, op.offset, op.length);
    case "truncate":
      return m.truncate(op.path, op.size);
    case "unlink":
      return m.unlink(op.path);
    case "rmdir":
      return m.rmdir(op.path);
    case "rename":
      return m.rename(op.from, op.to, op.noReplace);
    case "link":
      return m.link(op.existing, op.path);
    case "symlink":
      return m.symlink(op.target, op.path);
    case "readlink":
      return m.readlink(op.path);
    case "setxattr":
      return m.setxattr(op.path, op.name, op.value, op.flags);
    case "getxattr":
      return m.getxattr(op.path, op.name);
    case "removexattr":
      return m.removexattr(op.path, op.name);
    case "listxattr":
      return m.listxattr(op.path);
    case "readdir":
      return m.readdir(op.path);
    case "lookup":
      return m.lookup(op.path);
    case "getattr":
      return m.getattr(op.path);
  }
}

/** How {@linkcode applyVfs} sends data. */
export interface ApplyOptions {
  /**
   * Sends the data of `write`, `append` and `writeFile` as this stream (e.g. a slow
   * client's upload) instead of as one buffer.
   */
  readonly body?: (data: Uint8Array) => ReadableStream<Uint8Array>;
}

export async function applyVfs(fs: Vfs, op: Op, options: ApplyOptions = {}): Promise<Outcome> {
  try {
    return { ok: true, value: await runVfs(fs, op, options) };
  } catch (error) {
    if (error instanceof FsError) return { ok: false, code: error.code, message: error.message };
    throw error;
  }
}

async function runVfs(fs: Vfs, op: Op, options: ApplyOptions): Promise<unknown> {
  const body = (data: Uint8Array) => options.body?.(data) ?? data;
  switch (op.op) {
    case "mkdir":
      return shortStat(await fs.mkdir(op.path));
    case "create":
      return shortStat(await fs.create(op.path, { exclusive: op.exclusive }));
    case "write":
      return shortStat(await fs.write(op.path, op.offset, body(op.data), { create: op.create }));
    case "writes": {
      const handle = await fs.open(op.path, { create: op.create, truncate: op.truncate });
      try {
        for (const step of op.steps) {
          if ("size" in step) handle.truncate(step.size);
          else await handle.write(step.offset, step.data);
        }
      } catch (error) {
        await handle.discard();
        throw error;
      }
      return shortStat(await handle.close());
    }
    case "append":
      return shortStat(await fs.append(op.path, body(op.data), { create: op.create }));
    case "writeFile":
      return shortStat(await fs.writeFile(op.path, body(op.data)));
    case "read":
      return await fs.read(op.path, op.offset, op.length);
    case "truncate":
      return shortStat(await fs.truncate(op.path, op.size));
    case "unlink":
      return await fs.unlink(op.path);
    case "rmdir":
      return await fs.rmdir(op.path);
    case "rename":
      return await fs.rename(op.from, op.to, { noReplace: op.noReplace });
    case "link":
      return shortStat(await fs.link(op.existing, op.path));
    case "symlink":
      return shortStat(await fs.symlink(op.target, op.path));
    case "readlink":
      return await fs.readlink(op.path);
    case "setxattr":
      return shortStat(await fs.setxattr(op.path, op.name, op.value, op.flags));
    case "getxattr":
      return await fs.getxattr(op.path, op.name);
    case "removexattr":
      return shortStat(await fs.removexattr(op.path, op.name));
    case "listxattr":
      return await fs.listxattr(op.path);
    case "readdir":
      return (await readdirAll(fs, op.path)).map((e) => e.name);
    case "lookup":
      return shortStat(await fs.lookup(op.path));
    case "getattr":
      return shortStat(await fs.getattr(op.path));
  }
}

/** Every entry of a directory, following the cursor across pages. */
export async function readdirAll(fs: Vfs, path: string) {
  const out = [];
  let cursor: string | null = null;
  do {
    const page: ReaddirPage = await fs.readdir(path, cursor === null ? {} : { cursor });
    out.push(...page.entries);
    cursor = page.cursor;
  } while (cursor !== null);
  return out;
}

/** A short description of an operation for failure messages (no bulk bytes). */
export function describe(op: Op): string {
  return JSON.stringify(op, (_k, v) => v instanceof Uint8Array ? `<${v.length} bytes>` : v);
}

/** Why two outcomes differ, or null when they agree. */
export function diffOutcome(actual: Outcome, expected: Outcome): string | null {
  if (actual.ok !== expected.ok) {
    return `expected ${show(expected)}, got ${show(actual)}`;
  }
  if (!actual.ok && !expected.ok) {
    return actual.code === expected.code ? null : `expected ${show(expected)}, got ${show(actual)}`;
  }
  if (!actual.ok || !expected.ok) return null;
  return diffValue(actual.value, expected.value);
}

function show(o: Outcome): string {
  if (!o.ok) return `error ${o.code}${o.message ? ` (${o.message})` : ""}`;
  return `ok ${
    JSON.stringify(o.value, (_k, v) => v instanceof Uint8Array ? `<${v.length} bytes>` : v)
  }`;
}

function diffValue(actual: unknown, expected: unknown): string | null {
  if (actual instanceof Uint8Array && expected instanceof Uint8Array) {
    return diffBytes(actual, expected);
  }
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  return a === e ? null : `expected ${e}, got ${a}`;
}

/** Where two byte arrays first differ, or null. */
export function diffBytes(actual: Uint8Array, expected: Uint8Array): string | null {
  const n = Math.min(actual.length, expected.length);
  for (let i = 0; i < n; i++) {
    if (actual[i] !== expected[i]) {
      return `bytes differ at ${i} (of ${expected.length}): expected ${expected[i]}, got ${
        actual[i]
      }; expected ${hex(expected, i)} got ${hex(actual, i)}`;
    }
  }
  if (actual.length !== expected.length) {
    return `expected ${expected.length} bytes, got ${actual.length}`;
  }
  return null;
}

function hex(bytes: Uint8Array, at: number): string {
  return Array.from(bytes.subarray(at, at + 8), (b) => b.toString(16).padStart(2, "0")).join("");
}

// --- whole-tree snapshots ---

/** What a tree holds at one path. */
export interface TreeNode {
  readonly type: "file" | "directory" | "symlink";
  readonly size?: number;
  readonly nlink?: number;
  readonly data?: Uint8Array;
  readonly target?: string;
  readonly xattr: Record<string, string>;
  /** Every path of the same inode (hard links), sorted. */
  links?: string;
}

export type Tree = Map<string, TreeNode>;

const xattrText = (value: Uint8Array) => Array.from(value).join(",");

export function modelTree(model: Model): Tree {
  const tree: Tree = new Map();
  const byNode = new Map<MNode, string[]>();
  for (const path of ["/", ...model.paths()]) {
    const node = model.nodeAt(path)!;
    const xattr = Object.fromEntries(
      [...node.xattr].sort(([a], [b]) => compareUtf8(a, b)).map(([k, v]) => [k, xattrText(v)]),
    );
    if (node.kind === "file") {
      tree.set(path, {
        type: "file",
        size: node.data.length,
        nlink: node.nlink,
        data: node.data,
        xattr,
      });
      byNode.set(node, [...(byNode.get(node) ?? []), path]);
    } else if (node.kind === "symlink") {
      tree.set(path, { type: "symlink", target: node.target, xattr });
    } else {
      tree.set(path, { type: "directory", xattr });
    }
  }
  for (const paths of byNode.values()) {
    for (const path of paths) tree.get(path)!.links = paths.sort().join(" ");
  }
  return tree;
}

/**
 * Walks a Vfs from the root by readdir, checking on the way that what a listing says
 * agrees with lookup and that every file's bytes can be read in full. With `include`,
 * only the paths it accepts (and what lies below them) are walked: a worker's own names
 * can be walked while other workers change theirs. With `onError`, a path that cannot
 * be read is reported to it and left out, and the walk goes on.
 */
export async function vfsTree(
  fs: Vfs,
  options: {
    include?: (path: string) => boolean;
    onError?: (path: string, error: unknown) => void;
  } = {},
): Promise<Tree> {
  const tree: Tree = new Map();
  const byIno = new Map<string, string[]>();
  const walk = async (path: string, stat: Stat) => {
    const names = await fs.listxattr(path);
    const xattr: Record<string, string> = {};
    for (const name of names) xattr[name] = xattrText(await fs.getxattr(path, name));
    if (stat.type === "directory") {
      tree.set(path, { type: "directory", xattr });
      for (const entry of await readdirAll(fs, path)) {
        const child = path === "/" ? `/${entry.name}` : `${path}/${entry.name}`;
        if (options.include && !options.include(child)) continue;
        // lookup, not the listing's stat: looking up settles renames in flight, so what a
        // name leads to may have changed since the listing (as by another instance).
        if (!options.onError) await walk(child, await fs.lookup(child));
        else {
          await fs.lookup(child).then((stat) => walk(child, stat)).catch((error) =>
            options.onError!(child, error)
          );
        }
      }
    } else if (stat.type === "symlink") {
      tree.set(path, { type: "symlink", target: await fs.readlink(path), xattr });
    } else {
      const data = await fs.read(path, 0, stat.size + 1);
      tree.set(path, { type: "file", size: stat.size, nlink: stat.nlink, data, xattr });
      byIno.set(stat.ino, [...(byIno.get(stat.ino) ?? []), path]);
    }
  };
  await walk("/", await fs.lookup("/"));
  for (const paths of byIno.values()) {
    for (const path of paths) tree.get(path)!.links = paths.sort().join(" ");
  }
  return tree;
}

/** The differences between two trees (empty when equal). */
export function diffTrees(
  actual: Tree,
  expected: Tree,
  options: { nlink?: "exact" | "at-least" } = {},
): string[] {
  const out: string[] = [];
  for (const [path, want] of expected) {
    const got = actual.get(path);
    if (!got) {
      out.push(`${path}: missing (expected ${want.type})`);
      continue;
    }
    if (got.type !== want.type) {
      out.push(`${path}: expected a ${want.type}, got a ${got.type}`);
      continue;
    }
    if (want.size !== undefined && got.size !== want.size) {
      out.push(`${path}: expected size ${want.size}, got ${got.size}`);
    }
    if (want.data && got.data) {
      const diff = diffBytes(got.data, want.data);
      if (diff) out.push(`${path}: ${diff}`);
    }
    if (want.target !== got.target) {
      out.push(`${path}: expected target ${want.target}, got ${got.target}`);
    }
    if (want.nlink !== undefined) {
      const bad = options.nlink === "at-least" ? got.nlink! < want.nlink : got.nlink !== want.nlink;
      if (bad) out.push(`${path}: expected nlink ${want.nlink}, got ${got.nlink}`);
    }
    if (want.links !== got.links) {
      out.push(`${path}: expected links [${want.links}], got [${got.links}]`);
    }
    if (JSON.stringify(got.xattr) !== JSON.stringify(want.xattr)) {
      out.push(
        `${path}: expected xattrs ${JSON.stringify(want.xattr)}, got ${JSON.stringify(got.xattr)}`,
      );
    }
  }
  for (const path of actual.keys()) {
    if (!expected.has(path)) out.push(`${path}: unexpected ${actual.get(path)!.type}`);
  }
  return out;
}

// --- raw consistency of the bucket ---

/**
 * Checks the objects reachable from the root, bypassing the Vfs (whose readdir hides
 * entries it cannot stat): every directory entry points at an existing object, no
 * reachable directory is marked as being removed, every hard-linked inode has at least
 * as many links counted as entries name it, and every page map's extents lie inside
 * existing segments. Returns the problems found.
 */
export async function checkConsistency(
  store: ObjectStore,
  options: { allowMoving?: boolean } = {},
): Promise<string[]> {
  const dirs = new Directories(new MetaStore(store));
  const problems: string[] = [];
  const links = new Map<string, { count: number; path: string }>();
  /** Where each inode that only one entry may name (file, directory, symlink) is named. */
  const single = new Map<string, string>();
  const segmentSizes = new Map<string, number | null>();
  const checkData = async (
    path: string,
    record: { data?: string; map?: PageMap; mapRef?: string; attr: { size: number } },
  ) => {
    let map = record.map;
    if (record.mapRef) {
      const got = await store.get(mapKey(record.mapRef));
      if (got?.status !== "ok") {
        problems.push(`${path}: spilled page map ${record.mapRef} is missing`);
        return;
      }
      map = checkPageMap(JSON.parse(new TextDecoder().decode(await readAll(got.body))));
    }
    for (const [offset, length, segment, segmentOffset] of map ?? []) {
      if (offset + length > record.attr.size) {
        problems.push(`${path}: extent at ${offset} ends past the size ${record.attr.size}`);
      }
      const ref = parseSegmentRef(segment);
      if (!ref) {
        problems.push(`${path}: bad segment reference ${segment}`);
        continue;
      }
      if (!segmentSizes.has(ref.id)) {
        segmentSizes.set(ref.id, (await store.head(segmentKey(ref.id)))?.size ?? null);
      }
      const size = segmentSizes.get(ref.id);
      if (size === null || size === undefined) {
        problems.push(`${path}: segment ${ref.id} is missing`);
      } else if (segmentOffset + length > size || size !== ref.size) {
        problems.push(`${path}: extent [${segmentOffset}, +${length}) outside segment of ${size}`);
      }
    }
  };
  const walk = async (ino: string, path: string) => {
    const dir = await dirs.get(ino);
    if (!dir) {
      problems.push(`${path}: directory object ${ino} is missing`);
      return;
    }
    if (dir.value.removing) {
      problems.push(`${path}: reachable directory is marked as being removed`);
    }
    let entries: [string, Entry][];
    try {
      entries = await dirs.list(dir.value);
    } catch (error) {
      problems.push(`${path}: cannot list: ${error}`);
      return;
    }
    for (const [name, entry] of entries) {
      const child = path === "/" ? `/${name}` : `${path}/${name}`;
      if (entry.moving && !options.allowMoving) {
        problems.push(`${child}: rename intent left behind`);
      }
      if (entry.t !== "h") {
        const other = single.get(entry.ino);
        if (other) problems.push(`${child}: inode ${entry.ino} is also named by ${other}`);
        single.set(entry.ino, child);
      }
      if (entry.t === "d") {
        const sub = await dirs.get(entry.ino);
        if (sub && sub.value.parent !== ino) {
          problems.push(`${child}: directory's parent pointer is ${sub.value.parent}, not ${ino}`);
        }
        await walk(entry.ino, child);
      } else if (entry.t === "h") {
        const seen = links.get(entry.ino);
        links.set(entry.ino, { count: (seen?.count ?? 0) + 1, path: child });
      } else if (entry.t === "f") {
        await checkData(child, entry);
      }
    }
  };
  await walk(ROOT_INO, "/");
  for (const [ino, { count, path }] of links) {
    if (single.has(ino)) problems.push(`${path}: inode ${ino} is also named by ${single.get(ino)}`);
    const inode = await dirs.meta.read<InodeObject>(inodeKey(ino), checkInode);
    if (!inode) {
      problems.push(`${path}: hard-linked inode ${ino} is missing`);
      continue;
    }
    if (inode.value.nlink < count) {
      problems.push(
        `${path}: inode ${ino} counts ${inode.value.nlink} links, ${count} entries name it`,
      );
    }
    await checkData(path, inode.value);
  }
  return problems;
}

// --- a small seeded PRNG ---

/** mulberry32: a tiny seeded PRNG, so a failing run reproduces from its seed. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

/** Where directory `name` is (depth first from the root), or null. */
export async function findDir(fs: Vfs, name: string, path = "/"): Promise<string | null> {
  const listing = await fs.readdir(path).catch(() => null);
  for (const entry of listing?.entries ?? []) {
    if (entry.stat?.type !== "directory") continue;
    const child = path === "/" ? `/${entry.name}` : `${path}/${entry.name}`;
    if (entry.name === name) return child;
    const found = await findDir(fs, name, child);
    if (found) return found;
  }
  return null;
}

/**
 * The seeds a fuzz test runs, from the environment: `FUZZ_SEED=S` alone, else `FUZZ_SEEDS`
 * (default `count`) seeds from `FUZZ_FIRST` (default 1).
 */
export function fuzzSeeds(count: number): number[] {
  const env = (name: string) => Deno.env.get(name);
  if (env("FUZZ_SEED")) return [Number(env("FUZZ_SEED"))];
  const first = Number(env("FUZZ_FIRST") ?? 1);
  return Array.from({ length: Number(env("FUZZ_SEEDS") ?? count) }, (_, i) => i + first);
}
