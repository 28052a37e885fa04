/**
 * The OpenAPI 3.1 description of the HTTP file API, served at `/api/v1/openapi.json`.
 * A test checks it against the routes the app registers and the bodies it answers.
 *
 * @module
 */

import { schemas } from "./openapi_schemas.ts";
import { uploadPaths } from "./openapi_uploads.ts";

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown) => ({ "application/json": { schema } });
const ok = (description: string, schema: unknown) => ({ description, content: json(schema) });
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});

const pathParam = {
  name: "path",
  in: "path",
  required: true,
  description: "Filesystem path below the root; may contain '/' (each segment " +
    "percent-encoded once). Empty for the root. A trailing '/' on PUT makes a directory.",
  schema: { type: "string" },
};
const query = (name: string, description: string, schema: unknown = { type: "string" }) => ({
  name,
  in: "query",
  required: false,
  description,
  schema,
});
const header = (name: string, description: string) => ({
  name,
  in: "header",
  required: false,
  description,
  schema: { type: "string" },
});
const flag = { type: "string", enum: ["1", "0", "true", "false", ""] };
const uintText = { type: "string", pattern: "^[0-9]{1,16}$" };

const errors = {
  "400": problem("Malformed input (EINVAL, ENAMETOOLONG, ...)"),
  "404": problem("No such file or directory"),
  "409": problem("Conflicting state (EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, ...)"),
  "412": problem("A precondition failed"),
  "423": problem("Locked by a WebDAV lock whose token the request did not send (Lock-Token)"),
  "503": problem("Too much contention (EAGAIN); see Retry-After"),
};
const conditionals = [
  header("If-Match", "Proceed only if the current ETag is one of these (or '*': exists)"),
  header("If-None-Match", "Proceed only if the ETag is none of these ('*': does not exist)"),
  header("If-Unmodified-Since", "Proceed only if not modified since (HTTP date)"),
];
/** Writes: the conditionals, and the tokens of WebDAV locks the change needs (else 423). */
const writeHeaders = [
  ...conditionals,
  header("Lock-Token", "Tokens of WebDAV locks on the path, as <urn:uuid:…>, comma-separated"),
];
const fileHeaders = {
  ETag: { schema: { type: "string" }, description: "Strong entity tag of the content" },
  "Last-Modified": { schema: { type: "string" }, description: "HTTP date of mtime" },
};

const readOperation = (summary: string, head: boolean) => ({
  summary,
  parameters: [
    pathParam,
    ...(head ? [] : [header("Range", "One byte range: bytes=a-b, bytes=a- or bytes=-n")]),
    header("If-Range", "Apply Range only if the ETag still matches"),
    ...conditionals,
    header("If-Modified-Since", "Answer 304 unless modified since (HTTP date)"),
    query("cursor", "Directory listings: continue after this entry name"),
    query("limit", "Directory listings: entries per page (1..10000, default 1000)", uintText),
  ],
  responses: {
    "200": {
      description: "The file's bytes, or a directory listing (application/json)",
      headers: fileHeaders,
      content: {
        "application/octet-stream": { schema: { type: "string", contentMediaType: "*/*" } },
        ...json(ref("Listing")),
      },
    },
    ...(head ? {} : {
      "206": { description: "The requested byte range (Content-Range)", headers: fileHeaders },
    }),
    "304": { description: "Not modified" },
    ...errors,
    "416": problem("Range not satisfiable (Content-Range: bytes */size)"),
  },
});

const metaGet = (summary: string, schema: unknown, extra: unknown[] = []) => ({
  get: {
    summary,
    parameters: [pathParam, ...extra],
    responses: { "200": ok(summary, schema), ...errors },
  },
});

