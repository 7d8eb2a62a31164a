// /verify?token=…: the link from the verification email, or from a new-address confirmation email.
import { h } from "../dom.js";

export const title = "Verify your email";

export async function render(root, ctx) {
  const token = ctx.query.get("token") || "";
  if (!token) {
    root.append(
      h("h1", {}, "This link is incomplete"),
      h("p", { class: "error", role: "alert" }, "The verification link has no token. Open the link from the email again, or copy it whole."),
    );
    return;
  }
  let verified;
  try {
    verified = await ctx.api.anonymous("POST", "/signup/verify", { token });
  } catch (err) {
    const expired = err.status === 400 || err.status === 404 || err.status === 422;
    root.append(
      h("h1", {}, "We could not verify your email"),
      h(
        "p",
        { class: "error", role: "alert" },
        expired ? "This link has expired or was already used. If you already verified your email, just log in." : err.message,
      ),
      h("p", { class: "actions" }, h("a", { href: "/login", "data-link": "", class: "button" }, "Log in"), h("a", { href: "/signup", "data-link": "", class: "button secondary" }, "Sign up again")),
    );
    return;
  }
  if (verified && verified.email) {
    // The link confirmed a new address for an existing account.
    root.append(
      h("h1", {}, "Your new email address is confirmed"),
      h("p", { class: "success", role: "status" }, `From now on you log in with ${verified.email}.`),
      h("p", {}, h("a", { href: "/login", "data-link": "", class: "button" }, "Log in")),
    );
    return;
  }
  root.append(
    h("h1", {}, "Your email is verified"),
    h("p", { class: "success", role: "status" }, "Thank you. Your account is active and your trial has started."),
    h("p", {}, h("a", { href: "/login", "data-link": "", class: "button" }, "Log in")),
  );
}
