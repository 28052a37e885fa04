// Real WebDAV clients against PageFS's /dav/ on a real server process and real S3: litmus
// (every group), a cadaver session, an rclone round trip and a davfs2 mount round trip.
//
// A client that is not installed fails the test in CI (CI installs them through
// infra/dav-clients.sh) and is ignored elsewhere, with the reason in the test name.
// PAGEFS_DAV_PEER=1 also points the same runners at `rclone serve webdav`, the peer figure
// PageFS is compared with, to show that each runner reports what it should.

import { assert, assertEquals } from "./_assert.ts";
import {
  CLIENT_PROGRAMS,
  clientUnavailable,
  compareTrees,
  davfs2RoundTrip,
  LITMUS_GROUPS,
  type LitmusResult,
  makeTestTree,
  parseLitmus,
  rcloneRoundTrip,
  runCadaver,
  runLitmus,
} from "./_dav_clients.ts";
import { freePort, startServer } from "./_server.ts";
import { s3Env } from "./_stores.ts";

const CI = Boolean(Deno.env.get("CI"));
const PEER = Boolean(Deno.env.get("PAGEFS_DAV_PEER"));

type Client = keyof typeof CLIENT_PROGRAMS;

function printLitmus(where: string, result: LitmusResult): void {
  for (const [group, c] of Object.entries(result.groups)) {
    console.log(
      `litmus ${where} ${group}: ${c.passed} passed, ${c.failed} failed, ` +
        `${c.warnings} warnings, ${c.skipped} skipped`,
    );
  }
}

/** The last part of a server's stderr, for a failure message. */
const tail = (text: string) => text.length > 4000 ? `…${text.slice(-4000)}` : text;

/**
 * Registers a test of `client` against a fresh PageFS server (fresh bucket) and work
 * directory; the server's stderr is added to a failure.
 */
function davTest(
  client: Client,
  name: string,
  fn: (dav: string, workdir: string, t: Deno.TestContext) => Promise<void>,
): void {
  const unavailable = clientUnavailable(client);
  const noS3 = s3Env() ? null : "no S3 endpoint (run `deno task test`, which starts one)";
  const ignored = noS3 ?? (unavailable && !CI ? unavailable : null);
  Deno.test({
    name: `${client}: ${name}${ignored ? ` (ignored: ${ignored})` : ""}`,
    ignore: ignored !== null,
    // The S3 SDK (bucket set-up) keeps sockets and timers alive between requests.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      if (unavailable) {
        throw new Error(`${unavailable}; CI is set, so this fails instead of being ignored`);
      }
      const server = await startServer();
      const workdir = await Deno.makeTempDir({ prefix: `pagefs-${client}-` });
      try {
        await fn(`${server.url}/dav/`, workdir, t);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        throw new Error(`${message}\n--- server stderr ---\n${tail(server.stderr())}`, {
          cause: error,
        });
      } finally {
        await server.close();
        await Deno.remove(workdir, { recursive: true });
      }
    },
  });
}

davTest(
  "litmus",
  "every group passes with no failure, warning or skip",
  async (dav, workdir, t) => {
    const result = await runLitmus(dav, { workdir });
    printLitmus("pagefs", result);
    for (const group of LITMUS_GROUPS) {
      await t.step(group, () => {
        const counts = result.groups[group];
        const failures = result.failures.filter((f) => f.startsWith(`${group}:`));
        assert(counts, `litmus ran no "${group}" group:\n${result.output}`);
        assert(counts.passed > 0, `no ${group} test passed:\n${failures.join("\n")}`);
        // litmus skips a test only when one it depends on failed.
        assertEquals(
          { failed: counts.failed, warnings: counts.warnings, skipped: counts.skipped },
          { failed: 0, warnings: 0, skipped: 0 },
          failures.join("\n"),
        );
        assertEquals(failures, []);
      });
    }
  },
);

davTest("cadaver", "a scripted session succeeds command by command", async (dav, workdir) => {
  const result = await runCadaver(dav, workdir);
  assert(result.ok, `${result.failures.join("\n")}\n--- transcript ---\n${result.transcript}`);
});

davTest("rclone", "copy, check --download and copy back are identical", async (dav, workdir) => {
  const tree = `${workdir}/tree`;
  const { files } = await makeTestTree(tree);
  const result = await rcloneRoundTrip(dav, tree, workdir);
  console.log(
    `rclone: ${result.uploaded} of ${files} files uploaded, ${result.differences} differences`,
  );
  assertEquals(result.failures, []);
  assertEquals(result.uploaded, files);
  assertEquals(result.differences, 0, result.checkOutput);
  assert(result.roundTripIdentical);
});

davTest("davfs2", "a tree copied into a mount reads back identical", async (dav, workdir) => {
  const tree = `${workdir}/tree`;
  await makeTestTree(tree);
  const result = await davfs2RoundTrip(dav, tree, workdir);
  assert(result.identical, result.details);
});

// The harness itself, without a server or a client.

