// The operations of the extended protocol fuzz (tests/protocol_fuzz_ext_test.ts): each
// picks its arguments, says from the world (tests/_protocol_world.ts) which status the
// server must answer, checks the answer's body and headers, and changes the world when it
// succeeded. Statuses follow the documented order of each route's checks (src/rest/,
// src/webdav/): the path, then preconditions (412), then locks (423), then the operation's
// own errno, mapped by the one table of src/http/errors.ts (WebDAV: src/webdav/errors.ts).

import { assert, assertEquals } from "./_assert.ts";
import { davUrl, parseMultistatus } from "./_dav.ts";
import { applyModel, compareUtf8, type MNode, type Model, type Op, type Rng } from "./_model.ts";
import {
  apiStatus,
  parentOf,
  removeTree,
  type Touch,
  within,
  type World,
} from "./_protocol_world.ts";

/** What one request is, what must come back, and what it changes. */
export interface Step {
  readonly what: string;
  /** The statuses allowed (more than one only where a comment says why). */
  readonly expect: readonly number[];
  readonly url: string;
  readonly init: RequestInit;
  /** Checks the answer (any status in `expect`); throws with the reason. */
  readonly check?: (res: Response, body: Uint8Array) => string | null | void;
  /** Changes the world after a 2xx answer. */
  readonly apply?: (res: Response, body: Uint8Array) => string | null | void;
}

export const NAMES = ["a", "b", "c"];
const api = (path: string) => "/api/v1/fs" + davUrl(path).slice("/dav".length);
const meta = (route: string, path: string) =>
  `/api/v1/${route}` + davUrl(path).slice("/dav".length);
const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});
const decode = (b: Uint8Array) => new TextDecoder().decode(b);
const NS = "urn:x-pagefs-fuzz:";
const PROPS = ["p1", "p2"];
const deadName = (local: string) => `dav:{${NS}}${local}`;

/** A path: mostly below an existing directory or symlink, at most three names deep. */
export function randomPath(rng: Rng, model: Model): string {
  const paths = ["/", ...model.paths()];
  const bases = paths.filter((p) => {
    const kind = model.nodeAt(p)?.kind;
    return kind === "directory" || (kind === "symlink" && rng.chance(0.5));
  });
  const base = rng.chance(0.85) ? rng.pick(bases) : rng.pick(paths);
  if (base.split("/").length > 3) return base;
  return (base === "/" ? "" : base) + "/" + rng.pick(NAMES);
}

function randomBytes(rng: Rng): Uint8Array<ArrayBuffer> {
  const size = rng.pick([0, 1, 100, 3000, 5000, 9000]);
  const out = new Uint8Array(size);
  const seed = rng.int(256);
  for (let i = 0; i < size; i++) out[i] = (seed + i * 7) & 0xff;
  return out;
}

