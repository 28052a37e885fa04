// The WebDAV-only operations of the extended protocol fuzz: MOVE, PROPPATCH/PROPFIND of
// dead properties, LOCK and UNLOCK (see tests/_protocol_ops.ts for the rest).

import { assert, assertEquals } from "./_assert.ts";
import { davUrl, parseMultistatus } from "./_dav.ts";
import type { Rng } from "./_model.ts";
import { parentOf, removeTree, within, type World } from "./_protocol_world.ts";
import {
  davStatus,
  deadName,
  decode,
  NS,
  type Outcome,
  PROPS,
  randomPath,
  run,
  type Step,
  tokenFor,
} from "./_protocol_steps.ts";

/**
 * WebDAV MOVE: RFC 4918 section 9.9, a rename that replaces what is at the destination
 * (with Overwrite T), whatever its type; the source is gone after it.
 */
export function move(rng: Rng, w: World, c: World = w): Step {
  const m = w.model;
  const from = randomPath(rng, c.model);
  const to = randomPath(rng, c.model);
  const overwrite = rng.chance(0.6);
  const tokens = tokenFor(rng, w, from, c);
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
  // Into itself, or onto its own ancestor, as the symlinks on the way resolve.
  else if (intoItself(m.physical(from), m.physical(to))) expect = 403;
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
    // Whether the destination existed (204) or not (201) is decided when the MOVE looks
    // (docs/webdav.md): one made or removed meanwhile does not change the status.
    ...(expect === 201 || expect === 204 ? { raceOk: [201, 204] } : {}),
    url: davUrl(from),
    alone: c.model.nodeAt(to) !== null &&
      [c.model.nodeAt(from)?.kind, c.model.nodeAt(to)?.kind].includes("directory"),
    init: {
      method: "MOVE",
      headers: {
        destination: `http://localhost${davUrl(to)}`,
        overwrite: overwrite ? "T" : "F",
        ...(tokens.length ? { if: `(<${tokens[0]}>)` } : {}),
      },
    },
    apply: () => {
      const names = w.names(from);
      w.model = trial;
      w.release(from, names);
    },
  };
}

/** PROPPATCH of dead properties (kept as `dav:{ns}local` xattrs), or a PROPFIND of them. */
export function props(rng: Rng, w: World, c: World = w): Step {
  const m = w.model;
  const path = rng.chance(0.1) ? "/" : randomPath(rng, c.model);
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
  const tokens = tokenFor(rng, w, path, c);
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
export function lock(rng: Rng, w: World, c: World = w): Step {
  const m = w.model;
  const held = [...c.locks.keys()];
  const unlock = rng.chance(0.5);
  if (held.length && unlock) {
    const [own, r1, right1, r2] = [rng.chance(0.8), rng.next(), rng.chance(0.8), rng.next()];
    const path = own ? held[Math.floor(r1 * held.length)]! : randomPath(rng, c.model);
    const mine = c.locks.get(path);
    const token = mine && right1 ? mine : c.locks.get(held[Math.floor(r2 * held.length)]!)!;
    // The lock must cover the path as named or as its symlinks resolve.
    const ok = w.names(path).some((name) => w.locks.get(name) === token);
    return {
      what: `UNLOCK ${path} ${ok ? "its token" : "another token"}`,
      // RFC 4918 section 9.11.1: a token that is not a lock on the Request-URI: 409.
      expect: [ok ? 204 : 409],
      url: davUrl(path),
      alone: true,
      init: { method: "UNLOCK", headers: { "lock-token": `<${token}>` } },
      apply: () => {
        for (const [root, t] of [...w.locks]) if (t === token) w.locks.delete(root);
      },
    };
  }
  const path = rng.chance(0.05) ? "/" : randomPath(rng, c.model);
  const existing = run(m, { op: "lookup", path });
  const trial = m.clone();
  let expect: number;
  if (!existing.ok && existing.code !== "ENOENT" && existing.code !== "ENOTDIR") {
    expect = davStatus(existing.code);
  } else if (!existing.ok && m.followed(parentOf(path))?.kind !== "directory") expect = 409;
  else if (!existing.ok && w.blocked(path, { membership: true })) expect = 423;
  else if (w.locks.has(w.lockRoot(path))) expect = 423; // exclusive: one per resource
  else {
    if (!existing.ok) run(trial, { op: "create", path, exclusive: true });
    expect = existing.ok ? 200 : 201;
  }
  return {
    what: `LOCK ${path}`,
    expect: [expect],
    url: davUrl(path),
    alone: true,
    init: {
      method: "LOCK",
      headers: { depth: "0", "content-type": "application/xml" },
      body: `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>` +
        `</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`,
    },
    apply: (res) => {
      const token = res.headers.get("lock-token")?.replace(/^<|>$/g, "");
      assert(token, "LOCK answered no Lock-Token");
      const root = w.lockRoot(path);
      w.model = trial;
      w.locks.set(root, token);
    },
  };
}

/** Whether `to` is inside `from` or `from` inside `to` (two names of one entry aside). */
function intoItself(from: string | null, to: string | null): boolean {
  if (from === null || to === null || from === to) return false;
  return within(to, from) || within(from, to);
}
