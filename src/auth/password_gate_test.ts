import { assert, assertEquals } from "../../tests/_assert.ts";
import { AuthBusy, PasswordGate } from "./password_gate.ts";

/** A check that runs until released, and says whether the password was right. */
function held(log: string[], name: string, right: boolean) {
  let release = () => {};
  const check = () => {
    log.push(name);
    return new Promise<boolean>((resolve) => release = () => resolve(right));
  };
  return { check, release: () => release() };
}

Deno.test("`PasswordGate` runs a known credential, then the client with fewest failures", async () => {
  const gate = new PasswordGate({ concurrency: 1 });
  const log: string[] = [];
  // The attacker has failed twice; everyone else never.
  for (const n of [1, 2]) await gate.run("attacker", { known: false }, async () => n < 0);
  const first = held(log, "first", false);
  const attacker = held(log, "attacker", false);
  const alice = held(log, "alice", true);
  const bob = held(log, "bob", true);
  // Each call queues at once (before its first await), in this order.
  const runs = [
    gate.run("other", { known: false }, first.check),
    gate.run("attacker", { known: false }, attacker.check),
    gate.run("alice's", { known: false }, alice.check),
    gate.run("bob's", { known: true }, bob.check),
  ];
  assertEquals(log, ["first"]);
  for (const step of [first, bob, alice, attacker]) {
    step.release();
    await new Promise((r) => setTimeout(r, 0));
  }
  assertEquals(await Promise.all(runs), [false, false, true, true]);
  // FIFO would have run the attacker's second.
  assertEquals(log, ["first", "bob", "alice", "attacker"]);
});

Deno.test('`PasswordGate` refuses past its line and a client\'s share, and never the client ""', async () => {
  const gate = new PasswordGate({ concurrency: 1, queue: 1, perClient: 1 });
  const log: string[] = [];
  const a = held(log, "a", false);
  const running = gate.run("a", { known: false }, a.check);
  const error = await gate.run("a", { known: false }, async () => true).catch((e) => e);
  assert(error instanceof AuthBusy && error.status === 429, String(error));
  const waiting = gate.run("", { known: false }, async () => false);
  const full = await gate.run("", { known: false }, async () => true).catch((e) => e);
  assert(full instanceof AuthBusy && full.status === 503, String(full));
  a.release();
  assertEquals([await running, await waiting], [false, false]);
  // "" (clients not told apart) fails as often as it likes without a back-off.
  for (let i = 0; i < 10; i++) {
    assertEquals(await gate.run("", { known: false }, async () => false), false);
  }
});
