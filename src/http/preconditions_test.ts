import { assertEquals } from "../../tests/_assert.ts";
import { httpDate } from "./preconditions.ts";

Deno.test("httpDate() writes each time's own second, however the calls interleave", () => {
  const times = [0, 999, 1_000, 1_500, 0, 784_111_777_000, 784_111_777_999, 1_000];
  assertEquals(times.map(httpDate), [
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Thu, 01 Jan 1970 00:00:01 GMT",
    "Thu, 01 Jan 1970 00:00:01 GMT",
    "Thu, 01 Jan 1970 00:00:00 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "Thu, 01 Jan 1970 00:00:01 GMT",
  ]);
});
