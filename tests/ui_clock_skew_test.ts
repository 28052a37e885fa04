// Share links and sign-in sessions between instances whose host clocks disagree, on one
// bucket: a link's or session's expiry is set and judged on the store's clock, so every
// instance that holds the secret agrees on it. Before session 17 each instance judged by its
// own host's clock: a 60 s share link (the shortest the UI makes) made on one instance was
// already expired on one 90 s ahead, and a session cookie from one instance was refused by
// one 13 hours ahead (and kept by one 13 hours behind, past its 12 hours).

import { assertEquals } from "./_assert.ts";
import { createApp } from "../src/app.ts";
import { Authenticator, hashPassword } from "../src/auth/mod.ts";
import { MemoryStore, StoreMetrics } from "../src/store/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";

const SECRET = "unit test secret that is long enough!";
const URL_ = "http://pagefs.test";

/** Instances over one store whose clock reads `t`, each with its host's clock `skew` off. */
async function skewed() {
  let t = 1_800_000_000_000;
  const store = new MemoryStore({ clock: () => t });
  const hash = await hashPassword("pw", { iterations: 1000 });
  const auth = await Authenticator.load({ PAGEFS_USERS: `alice:${hash}:rw` });
  const at = async (skew: number) => {
    const vfs = await Vfs.open(store, { now: () => t + skew });
    const app = createApp({ store, metrics: new StoreMetrics(), vfs, auth, secret: SECRET });
    return Object.assign(app, { vfs });
  };
  return { t: () => t, pass: (ms: number) => void (t += ms), at };
}

type App = ReturnType<typeof createApp>;

async function signIn(app: App): Promise<string> {
  const res = await app.request(`${URL_}/ui/login`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: URL_ },
    body: new URLSearchParams({ user: "alice", password: "pw", next: "/" }),
  });
  await res.body?.cancel();
  return res.headers.get("set-cookie")?.split(";")[0] ?? "";
}

/** The status of GET `path` on `app` with `cookie`. */
async function status(app: App, path: string, cookie = ""): Promise<number> {
  const res = await app.request(`${URL_}${path}`, { headers: cookie ? { cookie } : {} });
  await res.text();
  return res.status;
}

Deno.test("a 60 s share link opens on an instance 90 s ahead until it lapses", async () => {
  const { at, pass } = await skewed();
  const onTime = await at(0);
  const ahead = await at(90_000);
  await onTime.vfs.mkdir("/docs");
  const cookie = await signIn(onTime);
  const page = await (await onTime.request(`${URL_}/`, { headers: { cookie } })).text();
  const csrf = /data-csrf="([^"]*)"/.exec(page)![1]!;
  const made = await onTime.request(`${URL_}/ui/share`, {
    method: "POST",
    headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" },
    body: JSON.stringify({ path: "/docs", seconds: 60 }),
  });
  assertEquals(made.status, 201);
  const { url: link } = await made.json();
  assertEquals(await status(ahead, link), 200, "opened at once on the instance ahead");
  pass(58_000);
  assertEquals(await status(ahead, link), 200, "2 s before it lapses");
  pass(4_000);
  assertEquals([await status(ahead, link), await status(onTime, link)], [410, 410]);
});

Deno.test("a session lasts its 12 hours on instances 13 hours apart", async () => {
  const { at, pass } = await skewed();
  const onTime = await at(0);
  const ahead = await at(13 * 3600_000);
  const behind = await at(-13 * 3600_000);
  const cookie = await signIn(onTime);
  assertEquals(await status(ahead, "/", cookie), 200, "signed in on the instance ahead");
  pass(12 * 3600_000 + 2_000);
  // Signed out: the page answers with the sign-in form (or a redirect to it), not the app.
  const after = await behind.request(`${URL_}/`, { headers: { cookie } });
  const text = await after.text();
  assertEquals(text.includes("data-csrf"), false, "the lapsed session on the instance behind");
});
