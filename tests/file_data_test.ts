// File data under races: compaction against an editor's safe-save, racing whole-file
// replaces, a create that retries onto another file, ETags that follow the content, and a
// client mtime that lands in the same CAS as the data. Each race is staged
// deterministically: the hook store runs the other instance's step right before a chosen
// request of the instance under test.

import { assert, assertEquals, assertNotEquals } from "./_assert.ts";
import { HookStore, type SeenCall } from "./_hook_store.ts";
import { bytes, contract, pattern } from "./_stores.ts";
import { BASE, mount } from "./rest_harness.ts";
import { Dav } from "./_dav.ts";
import { PREFIX } from "../src/format/keys.ts";
import { Vfs } from "../src/vfs/mod.ts";

const isSegmentPut = (call: SeenCall) =>
  call.op === "PutObject" && call.key?.startsWith(PREFIX.segment) === true;
const isDirPut = (call: SeenCall) =>
  call.op === "PutObject" && call.key?.startsWith(PREFIX.dir) === true;

/** Bytes equal, with a short message (length, or the first differing offset) when not. */
function assertBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (actual.length !== expected.length) {
    throw new Error(`Got ${actual.length} bytes, expected ${expected.length}`);
  }
  const at = actual.findIndex((b, i) => b !== expected[i]);
  if (at >= 0) throw new Error(`Bytes differ first at offset ${at}`);
}

/** `data` with `patch` written over it at `offset`. */
function patched(data: Uint8Array, offset: number, patch: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.max(data.length, offset + patch.length));
  out.set(data);
  out.set(patch, offset);
  return out;
}

contract(
  "`compact()` does not swap old bytes into a file saved over the compacted one",
  async (store) => {
    const hooked = new HookStore(store);
    const editor = await Vfs.open(store);
    const compactor = await Vfs.open(hooked);
    // /f at generation 2, its first segment mostly shadowed: a compaction candidate.
    await editor.writeFile("/f", pattern(100_000, 1));
    await editor.write("/f", 0, pattern(90_000, 2));
    // Once compaction has read /f's map and is writing the new segment, an editor saves a
    // new /f the usual way: a temp file (also at generation 2), renamed over the original.
    const saved = patched(pattern(50_000, 7), 10, bytes("new"));
    hooked.before(isSegmentPut, async () => {
      await editor.writeFile("/f.tmp", pattern(50_000, 7));
      await editor.write("/f.tmp", 10, bytes("new"));
      await editor.rename("/f.tmp", "/f");
    });
    const report = await compactor.compact({ below: 0.5, graceMs: 0 });
    assertEquals(hooked.fired, 1);
    assertEquals((await editor.getattr("/f")).size, 50_000);
    assertBytes(await editor.read("/f", 0, 200_000), saved);
    assertBytes(await compactor.read("/f", 0, 200_000), saved);
    assertEquals([report.filesRewritten, report.filesSkipped], [0, 1]);
  },
);

contract("a whole-file write replaces what was committed after it opened", async (store) => {
  const a = await Vfs.open(store);
  const b = await Vfs.open(store);
  // The path absent when A opens; B commits a longer file (in a segment) meanwhile.
  const first = await a.open("/f", { create: true, truncate: true });
  await first.write(0, bytes("short"));
  await b.writeFile("/f", pattern(5000, 3));
  await first.close();
  assertBytes(await b.read("/f", 0, 10_000), bytes("short"));
  assertEquals((await b.getattr("/f")).size, 5);
  // The path an empty file when A opens; B commits a longer inline file meanwhile.
  await a.writeFile("/g", new Uint8Array(0));
  const second = await a.open("/g", { create: true, truncate: true });
  await second.write(0, bytes("tiny"));
  await b.writeFile("/g", pattern(300, 4));
  await second.close();
  assertBytes(await b.read("/g", 0, 10_000), bytes("tiny"));
  // And A larger than inline, over B's inline file.
  const third = await a.open("/h", { create: true, truncate: true });
  await third.write(0, pattern(2000, 5));
  await b.writeFile("/h", pattern(3000, 6));
  await third.close();
  assertBytes(await b.read("/h", 0, 10_000), pattern(2000, 5));
});

