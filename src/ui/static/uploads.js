// Uploads: through the tus endpoint with tus-js-client (resumable across network drops and
// page reloads), or, when the server has no tus endpoint, a plain PUT with progress. Each
// upload gets a row with a progress bar, its speed and a cancel button.

import { config, fsUrl, op, statOrNull, writeHeaders } from "./api.js";
import { choose } from "./dialogs.js";
import {
  baseName,
  extension,
  h,
  humanSize,
  humanSpeed,
  join,
  nameNode,
  parentOf,
  shownName,
  visibleText,
} from "./util.js";

const CONCURRENCY = 3;
const RETRY_DELAYS = [0, 1000, 2000, 4000, 8000, 15000, 30000];

let tusAvailable = null;

/** Whether the server answers tus (probed once). */
async function hasTus() {
  if (tusAvailable !== null) return tusAvailable;
  if (!globalThis.tus?.isSupported) return tusAvailable = false;
  try {
    const res = await fetch(config.uploads, { method: "OPTIONS", credentials: "same-origin" });
    await res.body?.cancel();
    tusAvailable = res.ok && res.headers.has("tus-version");
  } catch {
    tusAvailable = false;
  }
  return tusAvailable;
}

/** The panel listing uploads, and the queue feeding them to the server. */
export class Uploads {
  #queue = [];
  #running = 0;
  #list;
  #panel;
  #onDone;
  #madeDirs = new Set();
  #summary;

  constructor(panel, { onDone }) {
    this.#panel = panel;
    this.#onDone = onDone;
    this.#summary = h("p", { class: "summary", "aria-live": "polite" });
    this.#list = h("ul", { class: "uploads", "aria-label": "Uploads" });
    panel.append(
      h(
        "div",
        { class: "panel-head" },
        h("h2", {}, "Uploads"),
        this.#summary,
        h("button", {
          class: "small close",
          type: "button",
          "aria-label": "Hide finished uploads",
          onclick: () => this.#clearFinished(),
        }, "Hide"),
      ),
      this.#list,
    );
    this.#showInterrupted();
  }

  /**
   * Queues files ({ file, rel }) for the folder `dir`: `rel` is the path below `dir`
   * (a folder upload keeps its structure). Existing names are asked about first.
   */
  async add(dir, files) {
    if (files.length === 0) return;
    let remembered = null;
    const items = [];
    for (const { file, rel } of files) {
      let target = join(dir, rel);
      const existing = await statOrNull(target).catch(() => null);
      if (existing) {
        let decision = remembered;
        if (decision === null) {
          const answer = await choose(
            "File exists",
            `"${shownName(rel)}" already exists in this folder.`,
            [
              { value: "replace", label: "Replace" },
              { value: "keep", label: "Keep both" },
              { value: "skip", label: "Skip" },
            ],
            { remember: files.length > 1 ? "Do this for every conflict" : undefined },
          );
          decision = answer.value ?? "skip";
          if (answer.all) remembered = decision;
        }
        if (decision === "skip") continue;
        if (decision === "keep") target = await freeName(target);
        if (existing.type === "directory" && decision === "replace") continue;
        items.push(this.#item(file, target, decision === "replace"));
        continue;
      }
      items.push(this.#item(file, target, false));
    }
    this.#panel.hidden = false;
    this.#queue.push(...items);
    this.#pump();
  }

  #item(file, target, replace) {
    const bar = h("progress", {
      max: 100,
      value: 0,
      "aria-label": `Progress of ${shownName(baseName(target))}`,
    });
    const status = h("span", { class: "status" }, "Waiting");
    const cancel = h("button", {
      class: "small",
      "aria-label": `Cancel upload of ${shownName(baseName(target))}`,
    }, "Cancel");
    const row = h(
      "li",
      { class: "upload", dataset: { path: target } },
      h("span", { class: "name", title: shownName(target) }, nameNode(target)),
      bar,
      status,
      cancel,
    );
    this.#list.append(row);
    const item = { file, target, replace, row, bar, status, cancel, state: "waiting", abort: null };
    cancel.addEventListener("click", () => this.#cancel(item));
    this.#updateSummary();
    return item;
  }

  #cancel(item) {
    if (item.state === "done" || item.state === "cancelled") return;
    if (item.state === "waiting") this.#queue = this.#queue.filter((i) => i !== item);
    item.abort?.();
    this.#finish(item, "cancelled", "Cancelled");
  }

  #finish(item, state, text) {
    item.state = state;
    item.row.dataset.state = state;
    item.status.textContent = text;
    item.cancel.hidden = true;
    this.#updateSummary();
  }

  #updateSummary() {
    const items = [...this.#list.children];
    const done = items.filter((r) => r.dataset.state === "done").length;
    this.#summary.textContent = `${done} of ${items.length} done`;
  }

