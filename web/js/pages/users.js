// /users: the tenant's staff. Owners and admins add, edit (PATCH with If-Match) and remove
// (after a confirmation dialog) users; members see a read-only list. Forwarding numbers are typed
// as country + national number and sent as E.164; the API's errors appear next to the field its
// pointer names (e.g. /forwarding_numbers/1). Editing yourself, a new password or email needs your
// current password; a new email stays pending until the link mailed to it is followed. Nobody sets
// another user's password: managers send a reset link instead.

import { announce, busy, clearErrors, errorBox, field, h, stackOnPhones, table } from "../dom.js";
import { confirmDialog } from "../confirm.js";
import { phoneInput } from "../phone.js";

export const title = "Users";

const ROLES = [["member", "Member"], ["admin", "Admin"], ["owner", "Owner"]];
const MAX_FORWARDING = 10;

const isManager = (session) => session && (session.role === "owner" || session.role === "admin");
const yesNo = (v) => (v ? "On" : "Off");
const roleLabel = (r) => (ROLES.find(([v]) => v === r) || [r, r])[1];

export async function render(root, ctx) {
  const manager = isManager(ctx.session);
  const heading = h("h1", {}, "Users");
  root.append(heading);
  // A newer navigation empties root while this one awaits: stop instead of appending to it.
  const stale = () => !heading.isConnected;
  const listBox = h("section", { "aria-labelledby": "users-list" });
  root.append(listBox);
  const dialog = confirmDialog();
  root.append(dialog.el);

  let formBox = null;
  const reload = async () => {
    const { items } = await ctx.api.get("/users");
    listBox.replaceChildren(h("h2", { id: "users-list" }, "Staff"), usersTable(items));
    return items;
  };

  const usersTable = (items) => {
    if (!items.length) return h("p", {}, "No users yet.");
    const headers = ["Name", "Role", "Extension", "Forwarding numbers", "Ring timeout", "Voicemail", "Recording"];
    if (manager) headers.push("Actions");
    const rows = items.map((u) => {
      const cells = [
        h(
          "span",
          {},
          h("strong", {}, u.name),
          h("br"),
          h("span", { class: "muted" }, u.email),
          u.pending_email ? h("span", { class: "muted" }, h("br"), `New address waiting for confirmation: ${u.pending_email}`) : null,
        ),
        roleLabel(u.role),
        u.extension || "—",
        u.forwarding_numbers.length ? h("ul", { class: "plain" }, u.forwarding_numbers.map((n) => h("li", {}, n))) : "None",
        `${u.ring_timeout_s} s`,
        u.voicemail_enabled ? `On${u.has_voicemail_pin ? " (PIN set)" : ""}` : "Off",
        yesNo(u.recording_enabled),
      ];
      if (manager) {
        cells.push(
          h(
            "div",
            { class: "actions row-actions" },
            h("button", { type: "button", class: "secondary", onclick: () => openForm(u.id), "aria-label": `Edit ${u.name}` }, "Edit"),
            u.id === ctx.session.sub
              ? null // removing yourself would end your own access; another manager does that
              : h("button", { type: "button", class: "danger", onclick: (e) => remove(u, e.currentTarget), "aria-label": `Remove ${u.name}` }, "Remove"),
          ),
        );
      }
      return cells;
    });
    return stackOnPhones(table(`${items.length} user${items.length === 1 ? "" : "s"}`, headers, rows));
  };

  const openForm = async (userId, { focus = Boolean(userId) } = {}) => {
    let current = null;
    let etag = null;
    if (userId) {
      try {
        ({ data: current, etag } = await ctx.api.get(`/users/${encodeURIComponent(userId)}`, { withEtag: true }));
      } catch (err) {
        announce(err.message);
        return;
      }
    }
    const next = userForm(ctx, current, etag, {
      onDone: async (text) => {
        announce(text);
        await reload();
        openForm(null, { focus: true });
      },
      onCancel: () => openForm(null, { focus: true }),
      onStale: () => openForm(userId),
    });
    if (formBox) formBox.replaceWith(next);
    else root.append(next);
    formBox = next;
    if (userId && focus) next.querySelector("input").focus();
    else if (focus) next.querySelector("h2").focus();
  };

  const remove = async (user, trigger) => {
    const ok = await dialog.ask(`Remove ${user.name}?`, `${user.name} can no longer log in and calls stop ringing their phones.`, "Remove user");
    if (!ok) {
      trigger.focus();
      return;
    }
    try {
      const { etag } = await ctx.api.get(`/users/${encodeURIComponent(user.id)}`, { withEtag: true });
      await ctx.api.del(`/users/${encodeURIComponent(user.id)}`, { etag });
      announce(`${user.name} was removed.`);
      await reload();
      listBox.querySelector("h2").setAttribute("tabindex", "-1");
      listBox.querySelector("h2").focus();
    } catch (err) {
      listBox.prepend(errorBox(err));
      trigger.focus();
    }
  };

  await reload();
  if (stale()) return;
  if (manager) openForm(null);
  else root.append(h("p", { class: "hint" }, "Only owners and admins can add, change or remove users."));
}

