// Everything observable in a server's tree, read over HTTP as an unlimited principal: the
// bad-input batteries take one before and one after a refused request, and the two must be
// equal (names, types, sizes, modes, bytes, extended attributes, symlink targets, locks).

import { assert } from "./_assert.ts";
import type { TestServer } from "./_server.ts";

export interface SnapshotOptions {
  /** How deep the lock count looks from `/dav/` (default "1"). */
  readonly lockDepth?: "1" | "infinity";
}

/** The tree as `path -> "type size mode xattrs bytes-or-target"`, plus "(locks)". */
export async function snapshot(
  server: TestServer,
  authorization: string | null,
  options: SnapshotOptions = {},
): Promise<Record<string, string>> {
  const auth: Record<string, string> = authorization === null ? {} : { authorization };
  const out: Record<string, string> = {};
  const get = async (path: string) => {
    const res = await fetch(`${server.url}${path}`, { headers: auth });
    const text = await res.text();
    assert(res.status === 200, `snapshot ${path}: ${res.status} ${text}`);
    return text;
  };
  const walk = async (dir: string) => {
    const listing = JSON.parse(await get(`/api/v1/fs${dir}`)) as {
      entries: { name: string; type: string; size: number; mode: number }[];
    };
    for (const e of listing.entries) {
      const path = `${dir}${encodeURIComponent(e.name)}`;
      const xattrs = await get(`/api/v1/xattr${path}`);
      out[path] = `${e.type} ${e.size} ${e.mode} ${xattrs}`;
      if (e.type === "directory") await walk(path + "/");
      else if (e.type === "file") out[path] += " " + await get(`/api/v1/fs${path}`);
      else out[path] += " -> " + await get(`/api/v1/readlink${path}`);
    }
  };
  await walk("/");
  const res = await fetch(`${server.url}/dav/`, {
    method: "PROPFIND",
    headers: { ...auth, depth: options.lockDepth ?? "1", "content-type": "application/xml" },
    body: `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/>` +
      `</D:prop></D:propfind>`,
  });
  out["(locks)"] = String((await res.text()).match(/activelock/g)?.length ?? 0);
  return out;
}
