// A large body framed by its Content-Length is read in large pieces, which grows the
// runtime's read size on its connection for good; its answer says `Connection: close`, so
// that a client sends no chunked body later on that connection, whose bytes the runtime
// would take from the socket faster than PageFS reads them (src/http/connection.ts). The
// client closes it (RFC 9112, 9.6): Deno.serve (2.9.6) does not. Through a real server and
// raw sockets, since the answer's head on the wire is the point.

import { assert, assertEquals } from "./_assert.ts";
import { startServer, type TestServer } from "./_server.ts";

const encoder = new TextEncoder();
const MiB = 1024 * 1024;

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

/**
 * Sends a PUT of `size` bytes with a Content-Length on `conn` and reads its answer: the
 * status and the `connection` header.
 */
async function put(
  conn: Deno.Conn,
  path: string,
  size: number,
): Promise<{ status: number; connection: string | null }> {
  const head = `PUT ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${size}\r\n\r\n`;
  await writeAll(conn, encoder.encode(head));
  await writeAll(conn, new Uint8Array(size).fill(0x61));
  let text = "";
  const buffer = new Uint8Array(4096);
  // The head, then the body it declares.
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(text)?.[1] ?? 0);
      if (text.length >= end + 4 + length) break;
    }
    const n = await conn.read(buffer);
    assert(n !== null, `the connection closed before the answer: ${text}`);
    text += new TextDecoder().decode(buffer.subarray(0, n));
  }
  const status = Number(text.split(" ")[1]);
  const connection = /\r\nconnection: *([^\r]*)/i.exec(text)?.[1]?.toLowerCase() ?? null;
  return { status, connection };
}

async function withServer(run: (server: TestServer, port: number) => Promise<void>) {
  const server = await startServer({ store: "memory" });
  try {
    await run(server, Number(new URL(server.url).port));
  } finally {
    await server.close();
  }
}

Deno.test("the answer to a PUT of 8 MiB or more with a Content-Length closes its connection", async () => {
  await withServer(async (server, port) => {
    for (const path of ["/api/v1/fs/large.bin", "/dav/large-dav.bin"]) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      const answer = await put(conn, path, 8 * MiB);
      assertEquals(answer.status, 201, path);
      assertEquals(answer.connection, "close", path);
      conn.close();
      const back = await fetch(`${server.url}${path}`);
      assertEquals((await back.bytes()).length, 8 * MiB, path);
    }
  });
});

Deno.test("a PUT under 8 MiB with a Content-Length, or a chunked one under 1 MiB, keeps its connection open; a larger chunked one closes it", async () => {
  await withServer(async (server, port) => {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    const answer = await put(conn, "/api/v1/fs/small.bin", MiB);
    assertEquals(answer.status, 201);
    assertEquals(answer.connection, null);
    // The same connection carries the next request.
    const again = await put(conn, "/api/v1/fs/small2.bin", 10);
    assertEquals(again.status, 201);
    conn.close();
    const chunked = (size: number) =>
      fetch(`${server.url}/api/v1/fs/chunked.bin`, {
        method: "PUT",
        body: new Blob([new Uint8Array(size)]).stream(),
      });
    const small = await chunked(512 * 1024);
    await small.body?.cancel();
    assertEquals(small.status, 201);
    assertEquals(small.headers.get("connection"), null);
    // The runtime's read buffer of the connection grew with a large chunked body.
    const large = await chunked(9 * MiB);
    await large.body?.cancel();
    assertEquals(large.status, 204);
    assertEquals(large.headers.get("connection"), "close");
  });
});
