// Conditions of the HTTP API's writes hold at the commit, not only when the request
// looked: a file removed while the body uploads is not created again by a PUT or PATCH
// with `If-Match: *` (found by tests/protocol_fuzz_ext_test.ts, two requests at once).

import { assertEquals } from "./_assert.ts";
import { restTest } from "./rest_harness.ts";

/** A body whose first read (after the request's checks) first runs `meanwhile`. */
function bodyAfter(meanwhile: () => Promise<unknown>, data: string): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    async pull(controller) {
      if (sent) return controller.close();
      sent = true;
      await meanwhile();
      controller.enqueue(new TextEncoder().encode(data));
    },
  });
}

restTest(
  "If-Match: * on PUT and PATCH does not create a file removed meanwhile",
  async ({ req, vfs }) => {
    for (const how of ["PUT", "PATCH"] as const) {
      assertEquals((await req("/fs/f", { method: "PUT", body: "one" })).status, 201);
      const res = await req(how === "PUT" ? "/fs/f" : "/fs/f?offset=0&create=1", {
        method: how,
        headers: { "if-match": "*" },
        body: bodyAfter(() => vfs.unlink("/f"), "two"),
        duplex: "half",
      } as RequestInit);
      // Before: 201 (PUT) / 204 (PATCH), and /f made anew from the body.
      assertEquals(res.status, 412, `${how}: ${await res.text()}`);
      assertEquals((await req("/fs/f")).status, 404, how);
    }
  },
);
