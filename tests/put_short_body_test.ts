// A PUT whose body ends early is the client's fault: a 4xx answer (never a 5xx, never
// silence), and nothing of it is committed. Through a real server process over a raw TCP connection (the client
// declares 100,000 bytes, sends 10 and closes its side), and in-process with a request
// body stream that errors mid-way; both front ends, a new file and an existing one.

import { assert, assertEquals } from "./_assert.ts";
import { startServer } from "./_server.ts";
import { contract, s3Env } from "./_stores.ts";
import { createApp } from "../src/app.ts";
import { StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";

const PATHS = [
  { front: "WebDAV", url: (name: string) => `/dav/${name}` },
  { front: "HTTP API", url: (name: string) => `/api/v1/fs/${name}` },
];

/** Sends a PUT declaring 100,000 bytes, sends 10, half-closes; the status line, if any. */
async function shortPut(port: number, path: string): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const head = `PUT ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n` +
      `Content-Length: 100000\r\nContent-Type: application/octet-stream\r\n\r\n`;
    await conn.write(new TextEncoder().encode(head + "0123456789"));
    await conn.closeWrite();
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buffer).catch(() => null);
      if (n === null) break;
      chunks.push(buffer.slice(0, n));
    }
    const text = new TextDecoder().decode(
      chunks.reduce((all, c) => new Uint8Array([...all, ...c]), new Uint8Array()),
    );
    return text.split("\r\n")[0] ?? "";
  } finally {
    try {
      conn.close();
    } catch {
      // Closed by the server already.
    }
  }
}

for (const store of ["memory", "s3"] as const) {
  Deno.test({
    name: `${store}: a PUT cut short on the wire is answered with a 4xx and commits nothing`,
    ignore: store === "s3" && s3Env() === null,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const server = await startServer({ store });
      try {
        const port = Number(new URL(server.url).port);
        for (const { front, url } of PATHS) {
          const existing = `old-${front.replace(" ", "")}.txt`;
          const put = await fetch(server.url + url(existing), { method: "PUT", body: "old" });
          await put.body?.cancel();
          assertEquals(put.status, 201, `${front}: first PUT`);
          for (const name of [existing, `new-${front.replace(" ", "")}.txt`]) {
            const line = await shortPut(port, url(name));
            // Answered, with a 4xx: not a 5xx, and not a connection closed in silence.
            assert(/^HTTP\/1\.1 4\d\d /.test(line), `${front} ${name}: "${line}"`);
            const get = await fetch(server.url + url(name));
            const body = await get.text();
            if (name === existing) assertEquals([get.status, body], [200, "old"], front);
            else assertEquals(get.status, 404, `${front} ${name}: ${body}`);
          }
        }
        assert(!/Uncaught|panic/i.test(server.stderr()), server.stderr());
      } finally {
        await server.close();
      }
    },
  });
}

contract("a PUT whose body stream fails mid-way is a 400 and commits nothing", async (store) => {
  const vfs = await Vfs.open(store);
  const app = createApp({ store, metrics: new StoreMetrics(), vfs, auth: null });
  for (const { front, url } of PATHS) {
    const existing = `old-${front.replace(" ", "")}.txt`;
    assertEquals(
      (await app.request("http://localhost" + url(existing), {
        method: "PUT",
        body: "old",
      })).status,
      201,
    );
    for (const [name, declared] of [[existing, "100000"], [`new-${front}.txt`, undefined]]) {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ === 0) controller.enqueue(new TextEncoder().encode("0123456789"));
          else controller.error(new TypeError("connection reset by peer"));
        },
      });
      const headers: Record<string, string> = declared ? { "content-length": declared } : {};
      const init: RequestInit & { duplex: "half" } = {
        method: "PUT",
        headers,
        body,
        duplex: "half",
      };
      const res = await app.request("http://localhost" + url(name!), init);
      const text = await res.text();
      assertEquals(res.status, 400, `${front} ${name}: ${text}`);
      const get = await app.request("http://localhost" + url(name!));
      const got = await get.text();
      if (name === existing) assertEquals([get.status, got], [200, "old"], front);
      else assertEquals(get.status, 404, `${front} ${name}: ${got}`);
    }
  }
}, { backends: ["memory", "s3"] });

contract("an XML or JSON request body that breaks off is a 400", async (store) => {
  const vfs = await Vfs.open(store);
  const app = createApp({ store, metrics: new StoreMetrics(), vfs, auth: null });
  await vfs.writeFile("/f.txt", new TextEncoder().encode("f"));
  const requests: [string, string, string][] = [
    ["PROPPATCH", "/dav/f.txt", "application/xml"],
    ["LOCK", "/dav/f.txt", "application/xml"],
    ["POST", "/api/v1/fs/f.txt", "application/json"],
  ];
  for (const [method, url, type] of requests) {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ === 0) controller.enqueue(new TextEncoder().encode("<?xml"));
        else controller.error(new TypeError("connection reset by peer"));
      },
    });
    const init: RequestInit & { duplex: "half" } = {
      method,
      headers: { "content-type": type },
      body,
      duplex: "half",
    };
    const res = await app.request("http://localhost" + url, init);
    const text = await res.text();
    assertEquals(res.status, 400, `${method} ${url}: ${text}`);
  }
  assertEquals(await vfs.locks.covering("/f.txt"), []);
}, { backends: ["memory"] });
