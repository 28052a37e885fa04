// PageFS file manager: a folder view over the HTTP API. The list is virtualised (only the
// rows in view exist in the DOM), so a folder of 10,000 entries renders and scrolls at once;
// listing pages of up to 10,000 entries arrive one after another and the first paints early.

import { canWrite, config, fsUrl, listPage, op, remove, request, uiPost } from "./api.js";
import { confirm, prompt, show } from "./dialogs.js";
import { filesFromDrop, Uploads } from "./uploads.js";
import {
  baseName,
  downloadName,
  encodePath,
  h,
  humanDate,
  humanShortDate,
  humanSize,
  join,
  KIND_LABEL,
  kindOf,
  nameNode,
  parentOf,
  shownName,
  visibleText,
  within,
} from "./util.js";

const $ = (id) => document.getElementById(id);
const list = $("list");
const rows = list.querySelector(".rows");
const spacer = list.querySelector(".spacer");
const statusLine = $("status");
const countLine = $("count");

const state = {
  cwd: config.prefix,
  entries: [],
  complete: false,
  sort: { key: "name", dir: 1 },
  selected: new Set(),
  active: -1,
  anchor: -1,
  loadId: 0,
};

function say(message) {
  statusLine.textContent = message;
}

function fail(error) {
  say(`Error: ${visibleText(error?.message ?? error)}`);
  statusLine.dataset.error = "1";
  setTimeout(() => delete statusLine.dataset.error, 4000);
}

// ---- navigation --------------------------------------------------------------------

function pathFromHash() {
  const raw = location.hash.slice(1);
  if (!raw.startsWith("/")) return config.prefix;
  try {
    const path = raw.split("/").map(decodeURIComponent).join("/").replace(/\/+$/, "") || "/";
    if (path.split("/").some((s) => s === "." || s === "..")) return config.prefix;
    return within(config.prefix, path) ? path : config.prefix;
  } catch {
    return config.prefix;
  }
}

function go(path) {
  const target = within(config.prefix, path) ? path : config.prefix;
  const hash = `#${encodePath(target)}`;
  if (location.hash === hash) load(target);
  else location.hash = hash;
}

globalThis.addEventListener("hashchange", () => load(pathFromHash()));

function renderCrumbs() {
  const ol = $("crumbs").querySelector("ol");
  ol.replaceChildren();
  const root = config.prefix;
  const parts = state.cwd === root
    ? []
    : state.cwd.slice(root === "/" ? 1 : root.length + 1).split("/");
  const crumbs = [{ label: root === "/" ? "Home" : baseName(root), path: root }];
  let path = root;
  for (const part of parts) {
    path = join(path, part);
    crumbs.push({ label: part, path });
  }
  crumbs.forEach((crumb, i) => {
    const last = i === crumbs.length - 1;
    ol.append(
      h(
        "li",
        {},
        last
          ? h("span", { "aria-current": "page" }, nameNode(crumb.label))
          : h("a", { href: `#${encodePath(crumb.path)}` }, nameNode(crumb.label)),
      ),
    );
  });
  $("up").disabled = state.cwd === config.prefix;
  document.title = `${state.cwd === "/" ? "Home" : shownName(baseName(state.cwd))} \u2013 PageFS`;
}

// ---- loading and sorting -----------------------------------------------------------

async function load(path, { refresh = false } = {}) {
  const id = ++state.loadId;
  // A refresh of the folder shown (after an upload, a rename...) keeps its rows, selection
  // and scroll until the fresh listing's first page replaces them: no blank flash.
  const keep = refresh && path === state.cwd;
  state.cwd = path;
  state.complete = false;
  if (!keep) {
    state.entries = [];
    state.selected.clear();
    state.active = -1;
    state.anchor = -1;
    list.scrollTop = 0;
  }
  renderCrumbs();
  updateToolbar();
  list.setAttribute("aria-busy", "true");
  document.body.dataset.loading = path;
  performance.clearMarks("pagefs:list-start");
  performance.clearMarks("pagefs:list-first-rows");
  performance.mark("pagefs:list-start");
  say("Loading\u2026");
  render();
  let cursor = null;
  let first = true;
  try {
    do {
      const page = await listPage(path, cursor ? { cursor } : {});
      if (id !== state.loadId) return;
      if (first && keep) {
        state.entries = [];
        state.active = -1;
        state.anchor = -1;
      }
      state.entries.push(...page.entries);
      cursor = page.cursor;
      sortEntries();
      render();
      if (first) {
        first = false;
        requestAnimationFrame(() => performance.mark("pagefs:list-first-rows"));
      }
    } while (cursor);
  } catch (error) {
    if (id !== state.loadId) return;
    fail(error);
  }
  if (id !== state.loadId) return;
  state.complete = true;
  list.removeAttribute("aria-busy");
  document.body.dataset.loaded = path;
  delete document.body.dataset.loading;
  say("");
  render();
}

