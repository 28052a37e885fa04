// The OpenAPI document against the implementation: every documented operation is routed,
// every route is documented, operation bodies match, and answers fit their schemas.

import { assert, assertEquals } from "./_assert.ts";
import { json, restTest } from "./rest_harness.ts";
import { validate } from "./rest_schema.ts";
import { createRestApi, openApiDocument } from "../src/rest/mod.ts";
import { OPERATIONS } from "../src/rest/post_ops.ts";
import { MemoryStore, StoreMetrics } from "../src/store/mod.ts";
import { createApp } from "../src/app.ts";
import { createTus } from "../src/tus/mod.ts";
import { Vfs } from "../src/vfs/mod.ts";

type Doc = {
  paths: Record<string, Record<string, { requestBody?: unknown }>>;
  components: { schemas: Record<string, Record<string, unknown>> };
};
const doc = openApiDocument as unknown as Doc;
const root = openApiDocument as unknown as Record<string, unknown>;
const METHODS = ["get", "head", "put", "patch", "delete", "post"];

/** Hono's "/fs/*" is OpenAPI's "/fs/{path}". */
const toOpenApi = (pattern: string) => pattern.replace(/\/\*$/, "/{path}");

function assertValid(schema: string, value: unknown): void {
  const errors = validate(root, { $ref: `#/components/schemas/${schema}` }, value);
  assertEquals(errors, [], `${schema}: ${JSON.stringify(value)}`);
}

Deno.test("every route of the app is in the OpenAPI document", async () => {
  const api = createRestApi(await Vfs.open(new MemoryStore()));
  const routes = api.routes.map((r) => [r.method, toOpenApi(r.path)] as const);
  assert(routes.length >= 10);
  for (const [method, path] of routes) {
    const item = doc.paths[path];
    assert(item, `${path} is not documented`);
    // "ALL" is the 405 fallback of a documented path.
    if (method !== "ALL") assert(item[method.toLowerCase()], `${method} ${path} undocumented`);
  }
  // And every documented method is registered (HEAD is served by GET handlers). Uploads
  // are served by src/tus, mounted beside the file API: checked in their own test below.
  for (const [path, item] of Object.entries(doc.paths)) {
    if (path.startsWith("/uploads/")) continue;
    for (const method of Object.keys(item).filter((m) => METHODS.includes(m))) {
      const wanted = method === "head" ? "GET" : method.toUpperCase();
      assert(routes.some(([m, p]) => m === wanted && p === path), `${method} ${path} unrouted`);
    }
  }
});

Deno.test("each POST operation's schema lists exactly the fields it accepts", () => {
  const documented = doc.components.schemas.Operation!.oneOf as { $ref: string }[];
  assertEquals(
    documented.map((r) => r.$ref.replace("#/components/schemas/Op_", "")).sort(),
    Object.keys(OPERATIONS).sort(),
  );
  for (const [name, op] of Object.entries(OPERATIONS)) {
    const schema = doc.components.schemas[`Op_${name}`]!;
    const properties = Object.keys(schema.properties as object).sort();
    assertEquals(properties, ["op", ...op.fields].sort(), name);
  }
});

