// Local-specific behaviour of LocalStore: key-to-file mapping, locking between instances and
// processes, crash leftovers and streaming. The shared semantics belong to the backend suite.

import { assert, assertEquals, assertRejects } from "../../tests/_assert.ts";
import { compareKeys, readAll } from "./_util.ts";
import { LocalStore } from "./local.ts";
import { type GetResult, StoreError } from "./types.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

async function rejectsWith(kind: string, fn: () => Promise<unknown>): Promise<void> {
  const error = await assertRejects(fn);
  assert(error instanceof StoreError && error.kind === kind, `expected ${kind}: ${error}`);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "pagefs-local-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function read(store: LocalStore, key: string): Promise<Uint8Array | null> {
  const result = await store.get(key);
  return result?.status === "ok" ? await readAll(result.body) : null;
}

async function listAll(store: LocalStore, prefix?: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.list({
      ...(prefix === undefined ? {} : { prefix }),
      ...(cursor === null ? {} : { cursor }),
    });
    keys.push(...page.objects.map((o) => o.key));
    cursor = page.cursor;
  } while (cursor !== null);
  return keys;
}

async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    out.push(entry.name);
    if (entry.isDirectory) out.push(...await tree(`${dir}/${entry.name}`));
  }
  return out;
}

const longSegment = "s".repeat(300);
const ODD_KEYS = [
  "a",
  "a/b",
  "a//b",
  "/x",
  "...",
  ".../escape",
  "%2F",
  "A",
  "with space+plus%",
  "ünïcødé/日本",
  "trailing.",
  "trailing/",
  `${"p/".repeat(200)}${longSegment}${"q".repeat(1000 - 400 - 300)}`,
];

Deno.test("LocalStore stores odd keys as distinct files inside the root", async () => {
  await withDir(async (parent) => {
    const root = `${parent}/store`;
    const store = new LocalStore(root);
    assertEquals(new TextEncoder().encode(ODD_KEYS.at(-1)!).length, 1000);
    for (const key of ODD_KEYS) await store.put(key, bytes(`value of ${key}`));
    for (const key of ODD_KEYS) assertEquals(text((await read(store, key))!), `value of ${key}`);
    const listed = await listAll(store);
    assertEquals(listed, [...ODD_KEYS].sort(compareKeys));
    assertEquals(await listAll(store, "a/"), ["a//b", "a/b"]);
    assertEquals(await listAll(store, "p/p/"), [ODD_KEYS.at(-1)!]);
    const page = await store.list({ prefix: "a", delimiter: "/" });
    assertEquals(page.objects.map((o) => o.key), ["a"]);
    assertEquals(page.prefixes, ["a/"]);
    // Dot segments are refused before they reach the file system.
    for (const key of ["..", "../escape", "./.", "."]) {
      const error = await store.put(key, bytes("x")).then(() => null, (e) => e);
      assertEquals(error?.kind, "invalid", key);
    }
    // Nothing escaped: the parent holds only the root.
    assertEquals([...Deno.readDirSync(parent)].map((e) => e.name), ["store"]);
    for (const key of ODD_KEYS) await store.delete(key);
    assertEquals(await listAll(store), []);
    // Deleting pruned every folder the keys created.
    const left = [...Deno.readDirSync(root)].map((e) => e.name).filter((n) => !n.startsWith("."));
    assertEquals(left, []);
  });
});

Deno.test("LocalStore keeps keys that differ only in case or Unicode form apart", async () => {
  await withDir(async (root) => {
    const store = new LocalStore(root);
    const keys = ["Key", "key", "KEY", "caf\u00e9", "cafe\u0301"];
    for (const key of keys) await store.put(key, bytes(key));
    for (const key of keys) assertEquals(text((await read(store, key))!), key);
    assertEquals((await listAll(store)).length, keys.length);
    // Stored names are ASCII with upper case only in escapes, whatever the filesystem folds.
    for (const name of await tree(root)) assert(/^([a-z0-9._-]|%[0-9A-F]{2})+$/.test(name), name);
  });
});

Deno.test("LocalStore rejects keys with lone surrogates", async () => {
  await withDir(async (root) => {
    await rejectsWith("invalid", () => new LocalStore(root).put("a\ud800", bytes("x")));
  });
});