function reload() {
  const keep = new Set(state.selected);
  return load(state.cwd, { refresh: true }).then(() => {
    state.selected.clear();
    for (const name of keep) {
      if (state.entries.some((e) => e.name === name)) state.selected.add(name);
    }
    render();
    updateToolbar();
  });
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: "base" });

function sortEntries() {
  const { key, dir } = state.sort;
  const folder = (e) => (e.type === "directory" ? 0 : 1);
  state.entries.sort((a, b) => {
    const f = folder(a) - folder(b);
    if (f !== 0) return f; // folders first, whatever the direction
    let c = 0;
    if (key === "size") c = a.size - b.size;
    else if (key === "mtime") c = Date.parse(a.mtime) - Date.parse(b.mtime);
    if (c === 0) c = collator.compare(a.name, b.name);
    return c * dir;
  });
}

function setSort(key) {
  state.sort = state.sort.key === key ? { key, dir: -state.sort.dir } : { key, dir: 1 };
  for (const button of document.querySelectorAll(".list-head [data-key]")) {
    const th = button.closest("[role=columnheader]") ?? button;
    th.setAttribute(
      "aria-sort",
      button.dataset.key === key ? (state.sort.dir > 0 ? "ascending" : "descending") : "none",
    );
  }
  sortEntries();
  render();
}

// ---- the virtual list --------------------------------------------------------------

function rowHeight() {
  return parseFloat(getComputedStyle(list).getPropertyValue("--row")) || 40;
}

let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    render();
  });
}

function render() {
  const row = rowHeight();
  const n = state.entries.length;
  spacer.style.height = `${n * row}px`;
  const top = list.scrollTop;
  const height = list.clientHeight || 600;
  const first = Math.max(0, Math.floor(top / row) - 8);
  const last = Math.min(n, Math.ceil((top + height) / row) + 8);
  const fragment = document.createDocumentFragment();
  for (let i = first; i < last; i++) fragment.append(renderRow(state.entries[i], i, row));
  rows.replaceChildren(fragment);
  $("empty").hidden = !(state.complete && n === 0);
  const dirs = state.entries.filter((e) => e.type === "directory").length;
  countLine.textContent =
    `${n} item${n === 1 ? "" : "s"} (${dirs} folder${dirs === 1 ? "" : "s"})` +
    (state.complete ? "" : ", loading\u2026");
  if (state.active >= 0 && state.active < n) {
    list.setAttribute("aria-activedescendant", `row-${state.active}`);
  } else list.removeAttribute("aria-activedescendant");
  $("select-all").checked = n > 0 && state.selected.size === n;
  $("select-all").indeterminate = state.selected.size > 0 && state.selected.size < n;
}

