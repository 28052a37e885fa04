// Conditions of writes (HTTP API and WebDAV) hold at the commit, not only when the request
// looked: a file removed while the body uploads is not created again by a PUT or PATCH
// with `If-Match: *` (found by tests/protocol_fuzz_ext_test.ts, two requests at once).

import { assertEquals } from "./_assert.ts";
import { restTest } from "./rest_harness.ts";
import { Dav, davTest } from "./_dav.ts";
import { HookStore } from "./_hook_store.ts";
import { dirKey } from "../src/format/keys.ts";
import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/mod.ts";

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

davTest("WebDAV PUT with If-Match: * writes over a version written meanwhile", async (t) => {
  assertEquals(await t.a.put("/f", "one"), 201);
  const res = await t.a.send("PUT", "/f", {
    headers: { "if-match": "*" },
    body: bodyAfter(() => t.a.vfs.writeFile("/f", new TextEncoder().encode("other")), "two"),
  });
  // Before: 412, the condition pinned to the version looked at; `*` asks only that the
  // file exist, and it does (either order of the two PUTs answers 204).
  assertEquals(res.status, 204, await res.text());
  assertEquals(await t.a.text("/f"), "two");
  // Removed meanwhile: 412 and nothing made.
  const gone = await t.a.send("PUT", "/f", {
    headers: { "if-match": "*" },
    body: bodyAfter(() => t.a.vfs.unlink("/f"), "three"),
  });
  assertEquals(gone.status, 412, await gone.text());
  assertEquals(await t.a.text("/f"), null);
});

Deno.test("a truncate with If-Match: * of a file removed before its commit is 412", async () => {
  const store = new MemoryStore();
  const a = await Vfs.open(store);
  await a.writeFile("/f", new TextEncoder().encode("data"));
  const hook = new HookStore(store);
  const b = new Dav(await Vfs.open(hook), hook);
  hook.before(
    (call) => call.op === "PutObject" && call.key === dirKey("0000000000000001"),
    () => a.unlink("/f"),
  );
  const res = await b.app.request("http://localhost/api/v1/fs/f", {
    method: "POST",
    headers: { "content-type": "application/json", "if-match": "*" },
    body: JSON.stringify({ op: "truncate", size: 1 }),
  });
  assertEquals(hook.fired, 1, "the interleaving did not happen");
  // Before: 404 (ESTALE 409 before the VFS change above); with the file gone If-Match is
  // false, as in the order where the removal came first.
  assertEquals(res.status, 412, await res.text());
});

/** The quoted ETag of what `path` holds now, through the API's HEAD. */
async function etagOf(req: (path: string, init?: RequestInit) => Promise<Response>, path: string) {
  const res = await req(path, { method: "HEAD" });
  assertEquals(res.status, 200, `HEAD ${path}`);
  return res.headers.get("etag")!;
}

restTest(
  "If-Match with a list of ETags holds at the commit of a PUT and a PATCH",
  async ({ req, vfs }) => {
    for (const how of ["PUT", "PATCH"] as const) {
      assertEquals((await req("/fs/f", { method: "PUT", body: "one" })).status, 201);
      const seen = await etagOf(req, "/fs/f");
      const res = await req(how === "PUT" ? "/fs/f" : "/fs/f?offset=0", {
        method: how,
        headers: { "if-match": `"no-such-version", ${seen}` },
        body: bodyAfter(() => vfs.writeFile("/f", new TextEncoder().encode("other")), "two"),
        duplex: "half",
      } as RequestInit);
      // Before: 204 and "other", written after the request looked, overwritten (a lost
      // update): a single ETag was checked in the commit's CAS, a list only up front.
      assertEquals(res.status, 412, `${how}: ${await res.text()}`);
      assertEquals(await (await req("/fs/f")).text(), "other", how);
      // The list holds for any of its tags: the current one among others is a match.
      const now = await etagOf(req, "/fs/f");
      const ok = await req(how === "PUT" ? "/fs/f" : "/fs/f?offset=0", {
        method: how,
        headers: { "if-match": `"no-such-version", ${now}, ${seen}` },
        body: "three",
      });
      assertEquals(ok.status, 204, `${how}: ${await ok.text()}`);
      await vfs.unlink("/f");
    }
  },
);

Deno.test("a truncate with If-Match of a list is decided at its commit", async () => {
  const store = new MemoryStore();
  const a = await Vfs.open(store);
  await a.writeFile("/f", new TextEncoder().encode("data"));
  const hook = new HookStore(store);
  const b = new Dav(await Vfs.open(hook), hook);
  const seen = `"${(await a.getattr("/f")).etag}"`;
  hook.before(
    (call) => call.op === "PutObject" && call.key === dirKey("0000000000000001"),
    () => a.writeFile("/f", new TextEncoder().encode("written meanwhile")),
  );
  const res = await b.app.request("http://localhost/api/v1/fs/f", {
    method: "POST",
    headers: { "content-type": "application/json", "if-match": `${seen}, "other"` },
    body: JSON.stringify({ op: "truncate", size: 1 }),
  });
  assertEquals(hook.fired, 1, "the interleaving did not happen");
  // Before: 200 and the version written meanwhile cut to "w".
  assertEquals(res.status, 412, await res.text());
  assertEquals(new TextDecoder().decode(await a.read("/f", 0, 100)), "written meanwhile");
});

davTest("WebDAV PUT with an If header of entity tags holds at the commit", async (t) => {
  for (const list of [true, false]) {
    assertEquals(await t.a.put("/f", "one"), 201);
    const seen = `"${(await t.a.vfs.getattr("/f")).etag}"`;
    const header = list ? `(["nope"]) ([${seen}])` : `([${seen}])`;
    const res = await t.a.send("PUT", "/f", {
      headers: list ? { "if": header, "if-match": `"nope", ${seen}` } : { "if": header },
      body: bodyAfter(() => t.a.vfs.writeFile("/f", new TextEncoder().encode("other")), "two"),
    });
    assertEquals(res.status, 412, await res.text());
    assertEquals(await t.a.text("/f"), "other");
    await t.a.vfs.unlink("/f");
  }
});

Deno.test("a WebDAV PUT with an If header of entity tags is decided at its commit", async () => {
  for (const range of [false, true]) {
    const store = new MemoryStore();
    const a = await Vfs.open(store);
    // Over the inline limit: the bytes are in a segment, so a range write may merge.
    await a.writeFile("/f", new Uint8Array(4096).fill(1));
    const hook = new HookStore(store);
    const b = new Dav(await Vfs.open(hook), hook);
    const seen = `"${(await a.getattr("/f")).etag}"`;
    hook.before(
      (call) => call.op === "PutObject" && call.key === dirKey("0000000000000001"),
      () => a.write("/f", 0, new TextEncoder().encode("meanwhile")),
    );
    const res = await b.send("PUT", "/f", {
      headers: {
        "if": `(["nope"]) ([${seen}])`,
        ...(range ? { "content-range": "bytes 0-2/*" } : {}),
      },
      body: "new",
    });
    assertEquals(hook.fired, 1, `${range}: the interleaving did not happen`);
    assertEquals(res.status, 412, `${range}: ${await res.text()}`);
    assertEquals(new TextDecoder().decode(await a.read("/f", 0, 9)), "meanwhile", `${range}`);
  }
});
