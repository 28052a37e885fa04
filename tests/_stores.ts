// Test helpers: the backends a contract test runs against, each freshly made.

import { LocalStore, MemoryStore, type ObjectStore, S3Store } from "../src/store/mod.ts";

/** A fresh, empty store and how to dispose of it. */
export interface TestStore {
  readonly store: ObjectStore;
  close(): Promise<void>;
}

export interface Backend {
  readonly name: string;
  /** Why this backend is skipped, or null when it runs. */
  readonly skip: string | null;
  open(): Promise<TestStore>;
}

/** The S3 endpoint the infra script (or the user) configured, if any. */
export function s3Env(): {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
} | null {
  const endpoint = Deno.env.get("AWS_ENDPOINT_URL_S3") ?? Deno.env.get("AWS_ENDPOINT_URL");
  const accessKeyId = Deno.env.get("AWS_ACCESS_KEY_ID");
  const secretAccessKey = Deno.env.get("AWS_SECRET_ACCESS_KEY");
  if (!endpoint || !accessKeyId || !secretAccessKey) return null;
  return {
    endpoint,
    region: Deno.env.get("AWS_REGION") ?? "us-east-1",
    credentials: { accessKeyId, secretAccessKey },
  };
}

function s3Options(bucket: string) {
  const env = s3Env();
  if (!env) throw new Error("No S3 endpoint configured: run through `deno task test`");
  return { bucket, forcePathStyle: true, ...env };
}

/** Creates a bucket with a fresh name on the configured S3 server; returns the name. */
export async function createTestBucket(): Promise<string> {
  const bucket = `pagefs-test-${crypto.randomUUID().slice(0, 13)}`;
  await new S3Store(s3Options(bucket)).createBucket();
  return bucket;
}

/** Empties and deletes a bucket, so the server's memory is reclaimed. */
export async function removeTestBucket(bucket: string): Promise<void> {
  const store = new S3Store(s3Options(bucket));
  for (let cursor: string | null = null;;) {
    const page = await store.list(cursor ? { cursor } : {});
    await store.deleteMany(page.objects.map((o) => o.key));
    cursor = page.cursor;
    if (!cursor) break;
  }
  await store.deleteBucket();
}

/** A new bucket on the configured S3 server, removed (with its objects) on close. */
export async function openS3(options: { prefix?: string } = {}): Promise<TestStore> {
  const bucket = await createTestBucket();
  const store = new S3Store({ ...s3Options(bucket), prefix: options.prefix ?? "" });
  return { store, close: () => removeTestBucket(bucket) };
}

/** Memory, a local directory and real S3: the backends every contract test runs on. */
export const BACKENDS: readonly Backend[] = [
  {
    name: "memory",
    skip: null,
    open: () => Promise.resolve({ store: new MemoryStore(), close: () => Promise.resolve() }),
  },
  {
    name: "local",
    skip: null,
    async open() {
      const dir = await Deno.makeTempDir({ prefix: "pagefs-local-" });
      return {
        store: new LocalStore(dir),
        close: () => Deno.remove(dir, { recursive: true }),
      };
    },
  },
  {
    name: "s3",
    skip: s3Env() ? null : "no S3 endpoint (run `deno task test`, which starts one)",
    open: () => openS3(),
  },
];

/**
 * Registers `fn` as one test per backend (all, or those named), named "<backend>: <name>",
 * each on a fresh store that is removed afterwards.
 */
export function contract(
  name: string,
  fn: (store: ObjectStore) => Promise<void>,
  options: { backends?: readonly string[] } = {},
): void {
  const names = options.backends;
  for (const backend of BACKENDS.filter((b) => !names || names.includes(b.name))) {
    Deno.test({
      name: `${backend.name}: ${name}`,
      ignore: backend.skip !== null,
      // The S3 SDK keeps sockets and timers alive between requests.
      sanitizeOps: false,
      sanitizeResources: false,
      async fn() {
        const { store, close } = await backend.open();
        try {
          await fn(store);
        } finally {
          await close();
        }
      },
    });
  }
}

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);
export const text = (data: Uint8Array): string => new TextDecoder().decode(data);

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A stream of `data` cut into `chunk`-byte pieces. */
export function chunked(data: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= data.length) return controller.close();
      controller.enqueue(data.slice(at, at + chunk));
      at += chunk;
    },
  });
}
