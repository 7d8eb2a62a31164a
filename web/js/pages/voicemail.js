// /voicemail: the signed-in user's voicemail box, newest first (owners and admins may open
// another user's box). Play with seeking (a short-lived signed Blob URL that serves HTTP Range,
// fetched when the user presses Play and refreshed when it has expired), mark heard or unheard,
// delete with confirmation. Playing marks a voicemail heard. The nav badge follows every change.

import { announce, busy, errorBox, field, fmtDateTime, fmtDuration, h, mount } from "../dom.js";
import { createPlayer } from "../player.js";

export const title = "Voicemail";

const PAGE_SIZE = 25;
const MANAGERS = new Set(["owner", "admin"]);

export async function render(root, ctx) {
  const me = ctx.session?.sub;
  const manager = MANAGERS.has(ctx.session?.role);
  const box = (manager && ctx.query.get("box")) || me;
  const others = box !== me; // the user_id query parameter is sent only for another user's box
  const boxQuery = others ? { user_id: box } : {};

  root.append(h("h1", {}, "Voicemail"));

  let users = [];
  if (manager) {
    try {
      users = (await ctx.api.get("/users")).items || [];
    } catch (err) {
      root.append(errorBox(err));
    }
    if (users.length > 1) root.append(boxPicker(users, box, me, ctx));
  }

  const owner = users.find((u) => u.id === box);
  const heading = others && owner ? `${owner.name}'s voicemails` : "Your voicemails";
  const list = h("ul", { class: "vm-list", "aria-label": heading });
  const empty = h("p", { class: "vm-empty", hidden: true }, "No voicemails in this box.");
  const more = h("button", { type: "button", class: "secondary vm-more", hidden: true }, "Show older voicemails");
  const pageError = h("div", {});
  root.append(h("h2", {}, heading), pageError, empty, list, h("div", { class: "actions" }, more));

  let cursor = null;
  const load = async () => {
    const page = await ctx.api.get("/voicemails", { query: { ...boxQuery, limit: PAGE_SIZE, cursor } });
    for (const vm of page.items) list.append(item(vm, { ctx, boxQuery, list, empty }));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    empty.hidden = list.children.length > 0;
  };
  more.addEventListener("click", () => busy(more, pageError, load));
  try {
    await load();
  } catch (err) {
    if (err.status === 401) throw err;
    mount(pageError, errorBox(err));
  }
}

function boxPicker(users, box, me, ctx) {
  const options = users
    .slice()
    .sort((a, b) => (a.id === me ? -1 : b.id === me ? 1 : a.name.localeCompare(b.name)))
    .map((u) => [u.id, u.id === me ? `${u.name} (you)` : `${u.name}${u.extension ? ` · ext. ${u.extension}` : ""}`]);
  const f = field("Voicemail box", "user_id", { type: "select", value: box, options, pointer: "#query/user_id" });
  const form = h(
    "form",
    { class: "vm-box", onsubmit: (e) => {
      e.preventDefault();
      const id = form.elements.user_id.value;
      ctx.navigate(id === me ? "/voicemail" : `/voicemail?box=${encodeURIComponent(id)}`);
    } },
    f,
    h("button", { type: "submit", class: "secondary" }, "Open box"),
  );
  return form;
}

function describe(vm) {
  return vm.caller ? `from ${vm.caller}` : "from an unknown caller";
}

