import { assert, assertEquals } from "../../tests/_assert.ts";
import { contract } from "../../tests/_stores.ts";
import { MemoryStore } from "../store/memory.ts";
import { MetaStore } from "./cas.ts";
import { StoreClock } from "./store_clock.ts";

Deno.test("StoreClock is the host's clock until an answer carries the store's", () => {
  let host = 5_000;
  const clock = new StoreClock(() => host);
  clock.observe(undefined, { sent: 0 });
  assertEquals([clock.now(), clock.latest()], [5_000, 5_000]);
  host += 7;
  assertEquals(clock.now(), 5_007);
});

Deno.test("StoreClock narrows the offset by answers stamped at different fractions", () => {
  // The store's clock is the host's less 90.3 s; answers take 10 ms to come back.
  let host = 0;
  const store = () => host - 90_300;
  const clock = new StoreClock(() => host);
  /** A request sent when the store's clock reads `at`. */
  const answerAt = (at: number) => {
    host = at + 90_300;
    const sent = host;
    host += 10;
    clock.observe(Math.floor(store() / 1000) * 1000, { sent });
  };
  const doubt = () => [clock.now() - store(), clock.latest() - store()];
  answerAt(909_700);
  // Stamped in [909 s, 910 s) and read 10 ms after it was sent: 1.01 s of doubt.
  assertEquals(doubt(), [-710, 300]);
  answerAt(910_985); // sent just before a second began: the high end comes down
  assertEquals(doubt(), [-710, 15]);
  answerAt(912_005); // stamped just after one began: the low end comes up
  assertEquals(doubt(), [-15, 15]);
  // Never ahead of the store by `now`, never behind it by `latest`, whatever comes.
  for (let i = 0; i < 50; i++) {
    answerAt(913_000 + i * 137);
    const [low, high] = doubt();
    assert(low! <= 0 && high! >= 0, `answer ${i}: ${low}, ${high}`);
  }
});

Deno.test("StoreClock follows a host clock that is stepped", () => {
  let host = 1_000_000;
  let skew = 90_000; // the host runs 90 s ahead
  const clock = new StoreClock(() => host);
  const answer = () => clock.observe(Math.floor((host - skew) / 1000) * 1000, { sent: host });
  answer();
  assertEquals(clock.now(), 910_000);
  skew = 0; // NTP steps the host back to the store's time
  host -= 90_000;
  answer();
  assertEquals([clock.now(), clock.latest()], [host, host + 1000]);
});

Deno.test("MetaStore learns the store's clock from the answers of its reads and writes", async () => {
  let t = 2_000_000_000_000;
  let gets = 0;
  const memory = new MemoryStore({ clock: () => t });
  const store = new Proxy(memory, {
    get(target, name) {
      const value = Reflect.get(target, name, target);
      if (name === "get") gets++;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  const meta = new MetaStore(store, { now: () => t + 60_000 }); // a minute ahead
  const check = () => null;
  assertEquals(meta.clock.now(), t + 60_000, "nothing learned yet");
  await meta.update<{ n: number }, void>(
    "k",
    check,
    () => ({ write: { n: 1 }, result: undefined }),
  );
  assertEquals(meta.clock.now(), t, "from the PUT's answer");
  t += 5_000;
  await meta.read("k", check); // a 304
  assertEquals([meta.clock.now(), gets], [t, 2]);
});

contract("every backend's answers carry the store's clock, or none (the host's)", async (store) => {
  const before = Date.now();
  const put = await store.put("clock-probe", new Uint8Array(1));
  const got = await store.get("clock-probe");
  const same = got?.status === "ok"
    ? await store.get("clock-probe", { ifNoneMatch: got.info.etag })
    : null;
  if (got?.status === "ok") await got.body.cancel();
  const dates = [put.date, got?.date, same?.date];
  if (store.kind === "s3") {
    // A server whose clock is within a minute of this host's, as the test servers are.
    for (const date of dates) {
      assert(date !== undefined && Math.abs(date - before) < 60_000, `date ${date}`);
      assertEquals(date % 1000, 0);
    }
    assertEquals(same?.status, "not-modified");
  } else {
    assertEquals(dates, [undefined, undefined, undefined]);
  }
});
