import type { Context } from "hono";
import { assert, assertEquals } from "../../tests/_assert.ts";
import { FsError } from "../vfs/errors.ts";
import { BODY_CHUNK, bodyReader, isByteStream, LARGE_FRAMED_BODY } from "./body_reader.ts";
import { readJsonObject, requestBody, setBodyIdleMs, smallBody } from "./input.ts";

/** A byte stream (as Deno.serve's request bodies are) of `data`, in pieces of at most `piece`. */
function byteBody(data: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    type: "bytes",
    pull(controller) {
      if (at === data.length) {
        controller.close();
        controller.byobRequest?.respond(0);
        return;
      }
      const view = controller.byobRequest!.view!;
      const n = Math.min(piece, view.byteLength, data.length - at);
      new Uint8Array(view.buffer, view.byteOffset, n).set(data.subarray(at, at + n));
      at += n;
      controller.byobRequest!.respond(n);
    },
    autoAllocateChunkSize: BODY_CHUNK,
  });
}

/** A request context whose raw request has `body` and `headers` (none: a chunked body's). */
function context(
  body: ReadableStream<Uint8Array>,
  headers: HeadersInit = {},
  vars = new Map<string, unknown>(),
): Context {
  return {
    req: { raw: { body, headers: new Headers(headers) } },
    get: (key: string) => vars.get(key),
    set: (key: string, value: unknown) => vars.set(key, value),
  } as unknown as Context;
}

function pattern(size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

Deno.test("requestBody reads a byte-stream body into one buffer reused for every chunk, and hands on every byte", async () => {
  const data = pattern(5 * BODY_CHUNK + 1234);
  const stream = requestBody(context(byteBody(data, 40_000)), data.length);
  assert(stream instanceof ReadableStream);
  const got: Uint8Array[] = [];
  let previous: Uint8Array | null = null;
  let reused = 0;
  for await (const chunk of stream) {
    // The chunk read before was given back to the reader and read into again (transferred).
    if (previous && previous.byteLength === 0) reused++;
    got.push(chunk.slice());
    previous = chunk;
  }
  const back = new Uint8Array(data.length);
  let at = 0;
  for (const chunk of got) {
    back.set(chunk, at);
    at += chunk.length;
  }
  assertEquals(at, data.length);
  assertEquals(back, data);
  assertEquals(reused, got.length - 1, `${reused} of ${got.length - 1} reads reused a buffer`);
});

Deno.test("requestBody read BYOB still fails a byte-stream body longer or shorter than declared", async () => {
  for (const declared of [100_000, 300_000]) {
    const stream = requestBody(context(byteBody(pattern(200_000), 65_536)), declared);
    assert(stream instanceof ReadableStream);
    let error: unknown = null;
    try {
      for await (const _ of stream) { /* drained */ }
    } catch (e) {
      error = e;
    }
    assert(error instanceof FsError && error.code === "EINVAL", `declared ${declared}: ${error}`);
  }
});

Deno.test("requestBody gives up a body silent for the request's idle limit: ETIMEDOUT, never a short whole", async () => {
  for (const declared of [8, undefined]) {
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      // One chunk, then silence: the body neither ends nor breaks off.
      pull(controller) {
        if (pulls++ === 0) controller.enqueue(new Uint8Array([1, 2, 3]));
        else return new Promise(() => {});
      },
    });
    const vars = new Map<string, unknown>();
    const c = {
      req: { raw: { body, headers: new Headers() } },
      get: (key: string) => vars.get(key),
      set: (key: string, value: unknown) => vars.set(key, value),
    } as unknown as Context;
    setBodyIdleMs(c, 30);
    const stream = requestBody(c, declared) as ReadableStream<Uint8Array>;
    const error = await new Response(stream).arrayBuffer().then(() => null, (e) => e);
    assertEquals(error?.code, "ETIMEDOUT", String(declared));
  }
});

/**
 * A byte stream of `data` that records how many bytes each read asked of it: the view of
 * a BYOB read, or the stream's `autoAllocateChunkSize` (64 KiB, as Deno.serve's request
 * bodies) for a default read. Deno.serve reads that many bytes off the socket per read.
 */
