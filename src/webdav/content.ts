/**
 * Methods on content and namespace: OPTIONS, GET/HEAD, PUT, DELETE and MKCOL.
 *
 * @module
 */

import { answer } from "../http/answer.ts";
import { clientMtimeMs } from "../http/client_mtime.ts";
import { contentLength, requestBody, smallBody } from "../http/input.ts";
import { fileBody } from "../http/file_body.ts";
import { contentTypeOf } from "../http/media_types.ts";
import {
  commitCheck,
  commitTags,
  type ConditionalHeaders,
  conditionalHeaders,
  evaluatePreconditions,
  evaluateUnvalidated,
  unconditional,
  validatorHeaders,
} from "../http/preconditions.ts";
import { parseContentRange, requestedSpan } from "../http/ranges.ts";
import { nameHtml, shownName } from "../http/shown_name.ts";
import {
  ChangedError,
  isFsError,
  LockedError,
  parentOf,
  type Stat,
  type Vfs,
  WholeBody,
} from "../vfs/mod.ts";
import { DavError, messageOf, statusOf } from "./errors.ts";
import { parseDepth } from "./headers.ts";
import { type DavRequest, guard, href, regard, releaseLocks, statOrNull } from "./request.ts";
import { DAV, escapeXml, renderXml, type XmlOut } from "./xml.ts";
import { markStreamedByRuntime } from "../observe/request_log.ts";

/** Methods this server answers on every resource. */
export const ALLOW =
  "OPTIONS, GET, HEAD, PUT, DELETE, MKCOL, COPY, MOVE, PROPFIND, PROPPATCH, LOCK, UNLOCK";

export function optionsMethod(req: DavRequest): Response {
  return req.c.body(null, 200, {
    "dav": "1, 2",
    "allow": ALLOW,
    "ms-author-via": "DAV",
    "accept-ranges": "bytes",
    "content-length": "0",
  });
}

/** Times a GET looks again when the file changed between its look and its read. */
const READ_ATTEMPTS = 3;

/**
 * GET and HEAD: file bytes with ranges and conditionals; a collection gets an HTML index.
 * The preconditions, the range and the declared length are those of the version whose
 * bytes are sent: a file replaced between the look and the read is looked at again.
 */
export async function getMethod(req: DavRequest): Promise<Response> {
  for (let attempt = 0; attempt < READ_ATTEMPTS; attempt++) {
    const stat = await req.vfs.getattr(req.path);
    if (stat.type === "directory") return await collectionIndex(req);
    const response = await getFile(req, stat);
    if (response) return response;
  }
  throw new DavError(503, "The file changed during every read attempt");
}

/** A file's GET or HEAD for version `stat`; null if the file changed before its read. */
async function getFile(req: DavRequest, stat: Stat): Promise<Response | null> {
  const headers: Record<string, string> = {
    ...validatorHeaders(stat),
    "content-type": contentTypeOf(req.path),
    "content-security-policy": "sandbox",
    "x-content-type-options": "nosniff",
  };
  const conditions = conditionalHeaders(req.c.req.raw.headers);
  if (evaluatePreconditions(conditions, stat, true) === "not-modified") {
    return answer(null, 304, headers);
  }
  const { offset, length, status, headers: span } = requestedSpan(req.c.req.raw, stat);
  Object.assign(headers, span);
  if (req.c.req.method === "HEAD") return answer(null, status, headers);
  const read = await fileBody(req.vfs, req.path, stat, { offset, length });
  if (!read) return null;
  if (read.direct) markStreamedByRuntime(req.c, read.sent);
  return answer(read.body, status, headers);
}

