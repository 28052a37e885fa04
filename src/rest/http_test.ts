// Unit tests of the HTTP helpers: path decoding, Range, Content-Range, preconditions.

import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { FsError, type Stat } from "../vfs/mod.ts";
import { ERRNO_STATUS, HttpError, toProblem } from "./errors.ts";
import { parseJsonPath, parseRawSegments } from "../http/path.ts";
import { evaluatePreconditions, ifRangeHolds, parseEtagList } from "../http/preconditions.ts";
import { parseContentRange, parseRange } from "../http/ranges.ts";

const code = async (fn: () => unknown) => {
  const error = await assertRejects(async () => await fn());
  return error instanceof HttpError ? error.status : (error as FsError).code;
};

Deno.test("parseRawSegments() decodes each segment once and refuses traversal", async () => {
  assertEquals(parseRawSegments([]), { path: "/", trailingSlash: false });
  assertEquals(parseRawSegments([""]), { path: "/", trailingSlash: true });
  assertEquals(parseRawSegments(["a", "b%20c", ""]), { path: "/a/b c", trailingSlash: true });
  assertEquals(parseRawSegments(["%252e%252e"]).path, "/%2e%2e");
  for (const raw of [[".."], ["."], ["%2e%2e"], ["a", "%2E"], ["a%2Fb"], ["%00"], ["a", "", "b"]]) {
    assertEquals(await code(() => parseRawSegments(raw)), "EINVAL", raw.join("/"));
  }
  assertEquals(await code(() => parseRawSegments(["%E0%A4"])), "EINVAL");
  assertEquals(await code(() => parseRawSegments(["x".repeat(256)])), "ENAMETOOLONG");
  assertEquals(await code(() => parseRawSegments(Array(2100).fill("ab"))), "ENAMETOOLONG");
});

Deno.test("parseJsonPath() takes absolute clean paths only", async () => {
  assertEquals(parseJsonPath("/"), "/");
  assertEquals(parseJsonPath("/a/b/"), "/a/b");
  // As the request path: no name that climbs where "\\" is a separator.
  assertEquals(parseJsonPath("/a\\b/c:d"), "/a\\b/c:d");
  for (
    const bad of ["a", "", "/a/../b", "/./a", "//a", "/a\0", "/a/..\\..\\x", "/a/b\\..", "/..;x"]
  ) {
    assertEquals(await code(() => parseJsonPath(bad)), "EINVAL", bad);
  }
});

Deno.test("parseRange() follows RFC 9110 for a 10-byte representation", () => {
  const r = (h: string | undefined) => parseRange(h, 10);
  assertEquals(r(undefined), { kind: "none" });
  assertEquals(r("bytes=2-4"), { kind: "range", start: 2, end: 4 });
  assertEquals(r("bytes=2-"), { kind: "range", start: 2, end: 9 });
  assertEquals(r("bytes=-4"), { kind: "range", start: 6, end: 9 });
  assertEquals(r("bytes=-40"), { kind: "range", start: 0, end: 9 });
  assertEquals(r("bytes=0-40"), { kind: "range", start: 0, end: 9 });
  assertEquals(r("bytes=10-"), { kind: "unsatisfiable" });
  assertEquals(r("bytes=-0"), { kind: "unsatisfiable" });
  // Of an empty file a suffix range is satisfiable (RFC 9110 14.1.1) but has no
  // Content-Range: the whole, empty file (before session 16: 416).
  assertEquals(parseRange("bytes=-1", 0), { kind: "none" });
  assertEquals(parseRange("bytes=-0", 0), { kind: "unsatisfiable" });
  assertEquals(parseRange("bytes=0-", 0), { kind: "unsatisfiable" });
  for (const ignored of ["bytes=4-2", "bytes=a-b", "bytes=1-2,4-5", "lines=1-2", "bytes 1-2"]) {
    assertEquals(r(ignored), { kind: "none" }, ignored);
  }
});