function renderRow(entry, i, height) {
  const path = join(state.cwd, entry.name);
  const selected = state.selected.has(entry.name);
  const kind = kindOf(entry);
  const isDir = entry.type === "directory";
  const name = isDir
    ? h("a", { class: "name", href: `#${encodePath(path)}`, tabindex: -1 }, nameNode(entry.name))
    : h(
      "button",
      { class: "name", type: "button", tabindex: -1, onclick: () => preview(entry) },
      nameNode(entry.name),
    );
  const el = h(
    "div",
    {
      class: `row${selected ? " selected" : ""}${i === state.active ? " active" : ""}`,
      role: "option",
      id: `row-${i}`,
      "aria-selected": selected ? "true" : "false",
      "aria-setsize": state.entries.length,
      "aria-posinset": i + 1,
      dataset: { index: String(i), name: entry.name, type: entry.type },
    },
    h("input", {
      type: "checkbox",
      tabindex: -1,
      checked: selected,
      "aria-label": `Select ${shownName(entry.name)}`,
      onclick: (e) => {
        e.stopPropagation();
        toggle(i, e.shiftKey);
      },
    }),
    h("span", { class: `icon kind-${kind}`, "aria-hidden": "true" }, KIND_LABEL[kind]),
    name,
    h("span", { class: "size" }, isDir ? "\u2014" : humanSize(entry.size)),
    h(
      "time",
      { class: "date", datetime: entry.mtime, title: entry.mtime },
      h("span", { class: "long" }, humanDate(entry.mtime)),
      h("span", { class: "short" }, humanShortDate(entry.mtime)),
    ),
  );
  el.style.top = `${i * height}px`;
  return el;
}

list.addEventListener("scroll", schedule, { passive: true });
globalThis.addEventListener("resize", schedule);

list.addEventListener("click", (event) => {
  const row = event.target.closest(".row");
  if (!row || event.target.closest("a, button, input")) return;
  const i = Number(row.dataset.index);
  if (event.shiftKey && state.anchor >= 0) selectRange(state.anchor, i);
  else if (event.ctrlKey || event.metaKey) toggle(i);
  else selectOnly(i);
  list.focus({ preventScroll: true });
});

list.addEventListener("dblclick", (event) => {
  const row = event.target.closest(".row");
  if (row) openEntry(state.entries[Number(row.dataset.index)]);
});

function selectOnly(i) {
  state.selected.clear();
  if (i >= 0) state.selected.add(state.entries[i].name);
  state.active = state.anchor = i;
  render();
  updateToolbar();
}

function toggle(i, range = false) {
  if (range && state.anchor >= 0) return selectRange(state.anchor, i);
  const name = state.entries[i].name;
  if (state.selected.has(name)) state.selected.delete(name);
  else state.selected.add(name);
  state.active = state.anchor = i;
  render();
  updateToolbar();
}

function selectRange(from, to) {
  const [a, b] = from < to ? [from, to] : [to, from];
  for (let i = a; i <= b; i++) state.selected.add(state.entries[i].name);
  state.active = to;
  render();
  updateToolbar();
}

function moveActive(to) {
  const n = state.entries.length;
  if (n === 0) return;
  state.active = Math.max(0, Math.min(n - 1, to));
  const row = rowHeight();
  const top = state.active * row;
  if (top < list.scrollTop) list.scrollTop = top;
  else if (top + row > list.scrollTop + list.clientHeight) {
    list.scrollTop = top + row - list.clientHeight;
  }
  render();
}

list.addEventListener("keydown", (event) => {
  const n = state.entries.length;
  const page = Math.max(1, Math.floor(list.clientHeight / rowHeight()) - 1);
  const key = event.key;
  const extend = event.shiftKey;
  const step = (to) => {
    moveActive(to);
    if (extend) selectRange(state.anchor >= 0 ? state.anchor : state.active, state.active);
  };
  if (key === "ArrowDown") step(state.active + 1);
  else if (key === "ArrowUp") step(state.active - 1);
  else if (key === "PageDown") step(state.active + page);
  else if (key === "PageUp") step(state.active - page);
  else if (key === "Home") step(0);
  else if (key === "End") step(n - 1);
  else if (key === " " && state.active >= 0) toggle(state.active);
  else if (key === "Enter" && state.active >= 0) openEntry(state.entries[state.active]);
  else if (key === "Backspace" || (key === "ArrowLeft" && event.altKey)) up();
  else if (key === "Delete" && canWrite) deleteSelected();
  else if (key === "F2" && canWrite) renameSelected();
  else if (key === "a" && (event.ctrlKey || event.metaKey)) {
    state.entries.forEach((e) => state.selected.add(e.name));
    render();
    updateToolbar();
  } else if (key === "Escape") selectOnly(-1);
  else return;
  event.preventDefault();
});

list.addEventListener("focus", () => {
  if (state.active < 0 && state.entries.length > 0) moveActive(0);
});

