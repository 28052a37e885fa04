// WebDAV properties through the whole app, on memory and on real S3: PROPFIND's shapes
// (Depth, allprop, propname, prop, lockdiscovery, quotas) and PROPPATCH's all-or-nothing
// changes of dead properties, kept exactly and carried by COPY and MOVE.

import { DAV, parseXml, textOf } from "../src/webdav/xml.ts";
import { assert, assertEquals } from "./_assert.ts";
import {
  child,
  type Dav,
  davTest,
  kids,
  type Multistatus,
  parseMultistatus,
  prop,
  propfindBody,
  responseOf,
  tree,
} from "./_dav.ts";

const Z = "urn:z";

/** A PROPPATCH of `body` (inside `propertyupdate`), which must answer 207. */
async function proppatch(dav: Dav, path: string, body: string): Promise<Multistatus> {
  const res = await dav.send("PROPPATCH", path, {
    headers: { "content-type": "application/xml" },
    body: `<?xml version="1.0" encoding="utf-8"?>` +
      `<D:propertyupdate xmlns:D="DAV:" xmlns:Z="${Z}">${body}</D:propertyupdate>`,
  });
  const text = await res.text();
  assertEquals(res.status, 207, text);
  return parseMultistatus(text);
}

/** Status of each property in a one-resource multistatus, by Clark name. */
function statuses(ms: Multistatus, path: string): Record<string, number> {
  return Object.fromEntries(
    [...responseOf(ms, path).props].map(([name, p]) => [name, p.status]).sort(),
  );
}

/** The text of dead properties of `path` (null where 404). */
async function deadTexts(dav: Dav, path: string, names: string[]) {
  const ms = await dav.propfind(path, "0", propfindBody(names.map((n) => [Z, n] as const)));
  return names.map((n) => {
    const p = responseOf(ms, path).props.get(`{${Z}}${n}`);
    assert(p, n);
    return p.status === 200 ? textOf(p.element) : p.status;
  });
}

davTest("PROPPATCH sets and removes several properties in one request", async ({ a }) => {
  assertEquals(await a.put("/f.txt", "f"), 201);
  const first = await proppatch(
    a,
    "/f.txt",
    `<D:set><D:prop><Z:a>1</Z:a><Z:b>2</Z:b></D:prop></D:set>` +
      `<D:set><D:prop><Z:c>3</Z:c></D:prop></D:set>`,
  );
  assertEquals(statuses(first, "/f.txt"), { [`{${Z}}a`]: 200, [`{${Z}}b`]: 200, [`{${Z}}c`]: 200 });
  assertEquals(await deadTexts(a, "/f.txt", ["a", "b", "c"]), ["1", "2", "3"]);

  // In document order: set then remove of `a` removes it; remove then set of `b` sets it.
  await proppatch(
    a,
    "/f.txt",
    `<D:set><D:prop><Z:a>10</Z:a></D:prop></D:set><D:remove><D:prop><Z:a/><Z:b/></D:prop>` +
      `</D:remove><D:set><D:prop><Z:b>20</Z:b><Z:d>4</Z:d></D:prop></D:set>`,
  );
  assertEquals(await deadTexts(a, "/f.txt", ["a", "b", "c", "d"]), [404, "20", "3", "4"]);
  // Removing a property that is not there succeeds (RFC 4918 section 14.23).
  const none = await proppatch(a, "/f.txt", `<D:remove><D:prop><Z:zz/></D:prop></D:remove>`);
  assertEquals(statuses(none, "/f.txt"), { [`{${Z}}zz`]: 200 });
});

