// /calls: the call history, newest first, with filters (dates, user, number, direction,
// disposition) and cursor paging. The filters, the page size and the cursor live in the URL, so
// reload and Back show the same page; the cursor of the page before each page is remembered in
// sessionStorage (a stack kept as "previous of" links), so "Previous page" works after a reload.

import { errorBox, field, fmtDateTime, fmtDuration, h, showErrors, stackOnPhones, table } from "../dom.js";

export const title = "Call history";

const FILTERS = ["from", "to", "user_id", "number", "direction", "disposition"];
const DIRECTIONS = [["inbound", "Inbound"], ["outbound", "Outbound"], ["click_to_call", "Click-to-call"]];
const DISPOSITIONS = [
  ["answered", "Answered"],
  ["missed", "Missed"],
  ["voicemail", "Voicemail"],
  ["abandoned", "Abandoned"],
  ["rejected", "Rejected"],
  ["failed", "Failed"],
];
const PAGE_SIZES = ["10", "25", "50", "100"];
const DEFAULT_LIMIT = "25";
const PREV_KEY = "calls.prev"; // sessionStorage: {"<filters>|<cursor>": "<previous cursor or ''>"}

export const label = (list, value) => (list.find(([v]) => v === value) || [value, value || ""])[1];
export { DIRECTIONS, DISPOSITIONS };

export async function render(root, ctx) {
  const q = ctx.query;
  const limit = q.get("limit") || DEFAULT_LIMIT;
  const cursor = q.get("cursor") || "";

  root.append(h("h1", {}, "Call history"));

  const [users, numbers] = await Promise.all([
    ctx.api.get("/users").then((r) => r.items || []).catch(() => []),
    ctx.api.get("/numbers").then((r) => r.items || []).catch(() => []),
  ]);
  const userName = new Map(users.map((u) => [u.id, u.name]));

  // Members see their own calls only (the API refuses another user): no user picker for them.
  const manager = ["owner", "admin"].includes(ctx.session?.role);
  const form = filterForm(q, limit, manager ? users : null, numbers);
  root.append(form);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const name of FILTERS) {
      const v = form.elements[name]?.value.trim();
      if (v) next.set(name, v);
    }
    const size = form.elements.limit.value;
    if (size && size !== DEFAULT_LIMIT) next.set("limit", size);
    ctx.navigate(`/calls${next.toString() ? `?${next}` : ""}`);
  });
  form.querySelector("button.clear").addEventListener("click", () => ctx.navigate("/calls"));

  const results = h("section", { "aria-labelledby": "calls-results" }, h("h2", { id: "calls-results" }, "Calls"));
  root.append(results);

  const query = { limit };
  for (const name of FILTERS) {
    const v = q.get(name);
    if (!v) continue;
    query[name] = name === "from" || name === "to" ? dayStart(v, name === "to" ? 1 : 0) : v;
  }
  if (cursor) query.cursor = cursor;

  let page;
  try {
    page = await ctx.api.get("/calls", { query });
  } catch (err) {
    if (err.status === 401) throw err;
    // Validation errors point at #query/<name>: the filter form shows them next to the field.
    if (err.errors?.length) {
      showErrors(form, inFormWords(err));
      results.append(h("p", {}, "Correct the filters above to see calls."));
    } else {
      results.append(errorBox(err));
    }
    if (err.errors?.some((e) => e.pointer === "#query/cursor")) {
      results.append(h("p", {}, h("a", { href: withCursor(q, null), "data-link": "" }, "Go to the first page")));
    }
    return;
  }

  const key = filterKey(q);
  const prev = readPrev();
  if (page.next_cursor) {
    prev[`${key}|${page.next_cursor}`] = cursor;
    writePrev(prev);
  }

  const caption = describeFilters(q, userName) || "All calls, newest first";
  if (!page.items.length) {
    results.append(h("p", { class: "calls-empty" }, cursor ? "No more calls." : "No calls match these filters."));
  } else {
    results.append(
      stackOnPhones(table(
        caption,
        ["Time", "From", "To / number", "Direction", "Disposition", "Duration", "User"],
        page.items.map((c) => [
          h("a", { href: `/calls/${encodeURIComponent(c.call_id)}`, "data-link": "" }, fmtDateTime(c.started_at)),
          c.caller || "Unknown",
          c.number_called,
          label(DIRECTIONS, c.direction),
          h("span", { class: `disp disp-${c.disposition}` }, label(DISPOSITIONS, c.disposition)),
          c.duration_s == null ? "—" : fmtDuration(c.duration_s),
          c.user_id ? userName.get(c.user_id) || c.user_id : "—",
        ]),
      )),
    );
  }

  const nav = h("nav", { class: "actions pager", "aria-label": "Call history pages" });
  if (cursor) {
    const before = prev[`${key}|${cursor}`];
    nav.append(h("a", { class: "button secondary", href: withCursor(q, before || null), "data-link": "", rel: "prev" }, "Previous page"));
  }
  if (page.next_cursor) {
    nav.append(h("a", { class: "button secondary", href: withCursor(q, page.next_cursor), "data-link": "", rel: "next" }, "Next page"));
  }
  if (nav.children.length) results.append(nav);
}

