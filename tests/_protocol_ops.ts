// The operations of the extended protocol fuzz (tests/protocol_fuzz_ext_test.ts): each
// picks its arguments, says from the world (tests/_protocol_world.ts) which status the
// server must answer, checks the answer's body and headers, and changes the world when it
// succeeded. Statuses follow the documented order of each route's checks (src/rest/,
// src/webdav/): the path, then preconditions (412), then locks (423), then the operation's
// own errno, mapped by the one table of src/http/errors.ts (WebDAV: src/webdav/errors.ts).

import { assertEquals } from "./_assert.ts";
import { davUrl } from "./_dav.ts";
import type { Op, Rng } from "./_model.ts";
import { apiStatus, parentOf, removeTree, type Touch, type World } from "./_protocol_world.ts";
import { lock, move, props } from "./_protocol_dav_ops.ts";
import { inspect, read } from "./_protocol_reads.ts";
import {
  api,
  davPutStatus,
  davStatus,
  deadName,
  decode,
  fileAt,
  json,
  lockHeader,
  NAMES,
  type Outcome,
  pickIfMatch,
  randomBytes,
  randomPath,
  randomTarget,
  run,
  type Step,
  tokenFor,
} from "./_protocol_steps.ts";

export { api, NAMES, randomPath } from "./_protocol_steps.ts";

/** PUT (whole file) through the API or WebDAV, maybe conditional, maybe with a token. */
function put(rng: Rng, w: World, dav: boolean, c: World = w): Step {
  const m = w.model;
  let path = randomPath(rng, c.model);
  if (path === "/") path = "/" + rng.pick(NAMES);
  const data = randomBytes(rng);
  const { bytes } = fileAt(m, path);
  const current = run(m, { op: "getattr", path });
  const cond = pickIfMatch(rng, w, path, c);
  const excl = rng.chance(0.15);
  const exclusive = cond === null && excl;
  const tokens = tokenFor(rng, w, path, c);
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
  else if (w.blocked(path, { membership: !exists, follow: true }, tokens)) expect = 423;
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
    apply: (res) => w.applyWrite(trial, path, bytes, res.headers.get("etag")),
  };
}

/** PATCH at an offset or appending, through the API. */
function patch(rng: Rng, w: World, c: World = w): Step {
  const m = w.model;
  const path = randomPath(rng, c.model);
  const append = rng.chance(0.3);
  const create = rng.chance(0.3);
  const offset = rng.pick([0, 10, 4090, 4096, 7000]);
  const data = randomBytes(rng).slice(0, rng.pick([1, 50, 5000]));
  if (data.length === 0) return put(rng, w, false, c);
  const { bytes } = fileAt(m, path);
  const current = run(m, { op: "getattr", path });
  const cond = pickIfMatch(rng, w, path, c);
  const tokens = tokenFor(rng, w, path, c);
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
  else if (w.blocked(path, { membership: !current.ok, follow: true }, tokens)) expect = 423;
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
    apply: (res) => w.applyWrite(trial, path, bytes, res.headers.get("etag")),
  };
}

/** DELETE through the API: a file, a symlink (not followed), a directory, a tree. */
function remove(rng: Rng, w: World, c: World = w): Step {
  const m = w.model;
  const path = rng.chance(0.05) ? "/" : randomPath(rng, c.model);
  // WebDAV's DELETE of a collection is always of the whole tree (RFC 4918 section 9.6.1).
  const dav = rng.chance(0.3);
  const recursive = dav || rng.chance(0.5);
  const entry = run(m, { op: "lookup", path });
  const node = m.nodeAt(path);
  const picked = pickIfMatch(rng, w, path, c);
  const cond = c.model.nodeAt(path)?.kind === "file" ? picked : null;
  const tokens = tokenFor(rng, w, path, c);
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
    // Two DELETEs of one file at once may both succeed, as S3's do (as in
    // tests/protocol_fuzz_test.ts).
    ...(c.model.nodeAt(path) ? { raceOk: [204] } : {}),
    alone: recursive && c.model.nodeAt(path)?.kind === "directory",
    init: { method: "DELETE", headers },
    apply: () => {
      const names = w.names(path);
      w.model = trial;
      w.release(path, names);
    },
  };
}

