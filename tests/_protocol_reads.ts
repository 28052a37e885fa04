// The reading operations of the extended protocol fuzz: GET and HEAD (ranges,
// conditionals, listings) through either front end, and the HTTP API's attribute reads
// (stat, readlink, xattrs, statfs). See tests/_protocol_ops.ts for the writes.

import { assert, assertEquals } from "./_assert.ts";
import { davUrl } from "./_dav.ts";
import type { Rng } from "./_model.ts";
import { apiStatus, type World } from "./_protocol_world.ts";
import {
  api,
  davStatus,
  decode,
  LENIENT,
  meta,
  randomPath,
  run,
  type Step,
} from "./_protocol_steps.ts";

/** GET or HEAD through either front end: ranges, conditionals, listings. */
export function read(rng: Rng, w: World, c: World = w): Step {
  const m = w.model;
  const path = rng.chance(0.1) ? "/" : randomPath(rng, c.model);
  const dav = rng.chance(0.3);
  const head = rng.chance(0.2);
  const current = run(m, { op: "getattr", path });
  const node = m.followed(path);
  const data = node?.kind === "file" ? node.data : null;
  const headers: Record<string, string> = {};
  // Chosen from what `c` holds there, judged against what `w` holds (see pickIfMatch).
  const chosen = c.model.followed(path);
  const size = chosen?.kind === "file" ? chosen.data.length : null;
  const [ranged, form, r1, r2] = [rng.chance(0.5), rng.int(3), rng.next(), rng.next()];
  const of = <T>(items: readonly T[], r: number) => items[Math.floor(r * items.length)]!;
  let rangeText = "";
  if (size !== null && ranged) {
    if (form === 0) {
      const start = of([0, 1, 4095, 4096, size, size + 5], r1);
      rangeText = `bytes=${start}-${start + of([0, 10, 5000], r2)}`;
    } else if (form === 1) rangeText = `bytes=${of([0, 7, Math.max(size - 1, 0), size], r1)}-`;
    else rangeText = `bytes=-${of([0, 1, 100, size + 10], r1)}`;
    headers.range = rangeText;
  }
  const range = data && rangeText ? rangeOf(rangeText, data.length) : null;
  // If-None-Match with the ETag the server gave: 304; If-Match with a stale one: 412.
  const known = chosen?.kind === "file" ? c.etags.get(chosen.id) : undefined;
  const etag = node?.kind === "file" ? w.etags.get(node.id) : undefined;
  const [none, match, r3] = [rng.chance(0.2), rng.chance(0.15), rng.next()];
  let conditional = "";
  if (known && none) headers["if-none-match"] = conditional = `"${known}"`;
  else if (size !== null && c.stale.length && match) {
    headers["if-match"] = conditional = `"${of(c.stale, r3)}"`;
  }
  const tag = conditional.replace(/"/g, "");
  let expect: number;
  if (!current.ok) expect = dav ? davStatus(current.code) : apiStatus(current.code);
  // A listing (the API's JSON, WebDAV's HTML index) has no entity tag: If-Match fails.
  else if (!data) expect = headers["if-match"] ? 412 : 200;
  else if (headers["if-match"] && tag !== etag) expect = 412;
  else if (headers["if-none-match"] && tag === etag) expect = 304;
  else if (head || !range) expect = 200; // HEAD ignores Range (src/http/ranges.ts)
  else expect = range === "unsatisfiable" ? 416 : 206;
  const listing = current.ok && !data;
  return {
    what: `${dav ? "DAV" : "API"} ${head ? "HEAD" : "GET"} ${path}${
      rangeText ? ` ${rangeText}` : ""
    }${conditional ? ` ${headers["if-match"] ? "If-Match" : "If-None-Match"} ${conditional}` : ""}`,
    expect: [expect],
    url: dav ? davUrl(path) : api(path),
    init: { method: head ? "HEAD" : "GET", headers },
    check: (res, body) => {
      if (res.status === 416) {
        assertEquals(res.headers.get("content-range"), `bytes */${data!.length}`);
      }
      if (res.status >= 300 || !current.ok) return;
      if (listing) {
        if (dav || head) return;
        const got = JSON.parse(decode(body)) as { entries: { name: string; type: string }[] };
        const names = got.entries.map((e) => e.name);
        assertEquals(names, m.readdir(path), `listing of ${path}`);
        for (const e of got.entries) {
          const child = m.nodeAt((path === "/" ? "" : path) + "/" + e.name);
          assertEquals(e.type, child?.kind, `type of ${e.name} in ${path}`);
        }
        return;
      }
      const want = range && range !== "unsatisfiable" && !head
        ? data!.subarray(range.start, range.end + 1)
        : data!;
      if (range && range !== "unsatisfiable" && !head) {
        assertEquals(
          res.headers.get("content-range"),
          `bytes ${range.start}-${range.end}/${data!.length}`,
        );
      }
      assertEquals(res.headers.get("content-length"), String(want.length), "content-length");
      if (!head) {
        assertEquals(body.length, want.length, "length read");
        assert(body.every((b, i) => b === want[i]), "bytes read differ");
      }
      return w.learn(node, res.headers.get("etag"));
    },
  };
}

/** Reads of attributes: stat (lstat or followed), readlink, xattrs, statfs. */
export function inspect(rng: Rng, w: World, c: World = w): Step {
  const m = w.model;
  const path = rng.chance(0.05) ? "/" : randomPath(rng, c.model);
  const what = rng.pick(["stat", "stat", "readlink", "xattrs", "xattr", "statfs"]);
  if (what === "statfs") {
    return {
      what: "API GET statfs",
      expect: [200],
      url: "/api/v1/statfs",
      init: {},
      check: (_res, raw) => {
        const s = JSON.parse(decode(raw)) as Record<string, number>;
        for (const k of ["blockSize", "blocks", "blocksFree", "files", "filesFree", "nameMax"]) {
          assert(Number.isSafeInteger(s[k]) && s[k]! >= 0, `statfs ${k}: ${s[k]}`);
        }
      },
    };
  }
  if (what === "readlink") {
    const out = run(m, { op: "readlink", path });
    return {
      what: `API readlink ${path}`,
      expect: [out.ok ? 200 : apiStatus(out.code)],
      url: meta("readlink", path),
      init: {},
      check: (res, raw) => {
        if (res.status === 200) assertEquals(JSON.parse(decode(raw)).target, out.ok && out.value);
      },
    };
  }
  if (what === "xattrs" || what === "xattr") {
    const name = rng.pick(["user.x", "user.y"]);
    const out = run(
      m,
      what === "xattrs" ? { op: "listxattr", path } : { op: "getxattr", path, name },
    );
    return {
      what: `API xattr ${path}${what === "xattr" ? ` ${name}` : ""}`,
      expect: [out.ok ? 200 : apiStatus(out.code)],
      url: meta("xattr", path) + (what === "xattr" ? `?name=${name}` : ""),
      init: {},
      check: (res, raw) => {
        if (res.status !== 200 || !out.ok) return;
        const got = JSON.parse(decode(raw));
        if (what === "xattrs") assertEquals(got.names, out.value, "xattr names");
        else assertEquals(got.value, (out.value as Uint8Array).toBase64(), "xattr value");
      },
    };
  }
  const follow = rng.chance(0.5);
  const out = run(m, { op: follow ? "getattr" : "lookup", path });
  const node = follow ? m.followed(path) : m.nodeAt(path);
  return {
    what: `API stat ${path}${follow ? "?follow=1" : ""}`,
    expect: [out.ok ? 200 : apiStatus(out.code)],
    url: meta("stat", path) + (follow ? "?follow=1" : ""),
    init: {},
    check: (res, raw) => {
      if (res.status !== 200 || !out.ok || !node) return;
      const s = JSON.parse(decode(raw)) as {
        type: string;
        size: number;
        nlink: number;
        mode: number;
        mtime: string;
        etag: string;
      };
      const want = out.value as { type: string; size?: number; nlink?: number };
      assertEquals(s.type, want.type, "type");
      if (want.size !== undefined) assertEquals(s.size, want.size, "size");
      if (want.nlink !== undefined && LENIENT.nlink) {
        assert(s.nlink >= want.nlink, `nlink ${s.nlink}, expected at least ${want.nlink}`);
      } else if (want.nlink !== undefined) assertEquals(s.nlink, want.nlink, "nlink");
      const mode = w.modes.get(node.id);
      if (mode !== undefined) assertEquals(s.mode, mode, "mode set by chmod");
      const mtime = w.mtimes.get(node.id);
      if (mtime !== undefined) assertEquals(Date.parse(s.mtime), mtime, "mtime set by utimes");
      return w.learn(node, `"${s.etag}"`);
    },
  };
}

/**
 * What a `Range` of one of the forms read() sends selects of `size` bytes (RFC 9110 14.1.2);
 * null for the whole representation (a 200): a suffix range of an empty file.
 */
function rangeOf(
  text: string,
  size: number,
): { start: number; end: number } | "unsatisfiable" | null {
  const [, a, b] = /^bytes=(\d*)-(\d*)$/.exec(text)!;
  if (a === "") {
    const n = Number(b);
    if (n === 0) return "unsatisfiable";
    return size === 0 ? null : { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === "" ? size - 1 : Math.min(Number(b), size - 1);
  return start < size ? { start, end } : "unsatisfiable";
}
