import { assert, assertEquals } from "../../tests/_assert.ts";
import { BodySlots } from "./body_slots.ts";

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("a body ended while it waited for a slot gives the slot back once it gets one", async () => {
  const slots = new BodySlots(1);
  const a = slots.body();
  await a.read(async () => 1);
  assertEquals(slots.active, 1);
  // b's first read waits for a's slot; its request ends meanwhile (client gone, cancelled).
  const b = slots.body();
  const bRead = b.read(async () => "b");
  await settle();
  b.end();
  a.end();
  assertEquals(await bRead, "b");
  // Before: b took the slot when a left, and nothing ever gave it back: every later body
  // waited forever (a server whose bodies all hang once 16 such slots leaked).
  assertEquals(slots.active, 0);
  let cRan = false;
  const c = slots.body();
  await Promise.race([c.read(async () => cRan = true), settle().then(settle)]);
  assert(cRan, "a new body gets the free slot");
  c.end();
  assertEquals(slots.active, 0);
});

Deno.test("a body's reads start no timer each: one interval times them all", async () => {
  const slots = new BodySlots(2);
  const body = slots.body();
  await body.read(async () => 0); // the first read may start the shared interval
  const real = { setTimeout: globalThis.setTimeout, setInterval: globalThis.setInterval };
  let timers = 0;
  globalThis.setTimeout = ((...args: Parameters<typeof setTimeout>) => {
    timers++;
    return real.setTimeout(...args);
  }) as typeof setTimeout;
  globalThis.setInterval = ((...args: Parameters<typeof setInterval>) => {
    timers++;
    return real.setInterval(...args);
  }) as typeof setInterval;
  try {
    for (let i = 0; i < 100; i++) await body.read(async () => i);
  } finally {
    Object.assign(globalThis, real);
  }
  body.end();
  // Before: a setTimeout and a clearTimeout per read (2-4 µs each, 4,096 reads of a
  // 256 MiB PUT), so 100 here.
  assertEquals(timers, 0);
  assertEquals(slots.active, 0);
  await new Promise((resolve) => setTimeout(resolve, 40)); // the interval stops itself
});

Deno.test("a read that waits gives its slot up, and takes one again without waiting", async () => {
  const slots = new BodySlots(1);
  const slow = slots.body();
  let release = () => {};
  const slowRead = slow.read(() => new Promise<void>((resolve) => release = resolve));
  await new Promise((resolve) => setTimeout(resolve, 60));
  assertEquals(slots.active, 0, "the slow read gave its slot up");
  const fast = slots.body();
  assertEquals(await fast.read(async () => "fast"), "fast");
  fast.end();
  release();
  await slowRead;
  slow.end();
  assertEquals(slots.active, 0);
});
