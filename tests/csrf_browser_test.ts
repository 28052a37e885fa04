/// <reference lib="dom" />
// Cross-site request forgery, in the real browser (Debian's Chromium through puppeteer-core,
// against a server process on the memory store): alice signs in to the file manager, then
// opens an attacker's page that fires every request a page may send without a preflight at
// PageFS (form posts urlencoded, multipart and text/plain with a JSON body, `fetch` with
// `mode: "no-cors"`, to the HTTP API, uploads, share creation and sign-out) and a `PUT` with
// credentials (which needs a preflight no one answers). Nothing may change and alice stays
// signed in.
//
// The attacker's page is served twice (docs/ui.md, "CSRF"):
// - from `localhost`: another site. `SameSite=Strict` keeps the session cookie home, so the
//   requests arrive with no credential (401).
// - from `127.0.0.1` on another port: another origin but the same site, so the browser does
//   send the cookie (ports do not part sites); what holds there is the CSRF token and the
//   `Sec-Fetch-Site` check of sign-in and sign-out (403), and the API's demand for a JSON
//   type (415 before the token would be looked at, were it not looked at first).
// Each response the browser saw is recorded, so a request that never left counts as a
// failure of the test, not a pass.
//
// Without /usr/bin/chromium the test fails under CI=true and is skipped elsewhere.

import puppeteer from "puppeteer-core";
import { assert, assertEquals } from "./_assert.ts";
import { CHROMIUM, needChromium, skipBrowser } from "./_chromium.ts";
import { freePort, startServer } from "./_server.ts";
import { hashPassword } from "../src/auth/mod.ts";

const skipped = skipBrowser("csrf_browser_test");

const PASSWORD = "alice pw 1";
const BASIC = `Basic ${btoa(`alice:${PASSWORD}`)}`;

/** The attacker's page: every request it fires at `victim`, each named by its path. */
function attackPage(victim: string): string {
  const form = (name: string, action: string, enctype: string, fields: string) =>
    `<iframe name="f-${name}"></iframe>
     <form id="${name}" target="f-${name}" method="POST" action="${victim}${action}" enctype="${enctype}">
       ${fields}</form>`;
  const json = (body: string) => `<input name='${body.slice(0, -2)},"x":"' value='"}'>`; // text/plain: name=value
  return `<!DOCTYPE html><html><body>
    ${
    form(
      "url",
      "/api/v1/fs/evil-url",
      "application/x-www-form-urlencoded",
      '<input name="op" value="mkdir">',
    )
  }
    ${
    form("multi", "/api/v1/fs/evil-multi", "multipart/form-data", '<input name="op" value="mkdir">')
  }
    ${form("text", "/api/v1/fs/evil-text", "text/plain", json('{"op":"mkdir"}'))}
    ${
    form("rename", "/api/v1/fs/secret.txt", "text/plain", json('{"op":"rename","to":"/moved.txt"}'))
  }
    ${form("upload", "/api/v1/uploads/", "text/plain", '<input name="a" value="b">')}
    ${form("share", "/ui/share", "text/plain", json('{"path":"/secret.txt","seconds":3600}'))}
    ${
    form(
      "logout",
      "/ui/logout",
      "application/x-www-form-urlencoded",
      '<input name="csrf" value="">',
    )
  }
    <script src="attack.js"></script></body></html>`;
}

function attackScript(victim: string): string {
  return `
    for (const id of ["url", "multi", "text", "rename", "upload", "share", "logout"]) {
      document.getElementById(id).submit();
    }
    const plain = { "content-type": "text/plain" };
    const sent = [
      fetch("${victim}/api/v1/fs/evil-fetch", { method: "POST", mode: "no-cors",
        credentials: "include", headers: plain, body: '{"op":"mkdir"}' }),
      fetch("${victim}/api/v1/fs/secret.txt?op=delete", { method: "POST", mode: "no-cors",
        credentials: "include", headers: plain, body: '{"op":"setxattr","name":"user.x","value":""}' }),
      fetch("${victim}/ui/share", { method: "POST", mode: "no-cors", credentials: "include",
        headers: plain, body: '{"path":"/secret.txt","seconds":3600}' }),
      fetch("${victim}/api/v1/fs/evil-put", { method: "PUT", credentials: "include", body: "x" }),
    ];
    Promise.allSettled(sent).then(() => { document.body.dataset.done = "1"; });`;
}

