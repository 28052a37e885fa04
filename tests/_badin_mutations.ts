// The mutations of tests/bad_input_fuzz_test.ts: bad paths (every spelling of a climb,
// bad escapes, overlong names and paths, NFC/NFD twins, absolute-form targets), header
// values (WebDAV, conditionals, ranges, tus, credentials, Host), hostile bodies (XML, JSON,
// forms, bytes that are not UTF-8) and framing (lengths that lie, bodies cut short).

import {
  b64,
  encoder,
  type FuzzRequest,
  type GenContext,
  pick,
  type Rng,
  setHeader,
  tusMetadata,
} from "./_badin_request.ts";

/** Segments that climb in some spelling: a request holding one must be refused. */
const CLIMB = [
  "..",
  "%2e%2e",
  "%2E%2e",
  ".%2e",
  "%2e.",
  "%252e%252e",
  "..;",
  "..;x=1",
  "%c0%ae%c0%ae",
  "%e0%80%ae%e0%80%ae",
  "..%2f",
  "..%5c",
  "..\\",
  "%2e%2e%5c",
  "..%252f",
  "..%c0%af",
];
/** Other bad or odd segments. */
const ODD = [
  ".",
  "%2e",
  "",
  "%00",
  "a%00b",
  "%2f",
  "a%2fb",
  "%5c",
  "a\\b",
  "%ff",
  "%c0%af",
  "%ed%a0%80",
  "%fe%ff",
  "%",
  "%g1",
  "%2",
  "%25",
  "%252f",
  "name.",
  "name ",
  "name%20",
  "name...",
  "%20",
  "x;y=1",
  "%3b",
  ";",
  "caf%C3%A9.txt",
  "cafe%CC%81.txt",
  "caf\u00e9.txt",
  "cafe\u0301.txt",
  "%e2%80%ae",
  "%ef%bb%bf",
  "CON",
  "a#b",
  "%23",
  "?",
  "%3f",
  "*",
  "~",
  "%7e",
  ".pagefs-uploads",
  "%2epagefs-uploads",
  "a\tb",
  "\u007f",
];

function segments(path: string): string[] {
  return path.split("/");
}

