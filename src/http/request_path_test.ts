import { assert, assertEquals } from "../../tests/_assert.ts";
import { FsError } from "../vfs/mod.ts";
import {
  checkRequestHost,
  fsPathBelow,
  mountNames,
  namesBelow,
  parseRequestPath,
  rawPathOf,
  requestPathOf,
} from "./request_path.ts";

function refused(raw: string): string | null {
  try {
    parseRequestPath(raw);
    return null;
  } catch (error) {
    assert(error instanceof FsError, String(error));
    return error.code;
  }
}

Deno.test("rawPathOf() keeps the path exactly as sent", () => {
  assertEquals(rawPathOf("http://h:8080/a/../%2e%2e/b?x=/../y"), "/a/../%2e%2e/b");
  assertEquals(rawPathOf("http://h"), "/");
  assertEquals(rawPathOf("http://h/?q"), "/");
});

Deno.test("parseRequestPath() decodes each name once and keeps literal characters", () => {
  assertEquals(parseRequestPath("/"), {
    names: [],
    trailingSlash: true,
    routePath: "/",
    emptySegments: false,
  });
  const p = parseRequestPath("/api/v1/%66s/a%20b/100%2525/a%252Fb/%C3%A9/x%5Cy/..x/");
  assertEquals(p.names, ["api", "v1", "fs", "a b", "100%25", "a%2Fb", "é", "x\\y", "..x"]);
  assert(p.trailingSlash);
  // The router sees one canonical spelling of the same names.
  assertEquals(parseRequestPath(p.routePath).names, p.names);
  assert(p.routePath.startsWith("/api/v1/fs/"));
});

Deno.test("parseRequestPath() takes plain names as they are, and routes them as any other", () => {
  // Plain names (unreserved characters only) skip decoding: the result must be the one
  // the full rules give, routePath included, next to names that need them.
  const plain = ["a", "A-Z_0.9~", "...", ".a", "a..", "~", "x".repeat(255)];
  const p = parseRequestPath("/dav/" + plain.join("/") + "/");
  assertEquals(p.names, ["dav", ...plain]);
  assertEquals(p.routePath, "/dav/" + plain.join("/") + "/");
  const mixed = parseRequestPath("/a/b%20c/d@e/f!g/h");
  assertEquals(mixed.names, ["a", "b c", "d@e", "f!g", "h"]);
  assertEquals(mixed.routePath, "/" + mixed.names.map(encodeURIComponent).join("/"));
  assertEquals(parseRequestPath("/a//b", { mergeSlashes: true }).routePath, "/a/b");
  for (const raw of ["/a/./b", "/a/../b", "/..", "/."]) assertEquals(refused(raw), "EINVAL");
  assertEquals(refused("/" + "x".repeat(256)), "ENAMETOOLONG");
  assertEquals(refused("/" + Array(20).fill("y".repeat(250)).join("/")), "ENAMETOOLONG");
});

Deno.test("parseRequestPath() refuses every spelling of a climb", () => {
  const climbs = [
    "/a/../b",
    "/a/./b",
    "/a/%2e%2e/b",
    "/a/%2E%2E/b",
    "/a/.%2e/b",
    "/a/%2e/b",
    "/a/%252e%252e/b",
    "/a/%25%32%65%25%32%65/b",
    "/a/..;/b",
    "/a/..;jsessionid=1/b",
    "/a/..%2fb",
    "/a/..%5cb",
    "/a/..%5C..%5Cb",
    "/a/..\\b",
    "/a\\..\\b",
    "/a/..%252fb",
    "/a/x%252f..%252f..",
    "/a/%c0%ae%c0%ae/b",
    "/a/%e0%80%ae%e0%80%ae/b",
    "/a/..%c0%afb",
    "/a//b",
    "//a",
    "/a/%00/b",
    "/a/b%00",
    "/a/%zz",
    "/a/%e9",
    "/a/b#/../c",
    "a/b",
    "",
  ];
  for (const raw of climbs) assertEquals(refused(raw), "EINVAL", raw);
  assertEquals(refused("/" + "x".repeat(256)), "ENAMETOOLONG");
});

