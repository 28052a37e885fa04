// A generative bad-input battery: a real server process with a small seeded tree, and N
// requests, each a valid request of one front end (HTTP file API, WebDAV, tus, the UI and
// share links, health and metrics) mutated in its path, headers, body or framing, sent as
// raw bytes over TCP (tests/_badin_gen.ts builds them). After each one:
//
// - the answer is a 1xx-4xx, or a documented 5xx: 507, 508 (a symlink loop), 503 with
//   Retry-After (contention), 502 for a Destination on another server, 501 for a method or
//   transfer coding the server does not implement (RFC 9110 section 15.6.2, RFC 9112
//   section 6.1), 505 for another HTTP version; never a 500, never a connection closed
//   without an answer (but see `runtimeDrop`), never no answer at all;
// - a request that climbs out of its mount in any spelling is refused (4xx), and a share
//   link whose token was tampered with does not open;
// - an acknowledged whole PUT left exactly its body at its target;
// - an acknowledged write with one path (DELETE, PUT, MKCOL, PROPPATCH, PATCH, the API's
//   one-path POSTs) changed nothing beside that path (NFC/NFD twins, %20, `;` kept apart);
// - a request as alice (limited to /home/alice; a quarter of them) changed nothing outside
//   her folder, whatever she was told;
// - the server still answers /healthz;
// - after a 4xx the tree (names, types, sizes, modes, bytes, xattrs, symlink targets, locks)
//   and the open upload are exactly as before (an upload's offset may grow on a PATCH to
//   it that was cut short: tus 1.0.0 asks the server to keep what it received).
//
// A request that changed the tree (any 2xx that writes) is followed by a reset to the seed,
// so each case starts from about the same tree, and its bytes depend only on the seed, the
// index and the run's share token and upload URL.
// Knobs: BADIN_SEED (default 1), BADIN_N (default 300), BADIN_FROM (first case), BADIN_S3=1
// to serve the configured S3 server instead of the memory store, BADIN_HEAVY=1 for two to
// six mutations on every request. A finding is reported with
// its seed and index, which rebuild the same request (`BADIN_SEED=s BADIN_FROM=i BADIN_N=1`).

import { assert, assertEquals } from "./_assert.ts";
import { startServer, type TestServer } from "./_server.ts";
import { s3Env } from "./_stores.ts";
import { rawExchange } from "./_raw_http.ts";
import { snapshot } from "./_tree_snapshot.ts";
import { generate } from "./_badin_gen.ts";
import {
  describe,
  type FuzzRequest,
  type GenContext,
  serialize,
  tusMetadata,
} from "./_badin_request.ts";
import { generateToken, hashPassword, hashToken } from "../src/auth/mod.ts";

const env = (name: string) => Deno.env.get(name);
const SEED = Number(env("BADIN_SEED") ?? 1);
const N = Number(env("BADIN_N") ?? 300);
const FROM = Number(env("BADIN_FROM") ?? 0);
const USE_S3 = env("BADIN_S3") === "1" && s3Env() !== null;
const HEAVY = env("BADIN_HEAVY") === "1";
const UPLOAD_LENGTH = 1 << 20;
const SAFE = new Set(["GET", "HEAD", "OPTIONS", "PROPFIND"]);

/** The seeded tree: path (API-encoded) -> "file:<bytes>", "dir", "link:<target>". */
const SEED_TREE: readonly [string, string][] = [
  ["/docs", "dir"],
  ["/docs/a.txt", "file:alpha"],
  ["/docs/b.txt", "file:bravo"],
  ["/docs/sub", "dir"],
  ["/docs/sub/c.txt", "file:charlie"],
  ["/docs/link", "link:a.txt"],
  ["/home", "dir"],
  ["/home/alice", "dir"],
  ["/home/alice/own.txt", "file:alice's"],
  ["/home/alice/docs", "dir"],
  ["/home/alice/docs/a.txt", "file:alpha"],
  ["/home/alice/docs/b.txt", "file:bravo"],
  ["/home/alice/docs/sub", "dir"],
  ["/home/alice/docs/sub/c.txt", "file:charlie"],
  ["/home/alice/docs/link", "link:a.txt"],
  ["/home/bob", "dir"],
  ["/home/bob/secret.txt", "file:bob's secret"],
  [`/${encodeURIComponent("caf\u00e9.txt")}`, "file:nfc"],
  ["/empty", "dir"],
];
const KEPT = new Set(SEED_TREE.map(([p]) => p));

