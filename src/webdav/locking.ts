/**
 * LOCK and UNLOCK (RFC 4918 sections 9.10 and 9.11). Locks live in the bucket (see
 * `src/vfs/locks.ts`), so every instance serving it enforces them.
 *
 * @module
 */

import { answer } from "../http/answer.ts";
import { lockAlias } from "../http/locks.ts";
import { bodyIdleMs } from "../http/input.ts";
import { isFsError, parentOf, type Stat } from "../vfs/mod.ts";
import { LockedError, type LockInfo, LockTokenError } from "../vfs/locks.ts";
import { DavError } from "./errors.ts";
import {
  parseDepth,
  parseIf,
  parseLockToken,
  parseLockTokenLenient,
  parseTimeout,
  submittedTokens,
} from "./headers.ts";
import { activeLock } from "./props.ts";
import { type DavRequest, guard, href, statOrNull, visibleLock } from "./request.ts";
import {
  DAV,
  escapeXml,
  readXmlBody,
  renderXml,
  serializeFragment,
  type XmlElement,
} from "./xml.ts";

/** Answers LOCK: a new lock (with a `lockinfo` body) or a refresh (without one). */
export async function lockMethod(req: DavRequest): Promise<Response> {
  const body = await readXmlBody(req.c.req.raw, {
    limit: req.maxXmlBytes,
    idleMs: bodyIdleMs(req.c),
  });
  const timeout = parseTimeout(req.c.req.header("timeout") ?? null);
  if (body === null) return await refresh(req, timeout);

  const info = parseLockInfo(body);
  const depth = parseDepth(req.c.req.header("depth") ?? null, "infinity");
  if (depth === "1") throw new DavError(400, "LOCK takes Depth 0 or infinity");
  const existing = await statOrNull(req.vfs, req.path);
  if (!existing && req.path !== "/") {
    const parent = await statOrNull(req.vfs, parentOf(req.path), { follow: true });
    if (parent?.type !== "directory") {
      throw new DavError(409, "The parent collection does not exist");
    }
  }
  // Creating the empty resource adds a member to the parent: its locks must be satisfied.
  await guard(req, existing ? [] : [{ path: req.path, membership: true }]);
  // On the resource: rooted at its path with the symlinks on the way resolved, so that a
  // write through any name of it finds the lock (before, a lock taken through `/s/f` with
  // `/s` -> `/d` left `/d/f` open).
  const root = await lockAlias(req.c, req.vfs, req.path)() ?? req.path;
  const lock = await req.locks.lock({
    root,
    via: req.path,
    depth: existing?.type === "directory" ? depth : "0",
    scope: info.scope,
    owner: info.owner,
    principal: req.principal,
    timeout,
  }).catch((error) => {
    throw error instanceof LockedError ? conflicting(req, error) : error;
  });
  let created = false;
  if (!existing) {
    // RFC 4918 section 7.3: locking an unmapped URL creates an empty resource.
    try {
      await req.vfs.write(req.path, 0, new Uint8Array(0), { create: true, exclusive: true });
      created = true;
    } catch (error) {
      if (!isFsError(error, "EEXIST")) {
        await req.locks.unlock(lock.token, req.path).catch(() => {});
        throw error;
      }
    }
  }
  return lockResponse(req, lock, { status: created ? 201 : 200, fresh: true, stat: existing });
}

/**
 * A LOCK refused by a lock already there: 423 with `DAV:no-conflicting-lock` naming the
 * roots of the locks in the way (RFC 4918 sections 9.10.6 and 16), so the client need not
 * look them up. Before session 16 it was `DAV:lock-token-submitted`, the condition of a
 * write that lacks a token, which tells a client to send one it cannot have.
 */
function conflicting(req: DavRequest, error: LockedError): DavError {
  const hrefs = error.conflicts.map((lock) => {
    const l = visibleLock(req, lock);
    return href(req, l.via ?? l.root, l.depth === "infinity");
  });
  return new DavError(423, error.message, {
    condition: "no-conflicting-lock",
    hrefs: [...new Set(hrefs)],
  });
}

