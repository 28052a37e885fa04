// Test harness for the HTTP file API: the sub-app mounted at /api/v1 over a fresh Vfs on
// each backend, a client that goes through app.request, and a snapshot of the whole tree.

import { Hono } from "hono";
import { contract } from "./_stores.ts";
import { createRestApi, PageFsClient } from "../src/rest/mod.ts";
import { type Stat, Vfs, type VfsOptions } from "../src/vfs/mod.ts";

export interface RestFixture {
  readonly app: Hono;
  readonly vfs: Vfs;
  readonly client: PageFsClient;
  /** A raw request below /api/v1 (e.g. "/fs/a.txt"). */
  req(path: string, init?: RequestInit): Promise<Response>;
}

export const BASE = "http://localhost/api/v1";

/** The API mounted at /api/v1 (the app has no notFound: a missing route is Hono's text 404). */
export function mount(vfs: Vfs, options: { maxJsonBytes?: number } = {}): Hono {
  return new Hono().route("/api/v1", createRestApi(vfs, options));
}

/** Registers `fn` once per backend (memory, and S3 when configured). */
export function restTest(
  name: string,
  fn: (t: RestFixture) => Promise<void>,
  options: { vfs?: VfsOptions; backends?: readonly string[] } = {},
): void {
  contract(name, async (store) => {
    const vfs = await Vfs.open(store, options.vfs ?? {});
    const app = mount(vfs);
    const client = new PageFsClient(BASE, { fetch: (input, init) => app.request(input, init) });
    const req = (path: string, init?: RequestInit) =>
      Promise.resolve(app.request(BASE + path, init));
    await fn({ app, vfs, client, req });
  }, { backends: options.backends ?? ["memory", "s3"] });
}

/** Everything observable about a tree: entries, attributes, content tags, links, xattrs. */
export async function snapshot(vfs: Vfs, path = "/"): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const describe = async (p: string, stat: Stat) => {
    const xattrs: Record<string, string> = {};
    for (const name of await vfs.listxattr(p)) {
      xattrs[name] = Array.from(await vfs.getxattr(p, name)).join(",");
    }
    out[p] = {
      ...stat,
      atime: undefined,
      xattrs,
      target: stat.type === "symlink" ? await vfs.readlink(p) : undefined,
    };
  };
  await describe(path, await vfs.lookup(path));
  const walk = async (dir: string) => {
    for (let cursor: string | null = null;;) {
      const page: Awaited<ReturnType<Vfs["readdir"]>> = await vfs.readdir(
        dir,
        cursor ? { cursor } : {},
      );
      for (const { name, stat } of page.entries) {
        const child = dir === "/" ? `/${name}` : `${dir}/${name}`;
        await describe(child, stat);
        if (stat.type === "directory") await walk(child);
      }
      cursor = page.cursor;
      if (!cursor) break;
    }
  };
  await walk(path);
  return out;
}

export const json = (body: unknown): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: typeof body === "string" ? body : JSON.stringify(body),
});