contract(
  "HTTP PUT racing a longer PUT leaves exactly the last committer's bytes",
  async (store) => {
    const a = mount(await Vfs.open(store));
    const b = mount(await Vfs.open(store));
    let other: Response | null = null;
    let sent = false;
    // A's body arrives in two parts; B's whole PUT completes in between.
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(bytes("sho"));
          return;
        }
        other = await b.request(`${BASE}/fs/f`, { method: "PUT", body: "z".repeat(5000) });
        controller.enqueue(bytes("rt"));
        controller.close();
      },
    });
    const init: RequestInit & { duplex: "half" } = { method: "PUT", body, duplex: "half" };
    const res = await a.request(`${BASE}/fs/f`, init);
    await res.body?.cancel();
    // B created the file; A's commit came after and replaced it: 204, as in that order
    // (both answered 201 before, which no order of the two explains).
    assertEquals([res.status, (other as Response | null)?.status], [204, 201]);
    const got = await b.request(`${BASE}/fs/f`);
    const content = await got.text();
    assertEquals([content.length, content.slice(0, 10)], [5, "short"]);
  },
);

contract(
  "a create that retries onto another file does not reuse the first one's bytes",
  async (store) => {
    const hooked = new HookStore(store);
    const a = await Vfs.open(hooked);
    const b = await Vfs.open(store);
    const handle = await a.open("/f", { create: true });
    // Created by B after A opened: /f (inline, 100 bytes) and a temp file (inline, 600).
    await b.writeFile("/f", pattern(100, 1));
    await b.writeFile("/f.tmp", pattern(600, 2));
    const mine = pattern(2000, 3);
    await handle.write(1500, mine);
    // A's commit moves /f's inline bytes into its segment; meanwhile B writes to /f (A's
    // CAS loses), then, before A looks again, saves the temp file over /f. A's retry lands
    // on the new /f, whose generation equals the one A moved the old bytes for.
    // A's CAS is built on its copy of the directory (a PUT, which loses), re-reads it once
    // inside the CAS loop, and then A looks again: B's rename lands right before that look.
    hooked.before(isSegmentPut, async () => {
      await b.write("/f", 0, bytes("!"));
      let reads = 0;
      hooked.before(
        (call) =>
          call.op === "GetObject" && call.key?.startsWith(PREFIX.dir) === true && ++reads === 2,
        () => b.rename("/f.tmp", "/f"),
      );
    });
    await handle.close();
    assertEquals(hooked.fired, 2);
    const expected = patched(pattern(600, 2), 1500, mine);
    assertBytes(await b.read("/f", 0, 10_000), expected);
    assertBytes(await a.read("/f", 0, 10_000), expected);
  },
);

contract("a write to a file with a spilled map changes its ETag", async (store) => {
  const vfs = await Vfs.open(store, { spillExtents: 4 });
  const app = mount(vfs);
  const req = (path: string, init?: RequestInit) => app.request(BASE + path, init);
  await vfs.writeFile("/f", pattern(100_000, 1));
  for (let i = 1; i <= 8; i++) await vfs.write("/f", i * 10_000, bytes("xy"));
  const before = await req("/fs/f");
  const tag = before.headers.get("etag")!;
  await before.body?.cancel();
  // Four bytes in the middle: only the spilled map's delta changes.
  await vfs.write("/f", 50_500, bytes("abcd"));
  const after = await vfs.getattr("/f");
  assertNotEquals(`"${after.etag}"`, tag);
  const get = await req("/fs/f", { headers: { "if-none-match": tag } });
  await get.body?.cancel();
  assertEquals(get.status, 200);
  const put = await req("/fs/f", { method: "PUT", headers: { "if-match": tag }, body: "stale" });
  await put.body?.cancel();
  assertEquals(put.status, 412);
  assertBytes(await vfs.read("/f", 50_500, 4), bytes("abcd"));
  assertEquals((await vfs.getattr("/f")).size, 100_000);
});

