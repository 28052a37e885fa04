/**
 * PROPFIND and PROPPATCH (RFC 4918 sections 9.1 and 9.2).
 *
 * A Depth 1 PROPFIND lists a directory with the attributes its index object holds inline,
 * so 10,000 files cost a handful of GETs; dead properties and lock discovery are only
 * read when the request asks for them, and then once per request, not once per member.
 *
 * @module
 */

import { answer } from "../http/answer.ts";
import { lockAlias } from "../http/locks.ts";
import { sliced } from "../http/render_cache.ts";
import { bodyIdleMs } from "../http/input.ts";
import { AsyncLocalStorage } from "node:async_hooks";
import { FsError, type LockInfo, type ReaddirPage, type Stat } from "../vfs/mod.ts";
import { DavError } from "./errors.ts";
import { parseDepth } from "./headers.ts";
import { isWithin } from "./paths.ts";
import {
  deadKey,
  isProtected,
  needsDead,
  needsLocks,
  needsQuota,
  parsePropfind,
  parseProppatch,
  type PropContext,
  type PropName,
  propResponse,
  propstat,
  WIN32_NS,
} from "./props.ts";
import { type DavRequest, guard, href, visibleLock } from "./request.ts";
import {
  DAV,
  readXmlBody,
  renderMember,
  renderXml,
  serializeFragment,
  textOf,
  type XmlOut,
} from "./xml.ts";

/** Members listed per directory page while answering Depth 1. */
const PAGE = 5000;
/**
 * Dead properties (bytes) a Depth infinity answer gathers at most before it is refused as
 * too large, as for too many members: the walk holds every member's before it sends the
 * first (10,000 members of 120 KiB each were 1.2 GiB).
 */
const INFINITY_XATTR_BYTES = 32 << 20;
/** Members rendered into one chunk of the streamed response. */
const CHUNK = 250;

const MULTISTATUS_OPEN = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">';
const MULTISTATUS_CLOSE = "</D:multistatus>";

const XML = { "content-type": "application/xml; charset=utf-8" };

/**
 * PROPFIND with Depth 0, 1 or infinity. Depth infinity walks the subtree (symlinks are not
 * followed) up to `req.davInfinityMax` members before answering; a larger subtree is refused
 * with 403 `DAV:propfind-finite-depth` (RFC 4918 section 9.1), before any byte of a 207.
 */
