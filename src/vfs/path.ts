/**
 * Path and name rules. A name is any UTF-8 except "/" and NUL, at most 255 bytes, and not
 * "." or "..". A path is "/" or "/"-separated names from the root; front ends decode and
 * normalise their URLs before they get here, so "." and ".." components are errors.
 *
 * @module
 */

import { FsError } from "./errors.ts";

export const NAME_MAX = 255;
export const PATH_MAX = 4096;

const encoder = new TextEncoder();

/**
 * UTF-8 length of `text` exceeds `max`. A UTF-16 unit takes at most 3 bytes (a surrogate
 * pair, 2 units, takes 4), so text of at most `max / 3` units is never encoded to count.
 */
function longerThan(text: string, max: number): boolean {
  return text.length * 3 > max && encoder.encode(text).length > max;
}

/** Checks one name. @throws {FsError} EINVAL or ENAMETOOLONG. */
export function checkName(name: string, path?: string): void {
  if (name === "" || name === "." || name === "..") {
    throw new FsError("EINVAL", `Invalid name "${name}"`, where(path));
  }
  if (name.includes("/") || name.includes("\0")) {
    throw new FsError("EINVAL", "Names may not contain '/' or NUL", where(path));
  }
  if (!name.isWellFormed()) {
    throw new FsError("EINVAL", "Names must be valid Unicode", where(path));
  }
  if (longerThan(name, NAME_MAX)) {
    throw new FsError("ENAMETOOLONG", `Name longer than ${NAME_MAX} bytes`, where(path));
  }
}

function where(path: string | undefined): { path?: string } {
  return path === undefined ? {} : { path };
}

/**
 * Splits an absolute path into its names; repeated and trailing slashes are ignored.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitPath } from "./path.ts";
 * assert(splitPath("/a//b/").join() === "a,b");
 * assert(splitPath("/").length === 0);
 * ```
 * @throws {FsError} EINVAL for a relative path or a bad name, ENAMETOOLONG when too long.
 */
export function splitPath(path: string): string[] {
  if (typeof path !== "string" || !path.startsWith("/")) {
    throw new FsError("EINVAL", "Paths must be absolute", { path: String(path) });
  }
  if (longerThan(path, PATH_MAX)) {
    throw new FsError("ENAMETOOLONG", `Path longer than ${PATH_MAX} bytes`, { path });
  }
  const names = path.split("/").filter((n) => n !== "");
  for (const name of names) checkName(name, path);
  return names;
}

/** Joins names into an absolute path. */
export function joinPath(names: readonly string[]): string {
  return "/" + names.join("/");
}

/**
 * The parent directory of a normalised absolute path: "/" for a top-level name (and for the
 * root). The one copy of this rule: the lock table and the front ends (REST, WebDAV, tus)
 * each kept their own until session 16.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parentOf } from "./path.ts";
 * assert(parentOf("/a/b") === "/a");
 * assert(parentOf("/a") === "/");
 * ```
 */
export function parentOf(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

/** The parent's names and the last name of a path that is not the root. */
export function splitParent(path: string): { parent: string[]; name: string } {
  const names = splitPath(path);
  const name = names.pop();
  if (name === undefined) throw new FsError("EINVAL", "The root has no parent", { path });
  return { parent: names, name };
}
