import { assert, assertEquals, assertRejects } from "../../tests/_assert.ts";
import { contract } from "../../tests/_stores.ts";
import { MetaStore } from "../format/cas.ts";
import { fsck } from "../format/fsck.ts";
import { LOCKS_KEY } from "../format/keys.ts";
import { readAll } from "../store/_util.ts";
import type { ObjectStore } from "../store/types.ts";
import { FsError } from "./errors.ts";
import {
  LockedError,
  type LockInfo,
  LockManager,
  type LockRequest,
  type LockScope,
  LockTokenError,
} from "./locks.ts";
import { Vfs } from "./vfs.ts";

const NONE: ReadonlySet<string> = new Set();

function req(
  root: string,
  options: { depth?: "0" | "infinity"; scope?: LockScope; timeout?: number | null } = {},
): LockRequest {
  return {
    root,
    depth: options.depth ?? "0",
    scope: options.scope ?? "exclusive",
    owner: "<D:href>mailto:me@example.com</D:href>",
    timeout: options.timeout ?? null,
  };
}

async function lockedBy(promise: Promise<unknown>): Promise<string[]> {
  const error = await assertRejects(() => promise);
  assert(error instanceof LockedError, `expected LockedError, got ${error}`);
  return error.conflicts.map((l) => l.token).sort();
}

async function tokenError(promise: Promise<unknown>): Promise<LockTokenError> {
  const error = await assertRejects(() => promise);
  assert(error instanceof LockTokenError, `expected LockTokenError, got ${error}`);
  return error;
}

/** The lock table as stored in the bucket (its CAS write history checked, then left out). */
async function stored(store: ObjectStore): Promise<{ v: number; locks: LockInfo[] } | null> {
  const result = await store.get(LOCKS_KEY);
  if (result?.status !== "ok") return null;
  const { writes, ...table } = JSON.parse(new TextDecoder().decode(await readAll(result.body)));
  assert(Array.isArray(writes) && writes.length > 0, "the table carries its write history");
  return table;
}

const tokens = (locks: readonly LockInfo[]) => locks.map((l) => l.token).sort();

contract("lock() refuses a second exclusive lock and stores the table as JSON", async (store) => {
  const fs = await Vfs.open(store, { now: () => 1_000_000 });
  const first = await fs.locks.lock({ ...req("/doc.txt"), principal: "user:alice" });
  assert(/^urn:uuid:[0-9a-f-]{36}$/.test(first.token), first.token);
  assertEquals(first, {
    token: first.token,
    root: "/doc.txt",
    depth: "0",
    scope: "exclusive",
    owner: "<D:href>mailto:me@example.com</D:href>",
    principal: "user:alice",
    timeout: 3600,
    expires: first.expires,
  });
  // Granted from now on the store's clock: this host's (the one given) when the store keeps
  // none of its own; S3's, whatever this host's clock says.
  const granted = first.expires - 3600 * 1000;
  if (store.kind === "s3") assert(Math.abs(granted - Date.now()) < 60_000, String(granted));
  else assertEquals(granted, 1_000_000);
  assertEquals(await lockedBy(fs.locks.lock(req("/doc.txt"))), [first.token]);
  assertEquals(await lockedBy(fs.locks.lock(req("/doc.txt", { scope: "shared" }))), [
    first.token,
  ]);
  assertEquals(await stored(store), { v: 1, locks: [first] });
});

contract("shared locks coexist; shared and exclusive conflict both ways", async (store) => {
  const fs = await Vfs.open(store);
  const a = await fs.locks.lock(req("/f", { scope: "shared" }));
  const b = await fs.locks.lock(req("/f", { scope: "shared" }));
  assertEquals(tokens(await fs.locks.covering("/f")), [a.token, b.token].sort());
  assertEquals(await lockedBy(fs.locks.lock(req("/f"))), [a.token, b.token].sort());
  const e = await fs.locks.lock(req("/g"));
  assertEquals(await lockedBy(fs.locks.lock(req("/g", { scope: "shared" }))), [e.token]);
});

