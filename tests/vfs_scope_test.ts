// Vfs.scoped(): a view that keeps every path, second path and followed symlink inside one
// folder. The front ends give it to a principal limited to a prefix.

import { assert, assertEquals } from "./_assert.ts";
import { MemoryStore } from "../src/store/mod.ts";
import { isFsError, Vfs } from "../src/vfs/mod.ts";

const text = (s: string) => new TextEncoder().encode(s);

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (error) {
    assert(isFsError(error), String(error));
    return error.code;
  }
}

async function setup() {
  const fs = await Vfs.open(new MemoryStore());
  await fs.mkdir("/home/alice/sub", { parents: true });
  await fs.mkdir("/home/bob", { parents: true });
  await fs.writeFile("/home/bob/secret.txt", text("secret"));
  await fs.writeFile("/home/alice/a.txt", text("mine"));
  await fs.symlink("/home/bob", "/home/alice/out");
  await fs.symlink("../bob/secret.txt", "/home/alice/rel");
  await fs.symlink("a.txt", "/home/alice/in");
  await fs.symlink("/home/alice/sub", "/home/alice/abs-in");
  return { fs, alice: fs.scoped("/home/alice") };
}

Deno.test("scoped() refuses paths outside its folder with EACCES", async () => {
  const { alice } = await setup();
  assertEquals(await code(alice.read("/home/bob/secret.txt", 0, 10)), "EACCES");
  assertEquals(await code(alice.readdir("/")), "EACCES");
  assertEquals(await code(alice.readdir("/home")), "EACCES");
  assertEquals(await code(alice.lookup("/home/alice2")), "EACCES");
  assertEquals(await code(alice.writeFile("/x.txt", text("x"))), "EACCES");
  assertEquals(await code(alice.unlink("/home/bob/secret.txt")), "EACCES");
  assertEquals(await code(alice.mkdir("/home/carol")), "EACCES");
  // Its own folder works as usual.
  assertEquals((await alice.readdir("/home/alice")).entries.length, 6);
  assertEquals(new TextDecoder().decode(await alice.read("/home/alice/in", 0, 10)), "mine");
  assertEquals((await alice.getattr("/home/alice/abs-in")).type, "directory");
});

Deno.test("scoped() follows no symlink out of its folder, absolute or relative", async () => {
  const { fs, alice } = await setup();
  assertEquals(await code(alice.read("/home/alice/out/secret.txt", 0, 10)), "EACCES");
  assertEquals(await code(alice.read("/home/alice/rel", 0, 10)), "EACCES");
  assertEquals(await code(alice.getattr("/home/alice/out")), "EACCES");
  assertEquals(await code(alice.readdir("/home/alice/out")), "EACCES");
  assertEquals(await code(alice.writeFile("/home/alice/out/new.txt", text("x"))), "EACCES");
  assertEquals(await code(alice.writeFile("/home/alice/rel", text("x"))), "EACCES");
  assertEquals(await code(alice.copy("/home/alice/rel", "/home/alice/stolen")), "EACCES");
  // The links themselves are hers: lstat, readlink and unlink act on them, not their targets.
  assertEquals((await alice.lookup("/home/alice/out")).type, "symlink");
  assertEquals(await alice.readlink("/home/alice/rel"), "../bob/secret.txt");
  // Nothing outside changed.
  assertEquals(new TextDecoder().decode(await fs.read("/home/bob/secret.txt", 0, 10)), "secret");
  assertEquals(await code(fs.lookup("/home/bob/new.txt")), "ENOENT");
});

