// Scale-out as docs/scale-out.md sets it up: three PageFS processes on one bucket behind
// nginx (round robin). litmus and an rclone round trip run through the balancer, then
// concurrent writers write through it into one shared folder (every directory change a CAS
// that instances race on) and each writer's files are read back through a different
// instance, byte for byte: 0 lost.
//
// Needs S3 (`deno task test` starts one), nginx and litmus (`infra/dav-clients.sh install`);
// under CI a missing program fails the test instead of skipping it.

import { assert, assertEquals } from "./_assert.ts";
import {
  clientUnavailable,
  LITMUS_GROUPS,
  makeTestTree,
  rcloneRoundTrip,
  runLitmus,
} from "./_dav_clients.ts";
import { freePort, startServer, type TestServer } from "./_server.ts";
import { s3Env } from "./_stores.ts";

const CI = Boolean(Deno.env.get("CI"));
const INSTANCES = 3;
const WRITERS = 8;
const FILES_PER_WRITER = 5;

function findNginx(): string | null {
  for (const dir of ["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"]) {
    try {
      Deno.statSync(`${dir}/nginx`);
      return `${dir}/nginx`;
    } catch {
      // Not there.
    }
  }
  return null;
}

/** The configuration docs/scale-out.md gives, with the test's ports and a private prefix. */
export function nginxConfig(dir: string, listen: number, upstreams: readonly string[]): string {
  return `worker_processes 1;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream pagefs {
${upstreams.map((u) => `    server ${u} max_fails=0;`).join("\n")}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${listen};
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_read_timeout 300s;
    location / {
      proxy_pass http://pagefs;
      proxy_set_header Host $http_host;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-Id $request_id;
    }
  }
}
`;
}

const nginx = findNginx();
const unavailable = !s3Env()
  ? "no S3 endpoint (run `deno task test`, which starts one)"
  : !nginx
  ? '"nginx" is not installed (infra/dav-clients.sh install)'
  : clientUnavailable("litmus");
const ignored = unavailable !== null && !(CI && s3Env());

