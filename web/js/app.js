// The shell: configuration, session restore, navigation and the page router.
//
// A page is a module under ./pages/ exporting
//   export const title = "Users";
//   export async function render(root, ctx) { ... }
// where root is this navigation's own view inside <main> (empty) and ctx is
//   {api, params, query, navigate(path), refreshNav(), session}.
// Pages build their DOM with dom.js and report failures with showErrors/errorBox.

import * as api from "./api.js";
import { announce, errorBox, h, mount } from "./dom.js";

/** path pattern -> {page: module name under ./pages/, public: no session needed} */
const ROUTES = [
  ["/", { page: "dashboard" }],
  ["/signup", { page: "signup", public: true }],
  ["/verify", { page: "verify", public: true }],
  ["/login", { page: "login", public: true }],
  ["/forgot-password", { page: "forgot_password", public: true }],
  ["/reset-password", { page: "reset_password", public: true }],
  ["/users", { page: "users" }],
  ["/numbers", { page: "numbers" }],
  ["/menus", { page: "menus" }],
  ["/menus/:id", { page: "menu_editor" }],
  ["/voicemail", { page: "voicemail" }],
  ["/calls", { page: "calls" }],
  ["/calls/:id", { page: "call_detail" }],
  ["/activities", { page: "activities" }],
  ["/settings", { page: "settings" }],
];

/** The navigation, in order: [path, label]. */
const NAV = [
  ["/", "Dashboard"],
  ["/calls", "Call history"],
  ["/voicemail", "Voicemail"],
  ["/activities", "Activities"],
  ["/users", "Users"],
  ["/numbers", "Numbers"],
  ["/menus", "IVR menus"],
  ["/settings", "Settings"],
];

function match(pathname) {
  for (const [pattern, route] of ROUTES) {
    const names = [];
    const re = new RegExp(
      `^${pattern.replace(/:([a-z]+)/g, (_, n) => {
        names.push(n);
        return "([^/]+)";
      })}/?$`,
    );
    const m = pathname.match(re);
    if (m) {
      const params = {};
      names.forEach((n, i) => {
        params[n] = decodeURIComponent(m[i + 1]);
      });
      return { route, params };
    }
  }
  return null;
}

const main = () => document.getElementById("main");

export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  return render();
}

let renderSeq = 0;

async function render() {
  const seq = ++renderSeq;
  const url = new URL(location.href);
  const found = match(url.pathname);
  const root = main();
  if (!found) {
    document.title = "Not found · Cloud PBX";
    mount(root, h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "/", "data-link": "" }, "Go to the dashboard")));
    focusHeading(root);
    return;
  }
  if (!found.route.public && !api.session()) {
    const next = url.pathname + url.search;
    return navigate(`/login?next=${encodeURIComponent(next)}`, { replace: true });
  }
  renderNav();
  // Each navigation renders into its own view. A page still loading when the user moves on
  // keeps writing into its old view, which is no longer in the document.
  const view = h("div", { class: "view" }, h("p", { class: "loading", role: "status" }, "Loading…"));
  root.replaceChildren(view);
  try {
    const page = await import(`./pages/${found.route.page}.js`);
    if (seq !== renderSeq) return; // a newer navigation won
    document.title = `${page.title} · Cloud PBX`;
    view.replaceChildren();
    await page.render(view, {
      api,
      params: found.params,
      query: url.searchParams,
      navigate,
      refreshNav,
      session: api.session(),
    });
    if (seq === renderSeq) focusHeading(view);
  } catch (err) {
    if (seq !== renderSeq) return;
    if (err instanceof api.ApiError && err.status === 401) {
      return navigate(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, { replace: true });
    }
    console.error(err);
    mount(view, h("h1", { tabindex: "-1" }, "This page could not be shown"), errorBox(err));
    focusHeading(view);
  }
}

// Moving focus to the new page's heading tells keyboard and screen-reader users where they are.
function focusHeading(root) {
  const heading = root.querySelector("h1");
  if (heading) {
    if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: false });
  }
}

function renderNav() {
  const nav = document.getElementById("nav");
  const who = api.session();
  if (!who) {
    mount(
      nav,
      h("ul", {}, h("li", {}, h("a", { href: "/login", "data-link": "" }, "Log in")), h("li", {}, h("a", { href: "/signup", "data-link": "" }, "Sign up"))),
    );
    return;
  }
  const here = location.pathname;
  mount(
    nav,
    h(
      "ul",
      {},
      NAV.map(([path, label]) => {
        const current = path === "/" ? here === "/" : here === path || here.startsWith(`${path}/`);
        return h(
          "li",
          {},
          h(
            "a",
            { href: path, "data-link": "", "aria-current": current ? "page" : false },
            label,
            path === "/voicemail" ? h("span", { class: "badge", id: "unheard-count", hidden: true }) : null,
            path === "/activities" ? h("span", { class: "badge", id: "unread-count", hidden: true }) : null,
          ),
        );
      }),
      h("li", {}, h("button", { type: "button", class: "link", id: "logout", onclick: onLogout }, "Log out")),
    ),
  );
  refreshNav();
}

/** Refresh the unheard-voicemail and unread-activity counts shown in the navigation. */
export async function refreshNav() {
  if (!api.session()) return;
  try {
    const d = await api.get("/dashboard");
    setBadge("unheard-count", d.unheard_voicemails, "unheard");
    setBadge("unread-count", d.unread_activities, "unread");
  } catch {
    // The counts are a convenience; the pages themselves report errors.
  }
}

function setBadge(id, count, word) {
  const el = document.getElementById(id);
  if (!el) return;
  const n = Number(count) || 0;
  el.hidden = n === 0;
  el.textContent = String(n);
  el.setAttribute("aria-label", `${n} ${word}`);
}

async function onLogout() {
  await api.logout();
  announce("You are logged out.");
  navigate("/login", { replace: true });
}

function onClick(event) {
  const a = event.target.closest("a[data-link]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}

async function start() {
  document.addEventListener("click", onClick);
  window.addEventListener("popstate", () => render());
  api.onSession(() => renderNav());
  try {
    await api.configure();
  } catch (err) {
    mount(main(), h("h1", {}, "The site is not configured"), errorBox(err));
    return;
  }
  const publicPage = match(location.pathname)?.route.public;
  if (!publicPage || location.pathname === "/login") await api.restore();
  else api.restore(); // keep public pages fast; the nav updates when it resolves
  await render();
}

start();