davTest("PROPPATCH touching a live property applies nothing", async ({ a }) => {
  assertEquals(await a.put("/f.txt", "f"), 201);
  await proppatch(a, "/f.txt", `<D:set><D:prop><Z:a>1</Z:a><Z:b>2</Z:b></D:prop></D:set>`);
  const before = await a.propfind("/f.txt", "0");
  const ms = await proppatch(
    a,
    "/f.txt",
    `<D:set><D:prop><Z:a>changed</Z:a><Z:new>n</Z:new></D:prop></D:set>` +
      `<D:remove><D:prop><Z:b/></D:prop></D:remove>` +
      `<D:set><D:prop><D:getetag>"forged"</D:getetag></D:prop></D:set>`,
  );
  assertEquals(statuses(ms, "/f.txt"), {
    "{DAV:}getetag": 403,
    [`{${Z}}a`]: 424,
    [`{${Z}}b`]: 424,
    [`{${Z}}new`]: 424,
  });
  assertEquals(await deadTexts(a, "/f.txt", ["a", "b", "new"]), ["1", "2", 404]);
  const after = await a.propfind("/f.txt", "0");
  assertEquals(
    tree(prop(after, "/f.txt", DAV, "getetag")),
    tree(prop(before, "/f.txt", DAV, "getetag")),
  );
});

// RFC 4918 section 15.2: displayname SHOULD NOT be protected. Before session 16 a
// PROPPATCH of it was 403 (and with it every other change in the request, 424).
davTest("a client may set displayname; removing it brings back the name", async ({ a }) => {
  assertEquals(await a.mkcol("/d"), 201);
  assertEquals(await a.put("/d/f.txt", "f"), 201);
  const ms = await proppatch(
    a,
    "/d/f.txt",
    `<D:set><D:prop><D:displayname>Quarterly report</D:displayname><Z:a>1</Z:a></D:prop></D:set>`,
  );
  assertEquals(statuses(ms, "/d/f.txt"), { "{DAV:}displayname": 200, [`{${Z}}a`]: 200 });
  const shown = async (body: string | null, depth: "0" | "1" = "0") => {
    const found = await a.propfind(depth === "0" ? "/d/f.txt" : "/d", depth, body);
    const names = [...responseOf(found, "/d/f.txt").props.keys()];
    // Reported once, as the live property it overrides.
    assertEquals(names.filter((n) => n === "{DAV:}displayname").length, 1);
    return textOf(prop(found, "/d/f.txt", DAV, "displayname"));
  };
  assertEquals(await shown(propfindBody([[DAV, "displayname"]])), "Quarterly report");
  assertEquals(await shown(null), "Quarterly report");
  assertEquals(await shown(propfindBody([[DAV, "displayname"]]), "1"), "Quarterly report");
  await proppatch(a, "/d/f.txt", `<D:remove><D:prop><D:displayname/></D:prop></D:remove>`);
  assertEquals(await shown(propfindBody([[DAV, "displayname"]])), "f.txt");
  // Other live properties stay protected.
  const refused = await proppatch(
    a,
    "/d/f.txt",
    `<D:set><D:prop><D:getcontentlength>9</D:getcontentlength></D:prop></D:set>`,
  );
  assertEquals(statuses(refused, "/d/f.txt"), { "{DAV:}getcontentlength": 403 });
});

const VALUE = `<Z:author xml:lang="fr" Z:role="lead" plain="1">` +
  `<Z:name>Émile &amp; &lt;Zoé&gt;</Z:name>` +
  `<W:x xmlns:W="urn:w" W:attr="v">t<W:y/></W:x>` +
  `<bare xmlns="">no namespace</bare>` +
  `<![CDATA[ raw <text> ]]></Z:author>`;

