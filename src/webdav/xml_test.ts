import assert from "node:assert/strict";
import {
  childElements,
  DAV,
  escapeXml,
  firstChild,
  isElement,
  parseXml,
  readXmlBody,
  renderXml,
  serializeFragment,
  textOf,
  type XmlElement,
  XmlError,
} from "./xml.ts";

const XML_NS = "http://www.w3.org/XML/1998/namespace";

function assertXmlError(fn: () => unknown, status: number, match?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof XmlError, `expected XmlError, got ${e}`);
    assert.equal(e.status, status);
    if (match) assert.match(e.message, match);
    return true;
  });
}

async function assertXmlErrorAsync(p: Promise<unknown>, status: number): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof XmlError, `expected XmlError, got ${e}`);
    assert.equal(e.status, status);
    return true;
  });
}

function el(
  ns: string,
  name: string,
  children: (XmlElement | string)[] = [],
  attrs: Record<string, string> = {},
): XmlElement {
  return { ns, name, attrs, children };
}

Deno.test("parseXml() resolves prefixes and default namespaces", () => {
  const doc = parseXml(
    `<?xml version="1.0" encoding="utf-8"?>
<!-- a comment --><?pi data?>
<D:propfind xmlns:D="DAV:" xmlns:z="urn:z"><D:prop><getetag xmlns="DAV:"/><z:color/><x xmlns=""/></D:prop></D:propfind>`,
  );
  assert.equal(doc.ns, DAV);
  assert.equal(doc.name, "propfind");
  const prop = firstChild(doc, DAV, "prop");
  assert.ok(prop);
  assert.deepEqual(
    childElements(prop).map((e) => [e.ns, e.name]),
    [[DAV, "getetag"], ["urn:z", "color"], ["", "x"]],
  );
  assert.equal(childElements(prop, "urn:z").length, 1);
  assert.equal(childElements(prop, DAV, "getetag").length, 1);
  assert.equal(firstChild(prop, DAV, "nope"), undefined);
});

Deno.test("parseXml() keeps attributes by Clark name and drops namespace declarations", () => {
  const doc = parseXml(
    `<a xmlns="urn:d" xmlns:p="urn:p" p:x="1" y="2" xml:lang="en" __proto__="3"/>`,
  );
  assert.deepEqual({ ...doc.attrs }, {
    "{urn:p}x": "1",
    y: "2",
    [`{${XML_NS}}lang`]: "en",
    ["__proto__"]: "3",
  });
  assert.equal(Object.getPrototypeOf(doc.attrs), Object.prototype);
});

Deno.test("parseXml() merges text, entities and CDATA into one string", () => {
  const doc = parseXml("<a> x &amp; <![CDATA[<y>]]>&#x41;<b/>tail</a>");
  assert.deepEqual(doc.children, [" x & <y>A", el("", "b"), "tail"]);
  assert.equal(textOf(parseXml("<a>1<b>2<c>3</c></b>4</a>")), "1234");
  assert.ok(isElement(doc.children[1]!));
  assert.ok(!isElement(doc.children[0]!));
});

Deno.test("parseXml() refuses an XXE payload", () => {
  assertXmlError(
    () =>
      parseXml(
        `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>`,
      ),
    400,
    /DOCTYPE/,
  );
});

