// Start-up as an operator meets it: real `main.ts` processes against an S3 endpoint that
// never answers, a port already in use, an S3 server that ignores conditional writes, and
// Deno Deploy without a bucket. Each must fail fast with one clear line and a non-zero exit.

import { Hono } from "hono";
import { assert, assertEquals } from "./_assert.ts";
import { freePort } from "./_server.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);

interface Run {
  code: number;
  stderr: string;
  stdout: string;
  ms: number;
}

/** Runs `main.ts --listen` with `env` (and nothing of ours) until it exits or `killAfterMs`. */
async function runMain(env: Record<string, string>, killAfterMs = 30_000): Promise<Run> {
  const inherited = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) =>
      !name.startsWith("PAGEFS_") && !name.startsWith("AWS_") && name !== "DENO_DEPLOYMENT_ID"
    ),
  );
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net",
      "--allow-env",
      "--allow-read",
      "--allow-write",
      "main.ts",
      "--listen",
    ],
    cwd: ROOT,
    clearEnv: true,
    env: { ...inherited, NO_COLOR: "1", HOST: "127.0.0.1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
  const out = await child.output();
  clearTimeout(timer);
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return {
    code: out.code,
    stderr: decode(out.stderr),
    stdout: decode(out.stdout),
    ms: Math.round(performance.now() - started),
  };
}

const s3Env = (endpoint: string) => ({
  PAGEFS_BUCKET: "probe-bucket",
  AWS_ENDPOINT_URL_S3: endpoint,
  AWS_ACCESS_KEY_ID: "test",
  AWS_SECRET_ACCESS_KEY: "test",
  AWS_REGION: "us-east-1",
});

/** One line, no stack trace. */
function assertOneLine(stderr: string) {
  const lines = stderr.trim().split("\n");
  assertEquals(lines.length, 1, `expected one line:\n${stderr}`);
  assert(!/\n\s+at /.test(stderr) && !stderr.includes("Stack"), stderr);
}

Deno.test("start-up against an S3 endpoint that never answers fails within its bound", async () => {
  // Accepts connections, reads what comes, never writes a byte.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      held.push(conn);
      conn.readable.pipeTo(new WritableStream()).catch(() => {});
    }
  })();
  try {
    const { port } = listener.addr as Deno.NetAddr;
    const run = await runMain({
      ...s3Env(`http://127.0.0.1:${port}`),
      PORT: String(freePort()),
      PAGEFS_STARTUP_TIMEOUT_MS: "2000",
    });
    console.log(`exit ${run.code} after ${run.ms} ms: ${run.stderr.trim()}`);
    assertEquals(run.code, 1, run.stderr);
    assertOneLine(run.stderr);
    assert(run.stderr.includes("no answer within 2000 ms"), run.stderr);
    assert(run.stderr.includes(`127.0.0.1:${port}`), "names the endpoint");
    // The bound plus Deno's own start (a few seconds at most on a loaded machine).
    assert(run.ms < 12_000, `took ${run.ms} ms`);
  } finally {
    listener.close();
    for (const conn of held) {
      try {
        conn.close();
      } catch {
        // Closed by the peer already.
      }
    }
    await accepting.catch(() => {});
  }
});

Deno.test("start-up on a port in use fails with one line, no stack trace", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const { port } = taken.addr as Deno.NetAddr;
    const run = await runMain({ PAGEFS_STORE: "memory", PORT: String(port) });
    console.log(`exit ${run.code}: ${run.stderr.trim()}`);
    assertEquals(run.code, 1, run.stderr);
    assertOneLine(run.stderr);
    assert(run.stderr.includes(`127.0.0.1:${port}: the port is in use`), run.stderr);
  } finally {
    taken.close();
  }
});

/**
 * A fake S3 that keeps objects in a Map: with `honour` false it ignores If-Match and
 * If-None-Match, as s3rver does.
 */
function fakeS3(honour: boolean) {
  const objects = new Map<string, { body: Uint8Array; etag: string }>();
  let n = 0;
  const app = new Hono();
  const keyOf = (path: string) => decodeURIComponent(path.split("/").slice(2).join("/"));
  const notFound = () =>
    new Response(
      '<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>no</Message></Error>',
      { status: 404, headers: { "content-type": "application/xml" } },
    );
  const failed = () =>
    new Response(
      '<?xml version="1.0"?><Error><Code>PreconditionFailed</Code><Message>no</Message></Error>',
      { status: 412, headers: { "content-type": "application/xml" } },
    );
  app.put("/:bucket/*", async (c) => {
    const key = keyOf(c.req.path);
    const existing = objects.get(key);
    if (honour) {
      const ifNone = c.req.header("if-none-match");
      const ifMatch = c.req.header("if-match")?.replaceAll('"', "");
      if (ifNone === "*" && existing) return failed();
      if (ifMatch !== undefined && existing?.etag !== ifMatch) return failed();
    }
    const etag = `${(++n).toString(16).padStart(32, "0")}`;
    objects.set(key, { body: new Uint8Array(await c.req.arrayBuffer()), etag });
    return c.body(null, 200, { etag: `"${etag}"` });
  });
  app.on(["GET", "HEAD"], "/:bucket/*", (c) => {
    const o = objects.get(keyOf(c.req.path));
    if (!o) return notFound();
    return new Response(c.req.method === "HEAD" ? null : o.body.slice(), {
      headers: {
        etag: `"${o.etag}"`,
        "content-length": String(o.body.length),
        "last-modified": new Date().toUTCString(),
      },
    });
  });
  app.delete("/:bucket/*", (c) => {
    objects.delete(keyOf(c.req.path));
    return c.body(null, 204);
  });
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, app.fetch);
  return { server, objects, url: `http://127.0.0.1:${server.addr.port}` };
}

