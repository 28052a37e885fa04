// Crash trial: a real server process (`main.ts --listen`) takes writes from several clients
// at once, through the HTTP API and WebDAV, and is killed with SIGKILL at a moment chosen by a
// seeded schedule, in the middle of whatever it is doing (group commits, multipart uploads,
// renames). A fresh process on the same store must then show every write that was answered
// 2xx, and for the one request each client had in flight, either its effect or none; after
// the last round fsck finds nothing wrong. On the embedded local store (the default
// configuration) and on real S3.
//
// `CRASH_ROUNDS` (default 3) and `CRASH_SEED` (default: a new one, printed) make a longer or
// a repeated trial: `CRASH_ROUNDS=30 CRASH_SEED=7 deno test -A --filter local
// tests/crash_trial_test.ts`.

import { LocalStore, S3Store } from "../src/store/mod.ts";
import type { ObjectStore } from "../src/store/types.ts";
import { Rng } from "./_model.ts";
import { assertEquals } from "./_assert.ts";
import { fsckCommand } from "./_fsck.ts";
import { startServer, type TestServer } from "./_server.ts";
import { createTestBucket, removeTestBucket, s3Env } from "./_stores.ts";

const ROUNDS = Number(Deno.env.get("CRASH_ROUNDS") ?? 3);
const WORKERS = 6;
/** Files per client, each in the client's own folder. */
const FILES = 4;
const SIZES = [0, 100, 4096, 70_000, 300_000];
/** One PUT in 16 is this large: streamed as a multipart segment (8 MiB parts). */
const LARGE = 12 << 20;

/** What a client knows of one file: its content as last acknowledged (null: absent). */
interface FileState {
  content: Uint8Array | null;
  /** What the file may hold instead, if the request in flight at the crash took effect. */
  maybe: (Uint8Array | null)[];
}

function body(length: number, tag: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (i * 31 + tag) & 0xff;
  return out;
}

function patched(base: Uint8Array | null, offset: number, data: Uint8Array): Uint8Array {
  const old = base ?? new Uint8Array(0);
  const out = new Uint8Array(Math.max(old.length, offset + data.length));
  out.set(old);
  out.set(data, offset);
  return out;
}

const same = (a: Uint8Array | null, b: Uint8Array | null) =>
  a === null || b === null ? a === b : a.length === b.length && a.every((v, i) => v === b[i]);

class Trial {
  readonly files = new Map<string, FileState>();
  readonly log: string[] = [];
  acknowledged = 0;
  server: TestServer | null = null;

  constructor(readonly rng: Rng) {}

  state(path: string): FileState {
    let st = this.files.get(path);
    if (!st) this.files.set(path, st = { content: null, maybe: [] });
    return st;
  }

  /** One client: operations on its own files, one at a time, until `stop.now`. */
  async client(w: number, stop: { now: boolean }, rng: Rng): Promise<void> {
    const url = this.server!.url;
    const dir = `/w${w}`;
    await fetch(`${url}/dav${dir}/`, { method: "MKCOL" }).then((r) => r.body?.cancel())
      .catch(() => {});
    while (!stop.now) {
      const path = `${dir}/f${rng.int(FILES)}`;
      const st = this.state(path);
      const to = `${dir}/f${rng.int(FILES)}`;
      const other = this.state(to);
      const pick = rng.int(10);
      const tag = rng.int(256);
      // Each change: the request, then what each file it touches holds once it took effect.
      let send: () => Promise<Response>;
      let effects: [FileState, Uint8Array | null][];
      if (pick < 4 || st.content === null) {
        const data = body(rng.int(16) === 0 ? LARGE : SIZES[rng.int(SIZES.length)]!, tag);
        send = pick % 2
          ? () => fetch(`${url}/api/v1/fs${path}?parents=1`, { method: "PUT", body: data })
          : () => fetch(`${url}/dav${path}`, { method: "PUT", body: data });
        effects = [[st, data]];
      } else if (pick < 7) {
        const offset = rng.int(st.content.length + 4096);
        const data = body(1 + rng.int(9000), tag);
        const range = `bytes ${offset}-${offset + data.length - 1}/*`;
        send = () =>
          fetch(`${url}/api/v1/fs${path}`, {
            method: "PATCH",
            headers: { "content-range": range },
            body: data,
          });
        effects = [[st, patched(st.content, offset, data)]];
      } else if (pick < 9 && other !== st) {
        send = pick === 7
          ? () =>
            fetch(`${url}/api/v1/fs${path}`, {
              method: "POST",
              headers: { "content-type": "application/json" },
              body: JSON.stringify({ op: "rename", to }),
            })
          : () =>
            fetch(`${url}/dav${path}`, {
              method: "MOVE",
              headers: { destination: `${url}/dav${to}`, overwrite: "T" },
            });
        effects = [[st, null], [other, st.content]];
      } else {
        send = () => fetch(`${url}/api/v1/fs${path}`, { method: "DELETE" });
        effects = [[st, null]];
      }
      for (const [file, after] of effects) file.maybe.push(after);
      let status: number;
      try {
        const res = await send();
        await res.body?.cancel();
        status = res.status;
      } catch (error) {
        if (stop.now) return; // Killed: the request stays in flight (maybe).
        throw error;
      }
      if (status < 200 || status > 299) {
        throw new Error(`${path}: answered ${status} with nobody else writing it`);
      }
      for (const [file, after] of effects) {
        file.content = after;
        file.maybe = [];
      }
      this.acknowledged++;
    }
  }

