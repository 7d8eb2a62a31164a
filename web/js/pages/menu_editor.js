// /menus/:id: the IVR editor. One form holds the whole menu (name, greeting, a row per key,
// what happens on no input and on unlisted keys) and is saved with PATCH + If-Match. Every input
// carries the JSON Pointer the API uses, so a 422 lands next to its field:
//   /name, /greeting, /greeting/text, /greeting/prompt_id, /timeout_s, /max_invalid,
//   /options/<i>/action, /options/<i>/action/{user_id|menu_id|number}   (i = index in the
//   sent list, keypad order 1-9, 0, *, #, unused keys left out), and the same under
//   /on_timeout and /on_invalid.
// Greetings are text or an uploaded recording (POST /prompts, converted in the background; the
// page polls until it is ready and plays it). A text greeting is stored, not read out: the edge
// has no text-to-speech yet and plays a short chime in its place. Business hours live on the
// account (/settings) and are shown read-only. A read-only diagram follows menu -> menu links
// (unsaved changes included) and marks dead ends.

import { announce, busy, clearErrors, errorBox, field, h, mount, showErrors } from "../dom.js";

export const title = "IVR editor";

/** Keypad order, as the API lists options. */
const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "*", "#"];
const NOT_USED = "";
const ACTIONS = [
  ["transfer_user", "Forward to a user"],
  ["go_menu", "Go to a menu"],
  ["voicemail", "Voicemail of a user"],
  ["forward_external", "Forward to an outside number"],
  ["dial_by_extension", "Let the caller dial an extension"],
  ["repeat", "Repeat this menu"],
  ["hang_up", "Hang up"],
];
const TERMINAL = new Set(["transfer_user", "voicemail", "forward_external", "dial_by_extension", "hang_up"]);
const USER_TARGET = new Set(["transfer_user", "voicemail"]);
const WEEKDAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"], ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];
const POLL_MS = 800;
const POLL_LIMIT = 90; // about 70 s

const isManager = (session) => session && (session.role === "owner" || session.role === "admin");
const srPrefix = (text) => h("span", { class: "sr-only" }, `${text} `);

