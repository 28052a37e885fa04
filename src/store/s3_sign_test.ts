// Signing without a real server: a clock ahead of or behind the S3 server's (the next request
// signed at the server's time), and every request signed exactly as the SDK's signer signs it.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { SignatureV4 } from "@smithy/signature-v4";
import { readAll } from "./_util.ts";
import { S3Store, type S3StoreOptions } from "./s3.ts";
import { StoreError } from "./types.ts";

/** An S3Store on no real endpoint whose requests `fetch` answers. */
function fetchStubbed(fetch: NonNullable<S3StoreOptions["fetch"]>): S3Store {
  return new S3Store({
    bucket: "skew",
    endpoint: "http://127.0.0.1:1",
    region: "us-east-1",
    credentials: { accessKeyId: "a", secretAccessKey: "b" },
    fetch,
  });
}

/** The time (ms) in a request's `x-amz-date` header. */
function signedAt(init: RequestInit | undefined): number {
  const amz = new Headers(init?.headers).get("x-amz-date") ?? "";
  return Date.parse(amz.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z"));
}

const SKEWED = "<Error><Code>RequestTimeTooSkewed</Code><Message>skew</Message></Error>";

Deno.test("a request answered with RequestTimeTooSkewed signs the next at the server's time", async () => {
  const ahead = 20 * 60_000;
  const times: number[] = [];
  const store = fetchStubbed((_input, init) => {
    times.push(signedAt(init));
    const date = new Date(Date.now() + ahead).toUTCString();
    return Promise.resolve(new Response(SKEWED, { status: 403, headers: { date } }));
  });
  for (let i = 0; i < 2; i++) {
    const error = await store.get("k").then(() => null, (e: unknown) => e);
    ok(error instanceof StoreError && error.kind === "denied", String(error));
  }
  const [first, second] = times as [number, number];
  ok(Math.abs(first - Date.now()) < ahead / 2, `first signed at ${new Date(first).toISOString()}`);
  ok(second - first > ahead - 60_000, `second signed at ${new Date(second).toISOString()}`);
});

/** An S3 stub whose clock is 20 minutes ahead: past S3's 15-minute allowance. */
function skewedS3() {
  const ahead = 20 * 60_000;
  let calls = 0;
  const store = fetchStubbed((_input, init) => {
    calls++;
    const now = Date.now() + ahead;
    const date = new Date(now).toUTCString();
    if (Math.abs(now - signedAt(init)) > 15 * 60_000) {
      // An answer to HEAD has no body, so no code either.
      const body = init?.method === "HEAD" ? null : SKEWED;
      return Promise.resolve(new Response(body, { status: 403, headers: { date } }));
    }
    return Promise.resolve(new Response("hello", { headers: { date, etag: '"e"' } }));
  });
  return { store, calls: () => calls };
}

Deno.test("a request refused for clock skew is signed again at the server's time, once", async () => {
  // The first request of a process on a skewed host succeeds: refused for its signature's
  // time (nothing happened), it is signed again at the time the answer gave, and sent again.
  const { store, calls } = skewedS3();
  const got = await store.get("k");
  ok(got !== null && got.status === "ok");
  deepStrictEqual(new TextDecoder().decode(await readAll(got.body)), "hello");
  deepStrictEqual(calls(), 2);
  ok(await store.head("k") !== null);
  deepStrictEqual(calls(), 3, "later requests are signed at the server's time from the start");
  // A HEAD's refusal carries no code: the answer's Date tells the skew.
  const other = skewedS3();
  ok(await other.store.head("k") !== null);
  deepStrictEqual(other.calls(), 2);
});

/** A SHA-256 in the SDK's hash shape (keyed: HMAC), for the SDK's own signer. */
class SdkSha256 {
  #hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined
      ? createHash("sha256")
      : createHmac("sha256", bytesOf(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytesOf(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.#hash.digest()));
  }
}

function bytesOf(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === "string") return data;
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}

/** What the SDK's signer makes of a request as sent: its `authorization` header. */
async function sdkAuthorization(
  url: string,
  init: RequestInit,
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string },
): Promise<string> {
  const u = new URL(url);
  const sent = Object.fromEntries(new Headers(init.headers));
  // The SDK's signer adds these itself, the payload's hash computed from the body.
  const {
    authorization: _a,
    "x-amz-date": _d,
    "x-amz-content-sha256": _h,
    "x-amz-security-token": _t,
    ...headers
  } = sent;
  const signer = new SignatureV4({
    credentials,
    region: "us-east-1",
    service: "s3",
    sha256: SdkSha256,
    uriEscapePath: false,
    applyChecksum: true,
  });
  const signed = await signer.sign({
    method: init.method ?? "GET",
    protocol: u.protocol,
    hostname: u.hostname,
    port: Number(u.port),
    path: u.pathname,
    query: {},
    headers: { host: u.host, ...headers },
    body: init.body as Uint8Array | undefined,
  }, { signingDate: new Date(signedAt(init)) });
  return signed.headers.authorization ?? "";
}

Deno.test("requests are signed as the SDK's signer signs them, across a change of day", async () => {
  // Ahead by a day, so that the second request is signed with the next day's key.
  const ahead = 24 * 3600_000;
  for (const token of [null, "token/with+odd=chars"]) {
    const credentials = {
      accessKeyId: "AKID",
      secretAccessKey: "s3cr3t/key+x",
      ...(token ? { sessionToken: token } : {}),
    };
    const sent: [string, RequestInit][] = [];
    const store = new S3Store({
      bucket: "sign",
      endpoint: "http://127.0.0.1:1",
      region: "us-east-1",
      credentials,
      fetch: (input, init = {}) => {
        sent.push([String(input), init]);
        const skewed = sent.length === 1;
        const date = new Date(Date.now() + (skewed ? ahead : 0)).toUTCString();
        return Promise.resolve(
          skewed
            ? new Response(SKEWED, { status: 403, headers: { date } })
            : new Response(init.method === "HEAD" ? null : "x", { headers: { etag: '"e"', date } }),
        );
      },
    });
    await store.head("first");
    await store.get("dir/a b+c!'()*ü.txt", { range: { start: 3, end: 7 }, ifNoneMatch: "e" });
    await store.put("k", new Uint8Array(4096).fill(7), {
      mode: { kind: "replace", etag: '"e1"' },
      contentType: "text/plain",
    });
    await store.put("new", new TextEncoder().encode("hi"), { mode: { kind: "create" } });
    await store.delete("k");
    equal(sent.length, 6);
    const days = new Set(
      sent.map(([, init]) => new Date(signedAt(init)).toISOString().slice(0, 10)),
    );
    equal(days.size, 2, "the requests are signed on two different days");
    for (const [url, init] of sent) {
      const headers = new Headers(init.headers);
      equal(headers.get("host"), null, "fetch sets Host from the URL");
      equal(headers.get("x-amz-security-token"), token);
      equal(headers.get("authorization"), await sdkAuthorization(url, init, credentials), url);
    }
  }
});
