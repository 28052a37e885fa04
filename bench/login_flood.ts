/**
 * Sign-in as a CPU attack: how long a signed-in client's GET takes while 16 clients send
 * wrong Basic passwords as fast as the server answers (docs/auth.md, "Failed sign-ins").
 * Starts `main.ts --listen` on the memory store with one user (PBKDF2 at the default
 * 210,000 iterations) and one API token, measures the token's `GET /api/v1/stat/` alone,
 * then under the flood, and prints the figures and the flood's answers by status, and how
 * long alice's first sign-in with the right password takes in the middle of the flood.
 * The server trusts `X-Forwarded-For` (as behind a proxy), so that each client has an
 * address of its own: `one` floods from one address, `many` from sixteen.
 *
 *     nice -n 10 deno run --allow-all bench/login_flood.ts [seconds] [one|many]
 *
 * @module
 */

import { hashPassword, hashToken } from "../src/auth/hash.ts";

const seconds = Number(Deno.args[0] ?? 10);
const spread = Deno.args[1] === "many";
const port = 18000 + Math.floor(Math.random() * 1000);
const base = `http://127.0.0.1:${port}`;
const token = "flood-bench-token-0123456789abcdef";
const users = {
  users: [{ name: "alice", password: await hashPassword("right"), access: "rw" }],
  tokens: [{ name: "ci", token: await hashToken(token), access: "rw" }],
};
const server = new Deno.Command(Deno.execPath(), {
  args: ["run", "--allow-all", new URL("../main.ts", import.meta.url).pathname, "--listen"],
  env: {
    PORT: String(port),
    PAGEFS_STORE: "memory",
    PAGEFS_USERS: JSON.stringify(users),
    PAGEFS_TRUST_FORWARDED: "true",
  },
  stdout: "null",
  stderr: "null",
}).spawn();

async function until(ok: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await ok().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("The server did not start");
}
await until(async () => (await (await fetch(`${base}/healthz`)).text()).length > 0);

async function probe(ms: number): Promise<number[]> {
  const times: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const t = performance.now();
    const res = await fetch(`${base}/api/v1/stat/`, {
      headers: { authorization: `Bearer ${token}` },
    });
    await res.body?.cancel();
    times.push(performance.now() - t);
    await new Promise((r) => setTimeout(r, 50));
  }
  return times;
}

function summary(times: number[]): string {
  const s = [...times].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!.toFixed(1);
  return `n=${s.length} median=${at(0.5)} ms p95=${at(0.95)} ms max=${at(1)} ms`;
}

console.log(`idle:  ${summary(await probe(seconds * 500))}`);
let stop = false;
const statuses = new Map<number, number>();
const bad = `Basic ${btoa("alice:wrong")}`;
const flood = Array.from({ length: 16 }, async (_, i) => {
  while (!stop) {
    const res = await fetch(`${base}/api/v1/stat/`, {
      headers: {
        authorization: i % 2 ? bad : `Basic ${btoa(`nobody${i}:x`)}`,
        "x-forwarded-for": spread ? `10.0.0.${i + 1}` : "10.0.0.1",
      },
    }).catch(() => null);
    await res?.body?.cancel();
    if (res) statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  }
});
await new Promise((r) => setTimeout(r, 1000));
const probed = probe(seconds * 1000);
await new Promise((r) => setTimeout(r, seconds * 500));
const login = performance.now();
const first = await fetch(`${base}/api/v1/stat/`, {
  headers: { authorization: `Basic ${btoa("alice:right")}`, "x-forwarded-for": "10.9.9.9" },
});
await first.body?.cancel();
const signIn = `${first.status} in ${(performance.now() - login).toFixed(1)} ms`;
console.log(`flood: ${summary(await probed)}`);
console.log(`alice's first sign-in during the flood: ${signIn}`);
stop = true;
await Promise.all(flood);
console.log(`flood answers in ${seconds + 1} s:`, Object.fromEntries(statuses));
server.kill("SIGTERM");
await server.status;
