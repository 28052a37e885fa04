/**
 * The browser UI, mounted at `/`: the file manager's shell (`/`), sign-in (`/ui/login`,
 * `/ui/logout`), its static files (`/ui/assets/<version>/<name>`), making and revoking share
 * links (`/ui/share`, `/ui/share/revoke`), and opening them signed out (`/s/<token>/…`).
 * The file manager itself runs in the browser and uses only the HTTP API and the tus
 * endpoint. See docs/ui.md.
 *
 * @module
 */

import { type Context, Hono, type MiddlewareHandler } from "hono";
import {
  allows,
  ANONYMOUS,
  AuthBusy,
  type Authenticator,
  type AuthEnv,
  type Principal,
  principalId,
  type Sessions,
} from "../auth/mod.ts";
import { HttpError } from "../http/errors.ts";
import { readForm, readJsonObject } from "../http/input.ts";
import type { Vfs } from "../vfs/mod.ts";
import { ASSET_VERSION, ASSETS } from "./_assets.ts";
import { LoginPage, Shell } from "./pages.tsx";
import { registerShareRoutes } from "./share_routes.ts";
import {
  currentGeneration,
  GENERATION_XATTR,
  MAX_SHARE_SECONDS,
  newGeneration,
  type ShareTokens,
} from "./share_token.ts";
import { uiHeaders } from "./headers.ts";

export { ShareTokens } from "./share_token.ts";
export { assetUrl } from "./pages.tsx";

/** Options of {@linkcode createUi}. */
export interface UiOptions {
  /** Who may sign in; null: an open server (no sign-in, everyone is anonymous and rw). */
  readonly auth: Authenticator | null;
  readonly sessions: Sessions;
  readonly shares: ShareTokens;
  /** The authentication middleware for `/ui/share*` (the app's, with its logging). */
  readonly guard: MiddlewareHandler<AuthEnv>;
  /**
   * Who the client is, for the bounds on failed sign-ins and share-link passwords (default:
   * one client for everyone; see `src/auth/password_gate.ts`).
   */
  readonly clientOf?: (c: Context) => string;
  /** Paths no one may share (the upload staging folder). */
  readonly isReserved?: (path: string) => boolean;
  /** tus chunk size the client uses, in bytes (default: the client's, 8 MiB). */
  readonly chunkSize?: number;
}

const encoder = new TextEncoder();

/**
 * Where a sign-in may send the browser back to: a path on this site, nothing else, with any
 * character beyond ASCII percent-encoded. A `Location` header holds bytes: before session 18
 * a `next` with Latin-1 text (`/#/é`) went out as a raw byte, which a browser reads as
 * Latin-1 or not at all (the runtime encoded only text above U+00FF).
 */
function safeNext(next: unknown): string {
  if (typeof next !== "string" || !next.startsWith("/") || next.startsWith("//")) return "/";
  // deno-lint-ignore no-control-regex
  if (/[\\\x00-\x1f\x7f]/.test(next) || next.length > 2048 || !next.isWellFormed()) return "/";
  return next.replace(/[^\x21-\x7e]/gu, encodeURIComponent);
}

/**
 * Whether a form post (sign-in, sign-out) comes from this site: `Sec-Fetch-Site` where the
 * browser sends it, else the `Origin`'s host; a request with neither (not a browser) passes.
 */
