// The UI talks to the server only through the HTTP API (/api/v1) and the tus endpoint.
// Requests carry the session cookie (same origin) and, when they change something, the
// session's CSRF token.

import { encodePath } from "./util.js";

const body = document.body.dataset;

/** What the server told the page about the signed-in principal. */
export const config = {
  user: body.user ?? "anonymous",
  access: body.access === "ro" ? "ro" : "rw",
  prefix: body.prefix || "/",
  csrf: body.csrf ?? "",
  authOn: body.auth === "1",
  api: body.api ?? "/api/v1",
  uploads: body.uploads ?? "/api/v1/uploads/",
};

export const canWrite = config.access === "rw";

/** Headers every state-changing request carries. */
export function writeHeaders(extra = {}) {
  return config.csrf ? { "x-csrf-token": config.csrf, ...extra } : { ...extra };
}

/** An error answered by the API, with its problem document's detail. */
export class ApiError extends Error {
  constructor(status, detail, errno) {
    super(detail);
    this.status = status;
    this.errno = errno;
  }
}

/** The URL of a path under /api/v1/fs. */
export function fsUrl(path) {
  return `${config.api}/fs${encodePath(path)}`;
}

async function failure(res) {
  let detail = `${res.status} ${res.statusText}`;
  let errno;
  try {
    const problem = await res.json();
    if (problem && typeof problem.detail === "string") detail = problem.detail;
    errno = problem?.errno;
  } catch {
    // Not a problem document.
  }
  if (res.status === 401 && config.authOn) {
    // The session ended: back to the sign-in page, then here again.
    location.assign(`/ui/login?next=${encodeURIComponent(location.pathname + location.hash)}`);
  }
  return new ApiError(res.status, detail, errno);
}

/** fetch() that throws an ApiError for anything but 2xx. */
export async function request(url, init = {}) {
  const method = (init.method ?? "GET").toUpperCase();
  const headers = method === "GET" || method === "HEAD"
    ? { ...(init.headers ?? {}) }
    : writeHeaders(init.headers ?? {});
  const res = await fetch(url, { credentials: "same-origin", ...init, headers });
  if (!res.ok) throw await failure(res);
  return res;
}

/** One page of a directory listing. */
export async function listPage(dir, { cursor, limit = 10000, signal } = {}) {
  const base = dir === "/" ? `${config.api}/fs/` : `${fsUrl(dir)}/`;
  const query = new URLSearchParams({ limit: String(limit) });
  if (cursor) query.set("cursor", cursor);
  const res = await request(`${base}?${query}`, { signal });
  return await res.json();
}

/** The stat of a path, or null when nothing is there. */
export async function statOrNull(path) {
  const res = await fetch(`${config.api}/stat${encodePath(path)}`, { credentials: "same-origin" });
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (!res.ok) throw await failure(res);
  return await res.json();
}

/** POST /fs/<path> { op, ... }. */
export async function op(path, fields) {
  const res = await request(fsUrl(path), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(fields),
  });
  return await res.json();
}

/** Removes a file, or a folder with everything in it. */
export async function remove(path, isDir) {
  await request(`${fsUrl(path)}${isDir ? "?recursive=1" : ""}`, { method: "DELETE" });
}

/** A JSON POST to one of the UI's own endpoints (/ui/...). */
export async function uiPost(url, data) {
  const res = await request(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(data),
  });
  return await res.json();
}
