// A scratch S3 endpoint over a MemoryStore, for tests of what PageFS does when S3 stops
// answering: the object requests PageFS sends over `fetch` (HEAD, GET with Range and
// If-None-Match, PUT with If-Match / If-None-Match, DELETE), path-style, signatures not
// checked. Its `mode` says how it behaves: "answer" as S3 would; "silent" accepts each
// request and never answers; "lose" applies the next PUT and from then on answers nothing, as
// "silent" (a write whose answer is lost as the store goes away); "stall" answers a GET's headers and first bytes, then sends nothing more.

import { MemoryStore } from "../src/store/memory.ts";
import { StoreError } from "../src/store/types.ts";

export type FakeS3Mode = "answer" | "silent" | "lose" | "stall";

export interface FakeS3 {
  readonly endpoint: string;
  readonly bucket: string;
  readonly store: MemoryStore;
  mode: FakeS3Mode;
  /** Requests received, as "METHOD key" (the bucket's own HEAD as "HEAD "). */
  readonly seen: string[];
  close(): Promise<void>;
}

/** Starts a fake S3 endpoint on a free loopback port, serving `store` as bucket `bucket`. */
export function startFakeS3(store = new MemoryStore(), bucket = "fake"): FakeS3 {
  const held = new Set<() => void>();
  const hold = () =>
    new Promise<Response>((resolve) => {
      const release = () => resolve(new Response(null, { status: 503 }));
      held.add(release);
    });
  const fake: FakeS3 = {
    endpoint: "",
    bucket,
    store,
    mode: "answer",
    seen: [],
    close: async () => {
      for (const release of held) release();
      held.clear();
      await server.shutdown();
    },
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const path = url.pathname.slice(`/${bucket}/`.length);
    const key = path.split("/").map(decodeURIComponent).join("/");
    fake.seen.push(`${req.method} ${key}`);
    const mode = fake.mode;
    if (mode === "silent") return hold();
    try {
      const answer = await serve(store, req, key);
      if (mode === "lose" && req.method === "PUT") {
        fake.mode = "silent";
        return hold();
      }
      if (mode === "stall" && req.method === "GET" && answer.body) return stalled(answer, held);
      return answer;
    } catch (error) {
      const code = error instanceof StoreError && error.kind === "precondition-failed"
        ? [412, "PreconditionFailed"] as const
        : [500, "InternalError"] as const;
      return xmlError(code[0], code[1]);
    }
  });
  (fake as { endpoint: string }).endpoint = `http://127.0.0.1:${server.addr.port}`;
  return fake;
}

/** The answer's headers and first bytes, then nothing until the fake is closed. */
function stalled(answer: Response, held: Set<() => void>): Response {
  let sent = false;
  const body = new ReadableStream<Uint8Array>({
    pull: (controller) => {
      if (!sent) {
        sent = true;
        controller.enqueue(new Uint8Array([123]));
        return;
      }
      return new Promise<void>((resolve) =>
        held.add(() => {
          try {
            controller.close();
          } catch {
            // Cancelled by the client already.
          }
          resolve();
        })
      );
    },
  });
  answer.body?.cancel();
  return new Response(body, { status: answer.status, headers: answer.headers });
}

function xmlError(status: number, code: string): Response {
  return new Response(`<Error><Code>${code}</Code><Message>${code}</Message></Error>`, {
    status,
    headers: { "content-type": "application/xml" },
  });
}

async function serve(store: MemoryStore, req: Request, key: string): Promise<Response> {
  if (key === "") return new Response(null, { status: req.method === "HEAD" ? 200 : 400 });
  const unquote = (tag: string) => tag.replace(/^"|"$/g, "");
  switch (req.method) {
    case "HEAD": {
      const info = await store.head(key);
      if (!info) return new Response(null, { status: 404 });
      return new Response(null, {
        headers: {
          etag: `"${info.etag}"`,
          "content-length": String(info.size),
          "last-modified": info.lastModified.toUTCString(),
        },
      });
    }
    case "GET": {
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.get("range") ?? "");
      const ifNoneMatch = req.headers.get("if-none-match");
      const got = await store.get(key, {
        ...(range
          ? { range: { start: Number(range[1]), ...(range[2] ? { end: Number(range[2]) } : {}) } }
          : {}),
        ...(ifNoneMatch ? { ifNoneMatch: unquote(ifNoneMatch) } : {}),
      });
      if (got === null) return xmlError(404, "NoSuchKey");
      if (got.status === "not-modified") {
        return new Response(null, { status: 304, headers: { etag: `"${got.etag}"` } });
      }
      const headers: Record<string, string> = {
        etag: `"${got.info.etag}"`,
        "content-length": String(got.length),
        "last-modified": got.info.lastModified.toUTCString(),
      };
      if (range) {
        headers["content-range"] = `bytes ${got.offset}-${
          got.offset + got.length - 1
        }/${got.info.size}`;
      }
      return new Response(got.body, { status: range ? 206 : 200, headers });
    }
    case "PUT": {
      const body = new Uint8Array(await req.arrayBuffer());
      const ifMatch = req.headers.get("if-match");
      const mode = req.headers.get("if-none-match") === "*"
        ? { kind: "create" as const }
        : ifMatch
        ? { kind: "replace" as const, etag: unquote(ifMatch) }
        : { kind: "overwrite" as const };
      const { etag } = await store.put(key, body, { mode });
      return new Response(null, { headers: { etag: `"${etag}"` } });
    }
    case "DELETE":
      await store.delete(key);
      return new Response(null, { status: 204 });
    default:
      return xmlError(501, "NotImplemented");
  }
}
