/// <reference lib="dom" />
// The browser UI driven in Debian's Chromium (headless, through puppeteer-core) against a
// real server process on S3: every step the issue asks for, each confirmed through the
// HTTP API. Screenshots at desktop and phone widths go to .ci-artifacts/ui/ (printed).
//
// Without /usr/bin/chromium the test fails under CI=true and is skipped elsewhere.

import puppeteer, { type Browser, type ElementHandle, type Page } from "puppeteer-core";
import { assert, assertEquals } from "./_assert.ts";
import { CHROMIUM, needChromium, skipBrowser } from "./_chromium.ts";
import { s3Env } from "./_stores.ts";
import { startServer, type TestServer } from "./_server.ts";
import { hashPassword } from "../src/auth/mod.ts";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);
const ARTIFACTS = `${ROOT}.ci-artifacts/ui`;

const haveS3 = s3Env() !== null;
const skipped = skipBrowser("ui_browser_test");

// ---- fixtures ------------------------------------------------------------------------

const PASSWORDS = { alice: "alice pw 1", rob: "rob pw 2", lim: "lim pw 3" };
const basic = (user: keyof typeof PASSWORDS) => `Basic ${btoa(`${user}:${PASSWORDS[user]}`)}`;

async function usersEnv(): Promise<string> {
  const hash = (pw: string) => hashPassword(pw, { iterations: 1000 });
  return [
    `alice:${await hash(PASSWORDS.alice)}:rw`,
    `rob:${await hash(PASSWORDS.rob)}:ro`,
    `lim:${await hash(PASSWORDS.lim)}:rw:/home/lim`,
  ].join(",");
}

/** A small PNG (a colour gradient), encoded here so that no fixture file is needed. */
async function png(width: number, height: number): Promise<Uint8Array> {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes: Uint8Array) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff]! ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type: string, data: Uint8Array) => {
    const out = new Uint8Array(12 + data.length);
    const view = new DataView(out.buffer);
    view.setUint32(0, data.length);
    out.set(new TextEncoder().encode(type), 4);
    out.set(data, 8);
    view.setUint32(8 + data.length, crc(out.subarray(4, 8 + data.length)));
    return out;
  };
  const raw = new Uint8Array(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3);
    for (let x = 0; x < width; x++) {
      raw.set(
        [Math.round((x / width) * 255), Math.round((y / height) * 255), 160],
        row + 1 + x * 3,
      );
    }
  }
  const deflated = new Uint8Array(
    await new Response(new Blob([raw]).stream().pipeThrough(new CompressionStream("deflate")))
      .arrayBuffer(),
  );
  const header = new Uint8Array(13);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, width);
  hv.setUint32(4, height);
  header.set([8, 2, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflated),
    chunk("IEND", new Uint8Array()),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function randomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) {
    crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  }
  return out;
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- helpers -------------------------------------------------------------------------

class Ui {
  shots: string[] = [];
  dialogs: string[] = [];
  errors: string[] = [];
  constructor(readonly server: TestServer, readonly browser: Browser) {}

  /** The HTTP API, as `user` with Basic credentials (not through the browser). */
  async api(path: string, init: RequestInit = {}, user: keyof typeof PASSWORDS = "alice") {
    const headers = new Headers(init.headers);
    headers.set("authorization", basic(user));
    return await fetch(`${this.server.url}/api/v1${path}`, { ...init, headers });
  }

