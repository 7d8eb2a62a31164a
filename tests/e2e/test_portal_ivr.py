"""The IVR pages (/menus and the editor at /menus/:id) in a real Chromium against the real stack
(Azurite, a ConfigDB shard, the SMTP catcher, the functions host with its blob trigger, the static
site): one stack for the module.

What is built in the browser is checked again through the API (GET /ivr-menus/<id>). The prompt is
a WAV made here with the wave module, uploaded through the page, converted by the real
`prompt_convert` blob trigger and played from its signed Blob URL.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import re
import struct
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from infra.local.stack import LocalStack, signup_verified
from shared.adapters.config_repo import ConfigRepo
from shared.configdb import AsyncConfigDBClient
from shared.configdb_keys import menu_key
from shared.directory.models.ivr import GoMenu, Greeting, IvrMenu, TransferUser
from shared.values import new_ulid
from tests.e2e.conftest import SCREENSHOTS, go, log_in, run_async, watch_page_errors

pytestmark = [pytest.mark.timeout(600)]

EMAIL = "owner@portal-ivr.example"
PASSWORD = "portal ivr pass 123"
ANN = {"name": "Ann Lee", "email": "ann@portal-ivr.example", "forwarding_numbers": ["+15550100200"]}
VICTOR = {"name": "Victor Nobox", "email": "victor@portal-ivr.example", "voicemail_enabled": False}
MEMBER = {"name": "Mo Member", "email": "mo@portal-ivr.example", "password": "member pass 1234"}


@dataclass
class World:
    stack: LocalStack
    tenant_id: str
    token: str
    ann_id: str
    victor_id: str
    menus: dict[str, str]  # name -> id, filled as the tests create menus

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.stack.api, headers={"Authorization": f"Bearer {self.token}"}, timeout=15
        )

    def menu(self, menu_id: str) -> dict[str, Any]:
        with self.api() as api:
            r = api.get(f"/ivr-menus/{menu_id}")
            assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def menu_status(self, menu_id: str) -> int:
        with self.api() as api:
            return api.get(f"/ivr-menus/{menu_id}").status_code


@pytest.fixture(scope="module")
def world(portal_stack: LocalStack) -> World:
    tenant_id, token = signup_verified(portal_stack, EMAIL, password=PASSWORD, company="Portal IVR Ltd")
    with httpx.Client(
        base_url=portal_stack.api, headers={"Authorization": f"Bearer {token}"}, timeout=15
    ) as api:
        r = api.post("/users", json=ANN)
        assert r.status_code == 201, r.text
        ann_id = r.json()["id"]
        r = api.post("/users", json=VICTOR)
        assert r.status_code == 201, r.text
        victor_id = r.json()["id"]
        r = api.post("/users", json=MEMBER)
        assert r.status_code == 201, r.text
    return World(portal_stack, tenant_id, token, ann_id, victor_id, {})


# --------------------------------------------------------------------------- helpers


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def create_menu(page: Page, world: World, name: str) -> str:
    go(page, "/menus")
    form = page.get_by_role("region", name="Create a menu")
    form.get_by_label("Menu name", exact=True).fill(name)
    form.get_by_role("button", name="Create menu").click()
    page.wait_for_url(re.compile(r"/menus/[0-9A-Z]{26}$"))
    expect(page.get_by_role("heading", level=1, name=f"Menu: {name}")).to_be_visible()
    menu_id = page.url.rsplit("/", 1)[1]
    world.menus[name] = menu_id
    return menu_id


def map_digit(page: Page, digit: str, action: str, target: str | None = None) -> None:
    page.get_by_label(f"Digit {digit} Action", exact=True).select_option(action)
    if target is not None:
        page.get_by_label(f"Digit {digit} Target", exact=True).select_option(label=target)


def save(page: Page, menu_id: str) -> Any:
    with page.expect_response(
        lambda r: r.url.endswith(f"/ivr-menus/{menu_id}") and r.request.method == "PATCH"
    ) as got:
        page.get_by_role("button", name="Save menu").click()
    return got.value


def diagram(page: Page) -> Locator:
    return page.get_by_role("region", name="Menu diagram")


def field_error(page: Page, pointer: str) -> Locator:
    return page.locator(f'[data-pointer="{pointer}"] .field-error').first


def seed_stale_menu(world: World, name: str) -> tuple[str, str, str]:
    """A stored menu whose keys 7 and 8 point at a menu and a user that no longer exist (and whose
    greeting is a recording that no longer exists), written
    straight to ConfigDB (the API refuses such a change; a concurrent delete can still leave one,
    see shared.directory.services.menus). Returns (menu id, missing menu id, missing user id)."""
    now = dt.datetime.now(dt.UTC)
    menu_id, gone_menu, gone_user, gone_prompt = (new_ulid(now) for _ in range(4))
    menu = IvrMenu(
        id=menu_id,
        tenant_id=world.tenant_id,
        name=name,
        greeting=Greeting(prompt_id=gone_prompt),
        options={"7": GoMenu(menu_id=gone_menu), "8": TransferUser(user_id=gone_user)},
    )

    async def write() -> None:
        cluster = world.stack.cluster
        async with AsyncConfigDBClient(cluster.endpoints, cluster.token) as db:
            await ConfigRepo(db).create(menu_key(world.tenant_id, menu_id), menu)

    run_async(write())
    world.menus[name] = menu_id
    return menu_id, gone_menu, gone_user


def tone_wav(seconds: float = 1.5, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
            for i in range(int(seconds * rate))
        )
        w.writeframes(frames)
    return buf.getvalue()


@pytest.fixture
def owner_page(world: World, page: Page) -> Iterator[Page]:
    """The owner's session; the test fails on any uncaught script error or CSP violation."""
    errors = watch_page_errors(page)
    log_in(page, EMAIL, PASSWORD, next_path="/menus")
    yield page
    assert not errors, errors


