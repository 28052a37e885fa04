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

// Characters that show as nothing, or that move the text around them: controls (Cc), format
// characters (Cf: the bidi overrides U+202A-202E, isolates U+2066-2069, marks U+200E/200F and
// U+061C, zero-width U+200B-200D and U+2060, U+FEFF, soft hyphen...) and line/paragraph
// separators. A name with U+202E ("invoice\u202Egpj.exe") otherwise showed as "invoiceexe.jpg".
const HIDDEN = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const HIDDEN_ALL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;
const PICTOGRAPH = /\p{Extended_Pictographic}/u;

/** The U+XXXX label of a hidden character, or null to keep it (a ZWJ inside an emoji). */
function hiddenLabel(ch, offset, text) {
  if (ch === "\u200D") {
    // Emoji sequences (a family, a profession) join pictographs with ZWJ: keep those.
    const prev = [...text.slice(0, offset).replace(/\uFE0F$/, "")].at(-1) ?? "";
    const next = [...text.slice(offset + 1, offset + 3)][0] ?? "";
    if (PICTOGRAPH.test(prev) && PICTOGRAPH.test(next)) return null;
  }
  return `U+${ch.codePointAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * Text with each hidden character (see HIDDEN) as a visible `⟨U+202E⟩`: for text that may
 * quote a name without isolating it (an error the server sends back).
 */
export function visibleText(text) {
  const value = String(text);
  if (!HIDDEN.test(value)) return value;
  return value.replace(HIDDEN_ALL, (ch, offset) => {
    const label = hiddenLabel(ch, offset, value);
    return label === null ? ch : `\u27E8${label}\u27E9`;
  });
}

/**
 * A name as text to show, never to use: each hidden character (see HIDDEN) as a visible
 * `⟨U+202E⟩`, inside a left-to-right isolate (U+2066 ... U+2069), so that the name neither
 * reorders itself nor the text around it (the quotes of "Delete "…"?"). The stored name is
 * unchanged: requests use the name itself.
 */
export function shownName(name) {
  return `\u2066${visibleText(name)}\u2069`;
}

/**
 * A name as an element to show: `<bdi dir="ltr">`, each hidden character as a marked
 * `<span class="hidden-char">U+202E</span>` (see {@link shownName}).
 */
export function nameNode(name) {
  const text = String(name);
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(HIDDEN_ALL)) {
    const label = hiddenLabel(match[0], match.index, text);
    if (label === null) continue;
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(h("span", { class: "hidden-char", title: label }, label));
    last = match.index + match[0].length;
  }
  if (last < text.length) parts.push(text.slice(last));
  return h("bdi", { dir: "ltr", class: "fname" }, parts);
}

/**
 * The name a download is saved under: each hidden character (see HIDDEN) as `_`, as the zip
 * does for controls, so that the saved file does not show as another name in the file
 * manager it lands in (`invoice\u202Egpj.exe` as "invoiceexe.jpg").
 */
export function downloadName(name) {
  const text = String(name);
  return text.replace(
    HIDDEN_ALL,
    (ch, offset) => hiddenLabel(ch, offset, text) === null ? ch : "_",
  );
}