davTest("dead properties come back as the same XML trees, through COPY and MOVE", async ({ a }) => {
  const original = child(
    parseXml(`<D:prop xmlns:D="DAV:" xmlns:Z="${Z}">${VALUE}</D:prop>`),
    Z,
    "author",
  );
  const inherited = `<D:set><D:prop xml:lang="de"><Z:greeting>Hallo</Z:greeting></D:prop></D:set>`;
  assertEquals(await a.mkcol("/d"), 201);
  assertEquals(await a.put("/d/f.txt", "f"), 201);
  for (const path of ["/d", "/d/f.txt"]) {
    await proppatch(a, path, `<D:set><D:prop>${VALUE}</D:prop></D:set>${inherited}`);
  }
  const check = async (dav: Dav, path: string) => {
    const ms = await dav.propfind(path, "0", propfindBody([[Z, "author"], [Z, "greeting"]]));
    assertEquals(tree(prop(ms, path, Z, "author")), tree(original), path);
    // xml:lang in scope where the property was set is part of its value (RFC 4918 4.3).
    const greeting = prop(ms, path, Z, "greeting");
    assertEquals(textOf(greeting), "Hallo");
    assertEquals(greeting.attrs["{http://www.w3.org/XML/1998/namespace}lang"], "de", path);
  };
  await check(a, "/d");
  await check(a, "/d/f.txt");
  assertEquals(await a.status("COPY", "/d/f.txt", { headers: { destination: "/dav/c" } }), 201);
  await check(a, "/c");
  assertEquals(await a.status("COPY", "/d", { headers: { destination: "/dav/m" } }), 201);
  await check(a, "/m/f.txt");
  assertEquals(await a.status("MOVE", "/d", { headers: { destination: "/dav/n" } }), 201);
  await check(a, "/n");
  await check(a, "/n/f.txt");
  assertEquals(await a.status("MOVE", "/n/f.txt", { headers: { destination: "/dav/g" } }), 201);
  await check(a, "/g");
  // Depth 1 reads dead properties of members as well.
  const listing = await a.propfind("/m", "1", propfindBody([[Z, "author"]]));
  assertEquals(tree(prop(listing, "/m/f.txt", Z, "author")), tree(original));
});

davTest("COPY of a tree keeps the dead properties of its collections", async ({ a }) => {
  for (const dir of ["/d", "/d/sub"]) {
    assertEquals(await a.mkcol(dir), 201);
    await proppatch(a, dir, `<D:set><D:prop><Z:tag>${dir}</Z:tag></D:prop></D:set>`);
  }
  assertEquals(await a.status("COPY", "/d", { headers: { destination: "/dav/c" } }), 201);
  assertEquals(await deadTexts(a, "/c/sub", ["tag"]), ["/d/sub"]);
  assertEquals(await deadTexts(a, "/c", ["tag"]), ["/d"]);
});

davTest("PROPPATCH of Win32LastModifiedTime sets the mtime", async ({ a }) => {
  assertEquals(await a.put("/w.txt", "w"), 201);
  const ms = await proppatch(
    a,
    "/w.txt",
    `<D:set><D:prop><W:Win32LastModifiedTime xmlns:W="urn:schemas-microsoft-com:">` +
      `Wed, 01 Jan 2020 10:20:30 GMT</W:Win32LastModifiedTime></D:prop></D:set>`,
  );
  assertEquals(Object.values(statuses(ms, "/w.txt")), [200]);
  const found = await a.propfind("/w.txt", "0", propfindBody([[DAV, "getlastmodified"]]));
  assertEquals(
    textOf(prop(found, "/w.txt", DAV, "getlastmodified")),
    "Wed, 01 Jan 2020 10:20:30 GMT",
  );
});

