// /forgot-password: ask for a reset link. The answer never says whether the account exists.
import { busy, field, h, mount } from "../dom.js";

export const title = "Forgot password";

export async function render(root, ctx) {
  const submit = h("button", { type: "submit" }, "Send reset link");
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Reset your password" },
    field("Email", "email", { type: "email", required: true, autocomplete: "email" }),
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const email = String(new FormData(form).get("email") || "").trim();
    busy(submit, form, async () => {
      await ctx.api.anonymous("POST", "/auth/password-reset", { email });
      mount(
        root,
        h("h1", { tabindex: "-1" }, "Check your email"),
        h("p", { class: "success", role: "status" }, `If an account exists for ${email}, we sent it a link to reset the password.`),
        h("p", {}, h("a", { href: "/login", "data-link": "" }, "Back to log in")),
      );
      root.querySelector("h1").focus();
    });
  });
  root.append(
    h("h1", {}, "Forgot your password?"),
    h("p", {}, "Enter your email and we will send you a link to choose a new password."),
    form,
    h("p", {}, h("a", { href: "/login", "data-link": "" }, "Back to log in")),
  );
}