// ---- actions -----------------------------------------------------------------------

function selectedEntries() {
  return state.entries.filter((e) => state.selected.has(e.name));
}

function updateToolbar() {
  const n = state.selected.size;
  for (const button of document.querySelectorAll("[data-needs]")) {
    const needs = button.dataset.needs;
    button.disabled = needs === "1" ? n !== 1 : n === 0;
  }
  // A share reads through a view limited to the shared path, where a symbolic link leads
  // nowhere: the server refuses to share one (400), so the button says so before a click.
  const share = $("share");
  if (share) {
    const link = n === 1 && selectedEntries()[0]?.type === "symlink";
    share.disabled ||= link;
    share.title = link ? "A link cannot be shared: share what it points to" : "";
  }
  $("selection").textContent = n > 0 ? `${n} selected` : "";
}

function openEntry(entry) {
  if (!entry) return;
  if (entry.type === "directory") go(join(state.cwd, entry.name));
  else preview(entry);
}

function up() {
  if (state.cwd !== config.prefix) go(parentOf(state.cwd));
}

function checkName(name) {
  if (!name || name === "." || name === ".." || name.includes("/") || name.includes("\0")) {
    throw new Error(`"${name}" is not a valid name`);
  }
  return name;
}

async function newFolder() {
  const name = await prompt("New folder", { label: "Folder name", okLabel: "Create" });
  if (name === null) return;
  try {
    await op(join(state.cwd, checkName(name.trim())), { op: "mkdir" });
    say(`Created folder "${shownName(name)}"`);
    await reload();
  } catch (error) {
    fail(error);
  }
}

async function renameSelected() {
  const [entry] = selectedEntries();
  if (!entry || selectedEntries().length !== 1) return;
  const dot = entry.type === "directory" ? -1 : entry.name.lastIndexOf(".");
  const name = await prompt(`Rename "${shownName(entry.name)}"`, {
    label: "New name",
    value: entry.name,
    okLabel: "Rename",
    select: [0, dot > 0 ? dot : entry.name.length],
  });
  if (name === null || name === entry.name) return;
  try {
    const to = join(state.cwd, checkName(name.trim()));
    await op(join(state.cwd, entry.name), { op: "rename", to, noReplace: true });
    state.selected.clear();
    say(`Renamed "${shownName(entry.name)}" to "${shownName(name)}"`);
    await reload();
  } catch (error) {
    fail(error);
  }
}

async function askFolder(title, okLabel) {
  const dest = await prompt(title, {
    label: "Destination folder (a path)",
    value: state.cwd,
    okLabel,
  });
  if (dest === null) return null;
  const path = ("/" + dest.trim()).replace(/\/+/g, "/").replace(/(.)\/$/, "$1");
  if (path.split("/").some((s) => s === "." || s === "..") || !within(config.prefix, path)) {
    fail(new Error(`"${dest}" is outside the folders you can reach`));
    return null;
  }
  return path;
}

async function moveOrCopy(kind) {
  const entries = selectedEntries();
  if (entries.length === 0) return;
  const title = `${kind === "rename" ? "Move" : "Copy"} ${entries.length} item${
    entries.length === 1 ? "" : "s"
  }`;
  const dest = await askFolder(title, kind === "rename" ? "Move" : "Copy");
  if (dest === null) return;
  let done = 0;
  for (const entry of entries) {
    const from = join(state.cwd, entry.name);
    let to = join(dest, entry.name);
    if (to === from) {
      if (kind === "rename") continue;
      to = join(dest, `${entry.name} (copy)`);
    }
    try {
      await op(from, { op: kind, to, noReplace: true });
      done++;
    } catch (error) {
      fail(error);
      break;
    }
  }
  say(`${kind === "rename" ? "Moved" : "Copied"} ${done} of ${entries.length}`);
  state.selected.clear();
  await reload();
}