async function refresh(req: DavRequest, timeout: number | null): Promise<Response> {
  const tokens = submittedTokens(parseIf(req.c.req.header("if") ?? null));
  if (tokens.size === 0) {
    throw new DavError(400, "A LOCK without a body refreshes a lock: send its token in If");
  }
  let failure: unknown = null;
  for (const token of tokens) {
    try {
      const lock = await req.locks.refresh(token, req.path, timeout, {
        principal: req.principal,
        alias: lockAlias(req.c, req.vfs, req.path),
      });
      const stat = await statOrNull(req.vfs, req.path);
      return lockResponse(req, lock, { status: 200, fresh: false, stat });
    } catch (error) {
      if (!(error instanceof LockTokenError)) throw error;
      failure = error;
    }
  }
  throw new DavError(412, (failure as Error).message, {
    condition: "lock-token-matches-request-uri",
  });
}

/**
 * Answers UNLOCK: removes the lock named by `Lock-Token` if it covers the URL. A token sent
 * without its angle brackets is accepted when it names a live lock (clients such as the
 * `webdav` npm client send it so); one that names none is the malformed header it looks
 * like (400).
 */
export async function unlockMethod(req: DavRequest): Promise<Response> {
  const header = req.c.req.header("lock-token") ?? null;
  const parsed = parseLockTokenLenient(header);
  if (parsed === null) throw new DavError(400, "UNLOCK needs a Lock-Token header");
  const { token, bare } = parsed;
  try {
    await req.locks.unlock(token, req.path, {
      principal: req.principal,
      alias: lockAlias(req.c, req.vfs, req.path),
    });
  } catch (error) {
    if (!(error instanceof LockTokenError)) throw error;
    if (bare && error.reason === "unknown") parseLockToken(header); // throws: 400
    const status = error.reason === "principal" ? 403 : 409;
    throw new DavError(status, error.message, { condition: "lock-token-matches-request-uri" });
  }
  return req.c.body(null, 204);
}

function lockResponse(
  req: DavRequest,
  lock: LockInfo,
  options: { status: 200 | 201; fresh: boolean; stat?: Stat | null },
) {
  const { status, fresh } = options;
  const ctx = { hrefOf: (p: string, c: boolean) => href(req, p, c), quota: null };
  const collection = lock.depth === "infinity" || options.stat?.type === "directory";
  const active = activeLock(visibleLock(req, lock), ctx, { now: req.locks.now(), collection });
  const xml = renderXml({
    ns: DAV,
    name: "prop",
    children: [{ ns: DAV, name: "lockdiscovery", children: [active] }],
  });
  const headers: Record<string, string> = { "content-type": "application/xml; charset=utf-8" };
  if (fresh) headers["lock-token"] = `<${lock.token}>`;
  return answer(xml, status, headers);
}

/** The scope and owner a `lockinfo` body asks for. */
function parseLockInfo(body: XmlElement): { scope: "exclusive" | "shared"; owner: string } {
  if (body.ns !== DAV || body.name !== "lockinfo") {
    throw new DavError(400, "The LOCK body must be a DAV:lockinfo element");
  }
  let scope: "exclusive" | "shared" | null = null;
  let write = false;
  let owner = "";
  for (const child of body.children) {
    if (typeof child === "string" || child.ns !== DAV) continue;
    // Elements it does not know are ignored (RFC 4918 section 17), here as everywhere.
    const known = (names: readonly string[]) =>
      child.children.find((c): c is XmlElement =>
        typeof c !== "string" && c.ns === DAV && names.includes(c.name)
      );
    if (child.name === "lockscope") {
      const inner = known(["exclusive", "shared"]);
      if (!inner) throw new DavError(400, "lockscope must be exclusive or shared");
      scope = inner.name as "exclusive" | "shared";
    } else if (child.name === "locktype") {
      write = known(["write"]) !== undefined;
      if (!write) throw new DavError(422, "Only write locks are supported");
    } else if (child.name === "owner") {
      owner = child.children
        .map((c) => typeof c === "string" ? escapeXml(c) : serializeFragment(c))
        .join("");
    }
  }
  if (!scope || !write) throw new DavError(400, "lockinfo needs lockscope and locktype");
  return { scope, owner };
}
