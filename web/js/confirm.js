// A confirmation step as a real modal <dialog>: focus starts on Cancel, Escape cancels, and the
// caller gets a promise of true (confirmed) or false.

import { h } from "./dom.js";

/** A modal <dialog> asking yes/no; `ask()` resolves true when confirmed. Escape cancels. */
export function confirmDialog() {
  const heading = h("h2", { id: "confirm-title" });
  const text = h("p", { id: "confirm-text" });
  const yes = h("button", { type: "button", class: "danger" }, "Remove");
  const no = h("button", { type: "button", class: "secondary" }, "Cancel");
  const el = h("dialog", { class: "confirm", "aria-labelledby": "confirm-title", "aria-describedby": "confirm-text" }, heading, text, h("div", { class: "actions" }, yes, no));
  let resolve = null;
  const finish = (value) => {
    if (el.open) el.close();
    if (resolve) resolve(value);
    resolve = null;
  };
  yes.addEventListener("click", () => finish(true));
  no.addEventListener("click", () => finish(false));
  el.addEventListener("close", () => finish(false));
  return {
    el,
    ask(title_, body, confirmLabel) {
      heading.textContent = title_;
      text.textContent = body;
      yes.textContent = confirmLabel;
      el.showModal();
      no.focus();
      return new Promise((r) => {
        resolve = r;
      });
    },
  };
}