/** The API's validation messages in the form's words (its `to` is the day after "To date"). */
function inFormWords(err) {
  err.errors = err.errors.map((e) => {
    if (e.pointer === "#query/to" && /after/.test(e.message)) {
      return { ...e, message: "The To date cannot be before the From date" };
    }
    return { ...e, message: String(e.message || "").replace(/`/g, "") };
  });
  return err;
}

function filterForm(q, limit, users, numbers) {
  const userOptions = [["", "Everyone"], ...(users || []).map((u) => [u.id, u.extension ? `${u.name} (ext. ${u.extension})` : u.name])];
  const numberOptions = [["", "Any number"], ...numbers.map((n) => [n.number, n.label ? `${n.number} · ${n.label}` : n.number])];
  const current = q.get("number");
  if (current && !numbers.some((n) => n.number === current)) numberOptions.push([current, current]);
  const sizes = PAGE_SIZES.includes(limit) ? PAGE_SIZES : [...PAGE_SIZES, limit].sort((a, b) => a - b);
  return h(
    "form",
    { class: "filters", "aria-label": "Filter calls", novalidate: true },
    h(
      "div",
      { class: "filter-grid" },
      field("From date", "from", { type: "date", value: q.get("from") || "", pointer: "#query/from" }),
      field("To date (inclusive)", "to", { type: "date", value: q.get("to") || "", pointer: "#query/to" }),
      users && field("User", "user_id", { type: "select", value: q.get("user_id") || "", options: userOptions, pointer: "#query/user_id" }),
      field("Number", "number", { type: "select", value: current || "", options: numberOptions, pointer: "#query/number" }),
      field("Direction", "direction", { type: "select", value: q.get("direction") || "", options: [["", "Any direction"], ...DIRECTIONS], pointer: "#query/direction" }),
      field("Disposition", "disposition", { type: "select", value: q.get("disposition") || "", options: [["", "Any outcome"], ...DISPOSITIONS], pointer: "#query/disposition" }),
      field("Calls per page", "limit", { type: "select", value: limit, options: sizes.map((s) => [s, s]), pointer: "#query/limit" }),
    ),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Show calls"), h("button", { type: "button", class: "secondary clear" }, "Clear filters")),
  );
}

/** A yyyy-mm-dd date (the browser's time zone) as the ISO instant its day starts, plus `days`. */
function dayStart(value, days) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  if (!m) return value; // let the API say what is wrong with it
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]) + days);
  return d.toISOString();
}

function describeFilters(q, userName) {
  const parts = [];
  if (q.get("from")) parts.push(`from ${q.get("from")}`);
  if (q.get("to")) parts.push(`to ${q.get("to")}`);
  if (q.get("user_id")) parts.push(`for ${userName.get(q.get("user_id")) || q.get("user_id")}`);
  if (q.get("number")) parts.push(`number ${q.get("number")}`);
  if (q.get("direction")) parts.push(label(DIRECTIONS, q.get("direction")).toLowerCase());
  if (q.get("disposition")) parts.push(label(DISPOSITIONS, q.get("disposition")).toLowerCase());
  return parts.length ? `Calls ${parts.join(", ")}` : "";
}

function filterKey(q) {
  return [...FILTERS, "limit"].map((n) => q.get(n) || "").join("|");
}

function withCursor(q, cursor) {
  const next = new URLSearchParams(q);
  if (cursor) next.set("cursor", cursor);
  else next.delete("cursor");
  const s = next.toString();
  return `/calls${s ? `?${s}` : ""}`;
}

function readPrev() {
  try {
    return JSON.parse(sessionStorage.getItem(PREV_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

function writePrev(map) {
  const entries = Object.entries(map);
  // Keep the memory small: the most recent 200 links are plenty for paging back.
  const kept = Object.fromEntries(entries.slice(-200));
  try {
    sessionStorage.setItem(PREV_KEY, JSON.stringify(kept));
  } catch {
    // Storage full or disabled: "Previous page" falls back to the first page.
  }
}
