import { assertEquals } from "../tests/_assert.ts";
import { edgeProblems, findCycles, graphProblems, importGraph, unitOf } from "./imports.ts";

Deno.test("`findCycles()` finds a two-module cycle and ignores a diamond", () => {
  const cycle = findCycles([
    { from: "vfs/tree.ts", to: "vfs/vfs.ts" },
    { from: "vfs/vfs.ts", to: "vfs/tree.ts" },
    { from: "vfs/vfs.ts", to: "vfs/errors.ts" },
  ]);
  assertEquals(cycle, [["vfs/tree.ts", "vfs/vfs.ts", "vfs/tree.ts"]]);
  assertEquals(
    findCycles([
      { from: "a.ts", to: "b.ts" },
      { from: "a.ts", to: "c.ts" },
      { from: "b.ts", to: "d.ts" },
      { from: "c.ts", to: "d.ts" },
    ]),
    [],
  );
});

Deno.test("`edgeProblems()` rejects upward, sideways and unknown imports", () => {
  assertEquals(edgeProblems({ from: "vfs/file.ts", to: "format/keys.ts" }), []);
  assertEquals(edgeProblems({ from: "store/mod.ts", to: "config.ts" }), []);
  assertEquals(edgeProblems({ from: "format/gc.ts", to: "vfs/mod.ts" }), [
    "upward import: format/gc.ts -> vfs/mod.ts (format is below vfs)",
  ]);
  assertEquals(edgeProblems({ from: "rest/mod.ts", to: "webdav/xml.ts" }), [
    "sideways import: rest/mod.ts -> webdav/xml.ts (rest and webdav share a layer)",
  ]);
  assertEquals(edgeProblems({ from: "nowhere/x.ts", to: "vfs/mod.ts" }), [
    "nowhere is in no layer (add it to LAYERS in tools/imports.ts)",
  ]);
  assertEquals(unitOf("app_test.ts"), "app.ts");
  assertEquals(edgeProblems({ from: "vfs/ops/rename.ts", to: "vfs/ops/namespace.ts" }), [
    "vfs/ops/rename.ts -> vfs/ops/namespace.ts: operations never import each other " +
    "(share code through src/vfs internals)",
  ]);
  assertEquals(edgeProblems({ from: "vfs/resolve.ts", to: "vfs/ops/rename.ts" }), [
    "vfs/resolve.ts -> vfs/ops/rename.ts: the VFS internals sit below the operations",
  ]);
  assertEquals(edgeProblems({ from: "vfs/vfs.ts", to: "vfs/ops/rename.ts" }), []);
  assertEquals(edgeProblems({ from: "vfs/_vfs_names.ts", to: "vfs/ops/rename.ts" }), []);
  assertEquals(edgeProblems({ from: "vfs/vfs.ts", to: "vfs/_vfs_files.ts" }), []);
  assertEquals(edgeProblems({ from: "vfs/ops/tree.ts", to: "vfs/_vfs_core.ts" }), [
    "vfs/ops/tree.ts -> vfs/_vfs_core.ts: the facade's parts (_vfs_*.ts) are imported only " +
    "by the facade",
  ]);
  assertEquals(edgeProblems({ from: "vfs/ops/rename.ts", to: "vfs/records.ts" }), []);
  assertEquals(edgeProblems({ from: "store/s3.ts", to: "store/_s3_errors.ts" }), []);
  assertEquals(edgeProblems({ from: "store/_s3_client.ts", to: "store/_s3_fetch.ts" }), []);
  assertEquals(edgeProblems({ from: "store/local.ts", to: "store/_local_format.ts" }), []);
  assertEquals(edgeProblems({ from: "store/s3_test.ts", to: "store/_s3_fetch.ts" }), [
    "store/s3_test.ts -> store/_s3_fetch.ts: the S3 adapter's parts (_s3_*.ts) are imported " +
    "only by s3.ts and each other",
  ]);
  assertEquals(edgeProblems({ from: "store/memory.ts", to: "store/_local_format.ts" }), [
    "store/memory.ts -> store/_local_format.ts: the local adapter's parts (_local_*.ts) are " +
    "imported only by local.ts and each other",
  ]);
  assertEquals(edgeProblems({ from: "store/memory.ts", to: "store/_util.ts" }), []);
});

Deno.test("`importGraph()` sees type-only imports", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/vfs`);
    await Deno.writeTextFile(
      `${dir}/vfs/a.ts`,
      'import type { B } from "./b.ts";\nexport type A = B;\n',
    );
    await Deno.writeTextFile(
      `${dir}/vfs/b.ts`,
      'import { a } from "./c.ts";\nexport type B = typeof a;\n',
    );
    await Deno.writeTextFile(`${dir}/vfs/c.ts`, "export const a = 1;\n");
    const { edges } = await importGraph(dir);
    assertEquals(edges, [
      { from: "vfs/a.ts", to: "vfs/b.ts" },
      { from: "vfs/b.ts", to: "vfs/c.ts" },
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("src/ has no import cycle and no import up a layer", async () => {
  const { edges } = await importGraph(new URL("../src", import.meta.url).pathname);
  assertEquals(graphProblems(edges), []);
});
