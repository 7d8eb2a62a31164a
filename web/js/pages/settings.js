// /settings: the tenant's name, time zone, business hours and holidays, and the outbound-call
// policy (which countries click-to-call may ring, the monthly spend cap, the longest call and the
// call rate); admins and owners change them, everyone can read them.
import { busy, field, h } from "../dom.js";

export const title = "Settings";

const DAYS = [
  ["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"],
  ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"],
];

function zones(current) {
  let list = [];
  try {
    list = Intl.supportedValuesOf("timeZone");
  } catch {
    list = [];
  }
  if (!list.includes("UTC")) list = ["UTC", ...list];
  if (current && !list.includes(current)) list = [current, ...list];
  return list.map((z) => [z, z.replace(/_/g, " ")]);
}

/** A {start, end} range as "HH:MM" strings; the API allows 24:00 as an end (a time input cannot). */
const endOut = (v) => (v === "00:00" ? "24:00" : v);
const endIn = (v) => (v === "24:00" ? "00:00" : v);

export async function render(root, ctx) {
  const { data: tenant, etag } = await ctx.api.get("/tenant", { withEtag: true });
  const canEdit = ["owner", "admin"].includes(ctx.session?.role);
  root.append(h("h1", {}, "Settings"));
  if (!canEdit) root.append(h("p", { class: "panel", role: "note" }, "Only the account's owner and admins can change these settings. You can see them here."));
  root.append(trialPanel(tenant));

  const state = { etag };
  const form = h("form", { novalidate: true, class: "settings-form", "aria-label": "Company settings" });
  const daysBox = h("div", { class: "bh-days" });
  const alwaysOpen = field("Always open (no business hours)", "always_open", { type: "checkbox", value: tenant.business_hours === null, pointer: "/business_hours" });
  const holidayList = h("ul", { class: "plain holiday-list" });
  const submit = h("button", { type: "submit" }, "Save settings");

  DAYS.forEach(([key, label]) => {
    const ranges = (tenant.business_hours && tenant.business_hours[key]) || [];
    daysBox.append(dayFieldset(key, label, ranges));
  });
  (tenant.holidays || []).forEach((hd) => holidayList.append(holidayRow(hd)));
  const syncAlways = () => {
    daysBox.hidden = alwaysOpen.querySelector("input").checked;
  };
  alwaysOpen.querySelector("input").addEventListener("change", syncAlways);
  syncAlways();

  form.append(
    field("Company name", "name", { value: tenant.name, required: true, autocomplete: "organization" }),
    field("Time zone", "time_zone", { type: "select", value: tenant.time_zone, options: zones(tenant.time_zone), hint: "Business hours and holidays follow this zone." }),
    h(
      "fieldset",
      { class: "bh" },
      h("legend", {}, "Business hours"),
      h("p", { class: "hint" }, "A day with no hours is closed all day. Calls outside these hours go to the closed-hours entry."),
      alwaysOpen,
      daysBox,
    ),
    h(
      "fieldset",
      { class: "holidays", dataset: { pointer: "/holidays" } },
      h("legend", {}, "Holidays"),
      h("p", { class: "field-error", role: "alert", hidden: true }),
      h("p", { class: "hint" }, "Closed all day on these dates (in the company's time zone)."),
      holidayList,
      h("button", { type: "button", class: "secondary", onclick: () => { const row = holidayRow({ date: "", name: "" }); holidayList.append(row); row.querySelector("input").focus(); } }, "Add a holiday"),
    ),
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!canEdit) return;
    form.querySelector(".saved")?.remove();
    busy(submit, form, async () => {
      const body = readForm(form, alwaysOpen.querySelector("input").checked);
      try {
        const res = await ctx.api.patch("/tenant", body, { etag: state.etag, withEtag: true });
        state.etag = res.etag;
      } catch (err) {
        if (err.status === 412) err.message = "Someone else changed these settings while you were editing. Reload the page to see their changes.";
        throw err;
      }
      submit.after(h("p", { class: "success saved", role: "status" }, "Settings saved."));
    });
  });
  if (!canEdit) {
    for (const el of form.querySelectorAll("input, select, button")) el.disabled = true;
  }
  root.append(form);
  root.append(await policySection(ctx, canEdit));
}

