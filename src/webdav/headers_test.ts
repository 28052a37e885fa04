import assert from "node:assert/strict";
import {
  evaluateIf,
  HeaderError,
  type IfList,
  type IfResourceState,
  parseDepth,
  parseDestination,
  parseIf,
  parseLockToken,
  parseOverwrite,
  parseTimeout,
  submittedTokens,
} from "./headers.ts";

function assertHeaderError(fn: () => unknown, header: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof HeaderError, `expected HeaderError, got ${e}`);
    assert.equal(e.status, 400);
    assert.equal(e.header, header);
    assert.ok(e.message.includes(header), e.message);
    return true;
  });
}

Deno.test("parseDepth() accepts 0, 1 and infinity in any case", () => {
  assert.equal(parseDepth(null, "infinity"), "infinity");
  assert.equal(parseDepth(null, "0"), "0");
  assert.equal(parseDepth("0", "infinity"), "0");
  assert.equal(parseDepth(" 1 ", "0"), "1");
  assert.equal(parseDepth("Infinity", "0"), "infinity");
  assert.equal(parseDepth("INFINITY", "0"), "infinity");
  for (const bad of ["", "2", "inf", "1,0", "-1"]) {
    assertHeaderError(() => parseDepth(bad, "0"), "Depth");
  }
});

Deno.test("parseOverwrite() accepts exactly T or F", () => {
  assert.equal(parseOverwrite(null), true);
  assert.equal(parseOverwrite("T"), true);
  assert.equal(parseOverwrite("F"), false);
  for (const bad of ["", "t", "f", "true", "yes", "TF"]) {
    assertHeaderError(() => parseOverwrite(bad), "Overwrite");
  }
});

Deno.test("parseTimeout() returns the first understood TimeType", () => {
  assert.equal(parseTimeout(null), null);
  assert.equal(parseTimeout("Second-600"), 600);
  assert.equal(parseTimeout("Infinite, Second-4100000000"), Infinity);
  assert.equal(parseTimeout("Second-600, Infinite"), 600);
  assert.equal(parseTimeout("Extended-7, second-30"), 30);
  assert.equal(parseTimeout("Second-x, Second-0"), 0);
  assert.equal(parseTimeout("Second-99999999999"), 2 ** 32 - 1);
  for (const bad of ["", "Second-", "Second--1", "Minute-5", ",", "Second-1.5"]) {
    assertHeaderError(() => parseTimeout(bad), "Timeout");
  }
});

Deno.test("parseLockToken() strips the angle brackets", () => {
  assert.equal(parseLockToken(null), null);
  assert.equal(parseLockToken("<urn:uuid:abc-1>"), "urn:uuid:abc-1");
  assert.equal(parseLockToken("  <opaquelocktoken:x>  "), "opaquelocktoken:x");
  for (const bad of ["", "urn:uuid:a", "<>", "<urn:uuid:a", "urn:uuid:a>", "<a b>", "<a>>"]) {
    assertHeaderError(() => parseLockToken(bad), "Lock-Token");
  }
});

Deno.test("parseDestination() resolves absolute URIs and paths", () => {
  const req = new URL("http://host:8080/dav/a.txt");
  assert.equal(
    parseDestination("http://host:8080/dav/b.txt", req).href,
    "http://host:8080/dav/b.txt",
  );
  assert.equal(parseDestination("/dav/c%20d.txt", req).href, "http://host:8080/dav/c%20d.txt");
  assert.equal(parseDestination("https://other/x", req).href, "https://other/x");
  assertHeaderError(() => parseDestination(null, req), "Destination");
  for (const bad of ["", "  ", "relative/path", "//evil/x", "http://[bad"]) {
    assertHeaderError(() => parseDestination(bad, req), "Destination");
  }
});

Deno.test("parseIf() parses the RFC 4918 section 10.4 examples", () => {
  // 10.4.6
  assert.deepEqual(
    parseIf(
      `(<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2> ["I am an ETag"]) (["I am another ETag"])`,
    ),
    [
      {
        resource: null,
        conditions: [
          { not: false, kind: "token", token: "urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2" },
          { not: false, kind: "etag", etag: `"I am an ETag"` },
        ],
      },
      { resource: null, conditions: [{ not: false, kind: "etag", etag: `"I am another ETag"` }] },
    ],
  );
  // 10.4.7
  assert.deepEqual(
    parseIf(
      `(Not <urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2> <urn:uuid:58f202ac-22cf-11d1-b12d-002035b29092>)`,
    ),
    [{
      resource: null,
      conditions: [
        { not: true, kind: "token", token: "urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2" },
        { not: false, kind: "token", token: "urn:uuid:58f202ac-22cf-11d1-b12d-002035b29092" },
      ],
    }],
  );
  // 10.4.9
  assert.deepEqual(
    parseIf(
      `<http://www.example.com/resource1> (<urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2> [W/"A weak ETag"]) (["strong ETag"])`,
    ),
    [
      {
        resource: "http://www.example.com/resource1",
        conditions: [
          { not: false, kind: "token", token: "urn:uuid:181d4fae-7d8c-11d0-a765-00a0c91e6bf2" },
          { not: false, kind: "etag", etag: `W/"A weak ETag"` },
        ],
      },
      {
        resource: "http://www.example.com/resource1",
        conditions: [{ not: false, kind: "etag", etag: `"strong ETag"` }],
      },
    ],
  );
  // 10.4.11
  assert.deepEqual(parseIf(`<http://example.com/specs/rfc2518.doc> (["4217"])`), [
    {
      resource: "http://example.com/specs/rfc2518.doc",
      conditions: [{ not: false, kind: "etag", etag: `"4217"` }],
    },
  ]);
});