Deno.test({
  name: `three instances behind nginx: litmus, rclone and concurrent writers, 0 lost${
    ignored ? ` (ignored: ${unavailable})` : ""
  }`,
  ignore: ignored,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (unavailable) throw new Error(`${unavailable}; CI is set, so this fails`);
    const started = performance.now();
    const servers: TestServer[] = [];
    const dir = await Deno.makeTempDir({ prefix: "pagefs-nginx-" });
    let proxy: Deno.ChildProcess | null = null;
    try {
      // The first formats the bucket; the others open it.
      servers.push(await startServer());
      const bucket = servers[0]!.bucket!;
      servers.push(
        ...await Promise.all(
          Array.from({ length: INSTANCES - 1 }, () => startServer({ bucket })),
        ),
      );
      const port = freePort();
      const upstreams = servers.map((s) => new URL(s.url).host);
      await Deno.writeTextFile(`${dir}/nginx.conf`, nginxConfig(dir, port, upstreams));
      proxy = new Deno.Command(nginx!, {
        args: ["-p", dir, "-c", `${dir}/nginx.conf`, "-g", `daemon off; pid ${dir}/nginx.pid;`],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const lb = `http://127.0.0.1:${port}`;
      for (let i = 0;; i++) {
        const ok = await fetch(`${lb}/readyz`).then(async (r) => {
          await r.body?.cancel();
          return r.status === 200;
        }, () => false);
        if (ok) break;
        assert(i < 100, "nginx did not answer within 10 s");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      console.log(`3 instances and nginx up in ${Math.round(performance.now() - started)} ms`);

      // litmus, every group, through the balancer.
      let phase = performance.now();
      const lap = () => {
        const ms = Math.round(performance.now() - phase);
        phase = performance.now();
        return ms;
      };
      const litmus = await runLitmus(`${lb}/dav/`);
      for (const group of LITMUS_GROUPS) {
        const c = litmus.groups[group];
        console.log(
          `litmus via nginx ${group}: ${c?.passed ?? 0} passed, ${c?.failed ?? 0} failed, ` +
            `${c?.warnings ?? 0} warnings, ${c?.skipped ?? 0} skipped`,
        );
      }
      console.log(`litmus took ${lap()} ms`);
      assertEquals(litmus.failures, [], litmus.output.slice(-4000));
      for (const group of LITMUS_GROUPS) assert(litmus.groups[group]?.passed, group);

      // rclone round trip through the balancer.
      const work = `${dir}/work`;
      await Deno.mkdir(`${work}/tree`, { recursive: true });
      const { files } = await makeTestTree(`${work}/tree`);
      const rclone = await rcloneRoundTrip(`${lb}/dav/`, `${work}/tree`, work);
      console.log(
        `rclone via nginx: ${rclone.uploaded} of ${files} files uploaded, ` +
          `${rclone.differences} differences, identical round trip: ${rclone.roundTripIdentical} ` +
          `(${lap()} ms)`,
      );
      assertEquals(rclone.failures, []);
      assert(rclone.roundTripIdentical);

      // Concurrent writers into one folder through the balancer.
      const writeStarted = performance.now();
      const content = (w: number, f: number) => {
        const bytes = new Uint8Array(1000 + ((w * 7919 + f * 104729) % 9000));
        for (let i = 0; i < bytes.length; i++) bytes[i] = (w * 31 + f * 17 + i) & 0xff;
        return bytes;
      };
      const failures: string[] = [];
      await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
        for (let f = 0; f < FILES_PER_WRITER; f++) {
          const res = await fetch(`${lb}/api/v1/fs/shared/w${w}-f${f}.bin?parents=1`, {
            method: "PUT",
            body: content(w, f),
          });
          await res.body?.cancel();
          if (res.status !== 201) failures.push(`w${w} f${f}: PUT answered ${res.status}`);
        }
      }));
      assertEquals(failures, []);
      const writeMs = Math.round(performance.now() - writeStarted);
      // Each writer's files read back through an instance chosen by the writer (not nginx).
      let lost = 0;
      let checked = 0;
      const mismatches: string[] = [];
      for (let w = 0; w < WRITERS; w++) {
        const via = servers[(w + 1) % INSTANCES]!;
        for (let f = 0; f < FILES_PER_WRITER; f++) {
          const res = await fetch(`${via.url}/api/v1/fs/shared/w${w}-f${f}.bin`);
          const got = new Uint8Array(await res.arrayBuffer());
          const want = content(w, f);
          checked++;
          if (
            res.status !== 200 || got.length !== want.length || got.some((b, i) => b !== want[i])
          ) {
            lost++;
            mismatches.push(`w${w} f${f}: ${res.status}, ${got.length} bytes`);
          }
        }
      }
      const listing = await (await fetch(`${servers[2]!.url}/api/v1/fs/shared/`)).json();
      const listed = (listing.entries as { name: string }[]).length;
      console.log(
        `${WRITERS} concurrent writers, ${WRITERS * FILES_PER_WRITER} files through nginx in ` +
          `${writeMs} ms; read back through other instances: ${checked} checked, ${lost} lost; ` +
          `listing has ${listed}`,
      );
      assertEquals(mismatches, []);
      assertEquals(lost, 0);
      assertEquals(listed, WRITERS * FILES_PER_WRITER);
      // Round robin reached every instance (each logs its requests).
      const served = servers.map((s) => (s.stdout().match(/msg=request /g) ?? []).length);
      console.log(`requests logged per instance: ${served.join(", ")}`);
      assert(served.every((n) => n > 30), `an instance got no share: ${served}`);
      console.log(`total ${Math.round(performance.now() - started)} ms`);
    } finally {
      if (proxy) {
        try {
          proxy.kill("SIGTERM");
        } catch {
          // Gone already.
        }
        const out = await proxy.output();
        const errors = new TextDecoder().decode(out.stderr).trim();
        if (errors) console.log(`nginx stderr: ${errors}`);
      }
      // The first server owns (and removes) the bucket: close it last.
      for (const s of servers.slice(1)) await s.close();
      await servers[0]?.close();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
