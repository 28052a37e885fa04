/**
 * Opening share links signed out: `/s/<token>/` shows the shared folder (or a page for the
 * shared file), `/s/<token>/<path below>` what lies below a shared folder, with `?raw=1`
 * (inline, with ranges) or `?dl=1` (as an attachment) for a file's bytes. A password-protected
 * link asks first (POST `/s/<token>/` with `password`) and remembers it in a cookie bound to
 * that token.
 *
 * Every request checks the token's MAC and expiry, that the shared entry still has the
 * inode the link was made for, and that its generation is unchanged (not revoked).
 *
 * @module
 */

import { attachment } from "../http/disposition.ts";
import type { Context, Hono } from "hono";
import {
  allows,
  type Authenticator,
  type AuthEnv,
  cookieValue,
  FailureBackoff,
} from "../auth/mod.ts";
import { contentTypeOf } from "../http/media_types.ts";
import {
  conditionalHeaders,
  evaluatePreconditions,
  validatorHeaders,
} from "../http/preconditions.ts";
import { requestedSpan } from "../http/ranges.ts";
import { readForm } from "../http/input.ts";
import { requestPathOf } from "../http/request_path.ts";
import { isFsError, type Stat, type Vfs } from "../vfs/mod.ts";
import { isHttps } from "./headers.ts";
import { MessagePage, ShareFilePage, ShareFolderPage, SharePasswordPage } from "./pages.tsx";
import { currentGeneration, type ShareGrant, type ShareTokens } from "./share_token.ts";
import { markStreamedByRuntime } from "../observe/request_log.ts";

/** Times a shared file is looked at again when it changed between its look and its read. */
const READ_ATTEMPTS = 3;

const UNLOCK_COOKIE = "pagefs_share";
const PAGE = 1000;

function html(c: Context, page: unknown, status = 200): Response {
  return c.html(`<!DOCTYPE html>${page}`, status as 200, { "cache-control": "no-store" });
}