Deno.test("scoped() checks second paths: rename, copy and link stay inside", async () => {
  const { fs, alice } = await setup();
  assertEquals(await code(alice.rename("/home/alice/a.txt", "/home/bob/a.txt")), "EACCES");
  assertEquals(await code(alice.rename("/home/bob/secret.txt", "/home/alice/s")), "EACCES");
  assertEquals(await code(alice.copy("/home/alice/a.txt", "/home/bob/a.txt")), "EACCES");
  assertEquals(await code(alice.copy("/home/bob/secret.txt", "/home/alice/s")), "EACCES");
  assertEquals(await code(alice.link("/home/bob/secret.txt", "/home/alice/s")), "EACCES");
  assertEquals(await code(alice.link("/home/alice/a.txt", "/home/bob/a.txt")), "EACCES");
  assertEquals(await code(alice.rename("/home/alice/a.txt", "/home/alice/out/a.txt")), "EACCES");
  assertEquals(await code(fs.lookup("/home/bob/a.txt")), "ENOENT");
  await alice.rename("/home/alice/a.txt", "/home/alice/sub/a.txt");
  assertEquals((await fs.lookup("/home/alice/sub/a.txt")).size, 4);
});

Deno.test("scoped() can create its own folder but not what leads to it, and only narrows", async () => {
  const fs = await Vfs.open(new MemoryStore());
  await fs.mkdir("/home");
  const alice = fs.scoped("/home/alice");
  await alice.mkdir("/home/alice/docs", { parents: true });
  assertEquals((await fs.lookup("/home/alice/docs")).type, "directory");
  const carol = fs.scoped("/srv/carol");
  assertEquals(await code(carol.mkdir("/srv/carol/x", { parents: true })), "ENOENT");
  assertEquals(await code(fs.lookup("/srv")), "ENOENT");
  assert(alice.scoped("/home/alice/docs") !== alice);
  assertEquals(await code(Promise.resolve().then(() => alice.scoped("/home"))), "EACCES");
  assertEquals(await code(Promise.resolve().then(() => fs.scoped("home"))), "EINVAL");
  assertEquals(await code(Promise.resolve().then(() => fs.scoped("/a/../b"))), "EINVAL");
  assert(fs.scoped("/") === fs);
});

Deno.test("adopt() moves a file from outside the view to a target held to its scope", async () => {
  const { fs, alice } = await setup();
  await fs.mkdir("/staging");
  for (const name of ["a", "b", "c", "d", "e"]) {
    await fs.writeFile(`/staging/${name}`, text(`staged ${name}`));
  }
  // The target is checked like any path of the view: outside, or through a link out.
  assertEquals(await code(alice.adopt("/staging/a", "/home/bob/stolen")), "EACCES");
  assertEquals(await code(alice.adopt("/staging/a", "/home/alice/out/stolen")), "EACCES");
  assertEquals(await code(alice.adopt("/staging/a", "/top.txt")), "EACCES");
  // The source stays where it was after a refusal; a plain rename may not take it.
  assertEquals(await code(fs.lookup("/staging/a")), "ok");
  assertEquals(await code(alice.rename("/staging/a", "/home/alice/x")), "EACCES");
  // Inside: atomic like rename, noReplace honoured.
  await alice.adopt("/staging/a", "/home/alice/new.txt");
  assertEquals(new TextDecoder().decode(await fs.read("/home/alice/new.txt", 0, 99)), "staged a");
  assertEquals(await code(fs.lookup("/staging/a")), "ENOENT");
  assertEquals(
    await code(alice.adopt("/staging/b", "/home/alice/a.txt", { noReplace: true })),
    "EEXIST",
  );
  await alice.adopt("/staging/b", "/home/alice/sub/b.txt");
  assertEquals((await fs.getattr("/home/alice/sub/b.txt")).size, 8);
});

