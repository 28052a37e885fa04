/**
 * POST `/fs/<path>` with a JSON body `{ "op": ..., ... }`: the operations that are not
 * content transfers. Each answers the resulting stat (201 when it created something).
 *
 * @module
 */

import type { Context, Hono } from "hono";
import { type Alias, FsError, isFsError, type Stat, type Vfs } from "../vfs/mod.ts";
import { badRequest, preconditionFailed } from "./errors.ts";
import { checkLocks, lockAlias } from "../http/locks.ts";
import { readJsonObject } from "../http/input.ts";
import { namedPathOf } from "./path.ts";
import {
  commitCheck,
  commitTags,
  conditionalHeaders,
  evaluatePreconditions,
} from "../http/preconditions.ts";
import { statJson } from "./render.ts";
import { JsonFields } from "./validate.ts";
import { statOrNull } from "./write_routes.ts";

/** What an operation did: where the result is, its stat, and whether it is new. */
interface OpResult {
  readonly path: string;
  readonly stat: Stat;
  readonly created?: boolean;
}

interface Operation {
  /** Fields besides "op". */
  readonly fields: readonly string[];
  /**
   * `expect`: the request's preconditions, for an operation that can check them again on
   * the version it acts on (rename in its commit, copy on what it reads); the others are
   * decided up front.
   */
  run(
    vfs: Vfs,
    path: string,
    f: JsonFields,
    expect?: (stat: Stat) => boolean,
    ifMatch?: { ifMatch?: readonly string[] },
    alias?: (path: string) => Alias,
  ): Promise<OpResult>;
}

const at = (path: string, stat: Stat, created = false): OpResult => ({ path, stat, created });

/**
 * A `to` that ends with a slash names a directory (rename(2) of a file to "b/" is ENOTDIR):
 * before, the slash was dropped, and a file renamed, copied or linked to "b/" became "b".
 */
function checkSlashedTo(f: JsonFields, source: Stat | null): void {
  if (f.slashed("to") && source?.type !== "directory") {
    throw new FsError("ENOTDIR", "Not a directory: the target ends with a slash", {
      path: f.string("to"),
    });
  }
}

/** Whether `path` names anything now. */
async function exists(vfs: Vfs, path: string): Promise<boolean> {
  return await vfs.lookup(path).then(() => true, (error) => {
    // A loop no longer names anything (a rename can make one of the path it came through).
    if (isFsError(error, "ENOENT", "ENOTDIR", "ELOOP")) return false;
    throw error;
  });
}

/** Every operation, by name. */
export const OPERATIONS: Readonly<Record<string, Operation>> = {
  mkdir: {
    fields: ["parents", "mode"],
    async run(vfs, path, f) {
      const mode = f.has("mode") ? { mode: f.mode("mode") } : {};
      return at(path, await vfs.mkdir(path, { parents: f.flag("parents"), ...mode }), true);
    },
  },
  rename: {
    fields: ["to", "noReplace"],
    async run(vfs, path, f, expect, _ifMatch, alias) {
      const to = f.path("to");
      // What is moved, as it is before (read anyway by the rename, which reuses it): the
      // answer if it is moved on or removed right after, before the look below.
      const before = await vfs.lookup(path);
      checkSlashedTo(f, before);
      await vfs.rename(path, to, { noReplace: f.flag("noReplace"), ...(expect ? { expect } : {}) });
      // The rename is done: a target path that no longer resolves is answered with what
      // was moved, ELOOP included (a symlink renamed over the one the path went through:
      // `/a/a` to `/b/b` with /a -> b and /b -> /; before: 400 for a rename that happened,
      // protocol fuzz ext seed 27253).
      const after = await vfs.lookup(to).catch((error) => {
        if (isFsError(error, "ENOENT", "ENOTDIR", "ELOOP")) return null;
        throw error;
      });
      // The old path is unmapped (unless both names were one inode): its locks go, as a
      // WebDAV MOVE's do (RFC 4918 section 6.1).
      if (!(await exists(vfs, path))) {
        await vfs.locks.release(path, alias ? { alias: alias(path) } : {});
      }
      return at(to, after?.ino === before.ino ? after : before);
    },
  },
  copy: {
    fields: ["to", "noReplace"],
    async run(vfs, path, f, expect) {
      const to = f.path("to");
      if (f.slashed("to")) checkSlashedTo(f, await vfs.getattr(path));
      const options = { noReplace: f.flag("noReplace"), ...(expect ? { expect } : {}) };
      return at(to, await vfs.copy(path, to, options), true);
    },
  },
  symlink: {
    fields: ["target"],
    async run(vfs, path, f) {
      return at(path, await vfs.symlink(f.string("target"), path), true);
    },
  },
  link: {
    fields: ["to"],
    async run(vfs, path, f) {
      const to = f.path("to");
      checkSlashedTo(f, null);
      return at(to, await vfs.link(path, to), true);
    },
  },
  truncate: {
    fields: ["size"],
    async run(vfs, path, f, _expect, ifMatch) {
      // If-Match's tags (one or a list) are checked in the commit's CAS (a version written
      // since the look is not cut); other conditions were decided up front.
      return at(path, await vfs.truncate(path, f.uint("size"), ifMatch ?? {}));
    },
  },
  chmod: {
    fields: ["mode"],
    async run(vfs, path, f) {
      return at(path, await vfs.setattr(path, { mode: f.mode("mode") }));
    },
  },
  chown: {
    fields: ["uid", "gid"],
    async run(vfs, path, f) {
      if (!f.has("uid") && !f.has("gid")) throw badRequest('chown needs "uid" or "gid"');
      const uid = f.has("uid") ? { uid: f.uint("uid", 0xffffffff) } : {};
      const gid = f.has("gid") ? { gid: f.uint("gid", 0xffffffff) } : {};
      return at(path, await vfs.setattr(path, { ...uid, ...gid }));
    },
  },
  utimes: {
    fields: ["atime", "mtime"],
    async run(vfs, path, f) {
      // Neither time given means "now" for both, as utimes(path, NULL) does.
      const now = Date.now();
      const atime = f.has("atime") ? f.time("atime") : f.has("mtime") ? undefined : now;
      const mtime = f.has("mtime") ? f.time("mtime") : f.has("atime") ? undefined : now;
      return at(
        path,
        await vfs.setattr(path, {
          ...(atime === undefined ? {} : { atime }),
          ...(mtime === undefined ? {} : { mtime }),
        }),
      );
    },
  },
  setxattr: {
    fields: ["name", "value", "create", "replace"],
    async run(vfs, path, f) {
      const flags = { create: f.flag("create"), replace: f.flag("replace") };
      // The stat as the change left it: a look after it could find the path removed
      // since, and answer 404 for a change that happened.
      return at(path, await vfs.setxattr(path, f.string("name"), f.base64("value"), flags));
    },
  },
  removexattr: {
    fields: ["name"],
    async run(vfs, path, f) {
      return at(path, await vfs.removexattr(path, f.string("name")));
    },
  },
};