/** The OpenAPI 3.1 document of the API (paths relative to the mount point, `/api/v1`). */
export const openApiDocument = {
  openapi: "3.1.0",
  info: {
    title: "PageFS HTTP file API",
    version: "1.0.0",
    description: "A POSIX-like filesystem on S3 over HTTP. Errors are RFC 9457 problems " +
      "carrying the errno code.",
  },
  servers: [{ url: "/api/v1" }],
  paths: {
    "/fs/{path}": {
      get: readOperation("Read a file or list a directory", false),
      head: readOperation("A file's headers without its bytes", true),
      put: {
        summary: "Create or replace a file from the body (streamed); trailing '/' is mkdir",
        parameters: [
          pathParam,
          ...writeHeaders,
          query("parents", "Create missing parent directories", flag),
          query("mtime", "Set mtime (unix seconds)", { type: "string" }),
          header("X-OC-Mtime", "Set mtime (unix seconds)"),
        ],
        requestBody: { content: { "application/octet-stream": { schema: {} } } },
        responses: {
          "201": { ...ok("Created", ref("Stat")), headers: fileHeaders },
          "204": { description: "Replaced", headers: fileHeaders },
          ...errors,
          "413": problem("File too large"),
        },
      },
      patch: {
        summary: "Write the body at an offset (Content-Range or ?offset=) or append",
        parameters: [
          pathParam,
          ...writeHeaders,
          header("Content-Range", "bytes a-b/* : where the body goes"),
          query("offset", "Write the body at this byte offset", uintText),
          query("append", "Append the body at the end", flag),
          query("create", "Create the file if missing", flag),
        ],
        requestBody: { content: { "application/octet-stream": { schema: {} } } },
        responses: {
          "204": { description: "Written", headers: fileHeaders },
          ...errors,
          "413": problem("File too large"),
          "416": problem("Content-Range ends before it starts"),
        },
      },
      delete: {
        summary: "Remove a file, an empty directory, or a tree with ?recursive=1",
        parameters: [pathParam, ...writeHeaders, query("recursive", "Remove a whole tree", flag)],
        responses: { "204": { description: "Removed" }, ...errors },
      },
      post: {
        summary: "Run an operation on the path",
        description: "The body is one JSON object naming the operation in `op`. Unknown " +
          "fields, and a field given twice, are refused with 400: nothing runs.",
        parameters: [pathParam, ...writeHeaders],
        requestBody: { required: true, content: json(ref("Operation")) },
        responses: {
          "200": ok("The resulting stat", ref("Stat")),
          "201": ok("Created; the new entry's stat", ref("Stat")),
          ...errors,
          "413": problem("JSON body too large"),
          "415": problem("Not application/json"),
        },
      },
    },
    "/stat/{path}": metaGet("A file's attributes (lstat; ?follow=1 for stat)", ref("Stat"), [
      query("follow", "Follow a final symlink", flag),
    ]),
    "/readlink/{path}": metaGet("A symlink's target", ref("Readlink")),
    "/xattr/{path}": metaGet("Extended attribute names, or one value with ?name=", {
      oneOf: [ref("XattrList"), ref("XattrValue")],
    }, [query("name", "The attribute to read")]),
    "/zip/{path}": {
      get: {
        summary: "A folder, or some entries of it, as a zip streamed as it is read",
        description: "Stored (not compressed), UTF-8 names, unix modes and mtimes; symlinks " +
          "are left out. Without ZIP64: more than 65,535 entries or 4 GiB is 413 before any " +
          "byte is sent.",
        parameters: [
          pathParam,
          query("name", "An entry of the folder to include (repeatable); none: the whole folder"),
        ],
        responses: {
          "200": {
            description: "The zip (Content-Disposition: attachment)",
            content: { "application/zip": { schema: { type: "string", format: "binary" } } },
          },
          "400": problem("Not a folder, or a name that is not one entry of it"),
          "404": errors["404"],
          "413": problem("Over the zip format's limits (EFBIG)"),
          "503": errors["503"],
        },
      },
    },
    "/statfs": {
      get: {
        summary: "Filesystem statistics",
        responses: { "200": ok("Statistics", ref("StatFs")), "503": errors["503"] },
      },
    },
    "/openapi.json": {
      get: {
        summary: "This document",
        responses: { "200": ok("OpenAPI 3.1", { type: "object" }) },
      },
    },
    ...uploadPaths,
  },
  components: {
    schemas,
  },
} as const;
