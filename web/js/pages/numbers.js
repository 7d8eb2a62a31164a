// /numbers: the tenant's phone numbers and where each one's calls start (an IVR menu, a user, or
// the tenant's business-hours entries). Owners and admins claim a number (POST /numbers), point
// it elsewhere (PATCH with If-Match) and release it (DELETE, after a confirmation dialog).
// Numbers come from the operator's inventory: the claim form lists what GET /numbers/available
// offers (free numbers of the account's region, searched by the digits they start with); a
// released number is in quarantine for a while before anyone can claim it again.

import { confirmDialog } from "../confirm.js";
import { announce, busy, errorBox, field, h, stackOnPhones, table } from "../dom.js";

const OFFERED = 20;

export const title = "Numbers";

const BUSINESS_HOURS = "";
const isManager = (session) => session && (session.role === "owner" || session.role === "admin");
const entryValue = (entry) => (entry ? `${entry.type}:${entry.id}` : BUSINESS_HOURS);
const entryOf = (value) => {
  if (!value) return null;
  const [type, id] = value.split(":");
  return { type, id };
};

export async function render(root, ctx) {
  const manager = isManager(ctx.session);
  const heading = h("h1", {}, "Numbers");
  root.append(heading);
  // A newer navigation empties root while this one awaits: stop instead of appending to it.
  const stale = () => !heading.isConnected;
  const listBox = h("section", { "aria-labelledby": "numbers-list" });
  const dialog = confirmDialog();
  root.append(listBox, dialog.el);

  let users = [];
  let menus = [];
  const loadTargets = async () => {
    [users, menus] = await Promise.all([
      ctx.api.get("/users").then((r) => r.items || []),
      ctx.api.get("/ivr-menus").then((r) => r.items || []),
    ]);
  };

  const describe = (entry) => {
    if (!entry) return "Business hours (the account's open and closed entries)";
    if (entry.type === "menu") {
      const m = menus.find((x) => x.id === entry.id);
      return m ? `IVR menu: ${m.name}` : `IVR menu ${entry.id} (missing)`;
    }
    const u = users.find((x) => x.id === entry.id);
    return u ? `User: ${u.name}` : `User ${entry.id} (missing)`;
  };

  /** A destination <select>: business hours, then the menus and the users by name. */
  const destination = (label, name, entry, pointer) => {
    const wrap = field(label, name, { type: "select", value: entryValue(entry), pointer, options: [[BUSINESS_HOURS, "Business hours (open/closed entries)"]] });
    const select = wrap.querySelector("select");
    if (menus.length) select.append(h("optgroup", { label: "IVR menus" }, menus.map((m) => h("option", { value: `menu:${m.id}` }, m.name))));
    if (users.length) select.append(h("optgroup", { label: "Users" }, users.map((u) => h("option", { value: `user:${u.id}` }, u.extension ? `${u.name} (ext. ${u.extension})` : u.name))));
    select.value = entryValue(entry);
    return wrap;
  };

  const reload = async () => {
    const { items } = await ctx.api.get("/numbers");
    listBox.replaceChildren(h("h2", { id: "numbers-list", tabindex: "-1" }, "Your numbers"), numbersTable(items));
    return items;
  };

  const numbersTable = (items) => {
    if (!items.length) return h("p", {}, manager ? "No numbers yet. Claim one below." : "No numbers yet.");
    const headers = ["Number", "Label", "Calls go to"];
    if (manager) headers.push("Change");
    const rows = items.map((n) => {
      const cells = [h("strong", { class: "nowrap" }, n.number), n.label || "—", describe(n.entry)];
      if (manager) cells.push(routeForm(n));
      return cells;
    });
    return stackOnPhones(table(`${items.length} number${items.length === 1 ? "" : "s"}`, headers, rows), [3]);
  };

  const routeForm = (n) => {
    const form = h(
      "form",
      { class: "route-form", novalidate: true },
      destination(`Where calls to ${n.number} go`, "entry", n.entry, "/entry"),
      field(`Label for ${n.number}`, "label", { value: n.label || "", pointer: "/label" }),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "submit", "aria-label": `Save ${n.number}` }, "Save"),
        h("button", { type: "button", class: "danger", "aria-label": `Release ${n.number}`, onclick: (e) => release(n, e.currentTarget) }, "Release"),
      ),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(form.querySelector("button[type=submit]"), form, async () => {
        const path = `/numbers/${encodeURIComponent(n.number)}`;
        const { data, etag } = await ctx.api.get(path, { withEtag: true });
        const patch = {};
        const entry = entryOf(form.elements.entry.value);
        if (JSON.stringify(entry) !== JSON.stringify(data.entry)) patch.entry = entry;
        const label = form.elements.label.value.trim() || null;
        if (label !== (data.label || null)) patch.label = label;
        if (!Object.keys(patch).length) {
          announce(`Nothing changed for ${n.number}.`);
          return;
        }
        if (JSON.stringify(data.entry) !== JSON.stringify(n.entry) && patch.entry) {
          // Someone else re-pointed it after this page was loaded: do not overwrite silently.
          await reload();
          throw new Error(`Someone else changed ${n.number} meanwhile; the table shows it now. Choose again.`);
        }
        await ctx.api.patch(path, patch, { etag });
        announce(`${n.number} now goes to ${describe(entry)}.`);
        await reload();
      });
    });
    return form;
  };

  const release = async (n, trigger) => {
    const ok = await dialog.ask(`Release ${n.number}?`, `Calls to ${n.number} will no longer reach this account. After a quarantine period someone else may claim the number.`, "Release number");
    if (!ok) {
      trigger.focus();
      return;
    }
    try {
      const path = `/numbers/${encodeURIComponent(n.number)}`;
      const { etag } = await ctx.api.get(path, { withEtag: true });
      await ctx.api.del(path, { etag });
      announce(`${n.number} was released.`);
      await reload();
      listBox.querySelector("h2").focus();
    } catch (err) {
      listBox.prepend(errorBox(err));
      trigger.focus();
    }
  };

  const claimForm = () => {
    const search = field("Numbers starting with", "prefix", { hint: "Digits, e.g. 1555777 (empty: any)", pointer: "/prefix", attrs: { inputmode: "numeric", maxlength: "16" } });
    const pick = field("Number to claim", "number", { type: "select", pointer: "/number", options: [] });
    const select = pick.querySelector("select");
    const claimButton = h("button", { type: "submit" }, "Claim number");
    const findButton = h("button", { type: "button", class: "secondary" }, "Find numbers");
    const offer = async () => {
      const prefix = search.querySelector("input").value.replace(/[\s().-]/g, "");
      const query = new URLSearchParams({ limit: String(OFFERED) });
      if (prefix) query.set("prefix", prefix);
      const { items } = await ctx.api.get(`/numbers/available?${query}`);
      select.replaceChildren(...items.map((n) => h("option", { value: n.number }, n.number)));
      if (!items.length) select.append(h("option", { value: "", disabled: true, selected: true }, "No numbers available"));
      claimButton.disabled = !items.length;
      announce(items.length ? `${items.length} number${items.length === 1 ? "" : "s"} available.` : "No numbers available.");
    };
    const form = h(
      "form",
      { class: "claim-form", novalidate: true, "aria-labelledby": "claim-title" },
      h("p", { class: "hint" }, "Pick one of the numbers we can give your account now."),
      search,
      h("div", { class: "actions" }, findButton),
      pick,
      field("Label (optional)", "label", { hint: "e.g. Main line", attrs: { maxlength: "100" } }),
      destination("Calls go to", "entry", null, "/entry"),
      h("div", { class: "actions" }, claimButton),
    );
    findButton.addEventListener("click", () => busy(findButton, form, offer));
    search.querySelector("input").addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        findButton.click();
      }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(claimButton, form, async () => {
        const number = select.value;
        if (!number) throw Object.assign(new Error("Pick a number to claim."), { errors: [{ pointer: "/number", message: "Pick a number to claim." }] });
        const body = { number, entry: entryOf(form.elements.entry.value) };
        const label = form.elements.label.value.trim();
        if (label) body.label = label;
        await ctx.api.post("/numbers", body);
        announce(`${number} is yours now.`);
        await reload();
        claimBox.replaceWith((claimBox = await claimSection()));
        listBox.querySelector("h2").focus();
      });
    });
    return { form, offer };
  };
  const claimSection = async () => {
    const { form, offer } = claimForm();
    await offer();
    return h("section", { class: "panel", "aria-labelledby": "claim-title" }, h("h2", { id: "claim-title" }, "Claim a number"), form);
  };

  await loadTargets();
  await reload();
  if (stale()) return;
  let claimBox = null;
  if (manager) {
    claimBox = await claimSection();
    if (stale()) return;
    root.append(claimBox);
  } else {
    root.append(h("p", { class: "hint" }, "Only owners and admins can claim, change or release numbers."));
  }
}
