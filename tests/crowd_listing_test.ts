// Many clients listing one large directory at once (issue 12, item 5; bench/crowd.ts): the
// listings share what they are made of and render once, instead of each holding its own
// copy (100 PROPFIND Depth 1 of 10,000 entries peaked at 1 GiB of RSS before).

import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { dateCalls } from "./_dates.ts";
import { Dav } from "./_dav.ts";

async function filled(count: number): Promise<{ store: MemoryStore; dav: Dav }> {
  const store = new MemoryStore();
  const dav = new Dav(await Vfs.open(store), store);
  assertEquals(await dav.mkcol("/d"), 201);
  // Each member last modified in a second of its own: the HTTP date of one second is
  // rendered once and kept (`httpDate`), so only distinct seconds count renderings.
  const base = Date.UTC(2020, 0, 1);
  for (let i = 0; i < count; i++) {
    assertEquals(await dav.put(`/d/f${i}`, "x".repeat(i)), 201);
    await dav.vfs.setattr(`/d/f${i}`, { mtime: base + (i + 1) * 1000 });
  }
  await dav.vfs.setattr("/d", { mtime: base });
  return { store, dav };
}

/** Starts `n` requests at once, then reads every answer: all are in flight together. */
async function together(n: number, request: () => Response | Promise<Response>): Promise<string[]> {
  const answers = await Promise.all(Array.from({ length: n }, request));
  return await Promise.all(answers.map((res) => res.text()));
}

Deno.test("concurrent identical PROPFIND Depth 1 listings render the members once", async () => {
  const { dav } = await filled(30);
  const { calls, result } = await dateCalls(
    "toUTCString",
    () =>
      together(20, () =>
        dav.app.request("http://localhost/dav/d/", {
          method: "PROPFIND",
          headers: { depth: "1" },
        })),
  );
  assertEquals(new Set(result).size, 1);
  assertEquals(result[0]!.split("<D:response>").length - 1, 31);
  // The members once (30), and each answer's own response for the directory (at most 20:
  // the directory's date is kept between answers rendered one after the other).
  assert(calls >= 30 && calls <= 30 + 20, `${calls} dates rendered`);
});

Deno.test("HTTP API listings sent from kept bytes share them, not a copy each", async () => {
  const { dav } = await filled(30);
  const list = () => dav.app.request("http://localhost/api/v1/fs/d/?limit=100");
  const first = await (await list()).text();
  const answers = [await list(), await list()];
  const chunks = await Promise.all(
    answers.map(async (res) => (await res.body!.getReader().read()).value!),
  );
  assert(chunks[0]!.buffer === chunks[1]!.buffer, "one buffer for both answers");
  assertEquals(
    answers[0]!.headers.get("content-length"),
    String(new TextEncoder().encode(first).length),
  );
  assertEquals(new TextDecoder().decode(chunks[0]), first);
});

Deno.test("listings of a directory read back from the bucket share their entries and stats", async () => {
  const { store } = await filled(5);
  // Another instance: its directory comes from the bucket, not from its own writes.
  const fs = await Vfs.open(store);
  const [a, b] = [await fs.readdir("/d"), await fs.readdir("/d")];
  assertEquals(a.entries.map((e) => e.stat.size), [0, 1, 2, 3, 4]);
  for (let i = 0; i < 5; i++) assert(a.entries[i]!.stat === b.entries[i]!.stat, `stat ${i}`);
  const [x, y] = [
    await fs.readdir("/d", { xattrs: true }),
    await fs.readdir("/d", { xattrs: true }),
  ];
  for (let i = 0; i < 5; i++) assert(x.entries[i] === y.entries[i], `entry ${i}`);
  // Still a new stat once the entry changes.
  await fs.writeFile("/d/f2", new Uint8Array(7));
  assertEquals((await fs.readdir("/d")).entries[2]!.stat.size, 7);
});
