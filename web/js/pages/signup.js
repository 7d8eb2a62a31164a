// /signup: company, name, email, password and home region; then "check your email".
import { busy, field, h, mount } from "../dom.js";

export const title = "Sign up";

export async function render(root, ctx) {
  root.append(h("h1", {}, "Start your free trial"));
  let regions = { current: "", regions: [] };
  try {
    regions = await ctx.api.anonymous("GET", "/regions");
  } catch {
    // Without the list the API's own region is used (region left out of the body).
  }
  const regionOptions = regions.regions.map((r) => [r, r === regions.current ? `${r} (this site)` : r]);
  const submit = h("button", { type: "submit" }, "Create account");
  const form = h(
    "form",
    { novalidate: true, "aria-label": "Sign up" },
    field("Company name", "company", { required: true, autocomplete: "organization" }),
    field("Your name", "name", { required: true, autocomplete: "name" }),
    field("Email", "email", { type: "email", required: true, autocomplete: "email" }),
    field("Password", "password", {
      type: "password",
      required: true,
      autocomplete: "new-password",
      hint: "At least 8 characters.",
      attrs: { minlength: "8" },
    }),
    regionOptions.length
      ? field("Region", "region", {
          type: "select",
          options: regionOptions,
          value: regions.current,
          hint: "Where your data and calls are kept. It cannot be changed later.",
        })
      : null,
    h("div", { class: "actions" }, submit),
    h("p", {}, "Already have an account? ", h("a", { href: "/login", "data-link": "" }, "Log in")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = {
      company: String(data.get("company") || "").trim(),
      name: String(data.get("name") || "").trim(),
      email: String(data.get("email") || "").trim(),
      password: String(data.get("password") || ""),
    };
    if (data.get("region")) body.region = String(data.get("region"));
    busy(submit, form, async () => {
      try {
        await ctx.api.anonymous("POST", "/signup", body);
      } catch (err) {
        // 409: the email is taken; say so next to the email field.
        if (err.status === 409 && !err.errors.length) err.errors = [{ pointer: "/email", message: err.message }];
        throw err;
      }
      done(root, body.email);
    });
  });
  root.append(form);
}

function done(root, email) {
  mount(
    root,
    h("h1", { tabindex: "-1" }, "Check your email"),
    h(
      "p",
      { class: "success", role: "status" },
      `We sent a verification link to ${email}. Open it to activate your account, then log in.`,
    ),
    h("p", {}, "The link is valid for 48 hours. ", h("a", { href: "/login", "data-link": "" }, "Go to log in")),
  );
  root.querySelector("h1").focus();
}
