// Small helpers shared by the UI's modules: formatting, paths, DOM building.
// Every user-controlled string reaches the page through textContent or an attribute set
// with setAttribute, never through innerHTML.

/** `h("button", { class: "x", onclick }, "text", child)`: an element, children as text or nodes. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key in el && typeof value !== "string") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536 -> "1.5 KiB". */
export function humanSize(bytes) {
  if (!Number.isFinite(bytes)) return "";
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  const text = unit === 0 ? String(value) : value < 10 ? value.toFixed(1) : value.toFixed(0);
  return `${text} ${UNITS[unit]}`;
}

/** Bytes per second as "1.2 MiB/s". */
export function humanSpeed(bytesPerSecond) {
  return `${humanSize(Math.round(bytesPerSecond))}/s`;
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const shortDate = new Intl.DateTimeFormat(undefined, { dateStyle: "short" });

/** A readable date: the time for today, the date otherwise. */
export function humanDate(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return dateFormat.format(date);
}

/** A short date for narrow screens. */
export function humanShortDate(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : shortDate.format(date);
}

/** "/a/b" + "c" -> "/a/b/c". */
export function join(dir, name) {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

/** "/a/b/c" -> "/a/b"; "/a" -> "/". */
export function parentOf(path) {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** "/a/b/c" -> "c". */
export function baseName(path) {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** Percent-encodes each segment of an absolute path. */
export function encodePath(path) {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** Whether `path` is `root` or below it. */
export function within(root, path) {
  return root === "/" || path === root || path.startsWith(root + "/");
}

/** A file name's lower-case extension, or "". */
export function extension(name) {
  const dot = name.lastIndexOf(".");
  return dot > 0 ? name.slice(dot + 1).toLowerCase() : "";
}

const KINDS = {
  image: ["png", "jpg", "jpeg", "gif", "webp", "svg", "bmp", "ico", "avif"],
  audio: ["mp3", "ogg", "oga", "wav", "flac", "m4a", "opus"],
  video: ["mp4", "webm", "ogv", "mov", "m4v"],
  pdf: ["pdf"],
  archive: ["zip", "gz", "tgz", "tar", "bz2", "xz", "7z", "zst", "rar"],
  code: [
    "js",
    "mjs",
    "ts",
    "tsx",
    "jsx",
    "json",
    "py",
    "rs",
    "go",
    "c",
    "h",
    "cpp",
    "hpp",
    "java",
    "rb",
    "php",
    "sh",
    "bash",
    "css",
    "html",
    "htm",
    "xml",
    "yaml",
    "yml",
    "toml",
    "sql",
    "kt",
    "swift",
    "lua",
    "pl",
    "ini",
    "cfg",
    "conf",
  ],
  text: ["txt", "md", "markdown", "csv", "tsv", "log", "rst", "text"],
};

/** What kind of file a name looks like: folder, image, audio, video, pdf, archive, code, text, file. */
export function kindOf(entry) {
  if (entry.type === "directory") return "folder";
  if (entry.type === "symlink") return "link";
  const ext = extension(entry.name);
  for (const [kind, list] of Object.entries(KINDS)) {
    if (list.includes(ext)) return kind;
  }
  return "file";
}

/** A short label for a kind's icon. */
export const KIND_LABEL = {
  folder: "DIR",
  link: "LNK",
  image: "IMG",
  audio: "AUD",
  video: "VID",
  pdf: "PDF",
  archive: "ZIP",
  code: "</>",
  text: "TXT",
  file: "BIN",
};
