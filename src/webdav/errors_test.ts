import { assert, assertEquals } from "../../tests/_assert.ts";
import { ERRNO_STATUS } from "../http/errors.ts";
import { ERRNO, type Errno, FsError } from "../vfs/mod.ts";
import { DAV_OVERRIDES, DAV_STATUS, DavError, messageOf, statusOf } from "./errors.ts";
import { errorResponse } from "./mod.ts";
import { Hono } from "hono";

const codes = Object.keys(ERRNO) as Errno[];

Deno.test("every errno has an HTTP status in the shared table and in WebDAV", () => {
  for (const code of codes) {
    for (const status of [ERRNO_STATUS[code], DAV_STATUS[code]]) {
      assert(status >= 400 && status < 600, `${code} maps to ${status}`);
    }
    assertEquals(statusOf(new FsError(code, "x")), DAV_STATUS[code]);
  }
});

Deno.test("WebDAV differs from the shared status table only by its RFC 4918 overrides", () => {
  const differing = codes.filter((code) => DAV_STATUS[code] !== ERRNO_STATUS[code]);
  assertEquals(differing.sort(), Object.keys(DAV_OVERRIDES).sort());
  assertEquals(DAV_STATUS.EBUSY, 423);
  assertEquals(DAV_STATUS.ENOENT, ERRNO_STATUS.ENOENT);
});

Deno.test("a WebDAV 503 carries Retry-After, as the HTTP API's does", async () => {
  const app = new Hono();
  app.get("/contention", () => {
    throw new FsError("EAGAIN", "Too many concurrent changes, try again");
  });
  app.get("/moved", () => {
    throw new DavError(503, "The source changed during the MOVE; nothing was done");
  });
  app.get("/missing", () => {
    throw new FsError("ENOENT", "No such file or directory");
  });
  app.onError((error, c) => errorResponse(c, error, "/dav"));
  for (const path of ["/contention", "/moved"]) {
    const res = await app.request(path);
    await res.body?.cancel();
    assertEquals([res.status, res.headers.get("retry-after")], [503, "1"], path);
  }
  const res = await app.request("/missing");
  await res.body?.cancel();
  assertEquals([res.status, res.headers.get("retry-after")], [404, null]);
});

Deno.test("a WebDAV 5xx from an errno says what happened; only EIO and the unexpected stay hidden", () => {
  // Protocol fuzz ext: a PUT through a symlink loop answered 508 "Internal error".
  assertEquals(
    messageOf(new FsError("ELOOP", 'Too many symlinks: "/c"')),
    'Too many symlinks: "/c"',
  );
  assertEquals(
    messageOf(new FsError("EAGAIN", "The name keeps changing")),
    "The name keeps changing",
  );
  assertEquals(messageOf(new FsError("EIO", "GetObject i/1: socket hang up")), "Internal error");
  assertEquals(messageOf(new Error("undefined is not a function")), "Internal error");
});
