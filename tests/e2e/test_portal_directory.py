"""The users, numbers and activities pages in a real Chromium, against the real stack (Azurite, a
3-node ConfigDB shard, the SMTP catcher, the functions host and the static site): one stack for
the module.

Feed items are written the way the SIP edge writes them: a missed call's `CallRecord` and the
edge's own `activity_for` item, through the History store opened with the stack's settings (the
SQLite file the functions host reads). Everything else goes through the browser, and is checked
again through the API.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, Request, expect

from infra.local.stack import LocalStack, signup_verified
from shared.history.models.call import CallRecord
from sip_edge.call_flow import activity_for
from tests.e2e.conftest import go, log_in, watch_page_errors
from tests.integration.test_api_history import record, write

pytestmark = [pytest.mark.timeout(600)]

EMAIL = "owner@portal-directory.example"
PASSWORD = "portal directory pass 1"
MEMBER = {"name": "Mia Member", "email": "mia@portal-directory.example", "password": "member pass 12"}
ROUTER_USER = {"name": "Bob Router", "email": "bob@portal-directory.example", "extension": "150"}
TAKEN_NUMBER = "+15557770900"  # claimed by another tenant
FOCUSED_ADD_FIELD = "() => document.activeElement.closest('form.user-form') && document.activeElement.name"
MISSED_CALLERS = ["+15554440001", "+15554440002", "+15554440003"]  # oldest first


@dataclass
class World:
    stack: LocalStack
    tenant_id: str
    owner_id: str
    token: str
    menu_id: str
    router_id: str
    missed: list[CallRecord]  # oldest first

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.stack.api, headers={"Authorization": f"Bearer {self.token}"}, timeout=15
        )

    def user(self, name: str) -> dict[str, Any] | None:
        with self.api() as api:
            r = api.get("/users")
            assert r.status_code == 200, r.text
        return next((u for u in r.json()["items"] if u["name"] == name), None)

    def activities(self) -> dict[str, dict[str, Any]]:
        with self.api() as api:
            r = api.get("/activities", params={"archived": "any"})
            assert r.status_code == 200, r.text
        return {a["id"]: a for a in r.json()["items"]}


@pytest.fixture(scope="module")
def world(portal_stack: LocalStack) -> World:
    stack = portal_stack
    tenant_id, token = signup_verified(stack, EMAIL, password=PASSWORD, company="Portal Directory Ltd")
    _, other_token = signup_verified(stack, "other@portal-directory.example", company="Other Co")
    with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {token}"}, timeout=15) as api:
        owner_id = next(u["id"] for u in api.get("/users").json()["items"] if u["email"] == EMAIL)
        r = api.post("/ivr-menus", json={"name": "Front desk", "greeting": {"text": "Welcome"}})
        assert r.status_code == 201, r.text
        menu_id = r.json()["id"]
        r = api.post("/users", json=ROUTER_USER)
        assert r.status_code == 201, r.text
        router_id = r.json()["id"]
        r = api.post("/users", json=MEMBER)
        assert r.status_code == 201, r.text
    r = httpx.post(
        f"{stack.api}/numbers",
        json={"number": TAKEN_NUMBER},
        headers={"Authorization": f"Bearer {other_token}"},
        timeout=15,
    )
    assert r.status_code == 201, r.text
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    missed = [
        record(tenant_id, owner_id, started=now - dt.timedelta(hours=3 - i), disposition="missed", caller=c)
        for i, c in enumerate(MISSED_CALLERS)
    ]
    write(stack, missed, [activity_for(rec, owner_id, None) for rec in missed])
    return World(stack, tenant_id, owner_id, token, menu_id, router_id, missed)


# --------------------------------------------------------------------------- browser helpers


def row(page: Page, text: str) -> Any:
    return page.locator("main table tbody tr").filter(has_text=text)


def add_form(page: Page) -> Any:
    return page.get_by_role("region", name="Add a user")


@pytest.fixture
def owner_page(world: World, page: Page) -> Iterator[Page]:
    """The owner's session; the test fails on any uncaught script error or CSP violation."""
    errors = watch_page_errors(page)
    log_in(page, EMAIL, PASSWORD)
    yield page
    assert not errors, errors