export async function render(root, ctx) {
  const menuId = ctx.params.id;
  const path = `/ivr-menus/${encodeURIComponent(menuId)}`;
  const manager = isManager(ctx.session);

  const heading = h("h1", {}, "Menu");
  root.append(heading);
  // A newer navigation empties root while this one awaits: stop instead of appending to it.
  const stale = () => !heading.isConnected;
  let menu;
  let etag;
  try {
    ({ data: menu, etag } = await ctx.api.get(path, { withEtag: true }));
  } catch (err) {
    if (err.status !== 404) throw err;
    if (stale()) return;
    heading.textContent = "Menu not found";
    root.append(errorBox(err), h("p", {}, h("a", { href: "/menus", "data-link": "" }, "Back to the menus")));
    return;
  }
  const [users, menusList, prompts, tenant] = await Promise.all([
    ctx.api.get("/users").then((r) => r.items || []),
    ctx.api.get("/ivr-menus").then((r) => r.items || []),
    ctx.api.get("/prompts").then((r) => r.items || []),
    ctx.api.get("/tenant").catch(() => null),
  ]);
  if (stale()) return;
  const state = { users, menus: menusList, prompts };

  heading.textContent = `Menu: ${menu.name}`;
  heading.before(h("p", { class: "crumbs" }, h("a", { href: "/menus", "data-link": "" }, "IVR menus")));
  const layout = h("div", { class: "ivr-layout" });
  const diagramBox = h("section", { class: "diagram panel", "aria-label": "Menu diagram" });
  root.append(layout);

  // ------------------------------------------------------------------ the form
  const nameField = field("Menu name", "name", { value: menu.name, required: true, autocomplete: "off" });
  const greeting = greetingEditor(ctx, state, menu.greeting, { manager, onChange: () => update() });
  const rows = DIGITS.map((digit) => {
    const current = menu.options.find((o) => o.digit === digit);
    const picker = actionPicker(state, menuId, `Digit ${digit}`, current ? current.action : null, { optional: true, onChange: () => update() });
    const el = h("div", { class: "digit-row" }, h("span", { class: "digit-key", "aria-hidden": "true" }, digit), h("p", { class: "field-error", role: "alert", hidden: true }), picker.el);
    return { digit, picker, el };
  });
  const timeoutField = field("Seconds to wait for a key", "timeout_s", { type: "number", value: menu.timeout_s, hint: "1 to 60 seconds after the greeting.", attrs: { min: "1", max: "60", inputmode: "numeric" } });
  const onTimeout = actionPicker(state, menuId, "No key", menu.on_timeout, { onChange: () => update(), pointer: "/on_timeout" });
  const retriesField = field("Retries", "max_invalid", { type: "number", value: menu.max_invalid, hint: "How many unlisted keys (or silent waits, when the menu repeats) before the action below runs: 1 to 10.", attrs: { min: "1", max: "10", inputmode: "numeric" } });
  const onInvalid = actionPicker(state, menuId, "Unlisted key", menu.on_invalid, { onChange: () => update(), pointer: "/on_invalid" });

  const saveButton = h("button", { type: "submit" }, "Save menu");
  const form = h(
    "form",
    { class: "menu-form", novalidate: true, "aria-labelledby": "menu-form-title" },
    h("h2", { id: "menu-form-title", class: "sr-only" }, "Menu settings"),
    nameField,
    greeting.el,
    h(
      "fieldset",
      { class: "keys", dataset: { pointer: "/options" } },
      h("legend", {}, "Keys"),
      h("p", { class: "hint" }, "What each key on the caller's keypad does. Keys left on “Not used” count as unlisted."),
      h("p", { class: "field-error", role: "alert", hidden: true }),
      h("div", { class: "digit-grid" }, rows.map((r) => r.el)),
    ),
    h("fieldset", { class: "when" }, h("legend", {}, "When the caller presses nothing"), timeoutField, onTimeout.el),
    h("fieldset", { class: "when" }, h("legend", {}, "When the caller presses an unlisted key"), retriesField, onInvalid.el),
    manager ? h("div", { class: "actions" }, saveButton, h("a", { class: "button secondary", href: "/menus", "data-link": "" }, "Back to the menus")) : null,
  );
  if (!manager) {
    for (const el of form.querySelectorAll("input, select, textarea, button")) el.disabled = true;
    form.prepend(h("p", { class: "hint" }, "Only owners and admins can change menus."));
  }

  /** The list of options as it will be sent; also gives every row its pointer. */
  const optionList = () => {
    const out = [];
    for (const r of rows) {
      const action = r.picker.value();
      if (!action) {
        r.picker.setPointer(null);
        r.el.dataset.pointer = "";
        continue;
      }
      const i = out.length;
      r.picker.setPointer(`/options/${i}/action`);
      r.el.dataset.pointer = `/options/${i}`;
      out.push({ digit: r.digit, action });
    }
    return out;
  };
  const numberOrRaw = (input) => {
    const raw = input.value.trim();
    if (raw === "") return undefined;
    const n = Number(raw);
    return Number.isInteger(n) ? n : raw; // the API names what is wrong with the raw text
  };
  const draft = () => {
    const el = form.elements;
    const body = {
      name: el.name.value.trim(),
      greeting: greeting.value(),
      options: optionList(),
      timeout_s: numberOrRaw(el.timeout_s),
      max_invalid: numberOrRaw(el.max_invalid),
      on_timeout: onTimeout.value(),
      on_invalid: onInvalid.value(),
    };
    for (const k of Object.keys(body)) if (body[k] === undefined || body[k] === null) delete body[k];
    return body;
  };

  const update = () => {
    const d = draft();
    renderDiagram(diagramBox, { ...menu, ...d, id: menuId, name: d.name || menu.name }, state);
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!manager) return;
    busy(saveButton, form, async () => {
      const body = draft();
      let saved;
      try {
        ({ data: saved, etag } = await ctx.api.patch(path, body, { etag, withEtag: true }));
      } catch (err) {
        if (err.status === 412) {
          announce("Someone else changed this menu meanwhile. The editor shows their version now; make your change again.");
          await ctx.navigate(`/menus/${encodeURIComponent(menuId)}`, { replace: true });
          return;
        }
        throw err;
      }
      menu = saved;
      state.menus = state.menus.map((m) => (m.id === saved.id ? saved : m));
      heading.textContent = `Menu: ${saved.name}`;
      update();
      form.prepend(h("p", { class: "success form-error" }, `${saved.name} was saved.`));
      announce(`${saved.name} was saved.`);
    });
  });
  form.addEventListener("reset", () => clearErrors(form));

  layout.append(
    h("section", { class: "ivr-main", "aria-labelledby": "menu-form-title" }, form),
    h("div", { class: "ivr-side" }, diagramBox, hoursPanel(tenant, state, menuId)),
  );
  optionList();
  update();
}