# --------------------------------------------------------------------------- tests


def test_build_two_level_menu_and_diagram(world: World, owner_page: Page, shot: Any) -> None:
    page = owner_page
    sub_id = create_menu(page, world, "Support")
    map_digit(page, "1", "voicemail", "Ann Lee")
    response = save(page, sub_id)
    assert response.status == 200, response.text()
    expect(page.locator("form.menu-form .success")).to_have_text("Support was saved.")

    main_id = create_menu(page, world, "Main menu")
    map_digit(page, "1", "go_menu", "Support")
    map_digit(page, "2", "transfer_user", "Ann Lee")
    # The diagram follows the unsaved draft down into the submenu.
    d = diagram(page)
    top = d.locator("li.diagram-menu").first
    expect(top.locator("> strong")).to_have_text("Menu Main menu")
    nested = top.locator("li.diagram-menu")
    expect(nested).to_have_count(1)
    expect(nested.locator("> strong")).to_have_text("Menu Support")
    expect(nested).to_contain_text("Press 1: Voicemail of Ann Lee")
    expect(top).to_contain_text("Press 1: Go to Support")
    expect(top).to_contain_text("Press 2: Forward to Ann Lee")
    expect(d).to_contain_text("No dead ends.")
    response = save(page, main_id)
    assert response.status == 200, response.text()
    assert response.request.headers.get("if-match"), "the save must be conditional"

    stored = world.menu(main_id)
    assert stored["options"] == [
        {"digit": "1", "action": {"type": "go_menu", "menu_id": sub_id}},
        {"digit": "2", "action": {"type": "transfer_user", "user_id": world.ann_id}},
    ]
    assert stored["on_timeout"] == {"type": "repeat"} and stored["on_invalid"] == {"type": "hang_up"}
    assert world.menu(sub_id)["options"] == [
        {"digit": "1", "action": {"type": "voicemail", "user_id": world.ann_id}}
    ]

    # After a reload the editor shows what was saved.
    page.reload()
    expect(page.get_by_label("Digit 1 Action", exact=True)).to_have_value("go_menu")
    expect(page.get_by_label("Digit 1 Target", exact=True)).to_have_value(sub_id)
    expect(page.get_by_label("Digit 2 Target", exact=True)).to_have_value(world.ann_id)
    expect(page.get_by_label("Digit 3 Action", exact=True)).to_have_value("")
    expect(page.get_by_label("Digit 3 Target", exact=True)).to_be_hidden()
    shot(page, "ivr-editor")

    # A loop back up is shown once, not followed forever.
    page.goto(f"/menus/{sub_id}")
    map_digit(page, "9", "go_menu", "Main menu")
    expect(diagram(page)).to_contain_text("Back to Support (shown above)")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    diagram(page).screenshot(path=str(SCREENSHOTS / "ivr-diagram.png"))


