/**
 * The server's root (`/`) as WebDAV clients probe it before they use the mount. Windows'
 * WebDAV client (the Mini-Redirector) sends OPTIONS and PROPFIND to `/` and gives up on
 * the server (caching the verdict until a reboot) unless they speak DAV; gvfs PROPFINDs
 * `/` while mounting. The root is the browser UI, not part of the filesystem: these
 * answers say only that it is a collection whose one member is the mount. They need no
 * credentials and reveal nothing (before session 16: 404, and Windows' "Add a network
 * location" of `http://host/dav/` failed). Other methods on `/` stay the UI's.
 *
 * @module
 */

import { Hono } from "hono";
import { DavError, messageOf, statusOf } from "./errors.ts";
import { parseDepth } from "./headers.ts";
import { parsePropfind, type PropName } from "./props.ts";
import { DAV, readXmlBody, renderXml, type XmlOut } from "./xml.ts";

const dav = (name: string, children: XmlOut["children"] = []): XmlOut => ({
  ns: DAV,
  name,
  children,
});

/** The two properties these collections have; anything else asked for is 404. */
function valueOf(name: PropName, displayname: string): XmlOut | null {
  if (name.ns !== DAV) return null;
  if (name.name === "resourcetype") return dav("resourcetype", [dav("collection")]);
  if (name.name === "displayname") return dav("displayname", [displayname]);
  return null;
}

const KNOWN: readonly PropName[] = [
  { ns: DAV, name: "resourcetype" },
  { ns: DAV, name: "displayname" },
];

/**
 * Routes OPTIONS and PROPFIND of `/` for a WebDAV app mounted at `mount` ("/dav"); route
 * this app at "/" before the UI.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serverRoot } from "./server_root.ts";
 * const res = await serverRoot("/dav").request("/", { method: "PROPFIND", headers: { depth: "1" } });
 * assert(res.status === 207 && (await res.text()).includes("<D:href>/dav/</D:href>"));
 * ```
 */
export function serverRoot(mount: string): Hono {
  const app = new Hono();
  app.options("/", (c) =>
    c.body(null, 200, {
      "dav": "1, 2",
      "ms-author-via": "DAV",
      "allow": "OPTIONS, GET, HEAD, PROPFIND",
      "content-length": "0",
    }));
  app.on("PROPFIND", "/", async (c) => {
    try {
      const depth = parseDepth(c.req.header("depth") ?? null, "infinity");
      const query = parsePropfind(await readXmlBody(c.req.raw, { limit: 64 * 1024 }));
      const collections = [["/", ""], [`${mount}/`, mount.slice(mount.lastIndexOf("/") + 1)]];
      const responses = (depth === "0" ? collections.slice(0, 1) : collections).map(
        ([href, displayname]) => {
          const found: XmlOut[] = [];
          const missing: XmlOut[] = [];
          const names = query.kind === "prop" ? query.names : KNOWN;
          for (const name of names) {
            const value = valueOf(name, displayname!);
            if (!value) missing.push({ ns: name.ns, name: name.name, children: [] });
            else found.push(query.kind === "propname" ? dav(name.name) : value);
          }
          const children = [dav("href", [href!])];
          if (found.length > 0 || missing.length === 0) {
            children.push(
              dav("propstat", [dav("prop", found), dav("status", ["HTTP/1.1 200 OK"])]),
            );
          }
          if (missing.length > 0) {
            children.push(
              dav("propstat", [dav("prop", missing), dav("status", ["HTTP/1.1 404 Not Found"])]),
            );
          }
          return dav("response", children);
        },
      );
      return c.body(renderXml(dav("multistatus", responses)), 207, {
        "content-type": "application/xml; charset=utf-8",
      });
    } catch (error) {
      if (!(error instanceof DavError) && statusOf(error) >= 500) throw error;
      return c.text(messageOf(error), statusOf(error) as 400);
    }
  });
  return app;
}