// --------------------------------------------------------------------------- action picker

/**
 * An action select plus a target (user or menu select, or an outside number).
 * Labels read "<prefix> action" / "<prefix> target" / "<prefix> number" for screen readers.
 * value() -> the action object, or null when `optional` and "Not used" is chosen.
 */
function actionPicker(state, selfId, prefix, action, { optional = false, onChange, pointer = null }) {
  const actionOptions = [...(optional ? [[NOT_USED, "Not used"]] : []), ...ACTIONS];
  const kindField = field([srPrefix(prefix), "Action"], "action", { type: "select", options: actionOptions, value: action ? action.type : NOT_USED, pointer: "" });
  const kind = kindField.querySelector("select");
  const targetField = field([srPrefix(prefix), "Target"], "target", { type: "select", options: [], pointer: "" });
  const target = targetField.querySelector("select");
  const targetWrap = h("div", { class: "target-wrap" }, targetField);
  const numberField = field([srPrefix(prefix), "Number"], "number", { type: "tel", value: action && action.number ? action.number : "", hint: "E.164, e.g. +15551234567", autocomplete: "off", pointer: "" });
  const numberWrap = h("div", { class: "target-wrap" }, numberField);
  let base = pointer;

  const fillTargets = (type, selected) => {
    const list = USER_TARGET.has(type) ? state.users : state.menus;
    const choices = [["", USER_TARGET.has(type) ? "Choose a user" : "Choose a menu"]];
    for (const item of list) {
      let text = item.name;
      if (type === "voicemail" && !item.voicemail_enabled) text += " (voicemail off)";
      if (type === "go_menu" && item.id === selfId) text += " (this menu)";
      choices.push([item.id, text]);
    }
    if (selected && !list.some((x) => x.id === selected)) choices.push([selected, `Missing ${USER_TARGET.has(type) ? "user" : "menu"} (${selected})`]);
    target.replaceChildren(...choices.map(([v, t]) => h("option", { value: v }, t)));
    target.value = selected || "";
  };

  const sync = () => {
    const type = kind.value;
    const needsTarget = USER_TARGET.has(type) || type === "go_menu";
    targetWrap.hidden = !needsTarget;
    numberWrap.hidden = type !== "forward_external";
    setPointer(base);
  };

  const setPointer = (p) => {
    base = p;
    const type = kind.value;
    const key = type === "go_menu" ? "menu_id" : "user_id";
    kindField.dataset.pointer = p || "";
    targetField.dataset.pointer = p && !targetWrap.hidden ? `${p}/${key}` : "";
    numberField.dataset.pointer = p && !numberWrap.hidden ? `${p}/number` : "";
  };

  const initialTarget = action ? action.user_id || action.menu_id || "" : "";
  fillTargets(action ? action.type : "transfer_user", initialTarget);
  kind.addEventListener("change", () => {
    const before = target.value;
    const type = kind.value;
    // keep a chosen user when switching between forward and voicemail
    fillTargets(type, USER_TARGET.has(type) && state.users.some((u) => u.id === before) ? before : "");
    sync();
    if (onChange) onChange();
  });
  sync();

  const el = h("div", { class: "action-picker" }, kindField, targetWrap, numberWrap);
  return {
    el,
    setPointer,
    value() {
      const type = kind.value;
      if (!type) return null;
      if (USER_TARGET.has(type)) return target.value ? { type, user_id: target.value } : { type };
      if (type === "go_menu") return target.value ? { type, menu_id: target.value } : { type };
      if (type === "forward_external") {
        const n = numberField.querySelector("input").value.trim().replace(/[\s.\-()]/g, "");
        return n ? { type, number: n } : { type };
      }
      return { type };
    },
  };
}

// --------------------------------------------------------------------------- greeting