def test_invalid_options_show_the_api_error_at_their_field(world: World, owner_page: Page) -> None:
    page = owner_page
    main_id = world.menus.get("Main menu") or create_menu(page, world, "Main menu")
    page.goto(f"/menus/{main_id}")
    expect(page.get_by_label("Digit 1 Action", exact=True)).to_have_value("go_menu")
    before = world.menu(main_id)

    # No target chosen: the pointer names the field in the document sent, not pydantic's union member.
    map_digit(page, "4", "go_menu")
    expect(diagram(page)).to_contain_text("Dead end: no menu chosen")
    response = save(page, main_id)
    assert response.status == 422
    pointers = [e["pointer"] for e in response.json()["errors"]]
    assert pointers == ["/options/2/action/menu_id"], pointers
    target = page.get_by_label("Digit 4 Target", exact=True)
    expect(target).to_have_attribute("aria-invalid", "true")
    expect(target).to_be_focused()
    expect(field_error(page, "/options/2/action/menu_id")).to_contain_text("Field required")
    expect(page.locator("form .form-error")).to_have_count(0)

    # A voicemail of a user whose voicemail is off: the service's 422 at /options/2/action/user_id;
    # the diagram already flags it as a dead end, for eyes and screen readers alike.
    map_digit(page, "4", "voicemail", "Victor Nobox (voicemail off)")
    dead = diagram(page).locator(".dead-end")
    expect(dead).to_have_count(1)
    expect(dead).to_contain_text("Dead end: Victor Nobox has no voicemail box")
    expect(diagram(page)).to_contain_text("1 dead end found.")
    response = save(page, main_id)
    assert response.status == 422
    problem = response.json()
    assert [(e["pointer"], e["code"]) for e in problem["errors"]] == [
        ("/options/2/action/user_id", "voicemail_disabled")
    ], problem
    target = page.get_by_label("Digit 4 Target", exact=True)
    expect(target).to_have_attribute("aria-invalid", "true")
    error = field_error(page, "/options/2/action/user_id")
    expect(error).to_be_visible()
    expect(error).to_contain_text("Victor Nobox' has voicemail turned off")
    expect(field_error(page, "/options/0/action/menu_id")).to_be_hidden()

    # An outside number that is not E.164, at /options/2/action/number.
    map_digit(page, "4", "forward_external")
    page.get_by_label("Digit 4 Number", exact=True).fill("555 abc")
    response = save(page, main_id)
    assert response.status == 422
    assert [e["pointer"] for e in response.json()["errors"]] == ["/options/2/action/number"]
    number_error = field_error(page, "/options/2/action/number")
    expect(number_error).to_contain_text("is not an E.164 number")
    expect(number_error).not_to_contain_text("Value error")
    expect(page.get_by_label("Digit 4 Number", exact=True)).to_have_attribute("aria-invalid", "true")

    # A timeout out of range lands at /timeout_s.
    map_digit(page, "4", "")
    page.get_by_label("Seconds to wait for a key", exact=True).fill("90")
    response = save(page, main_id)
    assert response.status == 422
    expect(field_error(page, "/timeout_s")).to_contain_text("less than or equal to 60")
    assert world.menu(main_id) == before  # nothing invalid was stored


