// How S3Store reads what comes back without a real server: each HTTP status and network
// failure as a StoreError (transient or not, ambiguous for writes only), how the retry wrapper
// treats them, and how an upload part's body is signed over http and https.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { createHash } from "node:crypto";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import { RetryStore } from "./retry.ts";
import { S3Store } from "./s3.ts";
import { StoreError, type StoreErrorKind } from "./types.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("a network failure is transient, and ambiguous only for writes", async () => {
  // A port that was just free: the connection is refused.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const store = new S3Store({
    bucket: "unreachable",
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    credentials: { accessKeyId: "a", secretAccessKey: "b" },
  });
  const failure = async (promise: Promise<unknown>) => {
    const error = await promise.then(() => null, (e: unknown) => e);
    ok(error instanceof StoreError, String(error));
    equal(error.kind, "transient", error.message);
    return error.ambiguous;
  };
  equal(await failure(store.get("k")), false);
  equal(await failure(store.head("k")), false);
  equal(await failure(store.list()), false);
  equal(await failure(store.put("k", bytes("x"), { mode: { kind: "create" } })), true);
  equal(await failure(store.delete("k")), true);
  equal(await failure(store.completeMultipart({ key: "k", uploadId: "u" }, [])), true);
});

/**
 * Answers every request with `status` (and an S3 error document naming `code`), without a
 * network: what each status means to the adapter does not need a server that produces it.
 */
class StubHandler extends FetchHttpHandler {
  sent: string[] = [];
  constructor(readonly status: number, readonly code: string) {
    super();
  }
  /** The same answers for the requests the store sends with `fetch`. */
  readonly fetch: typeof fetch = (_input, init) => {
    const method = init?.method ?? "GET";
    this.sent.push(method);
    const body = method === "HEAD" ? null : this.#document();
    return Promise.resolve(
      new Response(body, { status: this.status, headers: { "content-type": "application/xml" } }),
    );
  };
  #document(): Uint8Array<ArrayBuffer> {
    return new TextEncoder().encode(
      `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${this.code}</Code>` +
        `<Message>stub</Message></Error>`,
    );
  }
  override handle(request: Parameters<FetchHttpHandler["handle"]>[0]) {
    this.sent.push(request.method);
    const body = this.#document();
    const response = {
      statusCode: this.status,
      headers: { "content-type": "application/xml", "content-length": String(body.length) },
      body,
    };
    return Promise.resolve({ response } as Awaited<ReturnType<FetchHttpHandler["handle"]>>);
  }
}

function stubbed(
  status: number,
  code: string,
  endpoint = "http://127.0.0.1:1",
): { store: S3Store; handler: StubHandler } {
  const handler = new StubHandler(status, code);
  const store = new S3Store({
    bucket: "stub",
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "a", secretAccessKey: "b" },
    requestHandler: handler,
    fetch: handler.fetch,
  });
  return { store, handler };
}

const STATUSES: readonly {
  status: number;
  code: string;
  /** What a conditional put reads it as: a lost race, or an outcome to resolve. */
  conditional: { kind: StoreErrorKind; ambiguous: boolean };
}[] = [
  {
    status: 412,
    code: "PreconditionFailed",
    conditional: { kind: "precondition-failed", ambiguous: false },
  },
  {
    status: 409,
    code: "ConditionalRequestConflict",
    conditional: { kind: "precondition-failed", ambiguous: false },
  },
  // RGW's lost race (NOTES.md quirk 2) looks exactly like a failure after the write.
  { status: 500, code: "InternalError", conditional: { kind: "transient", ambiguous: true } },
  { status: 502, code: "BadGateway", conditional: { kind: "transient", ambiguous: true } },
  { status: 503, code: "SlowDown", conditional: { kind: "throttled", ambiguous: true } },
  { status: 504, code: "GatewayTimeout", conditional: { kind: "transient", ambiguous: true } },
  { status: 429, code: "TooManyRequests", conditional: { kind: "throttled", ambiguous: false } },
  { status: 403, code: "AccessDenied", conditional: { kind: "denied", ambiguous: false } },
];

for (const { status, code, conditional } of STATUSES) {
  Deno.test(`HTTP ${status} to a conditional put is ${conditional.kind}${conditional.ambiguous ? ", ambiguous" : ""}`, async () => {
    for (const mode of [{ kind: "create" as const }, { kind: "replace" as const, etag: "e" }]) {
      const { store } = stubbed(status, code);
      const error = await store.put("k", bytes("x"), { mode }).then(() => null, (e) => e);
      ok(error instanceof StoreError, String(error));
      deepStrictEqual({ kind: error.kind, ambiguous: error.ambiguous }, conditional, error.message);
    }
  });
}

Deno.test("a 5xx is ambiguous for writes only, a lost race never for reads", async () => {
  for (const status of [500, 502, 503, 504]) {
    const { store } = stubbed(status, "InternalError");
    const failed = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e as StoreError);
    equal((await failed(store.head("k")))?.ambiguous, false);
    equal((await failed(store.get("k")))?.ambiguous, false);
    equal((await failed(store.list()))?.ambiguous, false);
    equal((await failed(store.put("k", bytes("x"))))?.ambiguous, true);
    equal((await failed(store.delete("k")))?.ambiguous, true);
    const upload = { key: "k", uploadId: "u" };
    equal((await failed(store.completeMultipart(upload, [])))?.ambiguous, true);
  }
});

Deno.test("the retry wrapper sends a conditional put once after each ambiguous status", async () => {
  for (const status of [502, 503, 504, 500]) {
    const { store, handler } = stubbed(status, "InternalError");
    const retrying = new RetryStore(store, { attempts: 5, sleep: () => Promise.resolve() });
    const error = await retrying.put("k", bytes("x"), { mode: { kind: "create" } }).then(
      () => null,
      (e) => e,
    );
    ok(error instanceof StoreError && error.ambiguous, String(error));
    deepStrictEqual(handler.sent, ["PUT"], `HTTP ${status}`);
    // An unconditional put of bytes may be repeated: it changes nothing the second time.
    handler.sent = [];
    await retrying.put("k", bytes("x")).catch(() => {});
    equal(handler.sent.length, 5, `HTTP ${status}, unconditional`);
  }
});

const SIGNING: readonly (readonly [string, string])[] = [
  ["https://127.0.0.1:1", "UNSIGNED-PAYLOAD"],
  ["http://127.0.0.1:1", "hashed"],
];
for (const [endpoint, expected] of SIGNING) {
  Deno.test(`uploadPart() over ${endpoint.split(":")[0]} signs its body ${expected}`, async () => {
    const { store, handler } = stubbed(200, "", endpoint);
    const hashes: string[] = [];
    handler.handle = (request) => {
      hashes.push(request.headers["x-amz-content-sha256"] ?? "(none)");
      const response = { statusCode: 200, headers: { etag: '"e1"' }, body: new Uint8Array(0) };
      return Promise.resolve({ response } as Awaited<ReturnType<FetchHttpHandler["handle"]>>);
    };
    const body = new Uint8Array(64);
    const part = await store.uploadPart({ key: "k", uploadId: "u" }, 1, body);
    deepStrictEqual(part, { partNumber: 1, etag: "e1" });
    const sha = createHash("sha256").update(body).digest("hex");
    deepStrictEqual(hashes, [expected === "hashed" ? sha : expected]);
  });
}