function greetingEditor(ctx, state, current, { manager, onChange }) {
  const kindField = field("Greeting", "greeting_kind", {
    type: "select",
    options: [["text", "Text"], ["prompt", "A recording"]],
    value: current && current.prompt_id ? "prompt" : "text",
    pointer: "/greeting#kind",
  });
  const kind = kindField.querySelector("select");
  const textField = field("Greeting text", "greeting_text", { type: "textarea", value: current && current.text ? current.text : "", pointer: "/greeting/text", hint: "Saved with the menu but not read out yet: until text-to-speech is available, callers hear a short chime here, then can press a key. Upload a recording for a spoken greeting." });
  const promptField = field("Greeting recording", "greeting_prompt", { type: "select", options: [], pointer: "/greeting/prompt_id" });
  const promptSelect = promptField.querySelector("select");
  const audio = h("audio", { controls: true, preload: "metadata", "aria-label": "Greeting recording player" });
  const player = h("div", { class: "prompt-player" }, audio, h("p", { class: "hint", id: "prompt-player-note" }));
  const status = h("p", { class: "prompt-status", role: "status" });
  const fileField = field("Upload a recording", "file", { type: "file", pointer: "/file", hint: "WAV or MP3, at most 10 MB. It is converted for the phone network after upload.", attrs: { accept: ".wav,.mp3,audio/wav,audio/mpeg" } });
  const uploadButton = h("button", { type: "button", class: "secondary" }, "Upload");
  const upload = h("div", { class: "prompt-upload" }, fileField, h("div", { class: "actions" }, uploadButton), status);

  const fillPrompts = (selected) => {
    const choices = [["", state.prompts.length ? "Choose a recording" : "No recordings yet: upload one"]];
    for (const p of state.prompts) {
      const note = p.status === "ready" ? "" : p.status === "processing" ? " (converting)" : " (conversion failed)";
      choices.push([p.id, `${p.name}${note}`]);
    }
    if (selected && !state.prompts.some((p) => p.id === selected)) choices.push([selected, `Missing recording (${selected})`]);
    promptSelect.replaceChildren(...choices.map(([v, t]) => h("option", { value: v }, t)));
    promptSelect.value = selected || "";
  };

  let playing = null;
  const loadAudio = async () => {
    const id = promptSelect.value;
    const p = state.prompts.find((x) => x.id === id);
    const note = player.querySelector(".hint");
    if (!id || !p || p.status !== "ready") {
      audio.removeAttribute("src");
      audio.load();
      player.hidden = true;
      return;
    }
    if (playing === id && audio.getAttribute("src")) return;
    player.hidden = false;
    try {
      audio.src = await ctx.api.mediaUrl(`/prompts/${encodeURIComponent(id)}/audio`);
      playing = id;
      note.textContent = p.duration_ms ? `${p.name}, ${(p.duration_ms / 1000).toFixed(1)} s` : p.name;
    } catch (err) {
      note.textContent = err.message;
    }
  };

  const sync = () => {
    const isText = kind.value === "text";
    textField.hidden = !isText;
    promptField.hidden = isText;
    player.hidden = isText || player.hidden;
    if (!isText) loadAudio();
  };
  kind.addEventListener("change", () => {
    sync();
    onChange();
  });
  promptSelect.addEventListener("change", () => {
    loadAudio();
    onChange();
  });

  const waitForConversion = async (prompt) => {
    let p = prompt;
    for (let i = 0; p.status === "processing" && i < POLL_LIMIT; i++) {
      status.textContent = `Converting “${p.name}” for the phone network…`;
      await new Promise((r) => setTimeout(r, POLL_MS));
      p = await ctx.api.get(`/prompts/${encodeURIComponent(p.id)}`);
    }
    state.prompts = [...state.prompts.filter((x) => x.id !== p.id), p].sort((a, b) => a.name.localeCompare(b.name));
    return p;
  };

  uploadButton.addEventListener("click", () => {
    busy(uploadButton, upload, async () => {
      const input = fileField.querySelector("input");
      const file = input.files && input.files[0];
      if (!file) {
        const err = new Error("Choose a WAV or MP3 file first.");
        err.errors = [{ pointer: "/file", message: "Choose a WAV or MP3 file first." }];
        throw err;
      }
      const body = new FormData();
      body.append("file", file);
      body.append("name", file.name.replace(/\.[^.]+$/, "").slice(0, 100) || "Greeting");
      status.textContent = `Uploading “${file.name}”…`;
      let p;
      try {
        p = await ctx.api.post("/prompts", body);
      } catch (err) {
        status.textContent = "";
        throw err;
      }
      p = await waitForConversion(p);
      kind.value = "prompt";
      fillPrompts(p.id);
      if (p.status === "ready") {
        status.textContent = `“${p.name}” is ready and chosen as the greeting. Save the menu to use it.`;
      } else if (p.status === "failed") {
        status.textContent = `“${p.name}” could not be converted${p.reason ? `: ${p.reason}` : ""}.`;
      } else {
        status.textContent = `“${p.name}” is still converting. Reload the page in a moment.`;
      }
      input.value = "";
      sync();
      onChange();
      announce(status.textContent);
    });
  });

  fillPrompts(current && current.prompt_id);
  player.hidden = true;
  const el = h(
    "fieldset",
    { class: "greeting", dataset: { pointer: "/greeting" } },
    h("legend", {}, "Greeting"),
    h("p", { class: "field-error", role: "alert", hidden: true }),
    kindField,
    textField,
    promptField,
    player,
    manager ? upload : null,
  );
  sync();
  return {
    el,
    value() {
      if (kind.value === "text") return { text: textField.querySelector("textarea").value.trim() };
      return promptSelect.value ? { prompt_id: promptSelect.value } : {};
    },
  };
}