def test_missing_targets_and_trapped_menu_are_dead_ends(world: World, owner_page: Page, shot: Any) -> None:
    page = owner_page
    stale_id, gone_menu, gone_user = seed_stale_menu(world, "Legacy desk")
    page.goto(f"/menus/{stale_id}")
    # The pickers keep the stored (missing) targets visible instead of silently changing them.
    expect(page.get_by_label("Digit 7 Target", exact=True)).to_have_value(gone_menu)
    expect(page.get_by_label("Digit 7 Target", exact=True)).to_contain_text("Missing menu")
    expect(page.get_by_label("Digit 8 Target", exact=True)).to_have_value(gone_user)
    d = diagram(page)
    dead = d.locator(".dead-end")
    expect(dead).to_have_count(2)
    expect(d.locator("li:not(.diagram-menu)").filter(has_text="Press 7:").locator(".dead-end")).to_have_text(
        "⚠ Dead end: the menu no longer exists"
    )
    expect(d.locator("li:not(.diagram-menu)").filter(has_text="Press 8:").locator(".dead-end")).to_have_text(
        "⚠ Dead end: the user no longer exists"
    )
    expect(d).to_contain_text("2 dead ends found.")
    expect(d.locator(".warning")).to_have_text(
        " (its greeting recording no longer exists: callers hear no greeting)"
    )
    expect(page.get_by_label("Greeting recording", exact=True)).to_contain_text("Missing recording")
    # The warning sign is decoration; the words are what a screen reader reads.
    expect(dead.first.locator("[aria-hidden=true]")).to_have_text("⚠ ")
    shot(page, "ivr-dead-ends")
    d.screenshot(path=str(SCREENSHOTS / "ivr-diagram-dead-ends.png"))

    # Saving as is: the service names both keys, each next to its own target picker, and the
    # greeting's missing recording next to the greeting.
    response = save(page, stale_id)
    assert response.status == 422
    codes = {e["pointer"]: e["code"] for e in response.json()["errors"]}
    assert codes == {
        "/greeting/prompt_id": "prompt_not_found",
        "/options/0/action/menu_id": "menu_not_found",
        "/options/1/action/user_id": "user_not_found",
    }, codes
    expect(field_error(page, "/options/0/action/menu_id")).to_contain_text(f"Menu {gone_menu} does not exist")
    expect(field_error(page, "/options/1/action/user_id")).to_contain_text(f"User {gone_user} does not exist")
    expect(field_error(page, "/greeting/prompt_id")).to_contain_text("This recording does not exist")
    expect(page.get_by_label("Digit 7 Target", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Digit 8 Target", exact=True)).to_have_attribute("aria-invalid", "true")

    # A spoken greeting instead of the missing recording.
    page.get_by_label("Greeting", exact=True).select_option("text")
    page.get_by_label("Greeting text", exact=True).fill("Welcome back.")

    # A menu with no way out: no keys, and both "nothing pressed" and "unlisted key" repeat it.
    map_digit(page, "7", "")
    map_digit(page, "8", "")
    page.get_by_label("No key Action", exact=True).select_option("repeat")
    page.get_by_label("Unlisted key Action", exact=True).select_option("repeat")
    expect(d.locator(".diagram-menu > .dead-end")).to_contain_text("Dead end: no way out")
    response = save(page, stale_id)
    assert response.status == 422
    assert {e["code"] for e in response.json()["errors"]} == {"menu_loop"}
    expect(field_error(page, "/on_invalid")).to_contain_text("nothing in it leads out")
    expect(page.get_by_label("Unlisted key Action", exact=True)).to_have_attribute("aria-invalid", "true")

    # Fixed: unlisted keys hang up; saved, and no dead end remains.
    page.get_by_label("Unlisted key Action", exact=True).select_option("hang_up")
    expect(d).to_contain_text("No dead ends.")
    response = save(page, stale_id)
    assert response.status == 200, response.text()
    stored = world.menu(stale_id)
    assert stored["options"] == [] and stored["on_invalid"] == {"type": "hang_up"}


def test_stale_save_is_refused_and_reloaded(world: World, owner_page: Page) -> None:
    page = owner_page
    main_id = world.menus.get("Main menu") or create_menu(page, world, "Main menu")
    page.goto(f"/menus/{main_id}")
    expect(page.get_by_label("Menu name", exact=True)).to_have_value("Main menu")
    # Someone else renames it after the page read it.
    with world.api() as api:
        etag = api.get(f"/ivr-menus/{main_id}").headers["etag"]
        r = api.patch(f"/ivr-menus/{main_id}", json={"name": "Front door"}, headers={"If-Match": etag})
        assert r.status_code == 200, r.text
    map_digit(page, "6", "transfer_user", "Victor Nobox")
    # Victor has no phones and no voicemail: the diagram warns before anything is saved.
    expect(diagram(page)).to_contain_text(
        "Dead end: Victor Nobox has no forwarding numbers and no voicemail box"
    )
    response = save(page, main_id)
    assert response.status == 412
    expect(page.locator("#status")).to_contain_text("Someone else changed this menu meanwhile")
    expect(page.get_by_role("heading", level=1)).to_have_text("Menu: Front door")
    expect(page.get_by_label("Digit 6 Action", exact=True)).to_have_value("")
    stored = world.menu(main_id)
    assert stored["name"] == "Front door" and "6" not in {o["digit"] for o in stored["options"]}
    with world.api() as api:
        etag = api.get(f"/ivr-menus/{main_id}").headers["etag"]
        r = api.patch(f"/ivr-menus/{main_id}", json={"name": "Main menu"}, headers={"If-Match": etag})
        assert r.status_code == 200, r.text


def test_prompt_upload_conversion_and_playback(world: World, owner_page: Page, tmp_path: Any) -> None:
    page = owner_page
    main_id = world.menus.get("Main menu") or create_menu(page, world, "Main menu")
    page.goto(f"/menus/{main_id}")
    # Not audio at all: the API's 415 sentence appears in the upload area.
    fake = tmp_path / "notes.wav"
    fake.write_bytes(b"these are not the bytes of a WAV file" * 10)
    upload = page.get_by_label("Upload a recording", exact=True)
    upload.set_input_files(str(fake))
    page.get_by_role("button", name="Upload", exact=True).click()
    refused = page.locator(".prompt-upload .form-error")
    expect(refused).to_be_visible()
    expect(refused).to_contain_text("WAV")
    expect(page.locator(".prompt-status")).to_have_text("")

    wav = tmp_path / "welcome.wav"
    wav.write_bytes(tone_wav())
    page.get_by_label("Upload a recording", exact=True).set_input_files(str(wav))
    page.get_by_role("button", name="Upload", exact=True).click()
    status = page.locator(".prompt-status")
    expect(status).to_contain_text("Converting", timeout=10000)  # the state while the trigger runs
    expect(status).to_contain_text("is ready", timeout=60000)
    expect(page.get_by_label("Greeting", exact=True)).to_have_value("prompt")
    chosen = page.get_by_label("Greeting recording", exact=True)
    expect(chosen).to_contain_text("welcome")
    prompt_id = chosen.input_value()
    assert prompt_id

    audio = page.get_by_label("Greeting recording player")
    expect(audio).to_be_visible()
    assert "/prompts/" in (audio.get_attribute("src") or "")
    wait_until(lambda: audio.evaluate("(a) => a.readyState") >= 1, timeout=15, what="audio metadata")
    duration = audio.evaluate("(a) => a.duration")
    assert 1.0 < duration < 2.0, duration
    audio.evaluate("(a) => a.play()")
    wait_until(lambda: audio.evaluate("(a) => a.currentTime") > 0.2, timeout=15, what="playback")

    response = save(page, main_id)
    assert response.status == 200, response.text()
    assert world.menu(main_id)["greeting"] == {"prompt_id": prompt_id, "text": None}


def test_keyboard_only_mapping(world: World, owner_page: Page) -> None:
    page = owner_page
    sub_id = world.menus.get("Support") or create_menu(page, world, "Support")
    page.goto(f"/menus/{sub_id}")
    expect(page.locator("h1")).to_be_focused()

    def tab_to(label: str, limit: int = 80) -> None:
        for _ in range(limit):
            page.keyboard.press("Tab")
            focused = page.evaluate(
                "() => { const el = document.activeElement;"
                " return (el.labels && el.labels[0] ? el.labels[0].textContent : el.textContent).trim(); }"
            )
            if focused == label:
                return
        raise AssertionError(f"Tab never reached {label!r}")

    tab_to("Digit 5 Action")
    # On a focused closed <select>, the arrow keys and typing an option's first letters pick it.
    page.keyboard.press("ArrowDown")
    expect(page.get_by_label("Digit 5 Action", exact=True)).to_have_value("transfer_user")
    tab_to("Digit 5 Target")
    page.keyboard.type("Ann")
    expect(page.get_by_label("Digit 5 Target", exact=True)).to_have_value(world.ann_id)
    tab_to("Save menu")
    with page.expect_response(
        lambda r: r.url.endswith(f"/ivr-menus/{sub_id}") and r.request.method == "PATCH"
    ) as got:
        page.keyboard.press("Enter")
    assert got.value.status == 200, got.value.text()
    options = {o["digit"]: o["action"] for o in world.menu(sub_id)["options"]}
    assert options["5"] == {"type": "transfer_user", "user_id": world.ann_id}
    # A second save from the same page uses the ETag of the first save's answer, not a stale one.
    expect(page.get_by_role("button", name="Save menu")).to_be_enabled()
    page.get_by_role("button", name="Save menu").focus()
    with page.expect_response(
        lambda r: r.url.endswith(f"/ivr-menus/{sub_id}") and r.request.method == "PATCH"
    ) as again:
        page.keyboard.press("Enter")
    assert again.value.status == 200, again.value.text()
    assert again.value.request.headers["if-match"] == got.value.headers["etag"]


def test_phone_layout(world: World, owner_page: Page, shot: Any) -> None:
    page = owner_page
    main_id = world.menus.get("Main menu") or create_menu(page, world, "Main menu")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"/menus/{main_id}")
    expect(page.get_by_label("Digit 1 Action", exact=True)).to_be_visible()
    expect(diagram(page)).to_contain_text("Menu Support")
    width = page.evaluate("() => document.scrollingElement.scrollWidth")
    assert width <= 390, f"the editor scrolls sideways on a phone ({width} px)"
    shot(page, "ivr-editor-phone")


def test_menus_list_and_delete(world: World, owner_page: Page, shot: Any) -> None:
    page = owner_page
    spare_id = create_menu(page, world, "Spare")
    go(page, "/menus")
    expect(page.get_by_role("heading", level=1, name="IVR menus")).to_be_visible()
    table = page.locator("main table")
    for name in ("Main menu", "Support", "Spare"):
        expect(table.get_by_role("link", name=name, exact=True)).to_be_visible()
    shot(page, "ivr-menus")

    # An empty name: the API's error sits next to "Menu name" (/name); nothing is created.
    create = page.get_by_role("region", name="Create a menu")
    with page.expect_response(lambda r: r.url.endswith("/ivr-menus") and r.request.method == "POST") as got:
        create.get_by_role("button", name="Create menu").click()
    assert got.value.status == 422
    name_box = create.get_by_label("Menu name", exact=True)
    expect(name_box).to_have_attribute("aria-invalid", "true")
    expect(name_box).to_be_focused()
    expect(field_error(page, "/name")).to_contain_text("at least 1 character")
    expect(page).to_have_url(re.compile(r"/menus$"))

    # A menu another menu still goes to is refused with the API's sentence; it stays.
    if "Support" in world.menus:
        page.get_by_role("button", name="Delete Support").click()
        dialog = page.get_by_role("dialog")
        expect(dialog).to_contain_text("Delete Support?")
        dialog.get_by_role("button", name="Delete menu").click()
        expect(page.get_by_role("alert").filter(has_text="still used by")).to_contain_text("Main menu")
        assert world.menu_status(world.menus["Support"]) == 200

    # Cancel keeps it; confirming deletes it.
    page.get_by_role("button", name="Delete Spare").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("button", name="Delete Spare")).to_be_focused()
    assert world.menu_status(spare_id) == 200
    page.get_by_role("button", name="Delete Spare").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete menu").click()
    expect(table.get_by_role("link", name="Spare", exact=True)).to_have_count(0)
    assert world.menu_status(spare_id) == 404


def test_members_read_only(world: World, page: Page, shot: Any) -> None:
    main_id = world.menus.get("Main menu")
    if main_id is None:
        pytest.skip("needs the menu built by test_build_two_level_menu_and_diagram")
    log_in(page, MEMBER["email"], MEMBER["password"], next_path="/menus")
    expect(page.get_by_role("link", name="Main menu", exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="Create a menu")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("^Delete "))).to_have_count(0)
    expect(page.get_by_text("Only owners and admins can create, change or delete menus.")).to_be_visible()
    page.get_by_role("link", name="Main menu", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Menu: Main menu")
    expect(page.get_by_label("Digit 1 Action", exact=True)).to_be_disabled()
    expect(page.get_by_role("button", name="Save menu")).to_have_count(0)
    expect(page.get_by_label("Upload a recording", exact=True)).to_have_count(0)
    expect(diagram(page)).to_contain_text("Menu Support")  # the diagram is for everyone
