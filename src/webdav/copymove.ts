/**
 * COPY and MOVE (RFC 4918 sections 9.8 and 9.9). A MOVE is one VFS rename, atomic for
 * files and whole directory trees alike; a COPY shares the source's data (segments are
 * immutable), so copying a large file uploads nothing.
 *
 * @module
 */

import { isFsError } from "../vfs/mod.ts";
import { DavError } from "./errors.ts";
import { parseDepth, parseOverwrite } from "./headers.ts";
import { destinationPath, isWithin } from "./paths.ts";
import { multistatusOfFailures, requireParent } from "./content.ts";
import { type DavRequest, guard, regard, statOrNull } from "./request.ts";

/** COPY (`move` false) or MOVE (`move` true). */
export async function copyMoveMethod(req: DavRequest, move: boolean): Promise<Response> {
  const { vfs, path: from } = req;
  const header = req.c.req.header("destination") ?? null;
  const to = destinationPath(header, req.url, req.mount).path;
  const overwrite = parseOverwrite(req.c.req.header("overwrite") ?? null);
  const depth = parseDepth(req.c.req.header("depth") ?? null, "infinity");
  if (depth === "1" || (move && depth !== "infinity")) {
    throw new DavError(400, `${move ? "MOVE" : "COPY"} does not take Depth ${depth}`);
  }
  if (from === "/") throw new DavError(403, "Cannot copy or move the root collection");
  const source = await vfs.lookup(from);
  // Onto itself, into itself, or over its own ancestor (which Overwrite would remove,
  // source and all): RFC 4918 section 9.8.5's 403, before anything changes.
  if (to === from) throw new DavError(403, "Source and destination are the same resource");
  if (isWithin(to, from)) throw new DavError(403, "Cannot copy or move a resource into itself");
  if (isWithin(from, to)) {
    throw new DavError(403, "Cannot copy or move a resource onto its own ancestor");
  }
  const target = await statOrNull(vfs, to);
  if (target && !overwrite) {
    throw new DavError(412, "The destination exists and Overwrite is F");
  }
  await requireParent(vfs, to);
  const touches = [{ path: to, membership: true, tree: true }];
  if (move) touches.push({ path: from, membership: true, tree: true });
  await guard(req, touches);

  // The gate runs again right before each step that changes something, so a lock taken
  // meanwhile (through any instance) stops the rest.
  const recheck = regard(req, touches);
  try {
    // Replacing a file with a file (or an empty directory) is part of the atomic rename;
    // anything else goes first, as RFC 4918 section 9.9.3 describes.
    const atomicReplace = move && target && source.type !== "directory" &&
      target.type !== "directory";
    if (target && !atomicReplace) {
      const failures = await vfs.removeTree(to, { beforeEach: recheck.beforeCommit });
      if (failures.size > 0) return multistatusOfFailures(req, failures);
    }
    if (move) {
      await recheck.beforeCommit();
      try {
        // Overwrite F: a destination that appeared since the look above (a create through
        // another instance) is not replaced.
        await vfs.rename(from, to, { noReplace: !overwrite });
      } catch (error) {
        if (isFsError(error, "EEXIST")) throw appeared(overwrite);
        throw error;
      }
      await req.locks.release(from);
    } else if (depth === "0" && source.type === "directory") {
      await recheck.beforeCommit();
      await vfs.mkdir(to, { mode: source.mode });
      const xattrs = await vfs.getxattrs(from);
      if (Object.keys(xattrs).length > 0) await vfs.updatexattrs(to, { set: xattrs });
    } else {
      try {
        await vfs.copy(from, to, { beforeEach: recheck.beforeCommit });
      } catch (error) {
        if (isFsError(error, "EEXIST")) throw appeared(overwrite);
        throw error;
      }
    }
  } catch (error) {
    throw recheck.reason(error);
  }
  return req.c.body(null, target ? 204 : 201);
}

/**
 * A destination that appeared while the MOVE or COPY was under way: with Overwrite F its
 * precondition failed (412); with T nothing was done and the client may try again (409).
 */
function appeared(overwrite: boolean): DavError {
  return overwrite
    ? new DavError(409, "The destination changed during the request; nothing was done")
    : new DavError(412, "The destination appeared");
}