  #clearFinished() {
    for (const row of [...this.#list.children]) {
      if (row.dataset.state && row.dataset.state !== "running") row.remove();
    }
    if (this.#list.children.length === 0) this.#panel.hidden = true;
    this.#updateSummary();
  }

  #pump() {
    while (this.#running < CONCURRENCY && this.#queue.length > 0) {
      const item = this.#queue.shift();
      this.#running++;
      this.#run(item).finally(() => {
        this.#running--;
        this.#pump();
      });
    }
  }

  async #run(item) {
    item.state = "running";
    item.row.dataset.state = "running";
    item.status.textContent = "Starting";
    const started = performance.now();
    let last = { t: started, bytes: 0 };
    let speed = 0;
    const progress = (sent, total) => {
      const now = performance.now();
      if (now - last.t > 250) {
        const instant = ((sent - last.bytes) * 1000) / (now - last.t);
        speed = speed === 0 ? instant : speed * 0.7 + instant * 0.3;
        last = { t: now, bytes: sent };
      }
      const percent = total > 0 ? Math.floor((sent / total) * 100) : 100;
      item.bar.value = percent;
      item.row.dataset.progress = String(percent);
      item.status.textContent = `${percent}% \u00b7 ${humanSize(sent)} of ${humanSize(total)}` +
        (speed > 0 ? ` \u00b7 ${humanSpeed(speed)}` : "");
    };
    try {
      const parent = parentOf(item.target);
      if (parent !== "/" && !this.#madeDirs.has(parent)) {
        await op(parent, { op: "mkdir", parents: true }).catch((e) => {
          if (e.errno !== "EEXIST") throw e;
        });
        this.#madeDirs.add(parent);
      }
      if (await hasTus()) await this.#viaTus(item, progress);
      else await this.#viaPut(item, progress);
      if (item.state === "cancelled") return;
      progress(item.file.size, item.file.size);
      const seconds = (performance.now() - started) / 1000;
      this.#finish(
        item,
        "done",
        `Done \u00b7 ${humanSize(item.file.size)} in ${seconds.toFixed(1)} s`,
      );
      this.#onDone(item.target);
    } catch (error) {
      if (item.state === "cancelled") return;
      this.#finish(item, "failed", `Failed: ${visibleText(error?.message ?? error)}`);
    }
  }

  #viaTus(item, progress) {
    return new Promise((resolve, reject) => {
      const { file, target } = item;
      const upload = new globalThis.tus.Upload(file, {
        endpoint: config.uploads,
        chunkSize: Number(document.body.dataset.chunk) || 8 * 1024 * 1024,
        retryDelays: RETRY_DELAYS,
        metadata: {
          path: target,
          filename: baseName(target),
          filetype: file.type || "application/octet-stream",
          // Never replace a file that appeared since we asked (412 at creation or at the end).
          ...(item.replace ? {} : { ifNoneMatch: "*" }),
        },
        headers: writeHeaders(),
        // The target is part of the fingerprint: the same file sent to another folder is
        // another upload.
        fingerprint: (f) =>
          Promise.resolve(["pagefs", config.user, target, f.size, f.lastModified].join("|")),
        storeFingerprintForResuming: true,
        removeFingerprintOnSuccess: true,
        onProgress: progress,
        onShouldRetry: (err, attempt) => {
          const status = err?.originalResponse?.getStatus?.() ?? 0;
          item.status.textContent = `Connection lost, retrying (${attempt + 1})`;
          item.row.dataset.retried = "1";
          return status === 0 || status === 409 || status === 423 || status >= 500;
        },
        onSuccess: () => resolve(),
        onError: (error) => reject(error),
      });
      item.abort = () => upload.abort(true).catch(() => {});
      upload.findPreviousUploads().then((previous) => {
        if (previous.length > 0) {
          upload.resumeFromPreviousUpload(previous[0]);
          item.row.dataset.resumed = "1";
        }
        if (item.state !== "cancelled") upload.start();
      }, reject);
    });
  }

  #viaPut(item, progress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", `${fsUrl(item.target)}?parents=1`);
      for (const [k, v] of Object.entries(writeHeaders())) xhr.setRequestHeader(k, v);
      // Never replace a file that appeared since we asked.
      if (!item.replace) xhr.setRequestHeader("if-none-match", "*");
      xhr.upload.onprogress = (e) => progress(e.loaded, e.total || item.file.size);
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve();
        else {
          let detail = `${xhr.status}`;
          try {
            detail = JSON.parse(xhr.responseText).detail ?? detail;
          } catch { /* not JSON */ }
          reject(new Error(detail));
        }
      };
      xhr.onerror = () => reject(new Error("Network error"));
      item.abort = () => xhr.abort();
      xhr.send(item.file);
    });
  }

  /** Lists tus uploads a previous page left unfinished: choosing the file again resumes. */
  async #showInterrupted() {
    const storage = globalThis.tus?.defaultOptions?.urlStorage;
    if (!storage?.findAllUploads) return;
    const all = await storage.findAllUploads().catch(() => []);
    const mine = all.filter((u) =>
      String(u.metadata?.path ?? "") && u.urlStorageKey?.includes("pagefs")
    );
    if (mine.length === 0) return;
    this.#panel.hidden = false;
    for (const upload of mine) {
      this.#list.append(
        h(
          "li",
          { class: "upload", dataset: { state: "interrupted" } },
          h("span", { class: "name" }, nameNode(upload.metadata.path)),
          h(
            "span",
            { class: "status" },
            "Interrupted: upload the same file to the same folder to resume",
          ),
        ),
      );
    }
  }
}

/** "a.txt" -> "a (1).txt", the first name that is free. */
async function freeName(target) {
  const dir = parentOf(target);
  const name = baseName(target);
  const ext = extension(name);
  const stem = ext ? name.slice(0, -(ext.length + 1)) : name;
  for (let i = 1; i < 1000; i++) {
    const candidate = join(dir, `${stem} (${i})${ext ? "." + ext : ""}`);
    if (await statOrNull(candidate) === null) return candidate;
  }
  throw new Error("No free name");
}

/** Files from a drop: folders walked through the entries API when the browser gives one. */
export async function filesFromDrop(dataTransfer) {
  const entries = [...(dataTransfer.items ?? [])]
    .map((item) => item.webkitGetAsEntry?.())
    .filter(Boolean);
  if (entries.length === 0) {
    return [...dataTransfer.files].map((file) => ({ file, rel: file.name }));
  }
  const out = [];
  const walk = async (entry, prefix) => {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, rel: prefix + entry.name });
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (batch.length === 0) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const entry of entries) await walk(entry, "");
  return out;
}