Deno.test("LocalStore lets exactly one of 16 racing creates win across two instances", async () => {
  await withDir(async (root) => {
    const stores = [new LocalStore(root), new LocalStore(root)];
    // Several rounds: without the file lock the two instances' queues interleave.
    for (let round = 0; round < 20; round++) {
      const key = `lock${round}`;
      const results = await Promise.allSettled(
        Array.from(
          { length: 16 },
          (_, i) => stores[i % 2]!.put(key, bytes(`writer ${i}`), { mode: { kind: "create" } }),
        ),
      );
      const won = results.flatMap((r, i) => (r.status === "fulfilled" ? [i] : []));
      assertEquals(won.length, 1, `round ${round}`);
      for (const r of results) {
        if (r.status === "rejected") {
          assertEquals((r.reason as StoreError).kind, "precondition-failed");
        }
      }
      assertEquals(text((await read(stores[1]!, key))!), `writer ${won[0]}`);
      const winner = results[won[0]!] as PromiseFulfilledResult<{ etag: string }>;
      assertEquals((await stores[0]!.head(key))?.etag, winner.value.etag);
    }
  });
});

Deno.test("LocalStore loses no If-Match update between processes", async () => {
  await withDir(async (root) => {
    const script = `${root}/.worker.ts`;
    await Deno.writeTextFile(
      script,
      `import { LocalStore } from ${JSON.stringify(new URL("./local.ts", import.meta.url).href)};
const [dir, times] = Deno.args;
const store = new LocalStore(dir!);
for (let done = 0; done < Number(times);) {
  const got = await store.get("counter");
  if (got?.status !== "ok") throw new Error("counter missing");
  const value = Number(new TextDecoder().decode(await new Response(got.body).bytes()));
  try {
    const body = new TextEncoder().encode(String(value + 1));
    await store.put("counter", body, { mode: { kind: "replace", etag: got.info.etag } });
    done++;
  } catch (error) {
    if (error?.kind !== "precondition-failed") throw error;
  }
}
`,
    );
    const store = new LocalStore(root);
    await store.put("counter", bytes("0"), { mode: { kind: "create" } });
    const workers = 3, times = 40;
    const outputs = await Promise.all(
      Array.from({ length: workers }, () =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "--allow-all", "--no-config", "--quiet", script, root, String(times)],
          stdout: "piped",
          stderr: "piped",
        }).output()),
    );
    for (const out of outputs) assert(out.success, new TextDecoder().decode(out.stderr));
    assertEquals(text((await read(store, "counter"))!), String(workers * times));
  });
});

Deno.test("LocalStore hides temp files and unfinished uploads left by a crash", async () => {
  await withDir(async (root) => {
    const store = new LocalStore(root);
    await store.put("real", bytes("real"));
    const upload = await store.createMultipart("pending");
    await store.uploadPart(upload, 1, bytes("part"));
    // A crash after the temp file was written but before the rename: it holds a complete
    // object file for "leak", and even carries a name a key could map to.
    const tmpNames = [...Deno.readDirSync(`${root}/.tmp`)];
    assertEquals(tmpNames, []);
    await Deno.copyFile(`${root}/oreal`, `${root}/.tmp/oreal`);
    await Deno.writeFile(`${root}/.tmp/0123-half`, bytes("PAGEFS-L\0\0"));
    assertEquals(await listAll(store), ["real"]);
    assertEquals(await read(store, "pending"), null);
    assertEquals(await store.head("oreal"), null);
    // A fresh instance sweeps only stale temp files: a recent one may be another writer's.
    await new LocalStore(root).put("other", bytes("x"));
    assert(Deno.statSync(`${root}/.tmp/oreal`).isFile);
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await Deno.utime(`${root}/.tmp/oreal`, old, old);
    await new LocalStore(root).put("other", bytes("y"));
    assertEquals(
      [...Deno.readDirSync(`${root}/.tmp`)].map((e) => e.name),
      ["0123-half"],
    );
  });
});

Deno.test("LocalStore streams a 20 MiB put and ranged reads seek", async () => {
  await withDir(async (root) => {
    const store = new LocalStore(root);
    const mib = 1024 * 1024;
    const chunk = (i: number) => new Uint8Array(mib).map((_, j) => (i * 7 + j) % 251);
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 20) return controller.close();
        controller.enqueue(chunk(sent++));
      },
    });
    const { etag } = await store.put("big", body, { contentLength: 20 * mib });
    const whole = await readAll(((await store.get("big")) as GetResult).body);
    assertEquals(whole.length, 20 * mib);
    for (let i = 0; i < 20; i++) assertEquals(whole.subarray(i * mib, (i + 1) * mib), chunk(i));
    const ranged = (await store.get("big", { range: { start: 5 * mib - 3, end: 5 * mib + 2 } }))!;
    assert(ranged.status === "ok");
    assertEquals(await readAll(ranged.body), whole.slice(5 * mib - 3, 5 * mib + 3));
    assertEquals(ranged.info.etag, etag);
    const file = Deno.statSync(`${root}/obig`).size;
    assert(file > 20 * mib && file < 20 * mib + 200, `file holds a small header: ${file}`);
  });
});