# --------------------------------------------------------------------------- users


def test_users_add_with_forwarding_number_and_field_errors(world: World, owner_page: Page, shot: Any) -> None:
    page = owner_page
    go(page, "/users")
    expect(page.get_by_role("heading", level=1, name="Users")).to_be_visible()
    expect(row(page, ROUTER_USER["email"])).to_contain_text("150")
    expect(page.get_by_role("button", name="Edit Owner")).to_be_visible()
    expect(page.get_by_role("button", name="Remove Owner")).to_have_count(0)  # not yourself

    form = add_form(page)
    form.get_by_label("Name", exact=True).fill("Ann Lee")
    form.get_by_label("Email", exact=True).fill("ann@portal-directory.example")
    form.get_by_label("Extension", exact=True).fill("101")
    form.get_by_label("Country of forwarding number 1", exact=True).select_option("GB")
    number = form.get_by_label("Forwarding number 1", exact=True)
    number.fill("020 7946 0958")
    expect(form.get_by_text("Saved as +442079460958.")).to_be_visible()  # the E.164 preview
    form.get_by_label("Ring timeout (seconds)", exact=True).fill("30")
    form.get_by_label("Voicemail PIN", exact=True).fill("2468")
    form.get_by_label("Record calls", exact=True).check()
    form.get_by_role("button", name="Add user").click()

    ann = row(page, "Ann Lee")
    expect(ann).to_contain_text("+442079460958")
    expect(ann).to_contain_text("101")
    expect(ann).to_contain_text("30 s")
    expect(ann).to_contain_text("On (PIN set)")
    stored = world.user("Ann Lee")
    assert stored is not None
    assert stored["forwarding_numbers"] == ["+442079460958"]
    assert stored["ring_timeout_s"] == 30 and stored["recording_enabled"] is True
    assert stored["has_voicemail_pin"] is True

    # An invalid number: the API's 422 names /forwarding_numbers/1 and the page puts its
    # sentence next to that field (the second row), not at the top and not next to the first.
    form = add_form(page)
    form.get_by_label("Name", exact=True).fill("Bad Number")
    form.get_by_label("Email", exact=True).fill("bad@portal-directory.example")
    form.get_by_label("Forwarding number 1", exact=True).fill("+1 201 555 0123")
    form.get_by_role("button", name="Add a forwarding number").click()
    second = form.get_by_label("Forwarding number 2", exact=True)
    expect(second).to_be_focused()
    form.get_by_label("Country of forwarding number 2", exact=True).select_option("GB")
    second.fill("0207 946 09x8")
    with page.expect_response(lambda r: r.url.endswith("/users") and r.request.method == "POST") as got:
        form.get_by_role("button", name="Add user").click()
    response = got.value
    assert response.status == 422
    problem = response.json()
    assert [e["pointer"] for e in problem["errors"]] == ["/forwarding_numbers/1"], problem
    expect(second).to_have_attribute("aria-invalid", "true")
    expect(second).to_be_focused()
    error = form.locator('[data-pointer="/forwarding_numbers/1"] .field-error')
    expect(error).to_be_visible()
    expect(error).to_contain_text("is not an E.164 number")
    expect(error).to_contain_text("+4420794609x8")
    expect(error).not_to_contain_text("Value error")  # pydantic's prefix is not for people
    assert problem["errors"][0]["message"].removeprefix("Value error, ") in error.inner_text()
    expect(form.locator('[data-pointer="/forwarding_numbers/0"] .field-error')).to_be_hidden()
    expect(form.locator(".form-error")).to_have_count(0)
    assert world.user("Bad Number") is None
    error.scroll_into_view_if_needed()
    shot(page, "users-field-error")

    # A taken extension: the 409's pointer is /extension.
    second.fill("020 7946 0000")
    form.get_by_label("Extension", exact=True).fill("101")
    form.get_by_role("button", name="Add user").click()
    ext_error = form.locator('[data-pointer="/extension"] .field-error')
    expect(ext_error).to_contain_text("extension is already used")
    expect(form.get_by_label("Extension", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(second).not_to_have_attribute("aria-invalid", "true")
    assert world.user("Bad Number") is None
    shot(page, "users")

    page.set_viewport_size({"width": 390, "height": 844})
    go(page, "/users")
    expect(row(page, "Ann Lee")).to_be_visible()
    shot(page, "users-phone")


def test_users_edit_with_if_match_and_stale_edit(world: World, owner_page: Page) -> None:
    page = owner_page
    go(page, "/users")
    if world.user("Ann Lee") is None:  # this test also runs alone
        with world.api() as api:
            body = {"name": "Ann Lee", "email": "ann@portal-directory.example", "extension": "101"}
            api.post("/users", json={**body, "forwarding_numbers": ["+442079460958"]}).raise_for_status()
        go(page, "/users")
    patches: list[Request] = []
    page.on("request", lambda r: patches.append(r) if r.method == "PATCH" else None)

    page.get_by_role("button", name="Edit Ann Lee").click()
    form = page.get_by_role("region", name="Edit Ann Lee")
    expect(form.get_by_label("Name", exact=True)).to_be_focused()
    expect(form.get_by_label("Forwarding number 1", exact=True)).to_have_value("2079460958")
    expect(form.get_by_label("Country of forwarding number 1", exact=True)).to_have_value("GB")
    form.get_by_label("Ring timeout (seconds)", exact=True).fill("45")
    form.get_by_role("button", name="Add a forwarding number").click()
    form.get_by_label("Country of forwarding number 2", exact=True).select_option("US")
    form.get_by_label("Forwarding number 2", exact=True).fill("(201) 555-0123")
    form.get_by_role("button", name="Save changes").click()
    ann = row(page, "Ann Lee")
    expect(ann).to_contain_text("45 s")
    expect(ann).to_contain_text("+12015550123")
    stored = world.user("Ann Lee")
    assert stored is not None
    assert stored["forwarding_numbers"][-2:] == ["+442079460958", "+12015550123"]
    assert stored["ring_timeout_s"] == 45
    assert patches and re.fullmatch(r'(W/)?"[^"]+"', patches[-1].headers.get("if-match", "")), patches
    # Only the changed fields are sent.
    assert set(patches[-1].post_data_json) == {"ring_timeout_s", "forwarding_numbers"}

    # Someone else changes Ann while the form is open: 412, the page says so and shows theirs.
    page.get_by_role("button", name="Edit Ann Lee").click()
    form = page.get_by_role("region", name="Edit Ann Lee")
    with world.api() as api:
        r = api.patch(f"/users/{stored['id']}", json={"ring_timeout_s": 60})
        assert r.status_code == 200, r.text
    form.get_by_label("Ring timeout (seconds)", exact=True).fill("20")
    with page.expect_response(lambda r: r.request.method == "PATCH") as got:
        form.get_by_role("button", name="Save changes").click()
    assert got.value.status == 412
    expect(page.locator("#status")).to_contain_text("Someone else changed this user")
    expect(
        page.get_by_role("region", name="Edit Ann Lee").get_by_label("Ring timeout (seconds)", exact=True)
    ).to_have_value("60")
    assert world.user("Ann Lee")["ring_timeout_s"] == 60  # type: ignore[index]
    page.get_by_role("button", name="Cancel").click()
    expect(add_form(page)).to_be_visible()


def test_users_remove_with_confirmation(world: World, owner_page: Page) -> None:
    page = owner_page
    with world.api() as api:
        r = api.post("/users", json={"name": "Tess Temp", "email": "tess@portal-directory.example"})
        assert r.status_code == 201, r.text
        tess_id = r.json()["id"]
    go(page, "/users")
    remove = page.get_by_role("button", name="Remove Tess Temp")
    remove.click()
    dialog = page.get_by_role("dialog", name="Remove Tess Temp?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")  # cancels, focus goes back to the button
    expect(dialog).to_be_hidden()
    expect(remove).to_be_focused()
    assert world.user("Tess Temp") is not None

    remove.focus()
    page.keyboard.press("Enter")  # the keyboard alone: open, Shift+Tab from Cancel to Remove, Enter
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(dialog.get_by_role("button", name="Remove user")).to_be_focused()
    page.keyboard.press("Enter")
    expect(row(page, "Tess Temp")).to_have_count(0)
    assert world.user("Tess Temp") is None
    with world.api() as api:
        assert api.get(f"/users/{tess_id}").status_code == 404


def test_users_keyboard_only_add(world: World, owner_page: Page) -> None:
    page = owner_page
    go(page, "/users")
    expect(page.get_by_role("heading", level=1, name="Users")).to_be_focused()
    for _ in range(60):  # Tab from the heading to the add form's Name field
        page.keyboard.press("Tab")
        if (
            page.evaluate(
                "() => document.activeElement.closest('form.user-form') && document.activeElement.name"
            )
            == "name"
        ):
            break
    else:
        pytest.fail("Tab never reached the Name field of the add form")
    page.keyboard.type("Kim Keys")
    page.keyboard.press("Tab")
    page.keyboard.type("kim@portal-directory.example")
    page.keyboard.press("Tab")  # role: member
    page.keyboard.press("Tab")
    page.keyboard.type("104")
    page.keyboard.press("Tab")  # country
    page.keyboard.type("United K")  # type-ahead in the select
    page.keyboard.press("Tab")
    page.keyboard.type("07700 900123")
    page.keyboard.press("Enter")
    kim = row(page, "Kim Keys")
    expect(kim).to_contain_text("+447700900123")
    expect(kim).to_contain_text("104")
    expect(add_form(page).get_by_role("heading", name="Add a user")).to_be_focused()
    assert world.user("Kim Keys")["forwarding_numbers"] == ["+447700900123"]  # type: ignore[index]


def test_users_own_email_needs_the_current_password_and_waits_for_its_link(
    world: World, owner_page: Page
) -> None:
    page = owner_page
    go(page, "/users")
    new_email = "owner-new@portal-directory.example"
    page.get_by_role("button", name="Edit Owner").click()
    form = page.get_by_role("region", name="Edit Owner")
    form.get_by_label("Email", exact=True).fill(new_email)
    form.get_by_role("button", name="Save changes").click()
    current = form.locator(".field", has=page.get_by_label("Current password", exact=True))
    expect(current.locator(".field-error")).to_contain_text("current_password")
    assert world.user("Owner")["pending_email"] is None  # type: ignore[index]

    form.get_by_label("Current password", exact=True).fill(PASSWORD)
    form.get_by_role("button", name="Save changes").click()
    expect(page.locator("#status")).to_contain_text(f"The email changes to {new_email} once the link")
    expect(row(page, "Owner")).to_contain_text(f"New address waiting for confirmation: {new_email}")
    stored = world.user("Owner")
    assert stored is not None and stored["email"] == EMAIL and stored["pending_email"] == new_email
    with world.api() as api:  # back to no pending change, for the other tests
        r = api.patch(f"/users/{stored['id']}", json={"email": EMAIL, "current_password": PASSWORD})
        assert r.status_code == 200 and r.json()["pending_email"] is None, r.text

    # Another user's password is never set here: a reset link is sent instead.
    page.get_by_role("button", name=f"Edit {MEMBER['name']}").click()
    member_form = page.get_by_role("region", name=f"Edit {MEMBER['name']}")
    expect(member_form.get_by_label("Current password", exact=True)).to_have_count(0)
    member_form.get_by_role("button", name="Send a password reset link").click()
    expect(page.locator("#status")).to_contain_text(f"emailed to {MEMBER['name']}")


def test_users_read_only_for_members(world: World, browser: Browser) -> None:
    context = browser.new_context(base_url=world.stack.web_url)
    try:
        page = context.new_page()
        log_in(page, MEMBER["email"], MEMBER["password"])
        go(page, "/users")
        expect(row(page, ROUTER_USER["name"])).to_be_visible()
        expect(page.get_by_text("Only owners and admins can add, change or remove users.")).to_be_visible()
        expect(page.get_by_role("button", name=re.compile("^(Edit|Remove) "))).to_have_count(0)
        expect(page.get_by_role("region", name="Add a user")).to_have_count(0)
        go(page, "/numbers")
        expect(page.get_by_role("button", name="Claim number")).to_have_count(0)
    finally:
        context.close()


# --------------------------------------------------------------------------- numbers


def test_numbers_claim_route_release(world: World, owner_page: Page, shot: Any) -> None:
    page = owner_page
    go(page, "/numbers")
    expect(page.get_by_role("heading", level=1, name="Numbers")).to_be_visible()
    claim = page.get_by_role("region", name="Claim a number")

    # Only free inventory numbers are offered: someone else's number is not among them.
    pick = claim.get_by_label("Number to claim", exact=True)
    expect(pick.locator("option")).to_have_count(20)
    claim.get_by_label("Numbers starting with", exact=True).fill("1555777090")
    claim.get_by_role("button", name="Find numbers").click()
    expect(pick.locator("option").first).to_have_text("+15557770901")
    assert "+15557770900" not in pick.locator("option").all_inner_texts()
    # A bad search: the API's 400 lands next to the search field.
    claim.get_by_label("Numbers starting with", exact=True).fill("15 55x")
    claim.get_by_role("button", name="Find numbers").click()
    expect(claim.locator('[data-pointer="/prefix"] .field-error')).to_contain_text("prefix")

    # Claim one and point it at a user, picked by name.
    claim.get_by_label("Numbers starting with", exact=True).fill("+1555777030")
    claim.get_by_role("button", name="Find numbers").click()
    expect(pick.locator("option").first).to_have_text("+15557770300")
    pick.select_option("+15557770301")
    claim.get_by_label("Label (optional)", exact=True).fill("Sales line")
    claim.get_by_label("Calls go to", exact=True).select_option(label="Bob Router (ext. 150)")
    claim.get_by_role("button", name="Claim number").click()
    line = row(page, "+15557770301")
    expect(line).to_contain_text("Sales line")
    expect(line).to_contain_text("User: Bob Router")
    with world.api() as api:
        got = api.get("/numbers/+15557770301").json()
    assert got["entry"] == {"type": "user", "id": world.router_id}

    # Re-point it at the IVR menu, then at the user again.
    line.get_by_label("Where calls to +15557770301 go", exact=True).select_option(label="Front desk")
    line.get_by_role("button", name="Save +15557770301").click()
    expect(row(page, "+15557770301")).to_contain_text("IVR menu: Front desk")
    with world.api() as api:
        assert api.get("/numbers/+15557770301").json()["entry"] == {"type": "menu", "id": world.menu_id}
    line = row(page, "+15557770301")
    line.get_by_label("Where calls to +15557770301 go", exact=True).select_option(
        label="Bob Router (ext. 150)"
    )
    line.get_by_role("button", name="Save +15557770301").click()
    expect(row(page, "+15557770301")).to_contain_text("User: Bob Router")
    shot(page, "numbers")

    # Claim a second one (business hours) and release it after the confirmation.
    claim = page.get_by_role("region", name="Claim a number")
    claim.get_by_label("Numbers starting with", exact=True).fill("15557770302")
    claim.get_by_role("button", name="Find numbers").click()
    expect(claim.get_by_label("Number to claim", exact=True).locator("option")).to_have_text(["+15557770302"])
    claim.get_by_role("button", name="Claim number").click()
    expect(row(page, "+15557770302")).to_contain_text("Business hours")
    row(page, "+15557770302").get_by_role("button", name="Release +15557770302").click()
    dialog = page.get_by_role("dialog", name="Release +15557770302?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(row(page, "+15557770302")).to_have_count(1)
    row(page, "+15557770302").get_by_role("button", name="Release +15557770302").click()
    dialog.get_by_role("button", name="Release number").click()
    expect(row(page, "+15557770302")).to_have_count(0)
    with world.api() as api:
        assert api.get("/numbers/+15557770302").status_code == 404
        assert api.get("/numbers/+15557770301").status_code == 200
    page.set_viewport_size({"width": 390, "height": 844})
    expect(row(page, "+15557770301").get_by_role("button", name="Save +15557770301")).to_be_visible()
    shot(page, "numbers-phone")

    # Bob cannot be removed while the number points at him: the page says why, in a sentence.
    page.set_viewport_size({"width": 1280, "height": 800})
    go(page, "/users")
    page.get_by_role("button", name="Remove Bob Router").click()
    page.get_by_role("dialog", name="Remove Bob Router?").get_by_role("button", name="Remove user").click()
    expect(page.get_by_role("alert").filter(has_text="+15557770301")).to_contain_text("still used by")
    expect(row(page, "Bob Router")).to_have_count(1)
    assert world.user("Bob Router") is not None


# --------------------------------------------------------------------------- activities


def feed_item(page: Page, caller: str) -> Any:
    return page.locator("main .feed-item").filter(
        has=page.get_by_role("heading", name=re.compile(re.escape(caller)))
    )


def test_activities_read_unread_archive_read_all(world: World, owner_page: Page, shot: Any) -> None:
    page = owner_page
    # Cursor paging: two items a page, "Show more" follows next_cursor and then goes away.
    go(page, "/activities?limit=2")
    expect(page.locator("main .feed-item")).to_have_count(2)
    more = page.get_by_role("button", name="Show more")
    more.click()
    expect(page.locator("main .feed-item")).to_have_count(3)
    expect(more).to_be_hidden()

    go(page, "/activities")
    expect(page.get_by_role("heading", level=1, name="Activities")).to_be_visible()
    expect(page.get_by_role("button", name="Show more")).to_be_hidden()
    newest, middle, oldest = (feed_item(page, c) for c in reversed(MISSED_CALLERS))
    for it in (newest, middle, oldest):
        expect(it.get_by_role("heading")).to_contain_text("Unread")
    headings = page.locator("main .feed-item h3").all_inner_texts()
    assert [h.split()[-1] for h in headings] == list(reversed(MISSED_CALLERS)), headings
    badge = page.locator("#unread-count")
    expect(badge).to_have_text("3")
    expect(badge).to_have_attribute("aria-label", "3 unread")
    expect(page.get_by_text("You have 3 unread items.")).to_be_visible()
    link = newest.get_by_role("link", name=re.compile(re.escape(MISSED_CALLERS[-1])))
    expect(link).to_have_attribute("href", f"/calls/{world.missed[-1].call_id}")
    shot(page, "activities")

    ids = {rec.call_id: f"missed:{rec.call_id}" for rec in world.missed}
    newest_id = ids[world.missed[-1].call_id]
    newest.get_by_role("button", name=f"Mark read: Missed call from {MISSED_CALLERS[-1]}").click()
    expect(newest.get_by_role("heading")).not_to_contain_text("Unread")
    expect(badge).to_have_text("2")
    expect(page.get_by_text("You have 2 unread items.")).to_be_visible()
    assert world.activities()[newest_id]["read"] is True

    newest.get_by_role("button", name=f"Mark unread: Missed call from {MISSED_CALLERS[-1]}").click()
    expect(newest.get_by_role("heading")).to_contain_text("Unread")
    expect(badge).to_have_text("3")
    assert world.activities()[newest_id]["read"] is False

    oldest_id = ids[world.missed[0].call_id]
    oldest.get_by_role("button", name=f"Archive: Missed call from {MISSED_CALLERS[0]}").click()
    expect(oldest).to_have_count(0)
    expect(badge).to_have_text("2")  # archived items do not count
    assert world.activities()[oldest_id]["archived"] is True

    page.get_by_role("button", name="Mark all as read").click()
    expect(page.get_by_text("You have no unread items.")).to_be_visible()
    expect(page.locator("main .feed-marker")).to_have_count(0)
    expect(badge).to_be_hidden()
    feed = world.activities()
    assert all(a["read"] for a in feed.values()), feed

    # The archived item is in the Archived folder, and can come back.
    page.get_by_label("Folder", exact=True).select_option("true")
    page.get_by_role("button", name="Apply filters").click()
    page.wait_for_url(re.compile(r"/activities\?archived=true$"))
    archived = feed_item(page, MISSED_CALLERS[0])
    expect(archived).to_contain_text("archived")
    archived.get_by_role("button", name=f"Restore to inbox: Missed call from {MISSED_CALLERS[0]}").click()
    expect(archived).to_have_count(0)
    assert world.activities()[oldest_id]["archived"] is False