/** The add/edit form. `user` null = add. */
function userForm(ctx, user, etag, { onDone, onCancel, onStale }) {
  const editing = Boolean(user);
  const u = user || { name: "", email: "", role: "member", extension: "", forwarding_numbers: [], ring_timeout_s: 25, voicemail_enabled: true, recording_enabled: false };
  const headingId = editing ? "user-form-edit" : "user-form-add";
  const roles = ctx.session.role === "owner" || u.role === "owner" ? ROLES : ROLES.filter(([v]) => v !== "owner");
  const self = editing && u.id === ctx.session.sub;
  // Only an owner changes an owner's password or email; a reset link is for someone else.
  const canReset = editing && !self && (u.role !== "owner" || ctx.session.role === "owner");
  const emailHint = editing ? "A new address is used once the link we email to it is followed." : null;

  const fwdList = h("div", { class: "fwd-list" });
  const fwdRows = [];
  const addButton = h("button", { type: "button", class: "secondary" }, "Add a forwarding number");
  const renumber = () => {
    fwdRows.forEach((row, i) => {
      const n = i + 1;
      row.el.querySelector(".field-tel label").textContent = `Forwarding number ${n}`;
      row.el.querySelector(".field-select label").textContent = `Country of forwarding number ${n}`;
      row.el.querySelector(".field-tel").dataset.pointer = `/forwarding_numbers/${i}`;
      row.el.querySelector(".field-select").dataset.pointer = `/forwarding_numbers/${i}#country`;
      row.removeButton.setAttribute("aria-label", `Remove forwarding number ${n}`);
    });
    addButton.hidden = fwdRows.length >= MAX_FORWARDING;
  };
  const addRow = (value) => {
    const removeButton = h("button", { type: "button", class: "link" }, "Remove");
    const row = phoneInput("Forwarding number", "forwarding", { pointer: `/forwarding_numbers/${fwdRows.length}`, value, removable: removeButton });
    row.removeButton = removeButton;
    removeButton.addEventListener("click", () => {
      fwdRows.splice(fwdRows.indexOf(row), 1);
      row.el.remove();
      renumber();
      addButton.focus();
    });
    fwdRows.push(row);
    fwdList.append(row.el);
    renumber();
    return row;
  };
  addButton.addEventListener("click", () => addRow("").number.focus());
  for (const n of u.forwarding_numbers) addRow(n);
  if (!editing && fwdRows.length === 0) addRow("");

  const pinHint = editing && u.has_voicemail_pin ? "4 to 10 digits. Leave empty to keep the current PIN." : "4 to 10 digits. Stored for listening to voicemail by phone, which is not available yet.";
  const form = h(
    "form",
    { class: "user-form", novalidate: true, "aria-labelledby": headingId },
    field("Name", "name", { value: u.name, required: true, autocomplete: "off" }),
    field("Email", "email", { type: "email", value: u.email, required: true, autocomplete: "off", hint: emailHint }),
    field("Role", "role", { type: "select", value: u.role, options: roles }),
    field("Extension", "extension", { value: u.extension || "", hint: "2 to 6 digits, e.g. 101. Leave empty for none.", attrs: { inputmode: "numeric" } }),
    h(
      "fieldset",
      { class: "fwd", dataset: { pointer: "/forwarding_numbers" } },
      h("legend", {}, "Forwarding numbers"),
      h("p", { class: "hint" }, "The phones this user's calls ring, in order. Pick the country and type the number as you would dial it locally."),
      h("p", { class: "field-error", role: "alert", hidden: true }),
      fwdList,
      addButton,
    ),
    field("Ring timeout (seconds)", "ring_timeout_s", { type: "number", value: u.ring_timeout_s, hint: "How long each number rings: 5 to 120 seconds.", attrs: { min: "5", max: "120", inputmode: "numeric" } }),
    field("Voicemail on", "voicemail_enabled", { type: "checkbox", value: u.voicemail_enabled }),
    field("Voicemail PIN", "voicemail_pin", { type: "password", hint: pinHint, autocomplete: "new-password", attrs: { inputmode: "numeric" } }),
    field("Record calls", "recording_enabled", { type: "checkbox", value: u.recording_enabled }),
    editing ? null : field("Password (optional)", "password", { type: "password", hint: "At least 8 characters; lets the user log in to this portal.", autocomplete: "new-password" }),
    self ? field("New password", "password", { type: "password", hint: "At least 8 characters. Leave empty to keep your password.", autocomplete: "new-password" }) : null,
    self ? field("Current password", "current_password", { type: "password", hint: "Needed to change your email or password.", autocomplete: "current-password" }) : null,
    h(
      "div",
      { class: "actions" },
      h("button", { type: "submit" }, editing ? "Save changes" : "Add user"),
      editing ? h("button", { type: "button", class: "secondary", onclick: onCancel }, "Cancel") : null,
      canReset ? h("button", { type: "button", class: "secondary", onclick: (e) => sendReset(e.currentTarget) }, "Send a password reset link") : null,
    ),
  );

  const sendReset = (button) =>
    busy(button, form, async () => {
      await ctx.api.post(`/users/${encodeURIComponent(u.id)}/password-reset`);
      announce(`A link to choose a new password was emailed to ${u.name}.`);
    });

  const body = () => {
    const el = form.elements;
    const out = {
      name: el.name.value.trim(),
      email: el.email.value.trim(),
      role: el.role.value,
      extension: el.extension.value.trim() || null,
      forwarding_numbers: fwdRows.map((r) => r.value()).filter(Boolean),
      ring_timeout_s: el.ring_timeout_s.value.trim() === "" ? null : Number(el.ring_timeout_s.value),
      voicemail_enabled: el.voicemail_enabled.checked,
      recording_enabled: el.recording_enabled.checked,
    };
    if (out.ring_timeout_s === null) delete out.ring_timeout_s; // empty: the default, or unchanged
    else if (Number.isNaN(out.ring_timeout_s)) out.ring_timeout_s = el.ring_timeout_s.value;
    const pin = el.voicemail_pin.value.trim();
    if (pin) out.voicemail_pin = pin;
    if (!editing || self) {
      if (!editing && out.extension === null) delete out.extension;
      const pw = el.password.value;
      if (pw) out.password = pw;
    }
    return out;
  };

  // Only what changed: an admin may edit an owner's details as long as the role is not sent.
  const changes = (next) => {
    const out = {};
    for (const [k, v] of Object.entries(next)) {
      if (k === "voicemail_pin" || k === "password") out[k] = v;
      else if (JSON.stringify(v) !== JSON.stringify(u[k] ?? null)) out[k] = v;
    }
    return out;
  };

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const button = form.querySelector("button[type=submit]");
    busy(button, form, async () => {
      // Blank rows are dropped; the pointers must match what is sent.
      for (const row of [...fwdRows]) {
        if (!row.value() && fwdRows.length > (editing ? 0 : 1)) {
          fwdRows.splice(fwdRows.indexOf(row), 1);
          row.el.remove();
        }
      }
      renumber();
      const next = body();
      if (editing) {
        const patch = changes(next);
        if (!Object.keys(patch).length) {
          onDone("Nothing changed.");
          return;
        }
        const current = self ? form.elements.current_password.value : "";
        if (current && (patch.email || patch.password)) patch.current_password = current;
        let saved;
        try {
          saved = await ctx.api.patch(`/users/${encodeURIComponent(u.id)}`, patch, { etag });
        } catch (err) {
          if (err.status === 412) {
            onStale();
            announce("Someone else changed this user meanwhile. The form shows their version now; make your change again.");
            return;
          }
          throw err;
        }
        if (self && patch.password) {
          // A new password ends every session, this one too.
          announce("Your password was changed. Log in again with the new one.");
          await ctx.api.logout();
          ctx.navigate("/login", { replace: true });
          return;
        }
        const waiting = patch.email && saved && saved.pending_email === patch.email;
        onDone(waiting ? `${next.name} was saved. The email changes to ${patch.email} once the link we sent there is followed.` : `${next.name} was saved.`);
      } else {
        await ctx.api.post("/users", next);
        onDone(`${next.name} was added.`);
      }
    });
  });
  form.addEventListener("reset", () => clearErrors(form));

  return h(
    "section",
    { class: "panel user-panel", "aria-labelledby": headingId },
    h("h2", { id: headingId, tabindex: "-1" }, editing ? `Edit ${u.name}` : "Add a user"),
    form,
  );
}