// --------------------------------------------------------------------------- business hours

function hoursPanel(tenant, state, menuId) {
  const box = h("section", { class: "panel hours", "aria-labelledby": "hours-title" }, h("h2", { id: "hours-title" }, "Business hours"));
  if (!tenant) {
    box.append(h("p", {}, "The account's business hours could not be read."), settingsLink());
    return box;
  }
  box.append(h("p", { class: "hint" }, `Hours and holidays belong to the whole account (time zone ${tenant.time_zone}). Numbers without their own destination follow them.`));
  const hours = tenant.business_hours;
  if (!hours) {
    box.append(h("p", {}, "No schedule: always open (except on holidays)."));
  } else {
    box.append(
      h(
        "dl",
        { class: "summary" },
        WEEKDAYS.map(([k, label]) => [h("dt", {}, label), h("dd", {}, hours[k] && hours[k].length ? hours[k].join(", ") : "Closed")]),
      ),
    );
  }
  const holidays = tenant.holidays || [];
  box.append(
    h("h3", {}, "Holidays"),
    holidays.length ? h("ul", {}, holidays.map((d) => h("li", {}, d.name ? `${d.date}: ${d.name}` : d.date))) : h("p", {}, "None."),
    h(
      "dl",
      { class: "summary" },
      h("dt", {}, "During open hours"),
      h("dd", {}, describeEntry(tenant.open_entry, state, menuId)),
      h("dt", {}, "After hours and on holidays"),
      h("dd", {}, describeEntry(tenant.closed_entry, state, menuId)),
    ),
    settingsLink(),
  );
  return box;
}

const settingsLink = () => h("p", {}, h("a", { href: "/settings", "data-link": "" }, "Change business hours, holidays and the after-hours action in Settings"));

function describeEntry(entry, state, menuId) {
  if (!entry) return "Not set";
  if (entry.type === "menu") {
    if (entry.id === menuId) return "This menu";
    const m = state.menus.find((x) => x.id === entry.id);
    return m ? `Menu ${m.name}` : "A menu that no longer exists";
  }
  const u = state.users.find((x) => x.id === entry.id);
  return u ? `Ring ${u.name}` : "A user who no longer exists";
}

// --------------------------------------------------------------------------- diagram

/** Menus from which no path reaches a terminal action (callers could never leave). */
export function trappedMenus(menus) {
  const byId = new Map(menus.map((m) => [m.id, m]));
  const edges = new Map();
  const ok = new Set();
  for (const m of menus) {
    const out = [];
    for (const a of [...m.options.map((o) => o.action), m.on_timeout, m.on_invalid]) {
      if (!a) continue;
      if (TERMINAL.has(a.type)) ok.add(m.id);
      else if (a.type === "repeat") out.push(m.id);
      else if (a.type === "go_menu" && byId.has(a.menu_id)) out.push(a.menu_id);
    }
    edges.set(m.id, out);
  }
  let changed = true;
  while (changed) {
    changed = false;
    for (const [id, out] of edges) {
      if (!ok.has(id) && out.some((t) => ok.has(t))) {
        ok.add(id);
        changed = true;
      }
    }
  }
  return new Set(menus.filter((m) => !ok.has(m.id)).map((m) => m.id));
}

function deadEnd(reason) {
  return h("span", { class: "dead-end" }, h("span", { "aria-hidden": "true" }, "⚠ "), "Dead end", `: ${reason}`);
}