interface Fixture {
  readonly server: TestServer;
  readonly ctx: GenContext;
}

async function start(): Promise<Fixture> {
  const password = "pw-" + generateToken().slice(0, 12);
  const hash = await hashPassword(password, { iterations: 1000 });
  const token = generateToken();
  const users = [
    `root:${hash}:rw`,
    `alice:${hash}:rw:/home/alice`,
    `reader:${hash}:ro`,
    `alicetoken:${await hashToken(token)}:rw:/home/alice`,
  ].join(",");
  const server = await startServer({
    store: USE_S3 ? "s3" : "memory",
    env: {
      PAGEFS_USERS: users,
      PAGEFS_SECRET: "s".repeat(40),
      // A body that stops is given up in 2 s, not the default minute.
      PAGEFS_BODY_TIMEOUT_MS: "2000",
    },
  });
  const basic = (user: string) => `Basic ${btoa(`${user}:${password}`)}`;
  // A browser's sign-in: its session cookie, and the CSRF token the page carries.
  const login = await fetch(`${server.url}/ui/login`, {
    method: "POST",
    redirect: "manual",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      origin: server.url,
      "sec-fetch-site": "same-origin",
    },
    body: `user=root&password=${encodeURIComponent(password)}&next=%2F`,
  });
  await login.body?.cancel();
  const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0]!;
  const page = await (await fetch(`${server.url}/`, { headers: { cookie } })).text();
  const csrf = /data-csrf="([^"]+)"/.exec(page)?.[1];
  assert(cookie.startsWith("pagefs_session=") && csrf, `sign-in: ${login.status} ${cookie}`);
  return {
    server,
    ctx: {
      port: Number(new URL(server.url).port),
      auth: {
        root: basic("root"),
        alice: basic("alice"),
        reader: basic("reader"),
        aliceToken: `Bearer ${token}`,
      },
      password,
      session: { cookie, csrf },
      share: "",
      lock: "",
      upload: "",
      uploadOffset: 0,
    },
  };
}

/** A request as the unlimited user; its status (the body is read and dropped). */
async function call(
  f: Fixture,
  method: string,
  path: string,
  init: { headers?: Record<string, string>; body?: string } = {},
): Promise<Response> {
  const res = await fetch(`${f.server.url}${path}`, {
    method,
    headers: { authorization: f.ctx.auth.root, ...init.headers },
    ...(init.body === undefined ? {} : { body: init.body }),
  });
  await res.arrayBuffer();
  return res;
}

const JSON_HEADERS = { "content-type": "application/json" };

/**
 * Unlocks every lock the tree holds (tokens found by PROPFIND), as whoever took it: a lock
 * left behind would expire in the middle of a later case and change the lock count.
 */
async function unlockAll(f: Fixture): Promise<void> {
  const res = await fetch(`${f.server.url}/dav/`, {
    method: "PROPFIND",
    headers: {
      authorization: f.ctx.auth.root,
      depth: "infinity",
      "content-type": "application/xml",
    },
    body: `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/>` +
      `</D:prop></D:propfind>`,
  });
  const xml = await res.text();
  for (const m of xml.matchAll(/<(?:\w+:)?response>([\s\S]*?)<\/(?:\w+:)?response>/g)) {
    const href = /<(?:\w+:)?href>([^<]*)<\/(?:\w+:)?href>/.exec(m[1]!)?.[1];
    const tokens = m[1]!.matchAll(
      /<(?:\w+:)?locktoken>\s*<(?:\w+:)?href>([^<]*)<\/(?:\w+:)?href>/g,
    );
    for (const t of tokens) {
      if (href === undefined) continue;
      const path = href.startsWith("http") ? new URL(href).pathname : href;
      // A lock opens only for whoever took it: root, or alice by password or by token.
      for (const authorization of [f.ctx.auth.root, f.ctx.auth.alice, f.ctx.auth.aliceToken]) {
        const res = await call(f, "UNLOCK", path, {
          headers: { authorization, "lock-token": `<${t[1]}>` },
        });
        if (res.status === 204) break;
      }
    }
  }
}