Deno.test("hide() leaves a name out of root listings, in every view, and nowhere else", async () => {
  const fs = await Vfs.open(new MemoryStore());
  await fs.mkdir("/.staging");
  await fs.mkdir("/docs/.staging", { parents: true });
  await fs.writeFile("/.staging/x", text("x"));
  fs.hide(".staging");
  assertEquals((await fs.readdir("/")).entries.map((e) => e.name), ["docs"]);
  assertEquals((await fs.scoped("/").readdir("/")).entries.map((e) => e.name), ["docs"]);
  // Still reachable by path, and the same name elsewhere is an ordinary name.
  assertEquals((await fs.readdir("/.staging")).entries.map((e) => e.name), ["x"]);
  assertEquals((await fs.readdir("/docs")).entries.map((e) => e.name), [".staging"]);
  assertEquals(await code(Promise.resolve().then(() => fs.hide("a/b"))), "EINVAL");
});

Deno.test("hide(): no symlink leads into a hidden folder, in any view", async () => {
  const fs = await Vfs.open(new MemoryStore());
  await fs.mkdir("/.staging");
  await fs.writeFile("/.staging/x", text("x"));
  await fs.mkdir("/docs");
  await fs.symlink("/.staging", "/docs/abs");
  await fs.symlink("../.staging/x", "/docs/rel");
  fs.hide(".staging");
  for (const view of [fs, fs.scoped("/")]) {
    assertEquals(await code(view.readdir("/docs/abs")), "ENOENT");
    assertEquals(await code(view.read("/docs/abs/x", 0, 1)), "ENOENT");
    assertEquals(await code(view.read("/docs/rel", 0, 1)), "ENOENT");
    assertEquals(await code(view.writeFile("/docs/abs/y", text("y"))), "ENOENT");
    // The links themselves are ordinary entries.
    assertEquals(await view.readlink("/docs/abs"), "/.staging");
  }
  // The server reaches it by its own name.
  assertEquals(new TextDecoder().decode(await fs.read("/.staging/x", 0, 1)), "x");
});

Deno.test("copy() of a tree copies its symlinks as symlinks, loops and links out included", async () => {
  const { fs, alice } = await setup();
  await fs.symlink("/home/alice/sub", "/home/alice/sub/loop");
  await fs.symlink("../../bob", "/home/alice/sub/bob");
  await fs.writeFile("/home/alice/sub/f", text("f"));
  for (const [view, to] of [[alice, "/home/alice/c1"], [fs, "/home/alice/c2"]] as const) {
    await view.copy("/home/alice/sub", to);
    assertEquals(await fs.readlink(`${to}/loop`), "/home/alice/sub");
    assertEquals(await fs.readlink(`${to}/bob`), "../../bob");
    assertEquals((await fs.readdir(to)).entries.map((e) => e.name), ["bob", "f", "loop"]);
  }
  // A symlink named as the source is still followed: the copy is of what it names.
  assertEquals(await code(alice.copy("/home/alice/rel", "/home/alice/stolen")), "EACCES");
  await alice.copy("/home/alice/in", "/home/alice/in-copy");
  assertEquals((await fs.lookup("/home/alice/in-copy")).type, "file");
});

Deno.test("a write in flight acts on the directory it resolved, never through a symlink put there after", async () => {
  const { fs, alice } = await setup();
  await fs.mkdir("/home/alice/d");
  let swapped = false;
  let step = 0;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (step++ === 0) return controller.enqueue(text("first "));
      // Between alice's path check and her commit: her folder becomes a link out.
      await fs.rename("/home/alice/d", "/home/alice/d-old");
      await fs.symlink("/home/bob", "/home/alice/d");
      swapped = true;
      controller.enqueue(text("second"));
      controller.close();
    },
  });
  await alice.writeFile("/home/alice/d/new.txt", body);
  assert(swapped);
  assertEquals((await fs.readdir("/home/bob")).entries.map((e) => e.name), ["secret.txt"]);
  const landed = await fs.read("/home/alice/d-old/new.txt", 0, 100);
  assertEquals(new TextDecoder().decode(landed), "first second");
  // And the next request sees the link, which it may not follow.
  assertEquals(await code(alice.writeFile("/home/alice/d/new.txt", text("x"))), "EACCES");
});
