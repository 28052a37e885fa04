// The `pagefs` command line: help and usage errors, progress and human sizes, a corrupt
// object as a finding (not a crash), and one exit status per meaning.

import { assert, assertEquals } from "./_assert.ts";
import { run } from "../src/cli.ts";
import { LocalStore } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";
import { GC_PENDING_KEY } from "../src/format/keys.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      out: (t: string) => void out.push(t),
      err: (t: string) => void err.push(t),
      tty: false,
      progressMs: 5,
    },
    out: () => out.join(""),
    err: () => err.join(""),
  };
}

Deno.test("`pagefs <command> --help` exits 0; unknown options and commands exit 2 with usage", async () => {
  for (const command of ["fsck", "gc", "version"]) {
    const c = capture();
    assertEquals(await run([command, "--help"], {}, c.io), 0, command);
    assert(c.out().startsWith(`Usage: deno task pagefs ${command}`), c.out());
    assertEquals(c.err(), "");
  }
  const cases: [string[], string][] = [
    [["fsck", "--bogus"], "Unknown option '--bogus'"],
    [["gc", "--repair"], "Unknown option '--repair'"],
    [["gc", "--grace-ms", "soon"], '--grace-ms needs a number from 0 to Infinity, got "soon"'],
    [["gc", "--compact-below", "2"], "--compact-below needs a number from 0 to 1"],
    [["fsck", "extra"], "Unexpected argument 'extra'"],
    [["frobnicate"], 'Unknown command "frobnicate"'],
    [[], "Missing command"],
  ];
  for (const [args, message] of cases) {
    const c = capture();
    assertEquals(await run(args, {}, c.io), 2, args.join(" "));
    assert(c.err().includes(message), `${args.join(" ")}: ${c.err()}`);
    assert(c.err().includes("Usage: deno task pagefs"), "the usage follows");
  }
});

async function filledStore(files: number) {
  const dir = await Deno.makeTempDir({ prefix: "pagefs-cli-" });
  const fs = await Vfs.open(new LocalStore(dir));
  await fs.mkdir("/d");
  await Promise.all(
    Array.from({ length: files }, (_, i) => fs.writeFile(`/d/f${i}`, new Uint8Array(3000))),
  );
  return { dir, env: { PAGEFS_STORE: "local", PAGEFS_DATA_DIR: dir } };
}

