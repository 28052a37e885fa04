// GET /api/v1/zip/<folder>/: a folder as a zip, streamed. The zip is read back here by a
// small reader of the central directory, checking every CRC.

import { assert, assertEquals } from "./_assert.ts";
import { restTest } from "./rest_harness.ts";
import { crc32 } from "../src/rest/zip.ts";

interface Entry {
  name: string;
  bytes: Uint8Array;
  mode: number;
}

/** Reads a stored zip through its central directory; checks each entry's CRC and sizes. */
function readZip(zip: Uint8Array): Entry[] {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const end = zip.length - 22;
  assertEquals(view.getUint32(end, true), 0x06054b50, "end of central directory");
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  const entries: Entry[] = [];
  for (let i = 0; i < count; i++) {
    assertEquals(view.getUint32(at, true), 0x02014b50, "central entry");
    const crc = view.getUint32(at + 16, true);
    const size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const mode = view.getUint32(at + 38, true) >>> 16;
    const local = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(zip.subarray(at + 46, at + 46 + nameLength));
    assertEquals(view.getUint32(local, true), 0x04034b50, `local header of ${name}`);
    const localName = view.getUint16(local + 26, true);
    const start = local + 30 + localName + view.getUint16(local + 28, true);
    const bytes = zip.subarray(start, start + size);
    assertEquals(crc32(0, bytes), crc, `CRC of ${name}`);
    assertEquals(view.getUint32(start + size, true), 0x08074b50, `descriptor of ${name}`);
    assertEquals(view.getUint32(start + size + 4, true), crc);
    entries.push({ name, bytes: bytes.slice(), mode });
    at += 46 + nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
  }
  return entries;
}

restTest("`GET /zip/<folder>/` streams the folder's tree as a zip", async ({ client, req }) => {
  const big = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
  await client.put("/pics/a.txt", "alpha", { parents: true });
  await client.put("/pics/sub/b ü.bin", big, { parents: true });
  await client.put("/pics/empty.txt", "");
  await client.symlink("/pics/link", "/pics/a.txt");
  const res = await req("/zip/pics/");
  assertEquals(res.status, 200);
  assertEquals(res.headers.get("content-type"), "application/zip");
  assert(res.headers.get("content-disposition")?.includes("pics.zip"));
  const entries = readZip(new Uint8Array(await res.arrayBuffer()));
  const byName = new Map(entries.map((e) => [e.name, e]));
  assertEquals([...byName.keys()].sort(), [
    "pics/",
    "pics/a.txt",
    "pics/empty.txt",
    "pics/sub/",
    "pics/sub/b ü.bin",
  ]);
  assertEquals(new TextDecoder().decode(byName.get("pics/a.txt")!.bytes), "alpha");
  assertEquals(byName.get("pics/sub/b ü.bin")!.bytes, big);
  assertEquals(byName.get("pics/sub/")!.mode & 0o170000, 0o040000);
  assertEquals(byName.get("pics/a.txt")!.mode & 0o170000, 0o100000);
});

restTest("`GET /zip/<folder>/?name=` zips only the named entries", async ({ client, req }) => {
  await client.put("/d/one.txt", "1", { parents: true });
  await client.put("/d/two.txt", "2");
  await client.put("/d/three.txt", "3");
  const res = await req("/zip/d/?name=one.txt&name=three.txt");
  assertEquals(res.status, 200);
  const names = readZip(new Uint8Array(await res.arrayBuffer())).map((e) => e.name).sort();
  assertEquals(names, ["one.txt", "three.txt"]);
});

restTest("`GET /zip/` refuses bad names and files with 4xx", async ({ client, req }) => {
  await client.put("/d/one.txt", "1", { parents: true });
  for (
    const [path, status] of [
      ["/zip/d/?name=..", 400],
      ["/zip/d/?name=a%2Fb", 400],
      ["/zip/d/one.txt", 400],
      ["/zip/missing/", 404],
      ["/zip/d/?name=nope.txt", 404],
    ] as const
  ) {
    const res = await req(path);
    assertEquals(res.status, status, path);
    await res.body?.cancel();
  }
});