function renderDiagram(box, draft, state) {
  const menus = [...state.menus.filter((m) => m.id !== draft.id), { on_timeout: { type: "repeat" }, on_invalid: { type: "hang_up" }, ...draft }];
  const byId = new Map(menus.map((m) => [m.id, m]));
  const users = new Map(state.users.map((u) => [u.id, u]));
  const trapped = trappedMenus(menus);
  let deadEnds = 0;
  const dead = (reason) => {
    deadEnds += 1;
    return deadEnd(reason);
  };

  const describe = (action, menu, ancestors) => {
    if (!action) return [dead("nothing chosen")];
    switch (action.type) {
      case "transfer_user":
      case "voicemail": {
        const verb = action.type === "voicemail" ? "Voicemail of" : "Forward to";
        if (!action.user_id) return [`${verb} `, dead("no user chosen")];
        const u = users.get(action.user_id);
        if (!u) return [`${verb} `, dead("the user no longer exists")];
        if (action.type === "voicemail" && !u.voicemail_enabled) return [`${verb} ${u.name} `, dead(`${u.name} has no voicemail box (voicemail is off)`)];
        if (action.type === "transfer_user" && !(u.forwarding_numbers || []).length) {
          // the edge goes straight to the user's voicemail, or says "unavailable" and hangs up
          if (!u.voicemail_enabled) return [`${verb} ${u.name} `, dead(`${u.name} has no forwarding numbers and no voicemail box`)];
          return [`${verb} ${u.name} (no forwarding numbers: straight to voicemail)`];
        }
        return [`${verb} ${u.name}`];
      }
      case "forward_external":
        return action.number ? [`Forward to ${action.number}`] : ["Forward to ", dead("no number entered")];
      case "dial_by_extension":
        return ["The caller dials an extension"];
      case "repeat":
        return ["Repeat this menu"];
      case "hang_up":
        return ["Hang up"];
      case "go_menu": {
        if (!action.menu_id) return ["Go to ", dead("no menu chosen")];
        const target = byId.get(action.menu_id);
        if (!target) return ["Go to ", dead("the menu no longer exists")];
        if (target.id === menu.id) return [`Back to the start of ${target.name}`];
        if (ancestors.includes(target.id)) return [`Back to ${target.name} (shown above)`];
        return [`Go to ${target.name}`, h("ul", {}, menuNode(target, ancestors))];
      }
      default:
        return [dead(`unknown action ${action.type}`)];
    }
  };

  // The API does not check a greeting's recording: say so when it cannot be played.
  const greetingWarning = (g) => {
    if (!g || !g.prompt_id) return null;
    const p = state.prompts.find((x) => x.id === g.prompt_id);
    if (p && p.status === "ready") return null;
    const why = !p ? "its greeting recording no longer exists" : p.status === "failed" ? "its greeting recording could not be converted" : "its greeting recording is still converting";
    return h("span", { class: "warning" }, ` (${why}: callers hear no greeting)`);
  };

  const menuNode = (m, ancestors) => {
    const path = [...ancestors, m.id];
    const items = [];
    for (const o of m.options) items.push(h("li", {}, h("span", { class: "key" }, `Press ${o.digit}: `), describe(o.action, m, path)));
    if (!m.options.length) items.push(h("li", {}, "No keys set up."));
    items.push(h("li", {}, h("span", { class: "key" }, `No key within ${m.timeout_s ?? 8} s: `), describe(m.on_timeout, m, path)));
    items.push(h("li", {}, h("span", { class: "key" }, `Unlisted key (${m.max_invalid ?? 3} tries): `), describe(m.on_invalid, m, path)));
    return h(
      "li",
      { class: "diagram-menu" },
      h("strong", {}, `Menu ${m.name}`),
      trapped.has(m.id) ? [" ", dead("no way out: every path comes back to a menu")] : null,
      greetingWarning(m.greeting),
      h("ul", {}, items),
    );
  };

  const tree = h("ul", { class: "diagram-root" }, menuNode(byId.get(draft.id), []));
  mount(
    box,
    h("h2", {}, "Diagram"),
    h("p", { class: "hint" }, "Where each key leads, menu by menu. Read only; it includes unsaved changes."),
    h("p", { class: deadEnds ? "dead-end-count" : "ok-count" }, deadEnds ? `${deadEnds} dead end${deadEnds === 1 ? "" : "s"} found.` : "No dead ends."),
    tree,
  );
}
