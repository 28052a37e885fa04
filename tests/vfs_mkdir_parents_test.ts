// `mkdir -p` is idempotent under races: instances creating the same folder at once (as
// concurrent `PUT ?parents=1` through a load balancer do) all succeed, and one folder exists.

import { MemoryStore } from "../src/store/memory.ts";
import { Vfs } from "../src/vfs/vfs.ts";
import { fsck } from "../src/format/fsck.ts";
import { assert, assertEquals } from "./_assert.ts";

Deno.test("`mkdir(parents)` from three instances racing on one new folder succeeds on all", async () => {
  const store = new MemoryStore();
  const instances = [await Vfs.open(store), await Vfs.open(store), await Vfs.open(store)];
  const results = await Promise.allSettled(
    instances.map((fs, i) =>
      fs.mkdir("/shared", { parents: true }).then(() =>
        fs.writeFile(`/shared/f${i}`, new Uint8Array([i]))
      )
    ),
  );
  const failed = results.flatMap((r) => r.status === "rejected" ? [String(r.reason)] : []);
  assertEquals(failed, []);
  const names = (await instances[0]!.readdir("/shared")).entries.map((e) => e.name).sort();
  assertEquals(names, ["f0", "f1", "f2"]);
  assertEquals((await instances[1]!.readdir("/")).entries.map((e) => e.name), ["shared"]);
  const report = await fsck(store, { graceMs: 0 });
  assert(report.ok, JSON.stringify(report.problems));
});

Deno.test("`mkdir(parents)` on a name a racing instance made a file is still EEXIST", async () => {
  const store = new MemoryStore();
  const [a, b] = [await Vfs.open(store), await Vfs.open(store)];
  const [made, file] = await Promise.allSettled([
    a.mkdir("/x", { parents: true }),
    b.writeFile("/x", new Uint8Array(1), { exclusive: true }),
  ]);
  // Exactly one wins; when the file wins, mkdir -p reports EEXIST (never a directory).
  if (file.status === "fulfilled") {
    assertEquals(made.status, "rejected");
    assertEquals((made as PromiseRejectedResult).reason.code, "EEXIST");
  } else {
    assertEquals(made.status, "fulfilled");
  }
});