/** A symlink target: to something, dangling, relative, to itself (a loop), to a parent. */
function randomTarget(rng: Rng, model: Model, path: string): string {
  const existing = model.paths();
  switch (rng.int(6)) {
    case 0:
      return existing.length ? rng.pick(existing) : "/";
    case 1:
      return "/nowhere/" + rng.pick(NAMES);
    case 2:
      return rng.pick(NAMES);
    case 3:
      return "../" + rng.pick(NAMES);
    case 4:
      return path; // itself: ELOOP
    default:
      return rng.pick(["/", ".", ".."]);
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; code: string };
const run = (model: Model, op: Op): Outcome => applyModel(model, op) as Outcome;

/** The file `path` leads to, and a copy of its bytes (to tell later if they changed). */
function fileAt(model: Model, path: string): { node: MNode | null; bytes: Uint8Array | null } {
  const node = model.followed(path);
  return { node, bytes: node?.kind === "file" ? node.data.slice() : null };
}

/** A conditional header on a file's ETag: the current one, a stale one, or `*`. */
function pickIfMatch(rng: Rng, w: World, node: MNode | null) {
  const known = node?.kind === "file" ? w.etags.get(node.id) : undefined;
  const choice = rng.int(4);
  if (choice === 0 && known) return { value: `"${known}"`, holds: true };
  if (choice === 1 && w.stale.length) return { value: `"${rng.pick(w.stale)}"`, holds: false };
  if (choice === 2) return { value: "*", holds: node !== null };
  return null;
}

/** A lock token to send for `path` (sometimes), as the API takes it. */
function tokenFor(rng: Rng, w: World, path: string): string[] {
  const token = w.locks.get(path);
  return token && rng.chance(0.6) ? [token] : [];
}
const lockHeader = (tokens: string[]) =>
  tokens.length ? { "lock-token": tokens.map((t) => `<${t}>`).join(", ") } : {};

/** PUT (whole file) through the API or WebDAV, maybe conditional, maybe with a token. */
function put(rng: Rng, w: World, dav: boolean): Step {
  const m = w.model;
  let path = randomPath(rng, m);
  if (path === "/") path = "/" + rng.pick(NAMES);
  const data = randomBytes(rng);
  const { node, bytes } = fileAt(m, path);
  const current = run(m, { op: "getattr", path });
  const cond = pickIfMatch(rng, w, node);
  const exclusive = cond === null && rng.chance(0.15);
  const tokens = tokenFor(rng, w, path);
  const headers: Record<string, string> = dav
    ? (tokens.length ? { if: `(<${tokens[0]}>)` } : {})
    : lockHeader(tokens);
  if (cond) headers["if-match"] = cond.value;
  if (exclusive) headers["if-none-match"] = "*";
  const trial = m.clone();
  const out = run(trial, { op: "create", path, exclusive });
  const wrote = out.ok ? run(trial, { op: "writeFile", path, data }) : out;
  const exists = current.ok;
  let expect: number;
  const entry = m.nodeAt(path);
  // WebDAV takes a path that leads through a file (ENOTDIR) as nothing there (its
  // statOrNull), so its parent check and the preconditions come first.
  const absent = !current.ok && (current.code === "ENOENT" || (dav && current.code === "ENOTDIR"));
  if (!current.ok && !absent) {
    expect = dav ? davStatus(current.code) : apiStatus(current.code);
  } else if (exists && (current.value as { type: string }).type === "directory") {
    expect = dav ? 405 : 409;
  } else if (dav && !exists && m.followed(parentOf(path))?.kind !== "directory") {
    expect = 409;
  } else if (cond && !cond.holds) expect = 412;
  else if (exclusive && exists) expect = 412;
  else if (w.blocked(path, { membership: !exists }, tokens)) expect = 423;
  // If-None-Match: * over a dangling symlink: no representation, so the condition holds
  // (RFC 9110 13.1.2), but the create is exclusive and, as O_EXCL, does not follow a
  // final symlink: 412 from the commit (EEXIST), after the lock check.
  else if (exclusive && entry !== null) expect = 412;
  else if (!wrote.ok) expect = dav ? davPutStatus(wrote.code) : apiStatus(wrote.code);
  else expect = exists ? 204 : 201;
  return {
    what: `${dav ? "DAV" : "API"} PUT ${path} (${data.length} bytes)${
      cond ? ` If-Match ${cond.value}` : ""
    }${exclusive ? " If-None-Match *" : ""}${tokens.length ? " +token" : ""}`,
    expect: [expect],
    url: dav ? davUrl(path) : api(path),
    init: { method: "PUT", headers, body: data },
    apply: (res) => {
      w.model = trial;
      const after = trial.followed(path);
      w.wrote(after, bytes);
      return w.learn(after, res.headers.get("etag"));
    },
  };
}

function davStatus(code: string): number {
  return ({ EBUSY: 423, EEXIST: 405, ELOOP: 508, ESTALE: 412 } as Record<string, number>)[code] ??
    apiStatus(code);
}
/** A PUT's failure in WebDAV: RFC 4918 section 9.7.1 (a missing parent is 409). */
function davPutStatus(code: string): number {
  if (code === "EISDIR") return 405;
  if (code === "ENOENT" || code === "ENOTDIR") return 409;
  if (code === "EEXIST") return 412;
  return davStatus(code);
}

/** PATCH at an offset or appending, through the API. */
function patch(rng: Rng, w: World): Step {
  const m = w.model;
  const path = randomPath(rng, m);
  const append = rng.chance(0.3);
  const create = rng.chance(0.3);
  const offset = rng.pick([0, 10, 4090, 4096, 7000]);
  const data = randomBytes(rng).slice(0, rng.pick([1, 50, 5000]));
  if (data.length === 0) return put(rng, w, false);
  const { node, bytes } = fileAt(m, path);
  const current = run(m, { op: "getattr", path });
  const cond = pickIfMatch(rng, w, node);
  const tokens = tokenFor(rng, w, path);
  const headers: Record<string, string> = { ...lockHeader(tokens) };
  if (cond) headers["if-match"] = cond.value;
  if (!append) headers["content-range"] = `bytes ${offset}-${offset + data.length - 1}/*`;
  const trial = m.clone();
  const out = append
    ? run(trial, { op: "append", path, data, create })
    : run(trial, { op: "write", path, offset, data, create });
  let expect: number;
  if (!current.ok && current.code !== "ENOENT") expect = apiStatus(current.code);
  else if (current.ok && (current.value as { type: string }).type === "directory") expect = 409;
  else if (cond && !cond.holds) expect = 412;
  else if (!current.ok && !create) expect = 404;
  else if (w.blocked(path, { membership: !current.ok }, tokens)) expect = 423;
  else if (!out.ok) expect = apiStatus(out.code);
  else expect = 204;
  const query = [append ? "append=1" : "", create ? "create=1" : ""].filter(Boolean).join("&");
  return {
    what: `API PATCH ${path} ${append ? "append" : `at ${offset}`} (${data.length} bytes)${
      create ? " create" : ""
    }${cond ? ` If-Match ${cond.value}` : ""}${tokens.length ? " +token" : ""}`,
    expect: [expect],
    url: api(path) + (query ? `?${query}` : ""),
    init: { method: "PATCH", headers, body: data },
    apply: (res) => {
      w.model = trial;
      const after = trial.followed(path);
      w.wrote(after, bytes);
      return w.learn(after, res.headers.get("etag"));
    },
  };
}

/** GET or HEAD through either front end: ranges, conditionals, listings. */
function read(rng: Rng, w: World): Step {
  const m = w.model;
  const path = rng.chance(0.1) ? "/" : randomPath(rng, m);
  const dav = rng.chance(0.3);
  const head = rng.chance(0.2);
  const current = run(m, { op: "getattr", path });
  const node = m.followed(path);
  const data = node?.kind === "file" ? node.data : null;
  const headers: Record<string, string> = {};
  let range: { start: number; end: number } | "unsatisfiable" | null = null;
  let rangeText = "";
  if (data && rng.chance(0.5)) {
    const size = data.length;
    switch (rng.int(3)) {
      case 0: {
        const start = rng.pick([0, 1, 4095, 4096, size, size + 5]);
        const end = start + rng.pick([0, 10, 5000]);
        rangeText = `bytes=${start}-${end}`;
        range = start < size ? { start, end: Math.min(end, size - 1) } : "unsatisfiable";
        break;
      }
      case 1: {
        const start = rng.pick([0, 7, size - 1, size]);
        rangeText = `bytes=${start}-`;
        range = start >= 0 && start < size ? { start, end: size - 1 } : "unsatisfiable";
        if (start < 0) rangeText = "";
        break;
      }
      default: {
        const n = rng.pick([0, 1, 100, size + 10]);
        rangeText = `bytes=-${n}`;
        range = n === 0 || size === 0
          ? "unsatisfiable"
          : { start: Math.max(0, size - n), end: size - 1 };
      }
    }
    if (rangeText) headers.range = rangeText;
    else range = null;
  }
  // If-None-Match with the ETag the server gave: 304; If-Match with a stale one: 412.
  const known = node?.kind === "file" ? w.etags.get(node.id) : undefined;
  let conditional = "";
  if (known && rng.chance(0.2)) headers["if-none-match"] = conditional = `"${known}"`;
  else if (data && w.stale.length && rng.chance(0.15)) {
    headers["if-match"] = conditional = `"${rng.pick(w.stale)}"`;
  }
  let expect: number;
  if (!current.ok) expect = dav ? davStatus(current.code) : apiStatus(current.code);
  else if (!data) expect = 200; // a listing (the API's JSON, WebDAV's HTML index)
  else if (headers["if-match"]) expect = 412;
  else if (headers["if-none-match"]) expect = 304;
  else if (head || !range) expect = 200; // HEAD ignores Range (src/http/ranges.ts)
  else expect = range === "unsatisfiable" ? 416 : 206;
  const listing = current.ok && !data;
  return {
    what: `${dav ? "DAV" : "API"} ${head ? "HEAD" : "GET"} ${path}${
      rangeText ? ` ${rangeText}` : ""
    }${conditional ? ` ${headers["if-match"] ? "If-Match" : "If-None-Match"} ${conditional}` : ""}`,
    expect: [expect],
    url: dav ? davUrl(path) : api(path) + (listing && path !== "/" ? "/" : ""),
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

/** DELETE through the API: a file, a symlink (not followed), a directory, a tree. */
function remove(rng: Rng, w: World): Step {
  const m = w.model;
  const path = rng.chance(0.05) ? "/" : randomPath(rng, m);
  // WebDAV's DELETE of a collection is always of the whole tree (RFC 4918 section 9.6.1).
  const dav = rng.chance(0.3);
  const recursive = dav || rng.chance(0.5);
  const entry = run(m, { op: "lookup", path });
  const node = m.nodeAt(path);
  const cond = node?.kind === "file" ? pickIfMatch(rng, w, node) : null;
  const tokens = tokenFor(rng, w, path);
  const trial = m.clone();
  let out: Outcome = { ok: true, value: null };
  if (path === "/") out = { ok: false, code: "EBUSY" };
  else if (node?.kind === "directory") {
    if (recursive) removeTree(trial, path);
    else out = run(trial, { op: "rmdir", path });
  } else out = run(trial, { op: "unlink", path });
  const status = dav ? davStatus : apiStatus;
  let expect: number;
  if (path === "/") expect = dav ? 403 : 409; // EBUSY; WebDAV: RFC 4918 has no root DELETE
  else if (!entry.ok) expect = status(entry.code);
  else if (cond && !cond.holds) expect = 412;
  else if (w.blocked(path, { membership: true, tree: true }, tokens)) expect = 423;
  else if (!out.ok) expect = status(out.code);
  else expect = 204;
  const headers: Record<string, string> = dav
    ? (tokens.length ? { if: `(<${tokens[0]}>)` } : {})
    : lockHeader(tokens);
  if (cond) headers["if-match"] = cond.value;
  return {
    what: `${dav ? "DAV" : "API"} DELETE ${path}${recursive && !dav ? "?recursive=1" : ""}${
      cond ? ` If-Match ${cond.value}` : ""
    }${tokens.length ? " +token" : ""}`,
    expect: [expect],
    url: dav ? davUrl(path) : api(path) + (recursive ? "?recursive=1" : ""),
    init: { method: "DELETE", headers },
    apply: () => {
      w.model = trial;
      w.release(path);
    },
  };
}

/**
 * WebDAV MOVE: RFC 4918 section 9.9, a rename that replaces what is at the destination
 * (with Overwrite T), whatever its type; the source is gone after it.
 */
function move(rng: Rng, w: World): Step {
  const m = w.model;
  const from = randomPath(rng, m);
  const to = randomPath(rng, m);
  const overwrite = rng.chance(0.6);
  const tokens = tokenFor(rng, w, from);
  const source = run(m, { op: "lookup", path: from });
  const target = run(m, { op: "lookup", path: to });
  const targetAbsent = !target.ok && (target.code === "ENOENT" || target.code === "ENOTDIR");
  const trial = m.clone();
  let out: Outcome = { ok: true, value: null };
  if (m.nodeAt(from) !== null && m.nodeAt(from) === m.nodeAt(to)) {
    // Two names of one file: the source name goes, the destination stays.
    out = run(trial, { op: "unlink", path: from });
  } else {
    // Where the destination is, before what is there goes (its path may lead through it).
    const at = m.physical(to) ?? to;
    const kinds = [m.nodeAt(from)?.kind, m.nodeAt(to)?.kind];
    if (target.ok && overwrite && kinds.includes("directory")) removeTree(trial, to);
    out = run(trial, { op: "rename", from, to: at, noReplace: false });
  }
  let expect: number;
  if (!source.ok) expect = davStatus(source.code);
  else if (to === from || within(to, from) || within(from, to)) expect = 403;
  else if (!target.ok && !targetAbsent) expect = davStatus(target.code);
  // The same entry under another spelling: the same resource (RFC 4918 section 9.9.4).
  else if (target.ok && m.physical(from) === m.physical(to)) expect = 403;
  else if (target.ok && !overwrite) expect = 412;
  else if (m.followed(parentOf(to))?.kind !== "directory") expect = 409;
  else if (w.blocked(to, { membership: true, tree: true }, tokens)) expect = 423;
  else if (w.blocked(from, { membership: true, tree: true }, tokens)) expect = 423;
  else if (!out.ok) expect = davStatus(out.code);
  else expect = target.ok ? 204 : 201;
  return {
    what: `MOVE ${from} -> ${to} overwrite ${overwrite}${tokens.length ? " +token" : ""}`,
    expect: [expect],
    url: davUrl(from),
    init: {
      method: "MOVE",
      headers: {
        destination: `http://localhost${davUrl(to)}`,
        overwrite: overwrite ? "T" : "F",
        ...(tokens.length ? { if: `(<${tokens[0]}>)` } : {}),
      },
    },
    apply: () => {
      w.model = trial;
      w.release(from);
    },
  };
}

/** A POST operation: rename, link, symlink, truncate, chmod, utimes, setxattr, removexattr. */
function post(rng: Rng, w: World): Step {
  const m = w.model;
  const path = rng.chance(0.05) ? "/" : randomPath(rng, m);
  const kind = rng.pick([
    "rename",
    "rename",
    "link",
    "link",
    "symlink",
    "symlink",
    "truncate",
    "chmod",
    "utimes",
    "setxattr",
    "setxattr",
    "removexattr",
  ]);
  const tokens = tokenFor(rng, w, path);
  const headers = lockHeader(tokens);
  const trial = m.clone();
  let body: Record<string, unknown> = { op: kind };
  let expect: number;
  let created = false;
  const { node: target, bytes } = fileAt(m, path);
  let touch: Touch | null = {};
  let to: string | null = null;
  let op: Op;
  let pre: Outcome = { ok: true, value: null };
  let cond: { value: string; holds: boolean } | null = null;
  switch (kind) {
    case "rename": {
      to = rng.chance(0.05) ? "/" : randomPath(rng, m);
      const noReplace = rng.chance(0.3);
      body = { op: kind, to, ...(noReplace ? { noReplace } : {}) };
      op = { op: "rename", from: path, to, noReplace };
      touch = { membership: true, tree: true };
      pre = run(m, { op: "lookup", path });
      break;
    }
    case "link":
      to = randomPath(rng, m);
      body = { op: kind, to };
      op = { op: "link", existing: path, path: to };
      touch = null;
      created = true;
      break;
    case "symlink": {
      const target = randomTarget(rng, m, path);
      body = { op: kind, target };
      op = { op: "symlink", target, path };
      touch = { membership: true };
      created = true;
      break;
    }
    case "truncate": {
      const size = rng.pick([0, 1, 50, 4096, 5000, 10_000]);
      body = { op: kind, size };
      op = { op: "truncate", path, size };
      cond = pickIfMatch(rng, w, target);
      break;
    }
    case "chmod": {
      const mode = rng.pick([0o644, 0o600, 0o755, 0o1777, 0]);
      body = { op: kind, mode };
      op = { op: "getattr", path };
      break;
    }
    case "utimes": {
      const mtime = rng.pick([0, 1_000_000_000_000, 1_700_000_000_123]);
      body = { op: kind, mtime };
      op = { op: "getattr", path };
      break;
    }
    case "setxattr": {
      const name = rng.pick(["user.x", "user.y"]);
      const value = randomBytes(rng).slice(0, rng.pick([0, 3, 40]));
      const flag = rng.pick([{}, { create: true }, { replace: true }]);
      body = { op: kind, name, value: value.toBase64(), ...flag };
      op = { op: "setxattr", path, name, value, flags: flag };
      break;
    }
    default: {
      const name = rng.pick(["user.x", "user.y", deadName("p1")]);
      body = { op: kind, name };
      op = { op: "removexattr", path, name };
    }
  }
  if (cond) Object.assign(headers, { "if-match": cond.value });
  const out = run(trial, op);
  // Preconditions are evaluated on what the path leads to (src/rest/post_ops.ts): a path
  // that cannot be resolved fails first.
  const looked = cond ? run(m, { op: "getattr", path }) : { ok: true as const, value: null };
  if (!looked.ok && looked.code !== "ENOENT") expect = apiStatus(looked.code);
  else if (cond && !cond.holds) expect = 412;
  else if (touch && w.blocked(path, touch, tokens)) expect = 423;
  else if (to !== null && w.blocked(to, { membership: true, tree: true }, tokens)) expect = 423;
  else if (!pre.ok) expect = apiStatus(pre.code);
  else if (!out.ok) expect = apiStatus(out.code);
  else expect = created ? 201 : 200;
  return {
    what: `API POST ${path} ${JSON.stringify(body)}${cond ? ` If-Match ${cond.value}` : ""}${
      tokens.length ? " +token" : ""
    }`,
    expect: [expect],
    url: api(path),
    init: json(body, headers),
    apply: (_res, raw) => {
      const stat = JSON.parse(decode(raw)) as {
        mode: number;
        mtime: string;
        size: number;
        etag: string;
      };
      const was = m.followed(path);
      w.model = trial;
      if (kind === "rename" && trial.nodeAt(path) === null) w.release(path);
      if (kind === "chmod") {
        w.modes.set(was!.id, body.mode as number);
        assertEquals(stat.mode, body.mode, "mode answered");
      } else if (kind === "utimes" && was?.kind === "file") {
        w.mtimes.set(was.id, body.mtime as number);
      } else if (kind === "truncate") {
        const after = trial.followed(path);
        w.wrote(after, bytes);
        assertEquals(stat.size, body.size, "size answered");
        return w.learn(after, `"${stat.etag}"`);
      }
    },
  };
}

/** Reads of attributes: stat (lstat or followed), readlink, xattrs, statfs. */
function inspect(rng: Rng, w: World): Step {
  const m = w.model;
  const path = rng.chance(0.05) ? "/" : randomPath(rng, m);
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
      if (want.nlink !== undefined) assertEquals(s.nlink, want.nlink, "nlink");
      const mode = w.modes.get(node.id);
      if (mode !== undefined) assertEquals(s.mode, mode, "mode set by chmod");
      const mtime = w.mtimes.get(node.id);
      if (mtime !== undefined) assertEquals(Date.parse(s.mtime), mtime, "mtime set by utimes");
      return w.learn(node, `"${s.etag}"`);
    },
  };
}

/** PROPPATCH of dead properties (kept as `dav:{ns}local` xattrs), or a PROPFIND of them. */
function props(rng: Rng, w: World): Step {
  const m = w.model;
  const path = rng.chance(0.1) ? "/" : randomPath(rng, m);
  const entry = run(m, { op: "lookup", path });
  const local = rng.pick(PROPS);
  if (rng.chance(0.4)) {
    const body = `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>${
      PROPS.map((p) => `<F:${p} xmlns:F="${NS}"/>`).join("")
    }</D:prop></D:propfind>`;
    const xattrs = m.nodeAt(path)?.xattr;
    return {
      what: `PROPFIND ${path} (dead)`,
      expect: [entry.ok ? 207 : davStatus(entry.code)],
      url: davUrl(path),
      init: {
        method: "PROPFIND",
        headers: { depth: "0", "content-type": "application/xml" },
        body,
      },
      check: (res, raw) => {
        if (res.status !== 207) return;
        const ms = parseMultistatus(decode(raw));
        const [only] = [...ms.values()];
        for (const p of PROPS) {
          const found = only?.props.get(`{${NS}}${p}`)?.status ?? null;
          assertEquals(found, xattrs?.has(deadName(p)) ? 200 : 404, `${p} of ${path}`);
        }
      },
    };
  }
  const set = rng.chance(0.6);
  const tokens = tokenFor(rng, w, path);
  const instr = set
    ? `<D:set><D:prop><F:${local} xmlns:F="${NS}">v${rng.int(100)}</F:${local}></D:prop></D:set>`
    : `<D:remove><D:prop><F:${local} xmlns:F="${NS}"/></D:prop></D:remove>`;
  const trial = m.clone();
  if (set) {
    run(trial, {
      op: "setxattr",
      path,
      name: deadName(local),
      value: new Uint8Array([1]),
      flags: {},
    });
  } else run(trial, { op: "removexattr", path, name: deadName(local) });
  let expect: number;
  if (!entry.ok) expect = davStatus(entry.code);
  else if (w.blocked(path, {}, tokens)) expect = 423;
  else expect = 207;
  return {
    what: `PROPPATCH ${path} ${set ? "set" : "remove"} ${local}${tokens.length ? " +token" : ""}`,
    expect: [expect],
    url: davUrl(path),
    init: {
      method: "PROPPATCH",
      headers: {
        "content-type": "application/xml",
        ...(tokens.length ? { if: `(<${tokens[0]}>)` } : {}),
      },
      body: `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:">${instr}</D:propertyupdate>`,
    },
    check: (res, raw) => {
      if (res.status !== 207) return;
      const [only] = [...parseMultistatus(decode(raw)).values()];
      assertEquals(only?.props.get(`{${NS}}${local}`)?.status, 200, "propstat");
    },
    apply: () => {
      w.model = trial;
    },
  };
}

/** LOCK (exclusive, depth 0) or UNLOCK through WebDAV. */
function lock(rng: Rng, w: World): Step {
  const m = w.model;
  const held = [...w.locks.keys()];
  if (held.length && rng.chance(0.5)) {
    const path = rng.chance(0.8) ? rng.pick(held) : randomPath(rng, m);
    const right = w.locks.get(path);
    const token = right && rng.chance(0.8) ? right : w.locks.get(rng.pick(held))!;
    const ok = token === right;
    return {
      what: `UNLOCK ${path} ${ok ? "its token" : "another token"}`,
      // RFC 4918 section 9.11.1: a token that is not a lock on the Request-URI: 409.
      expect: [ok ? 204 : 409],
      url: davUrl(path),
      init: { method: "UNLOCK", headers: { "lock-token": `<${token}>` } },
      apply: () => {
        w.locks.delete(path);
      },
    };
  }
  const path = rng.chance(0.05) ? "/" : randomPath(rng, m);
  const existing = run(m, { op: "lookup", path });
  const trial = m.clone();
  let expect: number;
  if (!existing.ok && existing.code !== "ENOENT" && existing.code !== "ENOTDIR") {
    expect = davStatus(existing.code);
  } else if (!existing.ok && m.followed(parentOf(path))?.kind !== "directory") expect = 409;
  else if (!existing.ok && w.blocked(path, { membership: true })) expect = 423;
  else if (w.locks.has(path)) expect = 423; // exclusive: one lock per resource
  else {
    if (!existing.ok) run(trial, { op: "create", path, exclusive: true });
    expect = existing.ok ? 200 : 201;
  }
  return {
    what: `LOCK ${path}`,
    expect: [expect],
    url: davUrl(path),
    init: {
      method: "LOCK",
      headers: { depth: "0", "content-type": "application/xml" },
      body: `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>` +
        `</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`,
    },
    apply: (res) => {
      const token = res.headers.get("lock-token")?.replace(/^<|>$/g, "");
      assert(token, "LOCK answered no Lock-Token");
      w.model = trial;
      w.locks.set(path, token);
    },
  };
}

/** The next sequential operation. */
export function nextStep(rng: Rng, w: World): Step {
  const k = rng.int(21);
  if (k < 3) return put(rng, w, k === 2);
  if (k < 5) return patch(rng, w);
  if (k < 8) return read(rng, w);
  if (k < 10) return remove(rng, w);
  if (k < 15) return post(rng, w);
  if (k < 17) return inspect(rng, w);
  if (k < 19) return props(rng, w);
  if (k < 20) return lock(rng, w);
  return move(rng, w);
}

/** Names in a listing page, in order, for pagination checks. */
export function namesOf(raw: Uint8Array): { names: string[]; cursor: string | null } {
  const page = JSON.parse(decode(raw)) as { entries: { name: string }[]; cursor: string | null };
  return { names: page.entries.map((e) => e.name), cursor: page.cursor };
}

export { api, compareUtf8 };