/** Removes what the fuzzing added, puts back what it removed, renews the link and upload. */
async function reset(f: Fixture): Promise<void> {
  await unlockAll(f);
  const walk = async (dir: string) => {
    const res = await fetch(`${f.server.url}/api/v1/fs${dir}`, {
      headers: { authorization: f.ctx.auth.root },
    });
    const listing = await res.json() as { entries: { name: string; type: string }[] };
    for (const e of listing.entries) {
      const path = `${dir}${encodeURIComponent(e.name)}`;
      const kind = SEED_TREE.find(([p]) => p === path)?.[1];
      const want = kind === undefined
        ? null
        : kind === "dir"
        ? "directory"
        : kind.startsWith("file")
        ? "file"
        : "symlink";
      if (want !== e.type) await call(f, "DELETE", `/api/v1/fs${path}?recursive=1`);
      else if (e.type === "directory") await walk(path + "/");
    }
  };
  await walk("/");
  for (const [path, kind] of SEED_TREE) {
    const stat = await call(f, "GET", `/api/v1/stat${path}`);
    if (stat.status === 200) continue;
    if (kind === "dir") {
      await call(f, "POST", `/api/v1/fs${path}`, {
        headers: JSON_HEADERS,
        body: JSON.stringify({ op: "mkdir", parents: true }),
      });
    } else if (kind.startsWith("file:")) {
      await call(f, "PUT", `/api/v1/fs${path}?parents=1`, { body: kind.slice(5) });
    } else {
      await call(f, "POST", `/api/v1/fs${path}`, {
        headers: JSON_HEADERS,
        body: JSON.stringify({ op: "symlink", target: kind.slice(5) }),
      });
    }
  }
  assert(KEPT.size === SEED_TREE.length);
  const lock = await fetch(`${f.server.url}/dav/docs/sub/c.txt`, {
    method: "LOCK",
    headers: {
      authorization: f.ctx.auth.root,
      "content-type": "application/xml",
      timeout: "Second-3600",
    },
    body: `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>` +
      `</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`,
  });
  await lock.body?.cancel();
  assertEquals(lock.status, 200);
  f.ctx.lock = lock.headers.get("lock-token")!.replace(/^<|>$/g, "");
  if (f.ctx.share === "" || (await call(f, "GET", `/s/${f.ctx.share}/`)).status !== 200) {
    const res = await fetch(`${f.server.url}/ui/share`, {
      method: "POST",
      headers: { authorization: f.ctx.auth.root, ...JSON_HEADERS },
      body: JSON.stringify({ path: "/docs", seconds: 86400 }),
    });
    const body = await res.json();
    assertEquals(res.status, 201, JSON.stringify(body));
    f.ctx.share = body.token;
  }
  const head = f.ctx.upload === ""
    ? null
    : await call(f, "HEAD", f.ctx.upload, { headers: { "tus-resumable": "1.0.0" } });
  if (head?.status !== 200) {
    const res = await call(f, "POST", "/api/v1/uploads/", {
      headers: {
        "tus-resumable": "1.0.0",
        "upload-length": String(UPLOAD_LENGTH),
        "upload-metadata": tusMetadata({ path: "/up.bin" }),
      },
    });
    assertEquals(res.status, 201);
    f.ctx.upload = new URL(res.headers.get("location")!).pathname;
    f.ctx.uploadOffset = 0;
  } else f.ctx.uploadOffset = Number(head.headers.get("upload-offset"));
}

/** The tree and the open upload's state. */
async function state(f: Fixture): Promise<Record<string, string>> {
  const tree = await snapshot(f.server, f.ctx.auth.root, { lockDepth: "infinity" });
  const head = await call(f, "HEAD", f.ctx.upload, { headers: { "tus-resumable": "1.0.0" } });
  tree["(upload)"] = `${head.status} ${head.headers.get("upload-offset")}`;
  return tree;
}