async function collectionIndex(req: DavRequest): Promise<Response> {
  if (evaluateUnvalidated(conditionalHeaders(req.c.req.raw.headers)) === "not-modified") {
    return req.c.body(null, 304);
  }
  const rows: string[] = [];
  if (req.c.req.method === "GET") {
    for (let cursor: string | null = null;;) {
      const page: Awaited<ReturnType<Vfs["readdir"]>> = await req.vfs.readdir(req.path, {
        limit: 1000,
        ...(cursor ? { cursor } : {}),
      });
      for (const { name, stat } of page.entries) {
        const child = req.path === "/" ? `/${name}` : `${req.path}/${name}`;
        const dir = stat.type === "directory";
        const link = escapeXml(href(req, child, dir));
        const size = dir ? "" : String(stat.size);
        // Shown as stored: a name's bidi override or control cannot pass it for another.
        rows.push(`<li><a href="${link}">${nameHtml(name)}${dir ? "/" : ""}</a> ${size}</li>`);
      }
      cursor = page.cursor;
      if (!cursor) break;
    }
  }
  const names = req.path.split("/").slice(1);
  const title = escapeXml(req.path === "/" ? "/" : names.map((n) => `/${shownName(n)}`).join(""));
  const heading = req.path === "/" ? "/" : names.map((n) => `/${nameHtml(n)}`).join("");
  const html = `<!doctype html><meta charset="utf-8"><title>${title}</title>` +
    `<h1>${heading}</h1><ul>${rows.join("")}</ul>`;
  return new Response(req.c.req.method === "HEAD" ? null : html, {
    headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": "sandbox" },
  });
}

/** The client's mtime from `X-OC-Mtime` (unix seconds), in ms. */
function clientMtime(req: DavRequest): number | undefined {
  const text = req.c.req.header("x-oc-mtime");
  if (text === undefined) return undefined;
  const ms = clientMtimeMs(text);
  if (ms === null) throw new DavError(400, `Invalid X-OC-Mtime "${text}": expected unix seconds`);
  return ms;
}

/**
 * PUT: creates or replaces a file from a streamed body (with or without Content-Length);
 * with `Content-Range` it writes those bytes at that offset and keeps the rest.
 */
export async function putMethod(req: DavRequest): Promise<Response> {
  const { path } = req;
  if (req.trailingSlash || path === "/") throw new DavError(405, "Cannot PUT a collection");
  const mtime = clientMtime(req);
  const declared = contentLength(req.c);
  const rangeHeader = req.c.req.header("content-range");
  const range = rangeHeader === undefined ? null : parseContentRange(rangeHeader);
  if (range && declared !== undefined && declared !== range.end - range.start + 1) {
    throw new DavError(400, "Content-Length differs from the Content-Range");
  }
  const expected = range ? range.end - range.start + 1 : declared;
  // A small body is here before the checks: the re-check before the commit reuses their
  // reads. A streamed one may take long: the re-check then reads afresh.
  const small = await smallBody(req.c, expected);
  const conditions = conditionalHeaders(req.c.req.raw.headers);
  // A whole small body without conditions is decided from this instance's cached copy of
  // the directory (no GET of it), and the commit checks that copy (`expect`): if it was
  // stale, nothing was written, and the request is decided again from fresh reads.
  if (small && !range && unconditional(conditions) && req.c.req.header("if") === undefined) {
    try {
      return await putOnce(req, { small, mtime, optimistic: true });
    } catch (error) {
      if (!decidedOnStaleView(error)) throw error;
    }
  }
  return await putOnce(req, { small, mtime, range, expected, conditions });
}

/**
 * An optimistic try failed in a way a stale view can explain (nothing was written): the
 * file changed, or something it decided from (the file or its directory exists, is a
 * collection, is locked as a member) may not hold.
 */
function decidedOnStaleView(error: unknown): boolean {
  if (error instanceof ChangedError || error instanceof LockedError) return true;
  if (error instanceof DavError) return error.status === 405 || error.status === 409;
  return isFsError(error, "ENOENT", "ENOTDIR", "EISDIR", "EEXIST");
}