/** Registers POST on `/fs/*`. */
export function registerPostRoutes(
  app: Hono,
  vfsOf: (c: Context) => Vfs,
  options: { maxJsonBytes: number; checkTarget?: (c: Context, path: string) => void },
): void {
  app.post("/fs/*", (c) => postFs(c, vfsOf(c), options));
}

async function postFs(
  c: Context,
  vfs: Vfs,
  options: { maxJsonBytes: number; checkTarget?: (c: Context, path: string) => void },
): Promise<Response> {
  const maxJsonBytes = options.maxJsonBytes;
  const path = await namedPathOf(c, vfs);
  const body = await readJsonObject(c, maxJsonBytes);
  if (typeof body.op !== "string") throw badRequest('The body needs an "op" string');
  const operation = Object.hasOwn(OPERATIONS, body.op) ? OPERATIONS[body.op] : undefined;
  if (!operation) throw badRequest(`Unknown operation "${body.op}"`);
  const fields = new JsonFields(body, ["op", ...operation.fields]);
  // A second path in the body (rename, copy, link) is written too: the caller may need
  // to check that the requester may write there as well as at the URL's path.
  const to = operation.fields.includes("to") && fields.has("to") ? fields.path("to") : null;
  if (to !== null) options.checkTarget?.(c, to);
  const conditions = conditionalHeaders(c.req.raw.headers);
  if (Object.values(conditions).some((v) => v !== undefined)) {
    evaluatePreconditions(conditions, await statOrNull(vfs, path), false);
  }
  // The locks the change needs tokens for: copy and link only read the URL's path; mkdir
  // and symlink add it, rename removes it (and its tree); the rest change it in place. A
  // second path is created, or replaced with whatever is below it.
  const op = body.op;
  if (op !== "copy" && op !== "link") {
    const membership = op === "mkdir" || op === "symlink" || op === "rename";
    // Through a final symlink for those that follow it (as setattr does; xattrs do not).
    const follow = op === "truncate" || op === "chmod" || op === "chown" || op === "utimes";
    await checkLocks(c, vfs, path, { membership, tree: op === "rename", follow });
  }
  if (to !== null) await checkLocks(c, vfs, to, { membership: true, tree: true });
  const expect = commitCheck(conditions);
  const ifMatch = commitTags(conditions.ifMatch);
  const alias = (p: string) => lockAlias(c, vfs, p);
  const result = await operation.run(vfs, path, fields, expect, ifMatch, alias).catch(
    async (error) => {
      if (expect && isFsError(error, "ESTALE")) {
        throw preconditionFailed("Precondition failed: the resource changed meanwhile", "ESTALE");
      }
      // Gone since the conditions were judged: If-Match is false now (RFC 9110 13.1.1), as
      // it is in the order where the removal came first (before: 404; protocol fuzz ext).
      if (
        conditions.ifMatch !== undefined && isFsError(error, "ENOENT") &&
        await statOrNull(vfs, path) === null
      ) {
        throw preconditionFailed("If-Match failed: the resource was removed meanwhile", "ENOENT");
      }
      throw error;
    },
  );
  const json = statJson(result.path, result.stat);
  if (!result.created) return c.json(json, 200);
  return c.json(json, 201, { location: locationOf(c, result.path) });
}

/** The URL of `path` under the same `/fs/` route as this request. */
function locationOf(c: Context, path: string): string {
  const prefix = c.req.routePath.replace(/\/\*$/, "");
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  return prefix + encoded;
}
