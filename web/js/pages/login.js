// /login?next=…: email and password; then back to `next` (a same-site path) or the dashboard.
import { announce, busy, field, h } from "../dom.js";

export const title = "Log in";

/** `next` if it is a path on this site ("/…", not "//…" or "/\…"), else "/". */
export function safeNext(next) {
  const n = String(next || "");
  if (!n.startsWith("/") || n.startsWith("//") || n.startsWith("/\\")) return "/";
  if (n === "/login" || n.startsWith("/login?")) return "/";
  return n;
}

function sentenceFor(err) {
  if (err.status === 401) return "The email or password is not correct.";
  if (err.status === 403) return "Your email is not verified yet. Open the link we emailed you, then log in.";
  if (err.status === 429) return "Too many attempts. Wait a few minutes, then try again.";
  return err.message;
}

export async function render(root, ctx) {
  const next = safeNext(ctx.query.get("next"));
  if (ctx.api.session()) {
    ctx.navigate(next, { replace: true });
    return;
  }
  const submit = h("button", { type: "submit" }, "Log in");
  // Shown after a "not verified" answer: mails the sign-up link again.
  const resend = h("button", { type: "button", class: "secondary", hidden: true }, "Email me the link again");
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Log in" },
    field("Email", "email", { type: "email", required: true, autocomplete: "username" }),
    field("Password", "password", { type: "password", required: true, autocomplete: "current-password" }),
    h("div", { class: "actions" }, submit, resend),
  );
  resend.addEventListener("click", () => {
    const email = String(new FormData(form).get("email") || "").trim();
    busy(resend, form, async () => {
      try {
        await ctx.api.anonymous("POST", "/signup/verify/resend", { email });
      } catch (err) {
        if (err.status === 429) err.message = sentenceFor(err);
        throw err;
      }
      announce(`If ${email} is waiting for verification, a new link is on its way.`);
    });
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const email = String(data.get("email") || "").trim();
    const password = String(data.get("password") || "");
    busy(submit, form, async () => {
      try {
        await ctx.api.login(email, password);
      } catch (err) {
        if (err.errors && err.errors.length) throw err; // field errors (e.g. a malformed email)
        resend.hidden = err.status !== 403;
        err.message = sentenceFor(err);
        throw err;
      }
      ctx.navigate(next, { replace: true });
    });
  });
  root.append(
    h("h1", {}, "Log in"),
    form,
    h(
      "ul",
      { class: "plain login-links" },
      h("li", {}, h("a", { href: "/forgot-password", "data-link": "" }, "Forgot your password?")),
      h("li", {}, "New here? ", h("a", { href: "/signup", "data-link": "" }, "Start a free trial")),
    ),
  );
}