Deno.test("namesBelow() and fsPathBelow() compare names, not characters", () => {
  const p = parseRequestPath("/dav/a%20b/");
  assertEquals(namesBelow(p, ["dav"]), ["a b"]);
  assertEquals(fsPathBelow(p, ["dav"]), { path: "/a b", trailingSlash: true });
  assertEquals(namesBelow(parseRequestPath("/davx/a"), ["dav"]), null);
  assertEquals(fsPathBelow(parseRequestPath("/dav"), ["dav"]), { path: "/", trailingSlash: false });
  assertEquals(mountNames("/api/v1/"), ["api", "v1"]);
  assertEquals(mountNames("/api/v1/"), mountNames("/api/v1"));
  // A path at the limit passes; one byte of multi-byte names past it does not.
  // 16 names of 254 bytes and one of 40: 4,121 bytes below /dav (the parse allows 64 more).
  const long = parseRequestPath(
    "/dav/" + [...Array(16).fill("é".repeat(127)), "é".repeat(20)].join("/"),
  );
  let code: string | null = null;
  try {
    fsPathBelow(long, ["dav"]);
  } catch (error) {
    code = error instanceof FsError ? error.code : String(error);
  }
  assertEquals(code, "ENAMETOOLONG");
  const fits = parseRequestPath("/dav/" + Array(16).fill("x".repeat(254)).join("/"));
  assertEquals(fsPathBelow(fits, ["dav"])?.path.length, 16 * 255);
});

Deno.test("requestPathOf() without merging refuses empty segments, showing the path sent", () => {
  const request = new Request("http://h/a//b");
  assertEquals(requestPathOf(request, { mergeSlashes: true }).names, ["a", "b"]);
  let shown: unknown = null;
  try {
    requestPathOf(request);
  } catch (error) {
    shown = error instanceof FsError ? [error.code, error.path] : error;
  }
  assertEquals(shown, ["EINVAL", "/a//b"]);
});

Deno.test("requestPathOf() parses a request once and reports the same refusal", () => {
  const request = new Request("http://h/a/%252e%252e/b");
  let first: unknown = null;
  try {
    requestPathOf(request);
  } catch (error) {
    first = error;
  }
  assert(first instanceof FsError);
  let second: unknown = null;
  try {
    requestPathOf(request);
  } catch (error) {
    second = error;
  }
  assert(second === first);
  const ok = new Request("http://h/a/b");
  assert(requestPathOf(ok) === requestPathOf(ok));
});

Deno.test("parseRequestPath() merges empty segments only when asked, and still refuses climbs", () => {
  const merged = parseRequestPath("//dav//a%20b///c/", { mergeSlashes: true });
  assertEquals(merged.names, ["dav", "a b", "c"]);
  assertEquals(merged.routePath, "/dav/a%20b/c/");
  assert(merged.trailingSlash && merged.emptySegments);
  assertEquals(parseRequestPath("//", { mergeSlashes: true }).routePath, "/");
  assertEquals(parseRequestPath("/dav/a", { mergeSlashes: true }).emptySegments, false);
  // Merging never lets a dot segment through, in any spelling.
  for (const raw of ["/a//../b", "/a//%2e%2e/b", "//..", "/a//..%2f//b"]) {
    let code: string | null = null;
    try {
      parseRequestPath(raw, { mergeSlashes: true });
    } catch (error) {
      assert(error instanceof FsError);
      code = error.code;
    }
    assertEquals(code, "EINVAL", raw);
  }
  // The same request: merged for the one caller that asks, refused for the others.
  const request = new Request("http://h/dav//x");
  assertEquals(requestPathOf(request, { mergeSlashes: true }).names, ["dav", "x"]);
  let refusal: unknown = null;
  try {
    requestPathOf(request);
  } catch (error) {
    refusal = error;
  }
  assert(refusal instanceof FsError && refusal.code === "EINVAL");
});

Deno.test("checkRequestHost() refuses a bad Host or authority right after letting a good one through", () => {
  const request = (url: string, host: string) => new Request(url, { headers: { host } });
  const refusedHost = (url: string, host: string) => {
    try {
      checkRequestHost(request(url, host));
      return false;
    } catch (error) {
      assert(error instanceof FsError && error.code === "EINVAL", String(error));
      return true;
    }
  };
  const good = "http://127.0.0.1:8080/dav/a";
  for (let i = 0; i < 2; i++) {
    assertEquals(refusedHost(good, "127.0.0.1:8080"), false);
    assertEquals(refusedHost("http://127.0.0.1:8080/dav/b?x=1", "127.0.0.1:8080"), false);
    assertEquals(refusedHost(good, "a b"), true);
    assertEquals(refusedHost(good, "x:99999"), true);
    assertEquals(refusedHost("http://127.0.0.1:8080/dav/a", "[::1"), true);
  }
});