Deno.test("parseIf() parses the litmus shapes", () => {
  assert.equal(parseIf(null), null);
  assert.deepEqual(parseIf("(<urn:uuid:a>)"), [
    { resource: null, conditions: [{ not: false, kind: "token", token: "urn:uuid:a" }] },
  ]);
  assert.deepEqual(parseIf("(Not <DAV:no-lock>)"), [
    { resource: null, conditions: [{ not: true, kind: "token", token: "DAV:no-lock" }] },
  ]);
  assert.deepEqual(parseIf(`(<urn:uuid:a> ["etag"])`), [{
    resource: null,
    conditions: [
      { not: false, kind: "token", token: "urn:uuid:a" },
      { not: false, kind: "etag", etag: `"etag"` },
    ],
  }]);
  assert.deepEqual(parseIf(`<http://h/x> (<t1>) (Not <DAV:no-lock> ["e"])`), [
    { resource: "http://h/x", conditions: [{ not: false, kind: "token", token: "t1" }] },
    {
      resource: "http://h/x",
      conditions: [
        { not: true, kind: "token", token: "DAV:no-lock" },
        { not: false, kind: "etag", etag: `"e"` },
      ],
    },
  ]);
  // Several resources, odd spacing, "not" in any case, URL with spaces and parentheses.
  assert.deepEqual(parseIf(`\t<http://h/a b(1)>(<t1>)\n <http://h/c>  (NOT<t2>)`), [
    { resource: "http://h/a b(1)", conditions: [{ not: false, kind: "token", token: "t1" }] },
    { resource: "http://h/c", conditions: [{ not: true, kind: "token", token: "t2" }] },
  ]);
});

Deno.test("parseIf() refuses malformed headers", () => {
  for (
    const bad of [
      "",
      "   ",
      "()",
      "( )",
      "(<a>",
      "(<a>))",
      "<a>",
      "<http://h/x> <http://h/y> (<t>)",
      "<http://h/x>",
      "(urn:uuid:a)",
      "(<urn:uuid:a> junk)",
      "(<a>) junk (<b>)",
      "(<a>) <http://h/x> (<b>)", // untagged then tagged
      "<http://h/x> (<a>) (<b>) x",
      "(Not)",
      "(Not Not <a>)",
      "(<>)",
      "([])",
      "([etag])",
      `(["a"b"])`,
      `(["a")`,
      "(<a",
      "<http://h/x (<a>)",
      "(<a>)(",
    ]
  ) {
    assertHeaderError(() => parseIf(bad), "If");
  }
});

Deno.test("parseIf() allows an untagged list after a tagged one only as a tagged list", () => {
  // A "(" after a tagged list belongs to the same Resource-Tag: that is still the tagged form.
  const lists = parseIf("<http://h/x> (<a>) (<b>)");
  assert.deepEqual(lists?.map((l) => l.resource), ["http://h/x", "http://h/x"]);
});

Deno.test("submittedTokens() collects non-negated state tokens", () => {
  assert.deepEqual(submittedTokens(null), new Set());
  const lists = parseIf(
    `<http://h/x> (<urn:a> ["e"]) (Not <urn:b>) <http://h/y> (<urn:c>) (Not <DAV:no-lock>) (<DAV:no-lock>)`,
  );
  assert.deepEqual(submittedTokens(lists), new Set(["urn:a", "urn:c"]));
});

type States = Record<string, IfResourceState>;

function stateFn(states: States, calls: string[] = []) {
  return (url: URL): Promise<IfResourceState> => {
    calls.push(url.pathname);
    return Promise.resolve(states[url.pathname] ?? { etag: null, tokens: [] });
  };
}

async function evalIf(header: string, states: States, url = "http://h/dav/x"): Promise<boolean> {
  const lists = parseIf(header) as IfList[];
  return await evaluateIf(lists, new URL(url), stateFn(states));
}

