// /reset-password?token=…: choose a new password (the e-mailed link).
import { busy, clearErrors, field, h, mount, showErrors } from "../dom.js";

export const title = "Choose a new password";

export async function render(root, ctx) {
  const token = ctx.query.get("token") || "";
  root.append(h("h1", {}, "Choose a new password"));
  if (!token) {
    root.append(
      h("p", { class: "error", role: "alert" }, "The reset link has no token. Open the link from the email again, or ask for a new one."),
      h("p", {}, h("a", { href: "/forgot-password", "data-link": "" }, "Ask for a new link")),
    );
    return;
  }
  const submit = h("button", { type: "submit" }, "Save new password");
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Choose a new password" },
    field("New password", "password", {
      type: "password",
      required: true,
      autocomplete: "new-password",
      hint: "At least 8 characters.",
      attrs: { minlength: "8" },
    }),
    field("Confirm new password", "confirm", { type: "password", required: true, autocomplete: "new-password" }),
    h("div", { class: "actions" }, submit),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const password = String(data.get("password") || "");
    if (password !== String(data.get("confirm") || "")) {
      clearErrors(form);
      showErrors(form, { errors: [{ pointer: "/confirm", message: "The two passwords do not match." }] });
      return;
    }
    busy(submit, form, async () => {
      try {
        await ctx.api.anonymous("POST", "/auth/password-reset/confirm", { token, password });
      } catch (err) {
        if (err.status === 400) err.message = "This reset link has expired or was already used. Ask for a new one.";
        throw err;
      }
      mount(
        root,
        h("h1", { tabindex: "-1" }, "Your password is changed"),
        h("p", { class: "success", role: "status" }, "Log in with your new password."),
        h("p", {}, h("a", { href: "/login", "data-link": "", class: "button" }, "Log in")),
      );
      root.querySelector("h1").focus();
    });
  });
  root.append(form, h("p", {}, h("a", { href: "/forgot-password", "data-link": "" }, "Ask for a new link")));
}
