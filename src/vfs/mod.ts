/**
 * The filesystem layer: {@linkcode Vfs} and its errors and types.
 *
 * @module
 */

export { ChangedError, ERRNO, type Errno, FsError, isFsError } from "./errors.ts";
export { FileHandle } from "./writer.ts";
export { WholeBody } from "./whole_body.ts";
export {
  type Alias,
  type CheckOptions,
  LockedError,
  type LockInfo,
  LockManager,
  type LockManagerOptions,
  type LockRequest,
  type LockScope,
  LockTokenError,
  type TokenOptions,
} from "./locks.ts";
export { LEFTOVER_PREFIX, parseLeftover } from "../format/leftovers.ts";
export { REMOVING_LEASE_MS } from "./context.ts";
export { NAME_MAX, parentOf, PATH_MAX } from "./path.ts";
export type { DirEntryInfo, FileType, ReaddirPage, SetAttr, Stat, StatFs } from "./types.ts";
export {
  type CompactOptions,
  type CompactReport,
  type OpenOptions,
  Vfs,
  type VfsAttrs,
  type VfsCore,
  type VfsFiles,
  type VfsNames,
  type VfsOptions,
} from "./vfs.ts";