contract(
  "one token of several shared locks on a resource stands for all of them",
  async (store) => {
    const fs = await Vfs.open(store);
    const a = await fs.locks.lock(req("/f", { scope: "shared" }));
    const b = await fs.locks.lock(req("/f", { scope: "shared" }));
    assertEquals(tokens(await fs.locks.unsatisfied("/f", new Set())), [a.token, b.token].sort());
    assertEquals(await fs.locks.unsatisfied("/f", new Set([a.token])), []);
    assertEquals(await fs.locks.unsatisfied("/f", new Set([b.token])), []);
    // A shared lock elsewhere (on the parent, taken by depth infinity) is still needed.
    const d = await fs.locks.lock(req("/", { scope: "shared", depth: "infinity" }));
    assertEquals(tokens(await fs.locks.unsatisfied("/f", new Set([a.token]))), [d.token]);
  },
);

contract("depth infinity conflicts with locks below it, in both orders", async (store) => {
  const fs = await Vfs.open(store);
  const tree = await fs.locks.lock(req("/dir", { depth: "infinity" }));
  assertEquals(await lockedBy(fs.locks.lock(req("/dir/sub/file"))), [tree.token]);
  assertEquals(tokens(await fs.locks.covering("/dir/sub/file")), [tree.token]);
  assertEquals(tokens(await fs.locks.unsatisfied("/dir/sub/file", NONE)), [tree.token]);

  const leaf = await fs.locks.lock(req("/other/sub/file"));
  assertEquals(
    await lockedBy(fs.locks.lock(req("/other", { depth: "infinity" }))),
    [leaf.token],
  );
  // A depth-0 lock on the ancestor does not reach the descendant's lock.
  const shallow = await fs.locks.lock(req("/other"));
  assertEquals(tokens(await fs.locks.covering("/other/sub/file")), [leaf.token]);
  // The root with depth infinity is everyone's ancestor.
  assertEquals(
    await lockedBy(fs.locks.lock(req("/", { depth: "infinity" }))),
    [tree.token, leaf.token, shallow.token].sort(),
  );
});

contract("a depth-0 lock on a collection guards its membership only", async (store) => {
  const fs = await Vfs.open(store);
  const dir = await fs.locks.lock(req("/dir/"));
  assertEquals(dir.root, "/dir");
  assertEquals(await fs.locks.covering("/dir/child"), []);
  assertEquals(await fs.locks.unsatisfied("/dir/child", NONE), []);
  assertEquals(tokens(await fs.locks.unsatisfied("/dir/child", NONE, { parent: true })), [
    dir.token,
  ]);
  assertEquals(
    await fs.locks.unsatisfied("/dir/child", new Set([dir.token]), { parent: true }),
    [],
  );
  await fs.locks.check("/dir/child", NONE);
  await lockedBy(fs.locks.check("/dir/child", NONE, { parent: true }));
  // The child itself can still be locked on its own.
  await fs.locks.lock(req("/dir/child"));
});

contract('paths compare by segments: "/a" and "/ab" are independent', async (store) => {
  const fs = await Vfs.open(store);
  const a = await fs.locks.lock(req("/a", { depth: "infinity" }));
  const ab = await fs.locks.lock(req("/ab", { depth: "infinity" }));
  assertEquals(tokens(await fs.locks.covering("/ab/x")), [ab.token]);
  assertEquals(tokens(await fs.locks.covering("/a/x")), [a.token]);
  assertEquals(tokens(await fs.locks.unsatisfied("/a", NONE, { descendants: true })), [a.token]);
  await fs.locks.release("/a");
  assertEquals(tokens(await fs.locks.covering("/ab")), [ab.token]);
  await assertRejects(() => fs.locks.lock(req("relative"))).then((e) =>
    assert(e instanceof FsError && e.code === "EINVAL")
  );
});

/**
 * Where a test moves the clock by which locks are judged: the store's, which is the host's
 * (here, the one given to the Vfs) for the memory and local stores, but S3's own on S3 (no
 * test can move that one; tests/dav_lock_skew_test.ts gives a memory store a clock apart).
 */
const FAKE_CLOCK = { backends: ["memory", "local"] };