/** What differs between two states, one line per path. */
function diff(before: Record<string, string>, after: Record<string, string>): string[] {
  const out: string[] = [];
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (before[key] !== after[key]) {
      out.push(`${key}: ${before[key]?.slice(0, 80)} -> ${after[key]?.slice(0, 80)}`);
    }
  }
  return out;
}

/** A chunked body: complete, cut short (the bytes ran out) or malformed. */
function chunkedState(body: Uint8Array): "whole" | "cut" | "malformed" {
  const text = new TextDecoder("latin1").decode(body);
  let at = 0;
  for (;;) {
    const eol = text.indexOf("\r\n", at);
    if (eol < 0) return /^[0-9a-fA-F]*$/.test(text.slice(at)) ? "cut" : "malformed";
    if (!/^[0-9a-fA-F]{1,8}$/.test(text.slice(at, eol))) return "malformed";
    const size = parseInt(text.slice(at, eol), 16);
    at = eol + 2;
    if (size === 0) return "whole";
    if (text.length < at + size + 2) return "cut";
    if (text.slice(at + size, at + size + 2) !== "\r\n") return "malformed";
    at += size + 2;
  }
}

/**
 * Why Deno.serve itself may close the connection without an answer, or null: a chunked
 * body it cannot parse (plain `Deno.serve` answers nothing to one either), bytes after the
 * request that are no request (its HTTP/1.1 layer parses them as the next one while the
 * handler is busy, fails, and drops the answer under way; plain `Deno.serve` with a 5 ms
 * handler does the same), or a half-close after a whole request (hyper's
 * `http1_half_close` is off: a client that half-closes is taken for gone). Below the app:
 * counted and reported, not failed.
 */
function runtimeDrop(r: FuzzRequest): string | null {
  const codings = r.headers.filter(([n]) => /^transfer-encoding$/i.test(n)).map(([, v]) => v);
  const coding = codings.length ? codings.join(", ") : undefined;
  if (coding !== undefined) {
    // A chunked body cut short, then EOF, is answered like a short Content-Length body;
    // another coding is refused (400).
    if (!/chunked\s*$/i.test(coding)) return null;
    const state = chunkedState(r.body);
    if (state === "malformed") return "malformed chunked body";
    return state === "whole" && r.halfClose ? "half-close" : null;
  }
  const lengths = r.headers.filter(([n]) => n.toLowerCase() === "content-length");
  const declared = lengths.length === 1 && /^\d+$/.test(lengths[0]![1])
    ? Number(lengths[0]![1])
    : lengths.length === 0
    ? (r.contentLength === "auto" ? r.body.length : 0)
    : null;
  if (declared !== null && declared < r.body.length) return "stray bytes";
  // A body cut short is the server's to answer (400).
  if (r.halfClose && (declared === null || declared <= r.body.length)) return "half-close";
  return null;
}

/**
 * "large answer" when `r`, whose body was cut short, gets an answer of over 64 KiB once
 * sent whole (without its body): Deno.serve sends no streamed answer to a request whose
 * body ended early, and the app holds only answers up to 64 KiB whole
 * (src/http/answer_length.ts). Null otherwise.
 */
async function largeAnswer(f: Fixture, r: FuzzRequest): Promise<string | null> {
  // Sent again, so only a request that changes nothing.
  if (!r.halfClose || !SAFE.has(r.method)) return null;
  const whole: FuzzRequest = {
    ...r,
    headers: r.headers.filter(([n]) => !/^(content-length|transfer-encoding)$/i.test(n)),
    contentLength: "auto",
    halfClose: false,
  };
  const answer = await rawExchange(f.ctx.port, serialize(whole, f.ctx.port), {
    head: r.method === "HEAD",
  });
  return new TextEncoder().encode(answer.body).length > 64 * 1024 ? "large answer" : null;
}