  /** Every file holds what was acknowledged, or what the request in flight would make it. */
  async check(round: number): Promise<string[]> {
    const lost: string[] = [];
    for (const [path, st] of this.files) {
      const res = await fetch(`${this.server!.url}/api/v1/fs${path}`);
      let got: Uint8Array | null = null;
      if (res.status === 200) got = new Uint8Array(await res.arrayBuffer());
      else await res.body?.cancel();
      if (res.status !== 200 && res.status !== 404) {
        lost.push(`round ${round}: GET ${path} answered ${res.status}`);
        continue;
      }
      if (!same(got, st.content) && !st.maybe.some((m) => same(got, m))) {
        lost.push(
          `round ${round}: ${path} holds ${got?.length ?? "nothing"} bytes; acknowledged ` +
            `${st.content?.length ?? "nothing"}, in flight ${
              st.maybe.map((m) => m?.length ?? "removed").join(" or ") || "none"
            }`,
        );
      }
      st.content = got;
      st.maybe = [];
    }
    return lost;
  }
}

async function crashTrial(
  start: () => Promise<TestServer>,
  store: ObjectStore,
): Promise<void> {
  const seed = Number(Deno.env.get("CRASH_SEED") ?? Math.floor(Math.random() * 1e9));
  console.log(`crash trial seed ${seed} (CRASH_SEED=${seed} repeats the schedule)`);
  const rng = new Rng(seed);
  const trial = new Trial(rng);
  const lost: string[] = [];
  try {
    trial.server = await start();
    for (let round = 1; round <= ROUNDS; round++) {
      const stop = { now: false };
      const clients = Array.from(
        { length: WORKERS },
        (_, w) => trial.client(w, stop, new Rng(seed * 100 + round * 10 + w)),
      );
      await new Promise((resolve) => setTimeout(resolve, 200 + rng.int(1500)));
      stop.now = true;
      await trial.server.kill();
      const ended = await Promise.allSettled(clients);
      for (const e of ended) if (e.status === "rejected") throw e.reason;
      await trial.server.close();
      trial.server = await start();
      lost.push(...await trial.check(round));
    }
  } finally {
    await trial.server?.close();
  }
  assertEquals(lost, [], `seed ${seed}`);
  console.log(`crash trial: ${ROUNDS} kills, ${trial.acknowledged} writes acknowledged, 0 lost`);
  const { problems } = await fsckCommand(store, [], 0);
  assertEquals(problems.filter((p) => p.severity === "error"), [], `seed ${seed}: fsck`);
}

Deno.test("crash trial: SIGKILL under concurrent writes on the local store loses nothing acknowledged", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pagefs-crash-" });
  try {
    await crashTrial(
      () => startServer({ store: "local", env: { PAGEFS_DATA_DIR: dir } }),
      new LocalStore(dir),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "crash trial: SIGKILL under concurrent writes on S3 loses nothing acknowledged",
  ignore: s3Env() === null,
  async fn() {
    const bucket = await createTestBucket();
    const s3 = s3Env()!;
    try {
      await crashTrial(
        () => startServer({ bucket }),
        new S3Store({
          bucket,
          endpoint: s3.endpoint,
          region: s3.region,
          credentials: s3.credentials,
          forcePathStyle: true,
        }),
      );
    } finally {
      await removeTestBucket(bucket);
    }
  },
});