export async function propfindMethod(req: DavRequest): Promise<Response> {
  const depth = parseDepth(req.c.req.header("depth") ?? null, "infinity");
  const query = parsePropfind(
    await readXmlBody(req.c.req.raw, { limit: req.maxXmlBytes, idleMs: bodyIdleMs(req.c) }),
  );
  const { vfs, path } = req;
  const dead = needsDead(query);
  const stat = await vfs.lookup(path);
  const listing = depth !== "0" && stat.type === "directory";
  const [xattrs, locks, quota] = await Promise.all([
    dead ? vfs.getxattrs(path) : {},
    needsLocks(query) ? locksAround(req, path, listing) : [],
    needsQuota(query) ? quotaOf(req) : null,
  ]);
  const ctx: PropContext = { hrefOf: (p, c) => href(req, p, c), quota, stored: req.storedProps };
  // Remaining lock time on the clock locks are judged by (the store's), not this host's:
  // every instance then reports one lock alike.
  const now = req.locks.now();
  // A lock is rooted at its resource's path with the symlinks resolved: a path listed
  // through a symlink on the way is matched by that name too.
  const alias = locks.length > 0 ? await lockAlias(req.c, vfs, path)() : null;
  const covers = (p: string) => (l: LockInfo) =>
    l.root === p || (l.depth === "infinity" && isWithin(p, l.root));
  const covering = (p: string) => {
    const resolved = alias !== null && alias !== path ? alias + p.slice(path.length) : null;
    return locks.filter((l) => covers(p)(l) || (resolved !== null && covers(resolved)(l)));
  };
  const self = renderMember(
    propResponse({ path, stat, xattrs, locks: covering(path) }, query, ctx, now),
  );
  if (!listing) return answer(MULTISTATUS_OPEN + self + MULTISTATUS_CLOSE, 207, XML);
  const encoder = new TextEncoder();
  if (depth === "infinity") {
    const members = await walkTree(req, path, dead);
    let at = 0;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(MULTISTATUS_OPEN + self));
      },
      pull(controller) {
        if (at >= members.length) {
          controller.enqueue(encoder.encode(MULTISTATUS_CLOSE));
          controller.close();
          return;
        }
        const parts = members.slice(at, at + CHUNK).map((m) =>
          renderMember(propResponse({ ...m, locks: covering(m.path) }, query, ctx, now))
        );
        at += CHUNK;
        controller.enqueue(encoder.encode(parts.join("")));
      },
    }, { highWaterMark: 0 });
    return answer(body, 207, XML);
  }
  // The members stream out a page at a time, so a listing of any size holds one page's
  // text, not the whole document. The first page is read before the status is sent:
  // a directory removed meanwhile is still a 404, not a cut-off 207.
  // Later pages are read as the stream is pulled, inside this request's scope still, so
  // that no index object is read again for them.
  const inRequest = AsyncLocalStorage.snapshot();
  const read = (cursor: string | null) =>
    inRequest(() =>
      vfs.readdir(path, { limit: PAGE, xattrs: dead, ...(cursor ? { cursor } : {}) })
    );
  // A page rendered before from the same versions is sent as it was: the same members,
  // properties, hrefs and view. Not with locks around (their timeouts count down) nor
  // quota figures (not part of the versions).
  const cacheable = locks.length === 0 && ctx.quota === null;
  const keyOf = (cursor: string | null) =>
    JSON.stringify([req.mount, req.scope, req.principal, path, query, cursor]);
  // Each page is read and rendered whole a few at a time (`RenderCache.exclusive`), then
  // sent from its bytes: a slow client holds its page's text, not its entries, and
  // concurrent identical listings render once.
  const load = (cursor: string | null) =>
    req.renders.exclusive(async () => {
      const page = await read(cursor);
      const key = keyOf(cursor);
      const next = page.cursor;
      const kept = cacheable && page.version ? req.renders.get(key, page.version) : null;
      if (kept) return { chunks: kept, next };
      const rendered: Uint8Array<ArrayBuffer>[] = [];
      for (let at = 0; at < page.entries.length; at += CHUNK) {
        const parts: string[] = [];
        for (const entry of page.entries.slice(at, at + CHUNK)) {
          const child = path === "/" ? `/${entry.name}` : `${path}/${entry.name}`;
          const resource = {
            path: child,
            stat: entry.stat,
            xattrs: entry.xattrs ?? {},
            locks: covering(child),
          };
          parts.push(renderMember(propResponse(resource, query, ctx, now)));
        }
        rendered.push(encoder.encode(parts.join("")));
      }
      const keeps = cacheable && page.version ? req.renders.set(key, page.version, rendered) : null;
      return { chunks: keeps ?? rendered, next };
    });
  let current = await load(null);
  let out = sliced(current.chunks).getReader();
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode(MULTISTATUS_OPEN + self));
    },
    async pull(controller) {
      for (;;) {
        const { value, done } = await out.read();
        if (!done) return controller.enqueue(value);
        if (current.next === null) {
          controller.enqueue(encoder.encode(MULTISTATUS_CLOSE));
          return controller.close();
        }
        current = await load(current.next);
        out = sliced(current.chunks).getReader();
      }
    },
  }, { highWaterMark: 0 });
  return answer(body, 207, XML);
}

/** A member of a Depth infinity listing. */
interface Member {
  readonly path: string;
  readonly stat: Stat;
  readonly xattrs: Record<string, Uint8Array>;
}

/**
 * Every member below `root`, breadth first, one readdir page at a time; more than
 * `req.davInfinityMax` is refused before anything is sent. A directory removed during the
 * walk is left out (as a listing made a moment later would).
 */
async function walkTree(req: DavRequest, root: string, xattrs: boolean): Promise<Member[]> {
  const max = req.davInfinityMax;
  const members: Member[] = [];
  let bytes = 0;
  let level = [root];
  while (level.length > 0) {
    const next: string[] = [];
    for (const dir of level) {
      let cursor: string | null = null;
      do {
        let page: ReaddirPage;
        try {
          page = await req.vfs.readdir(dir, {
            limit: PAGE,
            xattrs,
            ...(cursor ? { cursor } : {}),
          });
        } catch (error) {
          if (dir !== root && error instanceof FsError && error.code === "ENOENT") break;
          throw error;
        }
        for (const entry of page.entries) {
          const path = dir === "/" ? `/${entry.name}` : `${dir}/${entry.name}`;
          members.push({ path, stat: entry.stat, xattrs: entry.xattrs ?? {} });
          for (const value of Object.values(entry.xattrs ?? {})) bytes += value.length;
          if (bytes > INFINITY_XATTR_BYTES) {
            throw new DavError(
              403,
              `PROPFIND with Depth infinity answers at most ${INFINITY_XATTR_BYTES >> 20} MiB ` +
                "of dead properties: use Depth 1",
              { condition: "propfind-finite-depth" },
            );
          }
          if (members.length > max) {
            throw new DavError(
              403,
              `PROPFIND with Depth infinity answers at most ${max} members: use Depth 1`,
              { condition: "propfind-finite-depth" },
            );
          }
          if (entry.stat.type === "directory") next.push(path);
        }
        cursor = page.cursor;
      } while (cursor);
    }
    level = next;
  }
  return members;
}