contract(
  "locks expire: ignored by reads, dropped by a write past the skew margin",
  async (store) => {
    let clock = 5_000_000;
    const fs = await Vfs.open(store, { now: () => clock });
    const old = await fs.locks.lock(req("/f", { timeout: 10 }));
    const other = await fs.locks.lock(req("/g", { timeout: 100 }));
    assertEquals(old.expires, 5_010_000);
    clock += 9_999;
    await lockedBy(fs.locks.lock(req("/f")));
    clock += 1;
    assertEquals(await fs.locks.covering("/f"), []);
    await fs.locks.check("/f", NONE);
    assertEquals(tokens((await stored(store))!.locks), [old.token, other.token].sort());
    const fresh = await fs.locks.lock(req("/f"));
    // Lapsed by this clock, but within the skew margin: another instance may still see it live.
    assertEquals(
      tokens((await stored(store))!.locks),
      [old.token, fresh.token, other.token].sort(),
    );
    clock += 2 * 60_000; // lapsed by the margin (and `other` too, by less)
    await fs.locks.unlock(fresh.token, "/f");
    assertEquals(tokens((await stored(store))!.locks), [other.token]);
    await tokenError(fs.locks.refresh(old.token, "/f", 60)).then((e) =>
      assertEquals(e.reason, "unknown")
    );
  },
  FAKE_CLOCK,
);

contract("timeouts: default, capped at the maximum, at least a second", async (store) => {
  const fs = await Vfs.open(store, { now: () => 0 });
  assertEquals((await fs.locks.lock(req("/a"))).timeout, 3600);
  const forever = await fs.locks.lock(req("/b", { timeout: Infinity }));
  assertEquals([forever.timeout, forever.expires], [604_800, 604_800_000]);
  assertEquals((await fs.locks.lock(req("/c", { timeout: 10 ** 9 }))).timeout, 604_800);
  assertEquals((await fs.locks.lock(req("/d", { timeout: 0 }))).timeout, 1);
  assertEquals((await fs.locks.lock(req("/e", { timeout: 90.7 }))).timeout, 90);
}, FAKE_CLOCK);

contract("refresh() extends a lock and rejects a wrong token or path", async (store) => {
  let clock = 0;
  const fs = await Vfs.open(store, { now: () => clock });
  const lock = await fs.locks.lock(req("/dir", { depth: "infinity", timeout: 60 }));
  clock = 50_000;
  const refreshed = await fs.locks.refresh(lock.token, "/dir/inside", 120);
  assertEquals({ ...refreshed }, { ...lock, timeout: 120, expires: 170_000 });
  assertEquals(await fs.locks.covering("/dir"), [refreshed]);
  clock = 169_999;
  await lockedBy(fs.locks.lock(req("/dir")));

  const scope = await tokenError(fs.locks.refresh(lock.token, "/elsewhere", 60));
  assertEquals([scope.reason, scope.path, scope.token], ["scope", "/elsewhere", lock.token]);
  const unknown = await tokenError(fs.locks.refresh("urn:uuid:nope", "/dir", 60));
  assertEquals(unknown.reason, "unknown");
  assertEquals((await fs.locks.covering("/dir"))[0]?.expires, 170_000);
  clock = 170_000;
  assertEquals((await tokenError(fs.locks.refresh(lock.token, "/dir", 60))).reason, "unknown");
}, FAKE_CLOCK);

contract("unlock() removes only the named lock on a path it covers", async (store) => {
  const fs = await Vfs.open(store);
  const a = await fs.locks.lock(req("/a", { scope: "shared" }));
  const b = await fs.locks.lock(req("/a", { scope: "shared" }));
  assertEquals((await tokenError(fs.locks.unlock(a.token, "/b"))).reason, "scope");
  assertEquals(tokens(await fs.locks.covering("/a")), [a.token, b.token].sort());
  await fs.locks.unlock(a.token, "/a");
  assertEquals(tokens(await fs.locks.covering("/a")), [b.token]);
  assertEquals((await tokenError(fs.locks.unlock(a.token, "/a"))).reason, "unknown");
  await fs.locks.unlock(b.token, "/a/");
  await fs.locks.lock(req("/a"));
});