Deno.test("evaluateIf() evaluates untagged lists against the request URL", async () => {
  const states: States = { "/dav/x": { etag: `"e1"`, tokens: ["urn:uuid:a"] } };
  assert.equal(await evalIf("(<urn:uuid:a>)", states), true);
  assert.equal(await evalIf("(<urn:uuid:b>)", states), false);
  assert.equal(await evalIf("(Not <urn:uuid:b>)", states), true);
  assert.equal(await evalIf(`(<urn:uuid:a> ["e1"])`, states), true);
  assert.equal(await evalIf(`(<urn:uuid:a> ["e2"])`, states), false); // AND
  assert.equal(await evalIf(`(<urn:uuid:b>) (["e1"])`, states), true); // OR
  assert.equal(await evalIf(`(Not ["e1"])`, states), false);
  assert.equal(await evalIf(`([W/"e1"])`, states), false); // strong comparison
  // The resource at another path is not consulted for untagged lists.
  assert.equal(await evalIf("(<urn:uuid:a>)", states, "http://h/dav/y"), false);
});

Deno.test("evaluateIf() treats DAV:no-lock as matching no lock", async () => {
  const states: States = {
    "/dav/x": { etag: `"e1"`, tokens: ["urn:uuid:a", "DAV:no-lock"] },
  };
  assert.equal(await evalIf("(Not <DAV:no-lock>)", states), true);
  assert.equal(await evalIf("(<DAV:no-lock>)", states), false);
  // litmus cond_put_with_not: a wrong token, rescued by the always-true list
  assert.equal(await evalIf("(<urn:uuid:wrong>) (Not <DAV:no-lock>)", states), true);
  // litmus complex_cond_put / fail_complex_cond_put
  assert.equal(
    await evalIf(`<http://h/dav/x> (<urn:uuid:a> ["e1"]) (Not <DAV:no-lock> ["e1"])`, states),
    true,
  );
  assert.equal(
    await evalIf(`<http://h/dav/x> (<urn:uuid:z> ["e1"]) (Not <DAV:no-lock> ["e1"])`, states),
    true,
  );
  assert.equal(
    await evalIf(`<http://h/dav/x> (<urn:uuid:a> ["bad"]) (Not <DAV:no-lock> ["bad"])`, states),
    false,
  );
  // litmus fail_cond_put
  assert.equal(await evalIf(`(<DAV:no-lock> ["e1"])`, states), false);
});

Deno.test("evaluateIf() applies tagged lists to their resource and ORs them", async () => {
  const states: States = {
    "/dav/x": { etag: `"ex"`, tokens: [] },
    "/dav/coll/": { etag: null, tokens: ["urn:uuid:c"] },
    "/dav/y": { etag: `"ey"`, tokens: ["urn:uuid:c"] },
  };
  // Tag for another resource, checked against that resource's state, not the request URL's.
  assert.equal(await evalIf("<http://h/dav/coll/> (<urn:uuid:c>)", states), true);
  assert.equal(await evalIf("</dav/coll/> (<urn:uuid:c>)", states), true); // relative tag
  assert.equal(await evalIf("<http://h/dav/x> (<urn:uuid:c>)", states), false);
  // Section 10.4.2: the header is true when any one production is true.
  assert.equal(
    await evalIf(`<http://h/dav/x> (["wrong"]) <http://h/dav/y> (["ey"])`, states),
    true,
  );
  assert.equal(
    await evalIf(`<http://h/dav/x> (["wrong"]) <http://h/dav/y> (["wrong"])`, states),
    false,
  );
  // Section 10.4.3/10.4.11: an unmapped URL has no etag and no lock.
  assert.equal(await evalIf(`<http://h/dav/none> (["4217"])`, states), false);
  assert.equal(await evalIf(`<http://h/dav/none> (Not ["4217"])`, states), true);
  assert.equal(await evalIf(`<http://h/dav/none> (Not <urn:uuid:c>)`, states), true);
  // Tags are compared by path: the host is the caller's business.
  assert.equal(await evalIf("<http://elsewhere/dav/coll/> (<urn:uuid:c>)", states), true);
});

Deno.test("evaluateIf() looks up each path once and stops at the first true list", async () => {
  const calls: string[] = [];
  const states: States = { "/dav/x": { etag: `"e"`, tokens: ["t"] } };
  const lists = parseIf(
    `<http://h/dav/x> (<nope>) (["e"]) <http://h/dav/y> (<t>)`,
  ) as IfList[];
  assert.equal(await evaluateIf(lists, new URL("http://h/dav/x"), stateFn(states, calls)), true);
  assert.deepEqual(calls, ["/dav/x"]);
});
