// /menus: the tenant's IVR menus (auto attendants). Owners and admins create a menu by name (it
// starts with a text greeting and no keys, then opens in the editor at /menus/:id) and delete
// one after a confirmation dialog (DELETE with If-Match; a menu still used by a number, the
// account's business-hours entries or another menu is refused with a sentence naming them).

import { confirmDialog } from "../confirm.js";
import { announce, busy, errorBox, field, h, stackOnPhones, table } from "../dom.js";

export const title = "IVR menus";

const isManager = (session) => session && (session.role === "owner" || session.role === "admin");

/** A short human description of a menu's greeting. */
export function greetingText(greeting, prompts = []) {
  if (!greeting) return "—";
  if (greeting.text) return `Text: “${greeting.text}”`;
  const p = prompts.find((x) => x.id === greeting.prompt_id);
  return p ? `Recording: ${p.name}` : "Recording";
}

export async function render(root, ctx) {
  const manager = isManager(ctx.session);
  root.append(h("h1", {}, "IVR menus"));
  root.append(h("p", { class: "hint" }, "A menu greets callers and sends them on by the key they press. Point a number at a menu on the Numbers page."));
  const listBox = h("section", { "aria-labelledby": "menus-list" });
  const dialog = confirmDialog();
  root.append(listBox, dialog.el);

  const reload = async () => {
    const [{ items }, prompts] = await Promise.all([ctx.api.get("/ivr-menus"), ctx.api.get("/prompts").then((r) => r.items || []).catch(() => [])]);
    listBox.replaceChildren(h("h2", { id: "menus-list", tabindex: "-1" }, "Your menus"), menusTable(items, prompts));
    return items;
  };

  const menusTable = (items, prompts) => {
    if (!items.length) return h("p", {}, manager ? "No menus yet. Create one below." : "No menus yet.");
    const headers = ["Name", "Greeting", "Keys"];
    if (manager) headers.push("Actions");
    const rows = items.map((m) => {
      const keys = m.options.map((o) => o.digit).join(" ");
      const cells = [
        h("a", { href: `/menus/${encodeURIComponent(m.id)}`, "data-link": "" }, m.name),
        greetingText(m.greeting, prompts),
        keys || "None",
      ];
      if (manager) {
        cells.push(
          h(
            "div",
            { class: "actions row-actions" },
            h("a", { class: "button secondary", href: `/menus/${encodeURIComponent(m.id)}`, "data-link": "", "aria-label": `Edit ${m.name}` }, "Edit"),
            h("button", { type: "button", class: "danger", "aria-label": `Delete ${m.name}`, onclick: (e) => remove(m, e.currentTarget) }, "Delete"),
          ),
        );
      }
      return cells;
    });
    return stackOnPhones(table(`${items.length} menu${items.length === 1 ? "" : "s"}`, headers, rows));
  };

  const remove = async (menu, trigger) => {
    const ok = await dialog.ask(`Delete ${menu.name}?`, `Callers can no longer reach ${menu.name}. This cannot be undone.`, "Delete menu");
    if (!ok) {
      trigger.focus();
      return;
    }
    try {
      const path = `/ivr-menus/${encodeURIComponent(menu.id)}`;
      const { etag } = await ctx.api.get(path, { withEtag: true });
      await ctx.api.del(path, { etag });
      announce(`${menu.name} was deleted.`);
      await reload();
      listBox.querySelector("h2").focus();
    } catch (err) {
      await reload().catch(() => {});
      listBox.prepend(errorBox(err));
      const again = [...listBox.querySelectorAll("button")].find((b) => b.getAttribute("aria-label") === `Delete ${menu.name}`);
      (again || listBox.querySelector("h2")).focus();
    }
  };

  const createForm = () => {
    const form = h(
      "form",
      { class: "menu-create", novalidate: true, "aria-labelledby": "menu-create-title" },
      field("Menu name", "name", { required: true, autocomplete: "off", hint: "For example “Main menu” or “Support”." }),
      h("div", { class: "actions" }, h("button", { type: "submit" }, "Create menu")),
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      busy(form.querySelector("button[type=submit]"), form, async () => {
        const name = form.elements.name.value.trim();
        const body = { name, greeting: { text: `Thank you for calling. ${name ? `This is ${name}.` : ""}`.trim() } };
        const menu = await ctx.api.post("/ivr-menus", body);
        announce(`${menu.name} was created. Set up its keys now.`);
        await ctx.navigate(`/menus/${encodeURIComponent(menu.id)}`);
      });
    });
    return h("section", { class: "panel menu-create-panel", "aria-labelledby": "menu-create-title" }, h("h2", { id: "menu-create-title" }, "Create a menu"), form);
  };

  await reload();
  if (!listBox.isConnected) return; // a newer navigation replaced this page meanwhile
  if (manager) root.append(createForm());
  else root.append(h("p", { class: "hint" }, "Only owners and admins can create, change or delete menus."));
}