/** The locks covering `path` and, for a listing, those rooted below it: one table read. */
async function locksAround(req: DavRequest, path: string, listing: boolean) {
  const none = new Set<string>();
  const locks = await req.locks.unsatisfied(path, none, {
    descendants: listing,
    alias: lockAlias(req.c, req.vfs, path),
  });
  return locks.map((lock) => visibleLock(req, lock));
}

async function quotaOf(req: DavRequest): Promise<{ used: number; available: number }> {
  const fs = await req.vfs.statfs();
  return { used: fs.usedBytes, available: fs.blocksFree * fs.blockSize };
}

/** Largest stored dead property (the value is kept as an extended attribute). */
const DEAD_MAX = 64 * 1024;

/**
 * PROPPATCH: sets and removes dead properties, all or none (RFC 4918 section 9.2). Live
 * properties are protected (403), except `Win32LastModifiedTime`, which sets the mtime
 * as Windows expects after copying a file in.
 */
export async function proppatchMethod(req: DavRequest): Promise<Response> {
  const changes = parseProppatch(
    await readXmlBody(req.c.req.raw, { limit: req.maxXmlBytes, idleMs: bodyIdleMs(req.c) }),
  );
  const stat: Stat = await req.vfs.lookup(req.path);
  await guard(req, [{ path: req.path }]);
  const refused = new Map<string, { name: PropName; status: string }>();
  const set: Record<string, Uint8Array> = {};
  const remove: string[] = [];
  let mtime: number | undefined;
  const encoder = new TextEncoder();
  for (const change of changes) {
    const key = deadKey(change.name);
    if (isProtected(change.name)) {
      refused.set(key, { name: change.name, status: "403 Forbidden" });
      continue;
    }
    if (encoder.encode(key).length > 255) {
      refused.set(key, { name: change.name, status: "507 Insufficient Storage" });
      continue;
    }
    if (change.op === "remove") {
      delete set[key];
      remove.push(key);
      continue;
    }
    const value = encoder.encode(serializeFragment(change.element));
    if (value.length > DEAD_MAX) {
      refused.set(key, { name: change.name, status: "507 Insufficient Storage" });
      continue;
    }
    if (change.name.ns === WIN32_NS && change.name.name === "Win32LastModifiedTime") {
      const ms = Date.parse(textOf(change.element));
      if (!Number.isFinite(ms)) {
        refused.set(key, { name: change.name, status: "409 Conflict" });
        continue;
      }
      mtime = ms;
    }
    Object.defineProperty(set, key, { value, enumerable: true, configurable: true });
  }
  const names = [...new Map(changes.map((c) => [deadKey(c.name), c.name])).values()];
  let body: XmlOut[];
  if (refused.size > 0) {
    // All or nothing: the others fail because of the refused ones.
    const others = names.filter((n) => !refused.has(deadKey(n)));
    body = [...refused.values()].map((r) => propstat([r.name], r.status));
    if (others.length > 0) body.push(propstat(others, "424 Failed Dependency"));
  } else {
    try {
      await req.vfs.updatexattrs(req.path, { set, remove });
    } catch (error) {
      if (error instanceof FsError && (error.code === "ENOSPC" || error.code === "ERANGE")) {
        throw new DavError(507, error.message);
      }
      throw error;
    }
    if (mtime !== undefined) await req.vfs.setattr(req.path, { mtime });
    body = [propstat(names, "200 OK")];
  }
  const response: XmlOut = {
    ns: DAV,
    name: "response",
    children: [{
      ns: DAV,
      name: "href",
      children: [href(req, req.path, stat.type === "directory")],
    }, ...body],
  };
  return answer(renderXml({ ns: DAV, name: "multistatus", children: [response] }), 207, XML);
}