const b64url = (text: string) =>
  b64(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

/** A share link's token (`payload.signature`) changed so that it must not open. */
function tamperToken(token: string, rng: Rng): string {
  const [payload = "", signature = ""] = token.split(".");
  switch (Math.floor(rng() * 7)) {
    case 0:
      return payload;
    case 1:
      return `${payload}.`;
    case 2:
      return token.slice(0, Math.floor(token.length / 2));
    case 3: {
      // One character of the payload changed.
      const i = Math.floor(rng() * payload.length);
      const c = payload[i] === "A" ? "B" : "A";
      return `${payload.slice(0, i)}${c}${payload.slice(i + 1)}.${signature}`;
    }
    case 4:
      return `${b64url(JSON.stringify({ p: "/home/bob", i: "0", e: 4e9, g: "x" }))}.${signature}`;
    case 5:
      return `${b64url("{" + "[".repeat(5000))}.${signature}`;
    default:
      return `${token}.${signature}`;
  }
}

export function mutatePath(r: FuzzRequest, rng: Rng, port: number): void {
  const segs = segments(r.path);
  const at = 1 + Math.floor(rng() * Math.max(1, segs.length - 1));
  const note = (what: string) => r.mutations.push(`path ${what}`);
  if (segs[1] === "s" && segs[2] !== undefined && rng() < 0.4) {
    segs[2] = tamperToken(segs[2], rng);
    r.tags.add("bad-token");
    note("share token tampered");
    r.path = segs.join("/");
    return;
  }
  const kind = Math.floor(rng() * 12);
  switch (kind) {
    case 0:
    case 1: {
      const s = pick(rng, CLIMB);
      segs.splice(at, 0, s);
      r.tags.add(`climb:${s}`);
      note(`insert ${JSON.stringify(s)}`);
      break;
    }
    case 2:
    case 3: {
      const s = pick(rng, ODD);
      segs.splice(at, rng() < 0.5 ? 1 : 0, s);
      note(`odd ${JSON.stringify(s)}`);
      break;
    }
    case 4: {
      const s = pick(rng, CLIMB);
      segs[segs.length - 1] = (segs[segs.length - 1] ?? "") + s;
      note(`suffix ${JSON.stringify(s)}`);
      break;
    }
    case 5: {
      // Overlong: a name over 255 bytes, or a path over 4096.
      const which = pick(rng, ["name", "utf8 name", "path", "huge path"]);
      if (which === "name") segs.splice(at, 0, "n".repeat(256));
      else if (which === "utf8 name") segs.splice(at, 0, "%C3%A9".repeat(128));
      else if (which === "path") segs.splice(at, 0, ...Array(21).fill("p".repeat(200)));
      else segs.splice(at, 0, ...Array(400).fill("q".repeat(200)));
      note(`overlong ${which}`);
      break;
    }
    case 6: {
      const p = pick(rng, [";a=b", ";", ";jsessionid=1", ";%2e%2e", ";/../x"]);
      segs[at] = (segs[at] ?? "") + p;
      note(`params ${JSON.stringify(p)}`);
      break;
    }
    case 7: {
      const q = pick(rng, [
        "?",
        "?%zz",
        "?a=%ff",
        "?offset=-1",
        "?offset=99999999999999999999",
        "?limit=0",
        "?limit=abc",
        "?parents=yes",
        "?recursive=maybe",
        "?append=1&offset=0",
        "?name=../../etc",
        "?name=%00",
        "?cursor=%ff%fe",
        "?&&&==",
        "?next=//evil.example",
        "?next=javascript:alert(1)",
        "?follow=2",
        "?x=" + "y".repeat(10_000),
        "?mtime=-1",
        "?create=no",
      ]);
      // In place of the query, or added to it (a query always starts with its "?").
      r.query = rng() < 0.5 || r.query === "" ? q : `${r.query}&${q.slice(1)}`;
      note(`query ${JSON.stringify(q.slice(0, 40))}`);
      break;
    }
    case 8:
      segs.splice(at, 0, "");
      note("empty segment");
      break;
    case 9: {
      const prefix = pick(rng, [
        "http://other.example",
        `http://127.0.0.1:${port}`,
        "https://127.0.0.1",
        "//other.example",
        "http://user:pw@127.0.0.1",
      ]);
      r.path = prefix + r.path;
      // The server then judges a Destination against that authority: 502 is its answer.
      if (prefix !== `http://127.0.0.1:${port}`) r.tags.add("foreign-destination");
      note(`absolute-form ${prefix}`);
      return;
    }
    case 10: {
      const last = segs.length - 1;
      if (segs[last] === "") segs.pop();
      else segs.push(pick(rng, ["", "", "x"]));
      note("trailing slash flipped");
      break;
    }
    default: {
      const f = pick(rng, ["#", "#frag", "#/../../x", "%23x"]);
      segs[segs.length - 1] = (segs[segs.length - 1] ?? "") + f;
      note(`fragment ${JSON.stringify(f)}`);
    }
  }
  r.path = segs.join("/");
}

/** Header mutations: a name and the values it may take (null: remove it). */
function headerChoices(r: FuzzRequest, port: number): [string, (string | null)[]][] {
  const here = `http://127.0.0.1:${port}`;
  return [
    ["depth", ["0", "1", "infinity", "2", "-1", "", "Infinity", "1, 0", "0 ", null]],
    ["overwrite", ["T", "F", "t", "X", "", "TF", null]],
    ["destination", [
      "http://evil.example/dav/docs/x",
      "x",
      "../x",
      "/dav/../etc",
      "/dav/docs/%2e%2e/%2e%2e/x",
      "ftp://127.0.0.1/dav/x",
      "",
      null,
      `${here}/api/v1/fs/docs/x`,
      `${here}/dav/docs/` + "d".repeat(5000),
      `${here}${r.path}`,
      `${here}/dav/docs`,
      `${here}/dav/docs/sub/inside`,
      `${here}/dav/docs/a%00b`,
      `${here}/dav/docs/%ff`,
      `http://[::1]:${port}/dav/docs/x`,
      `http://user@127.0.0.1:${port}/dav/docs/x`,
      `${here}/dav/docs/x?y=1#z`,
      `${here}/dav/`,
      `${here}/dav`,
      "/dav/home/bob/x",
      "http://127.0.0.1:1/dav/docs/x",
      "urn:x",
      "http://",
      "/dav/docs/x\\..\\..\\y",
    ]],
    ["if", [
      "garbage",
      "(<urn:uuid:x>)",
      "<http://evil.example/> (<x>)",
      "(Not <DAV:no-lock>)",
      "(",
      "((",
      "(<" + "z".repeat(10_000) + ">)",
      '(["etag"])',
      "(<opaquelocktoken:",
      "<>(<x>)",
      "(Not)",
      '(["x"] ["y"]) (Not <DAV:no-lock> ["z"])',
      `<${here}/dav/docs/a.txt> (<urn:uuid:6f1c2d1e-0000-4000-8000-000000000000>)`,
    ]],
    ["if-match", ["garbage", "*", '""', 'W/"x"', ",", '"x", *', '"' + "e".repeat(5000) + '"']],
    ["if-none-match", ["*", "garbage", 'W/"x"', '"x"', ", ,", "*, *"]],
    ["if-unmodified-since", [
      "garbage",
      "Thu, 01 Jan 1970 00:00:00 GMT",
      "99999999999",
      "Sun, 06 Nov 2994 08:49:37 GMT",
      "",
    ]],
    ["if-modified-since", ["garbage", "Sun, 06 Nov 2994 08:49:37 GMT", "-1"]],
    ["if-range", ["garbage", '"x"', "Thu, 01 Jan 1970 00:00:00 GMT"]],
    ["lock-token", [
      "garbage",
      "<>",
      "<urn:uuid:00000000-0000-0000-0000-000000000000>",
      "urn:uuid:x",
      "<" + "t".repeat(5000) + ">",
      "<opaquelocktoken:x>, <y>",
      null,
    ]],
    ["timeout", [
      "Second-abc",
      "Infinite",
      "Second-99999999999999999999",
      "Second--1",
      "",
      "Second-0",
      "Infinite, Second-4100000000",
      "Second-1e3",
    ]],
    ["range", [
      "bytes=0-0,1-1,2-2",
      "bytes=5-2",
      "bytes=0-99999999999999999999",
      "bytes=-1-2",
      "bytes=-0",
      "bytes=",
      "items=0-1",
      "bytes=" + Array.from({ length: 2000 }, (_, i) => `${i}-${i}`).join(","),
      "bytes=1-0",
      "bytes=9007199254740993-",
      "bytes=0-1, 0-1",
      "bytes= 0 - 1",
    ]],
    ["content-range", [
      "bytes 0-4/*",
      "bytes 5-2/*",
      "bytes */10",
      "bytes 0-99999999999999999999/*",
      "garbage",
      "bytes -1-2/*",
      "bytes 0-1/0",
      "bytes 9007199254740990-9007199254740994/*",
    ]],
    ["content-type", [
      "application/xml; charset=latin1",
      "text/plain",
      "garbage",
      "application/json; charset=utf-16",
      "multipart/form-data; boundary=",
      "multipart/form-data; boundary=x",
      "application/x-www-form-urlencoded",
      "application/offset+octet-stream",
      "a/" + "b".repeat(5000),
      "",
      null,
    ]],
    ["upload-offset", ["-1", "abc", "1e3", "99999999999999999999", "", "0, 0", " 0", null]],
    ["upload-length", ["-1", "abc", "0", "99999999999999999999", "", "1125899906842625", null]],
    ["upload-metadata", [
      "path",
      "path !!!",
      tusMetadata({ path: "../x" }),
      tusMetadata({ path: "/docs/../x" }),
      tusMetadata({ filename: "\0" }),
      tusMetadata({ filename: "..", dir: "/docs" }),
      tusMetadata({ path: "/docs/a.txt/x" }),
      tusMetadata({ path: "/.pagefs-uploads/x" }),
      tusMetadata({ path: "/docs/" + "n".repeat(300) }),
      tusMetadata({ path: "/docs/x", ifMatch: "garbage garbage" }),
      tusMetadata({ path: "/docs/x", ifNoneMatch: "no" }),
      "path " + b64("/docs/a") + ",path " + b64("/docs/b"),
      ",",
      "path " + "A".repeat(20_000),
      "a b c",
      "path " + b64("/docs/\udc00x"),
      "p\u00e9 " + b64("/x"),
    ]],
    ["upload-defer-length", ["1", "0", "x", ""]],
    ["tus-resumable", ["0.2.2", "", "garbage", "1.0.0, 1.0.0", null]],
    ["x-http-method-override", ["PATCH", "DELETE", "HEAD", "GET", "PROPFIND", "", "patch "]],
    ["expect", ["100-continue", "garbage"]],
    ["cookie", [
      "pagefs_session=v1.x.y",
      "pagefs_session=" + "c".repeat(5000),
      "pagefs_session=; pagefs_session=v1..",
      "pagefs_unlock=x",
    ]],
    ["x-csrf-token", ["garbage", ""]],
    ["origin", ["http://evil.example", "null", ""]],
    ["sec-fetch-site", ["cross-site", "none", "garbage"]],
    ["x-forwarded-proto", ["https", "garbage"]],
    ["forwarded", ['host="evil.example";proto=https', "garbage", "host="]],
    ["x-forwarded-host", ["evil.example", "", "a b"]],
    ["x-oc-mtime", ["-5", "abc", "99999999999999999999", "1e3"]],
    ["accept-encoding", ["gzip", "br;q=garbage", "*;q=0"]],
    ["accept", ["application/json", "garbage", "*/*;q=x"]],
    ["x-request-id", ["a b", "x".repeat(200), "\u00e9t\u00e9", "../../etc", ""]],
    ["upload-checksum", [
      "sha1 garbage",
      "md5 " + btoa("x"),
      "crc32",
      "sha1 " + btoa("y".repeat(20)),
    ]],
    ["upload-concat", ["partial", "final;/api/v1/uploads/x", "final;", "garbage"]],
    ["content-encoding", ["gzip", "br", "garbage", "identity"]],
    ["content-language", ["\u00e9", "x".repeat(3000)]],
  ];
}

export function mutateHeader(r: FuzzRequest, rng: Rng, ctx: GenContext): void {
  const roll = rng();
  if (roll < 0.12) {
    const value = pick(rng, [
      null,
      "Basic " + btoa("root:wrong"),
      "Basic !!!notbase64",
      "Basic " + btoa("root"),
      "Basic ",
      "Bearer ",
      "Bearer wrong-token",
      "Digest username=root",
      "basic " + btoa(":"),
      "Basic " + "A".repeat(5000),
      ctx.auth.alice,
      ctx.auth.reader,
      ctx.auth.aliceToken,
      ctx.auth.root + ", " + ctx.auth.root,
      "Basic " + btoa("root:" + ctx.password + "\u0000"),
    ]);
    setHeader(r, "authorization", value);
    // Alice's walls are checked only for what alice sends.
    if (value !== ctx.auth.alice && value !== ctx.auth.aliceToken) r.tags.delete("as-alice");
    r.mutations.push(`authorization ${value === null ? "removed" : value.slice(0, 30)}`);
    return;
  }
  if (roll < 0.16) {
    // A signed-in browser instead: its session cookie, with or without the CSRF token.
    // Root's session: no longer a request of alice's.
    setHeader(r, "authorization", null);
    r.tags.delete("as-alice");
    r.headers.push(["cookie", ctx.session.cookie]);
    const csrf = pick(rng, [ctx.session.csrf, null, "garbage", "", ctx.session.csrf + "x"]);
    if (csrf !== null) r.headers.push(["x-csrf-token", csrf]);
    if (csrf !== ctx.session.csrf) r.tags.add("no-csrf");
    r.mutations.push(`session cookie, CSRF ${csrf === ctx.session.csrf ? "right" : csrf}`);
    return;
  }
  if (roll < 0.2) {
    // A header given twice, the second time with another value.
    const [name, value] = r.headers.length ? pick(rng, r.headers) : ["depth", "1"];
    r.headers.push([name, pick(rng, [value, value + "x", "", "0", "*"])]);
    r.mutations.push(`duplicate ${name}`);
    return;
  }
  if (roll < 0.24) {
    const what = pick(rng, [
      "huge value",
      "many headers",
      "bad name",
      "host",
      "raw UTF-8 value",
      "NUL in value",
      "folded line",
      "two hosts",
    ]);
    if (what === "huge value") r.headers.push(["x-big", "v".repeat(70_000)]);
    else if (what === "raw UTF-8 value") r.headers.push(["x-name", "caf\u00e9 \u65e5\u672c"]);
    else if (what === "NUL in value") r.headers.push(["x-nul", "a\u0000b"]);
    else if (what === "folded line") r.headers.push(["x-fold", "a\r\n b"]);
    else if (what === "two hosts") {
      r.headers.unshift(["host", `127.0.0.1:${ctx.port}`], ["host", "evil.example"]);
      r.tags.add("foreign-destination");
    } else if (what === "many headers") {
      for (let i = 0; i < 300; i++) r.headers.push([`x-h${i}`, "v"]);
    } else if (what === "bad name") r.headers.push(["x bad", "v"]);
    else {
      const host = pick(rng, ["evil.example", "", "127.0.0.1:1", "a b", "[::1"]);
      r.headers.unshift(["host", host]);
      r.tags.add("foreign-destination");
    }
    r.mutations.push(`headers ${what}`);
    return;
  }
  const choices = headerChoices(r, ctx.port);
  const [name, values] = pick(rng, choices);
  const value = pick(rng, values);
  setHeader(r, name, value);
  // RFC 4918 section 9.8.5: 502 for a Destination on another server or outside the WebDAV
  // namespace (docs/auth.md: another host, or outside /dav/).
  const own = new RegExp(`^(http://127\\.0\\.0\\.1:${ctx.port})?/dav(/|$)`);
  if (name === "destination" && value !== null && !own.test(value)) {
    r.tags.add("foreign-destination");
  }
  r.mutations.push(`${name}: ${value === null ? "(removed)" : JSON.stringify(value.slice(0, 50))}`);
}

function nested(depth: number): string {
  return `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>` + "<a>".repeat(depth) +
    "</a>".repeat(depth) + `</D:prop></D:propfind>`;
}

const LAUGHS = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">` +
  Array.from(
    { length: 9 },
    (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? "" : i};`.repeat(10)}">`,
  ).join("") +
  `]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol9;</D:displayname></D:prop>` +
  `</D:propfind>`;

/** Bodies: malformed or hostile XML, JSON and form data, bytes that are not UTF-8. */
export function mutateBody(r: FuzzRequest, rng: Rng): void {
  const choice = Math.floor(rng() * 28);
  const text = (s: string) => encoder.encode(s);
  let body: Uint8Array;
  let what: string;
  switch (choice) {
    case 0:
      [body, what] = [text("<"), "xml <"];
      break;
    case 1:
      [body, what] = [text(`<?xml version='1.0'?><D:propfind xmlns:D='DAV:'>`), "xml unclosed"];
      break;
    case 2:
      [body, what] = [text(`<D:propfind xmlns:D="DAV:"><D:prop></D:propfind>`), "xml mismatched"];
      break;
    case 3:
      [body, what] = [
        text(
          `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>` +
            `<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:p>&e;</Z:p>` +
            `</D:prop></D:set></D:propertyupdate>`,
        ),
        "xxe",
      ];
      break;
    case 4:
      [body, what] = [text(LAUGHS), "billion laughs"];
      break;
    case 5:
      [body, what] = [text(nested(pick(rng, [1000, 20_000, 100_000]))), "deep nesting"];
      break;
    case 6: {
      const n = pick(rng, [300, 70_000, 600_000]);
      body = text(
        `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>` +
          `<Z:${"p".repeat(n)}>v</Z:${"p".repeat(n)}></D:prop></D:set></D:propertyupdate>`,
      );
      what = `huge property name ${n}`;
      break;
    }
    case 7: {
      const n = pick(rng, [70_000, 900_000, 2_000_000]);
      body = text(
        `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop>` +
          `<Z:p>${"v".repeat(n)}</Z:p></D:prop></D:set></D:propertyupdate>`,
      );
      what = `huge property value ${n}`;
      break;
    }
    case 8:
      [body, what] = [
        text(`<?xml version="1.0"?><D:propfind xmlns:D="urn:not-dav"><D:allprop/></D:propfind>`),
        "wrong namespace",
      ];
      break;
    case 9:
      [body, what] = [
        text(`<?xml version="1.0"?><propfind><allprop/></propfind>`),
        "no namespace",
      ];
      break;
    case 10:
      [body, what] = [
        new Uint8Array([0x3c, 0x3f, 0x78, 0xff, 0xfe, 0xc0, 0xae, 0x3e]),
        "not UTF-8",
      ];
      break;
    case 11:
      [body, what] = [new Uint8Array([0xff, 0xfe, 0x3c, 0x00, 0x61, 0x00]), "UTF-16 BOM"];
      break;
    case 12:
      [body, what] = [
        text(
          `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>` +
            `<D:getcontentlength>5</D:getcontentlength><D:resourcetype/></D:prop></D:set>` +
            `</D:propertyupdate>`,
        ),
        "protected properties",
      ];
      break;
    case 13:
      [body, what] = [
        text(
          `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set>` +
            `<D:prop><Z:p xml:lang="&#0;">\u0000</Z:p></D:prop></D:set></D:propertyupdate>`,
        ),
        "NUL in XML",
      ];
      break;
    case 14:
      [body, what] = [
        text(
          `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>` +
            `<D:shared/></D:lockscope><D:locktype><D:read/></D:locktype></D:lockinfo>`,
        ),
        "lockinfo both scopes",
      ];
      break;
    case 15:
      [body, what] = [
        text(
          `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:owner>` + "<x>".repeat(5000) +
            "</x>".repeat(5000) + `</D:owner></D:lockinfo>`,
        ),
        "lockinfo deep owner",
      ];
      break;
    case 16:
      [body, what] = [text("{"), "json {"];
      break;
    case 17:
      [body, what] = [text("[".repeat(100_000) + "]".repeat(100_000)), "json deep arrays"];
      break;
    case 18:
      [body, what] = [text('{"op":"mkdir","op":"rmdir"}'), "json repeated op"];
      break;
    case 19:
      [body, what] = [text('{"op":"truncate","size":1e999}'), "json huge number"];
      break;
    case 20:
      [body, what] = [
        text('{"op":"setxattr","name":"user.\\ud800","value":"x"}'),
        "json lone surrogate",
      ];
      break;
    case 21:
      [body, what] = [
        text(JSON.stringify({ op: "rename", to: "/docs/../../x" })),
        "json climbing target",
      ];
      break;
    case 22:
      [body, what] = [
        text(JSON.stringify({ path: "/docs/\u0000", seconds: 1e300, password: 5 })),
        "json share garbage",
      ];
      break;
    case 23:
      [body, what] = [text("user=%ff&password=%zz&next=%00"), "form bad escapes"];
      break;
    case 24:
      [body, what] = [text("a=" + "b".repeat(3_000_000)), "form 3 MB"];
      break;
    case 25:
      [body, what] = [
        text('--x\r\nContent-Disposition: form-data; name="user"\r\n\r\nroot\r\n--x'),
        "multipart truncated",
      ];
      break;
    case 26:
      [body, what] = [new Uint8Array(0), "empty"];
      break;
    default: {
      const n = pick(rng, [1, 100, 5000]);
      body = new Uint8Array(n);
      for (let i = 0; i < n; i++) body[i] = Math.floor(rng() * 256);
      what = `random ${n} bytes`;
    }
  }
  r.body = body;
  r.mutations.push(`body ${what}`);
}

/** Framing: a Content-Length that lies, bodies cut short, transfer codings. */
export function mutateFraming(r: FuzzRequest, rng: Rng): void {
  const kind = pick(rng, [
    "short then close",
    "short then close",
    "long body",
    "cl garbage",
    "two lengths",
    "chunked bad",
    "chunked cut",
    "chunked and length",
    "gzip coding",
    "no length",
  ]);
  const n = r.body.length;
  switch (kind) {
    case "short then close":
      r.contentLength = "none";
      r.headers.push(["content-length", String(n + 1 + Math.floor(rng() * 100_000))]);
      r.halfClose = true;
      break;
    case "long body":
      r.contentLength = "none";
      r.headers.push(["content-length", String(Math.max(0, n - 1))]);
      break;
    case "cl garbage":
      r.contentLength = "none";
      r.headers.push([
        "content-length",
        pick(rng, ["abc", "-1", "1e3", " ", "0x10", `${n}, ${n + 1}`]),
      ]);
      r.halfClose = true;
      break;
    case "two lengths":
      r.contentLength = "none";
      r.headers.push(["content-length", String(n)], ["content-length", String(n + 3)]);
      break;
    case "chunked bad":
      r.contentLength = "none";
      r.headers.push(["transfer-encoding", "chunked"]);
      r.body = encoder.encode(
        pick(rng, ["zz\r\nabc\r\n0\r\n\r\n", "3\r\nabcdef\r\n0\r\n\r\n", "-1\r\n"]),
      );
      r.halfClose = true;
      r.tags.add("transfer-coding");
      break;
    case "chunked cut":
      r.contentLength = "none";
      r.headers.push(["transfer-encoding", "chunked"]);
      r.body = encoder.encode("10\r\nabc");
      r.halfClose = true;
      r.tags.add("transfer-coding");
      break;
    case "chunked and length":
      r.contentLength = "none";
      r.headers.push(["transfer-encoding", "chunked"], ["content-length", "3"]);
      r.body = encoder.encode("3\r\nabc\r\n0\r\n\r\n");
      r.tags.add("transfer-coding");
      break;
    case "gzip coding":
      r.contentLength = "none";
      r.headers.push(["transfer-encoding", pick(rng, ["gzip", "gzip, chunked", "chunked, gzip"])]);
      r.halfClose = true;
      r.tags.add("transfer-coding");
      break;
    default:
      // The body (if any) then goes as stray bytes after a request of none.
      r.contentLength = "none";
  }
  r.mutations.push(`framing ${kind}`);
}

/** The request line: methods in another case or unknown, other protocol versions. */
export function mutateLine(r: FuzzRequest, rng: Rng): void {
  const kind = pick(rng, ["lower", "unknown", "long", "version"]);
  if (kind === "lower") r.method = r.method.toLowerCase();
  else if (kind === "unknown") r.method = pick(rng, ["FOO", "GETT", "PROPFIN", "BIND", "REPORT"]);
  else if (kind === "long") r.method = "M".repeat(300);
  else r.version = pick(rng, ["HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "HTTP/0.9", "http/1.1"]);
  // RFC 9110 section 15.6.2: 501 for a method the server does not know; RFC 9110
  // section 15.6.6: 505 for a major version it does not support.
  r.tags.add(kind === "version" ? "version" : "method");
  r.mutations.push(`line ${kind} ${kind === "version" ? r.version : r.method.slice(0, 20)}`);
}
