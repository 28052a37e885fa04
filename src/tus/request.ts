/**
 * What a tus creation request asks for, read from its `Upload-Metadata` and headers: the
 * target path, the PUT preconditions it carries, and the origin the client reached us by
 * (for `Location`).
 *
 * @module
 */

import type { Context } from "hono";
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

/**
 * The scheme and host a client reached us by: the request's, or (with `trustForwarded`)
 * what a reverse proxy forwarded. Forwarded headers are trusted only when configured, as
 * reverse-proxy aware servers do (@tus/server's `respectForwardedHeaders`, Express's
 * `trust proxy`): without a proxy that overwrites them, a client could name any host, and
 * `Location` would send its next requests (credentials included) there.
 */
export function originOf(c: Context, trustForwarded: boolean): string {
  const url = new URL(c.req.url);
  let proto = url.protocol.slice(0, -1);
  let host = url.host;
  if (!trustForwarded) return `${proto}://${host}`;
  const forwarded = c.req.header("forwarded")?.split(",")[0];
  const fwdHost = forwarded?.match(/(?:^|;)\s*host="?([^";]+)"?/i)?.[1] ??
    c.req.header("x-forwarded-host")?.split(",")[0]?.trim();
  const fwdProto = forwarded?.match(/(?:^|;)\s*proto="?([^";]+)"?/i)?.[1] ??
    c.req.header("x-forwarded-proto")?.split(",")[0]?.trim();
  if (fwdHost && /^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/.test(fwdHost)) {
    host = fwdHost;
  }
  if (fwdProto && /^https?$/i.test(fwdProto)) proto = fwdProto.toLowerCase();
  return `${proto}://${host}`;
}