contract("a lock's principal: others' tokens do not count for a change", async (store) => {
  const fs = await Vfs.open(store);
  const lock = await fs.locks.lock({ ...req("/f"), principal: "user:alice" });
  const held = new Set([lock.token]);
  assertEquals(await fs.locks.unsatisfied("/f", held, { principal: "user:alice" }), []);
  // A token of the same name is another principal (before session 20 it counted as her).
  for (const other of ["user:bob", "token:alice"]) {
    assertEquals(tokens(await fs.locks.unsatisfied("/f", held, { principal: other })), [
      lock.token,
    ]);
    const stolen = await tokenError(fs.locks.unlock(lock.token, "/f", { principal: other }));
    assertEquals(stolen.reason, "principal");
  }
  await fs.locks.unlock(lock.token, "/f", { principal: "user:alice" });
});

contract("a lock recorded with a bare name (before session 20) is the user's", async (store) => {
  const fs = await Vfs.open(store);
  const lock = await fs.locks.lock({ ...req("/f"), principal: "alice" });
  const held = new Set([lock.token]);
  assertEquals(await fs.locks.unsatisfied("/f", held, { principal: "user:alice" }), []);
  assertEquals(tokens(await fs.locks.unsatisfied("/f", held, { principal: "token:alice" })), [
    lock.token,
  ]);
  // Never anyone's: another principal's token does not count for it either.
  assertEquals(tokens(await fs.locks.unsatisfied("/f", held, { principal: "user:bob" })), [
    lock.token,
  ]);
  await fs.locks.unlock(lock.token, "/f", { principal: "user:alice" });
});

contract("release() drops a subtree's locks in one write, none when none", async (store) => {
  const fs = await Vfs.open(store);
  const inside = await Promise.all(["/t", "/t/x", "/t/x/y"].map((p) => fs.locks.lock(req(p))));
  const outside = await Promise.all(["/tx", "/u"].map((p) => fs.locks.lock(req(p))));
  assertEquals(
    tokens(await fs.locks.unsatisfied("/t", NONE, { descendants: true })),
    tokens(inside),
  );
  await fs.locks.release("/t/");
  assertEquals(tokens((await stored(store))!.locks), tokens(outside));
  const before = await store.head(LOCKS_KEY);
  await fs.locks.release("/t");
  await fs.locks.release("/nothing/here");
  assertEquals((await store.head(LOCKS_KEY))?.etag, before?.etag);
  await fs.locks.release("/");
  assertEquals(await stored(store), { v: 1, locks: [] });
});

contract("two instances: a lock taken through one binds the other at once", async (store) => {
  const one = await Vfs.open(store);
  const two = await Vfs.open(store);
  await two.locks.check("/shared/doc", NONE); // caches the (absent) table
  const lock = await one.locks.lock(req("/shared", { depth: "infinity" }));
  assertEquals(await lockedBy(two.locks.check("/shared/doc", NONE)), [lock.token]);
  await two.locks.check("/shared/doc", new Set([lock.token]));
  await lockedBy(two.locks.lock(req("/shared/doc")));
  await two.locks.unlock(lock.token, "/shared/doc");
  await one.locks.check("/shared/doc", NONE);
  await one.locks.lock(req("/shared/doc"));
});

contract("8 racing exclusive locks on two instances: exactly one wins", async (store) => {
  const managers = [(await Vfs.open(store)).locks, (await Vfs.open(store)).locks];
  const results = await Promise.allSettled(
    Array.from({ length: 8 }, (_, i) => managers[i % 2]!.lock(req("/race"))),
  );
  const won = results.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  assertEquals(won.length, 1);
  for (const r of results) {
    if (r.status === "fulfilled") continue;
    assert(r.reason instanceof LockedError, `unexpected ${r.reason}`);
    assertEquals(tokens(r.reason.conflicts), [won[0]!.token]);
  }
  assertEquals(tokens((await stored(store))!.locks), [won[0]!.token]);
  for (const m of managers) assertEquals(tokens(await m.covering("/race")), [won[0]!.token]);
});

