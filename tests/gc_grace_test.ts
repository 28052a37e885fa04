// GC never deletes bytes that are about to be, or still are, in use: grace is judged on
// GC's own clock from when GC first saw an object unreferenced (two runs a grace apart),
// never from the time in a segment's id (the writer's clock, taken when its upload began).

import { assert, assertEquals } from "./_assert.ts";
import { contract, pattern } from "./_stores.ts";
import { GateStore } from "./_gate.ts";
import { HookStore } from "./_hook_store.ts";
import { gc } from "../src/format/gc.ts";
import { dirKey, newId, newIno, PREFIX, ROOT_INO } from "../src/format/keys.ts";
import { Vfs } from "../src/vfs/mod.ts";
import type { ObjectStore } from "../src/store/types.ts";

const MINUTE = 60_000;
const GRACE = 10 * MINUTE;
const HOUR = 60 * MINUTE;

async function segments(store: ObjectStore): Promise<string[]> {
  return (await store.list({ prefix: PREFIX.segment })).objects.map((o) => o.key);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

contract(
  "gc() keeps the segment of an upload slower than the grace period until it commits",
  async (store) => {
    const gate = new GateStore(store);
    const writer = await Vfs.open(gate);
    const data = pattern(50_000, 1);
    // The segment is complete; the metadata commit that names it is held (a client whose
    // upload took longer than the grace period, or a commit stalled by one slow request).
    let segmentWritten = false;
    gate.arm((call) => {
      if (call.op === "PutObject" && call.key?.startsWith(PREFIX.segment)) segmentWritten = true;
      return segmentWritten && call.op === "PutObject" && call.key === dirKey(ROOT_INO);
    });
    const upload = writer.writeFile("/slow", data);
    await gate.held;
    // GC's clock is 11 minutes past the moment the upload started (the segment id's time).
    const report = await gc(store, { now: Date.now() + 11 * MINUTE });
    assertEquals(report.deletedKeys, []);
    gate.open();
    await upload;
    assertEquals(await (await Vfs.open(store)).read("/slow", 0, 60_000), data);
    // Referenced now: later runs, however late, keep it.
    const later = await gc(store, { now: Date.now() + 30 * MINUTE });
    assertEquals(later.deletedKeys, []);
    assertEquals(await (await Vfs.open(store)).read("/slow", 0, 60_000), data);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "gc() keeps an old segment that a COPY in flight re-references",
  async (store) => {
    const gate = new GateStore(store);
    const copier = await Vfs.open(gate);
    const other = await Vfs.open(store);
    const data = pattern(50_000, 2);
    await other.writeFile("/a", data);
    // The copy has read /a's page map; its commit of /b is held.
    gate.arm((call) => call.op === "PutObject" && call.key === dirKey(ROOT_INO));
    const copying = copier.copy("/a", "/b");
    await gate.held;
    // Meanwhile /a is overwritten: its old segment is unreferenced, and old by its id.
    await other.writeFile("/a", pattern(50_000, 3));
    const report = await gc(store, { now: Date.now() + 11 * MINUTE });
    assertEquals(report.deletedKeys, []);
    gate.open();
    await copying;
    assertEquals(await (await Vfs.open(store)).read("/b", 0, 60_000), data);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "a download in progress survives `gc --compact-below` and the GC runs after it",
  async (store) => {
    const writer = await Vfs.open(store);
    // /f: [0, 100 000) from a second segment over the first 100 000 bytes of a 200 000
    // byte first segment, which is then half dead: a compaction candidate.
    const expected = pattern(200_000, 4);
    await writer.writeFile("/f", expected);
    const patch = pattern(100_000, 5);
    await writer.write("/f", 0, patch);
    expected.set(patch, 0);
    const reader = await Vfs.open(store);
    const { body } = await reader.readStream("/f");
    const chunks = body.getReader();
    const first = await chunks.read();
    assert(!first.done && first.value.length < expected.length, "read the first piece only");
    // What `deno task gc --compact-below 0.6` runs: compaction, then GC, by a clock 11
    // minutes on; then GC again a full grace later.
    const admin = await Vfs.open(store);
    const compacted = await admin.compact({ below: 0.6, graceMs: 0 });
    assertEquals(compacted.filesRewritten, 1);
    const now = Date.now() + 11 * MINUTE;
    const same = await gc(store, { now, compactBelow: 0.6 });
    assertEquals(same.deletedKeys, [], "nothing compaction released goes in the same run");
    const later = await gc(store, { now: now + GRACE + 1 });
    assertEquals(later.segments.deleted, 1, "released a grace later");
    assertEquals((await segments(store)).length, 2);
    // The reader's segment is gone: it continues from the file's new page map.
    const rest: Uint8Array[] = [first.value];
    for (;;) {
      const next = await chunks.read();
      if (next.done) break;
      rest.push(next.value);
    }
    assertEquals(concat(rest), expected);
  },
  { backends: ["memory", "s3"] },
);

contract(
  "gc() aborts an incomplete multipart upload it has seen for the upload grace period",
  async (store) => {
    const DAY = 24 * 60 * MINUTE;
    await Vfs.open(store); // formats the bucket
    const dead = await store.createMultipart(`${PREFIX.segment}${newId()}`);
    await store.uploadPart(dead, 1, pattern(1000, 6));
    const t = Date.now();
    const first = await gc(store, { now: t });
    assertEquals(first.uploads, { scanned: 1, aborted: 0 });
    // A newer upload (a writer streaming right now) is seen for the first time later.
    const live = await store.createMultipart(`${PREFIX.segment}${newId()}`);
    assertEquals((await gc(store, { now: t + DAY - 1 })).uploads, { scanned: 2, aborted: 0 });
    assertEquals((await gc(store, { now: t + DAY, dryRun: true })).uploads.aborted, 1);
    assertEquals((await gc(store, { now: t + DAY })).uploads, { scanned: 2, aborted: 1 });
    const left = (await store.listMultipart({ prefix: PREFIX.segment })).uploads;
    assertEquals(left.map((u) => u.uploadId), [live.uploadId]);
    await store.abortMultipart(live);
  },
);

contract(
  "a commit stalled between its data and its metadata for longer than GC's grace never names a deleted segment",
  async (store) => {
    let clock = Date.now();
    // The new bytes are durable; before the commit goes on to its metadata CAS, the writer
    // stalls for eleven minutes, and GC runs twice, a grace apart, on its own clock.
    const stalled = new HookStore(store);
    stalled.after(
      (call) => call.op === "PutObject" && call.key?.startsWith(PREFIX.segment) === true,
      async () => {
        clock += 11 * 60_000;
        const t = Date.now();
        await gc(store, { now: t });
        await gc(store, { now: t + 11 * 60_000 });
      },
    );
    const setup = await Vfs.open(store);
    const before = pattern(5000, 1);
    await setup.writeFile("/f", before);
    const fs = await Vfs.open(stalled, { now: () => clock });
    const after = pattern(5000, 2);
    const outcome = await fs.writeFile("/f", after).then(() => "ok", (e) => e.code);
    assertEquals(stalled.fired, 1, "the interleaving did not happen");
    // Refused (its data was reclaimed), or acknowledged with every byte there.
    const fresh = await Vfs.open(store);
    const now = await fresh.read("/f", 0, 6000).catch((e) => e.code);
    assertEquals(now, outcome === "ok" ? after : before, `write: ${outcome}`);
    assertEquals(outcome, "EIO");
  },
  { backends: ["memory", "s3"] },
);

contract(
  "a copy stalled for longer than GC's grace never names its source's reclaimed segments",
  async (store) => {
    let clock = Date.now();
    const other = await Vfs.open(store);
    const fs = await Vfs.open(store, { now: () => clock });
    await other.writeFile("/a", pattern(5000, 1));
    // The copy has read /a's page map; before it commits, /a is overwritten elsewhere, the
    // copier stalls for eleven minutes and GC runs twice, a grace apart.
    const beforeEach = async () => {
      await other.writeFile("/a", pattern(5000, 2));
      clock += 11 * 60_000;
      const t = Date.now();
      await gc(store, { now: t });
      await gc(store, { now: t + 11 * 60_000 });
    };
    const outcome = await fs.copy("/a", "/b", { beforeEach }).then(() => "ok", (e) => e.code);
    const fresh = await Vfs.open(store);
    const copied = await fresh.read("/b", 0, 6000).catch((e) => e.code);
    if (outcome === "ok") assertEquals(copied, pattern(5000, 1), "the acknowledged copy");
    assertEquals(outcome, "EIO");
    assertEquals(copied, "ENOENT");
  },
  { backends: ["memory", "s3"] },
);

/** Runs `fn` on a host whose clock is `skewMs` off (Date.now only: the store keeps time). */
async function onSkewedHost<T>(skewMs: number, fn: () => Promise<T>): Promise<T> {
  const real = Date.now;
  Date.now = () => real() + skewMs;
  try {
    return await fn();
  } finally {
    Date.now = real;
  }
}

contract(
  "gc() run from two hosts with clocks an hour apart deletes nothing before its grace",
  async (store) => {
    const fs = await Vfs.open(store);
    await fs.writeFile("/f", pattern(50_000, 4));
    const [old] = await segments(store);
    await fs.writeFile("/f", pattern(50_000, 5)); // the first segment is now unreferenced
    // The host with the right time sees it unreferenced first; a minute later a host whose
    // clock is an hour ahead runs GC: for the store, one minute has passed, not sixty.
    assertEquals((await gc(store, { graceMs: GRACE })).pending.recorded, 1);
    const ahead = await onSkewedHost(HOUR, () => gc(store, { graceMs: GRACE }));
    assertEquals(ahead.deletedKeys, [], "deleted on a clock an hour ahead");
    assertEquals(ahead.pending.waiting, 1);
    assert((await segments(store)).includes(old!));
    // And one an hour behind records nothing as first seen later than it was.
    const behind = await onSkewedHost(-HOUR, () => gc(store, { graceMs: GRACE }));
    assertEquals([behind.deletedKeys, behind.pending.waiting], [[], 1]);
  },
  // A local store's clock is its one host's, which this test moves too.
  { backends: ["memory", "s3"] },
);

contract(
  "fsck --repair on a host whose clock is an hour ahead keeps a directory object just written",
  async (store) => {
    const fs = await Vfs.open(store);
    await fs.mkdir("/d");
    // mkdir writes the directory's object before the entry that names it: one caught
    // between the two is an object no entry names yet, and young.
    const ino = newIno();
    const { newDirObject } = await import("../src/format/dir.ts");
    const { encode } = await import("../src/format/meta.ts");
    const attr = { mode: 0o40755, uid: 0, gid: 0, size: 0, atime: 0, mtime: 0, ctime: 0, btime: 0 };
    await store.put(dirKey(ino), encode(newDirObject(ino, ROOT_INO, attr)));
    const { fsck } = await import("../src/format/fsck.ts");
    const report = await onSkewedHost(HOUR, () => fsck(store, { repair: true }));
    assertEquals(report.repaired, 0, JSON.stringify(report.problems));
    assert(await store.head(dirKey(ino)) !== null, "a young directory object was deleted");
  },
  { backends: ["memory", "s3"] },
);
