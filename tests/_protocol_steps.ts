// What the extended protocol fuzz's operations share (tests/_protocol_ops.ts and
// tests/_protocol_dav_ops.ts): the step type, random arguments, the model's outcome of
// an operation, the conditional and lock headers to send, and WebDAV's statuses.

import { davUrl } from "./_dav.ts";
import { applyModel, type MNode, type Model, type Op, type Rng } from "./_model.ts";
import { apiStatus, type World } from "./_protocol_world.ts";

/** What one request is, what must come back, and what it changes. */
export interface Step {
  readonly what: string;
  /** The statuses allowed (more than one only where a comment says why). */
  readonly expect: readonly number[];
  readonly url: string;
  readonly init: RequestInit;
  /** Checks the answer (any status in `expect`); throws with the reason. */
  readonly check?: (res: Response, body: Uint8Array) => string | null | void;
  /**
   * Not sent at the same time as another request. Many steps, not one (the DELETE of a
   * collection, a MOVE over or of one onto another type): racing another request it may
   * stop half way, which no order of two whole requests explains. And LOCK/UNLOCK: a lock
   * committed between another request's lock check and its commit does not stop it (the
   * known window in docs/webdav.md, "Locks").
   */
  readonly alone?: boolean;
  /** Also allowed when sent at the same time as another request (said where set). */
  readonly raceOk?: readonly number[];
  /** Changes the world after a 2xx answer. */
  readonly apply?: (res: Response, body: Uint8Array) => string | null | void;
}

/**
 * What the checks let pass that a run under store faults may show for a while: a hard
 * link's count one too high (a removal cut short; docs/format.md "A release cut short").
 */
export const LENIENT = { nlink: false };

/** The names of each level (tests/_fuzz_limits.ts may make them more for a run). */
export const NAMES: string[] = ["a", "b", "c"];
export const api = (path: string) => "/api/v1/fs" + davUrl(path).slice("/dav".length);
export const meta = (route: string, path: string) =>
  `/api/v1/${route}` + davUrl(path).slice("/dav".length);
export const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});
export const decode = (b: Uint8Array) => new TextDecoder().decode(b);
export const NS = "urn:x-pagefs-fuzz:";
export const PROPS = ["p1", "p2"];
export const deadName = (local: string) => `dav:{${NS}}${local}`;

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

export function randomBytes(rng: Rng): Uint8Array<ArrayBuffer> {
  const size = rng.pick([0, 1, 100, 3000, 5000, 9000]);
  const out = new Uint8Array(size);
  const seed = rng.int(256);
  for (let i = 0; i < size; i++) out[i] = (seed + i * 7) & 0xff;
  return out;
}

/** A symlink target: to something, dangling, relative, to itself (a loop), to a parent. */
export function randomTarget(rng: Rng, model: Model, path: string): string {
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

export type Outcome = { ok: true; value: unknown } | { ok: false; code: string };
export const run = (model: Model, op: Op): Outcome => applyModel(model, op) as Outcome;

/** The file `path` leads to, and a copy of its bytes (to tell later if they changed). */
export function fileAt(
  model: Model,
  path: string,
): { node: MNode | null; bytes: Uint8Array | null } {
  const node = model.followed(path);
  return { node, bytes: node?.kind === "file" ? node.data.slice() : null };
}

/**
 * A conditional header on a file's ETag: the current one, a stale one, or `*`, chosen in
 * world `c` and judged in world `w` (the same world, or another order of two requests).
 * The draws do not depend on either world, so a step can be made again for another.
 */
export function pickIfMatch(rng: Rng, w: World, path: string, c: World = w) {
  const choice = rng.int(4);
  const r = rng.next();
  const chosen = c.model.followed(path);
  const known = chosen?.kind === "file" ? c.etags.get(chosen.id) : undefined;
  const node = w.model.followed(path);
  const current = node?.kind === "file" ? w.etags.get(node.id) : undefined;
  if (choice === 0 && known) return { value: `"${known}"`, holds: current === known };
  if (choice === 1 && c.stale.length) {
    const tag = c.stale[Math.floor(r * c.stale.length)]!;
    return { value: `"${tag}"`, holds: current === tag };
  }
  if (choice === 2) return { value: "*", holds: node !== null };
  return null;
}

/** A lock token (chosen in `c`) to send for `path` (sometimes), as the API takes it. */
export function tokenFor(rng: Rng, w: World, path: string, c: World = w): string[] {
  const send = rng.chance(0.6);
  const token = c.tokenAt(path);
  void w;
  return token && send ? [token] : [];
}
export const lockHeader = (tokens: string[]) =>
  tokens.length ? { "lock-token": tokens.map((t) => `<${t}>`).join(", ") } : {};

export function davStatus(code: string): number {
  return ({ EBUSY: 423, EEXIST: 405, ELOOP: 508, ESTALE: 412 } as Record<string, number>)[code] ??
    apiStatus(code);
}
/** A PUT's failure in WebDAV: RFC 4918 section 9.7.1 (a missing parent is 409). */
export function davPutStatus(code: string): number {
  if (code === "EISDIR") return 405;
  if (code === "ENOENT" || code === "ENOTDIR") return 409;
  if (code === "EEXIST") return 412;
  return davStatus(code);
}
