// A WebDAV MOVE whose instance stalls after its rename intent, while another instance meets
// the intent (and so makes the rename happen) and then deletes or moves on the destination:
// the MOVE took effect, so it answers success. Before session 18 its renamer found its
// source and its target gone, could not tell that from a rollback, and answered 404: a
// client then believed its file was never moved, while it had been (and was then deleted by
// someone else). The VFS-level tests are in tests/vfs_rename_late_target_test.ts.

import { assertEquals } from "./_assert.ts";
import { Dav, davUrl } from "./_dav.ts";
import { GateStore } from "./_gate.ts";
import { dirKey } from "../src/format/keys.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

async function move(dav: Dav, from: string, to: string): Promise<Response> {
  return await dav.app.request(davUrl(from), {
    method: "MOVE",
    headers: { destination: `http://localhost${davUrl(to)}`, overwrite: "T" },
  });
}

/**
 * `/d1/x` moved to `/d2/y` through `a`, held at its first write of `/d2` (its target write,
 * after its intent); meanwhile `b` looks `/d1/x` up (which settles the intent: the rename
 * happens) and runs `then`. Returns the MOVE's status and `b`'s view at the end.
 */
async function stalledMove(then: (b: Dav) => Promise<void>) {
  const store = new MemoryStore();
  const gate = new GateStore(store);
  const a = new Dav(await Vfs.open(gate), gate);
  const b = new Dav(await Vfs.open(store), store);
  await b.vfs.mkdir("/d1");
  await b.vfs.mkdir("/d2");
  await b.vfs.writeFile("/d1/x", new TextEncoder().encode("moved"));
  const d2 = dirKey((await b.vfs.getattr("/d2")).ino);
  gate.arm((call) => call.op === "PutObject" && call.key === d2);
  const answer = move(a, "/d1/x", "/d2/y");
  await gate.held;
  assertEquals((await b.send("GET", "/d1/x")).status, 404, "the intent was not settled");
  await then(b);
  gate.open();
  const status = (await answer).status;
  return { status, b };
}

Deno.test("a MOVE whose rename another instance applied, the destination then deleted, answers 201, not 404", async () => {
  const { status, b } = await stalledMove(async (b) => {
    assertEquals((await b.send("DELETE", "/d2/y")).status, 204);
  });
  assertEquals(status, 201);
  assertEquals((await b.send("GET", "/d1/x")).status, 404);
  assertEquals((await b.send("GET", "/d2/y")).status, 404);
});

Deno.test("a MOVE whose rename another instance applied, the destination then moved on, answers 201, not 404", async () => {
  const { status, b } = await stalledMove(async (b) => {
    assertEquals((await move(b, "/d2/y", "/d2/z")).status, 201);
  });
  assertEquals(status, 201);
  const moved = await b.send("GET", "/d2/z");
  assertEquals([moved.status, await moved.text()], [200, "moved"]);
});