contract("8 racing shared locks on two instances: none is lost", async (store) => {
  const managers = [(await Vfs.open(store)).locks, (await Vfs.open(store)).locks];
  const won = await Promise.all(
    Array.from({ length: 8 }, (_, i) => managers[i % 2]!.lock(req("/s", { scope: "shared" }))),
  );
  assertEquals(tokens((await stored(store))!.locks), tokens(won));
});

contract("a full table refuses new locks until one goes", async (store) => {
  const locks = new LockManager(new MetaStore(store), { maxLocks: 2 });
  const a = await locks.lock(req("/a"));
  await locks.lock(req("/b"));
  const full = await assertRejects(() => locks.lock(req("/c")));
  assert(full instanceof FsError && full.code === "ENOSPC", String(full));
  await locks.unlock(a.token, "/a");
  await locks.lock(req("/c"));
  const bad = await assertRejects(() => locks.lock({ ...req("/d"), owner: "x".repeat(5000) }));
  assert(bad instanceof FsError && bad.code === "EINVAL", String(bad));
}, { backends: ["memory"] });

contract("one principal cannot take more than its share of the table", async (store) => {
  const locks = new LockManager(new MetaStore(store), { perPrincipal: { locks: 2, bytes: 200 } });
  const as = (principal: string | null, root: string, owner = "") => ({
    ...req(root, { scope: "shared" }),
    owner,
    principal,
  });
  await locks.lock(as("user:alice", "/a"));
  const a2 = await locks.lock(as("user:alice", "/a"));
  const third = await assertRejects(() => locks.lock(as("user:alice", "/a")));
  assert(third instanceof FsError && third.code === "ENOSPC", String(third));
  // Others still lock, the same resource too; without a principal (no auth) no share applies.
  await locks.lock(as("user:bob", "/a"));
  // A token of her name is another principal; a bare name (before session 20) is the user.
  await locks.lock(as("token:alice", "/a"));
  const bare = await assertRejects(() => locks.lock(as("alice", "/a")));
  assert(bare instanceof FsError && bare.code === "ENOSPC", String(bare));
  for (let i = 0; i < 3; i++) await locks.lock(as(null, "/a"));
  // Size counts too: owners and paths.
  const big = await assertRejects(() => locks.lock(as("user:bob", "/b", "x".repeat(200))));
  assert(big instanceof FsError && big.code === "ENOSPC", String(big));
  await locks.lock(as("user:bob", "/b", "x".repeat(150)));
  // An unlock gives the share back.
  await locks.unlock(a2.token, "/a");
  await locks.lock(as("user:alice", "/a"));
}, { backends: ["memory"] });

contract(
  "a lock table full of long owners refuses new locks: every write reads it whole",
  async (store) => {
    // 10,000 locks of 4,096-character owners were allowed: 40 MiB of JSON that every write
    // of the filesystem decodes, past the 32 MiB a reader takes (one user could stop them all).
    const locks = new LockManager(new MetaStore(store), { maxTableText: 10_000 });
    const owner = "<D:href>".padEnd(4000, "A");
    const a = await locks.lock({ ...req("/a"), owner });
    await locks.lock({ ...req("/b"), owner });
    const full = await assertRejects(() => locks.lock({ ...req("/c"), owner }));
    assert(full instanceof FsError && full.code === "ENOSPC", String(full));
    assert(/lock table is full/.test(full.message), full.message);
    await locks.lock(req("/short")); // a short owner still fits
    await locks.unlock(a.token, "/a");
    await locks.lock({ ...req("/c"), owner });
  },
  { backends: ["memory"] },
);

contract("fsck knows the lock table", async (store) => {
  const fs = await Vfs.open(store);
  await fs.locks.lock(req("/x"));
  const report = await fsck(store);
  assertEquals(report.problems.filter((p) => p.key === LOCKS_KEY), []);
}, { backends: ["memory"] });