/** One voicemail: heading with the heard marker, time and length, actions and the player. */
function item(vm, { ctx, boxQuery, list, empty }) {
  const state = { heard: vm.heard };
  const path = `/voicemails/${encodeURIComponent(vm.id)}`;
  const who = describe(vm);
  const headingId = `vm-${vm.id.replace(/[^a-zA-Z0-9_-]/g, "-")}`;

  const marker = h("span", { class: "vm-marker" });
  const markButton = h("button", { type: "button", class: "secondary" });
  const sr = (text) => h("span", { class: "sr-only" }, text);
  const paint = () => {
    li.classList.toggle("unheard", !state.heard);
    marker.textContent = state.heard ? "Heard" : "Unheard";
    marker.className = `vm-marker ${state.heard ? "heard" : "unheard"}`;
    mount(markButton, state.heard ? "Mark as unheard" : "Mark as heard", sr(` (voicemail ${who})`));
  };

  const errors = h("div", { class: "vm-errors" });
  const showError = (err) => mount(errors, errorBox(err));
  const player = createPlayer({
    fetchUrl: () => ctx.api.mediaUrl(`${path}/audio${queryString(boxQuery)}`),
    label: `Voicemail ${who}`,
    onError: showError,
  });
  const audio = player.audio;
  const playerBox = h(
    "div",
    { class: "vm-player", hidden: true },
    audio,
    h("p", { class: "hint" }, "Playing a voicemail marks it as heard."),
  );

  const playButton = h("button", { type: "button" }, "Play", sr(` voicemail ${who}`));
  const deleteButton = h("button", { type: "button", class: "danger" }, "Delete", sr(` voicemail ${who}`));
  const confirmBox = h("div", { class: "vm-confirm", hidden: true });

  const li = h(
    "li",
    { class: "vm-item", "aria-labelledby": headingId },
    h("h3", { id: headingId }, `Voicemail ${who} `, marker),
    h(
      "p",
      { class: "vm-meta" },
      h("time", { datetime: vm.created_at }, fmtDateTime(vm.created_at)),
      " · ",
      vm.seconds == null
        ? "length unknown"
        : h("span", { "aria-label": `${Math.round(vm.seconds)} seconds` }, fmtDuration(vm.seconds)),
      vm.call_id
        ? [" · ", h("a", { href: `/calls/${encodeURIComponent(vm.call_id)}`, "data-link": "" }, "Call details")]
        : null,
    ),
    errors,
    h("div", { class: "actions" }, playButton, markButton, deleteButton),
    confirmBox,
    playerBox,
  );
  paint();

  const setHeard = async (heard) => {
    const out = await ctx.api.patch(path, { heard }, { query: boxQuery });
    state.heard = out.heard;
    paint();
    ctx.refreshNav();
    return out;
  };

  markButton.addEventListener("click", () =>
    busy(markButton, errors, async () => {
      await setHeard(!state.heard);
      announce(state.heard ? "Voicemail marked as heard." : "Voicemail marked as unheard.");
    }),
  );

  playButton.addEventListener("click", () =>
    busy(playButton, errors, async () => {
      playerBox.hidden = false;
      await player.start();
      audio.focus();
    }),
  );

  // Playing marks the voicemail heard (the hint under the player says so).
  audio.addEventListener("play", () => {
    if (state.heard) return;
    setHeard(true)
      .then(() => announce("Playing. The voicemail is now marked as heard."))
      .catch(showError);
  });

  deleteButton.addEventListener("click", () => {
    const yes = h("button", { type: "button", class: "danger" }, "Yes, delete it");
    const no = h("button", { type: "button", class: "secondary" }, "Keep it");
    mount(
      confirmBox,
      h("p", { role: "alert" }, `Delete the voicemail ${who}? The recording is removed for good.`),
      h("div", { class: "actions" }, yes, no),
    );
    confirmBox.hidden = false;
    no.addEventListener("click", () => {
      confirmBox.hidden = true;
      confirmBox.replaceChildren();
      deleteButton.focus();
    });
    yes.addEventListener("click", () =>
      busy(yes, errors, async () => {
        await ctx.api.del(path, { query: boxQuery });
        audio.pause();
        audio.removeAttribute("src");
        const next = li.nextElementSibling || li.previousElementSibling;
        li.remove();
        empty.hidden = list.children.length > 0;
        announce(`Voicemail ${who} deleted.`);
        ctx.refreshNav();
        const focusTarget = next?.querySelector("button") || document.querySelector("main h1");
        focusTarget?.focus();
      }),
    );
    yes.focus();
  });

  return li;
}

function queryString(query) {
  const s = new URLSearchParams(query).toString();
  return s ? `?${s}` : "";
}
