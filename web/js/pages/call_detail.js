// /calls/:id: one call — the summary, the caller's way through the IVR, every leg the edge
// placed (destination, answered, duration, price), the recording if there is one, and the RTP
// quality of each leg (MOS, loss, jitter).

import { busy, errorBox, fmtDateTime, fmtDuration, h, mount, stackOnPhones, table } from "../dom.js";
import { createPlayer } from "../player.js";
import { DIRECTIONS, DISPOSITIONS, label } from "./calls.js";

export const title = "Call details";

const LEG_KINDS = [["caller", "Caller"], ["forward", "Forward"], ["click_to_call", "Click-to-call"]];
const OUTCOMES = [
  ["answered", "Answered"],
  ["no_answer", "No answer"],
  ["busy", "Busy"],
  ["declined", "Declined"],
  ["failed", "Failed"],
  ["cancelled", "Cancelled"],
];
const ACTIONS = {
  go_menu: "Go to menu",
  transfer_user: "Transfer to user",
  forward_external: "Forward to number",
  dial_by_extension: "Dial by extension",
  voicemail: "Voicemail",
  repeat: "Repeat the menu",
  hang_up: "Hang up",
  invalid: "Invalid choice",
  loop_limit: "Too many repeats: hang up",
  menu_not_found: "Menu missing: hang up",
};

