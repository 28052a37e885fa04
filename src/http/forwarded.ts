/**
 * The scheme and host a client reached the service by, when a reverse proxy in front
 * says so in `Forwarded` (RFC 7239) or `X-Forwarded-Host` / `X-Forwarded-Proto`. Trusted
 * only when configured (`PAGEFS_TRUST_FORWARDED`), as reverse-proxy aware servers do
 * (@tus/server's `respectForwardedHeaders`, Express's `trust proxy`): without a proxy that
 * overwrites them they are the client's own words.
 *
 * @module
 */

const HOST = /^[A-Za-z0-9.\-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/**
 * What the first proxy hop forwarded: a well-formed host and an `http`/`https` scheme,
 * each null when absent or malformed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { forwardedOf } from "./forwarded.ts";
 * const h = new Headers({ forwarded: 'for=1.2.3.4;host="a.example:8443";proto=https' });
 * assert(forwardedOf(h).host === "a.example:8443" && forwardedOf(h).proto === "https");
 * ```
 */
export function forwardedOf(headers: Headers): { host: string | null; proto: string | null } {
  const forwarded = headers.get("forwarded")?.split(",")[0];
  const host = forwarded?.match(/(?:^|;)\s*host="?([^";]+)"?/i)?.[1] ??
    headers.get("x-forwarded-host")?.split(",")[0]?.trim();
  const proto = forwarded?.match(/(?:^|;)\s*proto="?([^";]+)"?/i)?.[1] ??
    headers.get("x-forwarded-proto")?.split(",")[0]?.trim();
  return {
    host: host && HOST.test(host) ? host : null,
    proto: proto && /^https?$/i.test(proto) ? proto.toLowerCase() : null,
  };
}

/**
 * `scheme://host` the client reached us by: the request's own, or with `trust` what a
 * proxy forwarded (each part that it forwarded well-formed).
 */
export function originOf(request: Request, trust: boolean): string {
  const url = new URL(request.url);
  const own = { proto: url.protocol.slice(0, -1), host: url.host };
  if (!trust) return `${own.proto}://${own.host}`;
  const fwd = forwardedOf(request.headers);
  return `${fwd.proto ?? own.proto}://${fwd.host ?? own.host}`;
}

/**
 * Whether the browser reached the service over HTTPS: the request's own scheme (Deno
 * Deploy, TLS in `Deno.serve`), or a TLS proxy's word for it (`Forwarded: proto=https` or
 * `X-Forwarded-Proto: https`). That word is taken even without `PAGEFS_TRUST_FORWARDED`:
 * it can only make a cookie stricter (`Secure`, `__Host-`), and a client that claims HTTPS
 * over plain HTTP gets a cookie its own browser refuses, which harms no one else. A proxy
 * that ends TLS and says nothing gets plain-HTTP cookies, as before.
 */
export function reachedOverHttps(request: Request): boolean {
  if (request.url.startsWith("https:")) return true;
  return forwardedOf(request.headers).proto === "https";
}

/**
 * Who a client is, for per-client bounds (failed sign-ins: `src/auth/password_gate.ts`):
 * the peer address, or with `trust` the address the proxy in front names last (the one it
 * added: earlier entries are the client's own words). IPv6 addresses count per /64, the
 * block one host usually holds. `""` when no client can be told apart: nothing is known, or
 * the address is a loopback one, which is what every client looks like behind a proxy on
 * the same host that is not trusted (a bound per client would then make one guesser's
 * failures everyone's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientKey } from "./forwarded.ts";
 * const req = new Request("http://h/", { headers: { "x-forwarded-for": "6.6.6.6, 10.0.0.7" } });
 * assert(clientKey(req, "10.0.0.1", false) === "10.0.0.1");
 * assert(clientKey(req, "10.0.0.1", true) === "10.0.0.7");
 * assert(clientKey(req, "127.0.0.1", false) === "" && clientKey(req, "::1", false) === "");
 * assert(clientKey(req, "2001:db8:1:2:3:4:5:6", false) === "2001:db8:1:2::/64");
 * ```
 */
export function clientKey(request: Request, peer: string | null, trust: boolean): string {
  let address = peer ?? "";
  if (trust) {
    const forwarded = request.headers.get("forwarded")?.split(",").at(-1)
      ?.match(/(?:^|;)\s*for="?\[?([^";\]]+)/i)?.[1];
    const xff = request.headers.get("x-forwarded-for")?.split(",").at(-1)?.trim();
    address = forwarded ?? xff ?? address;
  }
  if (/^127\./.test(address) || /^(\[?::1\]?|::ffff:127\.[\d.]+)$/i.test(address)) return "";
  return address.includes(":") ? ipv6Block(address) : address;
}

function ipv6Block(address: string): string {
  const bare = address.replace(/^\[|\](:\d+)?$/g, "").replace(/%.*$/, "");
  const [head = "", tail] = bare.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = tail === undefined
    ? left
    : [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
  return `${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "").toLowerCase()).join(":")}::/64`;
}