/** What is wrong with the target of an acknowledged whole PUT, or null. */
async function lostWrite(f: Fixture, r: FuzzRequest): Promise<string | null> {
  const path = r.path.replace(/^\/api\/v1\/fs\//, "/").replace(/^\/dav\//, "/");
  const res = await fetch(`${f.server.url}/api/v1/fs${path}`, {
    headers: { authorization: f.ctx.auth.root },
  });
  const got = new Uint8Array(await res.arrayBuffer());
  if (res.status !== 200) return `the target answers ${res.status}`;
  const same = got.length === r.body.length && got.every((b, i) => b === r.body[i]);
  return same ? null : `the target holds ${got.length} other bytes, not the ${r.body.length} sent`;
}

/** Operations of the API's POST that change their own path only. */
const OWN_PATH_OPS = new Set([
  "mkdir",
  "setxattr",
  "removexattr",
  "truncate",
  "chmod",
  "chown",
  "utimes",
]);

/**
 * The path (as snapshot keys spell it) a write changes alone, for requests with one path
 * and no second: DELETE, PUT, MKCOL, PROPPATCH, the API's PATCH and its single-path POST
 * operations. Null for anything else (second paths, tus, UI, absolute-form targets).
 */
function writeTarget(r: FuzzRequest): string | null {
  const mount = /^\/api\/v1\/fs(\/.*)$/.exec(r.path) ?? /^\/dav(\/.*)$/.exec(r.path);
  if (!mount || r.headers.some(([n]) => /^(destination|x-http-method-override)$/i.test(n))) {
    return null;
  }
  if (r.method === "POST") {
    if (!r.path.startsWith("/api/")) return null;
    try {
      const op = JSON.parse(new TextDecoder().decode(r.body))?.op;
      if (!OWN_PATH_OPS.has(op)) return null;
    } catch {
      return null;
    }
  } else if (!["DELETE", "PUT", "MKCOL", "PROPPATCH", "PATCH"].includes(r.method)) return null;
  try {
    const names = mount[1]!.split("/").filter((n) => n !== "").map(decodeURIComponent);
    return "/" + names.map(encodeURIComponent).join("/");
  } catch {
    return null;
  }
}

/**
 * Changes a write to `target` made elsewhere than at, below or above it (folders made on
 * the way, a parent's size), the locks and a symlink's target left aside (a write through
 * a link changes the file it leads to).
 */
function strayChanges(
  before: Record<string, string>,
  after: Record<string, string>,
  target: string,
): string[] {
  const through = Object.entries(before).some(([key, value]) =>
    (target === key || target.startsWith(key + "/")) && /^symlink /.test(value)
  );
  if (through) return [];
  return diff(before, after).filter((line) => {
    const key = line.slice(0, line.indexOf(": "));
    if (key === "(locks)") return false;
    return !(key === target || key.startsWith(target + "/") || target.startsWith(key + "/"));
  });
}

/** Why `status` breaks the rules for `r`, or null. */
function statusProblem(
  r: FuzzRequest,
  status: number,
  retryAfter: string | null,
): string | null {
  if (status >= 100 && status < 500) {
    const climbs = [...r.tags].filter((t) => t.startsWith("climb:")).map((t) => t.slice(6));
    if (status < 400 && climbs.some((c) => r.path.includes(c))) {
      return `a climbing path was not refused (${status})`;
    }
    if (status < 300 && r.tags.has("bad-token")) return `a tampered share token opened (${status})`;
    const csrf = r.headers.filter(([n]) => /^x-csrf-token$/i.test(n));
    if (
      status < 300 && r.tags.has("no-csrf") && !SAFE.has(r.method) &&
      /^\/(api\/v1\/|ui\/share)/.test(r.path) && !r.headers.some(([n]) =>
        /^authorization$/i.test(n)
      ) &&
      r.headers.filter(([n]) => /^cookie$/i.test(n)).length === 1 && csrf.length <= 1
    ) return `a session's ${r.method} without its CSRF token went through (${status})`;
    return null;
  }
  // Documented: 507 (no space), 508 (a symlink loop, docs/webdav.md), 503 with Retry-After
  // (contention that passes, docs/webdav.md).
  if (status === 507 || status === 508) return null;
  if (status === 503 && retryAfter !== null) return null;
  if (status === 502 && r.tags.has("foreign-destination")) return null;
  if (status === 501 && (r.tags.has("transfer-coding") || r.tags.has("method"))) return null;
  if (status === 505 && r.tags.has("version")) return null;
  return `status ${status}`;
}

async function healthy(f: Fixture): Promise<boolean> {
  try {
    const res = await fetch(`${f.server.url}/healthz`, { signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

Deno.test({
  name: `bad input through every front end: a 4xx that changes nothing (seed ${SEED}, ${N} cases)`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const f = await start();
    const findings: string[] = [];
    const byStatus = new Map<string, number>();
    const count = (key: string) => byStatus.set(key, (byStatus.get(key) ?? 0) + 1);
    try {
      let before: Record<string, string> | null = null;
      for (let i = FROM; i < FROM + N; i++) {
        if (before === null) {
          await reset(f);
          before = await state(f);
        }
        const r = generate(SEED, i, f.ctx, { heavy: HEAVY });
        const answer = await rawExchange(f.ctx.port, serialize(r, f.ctx.port), {
          halfClose: r.halfClose,
          head: r.method === "HEAD",
          deadlineMs: 15_000,
        });
        if (answer.status !== null) count(String(answer.status));
        const where = `seed ${SEED} case ${i}: ${describe(r)}`;
        const dropped = runtimeDrop(r) ??
          (answer.outcome === "closed" ? await largeAnswer(f, r) : null);
        if (answer.status === null && answer.outcome === "closed" && dropped !== null) {
          count(`closed (${dropped})`);
          // Its outcome is unknown to the client: whatever it did, start again from the seed.
          before = null;
        } else if (answer.status === null) {
          count(answer.outcome);
          findings.push(`${where}: no answer (${answer.outcome}; statuses ${answer.statuses})`);
        } else {
          const problem = statusProblem(r, answer.status, answer.headers.get("retry-after"));
          if (problem) findings.push(`${where}: ${problem} ${answer.body.slice(0, 200)}`);
        }
        if (!await healthy(f)) {
          findings.push(`${where}: the server stopped answering /healthz`);
          break;
        }
        if (answer.status !== null && answer.status < 300 && r.tags.has("whole-put")) {
          count("(whole PUTs checked)");
          const lost = await lostWrite(f, r);
          if (lost) findings.push(`${where}: ${answer.status} but ${lost}`);
        }
        if (r.tags.has("as-alice") && before !== null && answer.status !== null) {
          // Whatever she was told, nothing outside her folder changed (locks are counted
          // for the whole tree, so hers are not told apart: left out here).
          const outside = diff(before, await state(f)).filter((line) =>
            !line.startsWith("/home/alice/") && !line.startsWith("/home/alice:") &&
            !line.startsWith("(locks)")
          );
          if (outside.length) {
            findings.push(`${where}: alice changed ${outside.join(" | ")}`);
            before = null;
          }
        }
        const refused = answer.status !== null && answer.status >= 400 && answer.status < 500;
        if (before === null) {
          // Dropped by the runtime (above): nothing to compare.
        } else if (refused || answer.status === null) {
          const after = await state(f);
          const changed = diff(before, after).filter((line) =>
            // tus 1.0.0: the server SHOULD keep what a cut-short PATCH brought.
            !(line.startsWith("(upload): 200 ") && r.tags.has("upload") && r.method !== "DELETE" &&
              /^\(upload\): 200 \d+ -> 200 \d+$/.test(line))
          );
          if (changed.length) {
            findings.push(`${where}: ${answer.status} changed the tree: ${changed.join(" | ")}`);
            before = null;
          } else if (diff(before, after).length) before = after;
        } else if (!SAFE.has(r.method) || r.headers.some(([n]) => /method-override/i.test(n))) {
          const target = answer.status < 300 ? writeTarget(r) : null;
          if (target !== null) {
            count("(one-path writes checked)");
            const stray = strayChanges(before, await state(f), target);
            if (stray.length) {
              findings.push(`${where}: wrote beside ${target}: ${stray.join(" | ")}`);
            }
          }
          before = null;
        }
      }
    } finally {
      await f.server.close();
    }
    const stderr = f.server.stderr();
    console.log(
      `bad input (${USE_S3 ? "s3" : "memory"}): seed ${SEED}, cases ${FROM}..${
        FROM + N - 1
      }, ${findings.length} findings; ` +
        `answers ${JSON.stringify(Object.fromEntries([...byStatus].sort()))}`,
    );
    for (const line of findings.slice(0, 40)) console.log(`  ${line}`);
    assertEquals(findings.slice(0, 40), [], `${findings.length} findings`);
    assert(!/Uncaught|panic/i.test(stderr), stderr.slice(-4000));
  },
});

/** Raw requests the fuzzer found mishandled, with the status each must get. */
function regressions(ctx: GenContext): { name: string; raw: string; status: number }[] {
  const auth = `Authorization: ${ctx.auth.root}\r\n`;
  const head = (line: string, extra = "") =>
    `${line} HTTP/1.1\r\nHost: 127.0.0.1:${ctx.port}\r\nConnection: close\r\n${extra}`;
  const hosted = (line: string, host: string) =>
    `${line} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n${auth}\r\n`;
  const form = "Content-Type: application/x-www-form-urlencoded\r\n";
  const origin = `Origin: http://127.0.0.1:${ctx.port}\r\nSec-Fetch-Site: same-origin\r\n`;
  return [
    // A Host that is no host (RFC 9112 section 3.2: 400): it failed `new URL()` (500), or
    // moved the path the router saw.
    { name: "Host with a space", raw: hosted("GET /healthz", "a b"), status: 400 },
    { name: "Host with an open bracket", raw: hosted("OPTIONS /dav/", "[::1"), status: 400 },
    { name: "Host with a port too large", raw: hosted("GET /api/v1/fs/", "x:99999"), status: 400 },
    { name: "Host carrying a path", raw: hosted("GET /docs/a.txt", "127.0.0.1/dav"), status: 400 },
    { name: "empty Host", raw: hosted("GET /api/v1/fs/docs/", ""), status: 400 },
    // Answers of undeclared length to a body cut short: Deno.serve sent nothing.
    {
      name: "WebDAV PUT cut short",
      raw: head("PUT /dav/docs/new.txt", `${auth}Content-Length: 100\r\n\r\n0123456789`),
      status: 400,
    },
    {
      name: "PROPFIND body cut short",
      raw: head("PROPFIND /dav/docs/", `${auth}Depth: 1\r\nContent-Length: 100\r\n\r\n<?xml`),
      status: 400,
    },
    {
      name: "API mkdir JSON cut short",
      raw: head(
        "POST /api/v1/fs/docs/newdir",
        `${auth}Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"op":`,
      ),
      status: 400,
    },
    {
      name: "share listing with a body that never comes",
      raw: head(`GET /s/${ctx.share}/`, "Content-Length: 100\r\n\r\n"),
      status: 200,
    },
    // Form bodies: Hono's parseBody let a cut body through as a 500, and read any size.
    {
      name: "sign-out form, chunked body cut short",
      raw: head("POST /ui/logout", `${form}Transfer-Encoding: chunked\r\n\r\n10\r\nabc`),
      status: 400,
    },
    {
      name: "share password form cut short",
      raw: head(`POST /s/${ctx.share}/`, `${form}Content-Length: 100\r\n\r\npassword=x`),
      status: 400,
    },
    {
      name: "sign-in form of 3 MB",
      raw: head("POST /ui/login", `${form}${origin}Content-Length: 3000002\r\n\r\n`) +
        "a=" + "b".repeat(3_000_000),
      status: 413,
    },
  ];
}

Deno.test({
  name: "bad input the fuzzer found: bodies cut short and hostile forms get a 4xx answer",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const f = await start();
    try {
      await reset(f);
      const before = await state(f);
      const got: string[] = [];
      const want: string[] = [];
      for (const c of regressions(f.ctx)) {
        const cut = c.raw.includes("Content-Length: 100\r\n") || c.raw.includes("chunked");
        const answer = await rawExchange(f.ctx.port, new TextEncoder().encode(c.raw), {
          halfClose: cut,
          deadlineMs: 15_000,
        });
        got.push(`${c.name}: ${answer.status ?? `no answer (${answer.outcome})`}`);
        want.push(`${c.name}: ${c.status}`);
      }
      assertEquals(got, want);
      assertEquals(await state(f), before);
    } finally {
      await f.server.close();
    }
  },
});
