// /readyz against a real S3 server behind a TCP relay the test controls: when S3 stops
// answering (the relay refuses, or swallows connections), /readyz turns 503 within its
// bound; when S3 is back, 200. /healthz stays 200 throughout.

import { assert, assertEquals } from "./_assert.ts";
import { freePort, startServer } from "./_server.ts";
import { s3Env } from "./_stores.ts";

type Mode = "up" | "refuse" | "hang";

/** A TCP relay to `target` whose behaviour can be switched. */
function relay(target: { hostname: string; port: number }) {
  const port = freePort();
  const conns = new Set<Deno.Conn>();
  let mode: Mode = "up";
  let listener: Deno.Listener | null = null;
  const track = (c: Deno.Conn) => {
    conns.add(c);
    return c;
  };
  const serve = (l: Deno.Listener) => {
    (async () => {
      for await (const client of l) {
        track(client);
        if (mode === "hang") {
          client.readable.pipeTo(new WritableStream()).catch(() => {});
          continue;
        }
        Deno.connect(target).then((upstream) => {
          track(upstream);
          client.readable.pipeTo(upstream.writable).catch(() => {});
          upstream.readable.pipeTo(client.writable).catch(() => {});
        }, () => client.close());
      }
    })().catch(() => {});
  };
  const closeAll = () => {
    for (const c of conns) {
      try {
        c.close();
      } catch {
        // Closed already.
      }
    }
    conns.clear();
  };
  const open = () => {
    listener = Deno.listen({ hostname: "127.0.0.1", port });
    serve(listener);
  };
  open();
  return {
    url: `http://127.0.0.1:${port}`,
    set(next: Mode) {
      closeAll();
      if (next === "refuse" && listener) {
        listener.close();
        listener = null;
      }
      if (next !== "refuse" && !listener) open();
      mode = next;
    },
    close() {
      listener?.close();
      closeAll();
    },
  };
}

const s3 = s3Env();

Deno.test({
  name: "/readyz turns 503 within its bound when S3 stops answering, and 200 when it is back",
  ignore: s3 === null,
  async fn() {
    const endpoint = new URL(s3!.endpoint);
    const r = relay({ hostname: endpoint.hostname, port: Number(endpoint.port || 80) });
    const server = await startServer({
      env: {
        AWS_ENDPOINT_URL_S3: r.url,
        PAGEFS_READY_TIMEOUT_MS: "1000",
        PAGEFS_S3_TIMEOUT_MS: "5000",
        PAGEFS_LOG_LEVEL: "warn",
      },
    });
    const ready = async () => {
      const started = performance.now();
      const res = await fetch(`${server.url}/readyz`);
      const body = await res.json();
      return { status: res.status, ms: Math.round(performance.now() - started), body };
    };
    /** Polls /readyz until it answers `status`; returns ms since `since`. */
    const until = async (status: number, since: number) => {
      for (;;) {
        const a = await ready();
        assert(a.ms < 1500, `one /readyz took ${a.ms} ms (bound 1000 ms)`);
        if (a.status === status) return { ...a, after: Math.round(performance.now() - since) };
        assert(performance.now() - since < 5000, `still ${a.status} after 5 s`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };
    try {
      assertEquals((await ready()).status, 200);
      for (const mode of ["refuse", "hang"] as const) {
        const stopped = performance.now();
        r.set(mode);
        const down = await until(503, stopped);
        console.log(
          `S3 ${mode === "refuse" ? "refusing connections" : "accepting and never answering"}: ` +
            `/readyz 503 after ${down.after} ms (${JSON.stringify(down.body)})`,
        );
        assertEquals((await fetch(`${server.url}/healthz`)).status, 200, "alive all the same");
        const back = performance.now();
        r.set("up");
        const up = await until(200, back);
        console.log(`S3 back: /readyz 200 after ${up.after} ms (${JSON.stringify(up.body)})`);
      }
    } finally {
      r.set("up");
      await server.close();
      r.close();
    }
  },
});