/** The outbound-call policy: GET/PUT /outbound-policy (the whole document, If-Match). */
async function policySection(ctx, canEdit) {
  const { data: policy, etag } = await ctx.api.get("/outbound-policy", { withEtag: true });
  const state = { etag };
  const summary = h("p", { class: "muted policy-summary" });
  const showSummary = (p) => {
    const spent =
      p.spent_this_month === null
        ? `Spending this month is not known yet (no rate deck is published); the cap is ${p.monthly_spend_cap}.`
        : `Spent this month: ${p.spent_this_month} of ${p.monthly_spend_cap} ${p.currency}.`;
    summary.textContent =
      `Calls may ring: ${p.effective_countries.join(", ") || "no country"}` +
      ` (home country: ${p.home_country || "unknown"}). ${spent}` +
      ` Never called: ${p.always_blocked.join(", ")}.`;
  };
  showSummary(policy);
  const form = h("form", { novalidate: true, class: "settings-form policy-form", "aria-label": "Outbound calls" });
  const submit = h("button", { type: "submit" }, "Save outbound policy");
  form.append(
    h("h2", {}, "Outbound calls"),
    summary,
    field("Countries calls may ring", "allowed_countries", {
      value: (policy.allowed_countries || []).join(", "),
      hint: "Two-letter country codes separated by commas, e.g. US, CA. Empty: your home country only.",
    }),
    field("Monthly spend cap", "monthly_spend_cap", { type: "number", value: policy.monthly_spend_cap, required: true, attrs: { min: "0", step: "0.01" }, hint: `In ${policy.currency || "the rate deck's currency"}. 0 stops all calls.` }),
    field("Longest call (seconds)", "max_call_duration_s", { type: "number", value: policy.max_call_duration_s, required: true, attrs: { min: "60", step: "1" } }),
    field("Calls at once", "max_concurrent_calls", { type: "number", value: policy.max_concurrent_calls, required: true, attrs: { min: "1", step: "1" } }),
    field("Calls per minute", "calls_per_minute", { type: "number", value: policy.calls_per_minute, required: true, attrs: { min: "1", step: "1" } }),
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!canEdit) return;
    form.querySelector(".saved")?.remove();
    busy(submit, form, async () => {
      const data = new FormData(form);
      const countries = String(data.get("allowed_countries") || "").split(",").map((c) => c.trim()).filter(Boolean);
      const number = (name) => (String(data.get(name) ?? "").trim() === "" ? null : Number(data.get(name)));
      const body = {
        allowed_countries: countries.length ? countries : null,
        monthly_spend_cap: String(data.get("monthly_spend_cap") || "").trim() || null,
        max_call_duration_s: number("max_call_duration_s"),
        max_concurrent_calls: number("max_concurrent_calls"),
        calls_per_minute: number("calls_per_minute"),
      };
      let res;
      try {
        res = await ctx.api.put("/outbound-policy", body, { etag: state.etag, withEtag: true });
      } catch (err) {
        if (err.status === 412) err.message = "Someone else changed the outbound policy while you were editing. Reload the page to see their changes.";
        throw err;
      }
      state.etag = res.etag;
      showSummary(res.data);
      submit.after(h("p", { class: "success saved", role: "status" }, "Outbound policy saved."));
    });
  });
  if (!canEdit) {
    for (const el of form.querySelectorAll("input, select, button")) el.disabled = true;
  }
  return form;
}

function trialPanel(tenant) {
  return h(
    "p",
    { class: "muted" },
    `Region: ${tenant.region}. Status: ${tenant.status}.`,
    tenant.status === "trial" ? " To keep your service after the trial, contact us to add billing to your account." : "",
  );
}

function dayFieldset(key, label, ranges) {
  const list = h("div", { class: "bh-ranges" });
  const fs = h(
    "fieldset",
    { class: "bh-day", dataset: { pointer: `/business_hours/${key}`, day: key } },
    h("legend", {}, label),
    h("p", { class: "field-error", role: "alert", hidden: true }),
    list,
    h("p", { class: "bh-closed muted" }, "Closed"),
    h("button", { type: "button", class: "link", onclick: () => { addRange(list, key, label, { start: "09:00", end: "17:00" }); renumber(fs); fs.querySelector(".bh-range:last-child input").focus(); } }, `Add hours on ${label}`),
  );
  ranges.forEach((r) => addRange(list, key, label, r));
  renumber(fs);
  return fs;
}

function addRange(list, key, label, r) {
  const row = h("div", { class: "bh-range" });
  row.append(
    h("p", { class: "field-error", role: "alert", hidden: true }),
    field(`${label} opens`, `${key}-start`, { type: "time", value: r.start }),
    field(`${label} closes`, `${key}-end`, { type: "time", value: endIn(r.end), hint: "00:00 means midnight" }),
    h("button", { type: "button", class: "link", "aria-label": `Remove these hours on ${label}`, onclick: () => { const fs = row.closest("fieldset"); row.remove(); renumber(fs); } }, "Remove"),
  );
  list.append(row);
}

/** Keep each range's JSON Pointers (/business_hours/mon/0/start …) in step with its position. */
function renumber(fs) {
  const key = fs.dataset.day;
  const rows = [...fs.querySelectorAll(".bh-range")];
  rows.forEach((row, i) => {
    row.dataset.pointer = `/business_hours/${key}/${i}`;
    const [start, end] = row.querySelectorAll(".field");
    start.dataset.pointer = `/business_hours/${key}/${i}/start`;
    end.dataset.pointer = `/business_hours/${key}/${i}/end`;
  });
  fs.querySelector(".bh-closed").hidden = rows.length > 0;
}

function holidayRow(hd) {
  const row = h("li", { class: "holiday" });
  row.append(
    field("Holiday date", "holiday-date", { type: "date", value: hd.date || "", required: true }),
    field("Holiday name", "holiday-name", { value: hd.name || "", hint: "Optional, e.g. New Year's Day" }),
    h("button", { type: "button", class: "link", "aria-label": `Remove the holiday ${hd.date || ""}`.trim(), onclick: () => { row.remove(); } }, "Remove"),
  );
  return row;
}

function readForm(form, alwaysOpen) {
  const data = new FormData(form);
  const body = { name: String(data.get("name") || "").trim(), time_zone: String(data.get("time_zone") || "") };
  if (alwaysOpen) {
    body.business_hours = null;
  } else {
    body.business_hours = {};
    for (const fs of form.querySelectorAll(".bh-day")) {
      const ranges = [...fs.querySelectorAll(".bh-range")].map((row) => {
        const [start, end] = row.querySelectorAll("input");
        return { start: start.value, end: endOut(end.value) };
      });
      if (ranges.length) body.business_hours[fs.dataset.day] = ranges;
    }
  }
  const holidays = [...form.querySelectorAll(".holiday")];
  holidays.forEach((row, i) => {
    const [date, name] = row.querySelectorAll(".field");
    date.dataset.pointer = `/holidays/${i}/date`;
    name.dataset.pointer = `/holidays/${i}/name`;
  });
  body.holidays = holidays.map((row) => {
    const [date, name] = row.querySelectorAll("input");
    const out = { date: date.value };
    if (name.value.trim()) out.name = name.value.trim();
    return out;
  });
  return body;
}