contract("an instance whose clock runs ahead does not erase another's live lock", async (store) => {
  let clock = 10_000_000;
  const b = await Vfs.open(store, { now: () => clock });
  const a = await Vfs.open(store, { now: () => clock + 60_000 }); // a minute ahead
  const c = await Vfs.open(store, { now: () => clock }); // a third, on time
  const held = await b.locks.lock(req("/b.txt", { timeout: 30 }));
  clock += 10_000; // 20 s left by B's clock; lapsed 40 s ago by A's
  // Any write of the table by A: a lock, an unlock, a release.
  const mine = await a.locks.lock(req("/a.txt"));
  await a.locks.unlock(mine.token, "/a.txt");
  await a.locks.release("/elsewhere");
  await a.locks.lock(req("/a2.txt"));
  assert(tokens((await stored(store))!.locks).includes(held.token), "B's lock was dropped");
  assertEquals(await lockedBy(b.locks.check("/b.txt", NONE)), [held.token]);
  assertEquals(await lockedBy(c.locks.check("/b.txt", NONE)), [held.token]);
  assertEquals(await lockedBy(c.locks.lock(req("/b.txt"))), [held.token]);
  // B can still refresh it, and then everyone, A included, sees it live.
  await b.locks.refresh(held.token, "/b.txt", 600);
  assertEquals(await lockedBy(a.locks.check("/b.txt", NONE)), [held.token]);
});

contract(
  "concurrent LOCKs and UNLOCKs on one instance share CASes instead of contending",
  async (store) => {
    // litmus 0.18's lockbomb: 20 clients each locking and unlocking its own file in a loop.
    // Each change of the one lock table was its own CAS, so on S3 the 20 raced for it and
    // some gave up (ContentionError: 503); grouped, they go out together.
    let tableWrites = 0;
    const counting = new Proxy(store, {
      get(target, name) {
        const value = Reflect.get(target, name, target);
        if (name === "put") {
          return (key: string, ...rest: unknown[]) => {
            if (key === LOCKS_KEY) tableWrites++;
            return (value as (...args: unknown[]) => unknown).call(target, key, ...rest);
          };
        }
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const fs = await Vfs.open(counting);
    const WORKERS = 20;
    const ROUNDS = 10;
    await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
      for (let i = 0; i < ROUNDS; i++) {
        const lock = await fs.locks.lock(req(`/lb-lock-${w}`));
        assertEquals(await fs.locks.unsatisfied(`/lb-lock-${w}`, NONE), [lock]);
        await fs.locks.unlock(lock.token, `/lb-lock-${w}`);
      }
    }));
    assertEquals(await fs.locks.covering("/lb-lock-0"), []);
    assertEquals((await stored(store))?.locks, []);
    const changes = 2 * WORKERS * ROUNDS;
    assert(tableWrites < changes / 2, `${tableWrites} table writes for ${changes} changes`);
  },
);

Deno.test("unsatisfied() checks a path's alias too, and asks for it only when a lock is live", async () => {
  const { MemoryStore } = await import("../store/memory.ts");
  const locks = new LockManager(new MetaStore(new MemoryStore()));
  let asked = 0;
  const alias = (name: string | null) => () => {
    asked++;
    return Promise.resolve(name);
  };
  // No lock at all: the alias is never resolved.
  assertEquals(await locks.unsatisfied("/s/f", NONE, { alias: alias("/d/f") }), []);
  assertEquals(asked, 0);
  const lock = await locks.lock(req("/d", { depth: "infinity" }));
  const missing = await locks.unsatisfied("/s/f", NONE, { alias: alias("/d/f") });
  assertEquals(missing.map((l) => l.token), [lock.token]);
  assertEquals(asked, 1);
  // A depth-0 lock on the alias's parent stops a change of membership there.
  const zero = await locks.lock(req("/e"));
  const member = await locks.unsatisfied("/t/new", NONE, { parent: true, alias: alias("/e/new") });
  assertEquals(member.map((l) => l.token), [zero.token]);
  // The token covers the alias: UNLOCK through the other name.
  await locks.unlock(lock.token, "/s", { alias: alias("/d") });
  assertEquals(await locks.unsatisfied("/s/f", NONE, { alias: alias("/d/f") }), []);
  // Released by either name.
  await locks.release("/t", { alias: alias("/e") });
  assertEquals(await locks.covering("/e"), []);
});
