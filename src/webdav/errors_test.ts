import { assert, assertEquals } from "../../tests/_assert.ts";
import { ERRNO_STATUS } from "../http/errors.ts";
import { ERRNO, type Errno, FsError } from "../vfs/mod.ts";
import { DAV_OVERRIDES, DAV_STATUS, statusOf } from "./errors.ts";

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
