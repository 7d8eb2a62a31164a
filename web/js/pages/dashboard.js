// /: today's calls, missed calls, unheard voicemails, unread activities, the trial, latest calls.
import { errorBox, fmtDateTime, fmtDuration, h, stackOnPhones, table } from "../dom.js";

export const title = "Dashboard";

function card(label, value, link) {
  return h(
    "section",
    { class: "card", "aria-label": label },
    h("h2", { class: "card-label" }, label),
    h("p", { class: "value" }, String(value)),
    link ? h("a", { href: link[0], "data-link": "" }, link[1]) : null,
  );
}

function trialBox(trial) {
  if (trial.status !== "trial" || trial.days_left === null || trial.days_left === undefined) {
    return trial.status === "suspended"
      ? h("p", { class: "cta", role: "alert" }, "Your account is suspended: calls are not answered. ", h("a", { href: "/settings", "data-link": "" }, "Contact us from Settings to add billing."))
      : null;
  }
  const n = trial.days_left;
  const when = n === 0 ? "Your trial has ended" : `Your trial ends in ${n} ${n === 1 ? "day" : "days"}`;
  return h(
    "p",
    { class: "cta trial", role: "note" },
    h("strong", {}, when),
    trial.ends_at ? ` (${fmtDateTime(trial.ends_at)}). ` : ". ",
    "To keep your numbers and calls, ",
    h("a", { href: "/settings", "data-link": "" }, "add billing in Settings"),
    ".",
  );
}

export async function render(root, ctx) {
  root.append(h("h1", {}, "Dashboard"));
  const d = await ctx.api.get("/dashboard");
  const trial = trialBox(d.trial);
  if (trial) root.append(trial);
  root.append(
    h(
      "div",
      { class: "cards dash-cards" },
      card("Calls today", d.today.calls, ["/calls", "Call history"]),
      card("Missed today", d.today.missed, ["/calls?disposition=missed", "Missed calls"]),
      card("Unheard voicemails", d.unheard_voicemails, ["/voicemail", "Listen"]),
      card("Unread activities", d.unread_activities, ["/activities", "Activities"]),
    ),
  );
  const latest = h("section", { "aria-labelledby": "latest-calls" }, h("h2", { id: "latest-calls" }, "Latest calls"));
  root.append(latest);
  try {
    const page = await ctx.api.get("/calls", { query: { limit: 5 } });
    if (!page.items.length) {
      latest.append(h("p", { class: "muted" }, "No calls yet. Calls to your numbers appear here."));
    } else {
      latest.append(
        stackOnPhones(
          table(
            "The five latest calls",
            ["When", "From", "To", "Result", "Length"],
            page.items.map((c) => [
              h("a", { href: `/calls/${encodeURIComponent(c.call_id)}`, "data-link": "" }, fmtDateTime(c.started_at)),
              c.caller || "Unknown",
              c.number_called,
              h("span", { class: `disp-${c.disposition}` }, c.disposition),
              c.duration_s === null || c.duration_s === undefined ? "" : fmtDuration(c.duration_s),
            ]),
          ),
        ),
        h("p", {}, h("a", { href: "/calls", "data-link": "" }, "All calls")),
      );
    }
  } catch (err) {
    latest.append(errorBox(err));
  }
}