async function deleteSelected() {
  const entries = selectedEntries();
  if (entries.length === 0) return;
  const folders = entries.filter((e) => e.type === "directory").length;
  const what = entries.length === 1 ? `"${shownName(entries[0].name)}"` : `${entries.length} items`;
  const ok = await confirm(
    "Delete",
    `Delete ${what}?${
      folders ? " Folders are deleted with everything in them." : ""
    } This cannot be undone.`,
    { okLabel: "Delete", danger: true },
  );
  if (!ok) return;
  let done = 0;
  for (const entry of entries) {
    try {
      await remove(join(state.cwd, entry.name), entry.type === "directory");
      done++;
    } catch (error) {
      fail(error);
      break;
    }
  }
  say(`Deleted ${done} of ${entries.length}`);
  state.selected.clear();
  await reload();
}

function clickLink(href, name) {
  const a = h("a", { href, download: name === undefined ? "" : downloadName(name) });
  document.body.append(a);
  a.click();
  a.remove();
}

function downloadSelected() {
  const entries = selectedEntries();
  if (entries.length === 1 && entries[0].type !== "directory") {
    clickLink(fsUrl(join(state.cwd, entries[0].name)), entries[0].name);
    return;
  }
  // Folders and several entries: one zip, streamed by the server as it reads.
  const query = new URLSearchParams();
  for (const e of entries) query.append("name", e.name);
  const name = entries.length === 1 ? entries[0].name : baseName(state.cwd) || "files";
  const dir = state.cwd === "/" ? "" : encodePath(state.cwd);
  clickLink(`${config.api}/zip${dir}/?${query}`, `${name}.zip`);
}

// ---- preview -----------------------------------------------------------------------

async function preview(entry) {
  const path = join(state.cwd, entry.name);
  const url = fsUrl(path);
  const kind = kindOf(entry);
  const label = shownName(entry.name);
  let body;
  if (kind === "image") {
    body = h("img", { class: "preview-image", src: url, alt: label });
  } else if (kind === "audio") {
    body = h("audio", { controls: true, src: url, preload: "metadata", "aria-label": label });
  } else if (kind === "video") {
    body = h("video", { controls: true, src: url, preload: "metadata", "aria-label": label });
  } else if (kind === "pdf") {
    try {
      const blob = await (await request(url)).blob();
      const blobUrl = URL.createObjectURL(new Blob([blob], { type: "application/pdf" }));
      body = h("iframe", { class: "preview-pdf", src: blobUrl, title: label });
    } catch (error) {
      return fail(error);
    }
  } else if (kind === "text" || kind === "code" || entry.size <= 256 * 1024) {
    try {
      const limit = 1024 * 1024;
      const res = await request(url, {
        headers: entry.size > limit ? { range: `bytes=0-${limit - 1}` } : {},
      });
      const bytes = new Uint8Array(await res.arrayBuffer());
      const text = new TextDecoder("utf-8", { fatal: kind === "file" }).decode(bytes);
      body = h("pre", { class: "preview-text", tabindex: 0 }, text);
      if (entry.size > limit) body.append(h("p", { class: "note" }, "\u2026 (first 1 MiB shown)"));
    } catch {
      body = h("p", {}, "No preview for this file.");
    }
  } else {
    body = h("p", {}, "No preview for this kind of file.");
  }
  await show(label, h("div", { class: "preview" }, body), {
    wide: true,
    actions: [
      h("span", { class: "meta" }, `${humanSize(entry.size)} \u00b7 ${humanDate(entry.mtime)}`),
      h("a", { class: "button", href: url, download: downloadName(entry.name) }, "Download"),
    ],
  });
  if (body.src?.startsWith("blob:")) URL.revokeObjectURL(body.src);
}

// ---- share links -------------------------------------------------------------------