function askedBody(data: Uint8Array, asked: number[]): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    type: "bytes",
    autoAllocateChunkSize: 64 * 1024,
    pull(controller) {
      const view = controller.byobRequest!.view!;
      asked.push(view.byteLength);
      if (at === data.length) {
        controller.close();
        controller.byobRequest!.respond(0);
        return;
      }
      const n = Math.min(view.byteLength, data.length - at);
      new Uint8Array(view.buffer, view.byteOffset, n).set(data.subarray(at, at + n));
      at += n;
      controller.byobRequest!.respond(n);
    },
  });
}

Deno.test("request bodies are read at most 16 KiB at a time, whether streamed, small or JSON", async () => {
  const big = pattern(200_000);
  const small = pattern(50_000);
  const json = new TextEncoder().encode(JSON.stringify({ text: "x".repeat(40_000) }));
  const cases: [string, (asked: number[]) => Promise<number>][] = [
    ["requestBody", async (asked) => {
      const stream = requestBody(context(askedBody(big, asked)), big.length);
      assert(stream instanceof ReadableStream);
      let n = 0;
      for await (const chunk of stream) n += chunk.length;
      return n;
    }],
    ["smallBody", async (asked) => {
      return (await smallBody(context(askedBody(small, asked)), small.length))!.length;
    }],
    ["readJsonObject", async (asked) => {
      const headers: Record<string, string> = { "content-type": "application/json" };
      const c = {
        req: { raw: { body: askedBody(json, asked) }, header: (name: string) => headers[name] },
        get: () => undefined,
      } as unknown as Context;
      const value = await readJsonObject(c, 1 << 20);
      return (value.text as string).length;
    }],
  ];
  for (const [name, read] of cases) {
    const asked: number[] = [];
    const n = await read(asked);
    assert(n >= 40_000, `${name}: read ${n}`);
    assert(asked.length > 1, `${name}: ${asked.length} reads`);
    assert(
      Math.max(...asked) <= 16 * 1024,
      `${name} asked for up to ${Math.max(...asked)} bytes at once`,
    );
  }
});

Deno.test("smallBody reads a byte-stream body straight into its answer, held to its declared length", async () => {
  const data = pattern(40_000);
  for (const piece of [1000, 16 * 1024, 40_000]) {
    const got = await smallBody(context(byteBody(data, piece)), data.length);
    assertEquals(got, data, `pieces of ${piece}`);
  }
  for (const declared of [39_999, 40_001, 0]) {
    const error = await smallBody(context(byteBody(data, 5000)), declared).then(
      () => null,
      (e) => e,
    );
    assert(error instanceof FsError && error.code === "EINVAL", `declared ${declared}: ${error}`);
  }
});

Deno.test("requestBody reads a large body framed by its Content-Length 64 KiB at a time, others 16 KiB; a large body of either framing marks its connection to close", async () => {
  const large = pattern(LARGE_FRAMED_BODY + 100_000);
  const small = pattern(300_000);
  const sized = (data: Uint8Array) => ({ "content-length": String(data.length) });
  const framings: [string, Uint8Array, HeadersInit, number, boolean][] = [
    ["large, Content-Length", large, sized(large), 64 * 1024, true],
    ["small, Content-Length", small, sized(small), 16 * 1024, false],
    ["large, chunked", large, { "transfer-encoding": "chunked" }, 16 * 1024, true],
    ["small, chunked", small, { "transfer-encoding": "chunked" }, 16 * 1024, false],
    [
      "large, both headers (chunked wins)",
      large,
      {
        ...sized(large),
        "transfer-encoding": "chunked",
      },
      16 * 1024,
      true,
    ],
  ];
  for (const [name, data, headers, most, closes] of framings) {
    const asked: number[] = [];
    const vars = new Map<string, unknown>();
    const stream = requestBody(context(askedBody(data, asked), headers, vars), data.length);
    assert(stream instanceof ReadableStream);
    const back = new Uint8Array(data.length);
    let at = 0;
    for await (const chunk of stream) {
      back.set(chunk, at);
      at += chunk.length;
    }
    assertEquals(back, data, name);
    // Every read but the last (which finds the end) asks for the same size.
    assertEquals(Math.max(...asked), most, `${name}: asked up to ${Math.max(...asked)}`);
    assertEquals(asked.length, Math.ceil(data.length / most) + 1, `${name}: ${asked.length} reads`);
    assertEquals([...vars.values()].includes(true), closes, `${name}: connection closed after`);
  }
});