Deno.test("LocalStore gives equal content a fresh ETag on every write", async () => {
  await withDir(async (root) => {
    const store = new LocalStore(root);
    const first = await store.put("k", bytes("same"));
    const second = await store.put("k", bytes("same"));
    assert(first.etag !== second.etag);
    await rejectsWith(
      "precondition-failed",
      () => store.put("k", bytes("late"), { mode: { kind: "replace", etag: first.etag } }),
    );
    assertEquals(text((await read(store, "k"))!), "same");
  });
});

Deno.test("LocalStore lists 10,000 keys page by page", async () => {
  await withDir(async (root) => {
    const store = new LocalStore(root);
    const keys = Array.from({ length: 10_000 }, (_, i) => `d${i % 10}/k${i}`);
    for (let at = 0; at < keys.length; at += 500) {
      await Promise.all(keys.slice(at, at + 500).map((key) => store.put(key, bytes(key))));
    }
    const started = performance.now();
    const listed = await listAll(store);
    const elapsed = performance.now() - started;
    assertEquals(listed, [...keys].sort());
    assert(elapsed < 20_000, `listing took ${elapsed} ms`);
    const grouped = await store.list({ delimiter: "/" });
    assertEquals(grouped.prefixes, Array.from({ length: 10 }, (_, i) => `d${i}/`));
  });
});

Deno.test("LocalStore sweeps multipart uploads abandoned for a day, on open and hourly", async () => {
  await withDir(async (root) => {
    const DAY = 24 * 60 * 60 * 1000;
    let now = Date.now();
    const store = new LocalStore(root, { now: () => now });
    const abandoned = await store.createMultipart("s/abandoned");
    await store.uploadPart(abandoned, 1, bytes("part"));
    const uploads = () => [...Deno.readDirSync(`${root}/.uploads`)].map((e) => e.name).sort();
    assertEquals(uploads(), [abandoned.uploadId]);
    // The store's clock moves on a day and more: a new instance sweeps it on first use.
    now += DAY + 60_000;
    const fresh = new LocalStore(root, { now: () => now });
    const live = await fresh.createMultipart("s/live");
    assertEquals(uploads(), [live.uploadId]);
    await rejectsWith("not-found", () => fresh.uploadPart(abandoned, 2, bytes("late")));
    // A running instance sweeps again once an hour has passed since its last sweep.
    const later = await store.createMultipart("s/later");
    now += DAY + 60_000;
    await store.createMultipart("s/trigger");
    assert(!uploads().includes(later.uploadId) && !uploads().includes(live.uploadId));
    assertEquals(uploads().length, 1);
  });
});

Deno.test("LocalStore acknowledges no put before its new folder's entry is durable", async () => {
  await withDir(async (root) => {
    // Two puts into one new folder: whichever makes the folder syncs the root only after
    // its own rename, so the other could be acknowledged while the folder's entry in the
    // root is not yet durable. The first sync of the root is held until another put is
    // acknowledged or another sync of the root is asked for.
    const log: string[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => release = resolve);
    let rootSyncs = 0;
    const store = new LocalStore(root, {
      syncDir: async (dir) => {
        if (dir === root) {
          if (++rootSyncs === 1) await held;
          else release();
        }
        log.push(`synced ${dir === root ? "root" : dir.slice(root.length)}`);
      },
    });
    await Promise.all(
      ["x/a", "x/b"].map((key) =>
        store.put(key, bytes(key)).then(() => {
          log.push(`acknowledged ${key}`);
          release();
        })
      ),
    );
    for (const key of ["x/a", "x/b"]) {
      const acknowledged = log.indexOf(`acknowledged ${key}`);
      const rootSynced = log.indexOf("synced root");
      assert(rootSynced >= 0 && rootSynced < acknowledged, `${key}: ${log.join(", ")}`);
    }
  });
});