contract("`compact()` keeps the ETag of a file whose bytes it moves", async (store) => {
  const vfs = await Vfs.open(store, { spillExtents: 4 });
  await vfs.writeFile("/f", pattern(100_000, 1));
  await vfs.write("/f", 0, pattern(90_000, 2));
  await vfs.writeFile("/g", pattern(100_000, 3));
  // A spilled map with a delta, whose first segment is mostly dead.
  await vfs.write("/g", 0, pattern(60_000, 4));
  for (let i = 1; i <= 3; i++) await vfs.write("/g", 60_000 + i * 10_000, pattern(100, 10 + i));
  const before = [await vfs.getattr("/f"), await vfs.getattr("/g")];
  const report = await vfs.compact({ below: 0.5, graceMs: 0 });
  assertEquals(report.filesRewritten, 2);
  const after = [await vfs.getattr("/f"), await vfs.getattr("/g")];
  assertEquals(after.map((s) => s.etag), before.map((s) => s.etag));
  const cold = await Vfs.open(store);
  assertEquals((await cold.getattr("/g")).etag, before[1]!.etag);
});

contract("the ETag changes with size and bytes, not with mode, times or xattrs", async (store) => {
  const vfs = await Vfs.open(store);
  await vfs.writeFile("/f", pattern(3000, 1));
  const tags = [(await vfs.getattr("/f")).etag];
  const same = async () => assertEquals((await vfs.getattr("/f")).etag, tags.at(-1));
  const changed = async () => {
    const tag = (await vfs.getattr("/f")).etag;
    assert(!tags.includes(tag), `ETag ${tag} was seen before`);
    tags.push(tag);
  };
  await vfs.setattr("/f", { mode: 0o600 });
  await same();
  await vfs.setattr("/f", { mtime: 1_000_000, atime: 2_000_000 });
  await same();
  await vfs.setxattr("/f", "user.k", bytes("v"));
  await same();
  await vfs.truncate("/f", 2000);
  await changed();
  await vfs.setattr("/f", { size: 4000 });
  await changed();
  // The same bytes written again are a new version (a write, as HTTP sees it).
  await vfs.write("/f", 0, pattern(10, 1));
  await changed();
  await vfs.writeFile("/f", bytes("small"));
  await changed();
  await vfs.write("/f", 0, bytes("S"));
  await changed();
});

contract("HTTP PUT with X-OC-Mtime sets the data and the mtime in one CAS", async (store) => {
  const hooked = new HookStore(store);
  const app = mount(await Vfs.open(hooked));
  for (const [path, body, status] of [["/f", "one", 201], ["/f", "x".repeat(5000), 204]] as const) {
    const from = hooked.calls.length;
    const res = await app.request(`${BASE}/fs${path}`, {
      method: "PUT",
      headers: { "x-oc-mtime": "1700000000" },
      body,
    });
    await res.body?.cancel();
    assertEquals([res.status, res.headers.get("x-oc-mtime")], [status, "accepted"]);
    assertEquals(hooked.calls.slice(from).filter(isDirPut).length, 1);
    const stat = await (await Vfs.open(store)).getattr(path);
    assertEquals(stat.mtime, 1_700_000_000_000);
  }
});

contract("WebDAV PUT with X-OC-Mtime sets the data and the mtime in one CAS", async (store) => {
  const hooked = new HookStore(store);
  const dav = new Dav(await Vfs.open(hooked), hooked);
  for (const [body, status] of [["one", 201], ["y".repeat(5000), 204]] as const) {
    const from = hooked.calls.length;
    const res = await dav.send("PUT", "/f", { body, headers: { "x-oc-mtime": "1600000000" } });
    await res.body?.cancel();
    assertEquals([res.status, res.headers.get("x-oc-mtime")], [status, "accepted"]);
    assertEquals(hooked.calls.slice(from).filter(isDirPut).length, 1);
    assertEquals((await (await Vfs.open(store)).getattr("/f")).mtime, 1_600_000_000_000);
  }
});

contract("`setattr({ size, mtime })` is one CAS", async (store) => {
  const hooked = new HookStore(store);
  const vfs = await Vfs.open(hooked);
  await vfs.writeFile("/f", pattern(3000, 1));
  const from = hooked.calls.length;
  const stat = await vfs.setattr("/f", { size: 10, mtime: 5_000_000, mode: 0o600 });
  assertEquals(hooked.calls.slice(from).filter(isDirPut).length, 1);
  assertEquals([stat.size, stat.mtime, stat.mode], [10, 5_000_000, 0o600]);
  assertBytes(await vfs.read("/f", 0, 100), pattern(10, 1));
});