davTest("PROPFIND Depth 0 and 1, allprop, propname and prop", async ({ a }) => {
  assertEquals(await a.mkcol("/d"), 201);
  assertEquals(await a.mkcol("/d/sub"), 201);
  assertEquals(await a.put("/d/f.txt", "12345"), 201);
  await proppatch(a, "/d/f.txt", `<D:set><D:prop><Z:a>1</Z:a></D:prop></D:set>`);

  const zero = await a.propfind("/d", "0");
  assertEquals([...zero.keys()], ["/d"]);
  assertEquals(responseOf(zero, "/d").href, "/dav/d/");
  assertEquals(kids(prop(zero, "/d", DAV, "resourcetype")).map((e) => e.name), ["collection"]);

  const one = await a.propfind("/d/", "1");
  assertEquals([...one.keys()].sort(), ["/d", "/d/f.txt", "/d/sub"]);
  assertEquals(
    [...one.values()].map((r) => r.href).sort(),
    ["/dav/d/", "/dav/d/f.txt", "/dav/d/sub/"],
  );
  // allprop: the live properties and the dead ones, but no quotas.
  const names = (r: Multistatus, path: string) =>
    [...responseOf(r, path).props].filter(([, p]) => p.status === 200).map(([n]) => n).sort();
  assertEquals(names(one, "/d/f.txt"), [
    "{DAV:}creationdate",
    "{DAV:}displayname",
    "{DAV:}getcontentlength",
    "{DAV:}getcontenttype",
    "{DAV:}getetag",
    "{DAV:}getlastmodified",
    "{DAV:}lockdiscovery",
    "{DAV:}resourcetype",
    "{DAV:}supportedlock",
    `{${Z}}a`,
  ]);
  assertEquals(textOf(prop(one, "/d/f.txt", DAV, "getcontentlength")), "5");
  assertEquals(textOf(prop(one, "/d/f.txt", Z, "a")), "1");
  assertEquals(kids(prop(one, "/d/f.txt", DAV, "resourcetype")), []);
  assert(!responseOf(one, "/d/sub").props.has("{DAV:}getcontentlength"));

  // propname: the same names, every value empty.
  const propname = await a.propfind(
    "/d/f.txt",
    "0",
    `<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>`,
  );
  assertEquals(names(propname, "/d/f.txt"), names(one, "/d/f.txt"));
  for (const [, p] of responseOf(propname, "/d/f.txt").props) assertEquals(p.element.children, []);

  // prop: what was asked, unknown ones in a 404 propstat.
  const asked = await a.propfind(
    "/d/f.txt",
    "0",
    propfindBody([[DAV, "getetag"], [Z, "a"], [Z, "missing"], [DAV, "nosuchprop"]]),
  );
  assertEquals(statuses(asked, "/d/f.txt"), {
    "{DAV:}getetag": 200,
    "{DAV:}nosuchprop": 404,
    [`{${Z}}a`]: 200,
    [`{${Z}}missing`]: 404,
  });
});

davTest("PROPFIND reports locks with owner, token, timeout and root", async ({ a }) => {
  assertEquals(await a.mkcol("/d"), 201);
  assertEquals(await a.put("/d/f.txt", "f"), 201);
  const owner = `<D:href xmlns:D="DAV:">mailto:alice@example.com</D:href>`;
  const { token } = await a.lock("/d", { depth: "infinity", owner, timeout: "Second-300" });
  assert(token);
  const ms = await a.propfind("/d", "1", propfindBody([[DAV, "lockdiscovery"]]));
  for (const path of ["/d", "/d/f.txt"]) {
    const [active, ...more] = kids(prop(ms, path, DAV, "lockdiscovery"), DAV, "activelock");
    assert(active && more.length === 0, path);
    assertEquals(textOf(child(child(active, DAV, "locktoken"), DAV, "href")), token);
    assertEquals(
      textOf(child(child(active, DAV, "owner"), DAV, "href")),
      "mailto:alice@example.com",
    );
    assertEquals(textOf(child(active, DAV, "depth")), "infinity");
    const root = textOf(child(child(active, DAV, "lockroot"), DAV, "href"));
    assert(root === "/dav/d" || root === "/dav/d/", root);
    const seconds = Number(/^Second-(\d+)$/.exec(textOf(child(active, DAV, "timeout")))?.[1]);
    assert(seconds > 290 && seconds <= 300, `${seconds}`);
    assertEquals(kids(child(active, DAV, "locktype")).map((e) => e.name), ["write"]);
  }
});

davTest("PROPFIND answers quota properties when asked", async ({ a }) => {
  assertEquals(await a.put("/q.bin", "x".repeat(10_000)), 201);
  const ms = await a.propfind(
    "/",
    "0",
    propfindBody([[DAV, "quota-used-bytes"], [DAV, "quota-available-bytes"]]),
  );
  const used = Number(textOf(prop(ms, "/", DAV, "quota-used-bytes")));
  const available = Number(textOf(prop(ms, "/", DAV, "quota-available-bytes")));
  assert(Number.isSafeInteger(used) && used >= 10_000, `used ${used}`);
  assert(Number.isSafeInteger(available) && available > 0, `available ${available}`);
  const include = await a.propfind(
    "/",
    "0",
    `<D:propfind xmlns:D="DAV:"><D:allprop/><D:include><D:quota-used-bytes/></D:include></D:propfind>`,
  );
  assertEquals(Number(textOf(prop(include, "/", DAV, "quota-used-bytes"))), used);
  assert(!responseOf(include, "/").props.has("{DAV:}quota-available-bytes"));
});