Deno.test({
  name: "a page on another site or origin cannot make a signed-in browser change anything",
  ignore: skipped,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    needChromium();
    const server = await startServer({
      store: "memory",
      env: {
        PAGEFS_USERS: `alice:${await hashPassword(PASSWORD, { iterations: 1000 })}:rw`,
        PAGEFS_SECRET: "csrf test secret, thirty-two characters or more",
      },
    });
    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${server.url}${path}`, { ...init, headers: { authorization: BASIC } });
    const put = await api("/api/v1/fs/secret.txt", { method: "PUT", body: "alice's" });
    assertEquals(put.status, 201, await put.text());
    const before = await (await api("/api/v1/fs/?limit=100")).text();

    const port = freePort();
    const attacker = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/attack.js") {
        return new Response(attackScript(server.url), {
          headers: { "content-type": "text/javascript" },
        });
      }
      return new Response(attackPage(server.url), { headers: { "content-type": "text/html" } });
    });
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    try {
      const page = await browser.newPage();
      page.setDefaultTimeout(20_000);
      await page.goto(`${server.url}/`, { waitUntil: "domcontentloaded" });
      await page.waitForSelector("input[name=user]");
      await page.type("input[name=user]", "alice");
      await page.type("input[name=password]", PASSWORD);
      await Promise.all([
        page.waitForNavigation({ waitUntil: "domcontentloaded" }),
        page.click("button[type=submit]"),
      ]);
      assert(page.url() === `${server.url}/`, page.url());
      const signedIn = () =>
        page.evaluate(async () => {
          const res = await fetch("/api/v1/stat/", { credentials: "same-origin" });
          return res.status;
        });
      assertEquals(await signedIn(), 200);

      for (const host of ["localhost", "127.0.0.1"]) {
        const seen: Record<string, number> = {};
        const attack = await browser.newPage();
        attack.on("response", (res) => {
          const url = new URL(res.url());
          if (url.origin === server.url) {
            seen[`${res.request().method()} ${url.pathname}`] = res.status();
          }
        });
        await attack.goto(`http://${host}:${port}/`, { waitUntil: "load" });
        await attack.waitForFunction(() => document.body.dataset.done === "1");
        // The form posts load into frames: wait until each has its answer.
        const expected = [
          "POST /api/v1/fs/evil-url",
          "POST /api/v1/fs/evil-multi",
          "POST /api/v1/fs/evil-text",
          "POST /api/v1/fs/secret.txt",
          "POST /api/v1/uploads/",
          "POST /ui/share",
          "POST /ui/logout",
          "POST /api/v1/fs/evil-fetch",
          "OPTIONS /api/v1/fs/evil-put",
        ];
        const deadline = Date.now() + 15_000;
        while (expected.some((k) => !(k in seen)) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 50));
        }
        console.log(`attacker at http://${host}:${port}/ saw:`, JSON.stringify(seen));
        for (const key of expected) assert(key in seen, `${host}: no answer to ${key}`);
        for (const [key, status] of Object.entries(seen)) {
          // OPTIONS: the preflight of the PUT, which gets no CORS headers, so no PUT follows.
          if (key.startsWith("OPTIONS ")) continue;
          assert(status >= 400 && status < 500, `${host}: ${key} answered ${status}`);
        }
        assert(!("PUT /api/v1/fs/evil-put" in seen), `${host}: the PUT was sent`);
        if (host === "localhost") {
          // Another site: the session cookie stayed home.
          assertEquals(seen["POST /api/v1/fs/evil-text"], 401);
        } else {
          // The same site: the cookie came, the CSRF token did not.
          assertEquals(seen["POST /api/v1/fs/evil-text"], 403);
          assertEquals(seen["POST /ui/logout"], 403);
        }
        await attack.close();
        assertEquals(await signedIn(), 200, `${host}: alice was signed out`);
      }
      const after = await (await api("/api/v1/fs/?limit=100")).text();
      assertEquals(after, before);
      const secret = await api("/api/v1/fs/secret.txt");
      assertEquals(await secret.text(), "alice's");
      const xattrs = await (await api("/api/v1/xattr/secret.txt")).text();
      assert(!xattrs.includes("user.x") && !xattrs.includes("share-generation"), xattrs);
    } finally {
      await browser.close();
      await attacker.shutdown();
      await server.close();
    }
  },
});
