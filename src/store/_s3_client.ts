/**
 * How the S3 adapter reaches the bucket: its options, and the SDK clients built from them
 * (two, one tuned for bodies), with the settings that keep each request bounded in time
 * and the SDK from asking for more than `--allow-net`. A part of {@linkcode S3Store}
 * (`s3.ts`), imported by it alone.
 *
 * @module
 */

import { S3Client, type S3ClientConfig, type UploadPartCommand } from "@aws-sdk/client-s3";
import { FetchHttpHandler } from "@smithy/fetch-http-handler";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { Agent } from "node:http";
import { Agent as HttpsAgent } from "node:https";

/** Sent as the user agent; a fixed value keeps the SDK from asking for `sys` permission. */
const USER_AGENT_VERSION = "0.1.0";

/** Where and how to reach the bucket. */
export interface S3StoreOptions {
  readonly bucket: string;
  /** Prepended to every key; keys in list results are relative to it. */
  readonly prefix?: string;
  /** Endpoint URL for S3-compatible servers (RGW, MinIO, R2); AWS when absent. */
  readonly endpoint?: string;
  /** Signing region; the SDK's own lookup (`AWS_REGION`) when absent. */
  readonly region?: string;
  /** Path-style URLs; defaults to true when `endpoint` is given, false otherwise. */
  readonly forcePathStyle?: boolean;
  /** Static credentials; the SDK's default chain (environment first) when absent. */
  readonly credentials?: {
    readonly accessKeyId: string;
    readonly secretAccessKey: string;
    readonly sessionToken?: string;
  };
  /**
   * Sends every HTTP request, in place of the default pair (see `makeClients`). Tests pass
   * one that counts what goes over the wire; a proxy or custom agent goes here too.
   */
  readonly requestHandler?: NodeHttpHandler | FetchHttpHandler;
  /** Sends the requests signed outside the SDK (`_s3_fetch.ts`); tests count or stub them. */
  readonly fetch?: typeof fetch;
  /**
   * Bound on one request in ms (default 20 s): until the answer's headers for everything
   * but uploads, on a silent socket for uploads, and on each wait for the bytes of a GET
   * body read through the store. A server that accepts connections and never answers then
   * fails the request (ambiguously, for a write) instead of holding it, and the endpoint is
   * taken for unreachable until it answers again (`_s3_outage.ts`).
   */
  readonly requestTimeoutMs?: number;
  /**
   * How long a request waits for an endpoint taken for unreachable to answer again before
   * it fails unsent with kind `unavailable` (default 1 s).
   */
  readonly unreachableWaitMs?: number;
  /**
   * A key (below the prefix) that is never written, which the probes of an endpoint taken
   * for unreachable GET (default `probe/reachability`).
   */
  readonly probeKey?: string;
  /** Told when the endpoint stops answering (`true`) and when it answers again. */
  readonly onReachability?: (down: boolean) => void;
}

/**
 * Has the signer sign `UNSIGNED-PAYLOAD` (it takes a preset `x-amz-content-sha256` as the
 * payload's hash) instead of hashing the body: SHA-256 of every 8 MiB part was ~6% of the
 * server's CPU in a 256 MiB PUT. Only over TLS, whose record MACs then guard the part, as
 * the SDK's own streamed uploads over HTTPS are; over plain HTTP the signed hash is the
 * only end-to-end check of the part's bytes (TCP's 16-bit checksum misses real
 * corruption), so it is kept there.
 */
export function unsignedPayload(command: UploadPartCommand): void {
  command.middlewareStack.add((next) => (args) => {
    const request = args.request as { headers?: Record<string, string> };
    if (request.headers) request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
    return next(args);
  }, { step: "build", name: "pagefsUnsignedPayload" });
}

/** Connections kept open to S3 for uploads. */
const MAX_SOCKETS = 64;
/** Connecting to S3 takes at most this long. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * A request with no answer (or a socket silent) this long fails. A working S3, however
 * loaded, sends the headers of the requests PageFS makes within seconds (an upload's
 * socket is busy while its part goes out, so only silence counts there); 20 s leaves a
 * margin and, with the outage mark, keeps a client's wait when the store stops answering
 * well inside the 60 s that clients commonly allow.
 */
export const IDLE_TIMEOUT_MS = 20_000;

/**
 * Two clients: fetch for everything but bodies, node:http for PutObject and UploadPart.
 * Given a byte body, Deno's fetch copies it (a stream body would go out chunked, which S3
 * refuses there), and those copies are returned late: uploading 8 MiB parts two at a time
 * peaked at ~200 MiB RSS through fetch and ~80 MiB through node:http, same throughput.
 * Downloads are the other way round: a streamed 256 MiB GET ran at ~600 MiB/s through
 * fetch and ~430 MiB/s through node:http. Neither needs more than `--allow-net`.
 */
export function makeClients(options: S3StoreOptions): [S3Client, S3Client] {
  if (options.requestHandler) {
    const client = makeClient(options, options.requestHandler);
    return [client, client];
  }
  const agent = { keepAlive: true, maxSockets: MAX_SOCKETS };
  const timeout = options.requestTimeoutMs ?? IDLE_TIMEOUT_MS;
  const fetcher = new FetchHttpHandler({ requestTimeout: timeout });
  const uploader = new NodeHttpHandler({
    httpAgent: new Agent(agent),
    httpsAgent: new HttpsAgent(agent),
    // A server that stops answering fails the request (and the retry layer decides),
    // instead of holding it, and the client's request, forever.
    connectionTimeout: Math.min(CONNECT_TIMEOUT_MS, timeout),
    requestTimeout: timeout,
  });
  return [makeClient(options, fetcher), makeClient(options, uploader)];
}

function makeClient(
  options: S3StoreOptions,
  requestHandler: NodeHttpHandler | FetchHttpHandler,
): S3Client {
  const config: S3ClientConfig = {
    requestHandler,
    defaultUserAgentProvider: async () => [["pagefs", USER_AGENT_VERSION]],
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 1,
    forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined,
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    ...(options.region !== undefined ? { region: options.region } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
  };
  return new S3Client(config);
}
