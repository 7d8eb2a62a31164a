"""The portal's account pages in a real Chromium against the whole platform: sign-up through the
form, the e-mailed verification link, keyboard-only login, the dashboard with the trial, a reload
that keeps the session (HttpOnly refresh cookie, invisible to script), logout, a wrong password,
password reset through the e-mailed link, and the settings page (time zone, business hours,
holidays, an API validation error next to its field). Plus GET /regions (the sign-up choices)."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from email import message_from_bytes

import httpx
import pytest
from playwright.sync_api import Page, expect

from infra.local.stack import LocalStack, mail_text
from tests.integration.test_api_history import record, write

from .conftest import PASSWORD, api_login, shot, sign_in, signup

EMAIL = "founder@bakery.example"
NEW_PASSWORD = "a brand new passphrase"


def mail_link(stack: LocalStack, to: str, route: str, seen: int = 0, timeout: float = 30.0) -> str:
    """The link to `route` (e.g. "/verify") in the (seen+1)-th such mail to `to`."""
    pattern = re.compile(re.escape(stack.web_url) + re.escape(route) + r"\?token=[A-Za-z0-9_\-]+")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        links = []
        for path in sorted(stack.mail_dir.glob("*.eml")) if stack.mail_dir.exists() else []:
            msg = message_from_bytes(path.read_bytes())
            if msg["To"] == to and (m := pattern.search(mail_text(msg))):
                links.append(m.group(0))
        if len(links) > seen:
            return links[seen]
        time.sleep(0.2)
    raise TimeoutError(f"no mail to {to} with a {route} link")


@pytest.fixture
def errors(page: Page) -> Iterator[list[str]]:
    """Uncaught page errors and console errors other than failed requests the test provoked."""
    seen: list[str] = []
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
    page.on(
        "console",
        lambda m: (
            seen.append(m.text) if m.type == "error" and "Failed to load resource" not in m.text else None
        ),
    )
    yield seen
    assert seen == [], seen


def heading(page: Page, name: str) -> None:
    h1 = page.get_by_role("heading", level=1, name=name)
    expect(h1).to_be_visible()


def test_regions_lists_this_region(portal_stack: LocalStack) -> None:
    r = httpx.get(f"{portal_stack.api}/regions", timeout=10)
    assert r.status_code == 200
    body = r.json()
    assert body["current"] == portal_stack.settings.region
    assert portal_stack.settings.region in body["regions"]


def test_signup_verify_login_dashboard_reload_logout(
    portal_stack: LocalStack, page: Page, errors: list[str]
) -> None:
    page.goto("/signup")
    heading(page, "Start your free trial")
    region = page.get_by_label("Region")
    expect(region).to_have_value(portal_stack.settings.region)
    page.get_by_label("Company name").fill("Corner Bakery")
    page.get_by_label("Your name").fill("Flo Baker")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("short")
    shot(page, "account-signup")
    page.get_by_role("button", name="Create account").click()
    # The API's password rule appears next to the password field.
    pw_error = page.locator(".field", has=page.get_by_label("Password")).locator(".field-error")
    expect(pw_error).to_contain_text("8 characters")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    heading(page, "Check your email")
    expect(page.get_by_text(f"We sent a verification link to {EMAIL}")).to_be_visible()
    shot(page, "account-signup-done")

    # Signing up again with the same email: the API's 409 sentence next to the email field.
    page.goto("/signup")
    page.get_by_label("Company name").fill("Corner Bakery 2")
    page.get_by_label("Your name").fill("Flo")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    email_error = page.locator(".field", has=page.get_by_label("Email")).locator(".field-error")
    expect(email_error).to_contain_text("already exists")

    # Not verified yet: the login says so.
    page.goto("/login")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert").filter(has_text="not verified")).to_be_visible()
    page.get_by_role("button", name="Email me the link again").click()
    expect(page.locator("#status")).to_contain_text("a new link is on its way")
    assert mail_link(portal_stack, EMAIL, "/verify", seen=1) != mail_link(portal_stack, EMAIL, "/verify")

    link = mail_link(portal_stack, EMAIL, "/verify")
    page.goto(link)
    heading(page, "Your email is verified")
    shot(page, "account-verify")
    page.goto(link)  # single use
    heading(page, "We could not verify your email")
    expect(page.get_by_role("alert")).to_contain_text("expired or was already used")

    # Keyboard only: from the focused heading, Tab to email, type, Tab, type, Enter.
    page.goto("/login?next=/settings")
    heading(page, "Log in")
    shot(page, "account-login")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/settings")
    heading(page, "Settings")

    page.get_by_role("link", name="Dashboard").click()
    heading(page, "Dashboard")
    trial = page.locator(".cta.trial")
    expect(trial).to_contain_text(re.compile(r"Your trial ends in \d+ days"))
    days = int(re.search(r"ends in (\d+) day", trial.inner_text()).group(1))  # type: ignore[union-attr]
    assert 1 <= days <= 31
    expect(trial.get_by_role("link", name="add billing in Settings")).to_have_attribute("href", "/settings")
    expect(page.get_by_role("region", name="Unheard voicemails")).to_contain_text("0")
    expect(page.get_by_role("region", name="Unheard voicemails").get_by_role("link")).to_have_attribute(
        "href", "/voicemail"
    )
    expect(page.get_by_text("No calls yet")).to_be_visible()
    shot(page, "account-dashboard")

    # A reload keeps the session (silent refresh via the HttpOnly cookie), which script cannot read.
    page.reload()
    heading(page, "Dashboard")
    assert "/login" not in page.url
    assert "pbx_refresh" not in page.evaluate("document.cookie")
    cookies = [c for c in page.context.cookies() if c["name"] == "pbx_refresh"]
    assert cookies and cookies[0]["httpOnly"] and cookies[0]["value"]

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    heading(page, "Dashboard")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "account-dashboard-phone")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Already signed in: /login goes to `next`, but never off-site.
    page.goto("/login?next=//evil.example/x")
    heading(page, "Dashboard")
    assert page.url == f"{portal_stack.web_url}/"

    page.get_by_role("button", name="Log out").click()
    heading(page, "Log in")
    page.goto("/")
    page.wait_for_url("**/login?next=%2F")
    heading(page, "Log in")
    assert not [c for c in page.context.cookies() if c["name"] == "pbx_refresh" and c["value"]]

    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("The email or password is not correct.")
    shot(page, "account-login-error")


def test_password_reset_through_the_mailed_link(
    portal_stack: LocalStack, page: Page, errors: list[str]
) -> None:
    page.goto("/login")
    page.get_by_role("link", name="Forgot your password?").click()
    heading(page, "Forgot your password?")
    shot(page, "account-forgot")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_role("button", name="Send reset link").click()
    heading(page, "Check your email")
    expect(page.get_by_text(f"If an account exists for {EMAIL}")).to_be_visible()

    # An unknown address gets the same answer (nothing is revealed).
    page.goto("/forgot-password")
    page.get_by_label("Email").fill("nobody@nowhere.example")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_text("If an account exists for nobody@nowhere.example")).to_be_visible()

    page.goto(mail_link(portal_stack, EMAIL, "/reset-password"))
    heading(page, "Choose a new password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill("something else")
    page.get_by_role("button", name="Save new password").click()
    confirm_error = page.locator(".field", has=page.get_by_label("Confirm new password")).locator(
        ".field-error"
    )
    expect(confirm_error).to_have_text("The two passwords do not match.")
    shot(page, "account-reset")
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save new password").click()
    heading(page, "Your password is changed")
    page.get_by_role("link", name="Log in").last.click()

    heading(page, "Log in")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)  # the old one no longer works
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("The email or password is not correct.")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    heading(page, "Dashboard")


def test_settings_time_zone_hours_holidays_and_errors(
    portal_stack: LocalStack, page: Page, errors: list[str]
) -> None:
    owner = "settings@bakery.example"
    signup(portal_stack, owner, company="Corner Bakery")
    page.goto("/login?next=/settings")
    page.get_by_label("Email").fill(owner)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    heading(page, "Settings")

    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_label("Company name").fill("Corner Bakery GmbH")
    always = page.get_by_label("Always open (no business hours)")
    expect(always).to_be_checked()  # a new tenant has no schedule
    expect(page.get_by_role("group", name="Monday")).to_be_hidden()
    always.uncheck()
    monday = page.get_by_role("group", name="Monday")
    monday.get_by_role("button", name="Add hours on Monday").click()
    monday.get_by_label("Monday opens").fill("08:00")
    monday.get_by_label("Monday closes").fill("16:30")
    saturday = page.get_by_role("group", name="Saturday")
    saturday.get_by_role("button", name="Add hours on Saturday").click()
    saturday.get_by_label("Saturday opens").fill("09:00")
    saturday.get_by_label("Saturday closes").fill("00:00")  # midnight: the API's 24:00
    page.get_by_role("button", name="Add a holiday").click()
    page.get_by_label("Holiday date").fill("2026-12-25")
    page.get_by_label("Holiday name").fill("Christmas")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible()
    shot(page, "account-settings")

    token = api_login(portal_stack, owner)["access_token"]
    got = httpx.get(
        f"{portal_stack.api}/tenant", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    assert got["name"] == "Corner Bakery GmbH"
    assert got["time_zone"] == "Europe/Berlin"
    assert got["business_hours"] == {
        "mon": [{"start": "08:00", "end": "16:30"}],
        "sat": [{"start": "09:00", "end": "24:00"}],
    }
    assert got["holidays"] == [{"date": "2026-12-25", "name": "Christmas"}]

    # A second save with the ETag of the first save works (If-Match follows the page's writes).
    monday.get_by_label("Monday closes").fill("17:00")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("status").filter(has_text="Settings saved.")).to_be_visible()

    # A range that closes before it opens: the API's sentence next to Monday's hours.
    monday.get_by_label("Monday opens").fill("17:00")
    monday.get_by_label("Monday closes").fill("09:00")
    page.get_by_role("button", name="Save settings").click()
    row_error = monday.locator(".bh-range .field-error").first
    expect(row_error).to_contain_text("start must be before end")
    assert not row_error.inner_text().startswith("Value error")
    expect(monday.get_by_label("Monday opens")).to_be_focused()
    shot(page, "account-settings-error")

    # Someone else changes the tenant: the page's stale ETag gets a 412 sentence.
    auth = {"Authorization": f"Bearer {token}"}
    current = httpx.get(f"{portal_stack.api}/tenant", headers=auth, timeout=10)
    r = httpx.patch(
        f"{portal_stack.api}/tenant",
        json={"name": "Changed elsewhere"},
        headers={**auth, "If-Match": current.headers["etag"]},
        timeout=10,
    )
    assert r.status_code == 200, r.text
    monday.get_by_label("Monday opens").fill("08:00")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_role("alert").filter(has_text="Someone else changed")).to_be_visible()

    page.reload()
    heading(page, "Settings")
    expect(page.get_by_label("Time zone")).to_have_value("Europe/Berlin")
    expect(page.get_by_role("group", name="Monday").get_by_label("Monday opens")).to_have_value("08:00")
    expect(page.get_by_role("group", name="Tuesday")).to_contain_text("Closed")

    # A member sees the settings read-only, with a sentence saying why.
    member = {"name": "Mo Member", "email": "mo@bakery.example", "password": "member pass 12"}
    created = httpx.post(f"{portal_stack.api}/users", json=member, headers=auth, timeout=10)
    assert created.status_code == 201, created.text
    page.get_by_role("button", name="Log out").click()
    heading(page, "Log in")
    page.goto("/login?next=/settings")
    page.get_by_label("Email").fill(member["email"])
    page.get_by_label("Password").fill(member["password"])
    page.get_by_role("button", name="Log in").click()
    heading(page, "Settings")
    expect(page.get_by_role("note").filter(has_text="Only the account's owner and admins")).to_be_visible()
    expect(page.get_by_role("button", name="Save settings")).to_be_disabled()
    expect(page.get_by_label("Time zone")).to_be_disabled()
    shot(page, "account-settings-member")


def test_settings_outbound_policy_countries_cap_and_errors(
    portal_stack: LocalStack, page: Page, errors: list[str]
) -> None:
    owner = "policy@bakery.example"
    signup(portal_stack, owner, company="Policy Bakery")
    page.goto("/login?next=/settings")
    page.get_by_label("Email").fill(owner)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    heading(page, "Settings")
    policy = page.get_by_role("form", name="Outbound calls")
    expect(policy.get_by_role("heading", name="Outbound calls")).to_be_visible()
    expect(policy).to_contain_text("Calls may ring: US (home country: US)")
    expect(policy).to_contain_text("premium-rate numbers")
    expect(policy.get_by_label("Monthly spend cap")).to_have_value("50")

    # An unknown country: the API's sentence next to the countries field.
    policy.get_by_label("Countries calls may ring").fill("US, XX")
    policy.get_by_role("button", name="Save outbound policy").click()
    expect(policy.locator(".field-error").first).to_contain_text("XX is not a country code")

    policy.get_by_label("Countries calls may ring").fill("US, CA")
    policy.get_by_label("Monthly spend cap").fill("20")
    policy.get_by_label("Calls per minute").fill("4")
    policy.get_by_role("button", name="Save outbound policy").click()
    expect(policy.get_by_role("status").filter(has_text="Outbound policy saved.")).to_be_visible()
    expect(policy).to_contain_text("Calls may ring: CA, US")
    shot(page, "account-settings-outbound-policy")

    token = api_login(portal_stack, owner)["access_token"]
    got = httpx.get(
        f"{portal_stack.api}/outbound-policy", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    assert got["allowed_countries"] == ["US", "CA"] and got["monthly_spend_cap"] == "20"
    assert got["calls_per_minute"] == 4 and got["max_call_duration_s"] == 3600


def test_dashboard_counts_today_and_links_the_latest_calls(
    portal_stack: LocalStack, page: Page, errors: list[str]
) -> None:
    owner = "counts@bakery.example"
    tenant_id, _ = signup(portal_stack, owner, company="Counting Bakery")
    token = api_login(portal_stack, owner)["access_token"]
    users = httpx.get(
        f"{portal_stack.api}/users", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    owner_id = next(u["id"] for u in users["items"] if u["email"] == owner)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    midnight = now.replace(hour=0, minute=0, second=0)
    at = [max(midnight, now - dt.timedelta(seconds=s)) for s in (30, 20)]
    calls = [
        record(tenant_id, owner_id, started=at[0], disposition="missed", caller="+15550001111"),
        record(tenant_id, owner_id, started=at[1], disposition="answered", caller="+15550002222"),
    ]
    write(portal_stack, calls, [])

    sign_in(page, portal_stack, owner)
    page.goto("/")
    heading(page, "Dashboard")
    expect(page.get_by_role("region", name="Calls today")).to_contain_text("2")
    expect(page.get_by_role("region", name="Missed today")).to_contain_text("1")
    latest = page.get_by_role("table", name="The five latest calls")
    expect(latest.get_by_role("row")).to_have_count(3)  # header + 2
    expect(latest.get_by_role("row").nth(1)).to_contain_text("+15550002222")  # newest first
    shot(page, "account-dashboard-calls")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(latest).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "account-dashboard-calls-phone")
    latest.get_by_role("link").first.click()
    page.wait_for_url(f"**/calls/{calls[1].call_id}")
