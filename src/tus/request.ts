/**
 * What a tus creation request asks for, read from its `Upload-Metadata`: the target path
 * and the PUT preconditions it carries.
 *
 * @module
 */

import { badRequest } from "../http/errors.ts";
import { checkSegment, parseJsonPath } from "../http/path.ts";
import { isStagingPath, type UploadRecord } from "./uploads.ts";

/** The target path an upload's metadata names: `path`, or `filename` in `dir`. */
export function targetOf(meta: Record<string, string>): string {
  let path: string;
  if (meta.path !== undefined) {
    if (meta.path.endsWith("/")) throw badRequest("The upload's path names a folder");
    path = parseJsonPath(meta.path);
  } else {
    const filename = meta.filename ?? meta.name;
    if (filename === undefined) {
      throw badRequest("Upload-Metadata needs `path`, or `filename` (with an optional `dir`)");
    }
    checkSegment(filename, filename);
    const dir = parseJsonPath(meta.dir ?? "/");
    path = dir === "/" ? `/${filename}` : `${dir}/${filename}`;
    // Joined names are each valid; the whole must still fit.
    path = parseJsonPath(path);
  }
  if (path === "/") throw badRequest("An upload cannot replace the root");
  if (isStagingPath(path)) throw badRequest("The staging folder is reserved for the server");
  return path;
}

/** The If-Match / If-None-Match of PUT, from metadata `ifMatch` / `ifNoneMatch`. */
export function preconditionsOf(
  meta: Record<string, string>,
): Pick<UploadRecord, "noReplace" | "ifMatch"> {
  const out: { noReplace?: boolean; ifMatch?: string } = {};
  if (meta.ifNoneMatch !== undefined) {
    if (meta.ifNoneMatch.trim() !== "*") throw badRequest('Metadata ifNoneMatch must be "*"');
    out.noReplace = true;
  }
  if (meta.ifMatch !== undefined) {
    const match = /^\s*"?([\x21\x23-\x7e]{1,200})"?\s*$/.exec(meta.ifMatch);
    if (!match) throw badRequest("Metadata ifMatch must be one strong ETag");
    out.ifMatch = match[1]!;
  }
  return out;
}
