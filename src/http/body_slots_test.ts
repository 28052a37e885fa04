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
