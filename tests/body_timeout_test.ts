// A client that stops sending in the middle of a request body: its request is given up after
// PAGEFS_BODY_TIMEOUT_MS of silence (408), nothing of it is committed, and what it held (the
// memory budget's share of its buffered bytes) goes back, so stalled uploads cannot starve
// the others. Through a real server process and raw sockets, since the stall is the point.

import { assert, assertEquals } from "./_assert.ts";
import { startServer, type TestServer } from "./_server.ts";

const IDLE_MS = 400;
const encoder = new TextEncoder();

/** Sends a request head and `sent` bytes of its body, then nothing. */
async function stall(
  server: TestServer,
  head: string,
  sent: Uint8Array,
): Promise<Deno.TcpConn> {
  const port = Number(new URL(server.url).port);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await writeAll(conn, encoder.encode(head.replaceAll("\n", "\r\n") + "\r\n"));
  await writeAll(conn, sent);
  return conn;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

/** The status line of the answer on `conn` (waits at most `ms`), or null. */
async function statusOn(conn: Deno.Conn, ms: number): Promise<number | null> {
  const buffer = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), ms);
  try {
    const n = await conn.read(buffer);
    if (n === null) return null;
    const line = new TextDecoder().decode(buffer.subarray(0, n)).split("\r\n", 1)[0]!;
    return Number(line.split(" ")[1]);
  } catch {
    return null;
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Closed by the timer.
    }
  }
}

const status = async (res: Response) => (await res.body?.cancel(), res.status);

/** A 20 MiB PUT behind uploads that hold memory: 201 within 30 s, its bytes read back. */
async function putBehind(server: TestServer): Promise<void> {
  const body = new Uint8Array(20 << 20).fill(0x63);
  const res = await fetch(`${server.url}/api/v1/fs/after.bin`, {
    method: "PUT",
    body,
    signal: AbortSignal.timeout(30_000),
  });
  assertEquals(await status(res), 201);
  const got = new Uint8Array(
    await (await fetch(`${server.url}/api/v1/fs/after.bin`)).arrayBuffer(),
  );
  assertEquals(got.length, body.length);
  assert(got.every((b) => b === 0x63));
}

Deno.test("a request body silent for PAGEFS_BODY_TIMEOUT_MS is given up with 408 and nothing of it is kept", async () => {
  const server = await startServer({
    store: "memory",
    env: { PAGEFS_BODY_TIMEOUT_MS: String(IDLE_MS) },
  });
  try {
    const api = `${server.url}/api/v1/fs`;
    assertEquals(await status(await fetch(`${api}/old.txt`, { method: "PUT", body: "old" })), 201);
    const part = new Uint8Array(100_000).fill(0x61);
    const small = part.subarray(0, 1000);
    const cases: [string, string, Uint8Array][] = [
      [
        "API PUT with a length",
        `PUT /api/v1/fs/a.bin HTTP/1.1\nHost: x\nContent-Length: 1000000\n`,
        part,
      ],
      // Chunked: a body cut short must not pass for a whole one.
      [
        "API PUT chunked",
        `PUT /api/v1/fs/b.bin HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n186a0`,
        part,
      ],
      [
        "API PUT replacing a file",
        `PUT /api/v1/fs/old.txt HTTP/1.1\nHost: x\nContent-Length: 200000\n`,
        part,
      ],
      ["WebDAV PUT", `PUT /dav/c.bin HTTP/1.1\nHost: x\nContent-Length: 1000000\n`, part],
      // Read whole before the write's checks (a small body).
      ["small API PUT", `PUT /api/v1/fs/d.txt HTTP/1.1\nHost: x\nContent-Length: 60000\n`, small],
      [
        "PATCH",
        `PATCH /api/v1/fs/old.txt HTTP/1.1\nHost: x\nContent-Range: bytes 0-199999/*\n` +
        `Content-Length: 200000\n`,
        part,
      ],
    ];
    for (const [what, head, sent] of cases) {
      const conn = await stall(server, head, sent);
      const started = performance.now();
      assertEquals(await statusOn(conn, 10_000), 408, what);
      assert(performance.now() - started < 8000, what);
    }
    // Nothing was committed, and the replaced and patched file kept its bytes.
    for (const name of ["a.bin", "b.bin", "c.bin", "d.txt"]) {
      assertEquals(await status(await fetch(`${api}/${name}`)), 404, name);
    }
    assertEquals(await (await fetch(`${api}/old.txt`)).text(), "old");

    // A PROPFIND body and a JSON body that stall are given up too.
    for (
      const head of [
        `PROPFIND /dav/ HTTP/1.1\nHost: x\nDepth: 1\nContent-Type: application/xml\nContent-Length: 500\n`,
        `POST /api/v1/fs/old.txt HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 500\n`,
      ]
    ) {
      const conn = await stall(server, head, encoder.encode("<?xml"));
      assertEquals(await statusOn(conn, 10_000), 408, head.split("\n", 1)[0]);
    }

    // A tus PATCH that stalls: 408, and the upload's offset stays where it was.
    const created = await fetch(`${server.url}/api/v1/uploads`, {
      method: "POST",
      headers: {
        "tus-resumable": "1.0.0",
        "upload-length": "300000",
        "upload-metadata": `path ${btoa("/t.bin")}`,
      },
    });
    assertEquals(await status(created), 201);
    const location = new URL(created.headers.get("location")!, server.url);
    const conn = await stall(
      server,
      `PATCH ${location.pathname} HTTP/1.1\nHost: x\nTus-Resumable: 1.0.0\nUpload-Offset: 0\n` +
        `Content-Type: application/offset+octet-stream\nContent-Length: 300000\n`,
      part,
    );
    assertEquals(await statusOn(conn, 10_000), 408, "tus PATCH");
    const head = await fetch(location, { method: "HEAD", headers: { "tus-resumable": "1.0.0" } });
    await head.body?.cancel();
    assertEquals(head.headers.get("upload-offset"), "0");
  } finally {
    await server.close();
  }
});

