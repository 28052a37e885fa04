/** Component schemas of the OpenAPI document: answers, operation bodies, problems. @module */

import { ERRNO } from "../vfs/mod.ts";

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const ops = {
  mkdir: { parents: { type: "boolean" }, mode: ref("Mode") },
  rename: { to: ref("Path"), noReplace: { type: "boolean" } },
  copy: { to: ref("Path"), noReplace: { type: "boolean" } },
  symlink: { target: { type: "string", minLength: 1 } },
  link: { to: ref("Path") },
  truncate: { size: ref("Uint") },
  chmod: { mode: ref("Mode") },
  chown: { uid: ref("Uint"), gid: ref("Uint") },
  utimes: { atime: ref("Time"), mtime: ref("Time") },
  setxattr: {
    name: { type: "string" },
    value: { type: "string", contentEncoding: "base64" },
    create: { type: "boolean" },
    replace: { type: "boolean" },
  },
  removexattr: { name: { type: "string" } },
} as const;
const required: Partial<Record<keyof typeof ops, string[]>> = {
  rename: ["to"],
  copy: ["to"],
  symlink: ["target"],
  link: ["to"],
  truncate: ["size"],
  chmod: ["mode"],
  setxattr: ["name", "value"],
  removexattr: ["name"],
};
const opSchemas = Object.fromEntries(
  Object.entries(ops).map(([op, properties]) => [`Op_${op}`, {
    type: "object",
    additionalProperties: false,
    required: ["op", ...(required[op as keyof typeof ops] ?? [])],
    properties: { op: { const: op }, ...properties },
  }]),
);

const statSchema = {
  type: "object",
  additionalProperties: false,
  required: [
    "path",
    "ino",
    "type",
    "mode",
    "modeOctal",
    "uid",
    "gid",
    "size",
    "nlink",
    "atime",
    "mtime",
    "ctime",
    "btime",
    "etag",
  ],
  properties: {
    path: { type: "string" },
    ino: { type: "string" },
    type: ref("FileType"),
    mode: { type: "integer", minimum: 0, maximum: 4095 },
    modeOctal: { type: "string", pattern: "^[0-7]{4}$" },
    uid: ref("Uint"),
    gid: ref("Uint"),
    size: ref("Uint"),
    nlink: ref("Uint"),
    atime: { type: "string", format: "date-time" },
    mtime: { type: "string", format: "date-time" },
    ctime: { type: "string", format: "date-time" },
    btime: { type: "string", format: "date-time" },
    etag: { type: "string" },
  },
};

/** The JSON schemas the document's `components.schemas` holds. */
export const schemas = {
  Uint: { type: "integer", minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  Path: { type: "string", pattern: "^/" },
  Mode: {
    oneOf: [{ type: "integer", minimum: 0, maximum: 4095 }, {
      type: "string",
      pattern: "^(0o)?[0-7]{1,5}$",
    }],
  },
  Time: { oneOf: [{ type: "integer", minimum: 0 }, { type: "string", format: "date-time" }] },
  FileType: { type: "string", enum: ["file", "directory", "symlink"] },
  Stat: statSchema,
  Entry: {
    type: "object",
    additionalProperties: false,
    required: ["name", "type", "size", "mtime", "etag", "mode", "modeOctal"],
    properties: {
      name: { type: "string" },
      type: ref("FileType"),
      size: ref("Uint"),
      mtime: { type: "string", format: "date-time" },
      etag: { type: "string" },
      mode: { type: "integer" },
      modeOctal: { type: "string" },
    },
  },
  Listing: {
    type: "object",
    additionalProperties: false,
    required: ["path", "entries", "cursor"],
    properties: {
      path: { type: "string" },
      entries: { type: "array", items: ref("Entry") },
      cursor: { type: ["string", "null"] },
    },
  },
  StatFs: {
    type: "object",
    additionalProperties: false,
    required: ["blockSize", "blocks", "blocksFree", "files", "filesFree", "nameMax"],
    properties: Object.fromEntries(
      ["blockSize", "blocks", "blocksFree", "files", "filesFree", "nameMax", "usedBytes"]
        .map((k) => [k, ref("Uint")]),
    ),
  },
  Readlink: {
    type: "object",
    additionalProperties: false,
    required: ["path", "target"],
    properties: { path: { type: "string" }, target: { type: "string" } },
  },
  XattrList: {
    type: "object",
    additionalProperties: false,
    required: ["path", "names"],
    properties: {
      path: { type: "string" },
      names: { type: "array", items: { type: "string" } },
    },
  },
  XattrValue: {
    type: "object",
    additionalProperties: false,
    required: ["path", "name", "value"],
    properties: {
      path: { type: "string" },
      name: { type: "string" },
      value: { type: "string", contentEncoding: "base64" },
    },
  },
  Operation: {
    oneOf: Object.keys(ops).map((op) => ref(`Op_${op}`)),
    discriminator: { propertyName: "op" },
  },
  ...opSchemas,
  Problem: {
    type: "object",
    additionalProperties: false,
    required: ["type", "title", "status", "detail", "errno", "path"],
    properties: {
      type: { type: "string" },
      title: { type: "string" },
      status: { type: "integer" },
      detail: { type: "string" },
      errno: { type: "string", enum: Object.keys(ERRNO) },
      path: { type: ["string", "null"] },
    },
  },
} as const;
