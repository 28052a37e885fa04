import { assertEquals } from "../../tests/_assert.ts";
import { FsError } from "./errors.ts";
import { checkName, NAME_MAX, PATH_MAX, splitPath } from "./path.ts";

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (error) {
    if (error instanceof FsError) return error.code;
    throw error;
  }
}

Deno.test("name and path limits count UTF-8 bytes, whatever the characters", () => {
  const bytes = (text: string) => new TextEncoder().encode(text).length;
  // Characters of 1, 2, 3 and 4 (a surrogate pair) UTF-8 bytes, on both sides of the limit.
  for (const unit of ["x", "é", "€", "😀"]) {
    for (let count = 1; count * bytes(unit) <= NAME_MAX + 4; count++) {
      const name = unit.repeat(count);
      const expected = bytes(name) > NAME_MAX ? "ENAMETOOLONG" : "ok";
      assertEquals(codeOf(() => checkName(name)), expected, `${count} x ${unit}`);
      const path = ("/" + name).repeat(Math.ceil((PATH_MAX + 8) / (bytes(name) + 1)));
      for (const cut of [PATH_MAX - 1, PATH_MAX, PATH_MAX + 1]) {
        const cutPath = path.slice(0, cut);
        if (!cutPath.isWellFormed() || cutPath.endsWith("/")) continue;
        if (cutPath.split("/").some((n) => bytes(n) > NAME_MAX)) continue;
        const want = bytes(cutPath) > PATH_MAX ? "ENAMETOOLONG" : "ok";
        assertEquals(codeOf(() => splitPath(cutPath)), want, `path of ${cut} units of ${unit}`);
      }
    }
  }
  assertEquals(codeOf(() => checkName("a/b")), "EINVAL");
  assertEquals(codeOf(() => checkName("a\0b")), "EINVAL");
  assertEquals(codeOf(() => checkName("\ud800")), "EINVAL");
  assertEquals(codeOf(() => checkName("..")), "EINVAL");
});