Deno.test("uploads that stall give their share of the memory budget back: the others go on", async () => {
  // The smallest budget (32 MiB) and 16 uploads stalled after 3 MiB each: before, every
  // later upload waited for budget for as long as the stalled connections stayed open.
  const server = await startServer({
    store: "memory",
    env: { PAGEFS_BODY_TIMEOUT_MS: "1500", PAGEFS_MEMORY_MIB: "32" },
  });
  const stalled: Deno.TcpConn[] = [];
  try {
    const part = new Uint8Array(3 << 20).fill(0x62);
    for (let i = 0; i < 16; i++) {
      stalled.push(
        await stall(
          server,
          `PUT /api/v1/fs/stalled${i}.bin HTTP/1.1\nHost: x\nContent-Length: ${64 << 20}\n`,
          part,
        ),
      );
    }
    await putBehind(server);
  } finally {
    for (const conn of stalled) {
      try {
        conn.close();
      } catch {
        // The server closed it.
      }
    }
    await server.close();
  }
});

Deno.test("uploads that trickle just fast enough to stay alive give their memory back while idle", async () => {
  // 8 uploads of 12 MiB that sent 3 MiB each, then one byte every 300 ms (never silent for
  // the 5 s limit), in the smallest budget: before, their dirty buffers held the whole budget for
  // as long as they trickled, and a 20 MiB PUT behind them waited until its client gave up.
  // Now a holder idle for a second while others wait seals what it holds (a small group
  // commit) and goes on in a new buffer; every byte of every upload still lands.
  const server = await startServer({
    store: "memory",
    env: { PAGEFS_BODY_TIMEOUT_MS: "5000", PAGEFS_MEMORY_MIB: "32" },
  });
  const SENT = 3 << 20;
  const TAIL = 40;
  /** Declared: a length past a part, which a writer streams (its buffer is a whole part). */
  const LENGTH = 12 << 20;
  const UPLOADS = 8;
  const conns: Deno.TcpConn[] = [];
  let trickled = 0;
  let trickling = true;
  try {
    const first = new Uint8Array(SENT).fill(0x62);
    for (let i = 0; i < UPLOADS; i++) {
      conns.push(
        await stall(
          server,
          `PUT /api/v1/fs/slow${i}.bin HTTP/1.1\nHost: x\nContent-Length: ${LENGTH}\n`,
          first,
        ),
      );
    }
    const trickle = (async () => {
      while (trickling && trickled < TAIL - 1) {
        await new Promise((resolve) => setTimeout(resolve, 300));
        for (const conn of conns) await writeAll(conn, new Uint8Array([0x30 + trickled]));
        trickled++;
      }
    })();
    await putBehind(server);
    assert(trickled < TAIL - 1, "the PUT went through while the uploads still trickled");
    trickling = false;
    await trickle;
    // The uploads end: every byte of each, trickled and sealed in pieces, is there in order.
    const expected = new Uint8Array(LENGTH).fill(0x62);
    for (let t = 0; t < TAIL; t++) expected[SENT + t] = 0x30 + t;
    expected.fill(0x64, SENT + TAIL);
    // All at once: a connection whose rest waited behind another's (which the server may not
    // read while the budget is spent) fell silent past the limit (408) under a loaded CI.
    await Promise.all(conns.map((conn) => writeAll(conn, expected.subarray(SENT + trickled))));
    for (const conn of conns) assertEquals(await statusOn(conn, 20_000), 201);
    for (let i = 0; i < UPLOADS; i++) {
      const got = new Uint8Array(
        await (await fetch(`${server.url}/api/v1/fs/slow${i}.bin`)).arrayBuffer(),
      );
      assertEquals(got.length, expected.length, `slow${i}.bin`);
      assert(got.every((b, at) => b === expected[at]), `slow${i}.bin`);
    }
  } finally {
    trickling = false;
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    }
    await server.close();
  }
});
