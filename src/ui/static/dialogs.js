// Modal dialogs on <dialog>: prompt, confirm, choice, and a free-form one. Each returns a
// promise and gives focus back to where it was.

import { h } from "./util.js";

function open(dialog, onClose) {
  const before = document.activeElement;
  document.body.append(dialog);
  dialog.addEventListener("close", () => {
    dialog.remove();
    onClose(dialog.returnValue);
    if (before instanceof HTMLElement) before.focus();
  });
  dialog.showModal();
}

/** Asks for one line of text; null when cancelled. */
export function prompt(title, { label, value = "", okLabel = "OK", select } = {}) {
  return new Promise((resolve) => {
    const input = h("input", {
      type: "text",
      name: "value",
      value,
      required: true,
      autocomplete: "off",
    });
    const form = h(
      "form",
      { method: "dialog" },
      h("h2", {}, title),
      h("label", {}, h("span", {}, label ?? title), input),
      h(
        "div",
        { class: "buttons" },
        h(
          "button",
          { value: "cancel", type: "button", onclick: () => dialog.close("cancel") },
          "Cancel",
        ),
        h("button", { value: "ok", class: "primary" }, okLabel),
      ),
    );
    const dialog = h("dialog", { "aria-label": title }, form);
    open(dialog, (result) => resolve(result === "ok" ? input.value : null));
    input.focus();
    if (select) input.setSelectionRange(select[0], select[1]);
    else input.select();
  });
}

/**
 * The alert dialog that confirm and choose both ask with: title, message, an optional
 * `extra` element, then a Cancel button (closing with `cancel`) before `buttons`. One
 * builder, so that the two questions keep one layout and one keyboard order.
 */
function question(title, message, { extra = null, cancel, buttons }) {
  return h(
    "dialog",
    { "aria-label": title, role: "alertdialog" },
    h(
      "form",
      { method: "dialog" },
      h("h2", {}, title),
      h("p", {}, message),
      extra,
      h("div", { class: "buttons" }, h("button", { value: cancel }, "Cancel"), buttons),
    ),
  );
}

/** Asks yes or no. */
export function confirm(title, message, { okLabel = "OK", danger = false } = {}) {
  return new Promise((resolve) => {
    const dialog = question(title, message, {
      cancel: "cancel",
      buttons: h("button", { value: "ok", class: danger ? "danger" : "primary" }, okLabel),
    });
    open(dialog, (result) => resolve(result === "ok"));
    dialog.querySelector("button.danger, button.primary")?.focus();
  });
}

/**
 * Asks to pick one of `choices` ({ value, label }); with `remember`, a checkbox whose state
 * comes back too. Resolves { value, all } (value null when cancelled).
 */
export function choose(title, message, choices, { remember } = {}) {
  return new Promise((resolve) => {
    const box = remember ? h("input", { type: "checkbox", name: "all" }) : null;
    const dialog = question(title, message, {
      extra: box ? h("label", { class: "check" }, box, remember) : null,
      cancel: "",
      buttons: choices.map((c, i) =>
        h("button", { value: c.value, class: i === 0 ? "primary" : "" }, c.label)
      ),
    });
    open(dialog, (result) => resolve({ value: result || null, all: box?.checked ?? false }));
    dialog.querySelector("button.primary")?.focus();
  });
}

/** Shows `content` in a dialog with a close button; resolves when closed. */
export function show(title, content, { wide = false, actions = [] } = {}) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { "aria-label": title, class: wide ? "wide" : "" },
      h(
        "div",
        { class: "dialog-head" },
        h("h2", {}, title),
        h(
          "button",
          { class: "icon close", "aria-label": "Close", onclick: () => dialog.close() },
          "\u00d7",
        ),
      ),
      content,
      actions.length ? h("div", { class: "buttons" }, actions) : null,
    );
    open(dialog, () => resolve());
  });
}
