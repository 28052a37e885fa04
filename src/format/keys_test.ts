import { assert, assertEquals } from "../../tests/_assert.ts";
import { idTime, isId, isIno, newId, newIno } from "./keys.ts";

Deno.test("newId() and newIno() stay unique and well formed across refills of their random bytes", () => {
  // 3,000 ids and inos draw 54,000 random bytes: the pool is refilled a dozen times.
  const ids = new Set<string>();
  const pairs = new Set<string>();
  for (let i = 0; i < 3000; i++) {
    const id = newId(1_700_000_000_000 + i);
    const ino = newIno();
    assert(isId(id), id);
    assert(isIno(ino), ino);
    assertEquals(idTime(id), 1_700_000_000_000 + i);
    ids.add(id.slice(13)).add(ino);
    for (let at = 0; at < 16; at += 2) pairs.add(ino.slice(at, at + 2));
  }
  assertEquals(ids.size, 6000);
  // Every byte value is written with its two digits.
  assertEquals(pairs.size, 256);
});