function message(c: Context, status: number, title: string, text: string): Response {
  return html(c, MessagePage({ title, message: text }), status);
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];
function humanSize(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${UNITS[unit]}`;
}

const href = (names: readonly string[]) => names.map(encodeURIComponent).join("/");

/**
 * Whether the principal that made a link (`by`, see `ShareGrant`) may still share `path`,
 * as the configuration says now. A link is a standing grant of that principal's read
 * access: before, a user removed from the configuration, made read-only or moved to another
 * folder kept every link made before, for up to a year. Links that name no maker (made
 * with authentication off, or before session 17) are judged as before.
 */
function makerMayShare(auth: Authenticator | null, by: string | null, path: string): boolean {
  if (auth === null || by === null) return true;
  const colon = by.indexOf(":");
  const kind = by.slice(0, colon);
  if (colon < 0 || (kind !== "user" && kind !== "token")) return false;
  const maker = auth.principalNamed(kind, by.slice(colon + 1));
  return maker !== null && allows(maker, "PUT", path);
}

/** Registers `/s/*` on `app`. `clientOf` names the client for the password back-off. */
export function registerShareRoutes(
  app: Hono<AuthEnv>,
  vfs: Vfs,
  shares: ShareTokens,
  options: { auth: Authenticator | null; clientOf: (c: Context) => string },
): void {
  const { auth, clientOf } = options;
  // A link's password is checked by a cheap HMAC, so only guessing is to fear: a client
  // that keeps failing waits, 1 s doubling to 60 s (before session 21, as fast as it could
  // send). Per client, not per link: anyone could lock a link's readers out otherwise.
  const backoff = new FailureBackoff();
  /** The grant, or the answer that refuses the request. */
  const open = async (c: Context, token: string): Promise<ShareGrant | Response> => {
    const grant = await shares.open(token);
    if (grant === "invalid") {
      return message(c, 404, "Link not found", "This share link is not valid.");
    }
    if (grant === "expired") return message(c, 410, "Link expired", "This share link has expired.");
    if (!makerMayShare(auth, grant.by, grant.path)) {
      return message(c, 410, "Link revoked", "This share link has been revoked.");
    }
    let stat: Stat;
    try {
      stat = await vfs.lookup(grant.path);
    } catch (error) {
      if (!isFsError(error, "ENOENT", "ENOTDIR")) throw error;
      return message(c, 404, "Gone", "What this link shared is no longer there.");
    }
    if (stat.ino !== grant.ino) {
      return message(c, 404, "Gone", "What this link shared is no longer there.");
    }
    if (await currentGeneration(vfs, grant.path) !== grant.generation) {
      return message(c, 410, "Link revoked", "This share link has been revoked.");
    }
    return grant;
  };

  app.post("/s/:token/", async (c) => {
    const token = c.req.param("token");
    const grant = await open(c, token);
    if (grant instanceof Response) return grant;
    const form = await readForm(c);
    const password = typeof form.password === "string" ? form.password : "";
    const client = clientOf(c);
    const wait = Math.ceil(backoff.waitMs(client) / 1000);
    if (wait > 0) {
      c.header("retry-after", String(wait));
      const error = `Too many wrong passwords: try again in ${wait} s`;
      return html(c, SharePasswordPage({ action: `/s/${token}/`, error }), 429);
    }
    if (!await shares.checkPassword(grant, password)) {
      backoff.failed(client);
      return html(
        c,
        SharePasswordPage({ action: `/s/${token}/`, error: "Wrong password" }),
        401,
      );
    }
    const maxAge = Math.max(0, grant.expires - shares.nowSeconds());
    c.header(
      "set-cookie",
      `${UNLOCK_COOKIE}=${await shares.unlockValue(
        token,
      )}; Path=/s/${token}/; Max-Age=${maxAge}; ` +
        `HttpOnly; SameSite=Lax${isHttps(c) ? "; Secure" : ""}`,
    );
    return c.redirect(`/s/${token}/`, 303);
  });

  /** One look at the shared path; null when a file changed between its look and its read. */
  const attempt = async (c: Context): Promise<Response | null> => {
    const names = requestPathOf(c.req.raw).names;
    const token = names[1]!;
    const below = names.slice(2);
    const grant = await open(c, token);
    if (grant instanceof Response) return grant;
    if (grant.hasPassword) {
      const unlocked = await shares.checkUnlock(
        token,
        cookieValue(c.req.header("cookie"), UNLOCK_COOKIE),
      );
      if (!unlocked) return html(c, SharePasswordPage({ action: `/s/${token}/` }), 401);
    }
    // Everything is read through a view limited to the shared path: a symlink below it
    // cannot lead outside.
    const shared = grant.path === "/" ? vfs : vfs.scoped(grant.path);
    const path = below.length === 0
      ? grant.path
      : (grant.path === "/" ? "" : grant.path) + "/" + below.join("/");
    let stat: Stat;
    try {
      stat = await shared.getattr(path);
    } catch (error) {
      if (!isFsError(error, "ENOENT", "ENOTDIR", "EACCES")) throw error;
      return message(c, 404, "Not found", "There is nothing at this address.");
    }
    const base = `/s/${token}/`;
    const name = below.at(-1) ?? (grant.path.slice(grant.path.lastIndexOf("/") + 1) || "/");
    if (stat.type === "directory") {
      if (!requestPathOf(c.req.raw).trailingSlash) {
        return c.redirect(`${base}${href(below)}/`, 301);
      }
      const cursor = c.req.query("cursor");
      const page = await shared.readdir(path, { limit: PAGE, ...(cursor ? { cursor } : {}) });
      const rows = page.entries.map((entry) => ({
        name: entry.name,
        href: encodeURIComponent(entry.name) + (entry.stat.type === "directory" ? "/" : ""),
        isDir: entry.stat.type === "directory",
        size: entry.stat.type === "directory" ? "" : humanSize(entry.stat.size),
        mtime: new Date(entry.stat.mtime).toISOString(),
      }));
      return html(
        c,
        ShareFolderPage({
          title: name,
          rows,
          parent: below.length > 0 ? "../" : null,
          more: page.cursor ? `?cursor=${encodeURIComponent(page.cursor)}` : null,
        }),
      );
    }
    const raw = c.req.query("raw") !== undefined;
    const download = c.req.query("dl") !== undefined;
    if (!raw && !download) {
      const self = below.length === 0 ? base : `${base}${href(below)}`;
      return html(
        c,
        ShareFilePage({
          name,
          size: humanSize(stat.size),
          raw: `${self}?raw=1`,
          download: `${self}?dl=1`,
          image: contentTypeOf(path).startsWith("image/") && !path.endsWith(".svg"),
        }),
      );
    }
    const headers: Record<string, string> = {
      ...validatorHeaders(stat),
      "content-type": contentTypeOf(path),
      // Shared HTML or SVG must not run script on this origin.
      "content-security-policy": "sandbox; frame-ancestors 'none'",
      "cache-control": "private, no-cache",
    };
    if (download) {
      headers["content-disposition"] = attachment(name);
    }
    if (
      evaluatePreconditions(conditionalHeaders(c.req.raw.headers), stat, true) === "not-modified"
    ) {
      return c.body(null, 304, headers);
    }
    const { offset, length, status, headers: span } = requestedSpan(c.req.raw, stat);
    Object.assign(headers, span);
    if (c.req.method === "HEAD") return c.body(null, status, headers);
    const streamed = await shared.readStream(path, { offset, length, direct: true });
    if (streamed.stat.etag !== stat.etag) {
      // Replaced since the look: its headers (validators, range, length) are another's.
      await streamed.body.cancel();
      return null;
    }
    if (streamed.direct) markStreamedByRuntime(c, streamed.sent);
    return c.body(streamed.body, status, headers);
  };
  const serve = async (c: Context) => {
    for (let i = 0; i < READ_ATTEMPTS; i++) {
      const response = await attempt(c);
      if (response) return response;
    }
    return message(c, 503, "Try again", "The file changed while it was being read.");
  };
  // The token as the request path decoded it, encoded again: it is not checked yet, and a
  // decoded CR or LF in a Location header failed the answer with a 500 before session 18.
  app.get("/s/:token", (c) => {
    const token = requestPathOf(c.req.raw).names[1]!;
    return c.redirect(`/s/${encodeURIComponent(token)}/`, 301);
  });
  app.get("/s/:token/*", serve);
}
