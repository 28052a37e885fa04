import { assert, assertEquals } from "../../tests/_assert.ts";
import { buildFilter, FILTER_PROBES, mayHold } from "./_bloom.ts";
import { nameHash } from "./_dir_entries.ts";

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

Deno.test("`mayHold()` passes every name a filter was built with", () => {
  for (const n of [0, 1, 7, 100, 4096]) {
    const built = names("file-", n);
    const filter = buildFilter(built.map(nameHash));
    assertEquals(filter.k, FILTER_PROBES);
    assert(/^[A-Za-z0-9+/]+$/.test(filter.filter), "base64 characters only");
    for (const name of built) assert(mayHold(filter, nameHash(name)), `${name} of ${n} missed`);
  }
});

Deno.test("`mayHold()` passes about 1% of names a filter of 4,096 was not built with", () => {
  const filter = buildFilter(names("file-", 4096).map(nameHash));
  // About 10 bits a name: 6,827 characters of 6 bits, 5 KiB of bits.
  assertEquals(filter.filter.length, Math.ceil(4096 * 10 / 6));
  const absent = names("other-", 20_000).filter((n) => mayHold(filter, nameHash(n))).length;
  assert(absent > 20 && absent < 400, `${absent} of 20,000 absent names passed`);
});

Deno.test("`mayHold()` reads a character outside base64 as all bits set, never a false no", () => {
  const filter = buildFilter([]);
  assert(!mayHold(filter, nameHash("a")), "an empty filter passes nothing");
  assert(mayHold({ filter: "!".repeat(filter.filter.length), k: FILTER_PROBES }, nameHash("a")));
});
