import { assert, assertEquals } from "../../tests/_assert.ts";
import { base64url, fromBase64url, Signer } from "../auth/mod.ts";
import { ShareTokens } from "./share_token.ts";

const SECRET = "share test secret of some length";
const GRANT = { path: "/docs/a b.txt", ino: "17", generation: "gen1" };

Deno.test("`ShareTokens.open()` returns what `create()` signed", async () => {
  const tokens = new ShareTokens(new Signer(SECRET), { now: () => 1_000_000_000 });
  const { token, expires } = await tokens.create(GRANT, { seconds: 3600 });
  assertEquals(expires, 1_000_000 + 3600);
  const grant = await tokens.open(token);
  assert(typeof grant === "object");
  assertEquals([grant.path, grant.ino, grant.generation, grant.hasPassword], [
    "/docs/a b.txt",
    "17",
    "gen1",
    false,
  ]);
  // Any instance with the same secret opens it.
  const other = new ShareTokens(new Signer(SECRET), { now: () => 1_000_000_000 });
  assert(typeof await other.open(token) === "object");
});

Deno.test("`ShareTokens.open()` refuses an expired link", async () => {
  let now = 5_000_000_000;
  const tokens = new ShareTokens(new Signer(SECRET), { now: () => now });
  const { token } = await tokens.create(GRANT, { seconds: 60 });
  now += 59_999;
  assert(typeof await tokens.open(token) === "object");
  now += 1;
  assertEquals(await tokens.open(token), "expired");
});

Deno.test("`ShareTokens.open()` refuses a tampered or foreign token", async () => {
  const tokens = new ShareTokens(new Signer(SECRET));
  const { token } = await tokens.create(GRANT, { seconds: 60 });
  const [body, mac] = token.split(".") as [string, string];
  const data = JSON.parse(new TextDecoder().decode(fromBase64url(body)!));
  for (const change of [{ p: "/" }, { e: data.e + 86400 }, { g: "other" }, { i: "1" }]) {
    const forged = base64url(new TextEncoder().encode(JSON.stringify({ ...data, ...change })));
    assertEquals(await tokens.open(`${forged}.${mac}`), "invalid", JSON.stringify(change));
  }
  const foreign = await new ShareTokens(new Signer("another secret")).create(GRANT, {
    seconds: 60,
  });
  assertEquals(await tokens.open(foreign.token), "invalid");
  for (const bad of ["", ".", "abc", `${body}.`, `${body}.${mac}x`, "a".repeat(5000)]) {
    assertEquals(await tokens.open(bad), "invalid", bad);
  }
  // A session MAC over the same bytes is no share MAC.
  const sessionMac = base64url(await new Signer(SECRET).sign("session", body));
  assertEquals(await tokens.open(`${body}.${sessionMac}`), "invalid");
});

Deno.test("a share link's password is checked and not readable from the token", async () => {
  const tokens = new ShareTokens(new Signer(SECRET));
  const { token } = await tokens.create(GRANT, { seconds: 60, password: "s3cret" });
  assert(!new TextDecoder().decode(fromBase64url(token.split(".")[0]!)!).includes("s3cret"));
  const grant = await tokens.open(token);
  assert(typeof grant === "object" && grant.hasPassword);
  assert(await tokens.checkPassword(grant, "s3cret"));
  assert(!await tokens.checkPassword(grant, "s3cret "));
  assert(!await tokens.checkPassword(grant, ""));
  const unlock = await tokens.unlockValue(token);
  assert(await tokens.checkUnlock(token, unlock));
  const other = await tokens.create(GRANT, { seconds: 60, password: "s3cret" });
  assert(!await tokens.checkUnlock(other.token, unlock));
  assert(!await tokens.checkUnlock(token, null));
});
