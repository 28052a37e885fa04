/**
 * The OpenAPI description of resumable uploads (tus 1.0.0 at `/api/v1/uploads/`, served by
 * `src/tus/`, mounted beside the file API). Kept apart from the file API's paths.
 *
 * @module
 */

const tusHeader = (name: string, description: string, required = false) => ({
  name,
  in: "header",
  required,
  description,
  schema: { type: "string" },
});
const resumable = tusHeader("Tus-Resumable", "Must be 1.0.0 (else 412)", true);
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
});
const h = (description: string) => ({ schema: { type: "string" }, description });
const idParam = {
  name: "id",
  in: "path",
  required: true,
  description: "The upload's id (32 hex digits), from the Location of its creation",
  schema: { type: "string", pattern: "^[0-9a-f]{32}$" },
};
const gone = {
  "404": problem("No such upload (never created, finished, or terminated)"),
  "410": problem("The upload expired; its bytes are removed"),
};
const options = {
  summary: "tus capabilities (no Tus-Resumable needed)",
  responses: {
    "204": {
      description: "Tus-Version, Tus-Extension, Tus-Checksum-Algorithm, Tus-Max-Size",
      headers: {
        "Tus-Version": h("1.0.0"),
        "Tus-Extension": h(
          "creation,creation-with-upload,creation-defer-length,termination,expiration,checksum",
        ),
        "Tus-Checksum-Algorithm": h("sha1,md5,sha256"),
        "Tus-Max-Size": h("Largest upload in bytes"),
      },
    },
  },
};

/** Paths of the uploads endpoint, relative to `/api/v1`. */
export const uploadPaths = {
  "/uploads/": {
    options,
    post: {
      summary: "Create a resumable upload (tus creation); the body may carry the first chunk",
      description: "The target comes from `Upload-Metadata`: `path` (absolute), or else " +
        "`filename` (or `name`) in the folder `dir` (default /). Paths are validated like the " +
        "`to` of a rename and authorized like a PUT to the target. Optional metadata " +
        '`ifNoneMatch` ("*": the target must not exist) and `ifMatch` (an ETag the target ' +
        "must still have) hold at completion, as for PUT. The finished upload appears at its " +
        "target with one atomic rename; until then the target is untouched.",
      parameters: [
        resumable,
        tusHeader("Upload-Length", "Total size in bytes (or Upload-Defer-Length)"),
        tusHeader("Upload-Defer-Length", "1: the size comes with a later PATCH"),
        tusHeader("Upload-Metadata", "Comma-separated `key base64(value)` pairs"),
        tusHeader("Content-Type", "application/offset+octet-stream when a body is sent"),
        tusHeader("Lock-Token", "Tokens of WebDAV locks on the target"),
      ],
      requestBody: {
        required: false,
        content: { "application/offset+octet-stream": { schema: { type: "string" } } },
      },
      responses: {
        "201": {
          description: "Created; Location is the upload's URL",
          headers: {
            Location: h(
              "The upload's absolute URL (from Forwarded / X-Forwarded-* only with PAGEFS_TRUST_FORWARDED)",
            ),
            "Upload-Expires": h("When an unfinished upload is removed (HTTP date)"),
            "Upload-Offset": h("Bytes stored, when the body carried a first chunk"),
          },
        },
        "400": problem("Malformed headers or metadata, or an invalid target path"),
        "403": problem("The principal may not write the target"),
        "404": problem("The target's folder does not exist"),
        "409": problem("The target is a folder or a symbolic link"),
        "412": problem("Tus-Resumable missing or not 1.0.0, or ifNoneMatch / ifMatch failed"),
        "413": problem("Longer than Tus-Max-Size or the free space statfs reports"),
        "423": problem("The target is locked (send Lock-Token)"),
      },
    },
  },
  "/uploads/{id}": {
    options,
    head: {
      summary: "An upload's offset (bytes durable), length, metadata and expiry",
      parameters: [idParam, resumable],
      responses: {
        "200": {
          description: "The upload's state",
          headers: {
            "Upload-Offset": h("Bytes stored"),
            "Upload-Length": h("Total size (absent while deferred)"),
            "Upload-Defer-Length": h("1 while the size is not declared"),
            "Upload-Metadata": h("As sent at creation"),
            "Upload-Expires": h("HTTP date"),
          },
        },
        "403": problem("The principal may not write the upload's target"),
        "412": problem("Tus-Resumable missing or not 1.0.0"),
        ...gone,
      },
    },
    patch: {
      summary: "Append a chunk at Upload-Offset; the last chunk moves the file to its target",
      description: "The chunk is stored whole or not at all (one commit after the checksum " +
        "and length checks). Send `X-HTTP-Method-Override: PATCH` with POST where PATCH is " +
        "blocked.",
      parameters: [
        idParam,
        resumable,
        tusHeader("Upload-Offset", "Must equal the upload's offset (else 409)", true),
        tusHeader("Upload-Length", "Declares a deferred length"),
        tusHeader("Upload-Checksum", "`sha1|md5|sha256 <base64 digest>` of this chunk"),
        tusHeader("Lock-Token", "Tokens of WebDAV locks on the target (last chunk)"),
      ],
      requestBody: {
        required: true,
        content: { "application/offset+octet-stream": { schema: { type: "string" } } },
      },
      responses: {
        "204": {
          description: "Stored; at the full length, the file is at its target",
          headers: { "Upload-Offset": h("The new offset"), "Upload-Expires": h("HTTP date") },
        },
        "400": problem("Malformed headers or a body shorter than its Content-Length"),
        "403": problem("The principal may not write the upload's target"),
        "409": problem("Upload-Offset differs from the upload's offset, or another request won"),
        "412": problem("Tus-Resumable wrong, or the target's precondition failed at completion"),
        "413": problem("The chunk goes past Upload-Length"),
        "415": problem("Content-Type is not application/offset+octet-stream"),
        "423": problem("The target is locked (send Lock-Token)"),
        "460": problem("Upload-Checksum does not match the chunk; nothing was stored"),
        ...gone,
      },
    },
    delete: {
      summary: "Terminate an upload and remove its bytes (tus termination)",
      parameters: [idParam, resumable],
      responses: {
        "204": { description: "Removed" },
        "403": problem("The principal may not write the upload's target"),
        "412": problem("Tus-Resumable missing or not 1.0.0"),
        ...gone,
      },
    },
  },
} as const;
