/**
 * Hono middleware that authenticates a request and checks that its principal may use the
 * method on the path. Mount it on front-end routes only (`/healthz` stays open).
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { allows, ANONYMOUS, type Authenticator, type Principal, READ_METHODS } from "./verify.ts";
import { normalisedPath } from "./_path.ts";
import type { AuthFailure } from "./metrics.ts";
import { CSRF_HEADER, type Sessions } from "./session.ts";
import { AuthBusy } from "./password_gate.ts";

/** The context variables the middleware sets: read them with `c.get("principal")`. */
export type AuthEnv = { Variables: { principal: Principal } };

/** Where a request points, and how to name the service in challenges. */
export interface RequireAuthOptions {
  /**
   * The filesystem path the request acts on: decoded, absolute, normalised, exactly the
   * path the handler will use. `null` when the request names no path (then only the method
   * rule applies). A path with `.`, `..` or empty segments is answered 400.
   */
  readonly pathOf: (c: Context) => string | null;
  /**
   * A second path the request writes, such as WebDAV's `Destination` for MOVE and COPY;
   * it needs write access. Targets inside a body (the HTTP API's POST operations) are the
   * handler's to check with `allows`.
   */
  readonly destinationOf?: (c: Context) => string | null;
  /** The realm in `WWW-Authenticate` (default "PageFS"). */
  readonly realm?: string;
  /**
   * Accept a signed session cookie (the browser UI's sign-in) when the request has no
   * `Authorization` header. A request that changes something must then carry the session's
   * CSRF token in `X-CSRF-Token`, or it is refused 403.
   */
  readonly sessions?: Sessions;
  /**
   * Who the client is, for the bounds on password checks (its address; default: one client
   * for everyone). See `password_gate.ts`.
   */
  readonly clientOf?: (c: Context) => string;
  /** Called for every request refused 401 (to count and log it). */
  readonly onFailure?: (c: Context, reason: AuthFailure) => void;
}

/**
 * Builds the middleware. With `auth` null (authentication off: loopback without
 * credentials) every request passes as {@linkcode ANONYMOUS}; otherwise a missing or wrong
 * credential gets 401 with Basic and Bearer challenges, and a principal that may not use
 * the method on the path gets 403. Errors are `application/problem+json` shaped like the
 * HTTP API's: `{ type: "urn:pagefs:errno:EACCES", title, status, detail, errno, path }`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { type AuthEnv, requireAuth } from "./middleware.ts";
 * const app = new Hono<AuthEnv>();
 * app.use("/files/*", requireAuth(null, { pathOf: (c) => c.req.path.slice("/files".length) }));
 * app.get("/files/*", (c) => c.text(c.get("principal").name));
 * assert(await (await app.request("/files/a")).text() === "anonymous");
 * ```
 */
export function requireAuth(
  auth: Authenticator | null,
  options: RequireAuthOptions,
): MiddlewareHandler<AuthEnv> {
  const realm = (options.realm ?? "PageFS").replaceAll(/["\\]/g, "");
  return async (c, next) => {
    if (auth === null) {
      c.set("principal", ANONYMOUS);
      return await next();
    }
    const header = c.req.header("authorization") ?? null;
    const method = c.req.method.toUpperCase();
    const cookie = header === null && options.sessions
      ? options.sessions.cookieOf(c.req.raw)
      : null;
    let principal: Principal | null;
    if (cookie !== null && options.sessions) {
      const session = await options.sessions.verify(cookie);
      // A session signed in with a password the user no longer has is over (session 21).
      principal = session === null
        ? null
        : await auth.sessionPrincipal(session.user, session.stamp);
      if (principal === null) {
        options.onFailure?.(c, "invalid");
        // No Basic challenge: a browser would answer a script's request with its own
        // password dialog instead of letting the page sign in again.
        c.header("WWW-Authenticate", `Bearer realm="${realm}"`);
        return problem(c, 401, "The session has expired: sign in again");
      }
      if (!READ_METHODS.has(method)) {
        const ok = await options.sessions.checkCsrf(session!, c.req.header(CSRF_HEADER));
        if (!ok) return problem(c, 403, "Missing or invalid CSRF token");
      }
    } else {
      try {
        principal = await auth.authenticate(header, { client: options.clientOf?.(c) ?? "" });
      } catch (error) {
        if (!(error instanceof AuthBusy)) throw error;
        options.onFailure?.(c, "throttled");
        c.header("Retry-After", String(error.retryAfter));
        return problem(c, error.status, error.message);
      }
    }
    if (principal === null) {
      options.onFailure?.(c, header === null ? "missing" : "invalid");
      const bearerError = /^bearer /i.test(header ?? "") ? ', error="invalid_token"' : "";
      c.header("WWW-Authenticate", `Basic realm="${realm}", charset="UTF-8"`, { append: true });
      c.header("WWW-Authenticate", `Bearer realm="${realm}"${bearerError}`, { append: true });
      return problem(c, 401, header === null ? "Credentials required" : "Invalid credentials");
    }
    const path = options.pathOf(c);
    const denial = path === null
      ? methodDenial(principal, method)
      : pathDenial(principal, method, path);
    if (denial !== null) return problem(c, denial.status, denial.detail, path);
    const destination = options.destinationOf?.(c) ?? null;
    if (destination !== null) {
      const denied = pathDenial(principal, "PUT", destination);
      if (denied !== null) return problem(c, denied.status, denied.detail, destination);
    }
    c.set("principal", principal);
    return await next();
  };
}

type Denial = { status: 400 | 403; detail: string } | null;

function methodDenial(principal: Principal, method: string): Denial {
  if (principal.access === "rw" || READ_METHODS.has(method)) return null;
  return { status: 403, detail: `"${principal.name}" has read-only access` };
}

function pathDenial(principal: Principal, method: string, path: string): Denial {
  if (normalisedPath(path) === null) return { status: 400, detail: "Invalid path" };
  if (allows(principal, method, path)) return null;
  return methodDenial(principal, method) ?? {
    status: 403,
    detail: `"${principal.name}" may only access "${principal.prefix}"`,
  };
}

// The same shape as the HTTP API's errors (src/rest/errors.ts), without importing a front end.
const KINDS = {
  400: { errno: "EINVAL", title: "Invalid argument" },
  401: { errno: "EACCES", title: "Authentication required" },
  403: { errno: "EACCES", title: "Permission denied" },
  429: { errno: "EAGAIN", title: "Too many requests" },
  503: { errno: "EAGAIN", title: "Service unavailable" },
} as const;

function problem(
  c: Context,
  status: keyof typeof KINDS,
  detail: string,
  path: string | null = null,
): Response {
  const { errno, title } = KINDS[status];
  const body = { type: `urn:pagefs:errno:${errno}`, title, status, detail, errno, path };
  return c.body(JSON.stringify(body), status, { "Content-Type": "application/problem+json" });
}
