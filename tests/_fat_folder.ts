// A folder of files that carry large, highly compressible dead properties: what a user
// may make to grow directory objects and listings (tests/dir_decoded_size_test.ts,
// tests/readdir_xattrs_test.ts).

import type { Vfs } from "../src/vfs/mod.ts";

/** `/x` with `count` files carrying `bytes` of zeros each as three WebDAV dead properties. */
export async function fatFolder(fs: Vfs, count: number, bytes: number): Promise<void> {
  await fs.mkdir("/x");
  const value = new Uint8Array(bytes / 3);
  for (let i = 0; i < count; i++) {
    const path = `/x/f${String(i).padStart(4, "0")}`;
    await fs.writeFile(path, new Uint8Array(1));
    const set = Object.fromEntries(["a", "b", "c"].map((p) => [`dav:{urn:x}${p}`, value]));
    await fs.updatexattrs(path, { set });
  }
}