// RFC 4918 section 9.1: `include` names properties the client wants besides allprop's; one
// the resource lacks is answered as a `prop` query would, in a 404 propstat, not left out.
davTest(
  "PROPFIND allprop reports an included property the resource lacks as 404",
  async ({ a }) => {
    assertEquals(await a.put("/f.txt", "12345"), 201);
    await proppatch(a, "/f.txt", `<D:set><D:prop><Z:kept>1</Z:kept></D:prop></D:set>`);
    const ms = await a.propfind(
      "/f.txt",
      "0",
      `<D:propfind xmlns:D="DAV:" xmlns:Z="${Z}"><D:allprop/>` +
        `<D:include><Z:kept/><Z:absent/><D:getcontentlength/></D:include></D:propfind>`,
    );
    assertEquals(responseOf(ms, "/f.txt").props.get(`{${Z}}absent`)?.status, 404);
    assertEquals(textOf(prop(ms, "/f.txt", Z, "kept")), "1");
    assertEquals(textOf(prop(ms, "/f.txt", DAV, "getcontentlength")), "5");
  },
);

// RFC 4918 section 17: a DAV server MUST ignore an XML element it does not know, with its
// children, in a method's body. litmus 0.18's props/propextended sends the first request
// below and checks for a 207 with an XML content type (an answer of 400 passed older litmus).
davTest("PROPFIND and PROPPATCH ignore elements they do not know", async ({ a }) => {
  assertEquals(await a.put("/f.txt", "12345"), 201);
  const extended = await a.send("PROPFIND", "/f.txt", {
    headers: { depth: "0", "content-type": "application/xml" },
    body: `<?xml version="1.0"?><propfind xmlns="DAV:"><foobar/><allprop/></propfind>`,
  });
  const text = await extended.text();
  assertEquals(extended.status, 207, text);
  assert(/^(application|text)\/xml\b/.test(extended.headers.get("content-type") ?? ""));
  assertEquals(
    textOf(prop(parseMultistatus(text), "/f.txt", DAV, "getcontentlength")),
    "5",
  );
  // An unknown element in another namespace, before and inside prop, is ignored too.
  const named = await a.propfind(
    "/f.txt",
    "0",
    `<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:X="urn:x"><X:hint><D:allprop/>` +
      `</X:hint><D:prop><D:getcontentlength/></D:prop></D:propfind>`,
  );
  assertEquals(textOf(prop(named, "/f.txt", DAV, "getcontentlength")), "5");
  assert(!responseOf(named, "/f.txt").props.has("{DAV:}getetag"));

  // PROPPATCH: an unknown instruction between set and remove is skipped, the rest applies.
  const ms = await proppatch(
    a,
    "/f.txt",
    `<D:set><D:prop><Z:a>1</Z:a></D:prop></D:set><D:frobnicate><D:prop><Z:b>2</Z:b>` +
      `</D:prop></D:frobnicate><Z:note>x</Z:note><D:set><D:prop><Z:c>3</Z:c></D:prop></D:set>`,
  );
  assertEquals(statuses(ms, "/f.txt"), { [`{${Z}}a`]: 200, [`{${Z}}c`]: 200 });
  assertEquals(await deadTexts(a, "/f.txt", ["a", "b", "c"]), ["1", 404, "3"]);

  // Nothing known left to do is still a bad request, and changes nothing.
  for (
    const body of [
      `<D:propfind xmlns:D="DAV:"><D:foobar/></D:propfind>`,
      `<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop><D:allprop/></D:propfind>`,
    ]
  ) {
    const res = await a.send("PROPFIND", "/f.txt", {
      headers: { depth: "0", "content-type": "application/xml" },
      body,
    });
    assertEquals(res.status, 400, body);
    await res.body?.cancel();
  }
  const none = await a.send("PROPPATCH", "/f.txt", {
    headers: { "content-type": "application/xml" },
    body: `<D:propertyupdate xmlns:D="DAV:"><D:frobnicate/></D:propertyupdate>`,
  });
  assertEquals(none.status, 400);
  await none.body?.cancel();
});