export async function render(root, ctx) {
  const id = ctx.params.id;
  let call;
  try {
    call = await ctx.api.get(`/calls/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 401) throw err;
    root.append(h("h1", {}, "Call details"));
    root.append(
      err.status === 404
        ? h("p", { class: "error", role: "alert" }, "This call does not exist, or it is not one you may see.")
        : errorBox(err),
      h("p", {}, h("a", { href: "/calls", "data-link": "" }, "Back to the call history")),
    );
    return;
  }

  const [users, menus] = await Promise.all([
    ctx.api.get("/users").then((r) => r.items || []).catch(() => []),
    ctx.api.get("/ivr-menus").then((r) => r.items || []).catch(() => []),
  ]);
  const userName = new Map(users.map((u) => [u.id, u.name]));
  const menuName = new Map(menus.map((m) => [m.id, m.name]));

  const from = call.caller || "an unknown caller";
  root.append(
    h("p", { class: "crumbs" }, h("a", { href: "/calls", "data-link": "" }, "Call history")),
    h("h1", {}, `Call from ${from}`),
    summary(call, userName),
    h("h2", {}, "IVR path"),
    ivrPath(call, userName, menuName),
    h("h2", {}, "Legs"),
    legs(call),
    h("h2", {}, "Call quality"),
    quality(call),
    h("h2", {}, "Recording"),
    recording(call, ctx),
  );
}

function summary(call, userName) {
  const rows = [
    ["Started", fmtDateTime(call.started_at)],
    ["Answered", call.answered_at ? fmtDateTime(call.answered_at) : "Not answered"],
    ["Ended", call.ended_at ? fmtDateTime(call.ended_at) : "Still in progress"],
    ["Duration", call.duration_s == null ? "—" : fmtDuration(call.duration_s)],
    ["From", call.caller || "Unknown"],
    ["To / number", call.number_called],
    ["Direction", label(DIRECTIONS, call.direction)],
    ["Disposition", label(DISPOSITIONS, call.disposition)],
    ["User", call.user_id ? userName.get(call.user_id) || call.user_id : "—"],
  ];
  if (call.hangup_reason) rows.push(["Hang-up reason", call.hangup_reason]);
  if (call.has_voicemail) {
    rows.push(["Voicemail", h("a", { href: "/voicemail", "data-link": "" }, "Left a voicemail: open the inbox")]);
  }
  return h("dl", { class: "summary" }, rows.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function describeInput(input) {
  if (!input) return "—";
  if (/^[0-9*#]$/.test(input)) return `Pressed ${input}`;
  if (input === "entry") return "Call arrived";
  if (input === "timeout") return "No key pressed (timeout)";
  if (input === "invalid") return "Invalid key";
  if (input === "no_answer") return "No answer";
  if (input.startsWith("extension:")) return `Dialled extension ${input.slice("extension:".length)}`;
  return input;
}

function describeTarget(step, userName, menuName) {
  const t = step.target;
  if (!t) return "—";
  return menuName.get(t) || userName.get(t) || t;
}

function ivrPath(call, userName, menuName) {
  if (!call.path.length) return h("p", {}, "The call did not go through an IVR menu.");
  return stackOnPhones(table(
    "The IVR steps, in order",
    ["Step", "Menu", "Digit pressed", "Action", "Led to"],
    call.path.map((step, i) => [
      String(i + 1),
      step.menu_id ? menuName.get(step.menu_id) || step.menu_id : "—",
      describeInput(step.input),
      ACTIONS[step.action] || step.action,
      describeTarget(step, userName, menuName),
    ]),
  ));
}

function seconds(a, b) {
  if (!a || !b) return null;
  return (new Date(b).getTime() - new Date(a).getTime()) / 1000;
}

function price(p) {
  if (!p) return "—";
  const cost = Number(p.cost);
  let text;
  try {
    text = new Intl.NumberFormat(undefined, { style: "currency", currency: p.currency, maximumFractionDigits: 4 }).format(cost);
  } catch {
    text = `${p.cost} ${p.currency}`;
  }
  return `${text} (${Number(p.rate_per_min)} ${p.currency}/min)`;
}

function legs(call) {
  if (!call.legs.length) return h("p", {}, "No legs were recorded for this call.");
  return stackOnPhones(table(
    "The legs of this call",
    ["Leg", "Destination", "Answered", "Outcome", "Talk time", "Price"],
    call.legs.map((leg) => {
      const talk = seconds(leg.answered_at, leg.ended_at);
      return [
        label(LEG_KINDS, leg.kind),
        leg.destination || (leg.kind === "caller" ? call.caller || "—" : "—"),
        leg.answered_at ? `Yes, ${fmtDateTime(leg.answered_at)}` : "No",
        [label(OUTCOMES, leg.outcome) || "—", leg.sip_status ? ` (SIP ${leg.sip_status})` : ""],
        talk == null ? "—" : fmtDuration(talk),
        price(leg.price),
      ];
    }),
  ));
}

function rating(mos) {
  if (mos == null) return "";
  if (mos >= 4.0) return "good";
  if (mos >= 3.6) return "fair";
  return "poor";
}

function quality(call) {
  const measured = call.legs.filter((l) => l.quality);
  if (!measured.length) return h("p", {}, "No voice quality was measured for this call (no audio was exchanged).");
  const mosValues = measured.map((l) => l.quality.mos).filter((m) => m != null);
  const worst = mosValues.length ? Math.min(...mosValues) : null;
  return h(
    "div",
    {},
    worst == null
      ? null
      : h("p", { class: `quality quality-${rating(worst)}` }, `Overall: ${rating(worst)} (lowest MOS ${worst.toFixed(2)} of 4.5).`),
    stackOnPhones(table(
      "RTP quality of each leg",
      ["Leg", "MOS", "Packet loss", "Jitter", "Packets received / sent"],
      measured.map((leg) => {
        const q = leg.quality;
        return [
          `${label(LEG_KINDS, leg.kind)}${leg.destination ? ` ${leg.destination}` : ""}`,
          q.mos == null ? "—" : `${q.mos.toFixed(2)} (${rating(q.mos)})`,
          `${q.loss_pct.toFixed(1)} % (${q.lost} lost)`,
          `${q.jitter_ms.toFixed(1)} ms`,
          `${q.packets_rx} / ${q.packets_tx}`,
        ];
      }),
    )),
  );
}

function recording(call, ctx) {
  if (!call.has_recording) return h("p", {}, "This call was not recorded.");
  const errors = h("div", {});
  const player = createPlayer({
    fetchUrl: () => ctx.api.mediaUrl(`/calls/${encodeURIComponent(call.call_id)}/recording`),
    label: "Call recording",
    onError: (err) => mount(errors, errorBox(err)),
  });
  const box = h("div", { class: "vm-player", hidden: true }, player.audio);
  const play = h("button", { type: "button" }, "Play recording");
  play.addEventListener("click", () =>
    busy(play, errors, async () => {
      box.hidden = false;
      await player.start();
      player.audio.focus();
    }),
  );
  return h("div", { class: "recording" }, errors, h("div", { class: "actions" }, play), box);
}