  async fileBytes(path: string): Promise<Uint8Array | null> {
    const res = await this.api(`/fs${encodePath(path)}`);
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    assertEquals(res.status, 200, `GET ${path}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  async stat(path: string): Promise<{ type: string; size: number } | null> {
    const res = await this.api(`/stat${encodePath(path)}`);
    if (res.status === 404) {
      await res.body?.cancel();
      return null;
    }
    assertEquals(res.status, 200, `stat ${path}`);
    return await res.json();
  }

  watch(page: Page) {
    page.on("dialog", async (d) => {
      this.dialogs.push(d.message());
      await d.dismiss();
    });
    page.on("pageerror", (e) => this.errors.push(String((e as Error).message ?? e)));
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().includes("Failed to load resource")) {
        this.errors.push(m.text());
      }
    });
  }

  /** Screenshots at desktop and phone widths. */
  async shoot(page: Page, name: string) {
    // Device metrics through CDP: puppeteer's setViewport reloads the page when "mobile"
    // changes, which would lose the state under test.
    const cdp = await page.createCDPSession();
    const sizes = [["desktop", 1280, 800], ["phone", 390, 844]] as const;
    for (const [tag, width, height] of sizes) {
      await cdp.send("Emulation.setDeviceMetricsOverride", {
        width,
        height,
        deviceScaleFactor: 1,
        mobile: tag === "phone",
      });
      await delay(150);
      const path = `${ARTIFACTS}/${name}-${tag}.png`;
      // Captured by CDP as well: page.screenshot() would reset the metrics override.
      const shot = await cdp.send("Page.captureScreenshot", { format: "png" });
      await Deno.writeFile(path, Uint8Array.from(atob(shot.data), (c) => c.charCodeAt(0)));
      this.shots.push(path);
    }
    await cdp.send("Emulation.setDeviceMetricsOverride", {
      width: 1280,
      height: 800,
      deviceScaleFactor: 1,
      mobile: false,
    });
    await cdp.detach();
  }
}

const encodePath = (path: string) => path.split("/").map(encodeURIComponent).join("/");

async function fileInput(page: Page): Promise<ElementHandle<HTMLInputElement>> {
  const input = await page.$("#file-input");
  assert(input !== null, "the page has a file input");
  return input as ElementHandle<HTMLInputElement>;
}

async function waitForRow(page: Page, name: string, timeout = 15_000) {
  await page.waitForFunction(
    (n) =>
      [...document.querySelectorAll<HTMLElement>("#list .row")].some((r) => r.dataset.name === n),
    { timeout },
    name,
  );
}

/** Clicks the checkbox of the row named `name` (selecting it). */
async function selectRow(page: Page, name: string) {
  await waitForRow(page, name);
  await page.evaluate((n) => {
    const row = [...document.querySelectorAll<HTMLElement>("#list .row")].find((r) =>
      r.dataset.name === n
    )!;
    row.querySelector<HTMLInputElement>("input[type=checkbox]")!.click();
  }, name);
}

async function clickName(page: Page, name: string) {
  await waitForRow(page, name);
  await page.evaluate((n) => {
    const row = [...document.querySelectorAll<HTMLElement>("#list .row")].find((r) =>
      r.dataset.name === n
    )!;
    row.querySelector<HTMLElement>(".name")!.click();
  }, name);
}

async function goTo(page: Page, path: string) {
  await page.evaluate((p) => {
    location.hash = "#" + p.split("/").map(encodeURIComponent).join("/");
  }, path);
  await page.waitForFunction((p) => document.body.dataset.loaded === p, { timeout: 30_000 }, path);
}

/** Waits until the uploads of `paths` are done (or failed); returns their rows. */
async function waitUploads(page: Page, paths: string[], timeout = 60_000) {
  await page.waitForFunction(
    (wanted) => {
      const rows = [...document.querySelectorAll<HTMLElement>("li.upload[data-path]")];
      return wanted.every((p) =>
        rows.some((r) =>
          r.dataset.path === p && (r.dataset.state === "done" || r.dataset.state === "failed")
        )
      );
    },
    { timeout },
    paths,
  );
  const rows = await page.$$eval("li.upload[data-path]", (rows) =>
    rows.map((r) => ({
      path: (r as HTMLElement).dataset.path!,
      state: (r as HTMLElement).dataset.state!,
      progress: (r as HTMLElement).dataset.progress ?? "",
      bar: (r.querySelector("progress") as HTMLProgressElement).value,
      status: r.querySelector(".status")!.textContent ?? "",
    })));
  return rows.filter((r) => paths.includes(r.path));
}

async function signIn(page: Page, server: TestServer, user: keyof typeof PASSWORDS) {
  await page.goto(`${server.url}/`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("input[name=user]");
  await page.type("input[name=user]", user);
  await page.type("input[name=password]", PASSWORDS[user]);
  await Promise.all([
    page.waitForNavigation({ waitUntil: "domcontentloaded" }),
    page.click("button[type=submit]"),
  ]);
  await page.waitForFunction(() => document.body.dataset.loaded !== undefined, { timeout: 30_000 });
}

// ---- the test ------------------------------------------------------------------------

Deno.test({
  name:
    "the browser UI: sign in, folders, uploads (resumed too), rename, preview, download, share, delete, 10,000 entries",
  ignore: !haveS3 || skipped,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    needChromium();
    await Deno.mkdir(ARTIFACTS, { recursive: true });
    const scratch = await Deno.makeTempDir({ prefix: "pagefs-ui-" });
    const server = await startServer({
      env: {
        PAGEFS_USERS: await usersEnv(),
        PAGEFS_SECRET: "ui test secret, thirty-two characters or more",
      },
    });
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    const ui = new Ui(server, browser);
    const started = performance.now();
    // Steps build on each other: after a failure the rest are skipped, not timed out.
    let failed = false;
    const step = async (name: string, fn: () => Promise<void>) => {
      const ok = await t.step({
        name,
        ignore: failed,
        fn: async () => {
          try {
            await fn();
          } catch (error) {
            failed = true;
            // What the page showed, to tell why.
            for (const page of await browser.pages()) {
              if (page.url() === "about:blank") continue;
              const shown = await page.evaluate(() =>
                `status: ${document.getElementById("status")?.textContent}\n` +
                `uploads: ${document.getElementById("uploads-panel")?.textContent}\n` +
                `dialog: ${document.querySelector("dialog")?.textContent ?? "none"}`
              ).catch(() => "(no page)");
              console.log(`ui: after "${name}" failed, ${page.url()}:\n${shown}`);
              await page.screenshot({ path: `${ARTIFACTS}/failed.png` }).catch(() => {});
            }
            throw error;
          }
        },
      });
      return ok;
    };
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(20_000);
      ui.watch(page);
      await page.setViewport({ width: 1280, height: 800 });

      await step(
        "signed out, / asks to sign in; the session cookie is HttpOnly, SameSite=Strict",
        async () => {
          await page.goto(`${server.url}/`, { waitUntil: "domcontentloaded" });
          assert(page.url().endsWith("/ui/login"), page.url());
          await ui.shoot(page, "01-sign-in");
          // A wrong password is refused and sets no cookie.
          await page.type("input[name=user]", "alice");
          await page.type("input[name=password]", "wrong");
          await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
          assert((await page.content()).includes("Wrong user name or password"));
          assertEquals((await page.cookies()).length, 0);
          await signIn(page, server, "alice");
          const [cookie] = await page.cookies();
          assert(cookie, "a session cookie");
          assertEquals([cookie.name, cookie.httpOnly, cookie.sameSite], [
            "pagefs_session",
            true,
            "Strict",
          ]);
          // The page shows no write without its CSRF token: the cookie alone is refused.
          const res = await fetch(`${server.url}/api/v1/fs/csrf-probe`, {
            method: "PUT",
            body: "x",
            headers: { cookie: `${cookie.name}=${cookie.value}` },
          });
          assertEquals(res.status, 403);
          await res.body?.cancel();
          assertEquals(await ui.stat("/csrf-probe"), null);
          // Security headers on the page.
          const head = await fetch(`${server.url}/ui/login`);
          await head.body?.cancel();
          const csp = head.headers.get("content-security-policy") ?? "";
          assert(csp.includes("frame-ancestors 'none'") && csp.includes("script-src 'self'"), csp);
          assert(!csp.includes("unsafe-inline"), csp);
          assertEquals(head.headers.get("x-content-type-options"), "nosniff");
        },
      );

      await step("create a folder", async () => {
        await page.click("#new-folder");
        await page.waitForSelector("dialog input");
        await page.type("dialog input", "Projects");
        await page.keyboard.press("Enter");
        await waitForRow(page, "Projects");
        assertEquals((await ui.stat("/Projects"))?.type, "directory");
      });

      const textBytes = new TextEncoder().encode(
        "Hello from PageFS\nsecond line <b>not bold</b>\n",
      );
      const pngBytes = await png(96, 64);
      const binBytes = randomBytes(300_000);
      const dropBytes = new TextEncoder().encode("dropped file contents\n");

      await step("upload three files by the file input; progress reaches 100%", async () => {
        await goTo(page, "/Projects");
        await Deno.writeFile(`${scratch}/notes.txt`, textBytes);
        await Deno.writeFile(`${scratch}/picture.png`, pngBytes);
        await Deno.writeFile(`${scratch}/data.bin`, binBytes);
        const input = await fileInput(page);
        await input.uploadFile(
          `${scratch}/notes.txt`,
          `${scratch}/picture.png`,
          `${scratch}/data.bin`,
        );
        const rows = await waitUploads(page, [
          "/Projects/notes.txt",
          "/Projects/picture.png",
          "/Projects/data.bin",
        ]);
        assertEquals(rows.length, 3);
        for (const row of rows) {
          assertEquals(
            [row.state, row.progress, row.bar],
            ["done", "100", 100],
            JSON.stringify(row),
          );
        }
        assertEquals(await ui.fileBytes("/Projects/notes.txt"), textBytes);
        assertEquals(await ui.fileBytes("/Projects/picture.png"), pngBytes);
        assertEquals(await ui.fileBytes("/Projects/data.bin"), binBytes);
        for (const name of ["notes.txt", "picture.png", "data.bin"]) await waitForRow(page, name);
        await ui.shoot(page, "03-uploads");
      });

      await step("upload one file by a synthetic drop", async () => {
        await page.evaluate((text) => {
          const transfer = new DataTransfer();
          transfer.items.add(new File([text], "dropped.txt", { type: "text/plain" }));
          for (const type of ["dragenter", "dragover", "drop"]) {
            document.body.dispatchEvent(
              new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }),
            );
          }
        }, new TextDecoder().decode(dropBytes));
        const rows = await waitUploads(page, ["/Projects/dropped.txt"]);
        const dropped = rows.find((r) => r.path === "/Projects/dropped.txt");
        assertEquals([dropped?.state, dropped?.progress], ["done", "100"]);
        assertEquals(await ui.fileBytes("/Projects/dropped.txt"), dropBytes);
        await waitForRow(page, "dropped.txt");
      });

      await step("an existing name is asked about, not overwritten", async () => {
        await Deno.writeFile(`${scratch}/notes.txt`, new TextEncoder().encode("other"));
        await (await fileInput(page)).uploadFile(`${scratch}/notes.txt`);
        await page.waitForSelector("dialog[aria-label='File exists']");
        await ui.shoot(page, "04-conflict");
        await page.click("dialog button[value=skip]");
        await delay(300);
        assertEquals(await ui.fileBytes("/Projects/notes.txt"), textBytes);
        await Deno.writeFile(`${scratch}/notes.txt`, textBytes);
      });

      await step("interrupt an upload (network down) and resume it", async () => {
        const big = randomBytes(3 * 1024 * 1024);
        await Deno.writeFile(`${scratch}/big.bin`, big);
        const requests: { method: string; url: string; offset: string | null }[] = [];
        page.on("request", (r) => {
          if (r.url().includes("/api/v1/uploads/")) {
            requests.push({
              method: r.method(),
              url: r.url(),
              offset: r.headers()["upload-offset"] ?? null,
            });
          }
        });
        const cdp = await page.createCDPSession();
        // Small chunks over a slow link, so the upload is still running when the link drops.
        await page.evaluate(() => (document.body.dataset.chunk = String(256 * 1024)));
        await cdp.send("Network.enable");
        await cdp.send("Network.emulateNetworkConditions", {
          offline: false,
          latency: 20,
          downloadThroughput: 8 * 1024 * 1024,
          uploadThroughput: 1024 * 1024,
        });
        await (await fileInput(page)).uploadFile(`${scratch}/big.bin`);
        const rowFor = "li.upload[data-path='/Projects/big.bin']";
        await page.waitForFunction(
          (sel) => Number(document.querySelector<HTMLElement>(sel)?.dataset.progress ?? 0) >= 20,
          { timeout: 30_000 },
          rowFor,
        );
        await cdp.send("Network.emulateNetworkConditions", {
          offline: true,
          latency: 0,
          downloadThroughput: -1,
          uploadThroughput: -1,
        });
        await page.waitForFunction(
          (sel) => document.querySelector<HTMLElement>(sel)?.dataset.retried === "1",
          { timeout: 30_000 },
          rowFor,
        );
        const before = requests.length;
        // Nothing has landed at the target while the upload is cut off.
        assertEquals(await ui.stat("/Projects/big.bin"), null);
        await ui.shoot(page, "05-upload-interrupted");
        await cdp.send("Network.emulateNetworkConditions", {
          offline: false,
          latency: 0,
          downloadThroughput: -1,
          uploadThroughput: -1,
        });
        const rows = await waitUploads(page, ["/Projects/big.bin"], 60_000);
        assertEquals(rows.find((r) => r.path === "/Projects/big.bin")?.state, "done");
        assertEquals(await ui.fileBytes("/Projects/big.bin"), big);
        // It resumed: one upload created, and after the drop the client asked for the offset
        // and went on from where the server was, instead of starting again.
        const creations = requests.filter((r) => r.method === "POST" && r.offset === null);
        assertEquals(creations.length, 1, JSON.stringify(requests.slice(0, 3)));
        const after = requests.slice(before);
        assert(after.some((r) => r.method === "HEAD"), JSON.stringify(after));
        assert(
          after.some((r) => r.method === "PATCH" && Number(r.offset) > 0),
          JSON.stringify(after),
        );
        await cdp.detach();
      });

      await step("a name with markup shows literally and runs nothing", async () => {
        const evil = "<img src=x onerror=alert(1)>.txt";
        const res = await ui.api(`/fs/Projects/${encodeURIComponent(evil)}`, {
          method: "PUT",
          body: "x",
        });
        assertEquals(res.status, 201);
        await res.body?.cancel();
        await goTo(page, "/");
        await goTo(page, "/Projects");
        await waitForRow(page, evil);
        const shown = await page.evaluate((n) => {
          const row = [...document.querySelectorAll<HTMLElement>("#list .row")].find((r) =>
            r.dataset.name === n
          )!;
          return {
            text: row.querySelector(".name")!.textContent,
            imgs: document.querySelectorAll("#list img").length,
          };
        }, evil);
        assertEquals(shown, { text: evil, imgs: 0 });
        await delay(300);
        assertEquals(ui.dialogs, []);
        await ui.shoot(page, "02-folder");
      });

      await step("rename a folder with files in it", async () => {
        await goTo(page, "/");
        await selectRow(page, "Projects");
        await page.click("#rename");
        await page.waitForSelector("dialog input");
        await page.evaluate(
          () => (document.querySelector<HTMLInputElement>("dialog input")!.value = ""),
        );
        await page.type("dialog input", "Renamed");
        await page.keyboard.press("Enter");
        await waitForRow(page, "Renamed");
        assertEquals(await ui.stat("/Projects"), null);
        assertEquals((await ui.stat("/Renamed"))?.type, "directory");
        assertEquals(await ui.fileBytes("/Renamed/notes.txt"), textBytes);
        assertEquals(await ui.fileBytes("/Renamed/data.bin"), binBytes);
      });

      await step("preview an image and a text file", async () => {
        await goTo(page, "/Renamed");
        await clickName(page, "picture.png");
        await page.waitForFunction(() => {
          const img = document.querySelector<HTMLImageElement>("dialog img.preview-image");
          return img !== null && img.complete && img.naturalWidth === 96;
        }, { timeout: 15_000 });
        await ui.shoot(page, "06-preview-image");
        await page.keyboard.press("Escape");
        await page.waitForFunction(() => !document.querySelector("dialog"));
        await clickName(page, "notes.txt");
        await page.waitForSelector("dialog pre.preview-text");
        const text = await page.$eval("dialog pre.preview-text", (pre) => pre.textContent);
        assertEquals(text, new TextDecoder().decode(textBytes));
        assertEquals(await page.$$eval("dialog pre b", (b) => b.length), 0);
        await ui.shoot(page, "07-preview-text");
        await page.keyboard.press("Escape");
        await page.waitForFunction(() => !document.querySelector("dialog"));
      });

      await step("download a file and compare bytes", async () => {
        const downloads = await Deno.makeTempDir({ dir: scratch, prefix: "dl-" });
        const cdp = await page.createCDPSession();
        await cdp.send("Browser.setDownloadBehavior", {
          behavior: "allow",
          downloadPath: downloads,
        });
        await selectRow(page, "data.bin");
        await page.click("#download");
        const target = `${downloads}/data.bin`;
        const deadline = Date.now() + 30_000;
        let bytes: Uint8Array | null = null;
        while (Date.now() < deadline) {
          try {
            const stat = await Deno.stat(target);
            if (stat.size === binBytes.length) {
              bytes = await Deno.readFile(target);
              break;
            }
          } catch {
            // Not there yet.
          }
          await delay(100);
        }
        assertEquals(bytes, binBytes);
        await selectRow(page, "data.bin"); // unselect
        // Two entries at once come as one zip, streamed by the API.
        await selectRow(page, "notes.txt");
        await selectRow(page, "picture.png");
        await page.click("#download");
        const zipPath = `${downloads}/Renamed.zip`;
        let zip: Uint8Array | null = null;
        while (Date.now() < deadline + 30_000) {
          try {
            zip = await Deno.readFile(zipPath);
            if (zip.length > 0 && zip.at(-22) === 0x50) break;
          } catch {
            // Not there yet.
          }
          await delay(100);
        }
        assert(zip !== null, "the zip arrived");
        const text = new TextDecoder("latin1").decode(zip);
        assert(text.startsWith("PK") && text.includes("notes.txt") && text.includes("picture.png"));
        assert(text.includes(new TextDecoder("latin1").decode(textBytes)), "notes.txt's bytes");
        await selectRow(page, "notes.txt");
        await selectRow(page, "picture.png");
        await cdp.detach();
      });

      let shareUrl = "";
      await step("make a share link and open it signed out", async () => {
        await goTo(page, "/");
        await selectRow(page, "Renamed");
        await page.click("#share");
        await page.waitForSelector("form.share");
        await page.click("form.share button.primary");
        await page.waitForFunction(() =>
          document.querySelector<HTMLInputElement>("#share-url")?.value
        );
        shareUrl = await page.$eval("#share-url", (i) => (i as HTMLInputElement).value);
        assert(shareUrl.startsWith(`${server.url}/s/`), shareUrl);
        await ui.shoot(page, "08-share-dialog");
        await page.keyboard.press("Escape");
        const context = await browser.createBrowserContext();
        try {
          const guest = await context.newPage();
          ui.watch(guest);
          await guest.setViewport({ width: 1280, height: 800 });
          await guest.goto(shareUrl, { waitUntil: "domcontentloaded" });
          assertEquals((await guest.cookies()).length, 0);
          const names = await guest.$$eval("table a", (as) => as.map((a) => a.textContent));
          assert(names.includes("notes.txt") && names.includes("picture.png"), String(names));
          assert(names.includes("<img src=x onerror=alert(1)>.txt"), String(names));
          await ui.shoot(guest, "09-share-folder");
          // A DOM click: a mouse click at coordinates taken before the page's styles had
          // settled missed the link under load (the navigation never came, three times).
          await Promise.all([
            guest.waitForNavigation({ waitUntil: "domcontentloaded" }),
            guest.$eval("table a[href='notes.txt']", (a) => (a as HTMLAnchorElement).click()),
          ]);
          const raw = await guest.$eval("a[download]", (a) => (a as HTMLAnchorElement).href);
          const res = await fetch(raw);
          assertEquals(new Uint8Array(await res.arrayBuffer()), textBytes);
          // Signed out means read-only: the API refuses the guest.
          const put = await fetch(`${server.url}/api/v1/fs/Renamed/x.txt`, {
            method: "PUT",
            body: "x",
          });
          assertEquals(put.status, 401);
          await put.body?.cancel();
        } finally {
          await context.close();
        }
      });

      await step("revoke the share link", async () => {
        // "Renamed" is still selected from the step before.

        await page.click("#share");
        await page.waitForSelector("form.share button.danger");
        await page.click("form.share button.danger");
        await page.waitForFunction(() =>
          document.getElementById("status")?.textContent?.includes("revoked")
        );
        await page.keyboard.press("Escape");
        const res = await fetch(shareUrl);
        assertEquals(res.status, 410);
        await res.body?.cancel();
        await selectRow(page, "Renamed"); // unselect
      });

      await step("a symbolic link cannot be shared: the button says so", async () => {
        const made = await ui.api("/fs/to-notes", {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ op: "symlink", target: "Renamed/notes.txt" }),
        });
        assertEquals(made.status, 201, await made.text());
        await goTo(page, "/Renamed");
        await goTo(page, "/");
        await selectRow(page, "to-notes");
        const share = () =>
          page.$eval("#share", (b) => [(b as HTMLButtonElement).disabled, b.getAttribute("title")]);
        assertEquals(await share(), [true, "A link cannot be shared: share what it points to"]);
        await selectRow(page, "to-notes"); // unselect
        await selectRow(page, "Renamed");
        assertEquals(await share(), [false, ""]);
        await selectRow(page, "Renamed"); // unselect
      });

      await step("delete with confirmation", async () => {
        await goTo(page, "/Renamed");
        await selectRow(page, "dropped.txt");
        await page.click("#delete");
        await page.waitForSelector("dialog[role=alertdialog]");
        await ui.shoot(page, "10-delete-confirm");
        // A DOM click: a mouse click at coordinates taken while the page settled from the
        // screenshots' viewport changes missed the button under load (twice in session 21:
        // the dialog still open after 20 s).
        await page.$eval(
          "dialog[role=alertdialog] button.danger",
          (b) => (b as HTMLButtonElement).click(),
        );
        await page.waitForFunction(
          () =>
            ![...document.querySelectorAll<HTMLElement>("#list .row")].some((r) =>
              r.dataset.name === "dropped.txt"
            ) &&
            document.body.dataset.loaded === "/Renamed",
        );
        assertEquals(await ui.stat("/Renamed/dropped.txt"), null);
        assertEquals((await ui.stat("/Renamed/notes.txt"))?.type, "file");
      });

      await step("a read-only user sees no write actions", async () => {
        const context = await browser.createBrowserContext();
        try {
          const ro = await context.newPage();
          ui.watch(ro);
          await ro.setViewport({ width: 1280, height: 800 });
          await signIn(ro, server, "rob");
          await waitForRow(ro, "Renamed");
          for (
            const id of [
              "upload-files",
              "new-folder",
              "rename",
              "move",
              "delete",
              "share",
              "file-input",
            ]
          ) {
            assertEquals(await ro.$(`#${id}`), null, id);
          }
          assert(await ro.$("#download") !== null);
          await ui.shoot(ro, "11-read-only");
        } finally {
          await context.close();
        }
      });

      await step("a path-limited user starts in, and cannot leave, their folder", async () => {
        const made = await ui.api("/fs/home/lim/?parents=1", { method: "PUT" });
        assertEquals(made.status, 201);
        await made.body?.cancel();
        const put = await ui.api("/fs/home/lim/mine.txt", { method: "PUT", body: "mine" });
        await put.body?.cancel();
        const context = await browser.createBrowserContext();
        try {
          const lim = await context.newPage();
          ui.watch(lim);
          await lim.setViewport({ width: 1280, height: 800 });
          await signIn(lim, server, "lim");
          assertEquals(await lim.evaluate(() => document.body.dataset.loaded), "/home/lim");
          await waitForRow(lim, "mine.txt");
          assert(await lim.$eval("#up", (b) => (b as HTMLButtonElement).disabled));
          // Asking for the root lands back in the folder.
          await lim.evaluate(() => (location.hash = "#/"));
          await delay(300);
          await lim.waitForFunction(() => document.body.dataset.loaded === "/home/lim");
          const crumbs = await lim.$$eval("#crumbs li", (li) => li.map((l) => l.textContent));
          assertEquals(crumbs, ["lim"]);
          await ui.shoot(lim, "12-limited-user");
        } finally {
          await context.close();
        }
      });

      await step("10,000 entries render and scroll without freezing", async () => {
        // The 10,000-entry listing is answered in the browser (request interception) from
        // a listing built here in the API's shape: creating 10,000 files through the VFS
        // takes far longer than this test may (see the report of issue 14); what is
        // measured is the browser's side, rendering and scrolling.
        const bigPage = await browser.newPage();
        try {
          ui.watch(bigPage);
          await bigPage.setViewport({ width: 1280, height: 800 });
          const entries = Array.from({ length: 10_000 }, (_, i) => ({
            name: `file-${String(i).padStart(5, "0")}.txt`,
            type: "file",
            size: i * 37,
            mtime: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
            etag: `e${i}`,
            mode: 0o644,
            modeOctal: "0644",
          }));
          const listing = JSON.stringify({ path: "/big", entries, cursor: null });
          await bigPage.setRequestInterception(true);
          bigPage.on("request", (request) => {
            if (new URL(request.url()).pathname === "/api/v1/fs/big/") {
              request.respond({ status: 200, contentType: "application/json", body: listing });
            } else request.continue();
          });
          // Signed in as alice (the browser's cookies are shared between its pages).
          await bigPage.goto(`${server.url}/`, { waitUntil: "domcontentloaded" });
          await bigPage.waitForFunction(() => document.body.dataset.loaded === "/");
          const page = bigPage;
          const navStart = performance.now();
          await page.evaluate(() => (location.hash = "#/big"));
          await page.waitForFunction(
            () =>
              document.querySelectorAll("#list .row").length > 0 &&
              document.body.dataset.loading === undefined,
            { timeout: 60_000 },
          );
          const paintMs = performance.now() - navStart;
          const inPage = await page.evaluate(() => {
            const [start] = performance.getEntriesByName("pagefs:list-start");
            const [first] = performance.getEntriesByName("pagefs:list-first-rows");
            return first && start ? first.startTime - start.startTime : -1;
          });
          const count = await page.$eval("#count", (e) => e.textContent);
          assert(count?.startsWith("10000 items"), count ?? "");
          const domRows = await page.$$eval("#list .row", (r) => r.length);
          assert(domRows < 100, `only the rows in view exist (${domRows})`);
          // Scroll to the end in steps, timing frames.
          const frames = await page.evaluate(async () => {
            const list = document.getElementById("list")!;
            const gaps: number[] = [];
            let last = performance.now();
            for (let i = 0; i <= 40; i++) {
              list.scrollTop = (list.scrollHeight * i) / 40;
              await new Promise((r) => requestAnimationFrame(r));
              const now = performance.now();
              gaps.push(now - last);
              last = now;
            }
            return gaps;
          });
          const worst = Math.max(...frames);
          await waitForRow(page, "file-09999.txt", 5000);
          await ui.shoot(page, "13-ten-thousand");
          console.log(
            `ui: 10,000 entries: first rows painted ` +
              `${paintMs.toFixed(0)} ms after navigation (${inPage.toFixed(0)} ms in page); ` +
              `worst frame while scrolling ${worst.toFixed(0)} ms; ${domRows} rows in the DOM`,
          );
          assert(paintMs < 10_000, `first paint took ${paintMs} ms`);
          assert(worst < 500, `a frame took ${worst} ms while scrolling`);
        } finally {
          await bigPage.close();
        }
      });

      assertEquals(ui.dialogs, [], "no alert() ran");
      assertEquals(ui.errors, [], "no script errors");
    } finally {
      console.log(
        `ui: screenshots in ${ARTIFACTS}/:\n  ${
          ui.shots.map((s) => s.slice(ARTIFACTS.length + 1)).join("\n  ")
        }`,
      );
      console.log(`ui: browser test took ${((performance.now() - started) / 1000).toFixed(1)} s`);
      await browser.close();
      await server.close();
      await Deno.remove(scratch, { recursive: true });
    }
  },
});