Deno.test("fsck prints progress to stderr and sizes for people; exit 0 when clean", async () => {
  const { dir, env } = await filledStore(40);
  try {
    const c = capture();
    assertEquals(await run(["fsck"], env, c.io), 0, c.err());
    assert(/^OK: 2 directories, 40 files/.test(c.out()), c.out());
    assert(/\d+(\.\d+)? KiB (in use|stored)/.test(c.out()), c.out());
    assert(
      /^fsck: [\d,]+ objects listed \([\d.,]+ (B|KiB)\), [\d,]+ read, [\d.]+ s$/m.test(c.err()),
      c.err(),
    );
    const quiet = capture();
    assertEquals(await run(["fsck", "--quiet", "--json"], env, quiet.io), 0);
    assertEquals(quiet.err(), "");
    assertEquals(JSON.parse(quiet.out()).counts.files, 40);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a corrupt object is a finding with exit 1, never a crash, in fsck and gc", async () => {
  const { dir, env } = await filledStore(3);
  try {
    const store = new LocalStore(dir);
    assertEquals(await run(["gc", "--quiet", "--grace-ms", "0"], env, capture().io), 0);
    assert(await store.head(GC_PENDING_KEY), "gc left its pending set");
    await store.put(GC_PENDING_KEY, new TextEncoder().encode("{garbage"));
    const g = capture();
    assertEquals(await run(["gc", "--quiet"], env, g.io), 1, g.err());
    assert(g.err().includes('Corrupt metadata object "gc-pending"'), g.err());
    assertEquals(g.err().trim().split("\n").length, 1, g.err());
    await store.delete(GC_PENDING_KEY);
    // A corrupt directory: fsck reports it as damage.
    await store.put("d/0000000000000001", new TextEncoder().encode("not json"));
    const f = capture();
    assertEquals(await run(["fsck", "--quiet"], env, f.io), 1, f.err());
    assert(f.out().includes("corrupt-object (error): 1"), f.out());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a store that cannot be reached exits 3 with one line", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close(); // nothing listens there now: connections are refused
  const c = capture();
  const code = await run(["fsck", "--quiet"], {
    PAGEFS_BUCKET: "nowhere",
    AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`,
    AWS_ACCESS_KEY_ID: "x",
    AWS_SECRET_ACCESS_KEY: "x",
  }, c.io);
  assertEquals(code, 3, c.err());
  assert(
    c.err().startsWith("pagefs fsck: could not run: ") && c.err().includes("refused"),
    c.err(),
  );
  assertEquals(c.err().trim().split("\n").length, 1);
});

Deno.test("`deno task fsck --help` and `deno task start --help` exit 0 (the task aliases)", async () => {
  for (const task of ["fsck", "start", "pagefs"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", task, "--help"],
      cwd: ROOT,
      stdin: "null",
      env: { NO_COLOR: "1", PAGEFS_STORE: "memory" },
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, `${task}: ${new TextDecoder().decode(out.stderr)}`);
    assert(text.startsWith("Usage: deno task"), `${task}: ${text}`);
  }
});

Deno.test("`pagefs stats` counts objects by kind; `pagefs compact` reports in sizes for people", async () => {
  const { dir, env } = await filledStore(10);
  try {
    const s = capture();
    assertEquals(await run(["stats", "--json", "--quiet"], env, s.io), 0, s.err());
    const stats = JSON.parse(s.out());
    assertEquals(stats.kinds.directories.objects, 2);
    assert(stats.kinds.segments.objects >= 1 && stats.kinds.segments.bytes >= 30_000, s.out());
    assertEquals(
      stats.objects,
      Object.values(stats.kinds as Record<string, { objects: number }>)
        .reduce((a, k) => a + k.objects, 0),
    );
    const c = capture();
    assertEquals(await run(["compact", "--below", "0.5", "--quiet"], env, c.io), 0, c.err());
    assert(/^compaction \(live < 0\.5\): \d+ segments, .* B live copied/.test(c.out()), c.out());
    assertEquals(await run(["compact", "--below", "3"], env, capture().io), 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("`pagefs auth entry` prints a whole PAGEFS_USERS entry the server accepts", async () => {
  const { Authenticator } = await import("../src/auth/mod.ts");
  const c = capture();
  const io = { ...c.io, readSecret: () => Promise.resolve("s3cret") };
  assertEquals(await run(["auth", "entry", "alice", "--prefix", "/home/alice"], {}, io), 0);
  const entry = c.out().trim();
  assert(/^alice:pbkdf2-sha256\$\d+\$[^:]+:rw:\/home\/alice$/.test(entry), entry);
  const auth = await Authenticator.load({ PAGEFS_USERS: entry });
  assert(auth);
  const t = capture();
  assertEquals(await run(["auth", "entry", "ci", "--token", "--read-only"], {}, t.io), 0);
  const [tokenLine, tokenEntry] = t.out().trim().split("\n");
  assert(tokenLine!.startsWith("token: ") && /^ci:sha256\$[0-9a-f]{64}:ro$/.test(tokenEntry!));
  assert(await Authenticator.load({ PAGEFS_USERS: tokenEntry! }));
  const bad = capture();
  assertEquals(await run(["auth", "entry"], {}, { ...bad.io, readSecret: io.readSecret }), 2);
  assertEquals(await run(["auth"], {}, capture().io), 2);
});

Deno.test("`--metrics-file` writes the run's figures in Prometheus text format", async () => {
  const { dir, env } = await filledStore(5);
  try {
    const file = `${dir}-gc.prom`;
    assertEquals(await run(["gc", "--quiet", "--metrics-file", file], env, capture().io), 0);
    const text = await Deno.readTextFile(file);
    for (
      const line of [
        'pagefs_maintenance_last_run_exit_status{task="gc"} 0',
        "# TYPE pagefs_maintenance_last_run_duration_seconds gauge",
        'pagefs_maintenance_objects_listed{task="gc"}',
      ]
    ) assert(text.includes(line), `${line} missing from:\n${text}`);
    const listed = Number(/objects_listed\{task="gc"\} (\d+)/.exec(text)?.[1]);
    assert(listed >= 2, text);
    await Deno.remove(file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
