// Small DOM helpers. Content is always set as text, never as HTML: nothing the API returns
// can become markup or script.

/**
 * Build an element: h("button", {type: "button", onclick: fn, class: "x"}, "Save").
 * Attributes starting with "on" become listeners; `false`/null/undefined attributes are skipped;
 * children may be strings, numbers, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "value" || key === "checked" || key === "selected" || key === "disabled") {
      el[key] = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace an element's content. */
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldSeq = 0;

/**
 * A labelled form field. `name` is the body field; `pointer` (default "/<name>") is the JSON
 * Pointer the API uses in validation errors, so showErrors() can put its message next to it.
 * options: {type, value, required, hint, autocomplete, options: [[value, label]], pointer, attrs}
 */
export function field(label, name, options = {}) {
  const id = `f-${name.replace(/[^a-zA-Z0-9_-]/g, "-")}-${++fieldSeq}`;
  const hintId = `${id}-hint`;
  const errId = `${id}-error`;
  const { type = "text", value, required, hint, autocomplete, pointer = `/${name}`, attrs = {} } = options;
  let input;
  if (type === "select") {
    input = h(
      "select",
      { id, name, required, "aria-describedby": `${hint ? hintId : ""} ${errId}`.trim(), ...attrs },
      (options.options || []).map(([v, text]) => h("option", { value: v, selected: String(v) === String(value ?? "") }, text)),
    );
  } else if (type === "checkbox") {
    input = h("input", { id, name, type, checked: Boolean(value), "aria-describedby": errId, ...attrs });
  } else if (type === "textarea") {
    input = h("textarea", { id, name, required, "aria-describedby": errId, ...attrs }, value ?? "");
  } else {
    input = h("input", {
      id, name, type, required, autocomplete,
      value: value ?? "",
      "aria-describedby": `${hint ? hintId : ""} ${errId}`.trim(),
      ...attrs,
    });
  }
  const wrap = h(
    "div",
    { class: `field field-${type}`, dataset: { pointer } },
    type === "checkbox" ? h("label", { for: id }, input, " ", label) : [h("label", { for: id }, label), input],
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("p", { class: "field-error", id: errId, role: "alert", hidden: true }),
  );
  return wrap;
}

/** Clear every error shown by showErrors() inside `root`. */
export function clearErrors(root) {
  for (const el of root.querySelectorAll(".field-error")) {
    el.textContent = "";
    el.hidden = true;
  }
  for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  for (const el of root.querySelectorAll(".form-error")) el.remove();
}

/**
 * Show an error inside `root` (usually a form). Validation errors whose pointer matches a
 * field's data-pointer (exactly, or the nearest parent pointer) appear next to that field;
 * the rest appear as one sentence at the top. Focus moves to the first invalid field.
 */
export function showErrors(root, err) {
  clearErrors(root);
  const leftovers = [];
  let first = null;
  for (const e of err.errors || []) {
    const target = fieldFor(root, e.pointer || "");
    if (!target) {
      leftovers.push(e.message);
      continue;
    }
    const box = target.querySelector(".field-error");
    box.textContent = box.textContent ? `${box.textContent} ${sentenceOf(e.message)}` : sentenceOf(e.message);
    box.hidden = false;
    const input = target.querySelector("input, select, textarea");
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
  }
  if (!(err.errors || []).length || leftovers.length) {
    const text = leftovers.length ? leftovers.map(sentenceOf).join(" ") : err.message;
    root.prepend(h("p", { class: "form-error", role: "alert" }, text));
  }
  if (first) first.focus();
}

function fieldFor(root, pointer) {
  let p = pointer;
  while (p) {
    const el = root.querySelector(`[data-pointer="${CSS.escape(p)}"]`);
    if (el) return el;
    p = p.slice(0, p.lastIndexOf("/"));
  }
  return null;
}

function sentenceOf(text) {
  const t = String(text || "").trim();
  if (!t) return "This value is not valid.";
  const s = t[0].toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** A page-level error box (role=alert) with a readable sentence. */
export function errorBox(err) {
  return h("p", { class: "error", role: "alert" }, err && err.message ? err.message : String(err));
}

/** Say something to screen-reader users and show it in the status bar. */
export function announce(text) {
  const live = document.getElementById("status");
  if (!live) return;
  live.textContent = "";
  // A fresh text node after clearing makes screen readers repeat identical messages.
  requestAnimationFrame(() => {
    live.textContent = text;
  });
}

/**
 * Run an async action from a button or form: disables the control while running and shows
 * any error inside `errorRoot`. Returns the action's result, or undefined on failure.
 */
export async function busy(control, errorRoot, action) {
  if (control) control.disabled = true;
  try {
    if (errorRoot) clearErrors(errorRoot);
    return await action();
  } catch (err) {
    if (errorRoot) showErrors(errorRoot, err);
    else announce(err.message || String(err));
    return undefined;
  } finally {
    if (control) control.disabled = false;
  }
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** "28 Nov 2026, 14:03" for an ISO timestamp. */
export function fmtDateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateTime.format(d);
}

/** "1:05" for 65 seconds; "1:02:05" past an hour. */
export function fmtDuration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** A table with a caption (for screen readers) and a header row. rows: arrays of cells. */
export function table(caption, headers, rows) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, c))))),
    ),
  );
}

/**
 * Let a table() turn into one card per row on phones (CSS `.stack`): each cell gets its column
 * header as `data-label`. Cells listed in `wide` (column indexes) span the card without a label.
 */
export function stackOnPhones(wrap, wide = []) {
  wrap.classList.add("stack");
  const headers = [...wrap.querySelectorAll("thead th")].map((th) => th.textContent);
  for (const tr of wrap.querySelectorAll("tbody tr")) {
    [...tr.children].forEach((td, i) => {
      td.dataset.label = headers[i] || "";
      if (wide.includes(i)) td.classList.add("wide");
    });
  }
  return wrap;
}
