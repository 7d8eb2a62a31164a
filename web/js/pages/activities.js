// /activities: the signed-in user's feed (missed calls, voicemails, reports, notices; the kind
// "sms" is reserved for inbound texts, which nothing writes yet), newest first. Filters (read
// state, kind, archived) live in the URL; "Show more" follows the cursor.
// Each item can be marked read/unread and archived/restored; "Mark all as read" clears the feed.
// Every change refreshes the nav's unread badge.

import { announce, busy, errorBox, field, fmtDateTime, h } from "../dom.js";

export const title = "Activities";

const KINDS = [
  ["missed_call", "Missed call"],
  ["voicemail", "Voicemail"],
  ["sms", "Text message"],
  ["report", "Report"],
  ["account_notice", "Account notice"],
];
const SHOW = [["", "All"], ["false", "Unread only"], ["true", "Read only"]];
const BOXES = [["false", "Inbox"], ["true", "Archived"], ["any", "Inbox and archived"]];
const LIMIT = 25; // ?limit= overrides it (1-100)

const kindLabel = (k) => (KINDS.find(([v]) => v === k) || [k, k])[1];

/** Where an item leads: a voicemail to the inbox, a call to its detail page. */
function subjectLink(item) {
  if (item.kind === "voicemail") return "/voicemail";
  if (item.call_id) return `/calls/${encodeURIComponent(item.call_id)}`;
  return null;
}

