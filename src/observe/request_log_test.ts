import { assert, assertEquals } from "../../tests/_assert.ts";
import { Hono } from "hono";
import { Logger } from "./log.ts";
import { markStreamedByRuntime, RequestLog } from "./request_log.ts";

/** A served app whose request lines arrive through `next()`, one promise per line. */
function serve() {
  const lines: Record<string, unknown>[] = [];
  const waiting: ((line: Record<string, unknown>) => void)[] = [];
  const logger = new Logger({
    format: "json",
    write: (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      const wake = waiting.shift();
      if (wake === undefined) lines.push(parsed);
      else wake(parsed);
    },
  });
  const log = new RequestLog({ logger, frontOf: () => "api", principalOf: () => null });
  const app = new Hono();
  app.use("*", log.middleware());
  const chunk = new Uint8Array(64 << 10);
  app.get("/big", (c) => {
    let left = 1024; // 64 MiB, more than any socket buffer holds
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (left-- === 0) controller.close();
        else controller.enqueue(chunk);
      },
    });
    return c.body(body, 200, { "content-length": String(1024 * chunk.byteLength) });
  });
  app.get("/small", (c) => c.body("hello", 200, { "content-length": "5" }));
  app.get("/chunked", (c) => {
    let left = 3;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (left-- === 0) controller.close();
        else controller.enqueue(new Uint8Array(1000));
      },
    });
    return c.body(body);
  });
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, app.fetch);
  const next = () =>
    new Promise<Record<string, unknown>>((resolve) => {
      const line = lines.shift();
      if (line !== undefined) resolve(line);
      else waiting.push(resolve);
    });
  return { server, next, origin: `http://127.0.0.1:${server.addr.port}` };
}

Deno.test("under Deno.serve an answer is logged once sent, with its size, or marked aborted", async () => {
  const { server, next, origin } = serve();
  try {
    assertEquals(await (await fetch(`${origin}/small`)).text(), "hello");
    const small = await next();
    assertEquals([small.path, small.status, small.bytes, small.aborted], [
      "/small",
      200,
      5,
      undefined,
    ]);

    assertEquals((await (await fetch(`${origin}/chunked`)).bytes()).byteLength, 3000);
    const chunked = await next();
    assertEquals([chunked.path, chunked.bytes, chunked.aborted], ["/chunked", 3000, undefined]);

    // A client that reads the start of 64 MiB and hangs up: the rest cannot be sent.
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
    await conn.write(new TextEncoder().encode("GET /big HTTP/1.1\r\nhost: x\r\n\r\n"));
    const buffer = new Uint8Array(65536);
    assert((await conn.read(buffer) ?? 0) > 0);
    conn.close();
    const big = await next();
    assertEquals([big.path, big.status, big.aborted], ["/big", 200, true]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("an answer the runtime streams by itself goes out untouched and is logged once sent", async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = new Logger({ format: "json", write: (line) => lines.push(JSON.parse(line)) });
  const log = new RequestLog({ logger, frontOf: () => "api", principalOf: () => null });
  const app = new Hono();
  app.use("*", log.middleware());
  const bodies: ReadableStream<Uint8Array>[] = [];
  for (const marked of [true, false]) {
    app.get(marked ? "/runtime" : "/js", (c) => {
      const body = new Blob([new Uint8Array(1 << 20)]).stream();
      bodies.push(body);
      if (marked) markStreamedByRuntime(c);
      return c.body(body, 200, { "content-length": String(1 << 20) });
    });
  }
  let sent!: () => void;
  const completed = new Promise<void>((resolve) => sent = resolve);
  const res = await app.fetch(new Request("http://h/runtime"), { completed });
  assert(res.body === bodies[0], "the marked body was wrapped");
  assertEquals(lines.length, 0);
  sent();
  await completed;
  await Promise.resolve();
  assertEquals([lines[0]?.path, lines[0]?.bytes, lines[0]?.aborted], [
    "/runtime",
    1 << 20,
    undefined,
  ]);
  await res.body?.cancel();
  // Not marked: wrapped in the counting stream, as before.
  const js = await app.fetch(new Request("http://h/js"), { completed: Promise.resolve() });
  assert(js.body !== bodies[1], "an unmarked large body was not counted");
  assertEquals((await js.bytes()).byteLength, 1 << 20);
  assertEquals([lines[1]?.path, lines[1]?.bytes], ["/js", 1 << 20]);
});

Deno.test("every answer carries its request id: made, failed, or passed on with fixed headers", async () => {
  const logger = new Logger({ level: "warn", write: () => {} });
  const log = new RequestLog({ logger, frontOf: () => "api", principalOf: () => null });
  const app = new Hono();
  app.use("*", log.middleware());
  app.get("/made", (c) => c.text("made"));
  app.get("/failed", () => {
    throw new Error("boom");
  });
  // A fetch answer's headers are immutable: the id still gets onto (a copy of) it.
  app.get("/passed", () => fetch("data:text/plain,passed"));
  app.onError((_error, c) => c.text("failed", 500));
  for (
    const [path, status, text] of [["/made", 200, "made"], ["/failed", 500, "failed"], [
      "/passed",
      200,
      "passed",
    ]] as const
  ) {
    const res = await app.request(path, { headers: { "x-request-id": `id-${path.slice(1)}` } });
    assertEquals([res.status, await res.text()], [status, text]);
    assertEquals(res.headers.get("x-request-id"), `id-${path.slice(1)}`);
  }
  const fresh = await app.request("/made");
  await fresh.body?.cancel();
  assert(/^[0-9a-f-]{36}$/.test(fresh.headers.get("x-request-id") ?? ""));
});

Deno.test("a small answer of declared length is logged once sent without its body being read", async () => {
  // Reading a Response's `body` turns its bytes into a stream, which Deno.serve then pumps
  // through a resource instead of sending the bytes at once.
  let reads = 0;
  class Watched extends Response {
    override get body() {
      reads++;
      return super.body;
    }
  }
  const lines: Record<string, unknown>[] = [];
  const logger = new Logger({ format: "json", write: (l) => lines.push(JSON.parse(l)) });
  const log = new RequestLog({ logger, frontOf: () => "api", principalOf: () => null });
  const app = new Hono();
  app.use("*", log.middleware());
  app.get("/small", () => new Watched("hello", { headers: { "content-length": "5" } }));
  let sent!: () => void;
  const completed = new Promise<void>((resolve) => sent = resolve);
  const res = await app.fetch(new Request("http://localhost/small"), { completed });
  assertEquals([reads, lines.length], [0, 0]);
  sent();
  await completed;
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(lines.map((l) => [l.status, l.bytes]), [[200, 5]]);
  assertEquals(await res.text(), "hello");
});