/** One try of a PUT: optimistic (see putMethod), or from fresh reads. */
async function putOnce(
  req: DavRequest,
  args: {
    small: Uint8Array | null;
    mtime: number | undefined;
    optimistic?: boolean;
    range?: { start: number; end: number } | null;
    expected?: number | undefined;
    conditions?: ConditionalHeaders;
  },
): Promise<Response> {
  const { vfs, path } = req;
  const { small, mtime, range = null, expected } = args;
  const optimistic = args.optimistic ?? false;
  const conditions = args.conditions ?? {};
  // What the PUT writes: through a final symlink, the file it leads to, whose ETag a GET
  // gave and the preconditions are about (before, the symlink's own: 412 on its target's
  // ETag; protocol fuzz ext seed 2).
  const current = await statOrNull(vfs, path, { optimistic, follow: true });
  if (current?.type === "directory") throw new DavError(405, "Cannot PUT to a collection");
  if (!current) await requireParent(vfs, path, { optimistic });
  evaluatePreconditions(conditions, current, false);
  const touches = [{ path, membership: current === null, follow: true, optimistic }];
  await guard(req, touches);
  // A body read whole goes to the VFS as it is (no copy into dirty data: vfs/whole_body.ts).
  const body = small ? new WholeBody(small) : requestBody(req.c, expected);
  // The preconditions hold again in the commit's CAS, and the gate runs again right
  // before it: neither a concurrent create, nor a change or a lock that came while the
  // body was uploading, is overwritten. The client's mtime lands in the same CAS.
  const exclusive = conditions.ifNoneMatch?.trim() === "*";
  const anyMatch = conditions.ifMatch?.trim() === "*";
  const recheck = regard(req, touches, { reuse: small !== null });
  // Whether the commit added the file: what was there may have changed while the body came.
  let created = current === null;
  const options = {
    // `If-Match: *` asks only that the file exist: it must still at the commit (no
    // create), whatever version (before: pinned to the version looked at, so a PUT racing
    // another writer was 412, which neither order explains). Other If-Match: one of its
    // tags, checked in the CAS (before: pinned to the one the file had when looked at).
    ...commitTags(conditions.ifMatch),
    ...(exclusive ? { exclusive } : {}),
    ...(mtime === undefined ? {} : { mtime }),
    ...(optimistic ? { expect: current?.etag ?? null } : {}),
    beforeCommit: recheck.beforeCommit,
    onCommit: (added: boolean) => created = added,
  };
  let stat: Stat;
  try {
    stat = range || anyMatch
      ? await vfs.write(path, range?.start ?? 0, body, {
        create: !anyMatch,
        truncate: range === null,
        ...options,
      })
      : await vfs.writeFile(path, body, options);
  } catch (error) {
    const refusal = recheck.reason(error);
    if (refusal !== error) throw refusal;
    if (exclusive && isFsError(error, "EEXIST")) {
      throw new DavError(412, "If-None-Match failed: the resource exists");
    }
    if (("ifMatch" in options || anyMatch) && isFsError(error, "ESTALE", "ENOENT")) {
      throw new DavError(412, "If-Match failed: the resource changed");
    }
    // A collection made at the path while the body came.
    if (isFsError(error, "EISDIR")) throw new DavError(405, "Cannot PUT to a collection");
    // The parent collection was removed while the body came (RFC 4918 section 9.7.1).
    if (isFsError(error, "ENOENT", "ENOTDIR")) throw new DavError(409, causeOf(error));
    throw error;
  }
  const headers: Record<string, string> = {};
  if (mtime !== undefined) headers["x-oc-mtime"] = "accepted";
  Object.assign(headers, validatorHeaders(stat));
  return answer(null, created ? 201 : 204, headers);
}

/** 409 unless the parent of `path` is an existing collection (RFC 4918 section 9.7.1). */
export async function requireParent(
  vfs: Vfs,
  path: string,
  options: { optimistic?: boolean } = {},
): Promise<void> {
  // Through a symlink: a symlink to a collection is that collection here, as for GET and
  // for the path's other names (before, creating under one was 409).
  const parent = await statOrNull(vfs, parentOf(path), { ...options, follow: true });
  if (parent?.type !== "directory") {
    throw new DavError(409, "The parent collection does not exist");
  }
}

