// The most used JavaScript WebDAV client, `webdav` on npm, through a whole session against
// a PageFS server: it sends `Lock-Token: urn:uuid:…` without angle brackets on UNLOCK and
// lists deep with `PROPFIND Depth: infinity`, both of which PageFS used to refuse.

import { createClient, type FileStat } from "webdav";
import { createApp } from "../src/app.ts";
import { Logger } from "../src/observe/mod.ts";
import { MemoryStore, MeteredStore, StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { assert, assertEquals } from "./_assert.ts";

async function serve(options: { davInfinityMax?: number } = {}) {
  const metrics = new StoreMetrics();
  const store = new MeteredStore(new MemoryStore(), metrics);
  const vfs = await Vfs.open(store);
  const app = createApp({
    store,
    metrics,
    vfs,
    logger: new Logger({ write: () => {} }),
    ...options,
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  return { server, url: `http://127.0.0.1:${server.addr.port}/dav/`, vfs };
}

Deno.test("the `webdav` npm client: a whole session, lock and unlock included", async () => {
  const { server, url } = await serve();
  try {
    const client = createClient(url);
    await client.createDirectory("/docs");
    await client.createDirectory("/docs/deep/er", { recursive: true });
    assert(await client.putFileContents("/docs/a.txt", "hello, webdav"));
    await client.putFileContents("/docs/deep/er/b.txt", "nested");
    const ranged = await client.getFileContents("/docs/a.txt", {
      format: "text",
      headers: { Range: "bytes=7-12" },
    });
    assertEquals(ranged, "webdav");
    const stat = await client.stat("/docs/a.txt") as FileStat;
    assertEquals([stat.type, stat.size, stat.basename], ["file", 13, "a.txt"]);

    const deep = await client.getDirectoryContents("/", { deep: true }) as FileStat[];
    assertEquals(
      deep.map((f) => f.filename).sort(),
      ["/docs", "/docs/a.txt", "/docs/deep", "/docs/deep/er", "/docs/deep/er/b.txt"],
    );

    await client.copyFile("/docs/a.txt", "/docs/copy.txt");
    await client.moveFile("/docs/copy.txt", "/moved.txt");
    assertEquals(await client.getFileContents("/moved.txt", { format: "text" }), "hello, webdav");

    const lock = await client.lock("/docs/a.txt", { timeout: "Second-60" });
    assert(lock.token.startsWith("urn:uuid:"), lock.token);
    // Without the token a write is refused; with it (in an If header) it goes through.
    let refused = 0;
    await client.putFileContents("/docs/a.txt", "no token").catch((e) => refused = e.status);
    assertEquals(refused, 423);
    await client.putFileContents("/docs/a.txt", "with token", {
      headers: { If: `(<${lock.token}>)` },
    });
    await client.unlock("/docs/a.txt", lock.token);
    // Unlocked: anyone may write again.
    await client.putFileContents("/docs/a.txt", "after unlock");
    assertEquals(await client.getFileContents("/docs/a.txt", { format: "text" }), "after unlock");

    const proppatch = await client.customRequest("/docs/a.txt", {
      method: "PROPPATCH",
      headers: { "content-type": "application/xml" },
      data: '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:x="urn:x">' +
        "<D:set><D:prop><x:color>blue</x:color></D:prop></D:set></D:propertyupdate>",
    });
    assertEquals(proppatch.status, 207);
    await proppatch.text();
    const props = await client.stat("/docs/a.txt", {
      details: true,
      data: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:x="urn:x">' +
        "<D:prop><x:color/></D:prop></D:propfind>",
    }) as { data: FileStat };
    assertEquals((props.data.props as Record<string, unknown>).color, "blue");

    await client.deleteFile("/docs");
    assertEquals(await client.exists("/docs"), false);
  } finally {
    await server.shutdown();
  }
});

Deno.test("PROPFIND Depth: infinity past its cap is refused with propfind-finite-depth", async () => {
  const { server, url, vfs } = await serve({ davInfinityMax: 5 });
  try {
    await vfs.mkdir("/d");
    for (let i = 0; i < 5; i++) await vfs.writeFile(`/d/f${i}`, new Uint8Array(1));
    const res = await fetch(url, { method: "PROPFIND", headers: { depth: "infinity" } });
    const text = await res.text();
    assertEquals(res.status, 403, text);
    assert(text.includes("propfind-finite-depth"), text);
    await vfs.unlink("/d/f4");
    const ok = await fetch(url, { method: "PROPFIND", headers: { depth: "infinity" } });
    const body = await ok.text();
    assertEquals(ok.status, 207, body);
    assertEquals(body.match(/<D:response>/g)?.length, 6, "the root, /d and four files");
  } finally {
    await server.shutdown();
  }
});