Deno.test("parseXml() refuses billion laughs", () => {
  const lol = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>`;
  assertXmlError(() => parseXml(lol), 400);
  assertXmlError(() => parseXml("<!DOCTYPE a><a/>"), 400, /DOCTYPE/);
});

Deno.test("parseXml() refuses malformed documents", () => {
  for (
    const bad of [
      "",
      "   ",
      "<a>",
      "<a></b>",
      "<a/><b/>",
      "<a/>junk",
      "<a>&foo;</a>", // undefined entity
      "<a>&#0;</a>",
      "<x:a/>", // undeclared prefix
      `<a xmlns:x=""/>`, // litmus propfind_invalid2
      `<a xmlns:x="urn:x"><b xmlns:x=""/></a>`,
      `<?xml version="1.1"?><a xmlns:x="urn:x"><b xmlns:x=""/></a>`,
      `<a x="1" x="2"/>`,
      "<a>\u0001</a>",
      "not xml",
    ]
  ) {
    assertXmlError(() => parseXml(bad), 400);
  }
});

Deno.test("parseXml() enforces maxDepth and maxNodes", () => {
  const nest = (n: number) => "<a>".repeat(n) + "</a>".repeat(n);
  assert.equal(parseXml(nest(64)).name, "a");
  assertXmlError(() => parseXml(nest(65)), 400, /deeper/);
  assertXmlError(() => parseXml(nest(3), { maxDepth: 2 }), 400, /deeper/);
  const wide = `<r>${"<b/>x".repeat(50)}</r>`; // 1 + 100 nodes
  assert.equal(parseXml(wide, { maxNodes: 101 }).children.length, 100);
  assertXmlError(() => parseXml(wide, { maxNodes: 100 }), 400, /nodes/);
});

function bodyRequest(body: BodyInit | null, headers: Record<string, string> = {}): Request {
  return new Request("http://h/x", { method: "PROPFIND", body, headers });
}

Deno.test("readXmlBody() parses a body and returns null for an empty one", async () => {
  const doc = await readXmlBody(bodyRequest(`<propfind xmlns="DAV:"><allprop/></propfind>`));
  assert.equal(doc?.name, "propfind");
  assert.equal(await readXmlBody(bodyRequest(null)), null);
  assert.equal(await readXmlBody(bodyRequest("")), null);
  assert.equal(
    await readXmlBody(bodyRequest(new ReadableStream({ start: (c) => c.close() }))),
    null,
  );
  const emptyChunks = new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(new Uint8Array(0));
      c.close();
    },
  });
  assert.equal(await readXmlBody(bodyRequest(emptyChunks)), null);
  // A UTF-8 byte order mark is fine.
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode("<a/>")]);
  assert.equal((await readXmlBody(bodyRequest(bom)))?.name, "a");
});

Deno.test("readXmlBody() gives 413 on an endless body without reading it all", async () => {
  let pulls = 0;
  let cancelled = false;
  const endless = new ReadableStream<Uint8Array>({
    pull(c) {
      pulls++;
      c.enqueue(new TextEncoder().encode("<a>".padEnd(1024, " ")));
    },
    cancel() {
      cancelled = true;
    },
  });
  await assertXmlErrorAsync(readXmlBody(bodyRequest(endless), { limit: 10 * 1024 }), 413);
  assert.ok(pulls <= 13, `read ${pulls} chunks`);
  assert.ok(cancelled);
});

Deno.test("readXmlBody() gives 413 for a declared length over the limit", async () => {
  let pulled = false;
  const body = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled = true;
      c.enqueue(new Uint8Array(100));
    },
  }, { highWaterMark: 0 });
  const req = bodyRequest(body, { "content-length": "2000" });
  assert.equal(req.headers.get("content-length"), "2000");
  await assertXmlErrorAsync(readXmlBody(req, { limit: 1000 }), 413);
  assert.equal(pulled, false);
  assert.equal(await readXmlBody(bodyRequest("<a/>", { "content-length": "0" })), null);
  assert.equal((await readXmlBody(bodyRequest("<a/>   "), { limit: 7 }))?.name, "a");
});

Deno.test("readXmlBody() refuses invalid UTF-8, UTF-16 and other charsets", async () => {
  await assertXmlErrorAsync(readXmlBody(bodyRequest(new Uint8Array([0x3c, 0x61, 0xff]))), 400);
  await assertXmlErrorAsync(readXmlBody(bodyRequest(new Uint8Array([0xff, 0xfe, 0x3c, 0]))), 415);
  await assertXmlErrorAsync(
    readXmlBody(bodyRequest("<a/>", { "content-type": "text/xml; charset=iso-8859-1" })),
    415,
  );
  const ok = await readXmlBody(
    bodyRequest("<a/>", { "content-type": 'application/xml; charset="UTF-8"' }),
  );
  assert.equal(ok?.name, "a");
  await assertXmlErrorAsync(readXmlBody(bodyRequest("<!DOCTYPE a><a/>")), 400);
});

Deno.test("serializeFragment() round-trips through parseXml", () => {
  const shapes: XmlElement[] = [
    el("", "foo"),
    el("urn:x", "color", ["red"]),
    el("urn:x", "p", [el("", "bare", ["no ns"]), el("urn:x", "q"), el("urn:y", "r")]),
    el("", "root", [el("urn:a", "child", [el("", "grandchild")])]),
    el("urn:x", "t", ["a < b && c > d ]]> \"q\" 'a' \r\n\ttab"]),
    el("urn:x", "attrs", [], {
      plain: `v<&>"'\t\n\r end`,
      "{urn:x}same": "1",
      "{urn:other}o": "2",
      [`{${XML_NS}}lang`]: "en-US",
    }),
    el(DAV, "owner", [el(DAV, "href", ["http://example.com/~me"])]),
    el("urn:x", "mixed", ["a", el("urn:x", "b", ["c"]), "d", el("", "e"), " "]),
    el("http://ns.example/with space&amp", "odd"),
  ];
  for (const shape of shapes) {
    const xml = serializeFragment(shape);
    assert.deepEqual(parseXml(xml), shape, xml);
    // Embedded under a default namespace and a clashing ns0 prefix, it still means the same.
    const host = parseXml(
      `<D:prop xmlns:D="DAV:" xmlns="urn:default" xmlns:ns0="urn:clash">${xml}</D:prop>`,
    );
    assert.deepEqual(host.children[0], shape, xml);
  }
});