export async function render(root, ctx) {
  const q = ctx.query;
  const filters = { read: q.get("read") || "", kind: q.get("kind") || "", archived: q.get("archived") || "false" };
  const limit = Math.min(100, Math.max(1, Number.parseInt(q.get("limit") || "", 10) || LIMIT));

  const summary = h("p", { class: "feed-summary", id: "feed-summary" });
  const readAll = h("button", { type: "button", class: "secondary" }, "Mark all as read");
  root.append(h("h1", {}, "Activities"), summary, h("div", { class: "actions" }, readAll), filterForm(ctx, filters));

  const list = h("ul", { class: "feed", "aria-labelledby": "feed-title" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, "Show more");
  const errors = h("div", {});
  root.append(h("section", { "aria-labelledby": "feed-title" }, h("h2", { id: "feed-title" }, BOXES.find(([v]) => v === filters.archived)?.[1] || "Inbox"), errors, list, more));

  let cursor = null;
  const setUnread = (n) => {
    summary.textContent = n === 0 ? "You have no unread items." : `You have ${n} unread item${n === 1 ? "" : "s"}.`;
    readAll.disabled = n === 0;
  };

  const query = () => ({
    limit,
    read: filters.read || undefined,
    kind: filters.kind || undefined,
    archived: filters.archived,
  });

  const load = async (append) => {
    const page = await ctx.api.get("/activities", { query: { ...query(), cursor: append ? cursor : undefined } });
    if (!append) list.replaceChildren();
    for (const item of page.items) list.append(itemView(item));
    if (!append && !page.items.length) list.append(h("li", { class: "feed-empty" }, "Nothing here."));
    if (append && !page.items.length) announce("That is everything.");
    cursor = page.next_cursor;
    more.hidden = !cursor;
    setUnread(page.unread);
    return page;
  };

  const change = async (item, body, done, control) => {
    await busy(control, null, async () => {
      try {
        const updated = await ctx.api.patch(`/activities/${encodeURIComponent(item.id)}`, body);
        announce(done);
        const keep = matches(updated, filters);
        const li = list.querySelector(`[data-id="${CSS.escape(item.id)}"]`);
        if (li) {
          if (keep) {
            const fresh = itemView(updated);
            li.replaceWith(fresh);
            fresh.querySelector(`button[data-act="${control.dataset.act}"]`)?.focus();
          } else {
            const next = li.nextElementSibling || li.previousElementSibling;
            li.remove();
            (next?.querySelector("button") || readAll).focus();
          }
        }
        const page = await ctx.api.get("/activities", { query: { limit: 1 } });
        setUnread(page.unread);
        ctx.refreshNav();
      } catch (err) {
        errors.replaceChildren(errorBox(err));
      }
    });
  };

  const itemView = (item) => {
    const href = subjectLink(item);
    const heading = href ? h("a", { href, "data-link": "" }, item.title || kindLabel(item.kind)) : item.title || kindLabel(item.kind);
    const name = item.title || kindLabel(item.kind);
    const readButton = h(
      "button",
      { type: "button", class: "secondary", dataset: { act: "read" }, "aria-label": item.read ? `Mark unread: ${name}` : `Mark read: ${name}` },
      item.read ? "Mark unread" : "Mark read",
    );
    readButton.addEventListener("click", () => change(item, { read: !item.read }, item.read ? "Marked unread." : "Marked read.", readButton));
    const archiveButton = h(
      "button",
      { type: "button", class: "link", dataset: { act: "archive" }, "aria-label": item.archived ? `Restore to inbox: ${name}` : `Archive: ${name}` },
      item.archived ? "Restore to inbox" : "Archive",
    );
    archiveButton.addEventListener("click", () => change(item, { archived: !item.archived }, item.archived ? "Restored to the inbox." : "Archived.", archiveButton));
    const caller = item.data && item.data.caller;
    return h(
      "li",
      { class: `feed-item${item.read ? "" : " unread"}`, dataset: { id: item.id } },
      h(
        "h3",
        {},
        item.read ? null : h("span", { class: "feed-marker" }, "Unread"),
        item.read ? null : h("span", { class: "sr-only" }, ": "),
        heading,
      ),
      h(
        "p",
        { class: "feed-meta" },
        kindLabel(item.kind),
        " · ",
        h("time", { datetime: item.created_at }, fmtDateTime(item.created_at)),
        caller && !(item.title || "").includes(caller) ? ` · from ${caller}` : null,
        item.archived ? " · archived" : null,
      ),
      h("div", { class: "actions" }, readButton, archiveButton),
    );
  };

  readAll.addEventListener("click", () =>
    busy(readAll, null, async () => {
      try {
        const r = await ctx.api.post("/activities/read-all");
        announce(r.updated === 1 ? "1 item marked read." : `${r.updated} items marked read.`);
        await load(false);
        ctx.refreshNav();
        summary.setAttribute("tabindex", "-1");
        summary.focus();
      } catch (err) {
        errors.replaceChildren(errorBox(err));
      }
    }),
  );
  more.addEventListener("click", () =>
    busy(more, null, async () => {
      const before = list.children.length;
      try {
        await load(true);
        list.children[before]?.querySelector("a, button")?.focus();
      } catch (err) {
        errors.replaceChildren(errorBox(err));
      }
    }),
  );

  await load(false);
  ctx.refreshNav();
}

/** Does an item still belong in the list under these filters? */
function matches(item, filters) {
  if (filters.read === "true" && !item.read) return false;
  if (filters.read === "false" && item.read) return false;
  if (filters.archived === "false" && item.archived) return false;
  if (filters.archived === "true" && !item.archived) return false;
  return true;
}

function filterForm(ctx, filters) {
  const form = h(
    "form",
    { class: "filters", role: "search", "aria-label": "Filter activities" },
    h(
      "div",
      { class: "filter-grid" },
      field("Show", "read", { type: "select", value: filters.read, options: SHOW }),
      field("Kind", "kind", { type: "select", value: filters.kind, options: [["", "All kinds"], ...KINDS] }),
      field("Folder", "archived", { type: "select", value: filters.archived, options: BOXES }),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Apply filters")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    if (form.elements.read.value) next.set("read", form.elements.read.value);
    if (form.elements.kind.value) next.set("kind", form.elements.kind.value);
    if (form.elements.archived.value !== "false") next.set("archived", form.elements.archived.value);
    ctx.navigate(`/activities${next.toString() ? `?${next}` : ""}`);
  });
  return form;
}
