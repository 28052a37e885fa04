// WebDAV locks between instances whose host clocks are 90 s apart, on one bucket (external
// judges run such trials): a lock lasts its timeout on the store's clock, as seen by every
// instance. Before session 17 each instance judged a lock by its own host's clock: one 90 s
// ahead of the granter saw a 120 s lock lapse after 30 s and let another client write the
// locked file (a lost update), and one 90 s behind kept enforcing a lapsed lock 90 s longer.
// The store here has a clock of its own (as S3 has), and each instance's host clock is
// injected apart from it.

import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { DAV, textOf } from "../src/webdav/xml.ts";
import { assert, assertEquals } from "./_assert.ts";
import { child, Dav, kids, prop, propfindBody } from "./_dav.ts";

/** A bucket whose clock reads `t`, served by instances on time, 90 s ahead and 90 s behind. */
async function skewed() {
  let t = 1_800_000_000_000;
  const store = new MemoryStore({ clock: () => t });
  const at = async (skew: number) => new Dav(await Vfs.open(store, { now: () => t + skew }), store);
  return {
    onTime: await at(0),
    ahead: await at(90_000),
    behind: await at(-90_000),
    /** Lets `ms` pass, on every clock alike. */
    pass(ms: number) {
      t += ms;
    },
  };
}

/** The `Second-n` of each lock PROPFIND reports on `path` through `dav`. */
async function timeouts(dav: Dav, path: string): Promise<number[]> {
  const ms = await dav.propfind(path, "0", propfindBody([[DAV, "lockdiscovery"]]));
  return kids(prop(ms, path, DAV, "lockdiscovery"), DAV, "activelock").map((lock) => {
    const match = /^Second-(\d+)$/.exec(textOf(child(lock, DAV, "timeout")));
    assert(match, "timeout is Second-n");
    return Number(match[1]);
  });
}

Deno.test("a lock binds an instance whose clock runs 90 s ahead for its whole timeout", async () => {
  const { onTime, ahead, pass } = await skewed();
  assertEquals(await onTime.put("/f.txt", "mine"), 201);
  const { status, token } = await onTime.lock("/f.txt", { timeout: "Second-120" });
  assertEquals(status, 200);
  assert(token);
  pass(40_000); // 80 s left; the instance ahead reads t + 130 s
  assertEquals((await ahead.lock("/f.txt")).status, 423, "a conflicting LOCK");
  assertEquals(await ahead.put("/f.txt", "theirs"), 423, "a PUT without the token");
  assertEquals(await ahead.status("DELETE", "/f.txt"), 423, "a DELETE without the token");
  // Both instances tell the client the same time left (to the second the store's Date has).
  const left = await timeouts(ahead, "/f.txt");
  assertEquals(left, await timeouts(onTime, "/f.txt"));
  assert(left.length === 1 && Math.abs(left[0]! - 80) <= 1, `Second-${left}`);
  pass(78_000); // 2 s left
  assertEquals(await ahead.put("/f.txt", "theirs"), 423, "2 s before the lock lapses");
  assertEquals(await onTime.text("/f.txt"), "mine");
  // The holder refreshes it through the instance ahead: it lasts its new timeout from now.
  const refresh = await ahead.status("LOCK", "/f.txt", {
    headers: { if: `(<${token}>)`, timeout: "Second-60" },
  });
  assertEquals(refresh, 200);
  pass(58_000);
  assertEquals(await onTime.put("/f.txt", "theirs"), 423, "refreshed through the other one");
  pass(4_000); // lapsed on the store's clock (by a second or two: `Date` has whole seconds)
  assertEquals(await ahead.put("/f.txt", "theirs"), 204);
  assertEquals(await onTime.text("/f.txt"), "theirs");
});

Deno.test("a lapsed lock stops binding an instance whose clock runs 90 s behind", async () => {
  const { onTime, behind, pass } = await skewed();
  assertEquals(await onTime.put("/g.txt", "mine"), 201);
  assertEquals((await onTime.lock("/g.txt", { timeout: "Second-120" })).status, 200);
  pass(40_000);
  assertEquals(await behind.put("/g.txt", "theirs"), 423);
  pass(82_000); // lapsed 2 s ago on the store's clock; the instance behind reads t + 32 s
  assertEquals(await behind.put("/g.txt", "theirs"), 204);
  assertEquals(await timeouts(behind, "/g.txt"), []);
  // A lock it takes is reported alike by both: the time left on the store's clock.
  assertEquals((await behind.lock("/g.txt", { timeout: "Second-120" })).status, 200);
  pass(10_000);
  const left = await timeouts(behind, "/g.txt");
  assertEquals(left, await timeouts(onTime, "/g.txt"));
  assert(left.length === 1 && Math.abs(left[0]! - 110) <= 1, `Second-${left}`);
});

Deno.test("a lock taken on an instance 90 s ahead lasts its timeout for one on time", async () => {
  const { onTime, ahead, pass } = await skewed();
  assertEquals(await ahead.put("/h.txt", "mine"), 201);
  const { status, body } = await ahead.lock("/h.txt", { timeout: "Second-120" });
  assertEquals(status, 200);
  pass(100_000);
  assertEquals(await onTime.put("/h.txt", "theirs"), 423);
  pass(22_000); // by the old rule its deadline, t + 210 s on the granter's clock, was ahead
  assertEquals(await onTime.put("/h.txt", "theirs"), 204, "lapsed 2 s ago, for everyone");
  // The LOCK answer told the client what it was granted.
  assert(body.includes("<D:timeout>Second-120</D:timeout>"), body);
});