async function shareSelected() {
  const [entry] = selectedEntries();
  if (!entry) return;
  const path = join(state.cwd, entry.name);
  const expiry = h(
    "select",
    { name: "expiry", id: "share-expiry" },
    h("option", { value: String(3600) }, "1 hour"),
    h("option", { value: String(86400), selected: true }, "1 day"),
    h("option", { value: String(7 * 86400) }, "7 days"),
    h("option", { value: String(30 * 86400) }, "30 days"),
  );
  const password = h("input", {
    type: "password",
    id: "share-password",
    autocomplete: "new-password",
  });
  const output = h("input", {
    type: "text",
    readonly: true,
    id: "share-url",
    "aria-label": "Share link",
  });
  const result = h(
    "div",
    { class: "share-result", hidden: true },
    output,
    h("button", {
      type: "button",
      onclick: () => {
        output.select();
        navigator.clipboard?.writeText(output.value).then(() => say("Link copied"), () => {});
      },
    }, "Copy"),
  );
  const form = h(
    "form",
    {
      class: "share",
      onsubmit: async (event) => {
        event.preventDefault();
        try {
          const made = await uiPost("/ui/share", {
            path,
            seconds: Number(expiry.value),
            ...(password.value ? { password: password.value } : {}),
          });
          output.value = new URL(made.url, location.href).href;
          result.hidden = false;
          output.focus();
          output.select();
        } catch (error) {
          fail(error);
        }
      },
    },
    h(
      "p",
      {},
      "Anyone with the link can view and download this, without signing in, until it expires.",
    ),
    h("label", { for: "share-expiry" }, "Expires after"),
    expiry,
    h("label", { for: "share-password" }, "Password (optional)"),
    password,
    h("div", { class: "buttons" }, h("button", { class: "primary" }, "Create link")),
    result,
    h("hr"),
    h("button", {
      type: "button",
      class: "danger",
      onclick: async () => {
        try {
          await uiPost("/ui/share/revoke", { path });
          result.hidden = true;
          say(`Every link to "${shownName(entry.name)}" is revoked`);
        } catch (error) {
          fail(error);
        }
      },
    }, "Revoke all links to this item"),
  );
  await show(`Share "${shownName(entry.name)}"`, form);
}

// ---- uploads and drop ----------------------------------------------------------------

const uploads = new Uploads($("uploads-panel"), {
  onDone: (target) => {
    if (parentOf(target) === state.cwd || parentOf(parentOf(target)) === state.cwd) {
      scheduleReload();
    }
  },
});

let reloadTimer = 0;
function scheduleReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => reload(), 300);
}

function pickedFiles(input) {
  const files = [...input.files].map((file) => ({
    file,
    rel: file.webkitRelativePath || file.name,
  }));
  input.value = "";
  return files;
}

if (canWrite) {
  $("file-input").addEventListener("change", (e) => uploads.add(state.cwd, pickedFiles(e.target)));
  $("folder-input").addEventListener(
    "change",
    (e) => uploads.add(state.cwd, pickedFiles(e.target)),
  );
  $("upload-files").addEventListener("click", () => $("file-input").click());
  $("upload-folder").addEventListener("click", () => $("folder-input").click());
  $("new-folder").addEventListener("click", newFolder);
  $("rename").addEventListener("click", renameSelected);
  $("move").addEventListener("click", () => moveOrCopy("rename"));
  $("copy").addEventListener("click", () => moveOrCopy("copy"));
  $("delete").addEventListener("click", deleteSelected);
  $("share").addEventListener("click", shareSelected);

  const drop = $("drop");
  let depth = 0;
  const hasFiles = (e) => [...(e.dataTransfer?.types ?? [])].includes("Files");
  document.addEventListener("dragenter", (e) => {
    if (!hasFiles(e)) return;
    depth++;
    drop.hidden = false;
  });
  document.addEventListener("dragleave", () => {
    if (--depth <= 0) {
      depth = 0;
      drop.hidden = true;
    }
  });
  document.addEventListener("dragover", (e) => {
    if (hasFiles(e)) e.preventDefault();
  });
  document.addEventListener("drop", async (e) => {
    e.preventDefault();
    depth = 0;
    drop.hidden = true;
    try {
      await uploads.add(state.cwd, await filesFromDrop(e.dataTransfer));
    } catch (error) {
      fail(error);
    }
  });
}
$("download").addEventListener("click", downloadSelected);
$("up").addEventListener("click", up);
$("select-all").addEventListener("change", (e) => {
  if (e.target.checked) state.entries.forEach((x) => state.selected.add(x.name));
  else state.selected.clear();
  render();
  updateToolbar();
});
for (const button of document.querySelectorAll(".list-head [data-key]")) {
  button.addEventListener("click", () => setSort(button.dataset.key));
}

load(pathFromHash());