Deno.test("parseContentRange() accepts bytes a-b/* and a-b/length", async () => {
  assertEquals(parseContentRange("bytes 0-3/*"), { start: 0, end: 3 });
  assertEquals(parseContentRange("bytes 5-5/100"), { start: 5, end: 5 });
  assertEquals(await code(() => parseContentRange("bytes 5-4/*")), 416);
  for (const bad of ["bytes 1-/*", "bytes -1/*", "bytes=0-1/*", "bytes 0-1", "bytes 0-9/5"]) {
    assertEquals(await code(() => parseContentRange(bad)), 400, bad);
  }
});

Deno.test("evaluatePreconditions() uses RFC 9110 order and comparisons", async () => {
  const stat = { etag: "e1", mtime: Date.UTC(2024, 0, 1, 12) } as Stat;
  const before = new Date(Date.UTC(2024, 0, 1, 11)).toUTCString();
  const same = new Date(stat.mtime + 999).toUTCString();
  assertEquals(evaluatePreconditions({}, stat, true), "proceed");
  assertEquals(evaluatePreconditions({ ifNoneMatch: 'W/"e1"' }, stat, true), "not-modified");
  assertEquals(evaluatePreconditions({ ifModifiedSince: same }, stat, true), "not-modified");
  assertEquals(evaluatePreconditions({ ifModifiedSince: before }, stat, true), "proceed");
  assertEquals(evaluatePreconditions({ ifModifiedSince: before }, stat, false), "proceed");
  assertEquals(await code(() => evaluatePreconditions({ ifMatch: 'W/"e1"' }, stat, true)), 412);
  assertEquals(await code(() => evaluatePreconditions({ ifMatch: "*" }, null, false)), 412);
  assertEquals(await code(() => evaluatePreconditions({ ifNoneMatch: "*" }, stat, false)), 412);
  assertEquals(evaluatePreconditions({ ifNoneMatch: "*" }, null, false), "proceed");
  assertEquals(evaluatePreconditions({ ifUnmodifiedSince: before }, null, false), "proceed");
  assertEquals(
    await code(() => evaluatePreconditions({ ifUnmodifiedSince: before }, stat, false)),
    412,
  );
  // If-Match present: If-Unmodified-Since is not evaluated.
  assertEquals(
    evaluatePreconditions({ ifMatch: '"e1"', ifUnmodifiedSince: before }, stat, false),
    "proceed",
  );
  assertEquals(parseEtagList(' "a" , W/"b",junk'), [
    { weak: false, tag: "a" },
    { weak: true, tag: "b" },
  ]);
  assertEquals(ifRangeHolds('"e1"', stat), true);
  assertEquals(ifRangeHolds('W/"e1"', stat), false);
  assertEquals(ifRangeHolds(same, stat), false);
});

Deno.test("toProblem() maps errno codes, hides EIO internals, and asks EAGAIN to retry", () => {
  const missing = toProblem(new FsError("ENOENT", "No such file", { path: "/a" }), "/b");
  assertEquals(missing.problem, {
    type: "urn:pagefs:errno:ENOENT",
    title: "No such file or directory",
    status: 404,
    detail: 'No such file: "/a"',
    errno: "ENOENT",
    path: "/a",
  });
  const io = toProblem(new FsError("EIO", "GetObject s3://bucket/key failed"), "/x");
  assertEquals([io.problem.status, io.problem.detail], [500, "Internal error"]);
  const crash = toProblem(new TypeError("secret stack"), null);
  assertEquals([crash.problem.status, crash.problem.errno, crash.problem.detail], [
    500,
    "EIO",
    "Internal error",
  ]);
  const busy = toProblem(new FsError("EAGAIN", "Contention"), "/x");
  assertEquals([busy.problem.status, busy.headers["retry-after"]], [503, "1"]);
  assertEquals(ERRNO_STATUS.ENOSPC, 507);
});