restTest(
  "`GET /zip/` writes no entry name that extracts outside the folder",
  async ({ vfs, req }) => {
    // Names PageFS accepts (by WebDAV, tus or an older JSON `to`) that an unzip tool on
    // Windows reads as a path: "\" is a separator there and "C:" a drive.
    await vfs.mkdir("/d");
    for (const name of ["..\\..\\evil.txt", "C:\\x.txt", "a\r\nb.txt", "\\abs.txt"]) {
      await vfs.writeFile(`/d/${name}`, new TextEncoder().encode(name));
    }
    const unsafe = (name: string) =>
      // deno-lint-ignore no-control-regex
      /[\\\x00-\x1f\x7f]/.test(name) || /^[A-Za-z]:/.test(name) || name.startsWith("/") ||
      name.split("/").some((part) => part === "..");
    const whole = await req("/zip/d/");
    const names = readZip(new Uint8Array(await whole.arrayBuffer())).map((e) => e.name).sort();
    assertEquals(names, ["d/", "d/.._.._evil.txt", "d/C:_x.txt", "d/_abs.txt", "d/a__b.txt"]);
    const picked = await req(`/zip/d/?name=${encodeURIComponent("C:\\x.txt")}`);
    const entries = readZip(new Uint8Array(await picked.arrayBuffer()));
    assertEquals(entries.map((e) => e.name), ["C__x.txt"]);
    assertEquals(new TextDecoder().decode(entries[0]!.bytes), "C:\\x.txt");
    assert(!/%5C|%3A/i.test(picked.headers.get("content-disposition")!));
    assert(![...names, ...entries.map((e) => e.name)].some(unsafe));
  },
);

restTest(
  "`GET /zip/` saves names with bidi and other hidden characters so that they show as stored",
  async ({ vfs, req }) => {
    // Extracted as it was, "invoice\u202Egpj.exe" shows as "invoiceexe.jpg" in the file
    // manager it lands in (before session 20); the stored name stays as it is.
    await vfs.mkdir("/d");
    const names = [
      "invoice\u202Egpj.exe",
      "a\u2066b\u2069.txt",
      "zw\u200Bj.txt",
      "\u{1F468}\u200D\u{1F469}.txt",
    ];
    for (const name of names) await vfs.writeFile(`/d/${name}`, new TextEncoder().encode(name));
    const res = await req("/zip/d/");
    const entries = readZip(new Uint8Array(await res.arrayBuffer())).map((e) => e.name).sort();
    assertEquals(entries, [
      "d/",
      "d/a_b_.txt",
      "d/invoice_gpj.exe",
      "d/zw_j.txt",
      "d/\u{1F468}\u200D\u{1F469}.txt",
    ]);
    assertEquals((await vfs.readdir("/d")).entries.map((e) => e.name).sort(), [...names].sort());
    const one = await req(`/zip/d/?name=${encodeURIComponent(names[0]!)}`);
    await one.body?.cancel();
    const disposition = one.headers.get("content-disposition")!;
    assert(disposition.includes("invoice_gpj.exe.zip"), disposition);
    assert(!/%E2%80%AE/i.test(disposition), disposition);
  },
);

restTest(
  "a file swapped for a symlink while the zip streams is not followed out of the folder",
  async ({ vfs, req }) => {
    // The zip walks the folder first and reads each file when the stream reaches it: a
    // symlink put in a file's place in between (by the folder's owner, who may make links to
    // anywhere) must not bring what it leads to into the zip of whoever downloads the folder.
    const secret = "bob's secret, outside the zipped folder";
    await vfs.mkdir("/home/alice/tree", { parents: true });
    await vfs.mkdir("/home/bob", { parents: true });
    await vfs.writeFile("/home/bob/secret.txt", new TextEncoder().encode(secret));
    await vfs.writeFile("/home/alice/tree/a.bin", new Uint8Array(300_000).fill(7));
    await vfs.writeFile("/home/alice/tree/b.txt", new TextEncoder().encode("alice's own"));
    const res = await req("/zip/home/alice/tree/");
    assertEquals(res.status, 200);
    const reader = res.body!.getReader();
    const got: Uint8Array[] = [];
    const first = await reader.read(); // a.bin's header: the walk is done, b.txt not read yet
    got.push(first.value!);
    await vfs.unlink("/home/alice/tree/b.txt");
    await vfs.symlink("/home/bob/secret.txt", "/home/alice/tree/b.txt");
    let failed = false;
    try {
      for (let next = await reader.read(); !next.done; next = await reader.read()) {
        got.push(next.value);
      }
    } catch {
      failed = true; // the zip is cut short: the client sees a broken download
    }
    const text = new TextDecoder("latin1").decode(new Uint8Array(got.flatMap((c) => [...c])));
    // The read is bounded by b.txt's size when walked: any of bob's bytes is a leak.
    assert(!text.includes(secret.slice(0, 8)), "bob's file went into the zip of alice's folder");
    assert(failed, "the zip ended as if whole, without b.txt's bytes");
  },
);

restTest(
  "a folder zipped through a symlink is zipped, under the name it was asked by",
  async ({ client, req }) => {
    await client.put("/data/photos/a.txt", "alpha", { parents: true });
    await client.symlink("/pics", "/data/photos");
    const res = await req("/zip/pics/");
    assertEquals(res.status, 200);
    assert(res.headers.get("content-disposition")?.includes("pics.zip"));
    const entries = readZip(new Uint8Array(await res.arrayBuffer()));
    assertEquals(entries.map((e) => e.name), ["pics/", "pics/a.txt"]);
    assertEquals(new TextDecoder().decode(entries[1]!.bytes), "alpha");
  },
);
