// Test helper: a real PageFS server process (`main.ts --listen`) on a free loopback port,
// for tests that drive it with outside clients (WebDAV clients, curl, browsers).

import { createTestBucket, removeTestBucket, s3Env } from "./_stores.ts";

/** A running server; `close()` stops it and removes the bucket it created. */
export interface TestServer {
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  readonly url: string;
  /** The bucket it serves; null for the memory and local stores. */
  readonly bucket: string | null;
  /** The variables the process was started with on top of the inherited environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Stops the process (SIGTERM, then SIGKILL after 5 s) and removes a bucket it created. */
  close(): Promise<void>;
  /** Kills the process at once (SIGKILL: nothing can flush) and waits for it to exit. */
  kill(): Promise<void>;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Everything the process wrote to stdout so far. */
  stdout(): string;
}

export interface StartServerOptions {
  /** Extra variables for the process; they override the ones this helper sets. */
  env?: Record<string, string>;
  /** Serve this existing bucket (it is left in place); default a fresh one, removed at close. */
  bucket?: string;
  /**
   * Default "s3" (the configured S3 server); "memory" needs no S3; "local" is the embedded
   * local-directory store (give its folder as `PAGEFS_DATA_DIR` in `env`).
   */
  store?: "s3" | "memory" | "local";
  /**
   * "run" (default): `deno run … main.ts --listen`, as `deno task start` does. "serve":
   * `deno serve --allow-net --allow-env main.ts`, the default export with exactly the
   * permissions Deno Deploy grants (it binds 0.0.0.0 as far as main.ts knows, so it
   * needs PAGEFS_USERS).
   */
  command?: "run" | "serve";
  /** How long to wait for /healthz to answer 200; default 20 s. */
  timeoutMs?: number;
}

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);
/** Output kept per stream: the end is what explains a failure. */
const KEEP = 1 << 20;

/** A port that nothing listened on a moment ago (the kernel's choice for port 0). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Reads a stream to its end into `sink`, keeping the last {@linkcode KEEP} characters. */
async function drain(stream: ReadableStream<Uint8Array>, sink: { text: string }): Promise<void> {
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) {
      sink.text += decoder.decode(chunk, { stream: true });
      if (sink.text.length > 2 * KEEP) sink.text = sink.text.slice(-KEEP);
    }
  } catch {
    // The process was killed mid-write: what we have is all there is.
  }
  sink.text += decoder.decode();
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts `main.ts --listen` as a separate process, as `deno task start` does, on a free port
 * of 127.0.0.1, and resolves once `GET /healthz` answers 200.
 *
 * The S3 store (the default) uses the S3 server in the AWS_* variables (`deno task test`
 * starts one) and a fresh bucket unless `bucket` names one, so that two servers can share a
 * bucket; only the server that created a bucket removes it. The child's environment is the
 * test's minus every PAGEFS_* and AWS_* variable, plus the ones set here.
 *
 * @example
 * ```ts ignore
 * const server = await startServer();
 * try {
 *   const res = await fetch(`${server.url}/healthz`);
 *   await res.body?.cancel();
 * } finally {
 *   await server.close();
 * }
 * ```
 */
export async function startServer(options: StartServerOptions = {}): Promise<TestServer> {
  const kind = options.store ?? "s3";
  const port = freePort();
  const env: Record<string, string> = { PORT: String(port), HOST: "127.0.0.1" };
  let bucket: string | null = null;
  let ownBucket = false;
  if (kind === "memory" || kind === "local") {
    env.PAGEFS_STORE = kind;
  } else {
    const s3 = s3Env();
    if (!s3) throw new Error("No S3 endpoint configured: run through `deno task test`");
    bucket = options.bucket ?? await createTestBucket();
    ownBucket = options.bucket === undefined;
    Object.assign(env, {
      PAGEFS_BUCKET: bucket,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
      AWS_REGION: s3.region,
    });
  }
  Object.assign(env, options.env ?? {});

  const inherited = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) =>
      !name.startsWith("PAGEFS_") && !name.startsWith("AWS_")
    ),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: options.command === "serve"
      ? [
        "serve",
        "--allow-net",
        "--allow-env",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        `${ROOT}main.ts`,
      ]
      : [
        "run",
        "--allow-net",
        "--allow-env",
        "--allow-read",
        "--allow-write",
        // As `deno task start` runs it (deno.json): small young-generation semi-spaces, heap
        // grown to twice what is live at most.
        "--v8-flags=--max-semi-space-size=4,--heap-growing-percent=100",
        `${ROOT}main.ts`,
        "--listen",
      ],
    cwd: ROOT,
    clearEnv: true,
    env: { ...inherited, NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = { text: "" };
  const err = { text: "" };
  const drained = Promise.all([drain(child.stdout, out), drain(child.stderr, err)]);
  // In an object: the compiler does not see the assignment in the callback.
  const proc = { exited: null as Deno.CommandStatus | null };
  const status = child.status.then((s) => {
    proc.exited = s;
  });

  let closing: Promise<void> | null = null;
  const close = () =>
    closing ??= (async () => {
      if (!proc.exited) {
        try {
          child.kill("SIGTERM");
        } catch {
          // Exited between the check and the kill.
        }
        const timer = setTimeout(() => {
          try {
            child.kill("SIGKILL");
          } catch {
            // Gone already.
          }
        }, 5000);
        await status;
        clearTimeout(timer);
      }
      await drained;
      if (ownBucket && bucket) await removeTestBucket(bucket);
    })();

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let last = "no answer yet";
  try {
    for (;;) {
      if (proc.exited) {
        const { code } = proc.exited;
        throw new Error(`The server exited with status ${code} before it was healthy`);
      }
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
        await res.body?.cancel();
        if (res.status === 200) break;
        last = `GET /healthz answered ${res.status}`;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      if (Date.now() > deadline) throw new Error(`The server was not healthy in time (${last})`);
      await delay(100);
    }
  } catch (error) {
    await close().catch(() => {});
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${message}; its stderr:\n${err.text || "(empty)"}`);
  }
  return {
    url,
    bucket,
    env,
    close,
    async kill() {
      if (!proc.exited) {
        try {
          child.kill("SIGKILL");
        } catch {
          // Exited between the check and the kill.
        }
      }
      await status;
    },
    stderr: () => err.text,
    stdout: () => out.text,
  };
}
