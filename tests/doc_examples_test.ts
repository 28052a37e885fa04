// Doc examples run as tests (`deno test --doc`), so what they assert must fail the test when it
// is false: `console.assert` only prints "Assertion failed" and the example passes. One example
// checked a wrong size string that way for months (src/cli/report.ts, session 16).

import { assertEquals } from "./_assert.ts";

async function* sources(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) yield* sources(path);
    else if (entry.name.endsWith(".ts") && !entry.name.endsWith("_test.ts")) yield path;
  }
}

Deno.test("doc examples assert with node:assert, never console.assert", async () => {
  const root = new URL("..", import.meta.url).pathname;
  const found: string[] = [];
  for await (const path of sources(`${root}src`)) {
    const lines = (await Deno.readTextFile(path)).split("\n");
    lines.forEach((line, i) => {
      if (/^\s*\*.*console\.assert\(/.test(line)) found.push(`${path.slice(root.length)}:${i + 1}`);
    });
  }
  assertEquals(found, []);
});
