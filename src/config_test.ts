import { assert, assertEquals, assertRejects } from "../tests/_assert.ts";
import { ConfigError, loadConfig } from "./config.ts";

function configError(env: Record<string, string>): Promise<ConfigError> {
  return assertRejects(() => Promise.resolve().then(() => loadConfig(env))) as Promise<
    ConfigError
  >;
}

Deno.test("loadConfig() defaults to the local store on loopback port 8080", () => {
  const config = loadConfig({});
  assertEquals(config.port, 8080);
  assertEquals(config.host, "127.0.0.1");
  assertEquals(config.store, { kind: "local", dataDir: "./.pagefs" });
});

Deno.test("loadConfig() selects S3 when PAGEFS_BUCKET is set", () => {
  const config = loadConfig({
    PAGEFS_BUCKET: "my-bucket",
    PAGEFS_PREFIX: "fs/one",
    AWS_ENDPOINT_URL: "http://127.0.0.1:9000",
    AWS_ACCESS_KEY_ID: "ak",
    AWS_SECRET_ACCESS_KEY: "sk",
  });
  assertEquals(config.store, {
    kind: "s3",
    bucket: "my-bucket",
    prefix: "fs/one/",
    endpoint: "http://127.0.0.1:9000",
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "ak", secretAccessKey: "sk" },
  });
});

Deno.test("loadConfig() prefers AWS_ENDPOINT_URL_S3 and honours PAGEFS_S3_PATH_STYLE", () => {
  const config = loadConfig({
    PAGEFS_BUCKET: "b-1",
    AWS_ENDPOINT_URL: "http://a.example",
    AWS_ENDPOINT_URL_S3: "http://s3.example",
    AWS_REGION: "eu-west-1",
    PAGEFS_S3_PATH_STYLE: "false",
  });
  assert(config.store.kind === "s3");
  assertEquals(config.store.endpoint, "http://s3.example");
  assertEquals(config.store.region, "eu-west-1");
  assertEquals(config.store.forcePathStyle, false);
  assertEquals(config.store.credentials, undefined);
});

Deno.test("loadConfig() names the variable of an invalid value", async () => {
  const cases: [Record<string, string>, string][] = [
    [{ PORT: "80a" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ PAGEFS_STORE: "floppy" }, "PAGEFS_STORE"],
    [{ PAGEFS_STORE: "s3" }, "PAGEFS_BUCKET"],
    [{ PAGEFS_BUCKET: "Bad_Bucket" }, "PAGEFS_BUCKET"],
    [{ PAGEFS_BUCKET: "ok-bucket", AWS_ENDPOINT_URL_S3: "not a url" }, "AWS_ENDPOINT_URL_S3"],
    [{ PAGEFS_BUCKET: "ok-bucket", AWS_ACCESS_KEY_ID: "ak" }, "AWS_SECRET_ACCESS_KEY"],
    [{ PAGEFS_BUCKET: "ok-bucket", PAGEFS_PREFIX: "/abs" }, "PAGEFS_PREFIX"],
    [{ PAGEFS_BUCKET: "ok-bucket", PAGEFS_S3_PATH_STYLE: "maybe" }, "PAGEFS_S3_PATH_STYLE"],
  ];
  for (const [env, variable] of cases) {
    const error = await configError(env);
    assert(error instanceof ConfigError, `${JSON.stringify(env)} throws a ConfigError`);
    assertEquals(error.variable, variable);
    assert(error.message.startsWith(`${variable}: `), error.message);
  }
});

Deno.test("loadConfig() accepts loopback hosts and the memory store", () => {
  for (const host of ["localhost", "127.0.0.2", "::1"]) {
    assertEquals(loadConfig({ HOST: host, PAGEFS_STORE: "memory" }).host, host);
  }
  assertEquals(loadConfig({ PAGEFS_STORE: "memory" }).store, { kind: "memory" });
});

Deno.test("loadConfig() reads CORS origins and the metrics flag", async () => {
  assertEquals(loadConfig({}).corsOrigins, []);
  assertEquals(loadConfig({}).metricsPublic, false);
  assertEquals(loadConfig({ PAGEFS_CORS_ORIGINS: "*" }).corsOrigins, "*");
  assertEquals(
    loadConfig({ PAGEFS_CORS_ORIGINS: "https://a.example, http://b.example:8080" }).corsOrigins,
    ["https://a.example", "http://b.example:8080"],
  );
  assertEquals(loadConfig({ PAGEFS_METRICS_PUBLIC: "true" }).metricsPublic, true);
  for (const bad of ["https://a.example/", "a.example", "ftp://a.example", "https://*.example"]) {
    assertEquals((await configError({ PAGEFS_CORS_ORIGINS: bad })).variable, "PAGEFS_CORS_ORIGINS");
  }
  assertEquals(
    (await configError({ PAGEFS_METRICS_PUBLIC: "yes" })).variable,
    "PAGEFS_METRICS_PUBLIC",
  );
});

Deno.test("loadConfig() trusts forwarded headers only with PAGEFS_TRUST_FORWARDED", () => {
  assertEquals(loadConfig({}).trustForwarded, false);
  assertEquals(loadConfig({ PAGEFS_TRUST_FORWARDED: "true" }).trustForwarded, true);
});