restTest("documented operations answer, and their bodies fit the schemas", async (t) => {
  const { req, client } = t;
  await client.put("/dir/file.txt", "content", { parents: true });
  await client.symlink("/dir/link", "/dir/file.txt");
  await client.setxattr("/dir/file.txt", "user.a", { value: "1" });
  await client.put("/dir/gone.txt", "");
  const samples: Record<string, [string, RequestInit]> = {
    "get /fs/{path}": ["/fs/dir/file.txt", {}],
    "head /fs/{path}": ["/fs/dir/file.txt", { method: "HEAD" }],
    "put /fs/{path}": ["/fs/dir/new.txt", { method: "PUT", body: "x" }],
    "patch /fs/{path}": ["/fs/dir/new.txt?append=1", { method: "PATCH", body: "y" }],
    "post /fs/{path}": ["/fs/dir/new.txt", json({ op: "chmod", mode: 0o640 })],
    "delete /fs/{path}": ["/fs/dir/gone.txt", { method: "DELETE" }],
    "get /stat/{path}": ["/stat/dir/link", {}],
    "get /readlink/{path}": ["/readlink/dir/link", {}],
    "get /xattr/{path}": ["/xattr/dir/file.txt", {}],
    "get /zip/{path}": ["/zip/dir/", {}],
    "get /statfs": ["/statfs", {}],
    "get /openapi.json": ["/openapi.json", {}],
  };
  for (const [path, item] of Object.entries(doc.paths)) {
    if (path.startsWith("/uploads/")) continue;
    for (const method of Object.keys(item).filter((m) => METHODS.includes(m))) {
      const sample = samples[`${method} ${path}`];
      assert(sample, `no sample request for ${method} ${path}`);
      const res = await req(...sample);
      await res.body?.cancel();
      assert(res.status >= 200 && res.status < 300, `${method} ${path}: ${res.status}`);
    }
  }
  // Answers against their schemas.
  assertValid("Stat", await client.stat("/dir/file.txt"));
  assertValid("Stat", await client.stat("/dir", { follow: true }));
  assertValid("Stat", await client.mkdir("/made"));
  assertValid("Listing", await client.list("/dir"));
  assertValid("Listing", await client.list("/", { limit: 1 }));
  assertValid("StatFs", await client.statfs());
  assertValid("Readlink", await (await req("/readlink/dir/link")).json());
  assertValid("XattrList", await (await req("/xattr/dir/file.txt")).json());
  assertValid("XattrValue", await (await req("/xattr/dir/file.txt?name=user.a")).json());
  const put = await req("/fs/dir/created", { method: "PUT", body: "z" });
  assertValid("Stat", await put.json());
  for (const path of ["/fs/missing", "/stat/dir/file.txt/x", "/fs/a%2Fb"]) {
    const problem = await req(path);
    assertEquals(problem.headers.get("content-type"), "application/problem+json");
    assertValid("Problem", await problem.json());
  }
  // Request bodies the client sends fit the Operation schema.
  for (
    const body of [
      { op: "mkdir", parents: true, mode: "0755" },
      { op: "rename", to: "/x", noReplace: true },
      { op: "utimes", atime: 5, mtime: "2020-01-01T00:00:00Z" },
      { op: "setxattr", name: "user.b", value: "AA==", create: true },
    ]
  ) {
    assertValid("Operation", body);
  }
  assertEquals(validate(root, { $ref: "#/components/schemas/Operation" }, { op: "x" }).length, 1);
  // The served document is the exported one.
  assertEquals(await (await req("/openapi.json")).json(), JSON.parse(JSON.stringify(doc)));
}, { backends: ["memory"] });

Deno.test("the uploads endpoint is documented as routed, and its operations answer", async () => {
  const store = new MemoryStore();
  const vfs = await Vfs.open(store);
  const tus = createTus(vfs, { mount: "/api/v1/uploads" });
  const routes = tus.app.routes.map((r) => [
    r.method,
    r.path.replace(/^\/api\/v1/, "").replace(":id", "{id}"),
  ]);
  const documented = Object.entries(doc.paths).filter(([p]) => p.startsWith("/uploads/"));
  assertEquals(documented.length, 2);
  for (const [path, item] of documented) {
    for (const method of Object.keys(item)) {
      const wanted = method === "head" ? "GET" : method.toUpperCase();
      assert(routes.some(([m, p]) => m === wanted && p === path), `${method} ${path} unrouted`);
    }
  }
  const app = createApp({ store, metrics: new StoreMetrics(), vfs });
  const tusHeaders = { "tus-resumable": "1.0.0" };
  const created = await app.request("/api/v1/uploads/", {
    method: "POST",
    headers: { ...tusHeaders, "upload-length": "2", "upload-metadata": `path ${btoa("/u")}` },
  });
  assertEquals(created.status, 201);
  const upload = new URL(created.headers.get("location")!).pathname;
  const answers = [
    await app.request("/api/v1/uploads/", { method: "OPTIONS" }),
    await app.request(upload, { method: "OPTIONS" }),
    await app.request(upload, { method: "HEAD", headers: tusHeaders }),
    await app.request(upload, {
      method: "PATCH",
      headers: {
        ...tusHeaders,
        "content-type": "application/offset+octet-stream",
        "upload-offset": "0",
      },
      body: "ok",
    }),
  ];
  const doomed = await app.request("/api/v1/uploads/", {
    method: "POST",
    headers: { ...tusHeaders, "upload-length": "2", "upload-metadata": `path ${btoa("/d")}` },
  });
  const doomedPath = new URL(doomed.headers.get("location")!).pathname;
  answers.push(await app.request(doomedPath, { method: "DELETE", headers: tusHeaders }));
  assertEquals(answers.map((r) => r.status), [204, 204, 200, 204, 204]);
  assertEquals(new TextDecoder().decode(await vfs.read("/u", 0, 10)), "ok");
  const problem = await app.request(doomedPath, { method: "HEAD", headers: tusHeaders });
  assertEquals(problem.status, 404);
  const body = await (await app.request(doomedPath, {
    method: "DELETE",
    headers: tusHeaders,
  })).json();
  assertValid("Problem", body);
});