Deno.test('serializeFragment() declares xmlns="" for no-namespace elements', () => {
  const parsed = parseXml(`<x:a xmlns:x="urn:x" xmlns="urn:d"><b xmlns=""/><c/></x:a>`);
  const out = serializeFragment(parsed);
  assert.match(out, /xmlns=""/);
  assert.deepEqual(parseXml(out), parsed);
  const c = firstChild(parsed, "urn:d", "c");
  assert.ok(c);
});

Deno.test("renderXml() output re-parses to the same tree", () => {
  const stored = serializeFragment(
    parseXml(`<z:color xmlns:z="urn:z" xml:lang="fr">rouge</z:color>`),
  );
  const xml = renderXml({
    ns: DAV,
    name: "multistatus",
    children: [{
      ns: DAV,
      name: "response",
      children: [
        { ns: DAV, name: "href", children: ["/dav/a&b <c>"] },
        {
          ns: DAV,
          name: "propstat",
          children: [
            {
              ns: DAV,
              name: "prop",
              children: [
                { ns: "urn:other", name: "x", attrs: { "{urn:attr}a": "1", b: '"2"' } },
                { ns: "", name: "nons" },
                { raw: stored },
              ],
            },
            { ns: DAV, name: "status", children: ["HTTP/1.1 200 OK"] },
          ],
        },
      ],
    }],
  });
  assert.ok(xml.startsWith(`<?xml version="1.0" encoding="utf-8"?>`));
  assert.match(xml, /^<\?xml[^>]*>\s*<D:multistatus xmlns:D="DAV:"/);
  const doc = parseXml(xml);
  const response = firstChild(doc, DAV, "response")!;
  assert.equal(textOf(firstChild(response, DAV, "href")!), "/dav/a&b <c>");
  const prop = firstChild(firstChild(response, DAV, "propstat")!, DAV, "prop")!;
  assert.deepEqual(prop.children, [
    el("urn:other", "x", [], { "{urn:attr}a": "1", b: '"2"' }),
    el("", "nons"),
    el("urn:z", "color", ["rouge"], { [`{${XML_NS}}lang`]: "fr" }),
  ]);
});

Deno.test("renderXml() drops characters XML 1.0 cannot carry", () => {
  const xml = renderXml({ ns: DAV, name: "displayname", children: ["a\u0001b\uFFFEc\uD800d😀"] });
  assert.equal(textOf(parseXml(xml)), "abcd😀");
});

Deno.test("escapeXml() escapes markup and keeps ordinary text untouched", () => {
  assert.equal(
    escapeXml(`<a href="x">'&'</a>`),
    "&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;",
  );
  const plain = "plain text ünïcödé 😀\n\t";
  assert.equal(escapeXml(plain), plain);
  assert.equal(escapeXml("a\rb\u0000"), "a&#xD;b");
});