Deno.test("loadConfig() reads PAGEFS_UPLOAD_EXPIRY as a duration (default 24 h)", async () => {
  assertEquals(loadConfig({}).uploadExpiryMs, 24 * 3600_000);
  assertEquals(loadConfig({ PAGEFS_UPLOAD_EXPIRY: "90" }).uploadExpiryMs, 90_000);
  assertEquals(loadConfig({ PAGEFS_UPLOAD_EXPIRY: "30m" }).uploadExpiryMs, 1_800_000);
  assertEquals(loadConfig({ PAGEFS_UPLOAD_EXPIRY: "7d" }).uploadExpiryMs, 7 * 86_400_000);
  for (const bad of ["0", "-1", "1w", "1.5h", "400d", "soon"]) {
    const error = await configError({ PAGEFS_UPLOAD_EXPIRY: bad });
    assertEquals(error.variable, "PAGEFS_UPLOAD_EXPIRY", bad);
  }
});

Deno.test("loadConfig() reads PAGEFS_MEMORY_MIB and PAGEFS_CACHE_MIB (defaults 64 and 64 MiB)", async () => {
  const MiB = 1024 * 1024;
  assertEquals(loadConfig({}).memoryBytes, 64 * MiB);
  assertEquals(loadConfig({}).cacheBytes, 64 * MiB);
  const config = loadConfig({ PAGEFS_MEMORY_MIB: "200", PAGEFS_CACHE_MIB: "0" });
  assertEquals([config.memoryBytes, config.cacheBytes], [200 * MiB, 0]);
  for (const bad of ["31", "1.5", "lots", "-1"]) {
    assertEquals((await configError({ PAGEFS_MEMORY_MIB: bad })).variable, "PAGEFS_MEMORY_MIB");
  }
  assertEquals((await configError({ PAGEFS_CACHE_MIB: "x" })).variable, "PAGEFS_CACHE_MIB");
});

Deno.test("loadConfig() reads PAGEFS_META_DECODE_MIB (default 32 MiB, at least 8: above the writers' 4)", async () => {
  const MiB = 1024 * 1024;
  assertEquals(loadConfig({}).metaDecodeBytes, 32 * MiB);
  assertEquals(loadConfig({ PAGEFS_META_DECODE_MIB: "512" }).metaDecodeBytes, 512 * MiB);
  for (const bad of ["4", "x", "-3"]) {
    assertEquals(
      (await configError({ PAGEFS_META_DECODE_MIB: bad })).variable,
      "PAGEFS_META_DECODE_MIB",
    );
  }
});

Deno.test("loadConfig() reads PAGEFS_META_CACHE_MIB (default 64 MiB, at least 1)", async () => {
  const MiB = 1024 * 1024;
  assertEquals(loadConfig({}).metaCacheBytes, 64 * MiB);
  assertEquals(loadConfig({ PAGEFS_META_CACHE_MIB: "8" }).metaCacheBytes, 8 * MiB);
  for (const bad of ["0", "x", "-3"]) {
    assertEquals(
      (await configError({ PAGEFS_META_CACHE_MIB: bad })).variable,
      "PAGEFS_META_CACHE_MIB",
    );
  }
});

Deno.test("loadConfig() reads PAGEFS_CACHE_DIR and PAGEFS_CACHE_DISK_MIB (disk tier off by default)", async () => {
  const MiB = 1024 * 1024;
  assertEquals(loadConfig({}).diskCache, null);
  assertEquals(loadConfig({ PAGEFS_CACHE_DIR: "/var/cache/pagefs" }).diskCache, {
    dir: "/var/cache/pagefs",
    maxBytes: 1024 * MiB,
  });
  const sized = loadConfig({ PAGEFS_CACHE_DIR: "c", PAGEFS_CACHE_DISK_MIB: "300" });
  assertEquals(sized.diskCache?.maxBytes, 300 * MiB);
  for (const bad of ["1", "1.5", "lots"]) {
    const error = await configError({ PAGEFS_CACHE_DIR: "c", PAGEFS_CACHE_DISK_MIB: bad });
    assertEquals(error.variable, "PAGEFS_CACHE_DISK_MIB");
  }
});

Deno.test("loadConfig() reads the S3 bounds: PAGEFS_S3_TIMEOUT_MS (default 20 s) and PAGEFS_S3_UNREACHABLE_WAIT_MS (default 1 s)", async () => {
  const defaults = loadConfig({});
  assertEquals([defaults.s3TimeoutMs, defaults.s3UnreachableWaitMs], [20_000, 1000]);
  const config = loadConfig({ PAGEFS_S3_TIMEOUT_MS: "5000", PAGEFS_S3_UNREACHABLE_WAIT_MS: "0" });
  assertEquals([config.s3TimeoutMs, config.s3UnreachableWaitMs], [5000, 0]);
  const bad = await configError({ PAGEFS_S3_UNREACHABLE_WAIT_MS: "soon" });
  assertEquals(bad.variable, "PAGEFS_S3_UNREACHABLE_WAIT_MS");
});