Deno.test("parseLitmus() counts groups and collects failures, warnings and unfinished groups", () => {
  const line = (n: string, name: string, result: string) =>
    `\r${n}. ${name.padEnd(22, ".")} \r${n}. ${name.padEnd(22, ".")} ${result}`;
  const output = [
    "-> running `basic':",
    line(" 0", "init", "pass"),
    line(" 1", "mkcol_again", "FAIL (MKCOL on existing collection should fail"),
    ")",
    "<- summary for `basic': of 2 tests run: 1 passed, 1 failed. 50.0%",
    "-> running `locks':",
    "\r18. cond_put_corrupt_token WARNING: PUT failed with 412 not 423",
    "    ...................... pass (with 1 warning)",
    `    ...................... ${line("19", "complex_cond_put", "pass")}`,
    line("20", "lock_shared", "SKIPPED"),
    "-> 1 test was skipped.",
    "<- summary for `locks': of 2 tests run: 2 passed, 0 failed. 100.0%",
    "-> 1 warning was issued.",
    "-> running `http':",
    line(" 0", "init", "pass"),
    line(" 1", "expect100", "FAIL (timeout)"),
    "",
  ].join("\n");
  const result = parseLitmus(output, ["basic", "locks", "http", "props"]);
  assertEquals(result.groups, {
    basic: { passed: 1, failed: 1, warnings: 0, skipped: 0 },
    locks: { passed: 2, failed: 0, warnings: 1, skipped: 1 },
    http: { passed: 1, failed: 1, warnings: 0, skipped: 0 },
    props: { passed: 0, failed: 0, warnings: 0, skipped: 0 },
  });
  assertEquals(result.failures, [
    "basic: 1. mkcol_again: MKCOL on existing collection should fail",
    "locks: 18. cond_put_corrupt_token: WARNING: PUT failed with 412 not 423",
    "http: 1. expect100: timeout",
    "http: the group did not finish (no summary line)",
    "props: the group did not finish (no summary line)",
  ]);
});

Deno.test("compareTrees() finds missing, extra and changed files, names compared exactly", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pagefs-trees-" });
  try {
    const { files } = await makeTestTree(`${dir}/a`);
    assertEquals(files, 50);
    await makeTestTree(`${dir}/b`);
    assertEquals(await compareTrees(`${dir}/a`, `${dir}/b`), []);
    const page = await Deno.readFile(`${dir}/b/page.bin`);
    page[4000]! ^= 1;
    await Deno.writeFile(`${dir}/b/page.bin`, page);
    await Deno.remove(`${dir}/b/cafe\u0301.txt`);
    await Deno.writeTextFile(`${dir}/b/a/new.txt`, "");
    assertEquals((await compareTrees(`${dir}/a`, `${dir}/b`)).sort(), [
      `differs: "page.bin": 4096 bytes, expected 4096, first difference at 4000`,
      `extra: "a/new.txt"`,
      `missing: "cafe\u0301.txt"`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// The peer: the same runners against `rclone serve webdav` (PAGEFS_DAV_PEER=1).

Deno.test({
  name: "peer: the runners report rclone serve webdav's results",
  ignore: !PEER || clientUnavailable("rclone") !== null,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "pagefs-peer-" });
    const port = freePort();
    const server = new Deno.Command("rclone", {
      args: ["serve", "webdav", "--addr", `127.0.0.1:${port}`, `${root}/served`],
      stdout: "null",
      stderr: "null",
    }).spawn();
    const dav = `http://127.0.0.1:${port}/`;
    try {
      await Deno.mkdir(`${root}/served`);
      for (let i = 0;; i++) {
        const up = await fetch(dav, { method: "OPTIONS" }).then(async (r) => {
          await r.body?.cancel();
          return true;
        }, () => false);
        if (up) break;
        if (i > 100) throw new Error("rclone serve webdav did not answer");
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const runnable = (client: Client) => clientUnavailable(client) === null;
      await t.step({
        name: "litmus reports rclone's missing dead properties",
        ignore: !runnable("litmus"),
        async fn() {
          const result = await runLitmus(dav);
          printLitmus("rclone-serve-webdav", result);
          console.log(result.failures.join("\n"));
          assertEquals(Object.keys(result.groups), [...LITMUS_GROUPS]);
          assert(result.groups.props!.failed > 0, "rclone serve webdav has no PROPPATCH");
          assert(result.failures.some((f) => f.startsWith("props: 6. propset: ")));
        },
      });
      await t.step({
        name: "cadaver reports the failed propset and nothing it did",
        ignore: !runnable("cadaver"),
        async fn() {
          await Deno.mkdir(`${root}/cadaver`);
          const result = await runCadaver(dav, `${root}/cadaver`);
          console.log(result.failures.join("\n"));
          assert(!result.ok);
          assert(result.failures.some((f) => f.startsWith("propset a.txt colour blue-42: ")));
          assert(!result.failures.some((f) => /^(put|get|copy|move|delete|ls)\b/.test(f)));
        },
      });
      await makeTestTree(`${root}/tree`);
      await t.step("rclone round trip is identical", async () => {
        const result = await rcloneRoundTrip(dav, `${root}/tree`, root);
        assertEquals(result.failures, []);
        assertEquals({ uploaded: result.uploaded, differences: result.differences }, {
          uploaded: 50,
          differences: 0,
        });
        assertEquals(await compareTrees(`${root}/tree`, `${root}/served/tree`), [
          `missing: "empty dir/"`,
        ]);
      });
      await t.step({
        name: "davfs2 round trip is identical",
        ignore: !runnable("davfs2"),
        async fn() {
          // Through the server: rclone serve caches listings, so no removal behind its back.
          const removed = await fetch(`${dav}tree/`, { method: "DELETE" });
          await removed.body?.cancel();
          assert(removed.ok, `DELETE /tree/ answered ${removed.status}`);
          const result = await davfs2RoundTrip(dav, `${root}/tree`, root);
          assert(result.identical, result.details);
        },
      });
    } finally {
      server.kill();
      await server.status;
      await Deno.remove(root, { recursive: true });
    }
  },
});