function sameOrigin(c: Context): boolean {
  const site = c.req.header("sec-fetch-site");
  if (site !== undefined) return site === "same-origin" || site === "none";
  const origin = c.req.header("origin");
  if (origin === undefined) return true;
  const host = c.req.header("host") ?? new URL(c.req.url).host;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

function html(c: Context, page: unknown, status = 200): Response {
  return c.html(`<!DOCTYPE html>${page}`, status as 200, { "cache-control": "no-store" });
}

/**
 * Builds the UI as a Hono app to mount at `/`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { MemoryStore } from "../store/mod.ts";
 * import { Vfs } from "../vfs/mod.ts";
 * import { requireAuth, Sessions, Signer } from "../auth/mod.ts";
 * import { createUi, ShareTokens } from "./mod.ts";
 * const signer = Signer.random();
 * const vfs = await Vfs.open(new MemoryStore());
 * const ui = createUi(vfs, {
 *   auth: null,
 *   sessions: new Sessions(signer),
 *   shares: new ShareTokens(signer),
 *   guard: requireAuth(null, { pathOf: () => null }),
 * });
 * const res = await new Hono().route("/", ui).request("/");
 * assert(res.status === 200);
 * ```
 */
export function createUi(vfs: Vfs, options: UiOptions): Hono<AuthEnv> {
  const { auth, sessions, shares } = options;
  const clientOf = options.clientOf ?? (() => "");
  const app = new Hono<AuthEnv>();
  app.use("*", uiHeaders);

  app.get("/ui/assets/:version/:name", (c) => {
    const asset = Object.hasOwn(ASSETS, c.req.param("name"))
      ? ASSETS[c.req.param("name")]
      : undefined;
    if (!asset) return c.text("Not found", 404);
    // The version in the URL changes with any asset, so a cached copy never goes stale; an
    // old version asked for gets the current file without long caching.
    const current = c.req.param("version") === ASSET_VERSION;
    return c.body(encoder.encode(asset.body), 200, {
      "content-type": asset.type,
      "cache-control": current ? "public, max-age=31536000, immutable" : "no-cache",
    });
  });

  /** The signed-in principal and its CSRF token, or null (sign-in needed). */
  const signedIn = async (c: Context): Promise<{ principal: Principal; csrf: string } | null> => {
    if (auth === null) return { principal: ANONYMOUS, csrf: "" };
    const session = await sessions.verify(sessions.cookieOf(c.req.raw));
    const principal = session === null
      ? null
      : await auth.sessionPrincipal(session.user, session.stamp);
    if (session === null || principal === null) return null;
    return { principal, csrf: await sessions.csrfToken(session) };
  };

  app.get("/", async (c) => {
    const who = await signedIn(c);
    if (who === null) return c.redirect("/ui/login", 303);
    const { principal, csrf } = who;
    return html(
      c,
      Shell({
        user: principal.name,
        access: principal.access,
        prefix: principal.prefix,
        csrf,
        authOn: auth !== null,
        chunkSize: options.chunkSize ?? 0,
      }),
    );
  });

  app.get("/ui/login", (c) => {
    if (auth === null) return c.redirect("/", 303);
    return html(c, LoginPage({ next: safeNext(c.req.query("next")) }));
  });

  app.post("/ui/login", async (c) => {
    if (auth === null) return c.redirect("/", 303);
    if (!sameOrigin(c)) throw new HttpError(403, "EACCES", "Cross-site sign-in refused");
    const form = await readForm(c);
    const user = typeof form.user === "string" ? form.user : "";
    const password = typeof form.password === "string" ? form.password : "";
    const next = safeNext(form.next);
    const bytes = encoder.encode(`${user}:${password}`);
    const header = `Basic ${btoa(String.fromCharCode(...bytes))}`;
    // Only users sign in here (tokens are for programs); a colon in the name is no user.
    let principal: Principal | null = null;
    try {
      principal = user.includes(":") || bytes.length > 3000
        ? null
        : await auth.authenticate(header, { client: clientOf(c) });
    } catch (error) {
      if (!(error instanceof AuthBusy)) throw error;
      c.header("retry-after", String(error.retryAfter));
      return html(c, LoginPage({ next, user, error: error.message }), error.status);
    }
    if (principal === null || auth.userPrincipal(user) === null) {
      // Quoted and escaped: the name is anyone's input, and a line break or a terminal
      // escape in it wrote lines of its own into the log (before session 19).
      console.warn(`pagefs: sign-in failed for ${JSON.stringify(user.slice(0, 64))}`);
      return html(c, LoginPage({ next, user, error: "Wrong user name or password" }), 401);
    }
    const { value } = await sessions.issue(
      principal.name,
      await auth.sessionStamp(principal.name) ?? undefined,
    );
    for (const cookie of sessions.cookies(value, c.req.raw)) {
      c.header("set-cookie", cookie, { append: true });
    }
    return c.redirect(next, 303);
  });

  app.post("/ui/logout", async (c) => {
    // A cross-site form carries no session cookie (SameSite=Strict), so the token check
    // below never ran for it, and the answer cleared the cookie: any page could sign its
    // visitors out of PageFS (before session 19).
    if (!sameOrigin(c)) throw new HttpError(403, "EACCES", "Cross-site sign-out refused");
    const form = await readForm(c);
    const session = await sessions.verify(sessions.cookieOf(c.req.raw));
    const csrf = typeof form.csrf === "string" ? form.csrf : "";
    if (session !== null && !await sessions.checkCsrf(session, csrf)) {
      throw new HttpError(403, "EACCES", "Missing or invalid CSRF token");
    }
    for (const cookie of sessions.clearCookies(c.req.raw)) {
      c.header("set-cookie", cookie, { append: true });
    }
    return c.redirect("/ui/login", 303);
  });

  app.use("/ui/share", options.guard);
  app.use("/ui/share/*", options.guard);

  /** The shared path from a JSON body, checked against what the principal may write. */
  const sharedPath = (c: Context, body: Record<string, unknown>): string => {
    const path = body.path;
    if (typeof path !== "string" || !/^\/[^\0]*$/.test(path) || path.length > 4096) {
      throw new HttpError(400, "EINVAL", '"path" must be an absolute path');
    }
    const normal = path === "/" ? "/" : path.replace(/\/$/, "");
    if (normal.split("/").slice(1).some((s) => s === "" || s === "." || s === "..")) {
      throw new HttpError(400, "EINVAL", `Invalid path "${path}"`);
    }
    if (options.isReserved?.(normal)) {
      throw new HttpError(404, "ENOENT", "No such file or directory");
    }
    // Making or revoking a link changes what others can read: it needs write access.
    if (!allows(c.get("principal"), "PUT", normal)) {
      throw new HttpError(403, "EACCES", `Not allowed to share "${normal}"`);
    }
    return normal;
  };
  const scoped = (c: Context): Vfs => {
    const prefix = (c.get("principal") as Principal).prefix;
    return prefix === "/" ? vfs : vfs.scoped(prefix);
  };

  app.post("/ui/share", async (c) => {
    const body = await readJsonObject(c, 16 * 1024);
    const path = sharedPath(c, body);
    const seconds = body.seconds ?? 86400;
    if (
      !Number.isInteger(seconds) || (seconds as number) < 60 ||
      (seconds as number) > MAX_SHARE_SECONDS
    ) {
      throw new HttpError(
        400,
        "EINVAL",
        `"seconds" must be an integer from 60 to ${MAX_SHARE_SECONDS}`,
      );
    }
    const password = body.password ?? null;
    if (password !== null && (typeof password !== "string" || password.length > 1024)) {
      throw new HttpError(400, "EINVAL", '"password" must be a string');
    }
    const fs = scoped(c);
    const stat = await fs.lookup(path);
    // A share reads through a view limited to the shared path, in which a link leads
    // nowhere: made, it opened 404 (before session 20). Share what it points to instead.
    if (stat.type === "symlink") {
      throw new HttpError(400, "EINVAL", `"${path}" is a symbolic link: share what it points to`);
    }
    const generation = await currentGeneration(fs, path, { create: true });
    const maker = c.get("principal") as Principal;
    const { token, expires } = await shares.create(
      {
        path,
        ino: stat.ino,
        generation: generation!,
        by: principalId(maker),
      },
      { seconds: seconds as number, password: password || null },
    );
    return c.json({
      url: `/s/${token}/`,
      token,
      path,
      expires: new Date(expires * 1000).toISOString(),
      password: Boolean(password),
    }, 201);
  });

  app.post("/ui/share/revoke", async (c) => {
    const body = await readJsonObject(c, 16 * 1024);
    const path = sharedPath(c, body);
    // One CAS: every link made before carries another generation.
    await scoped(c).setxattr(path, GENERATION_XATTR, encoder.encode(newGeneration()));
    return c.json({ path, revoked: true });
  });

  registerShareRoutes(app, vfs, shares, { auth, clientOf });
  return app;
}
