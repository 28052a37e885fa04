import { assertEquals } from "../../tests/_assert.ts";
import { contentTypeOf } from "./media_types.ts";

Deno.test("contentTypeOf() keeps the common types and knows the database's others", () => {
  const cases: [string, string][] = [
    ["a.txt", "text/plain; charset=utf-8"],
    ["a.HTML", "text/html; charset=utf-8"],
    ["a.js", "text/javascript; charset=utf-8"],
    ["a.json", "application/json"],
    ["a.ico", "image/vnd.microsoft.icon"],
    ["a.pdf", "application/pdf"],
    ["report.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"],
    ["photo.heic", "image/heic"],
    ["book.epub", "application/epub+zip"],
    [".profile", "application/octet-stream"],
    ["noext", "application/octet-stream"],
    ["a.nosuchtype", "application/octet-stream"],
  ];
  for (const [name, type] of cases) assertEquals(contentTypeOf(`/d/${name}`), type, name);
});
