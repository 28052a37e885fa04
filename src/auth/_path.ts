// Path checks shared by prefix parsing and access decisions.

/**
 * Returns `path` without a trailing slash when it is absolute and normalised (no empty,
 * `.` or `..` segments, no NUL); `null` otherwise. "/" stays "/".
 */
export function normalisedPath(path: string): string | null {
  if (!path.startsWith("/") || path.includes("\0")) return null;
  if (path === "/") return path;
  const trimmed = path.endsWith("/") ? path.slice(0, -1) : path;
  for (const segment of trimmed.slice(1).split("/")) {
    if (segment === "" || segment === "." || segment === "..") return null;
  }
  return trimmed;
}