/** A POST operation: rename, link, symlink, truncate, chmod, utimes, setxattr, removexattr. */
function post(rng: Rng, w: World, c: World = w): Step {
  const m = w.model;
  const path = rng.chance(0.05) ? "/" : randomPath(rng, c.model);
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
  const tokens = tokenFor(rng, w, path, c);
  const headers = lockHeader(tokens);
  const trial = m.clone();
  let body: Record<string, unknown> = { op: kind };
  let expect: number;
  let created = false;
  const { bytes } = fileAt(m, path);
  // Those that follow a final symlink change what it leads to (src/rest/post_ops.ts).
  let touch: Touch | null = {
    follow: kind === "truncate" || kind === "chmod" || kind === "utimes",
  };
  let to: string | null = null;
  let op: Op;
  let pre: Outcome = { ok: true, value: null };
  let cond: { value: string; holds: boolean } | null = null;
  switch (kind) {
    case "rename": {
      to = rng.chance(0.05) ? "/" : randomPath(rng, c.model);
      const noReplace = rng.chance(0.3);
      body = { op: kind, to, ...(noReplace ? { noReplace } : {}) };
      op = { op: "rename", from: path, to, noReplace };
      touch = { membership: true, tree: true };
      pre = run(m, { op: "lookup", path });
      break;
    }
    case "link":
      to = randomPath(rng, c.model);
      body = { op: kind, to };
      op = { op: "link", existing: path, path: to };
      touch = null;
      created = true;
      break;
    case "symlink": {
      const target = randomTarget(rng, c.model, path);
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
      cond = pickIfMatch(rng, w, path, c);
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
  // A link with no source onto a taken name: ENOENT and EEXIST both apply, and POSIX lets
  // either be returned (XSH 2.3: "If more than one error occurs in processing a function
  // call, any one of the possible errors may be returned"). One at a time the server looks
  // at the source first (404, as the model); racing a MOVE of the source onto the target,
  // it may find the source before the move and the target after it, as Linux's link(2)
  // does: 409 (seed 21073, FUZZ_OPS=800).
  const both = kind === "link" && expect === 404 && m.nodeAt(to!) !== null;
  return {
    what: `API POST ${path} ${JSON.stringify(body)}${cond ? ` If-Match ${cond.value}` : ""}${
      tokens.length ? " +token" : ""
    }`,
    expect: [expect],
    ...(both ? { raceOk: [409] } : {}),
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
      const names = w.names(path);
      w.model = trial;
      if (kind === "rename" && trial.nodeAt(path) === null) w.release(path, names);
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

/**
 * The next operation, its arguments chosen in world `c` and its answer judged in world `w`
 * (by default the same): two operations sent at once are judged in either order by making
 * each again, with the same draws, against the world the other one left.
 */
export function nextStep(rng: Rng, w: World, c: World = w): Step {
  const k = rng.int(21);
  if (k < 3) return put(rng, w, k === 2, c);
  if (k < 5) return patch(rng, w, c);
  if (k < 8) return read(rng, w, c);
  if (k < 10) return remove(rng, w, c);
  if (k < 15) return post(rng, w, c);
  if (k < 17) return inspect(rng, w, c);
  if (k < 19) return props(rng, w, c);
  if (k < 20) return lock(rng, w, c);
  return move(rng, w, c);
}

/** Names in a listing page, in order, for pagination checks. */
export function namesOf(raw: Uint8Array): { names: string[]; cursor: string | null } {
  const page = JSON.parse(decode(raw)) as { entries: { name: string }[]; cursor: string | null };
  return { names: page.entries.map((e) => e.name), cursor: page.cursor };
}