/** MKCOL: creates a collection; no body allowed (RFC 4918 section 9.3). */
export async function mkcolMethod(req: DavRequest): Promise<Response> {
  const declared = contentLength(req.c);
  if ((declared ?? 0) > 0) throw new DavError(415, "MKCOL takes no body");
  const body = req.c.req.raw.body;
  if (declared === undefined && body) {
    // Chunked: one chunk tells; the rest is never read.
    const reader = body.getReader();
    const first = await reader.read().catch(() => ({ done: true, value: undefined }));
    await reader.cancel().catch(() => {});
    if (!first.done && first.value?.length) throw new DavError(415, "MKCOL takes no body");
  }
  if (await statOrNull(req.vfs, req.path)) {
    throw new DavError(405, "Something already exists there");
  }
  await requireParent(req.vfs, req.path);
  await guard(req, [{ path: req.path, membership: true }]);
  try {
    await req.vfs.mkdir(req.path);
  } catch (error) {
    if (isFsError(error, "EEXIST")) throw new DavError(405, "Something already exists there");
    // The parent was removed after the look above (RFC 4918 section 9.3.1).
    if (isFsError(error, "ENOENT", "ENOTDIR")) throw new DavError(409, causeOf(error));
    throw error;
  }
  return req.c.body(null, 201);
}

/** DELETE: a file, or a collection with everything in it; 207 when part of a tree fails. */
export async function deleteMethod(req: DavRequest): Promise<Response> {
  if (req.path === "/") throw new DavError(403, "Cannot delete the root collection");
  const depth = parseDepth(req.c.req.header("depth") ?? null, "infinity");
  const stat = await req.vfs.lookup(req.path);
  // RFC 4918 section 9.6.1: a collection's DELETE is Depth infinity, and a client must not
  // ask for less. Removing the whole tree for a "Depth: 0" (meant as: only if empty?) would
  // take what the client did not mean to; refused, as Apache's mod_dav does.
  if (stat.type === "directory" && depth !== "infinity") {
    throw new DavError(400, `DELETE of a collection takes Depth infinity, not ${depth}`);
  }
  const conditions = conditionalHeaders(req.c.req.raw.headers);
  evaluatePreconditions(conditions, stat, false);
  const touches = [{ path: req.path, membership: true, tree: true }];
  await guard(req, touches);
  const recheck = regard(req, touches);
  const expect = commitCheck(conditions);
  let failures: Map<string, unknown>;
  try {
    failures = await req.vfs.removeTree(req.path, {
      beforeEach: recheck.beforeCommit,
      ...(expect ? { expect } : {}),
    });
  } catch (error) {
    const refusal = recheck.reason(error);
    if (refusal === error && expect && isFsError(error, "ESTALE")) {
      throw new DavError(412, "Precondition failed: the resource changed meanwhile");
    }
    throw refusal;
  }
  if (failures.size > 0) return await multistatusOfFailures(req, failures);
  await releaseLocks(req, req.path);
  return req.c.body(null, 204);
}

/**
 * A 207 listing the members a tree operation failed on (RFC 4918 section 9.6.1). Each is
 * looked up once more, so that a collection's href ends with its slash (section 8.3):
 * failures are rare and their members stayed.
 */
export async function multistatusOfFailures(
  req: DavRequest,
  failures: Map<string, unknown>,
): Promise<Response> {
  const collections = await Promise.all(
    [...failures.keys()].map(async (path) =>
      // A failing lookup costs the slash, not the answer: the removal already happened.
      (await statOrNull(req.vfs, path).catch(() => null))?.type === "directory"
    ),
  );
  const responses: XmlOut[] = [...failures].map(([path, error], i) => ({
    ns: DAV,
    name: "response",
    children: [
      { ns: DAV, name: "href", children: [href(req, path, collections[i]!)] },
      { ns: DAV, name: "status", children: [statusLine(statusOf(error))] },
      { ns: DAV, name: "responsedescription", children: [messageOf(error)] },
    ],
  }));
  return req.c.body(renderXml({ ns: DAV, name: "multistatus", children: responses }), 207, {
    "content-type": "application/xml; charset=utf-8",
  });
}

const REASONS: Readonly<Record<number, string>> = {
  200: "OK",
  403: "Forbidden",
  404: "Not Found",
  409: "Conflict",
  412: "Precondition Failed",
  423: "Locked",
  424: "Failed Dependency",
  500: "Internal Server Error",
  503: "Service Unavailable",
  507: "Insufficient Storage",
};

/** `HTTP/1.1 <status> <reason>` for a multistatus `status` element. */
export function statusLine(status: number): string {
  return `HTTP/1.1 ${status} ${REASONS[status] ?? "Error"}`;
}

function causeOf(error: unknown): string {
  return `The parent collection is gone: ${(error as Error).message}`;
}