Deno.test("isByteStream() tells Deno.serve's byte-stream bodies from the small bodies it already holds", async () => {
  assertEquals(isByteStream(new ReadableStream<Uint8Array>({ type: "bytes" })), true);
  assertEquals(isByteStream(new ReadableStream<Uint8Array>()), false);
  const seen: [number, boolean | null, number][] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const kind = isByteStream(req.body!);
    // Read through bodyReader as smallBody does: every byte, whichever reader it takes.
    const reader = bodyReader(req.body!);
    let size = 0;
    for (;;) {
      const next = await reader.read();
      if (next.done) break;
      size += next.value.length;
    }
    seen.push([Number(req.headers.get("content-length")), kind, size]);
    return new Response(null, { status: 204 });
  });
  try {
    for (const n of [1, 4096, 70_000]) {
      const res = await fetch(`http://127.0.0.1:${server.addr.port}/`, {
        method: "PUT",
        body: new Uint8Array(n),
      });
      await res.body?.cancel();
    }
  } finally {
    await server.shutdown();
  }
  // The 1-byte body came with the head: a plain stream, read without a BYOB reader's refusal.
  assertEquals(seen, [[1, false, 1], [4096, true, 4096], [70_000, true, 70_000]]);
});

Deno.test("requestBody reads a chunked body of 64 KiB frames one frame a read, once it has seen 1 MiB of them", async () => {
  const FRAME = 64 * 1024;
  const data = pattern(4 * 1024 * 1024);
  const seen: { reads: number; back: Uint8Array; closes: boolean }[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const vars = new Map<string, unknown>();
    const stream = requestBody(context(req.body!, req.headers, vars), undefined);
    assert(stream instanceof ReadableStream);
    const back = new Uint8Array(data.length);
    let at = 0;
    let reads = 0;
    for await (const chunk of stream) {
      back.set(chunk, at);
      at += chunk.length;
      reads++;
    }
    seen.push({ reads, back: back.subarray(0, at), closes: [...vars.values()].includes(true) });
    return new Response(null, { status: 204 });
  });
  try {
    // A client that sends 64 KiB frames (as Deno's fetch does for a stream body), all of
    // them at once, so the server's socket never runs dry between two frames.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    const encoder = new TextEncoder();
    const parts: Uint8Array[] = [
      encoder.encode(
        "PUT /f HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n",
      ),
    ];
    for (let at = 0; at < data.length; at += FRAME) {
      parts.push(encoder.encode(`${FRAME.toString(16)}\r\n`), data.subarray(at, at + FRAME));
      parts.push(encoder.encode("\r\n"));
    }
    parts.push(encoder.encode("0\r\n\r\n"));
    const request = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    parts.reduce((at, p) => (request.set(p, at), at + p.length), 0);
    for (let at = 0; at < request.length;) at += await conn.write(request.subarray(at));
    const answer = new Uint8Array(1024);
    const n = await conn.read(answer);
    assert(new TextDecoder().decode(answer.subarray(0, n ?? 0)).startsWith("HTTP/1.1 204"));
    conn.close();
  } finally {
    await server.shutdown();
  }
  const [{ reads, back, closes }] = seen as [typeof seen[0]];
  assertEquals(back, data);
  // 16 KiB reads take five per frame (four, and the frame's tail), and more where the
  // socket ran dry: at least 320 for these 64 frames, as before. Reads of the learned frame
  // size take the first MiB and a few frames so, then one per frame (131-160 in five runs).
  assert(reads <= 240, `${reads} reads for 64 frames`);
  assert(closes, "the connection is closed after the answer");
});
