// Test helpers: real WebDAV clients (litmus, cadaver, rclone, davfs2) driven against a
// WebDAV base URL, each returning what it found as data. Validated against
// `rclone serve webdav`; tests/dav_clients_test.ts points them at PageFS's /dav/.

/** The outcome of one external command. */
interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** Runs a command to its end, or kills it (SIGKILL) after `timeoutMs`. */
async function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {},
): Promise<Ran> {
  const child = new Deno.Command(command, {
    args: [...args],
    ...(options.cwd ? { cwd: options.cwd } : {}),
    env: { NO_COLOR: "1", LC_ALL: "C.UTF-8", ...options.env },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch {
      // Exited just now.
    }
  }, options.timeoutMs ?? 120_000);
  const writing = (async () => {
    const writer = child.stdin.getWriter();
    try {
      if (options.stdin) await writer.write(new TextEncoder().encode(options.stdin));
      await writer.close();
    } catch {
      // The command exited without reading its input: its output says why.
    }
  })();
  try {
    const out = await child.output();
    await writing;
    const decoder = new TextDecoder();
    return {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** One line that says how a command ended, for failure lists. */
function describe(what: string, ran: Ran): string {
  const how = ran.timedOut ? "timed out" : `exited with status ${ran.code}`;
  const said = (ran.stderr.trim() || ran.stdout.trim()).split("\n").slice(-8).join("\n");
  return `${what} ${how}${said ? `: ${said}` : ""}`;
}

/**
 * Where a client's program is installed, or null. Looks in PATH and in the sbin directories,
 * which a non-root PATH often lacks (mount.davfs lives in /usr/sbin).
 */
export function findProgram(name: string): string | null {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":"), "/usr/sbin", "/sbin"];
  for (const dir of dirs.filter((d) => d !== "")) {
    try {
      const info = Deno.statSync(`${dir}/${name}`);
      if (info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0) return `${dir}/${name}`;
    } catch {
      // Not in this one.
    }
  }
  return null;
}

/** The clients this module drives, by the program each needs. */
export const CLIENT_PROGRAMS = {
  litmus: "litmus",
  cadaver: "cadaver",
  rclone: "rclone",
  davfs2: "mount.davfs",
} as const;

/**
 * Why `client` cannot run on this machine, or null when it can: a missing program, or for
 * davfs2 also missing root or /dev/fuse (a davfs2 mount needs both).
 */
export function clientUnavailable(client: keyof typeof CLIENT_PROGRAMS): string | null {
  const program = CLIENT_PROGRAMS[client];
  if (!findProgram(program)) {
    return `"${program}" is not installed (infra/dav-clients.sh install)`;
  }
  if (client === "davfs2") {
    if (Deno.uid() !== 0) return "davfs2 needs root to mount";
    try {
      Deno.statSync("/dev/fuse");
    } catch {
      return "davfs2 needs /dev/fuse";
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------
// litmus

/** litmus's test groups (programs in /usr/libexec/litmus), in the order it runs them. */
export const LITMUS_GROUPS = ["basic", "copymove", "props", "locks", "http"] as const;

export interface LitmusCounts {
  passed: number;
  failed: number;
  warnings: number;
  skipped: number;
}

export interface LitmusResult {
  /** Per group, as litmus's own summary lines give them. */
  groups: Record<string, LitmusCounts>;
  /** "group: N. test: reason" for every FAIL, WARNING, and group that did not finish. */
  failures: string[];
  output: string;
}

/**
 * Reads litmus's output. Without a TTY each result line is "\r N. name.... \r N. name....
 * pass", so only the text after the last carriage return of a line counts. A group that
 * ends without its summary line (a crash, a dropped connection) is counted from its result
 * lines and reported as a failure.
 */
export function parseLitmus(output: string, expected: readonly string[] = []): LitmusResult {
  const lines = output.split("\n").map((line) => line.slice(line.lastIndexOf("\r") + 1));
  const groups: Record<string, LitmusCounts> = {};
  const failures: string[] = [];
  const summarised = new Set<string>();
  let group = "";
  const counts = () => groups[group] ??= { passed: 0, failed: 0, warnings: 0, skipped: 0 };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    let m;
    if ((m = line.match(/^-> running `([^']+)':/))) {
      group = m[1]!;
      counts();
    } else if (
      (m = line.match(/^<- summary for `([^']+)': of (\d+) tests run: (\d+) passed, (\d+) failed/))
    ) {
      group = m[1]!;
      summarised.add(group);
      Object.assign(counts(), { passed: Number(m[3]), failed: Number(m[4]) });
    } else if ((m = line.match(/^-> (\d+) tests? (?:was|were) skipped/))) {
      counts().skipped = Number(m[1]);
    } else if ((m = line.match(/^-> (\d+) warnings? (?:was|were) issued/))) {
      counts().warnings = Number(m[1]);
    } else if ((m = line.match(/^\s*(\d+)\.\s+(\S+?)\.*\s+FAIL \((.*)$/))) {
      // The reason may span lines; it ends with the ")" litmus closes it with.
      let reason = m[3]!;
      while (!reason.endsWith(")") && i + 1 < lines.length && !/^\s*\d+\./.test(lines[i + 1]!)) {
        reason += ` ${lines[++i]!.trim()}`;
      }
      failures.push(`${group}: ${m[1]}. ${m[2]}: ${reason.replace(/\)$/, "").trim()}`);
      if (!summarised.has(group)) counts().failed++;
    } else if ((m = line.match(/^\s*(\d+)\.\s+(\S+?)\.*\s+(WARNING: .*)$/))) {
      failures.push(`${group}: ${m[1]}. ${m[2]}: ${m[3]}`);
    } else if (/^\s*\d+\.\s+\S+?\.*\s+pass\b/.test(line) && !summarised.has(group)) {
      counts().passed++;
    } else if (/^\s*\d+\.\s+\S+?\.*\s+SKIPPED\b/.test(line) && !summarised.has(group)) {
      counts().skipped++;
    } else if (/^\s+\.+ pass/.test(line) && !summarised.has(group)) {
      counts().passed++; // the result of a test that printed a warning first
    }
  }
  for (const name of new Set([...expected, ...Object.keys(groups)])) {
    if (!summarised.has(name)) {
      groups[name] ??= { passed: 0, failed: 0, warnings: 0, skipped: 0 };
      failures.push(`${name}: the group did not finish (no summary line)`);
    }
  }
  return { groups, failures, output };
}

/**
 * Runs litmus on `url` (a collection URL ending in "/"; litmus works in `litmus/` below it,
 * so it should be empty) with every group (`-k`: a failing group does not stop the rest).
 * litmus writes debug.log and child.log (the HTTP traces) into `workdir`, default a
 * temporary directory that is removed afterwards.
 *
 * @example
 * ```ts ignore
 * const { groups, failures } = await runLitmus("http://127.0.0.1:8080/dav/");
 * console.log(groups.basic, failures);
 * ```
 */
export async function runLitmus(
  url: string,
  options: { groups?: readonly string[]; workdir?: string; timeoutMs?: number } = {},
): Promise<LitmusResult> {
  const groups = options.groups ?? LITMUS_GROUPS;
  const workdir = options.workdir ?? await Deno.makeTempDir({ prefix: "pagefs-litmus-" });
  try {
    const ran = await run("litmus", ["-k", url], {
      cwd: workdir,
      env: { TESTS: groups.join(" ") },
      timeoutMs: options.timeoutMs ?? 120_000,
    });
    const result = parseLitmus(ran.stdout + ran.stderr, groups);
    if (ran.timedOut) result.failures.push(describe("litmus", ran));
    return result;
  } finally {
    if (!options.workdir) await Deno.remove(workdir, { recursive: true });
  }
}

// ---------------------------------------------------------------------------------------
// cadaver

export interface CadaverResult {
  ok: boolean;
  transcript: string;
  /** "command: what went wrong", one per failed step or check. */
  failures: string[];
}

/**
 * One cadaver command and what must hold of its output besides the default (cadaver says
 * "succeeded." and nothing says "failed" or "Could not").
 */
interface Step {
  readonly command: string;
  readonly check?: (output: string) => string | null;
}

/** The names in an `ls` listing (cadaver prints "  name   size  date", "Coll: name" for dirs). */
function listed(output: string): string[] {
  return output.split("\n").slice(1).map((line) => line.match(/^(?:Coll:)?\s+(\S+)\s+\d+\s/)?.[1])
    .filter((name): name is string => name !== undefined).sort();
}

const lists = (names: string[]) => (output: string) => {
  const got = listed(output);
  return got.join(" ") === names.join(" ")
    ? null
    : `listed [${got.join(", ")}], expected [${names.join(", ")}]`;
};

const silentOk = (output: string) => /failed|Could not|not WebDAV/i.test(output) ? output : null;

/**
 * A scripted cadaver session in a collection `cadaver/` it creates below `url`: mkcol, put,
 * get (bytes compared), a dead property set and read back, lock (seen by lock discovery,
 * the owner may still write), unlock, copy, move, ls, delete, rmcol. cadaver reads the
 * script from stdin and echoes each command after its prompt, so the transcript splits
 * into one block per command. `workdir` holds the local files (and is cadaver's HOME, so no
 * ~/.cadaverrc or ~/.netrc of the user's applies).
 *
 * @example
 * ```ts ignore
 * const { ok, failures } = await runCadaver("http://127.0.0.1:8080/dav/", "/tmp/work");
 * ```
 */
export async function runCadaver(url: string, workdir: string): Promise<CadaverResult> {
  const first = "cadaver put, first version\n";
  const second = `second version ${"x".repeat(5000)}\n`;
  await Deno.writeTextFile(`${workdir}/one.txt`, first);
  await Deno.writeTextFile(`${workdir}/two.txt`, second);
  const steps: Step[] = [
    { command: "mkcol cadaver" },
    { command: "cd cadaver", check: silentOk },
    { command: "put one.txt a.txt" },
    { command: "get a.txt got-a1.txt" },
    { command: "propset a.txt colour blue-42" },
    {
      command: "propget a.txt colour",
      check: (out) => /Value of colour is: blue-42\s*$/m.test(out) ? null : "value not echoed",
    },
    { command: "lock a.txt" },
    {
      command: "discover a.txt",
      check: (out) => /Lock token </.test(out) ? null : "lock discovery shows no lock",
    },
    { command: "put two.txt a.txt" },
    { command: "unlock a.txt" },
    {
      command: "discover a.txt",
      check: (out) => /no locks found/.test(out) ? null : "a lock is left after unlock",
    },
    { command: "get a.txt got-a2.txt" },
    { command: "copy a.txt b.txt" },
    { command: "move b.txt c.txt" },
    { command: "ls", check: lists(["a.txt", "c.txt"]) },
    { command: "get c.txt got-c.txt" },
    { command: "delete a.txt" },
    { command: "ls", check: lists(["c.txt"]) },
    { command: "cd ..", check: silentOk },
    { command: "rmcol cadaver" },
    {
      command: "ls",
      check: (out) => listed(out).includes("cadaver") ? "cadaver/ is still listed" : null,
    },
  ];
  for (const name of ["got-a1.txt", "got-a2.txt", "got-c.txt"]) {
    await Deno.remove(`${workdir}/${name}`).catch(() => {});
  }
  const ran = await run("cadaver", [url], {
    cwd: workdir,
    env: { HOME: workdir, PAGER: "cat" },
    stdin: [...steps.map((s) => s.command), "quit", ""].join("\n"),
    timeoutMs: 60_000,
  });
  const transcript = ran.stdout + ran.stderr;
  const failures: string[] = [];
  if (ran.code !== 0 || ran.timedOut) failures.push(describe("cadaver", ran));

  // Blocks: the text before the first prompt, then one per echoed command.
  const parts = transcript.split(/^dav:.*?> /m);
  const preamble = parts[0] ?? "";
  if (/Could not|failed/i.test(preamble)) failures.push(`connect: ${preamble.trim()}`);
  steps.forEach((step, i) => {
    const block = parts[i + 1];
    if (block === undefined) return failures.push(`${step.command}: no output (cadaver stopped)`);
    const [echo = "", ...rest] = block.split("\n");
    const output = rest.join("\n").trim();
    if (echo.trim() !== step.command) {
      return failures.push(`${step.command}: transcript out of step (saw "${echo}")`);
    }
    const problem = step.check
      ? step.check(output)
      : /succeeded\./.test(output) && !/failed|Could not/i.test(output)
      ? null
      : output || "no answer";
    if (problem) failures.push(`${step.command}: ${problem.replace(/\s+/g, " ").trim()}`);
  });

  for (
    const [name, want] of [["got-a1.txt", first], ["got-a2.txt", second], ["got-c.txt", second]]
  ) {
    const got = await Deno.readTextFile(`${workdir}/${name}`).catch(() => null);
    if (got !== want) {
      failures.push(
        `get ${name}: ${got === null ? "no file" : `${got.length} bytes differ from the put ones`}`,
      );
    }
  }
  return { ok: failures.length === 0, transcript, failures };
}

// ---------------------------------------------------------------------------------------
// Test trees

const MiB = 1024 * 1024;

/** Deterministic pseudo-random bytes (xorshift32), so a failure reproduces. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * Writes a test tree into `dir` (created if missing): nested directories, 50 files of sizes
 * 0, 1, 4095, 4096, 4097, 1 MiB ± 1 and 9 MiB + 7 among small ones, names with spaces, "#",
 * "%", "&", "+", quotes, CJK, and "é" as NFC and as NFD (two different files, as on ext4).
 * The same every time.
 */
export async function makeTestTree(dir: string): Promise<{ files: number; bytes: number }> {
  const nfc = "caf\u00e9";
  const nfd = "cafe\u0301";
  const files: [string, number][] = [
    ["empty", 0],
    ["one-byte", 1],
    ["page-minus-one.bin", 4095],
    ["page.bin", 4096],
    ["page-plus-one.bin", 4097],
    ["a/b/c/mebibyte.bin", MiB],
    ["a/b/mebibyte-plus-one.bin", MiB + 1],
    ["a/mebibyte-minus-one.bin", MiB - 1],
    ["big/nine-mebibytes.bin", 9 * MiB + 7],
    ["name with spaces.txt", 321],
    ["dir with spaces/inner file.txt", 5000],
    ["hash#name.txt", 17],
    ["dir#hash/file#1.txt", 18],
    ["percent%name.txt", 19],
    ["percent%20encoded-looking.txt", 20],
    ["dir%25/file.txt", 21],
    ["amp&plus+equals=semi;.txt", 22],
    ["quote'bracket[1]~tilde.txt", 23],
    [`${nfc}.txt`, 30],
    [`${nfd}.txt`, 31],
    [`${nfc}/inside-nfc.txt`, 32],
    ["日本語/ファイル.txt", 33],
  ];
  for (let i = 0; files.length < 50; i++) {
    const where = ["", "a/", "a/b/", "small/", "small/deeper/"][i % 5]!;
    files.push([`${where}small-${String(i).padStart(2, "0")}.dat`, (i * 7919) % 20000]);
  }
  let bytes = 0;
  for (const [i, [path, size]] of files.entries()) {
    const full = `${dir}/${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    await Deno.writeFile(full, noise(size, i + 1));
    bytes += size;
  }
  await Deno.mkdir(`${dir}/empty dir`, { recursive: true });
  return { files: files.length, bytes };
}

/** Every entry below `dir`, relative, "/"-joined, with directories ending in "/". */
async function walk(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(`${dir}/${prefix}`)) {
    const rel = `${prefix}${entry.name}`;
    if (entry.isDirectory) out.push(`${rel}/`, ...await walk(dir, `${rel}/`));
    else out.push(rel);
  }
  return out;
}

/**
 * How `actual` differs from `expected`: entries missing or extra (names compared exactly,
 * no Unicode normalisation), and files whose bytes differ (with the first differing offset).
 * Empty when the trees are identical.
 */
export async function compareTrees(expected: string, actual: string): Promise<string[]> {
  const want = new Set(await walk(expected));
  const got = new Set(await walk(actual).catch(() => []));
  const differences: string[] = [];
  for (const path of want) {
    if (!got.has(path)) {
      differences.push(`missing: ${JSON.stringify(path)}`);
    } else if (!path.endsWith("/")) {
      const read = (root: string) =>
        Deno.readFile(`${root}/${path}`).catch((error: Error) => error.message);
      const [a, b] = await Promise.all([read(expected), read(actual)]);
      if (typeof a === "string" || typeof b === "string") {
        differences.push(`unreadable: ${JSON.stringify(path)}: ${typeof b === "string" ? b : a}`);
        continue;
      }
      let at = 0;
      while (at < a.length && at < b.length && a[at] === b[at]) at++;
      if (at < a.length || at < b.length) {
        differences.push(
          `differs: ${JSON.stringify(path)}: ${b.length} bytes, expected ${a.length}, ` +
            `first difference at ${at}`,
        );
      }
    }
  }
  for (const path of got) if (!want.has(path)) differences.push(`extra: ${JSON.stringify(path)}`);
  return differences;
}

// ---------------------------------------------------------------------------------------
// rclone

export interface RcloneResult {
  /** Files below pagefs:tree after the upload, as rclone lists them. */
  uploaded: number;
  checkOutput: string;
  /** From `rclone check --download`'s "N differences found"; -1 when it said nothing. */
  differences: number;
  /** The download of pagefs:tree equals `localTree` byte for byte, names and all. */
  roundTripIdentical: boolean;
  /** Commands that failed and differences found, for the assertion message. */
  failures: string[];
}

/**
 * Uploads `localTree` with `rclone copy` to `tree/` below `url` (a webdav remote "pagefs"
 * configured by environment variables only, vendor "other"), verifies it with
 * `rclone check --download` (both directions, content compared), downloads it again and
 * compares that with the original. Retries are off, so a failed request is not hidden, and
 * Unicode normalisation is off, so NFC and NFD names stay two files.
 *
 * @example
 * ```ts ignore
 * const r = await rcloneRoundTrip("http://127.0.0.1:8080/dav/", "/tmp/tree", "/tmp/work");
 * ```
 */
export async function rcloneRoundTrip(
  url: string,
  localTree: string,
  workdir: string,
): Promise<RcloneResult> {
  await Deno.mkdir(`${workdir}/rclone`, { recursive: true });
  const config = `${workdir}/rclone/rclone.conf`;
  await Deno.writeTextFile(config, "");
  const env = {
    HOME: `${workdir}/rclone`,
    RCLONE_CONFIG: config,
    RCLONE_CACHE_DIR: `${workdir}/rclone/cache`,
    RCLONE_CONFIG_PAGEFS_TYPE: "webdav",
    RCLONE_CONFIG_PAGEFS_URL: url,
    RCLONE_CONFIG_PAGEFS_VENDOR: "other",
  };
  const common = ["--retries", "1", "--low-level-retries", "1", "--no-unicode-normalization"];
  const rclone = (...args: string[]) => run("rclone", [...args, ...common], { env });
  const failures: string[] = [];

  const copied = await rclone("copy", localTree, "pagefs:tree");
  if (copied.code !== 0) failures.push(describe("rclone copy (upload)", copied));

  const listing = await rclone("lsf", "-R", "--files-only", "pagefs:tree");
  if (listing.code !== 0) failures.push(describe("rclone lsf", listing));
  const uploaded = listing.stdout.split("\n").filter((line) => line !== "").length;

  const check = await rclone("check", "--download", localTree, "pagefs:tree");
  const checkOutput = check.stdout + check.stderr;
  const found = checkOutput.match(/(\d+) differences found/);
  const differences = found ? Number(found[1]) : -1;
  if (check.code !== 0 || differences !== 0) failures.push(describe("rclone check", check));

  const back = `${workdir}/rclone/back`;
  await Deno.remove(back, { recursive: true }).catch(() => {});
  const downloaded = await rclone("copy", "pagefs:tree", back);
  if (downloaded.code !== 0) failures.push(describe("rclone copy (download)", downloaded));
  const diff = await compareTrees(localTree, back);
  // rclone copies no empty directories unless asked; the file tree is what must match.
  const differing = diff.filter((d) => !/^(missing|extra): ".*\/"$/.test(d));
  failures.push(...differing.map((d) => `round trip: ${d}`));
  return {
    uploaded,
    checkOutput,
    differences,
    roundTripIdentical: differing.length === 0 && downloaded.code === 0,
    failures,
  };
}

// ---------------------------------------------------------------------------------------
// davfs2

/** The mount.davfs process serving `mountPoint`, found by its command line. */
async function davfsPid(mountPoint: string): Promise<number | null> {
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const argv = await Deno.readTextFile(`/proc/${entry.name}/cmdline`).catch(() => "");
    const [program, ...args] = argv.split("\0");
    if (program?.endsWith("mount.davfs") && args.includes(mountPoint)) return Number(entry.name);
  }
  return null;
}

async function gone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      await Deno.stat(`/proc/${pid}`);
    } catch {
      return true;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

const isMounted = async (mountPoint: string) =>
  (await Deno.readTextFile("/proc/mounts")).split("\n").some((line) =>
    line.split(" ")[1] === mountPoint.replace(/ /g, "\\040")
  );

/**
 * A davfs2 mount of a URL under `workdir`, with its own config, empty secrets file and
 * cache directory, so nothing of the machine's davfs2 setup applies and it never prompts.
 */
async function mountDavfs(url: string, workdir: string, name: string) {
  const dir = `${workdir}/davfs2`;
  const mountPoint = `${dir}/${name}`;
  const cache = `${dir}/cache-${name}`;
  await Deno.mkdir(mountPoint, { recursive: true });
  // The davfs2 user must reach the cache directory: let it traverse (not list) the way there.
  // A temporary directory is 0700, so this matters for the usual `workdir`.
  await Deno.chmod(workdir, 0o711);
  await Deno.chmod(dir, 0o711);
  // mount.davfs drops to the user davfs2, and insists on a cache directory of group davfs2
  // with rwx for the group; it creates its own subdirectory there.
  await Deno.mkdir(cache, { recursive: true });
  const chown = await run("chown", ["root:davfs2", cache]);
  if (chown.code !== 0) throw new Error(describe("chown root:davfs2 (cache directory)", chown));
  await Deno.chmod(cache, 0o775);
  await Deno.writeTextFile(`${dir}/secrets`, "");
  await Deno.chmod(`${dir}/secrets`, 0o600);
  await Deno.writeTextFile(
    `${dir}/davfs2.conf`,
    [
      "buf_size 64", // this kernel's FUSE rejects davfs2's default (16 KiB) read size
      "use_locks 1",
      "ask_auth 0",
      "delay_upload 0",
      `cache_dir ${cache}`,
      `secrets ${dir}/secrets`,
      "",
    ].join("\n"),
  );
  const mounted = await run("mount", [
    "-t",
    "davfs",
    "-o",
    `conf=${dir}/davfs2.conf`,
    url,
    mountPoint,
  ], { stdin: "\n\n", timeoutMs: 30_000 });
  if (mounted.code !== 0 || !await isMounted(mountPoint)) {
    throw new Error(describe(`mount -t davfs ${url}`, mounted));
  }
  const pid = await davfsPid(mountPoint);

  /** Unmounts, and waits until mount.davfs has uploaded its cache and exited. */
  const unmount = async () => {
    const ran = await run("umount", [mountPoint], { timeoutMs: 120_000 });
    if (ran.code !== 0) {
      // Leave no mount behind: detach it, and end the daemon we started.
      await run("umount", ["-l", mountPoint]);
      if (pid !== null) await run("kill", ["-KILL", String(pid)]);
      throw new Error(describe(`umount ${mountPoint}`, ran));
    }
    if (pid !== null && !await gone(pid, 120_000)) {
      throw new Error(`mount.davfs (pid ${pid}) did not exit after umount`);
    }
  };
  return { mountPoint, unmount };
}

/**
 * Mounts `url` with davfs2, copies `localTree` into `tree/` with `cp -r`, syncs, unmounts
 * (waiting for davfs2 to upload everything and exit), mounts again with an empty cache,
 * and compares `tree/` with `localTree` byte for byte. Needs root, /dev/fuse and the
 * davfs2 user and group that Debian's package creates.
 *
 * @example
 * ```ts ignore
 * const { identical, details } = await davfs2RoundTrip(url, "/tmp/tree", "/tmp/work");
 * ```
 */
export async function davfs2RoundTrip(
  url: string,
  localTree: string,
  workdir: string,
): Promise<{ identical: boolean; details: string }> {
  try {
    const first = await mountDavfs(url, workdir, "mnt-write");
    try {
      const copied = await run("cp", ["-r", localTree, `${first.mountPoint}/tree`], {
        timeoutMs: 120_000,
      });
      if (copied.code !== 0) return { identical: false, details: describe("cp -r", copied) };
      const synced = await run("sync", [], { timeoutMs: 60_000 });
      if (synced.code !== 0) return { identical: false, details: describe("sync", synced) };
    } finally {
      await first.unmount();
    }
    const second = await mountDavfs(url, workdir, "mnt-read");
    let differences: string[];
    try {
      differences = await compareTrees(localTree, `${second.mountPoint}/tree`);
    } finally {
      await second.unmount();
    }
    return {
      identical: differences.length === 0,
      details: differences.length === 0
        ? "identical after unmount and a fresh mount"
        : differences.join("\n"),
    };
  } catch (error) {
    return { identical: false, details: error instanceof Error ? error.message : String(error) };
  }
}