Deno.test("start-up refuses an S3 server that ignores conditional writes, and formats nothing", async () => {
  const fake = fakeS3(false);
  try {
    const run = await runMain({ ...s3Env(fake.url), PORT: String(freePort()) });
    console.log(`exit ${run.code} after ${run.ms} ms: ${run.stderr.trim()}`);
    assertEquals(run.code, 1, run.stderr);
    assertOneLine(run.stderr);
    assert(run.stderr.includes("does not honour conditional writes"), run.stderr);
    assert(run.stderr.includes("If-None-Match") && run.stderr.includes("If-Match"), run.stderr);
    assert(run.stderr.includes("PAGEFS_SINGLE_INSTANCE"), "names the override");
    assertEquals([...fake.objects.keys()], [], "the probe cleaned up; nothing was formatted");
  } finally {
    await fake.server.shutdown();
  }
});

Deno.test("the conditional-write probe passes a server that honours conditions", async () => {
  const { probeConditionalWrites, S3Store } = await import("../src/store/mod.ts");
  for (const honour of [true, false]) {
    const fake = fakeS3(honour);
    try {
      const store = new S3Store({
        bucket: "b",
        endpoint: fake.url,
        region: "us-east-1",
        credentials: { accessKeyId: "t", secretAccessKey: "t" },
      });
      const found = await probeConditionalWrites(store, "probe/x");
      assertEquals(found === null, honour, String(found));
      assertEquals(fake.objects.size, 0);
    } finally {
      await fake.server.shutdown();
    }
  }
});

Deno.test("on Deno Deploy without PAGEFS_BUCKET start-up refuses the instance's disk", async () => {
  const run = await runMain({ DENO_DEPLOYMENT_ID: "abc123", PORT: String(freePort()) });
  assertEquals(run.code, 2, run.stderr);
  assertOneLine(run.stderr);
  assert(run.stderr.includes("PAGEFS_BUCKET: Required on Deno Deploy"), run.stderr);
  assert(run.stderr.includes("PAGEFS_STORE=local"), "names the opt-in");
});

/** Runs `deno serve` on main.ts as Deno Deploy does (every permission), until healthy or exit. */
async function serveAsDeploy(env: Record<string, string>) {
  const port = freePort();
  const inherited = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([name]) =>
      !name.startsWith("PAGEFS_") && !name.startsWith("AWS_")
    ),
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: ["serve", "--allow-all", "--host", "127.0.0.1", "--port", String(port), "main.ts"],
    cwd: ROOT,
    clearEnv: true,
    env: { ...inherited, NO_COLOR: "1", DENO_DEPLOYMENT_ID: "test-deployment", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  let healthy = false;
  for (let i = 0; i < 200; i++) {
    const done = await Promise.race([output.then(() => true), Promise.resolve(false)]);
    if (done) break;
    healthy = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      async (r) => (await r.body?.cancel(), r.status === 200),
      () => false,
    );
    if (healthy) {
      child.kill("SIGTERM");
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const out = await output;
  return {
    healthy,
    stderr: new TextDecoder().decode(out.stderr),
    code: out.code,
  };
}

Deno.test("`deno serve` as on Deno Deploy: no bucket is refused; an explicit local store is served", async () => {
  const { hashPassword } = await import("../src/auth/mod.ts");
  const users = `ci:${await hashPassword("pw", { iterations: 1000 })}:rw`;
  const refused = await serveAsDeploy({ PAGEFS_USERS: users });
  assertEquals(refused.code, 2, refused.stderr);
  assert(refused.stderr.includes("PAGEFS_BUCKET: Required on Deno Deploy"), refused.stderr);
  const dir = await Deno.makeTempDir({ prefix: "pagefs-deploy-" });
  try {
    const served = await serveAsDeploy({
      PAGEFS_USERS: users,
      PAGEFS_STORE: "local",
      PAGEFS_DATA_DIR: dir,
    });
    assert(served.healthy, `exit ${served.code}: ${served.stderr}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
