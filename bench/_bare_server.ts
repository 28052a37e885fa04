/**
 * The floor of `bench/compare.ts`: a bare `Deno.serve` that does no work a file server
 * would not, speaking the part of PageFS's HTTP API the bench uses. A PUT reads its body to
 * the end and keeps only its size (a path ending in "/" is a directory); a GET answers that
 * many zero bytes (fresh 1 MiB chunks, streamed, past 64 KiB; one buffer below), or for a
 * directory the JSON listing `{ "entries": [{ "name" }], "cursor": null }`. Its figures show
 * what the HTTP stack and the client alone cost on the machine the bench runs on, next to
 * direct S3: a goal below them cannot be met by any server written on this runtime.
 *
 * `PORT` and `HOST` as for PageFS. Not a test and not a server to use: nothing is stored.
 *
 * @module
 */

const MiB = 1024 * 1024;
const PREFIX = "/api/v1/fs/";
/** Path (without the prefix) -> size in bytes; directories end in "/" and have size -1. */
const sizes = new Map<string, number>();

function zeros(size: number): BodyInit {
  if (size <= 64 * 1024) return new Uint8Array(size);
  let sent = 0;
  return new ReadableStream<Uint8Array>({
    type: "bytes",
    pull(controller) {
      if (sent >= size) return controller.close();
      const n = Math.min(MiB, size - sent);
      controller.enqueue(new Uint8Array(n));
      sent += n;
    },
  });
}

function listing(dir: string): Response {
  const entries: { name: string }[] = [];
  for (const path of sizes.keys()) {
    if (!path.startsWith(dir) || path === dir) continue;
    const rest = path.slice(dir.length);
    const slash = rest.indexOf("/");
    if (slash === -1 || slash === rest.length - 1) entries.push({ name: rest.replace(/\/$/, "") });
  }
  return Response.json({ entries, cursor: null });
}

Deno.serve({
  port: Number(Deno.env.get("PORT") ?? 8080),
  hostname: Deno.env.get("HOST") ?? "127.0.0.1",
  onListen() {},
}, async (req) => {
  const url = new URL(req.url);
  if (url.pathname === "/healthz") return new Response("ok");
  if (!url.pathname.startsWith(PREFIX)) return new Response(null, { status: 404 });
  const path = decodeURIComponent(url.pathname.slice(PREFIX.length));
  if (req.method === "PUT") {
    let size = 0;
    if (req.body) { for await (const chunk of req.body) size += chunk.length; }
    const existed = sizes.has(path);
    sizes.set(path, path.endsWith("/") ? -1 : size);
    return new Response(null, { status: existed ? 204 : 201 });
  }
  if (req.method === "GET") {
    if (path.endsWith("/")) return listing(path);
    const size = sizes.get(path);
    if (size === undefined || size < 0) return new Response(null, { status: 404 });
    return new Response(zeros(size), { headers: { "content-length": String(size) } });
  }
  return new Response(null, { status: 405 });
});
