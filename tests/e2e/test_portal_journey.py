"""The portal's end-to-end journey in a real Chromium, as a new customer would live it: sign up through
the form, verify through the e-mailed link, log in, add a user who forwards to a phone that never
answers, claim a number, build a two-level IVR menu in the editor (and see the API's error next to
an invalid option), point the number at it, then place a real call through the SIP edge (the
provider stand-in plays the phone network; baresip-python plays the caller pressing 1, 1 and
speaking a 440 Hz tone into voicemail), play that voicemail in the inbox and find the call, its IVR
path and its unanswered forward leg in the call history.

One stack (Azurite, ConfigDB, SMTP catcher, functions host, the site), one provider stand-in and
one edge for the module; everything the customer does goes through the browser.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from infra.local.managed import ManagedProcess
from infra.local.stack import LocalStack
from shared.adapters.blob_media import BlobMedia
from shared.adapters.history import open_history_store
from shared.history.models.call import CallRecord
from sip_edge.media import dsp
from tests.e2e.conftest import PASSWORD, api_login, go, run_async, shot
from tests.e2e.test_portal_account import mail_link
from tests.e2e.test_portal_ivr import map_digit, save
from tests.sip_fixtures import (
    SimProcess,
    edge_events,
    start_caller,
    start_edge,
    start_provider_sim,
    tone_share,
)

pytestmark = [pytest.mark.timeout(600)]

EMAIL = "founder@journey.example"
COMPANY = "Journey Plumbing"
USER = {"name": "Sam Support", "email": "sam@journey.example"}
SAM_PHONE = "+15550002002"  # the provider stand-in lets it ring, never answers
NUMBER = "+15557770200"
RULES = {SAM_PHONE: {"action": "no_answer"}}
SPEAK_S = 3.0


@dataclass
class Line:
    """The phone network side: the provider stand-in and the SIP edge, against portal_stack."""

    stack: LocalStack
    sim: SimProcess
    edge: ManagedProcess
    sip_port: int
    base: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sip_port}"

    def events(self, name: str) -> list[dict[str, Any]]:
        return edge_events(self.edge.log_path, name)


@pytest.fixture(scope="module")
def line(portal_stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Line]:
    base = tmp_path_factory.mktemp("journey-line")
    sim = start_provider_sim(base / "sim", RULES)
    try:
        proc, sip_port, _ = start_edge(portal_stack, sim, base)
        try:
            yield Line(portal_stack, sim, proc, sip_port, base)
        finally:
            proc.stop()
    finally:
        sim.stop()


# --------------------------------------------------------------------------- helpers


def wait_until(check: Callable[[], Any], timeout: float, what: str, tail: Callable[[], str] = str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}\n{tail()}")


def row(page: Page, text: str) -> Locator:
    return page.locator("main table tbody tr").filter(has_text=text)


def create_menu(page: Page, name: str) -> str:
    go(page, "/menus")
    form = page.get_by_role("region", name="Create a menu")
    form.get_by_label("Menu name", exact=True).fill(name)
    form.get_by_role("button", name="Create menu").click()
    page.wait_for_url(re.compile(r"/menus/[0-9A-Z]{26}$"))
    expect(page.get_by_role("heading", level=1, name=f"Menu: {name}")).to_be_visible()
    return page.url.rsplit("/", 1)[1]


def download(stack: LocalStack, blob: str) -> bytes:
    """A blob ("container/name") from Azurite (run_async: Playwright owns this thread's loop)."""
    container, name = blob.split("/", 1)
    blobs = BlobMedia(stack.azurite.connection_string)
    try:
        return run_async(blobs.download(container, name))
    finally:
        blobs.close()


def cells(rows: Locator, n: int) -> list[str]:
    return [t.strip() for t in rows.nth(n).locator("td").all_inner_texts()]


def call_record(stack: LocalStack, tenant_id: str, call_id: str) -> CallRecord | None:
    store = open_history_store(stack.settings)
    try:
        return store.get_call(tenant_id, call_id)
    finally:
        store.close()


# --------------------------------------------------------------------------- the journey


def test_new_customer_journey(portal_stack: LocalStack, line: Line, page: Page, tmp_path: Path) -> None:
    stack = portal_stack
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

    # 1. Sign up, verify through the mailed link, log in through the form.
    page.goto("/signup")
    expect(page.get_by_role("heading", level=1, name="Start your free trial")).to_be_visible()
    page.get_by_label("Company name").fill(COMPANY)
    page.get_by_label("Your name").fill("Jo Founder")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", level=1, name="Check your email")).to_be_visible()
    shot(page, "journey-1-signup")
    page.goto(mail_link(stack, EMAIL, "/verify"))
    expect(page.get_by_role("heading", level=1, name="Your email is verified")).to_be_visible()
    shot(page, "journey-1-verified")
    page.goto("/login")
    page.get_by_label("Email", exact=True).fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/(\?.*)?$"))
    expect(page.get_by_role("heading", level=1, name="Dashboard")).to_be_visible()
    expect(page.locator("main h1")).to_be_focused()
    shot(page, "journey-1-dashboard")

    # 2. A user whose phone never answers (ring 5 s, voicemail on); a claimed number.
    go(page, "/users")
    form = page.get_by_role("region", name="Add a user")
    form.get_by_label("Name", exact=True).fill(USER["name"])
    form.get_by_label("Email", exact=True).fill(USER["email"])
    form.get_by_label("Country of forwarding number 1", exact=True).select_option("US")
    form.get_by_label("Forwarding number 1", exact=True).fill("(555) 000-2002")
    expect(form.get_by_text(f"Saved as {SAM_PHONE}.")).to_be_visible()
    form.get_by_label("Ring timeout (seconds)", exact=True).fill("5")
    expect(form.get_by_label("Voicemail on", exact=True)).to_be_checked()
    form.get_by_role("button", name="Add user").click()
    sam = row(page, USER["name"])
    expect(sam).to_contain_text(SAM_PHONE)
    expect(sam).to_contain_text("5 s")
    expect(sam).to_contain_text("On")
    shot(page, "journey-2-users")

    go(page, "/numbers")
    claim = page.get_by_role("region", name="Claim a number")
    claim.get_by_label("Numbers starting with", exact=True).fill("1555777020")
    claim.get_by_role("button", name="Find numbers").click()
    claim.get_by_label("Number to claim", exact=True).select_option(NUMBER)
    claim.get_by_label("Label (optional)", exact=True).fill("Main line")
    claim.get_by_role("button", name="Claim number").click()
    expect(row(page, NUMBER)).to_contain_text("Main line")
    shot(page, "journey-2-numbers")

    # 3. Two menus in the editor: Main 1 -> Support; Support 1 -> forward to Sam.
    support_id = create_menu(page, "Support")
    map_digit(page, "1", "transfer_user", USER["name"])
    response = save(page, support_id)
    assert response.status == 200, response.text()
    expect(page.locator("form.menu-form .success")).to_have_text("Support was saved.")

    main_id = create_menu(page, "Main")
    map_digit(page, "1", "go_menu", "Support")
    # An invalid option first: go to a menu with none chosen -> the API's error at its field.
    map_digit(page, "2", "go_menu")
    response = save(page, main_id)
    assert response.status == 422, response.text()
    assert [e["pointer"] for e in response.json()["errors"]] == ["/options/1/action/menu_id"]
    target = page.get_by_label("Digit 2 Target", exact=True)
    expect(target).to_have_attribute("aria-invalid", "true")
    error = page.locator('[data-pointer="/options/1/action/menu_id"] .field-error').first
    expect(error).to_be_visible()
    expect(error).to_contain_text("Field required")
    shot(page, "journey-3-menu-error")
    # And an outside number that is not E.164: the sentence lands next to the number field.
    map_digit(page, "2", "forward_external")
    page.get_by_label("Digit 2 Number", exact=True).fill("555 abc")
    response = save(page, main_id)
    assert response.status == 422, response.text()
    assert [e["pointer"] for e in response.json()["errors"]] == ["/options/1/action/number"]
    number_error = page.locator('[data-pointer="/options/1/action/number"] .field-error').first
    expect(number_error).to_contain_text("is not an E.164 number")
    expect(page.get_by_label("Digit 2 Number", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("form .form-error")).to_have_count(0)
    map_digit(page, "2", "")
    response = save(page, main_id)
    assert response.status == 200, response.text()
    diagram = page.get_by_role("region", name="Menu diagram")
    expect(diagram).to_contain_text("Press 1: Go to Support")
    expect(diagram).to_contain_text(f"Press 1: Forward to {USER['name']}")
    shot(page, "journey-3-menu-main")

    go(page, "/numbers")
    line_row = row(page, NUMBER)
    line_row.get_by_label(f"Where calls to {NUMBER} go", exact=True).select_option(label="Main")
    line_row.get_by_role("button", name=f"Save {NUMBER}").click()
    expect(row(page, NUMBER)).to_contain_text("IVR menu: Main")
    shot(page, "journey-3-numbers-main")

    # The test's own look at what the browser stored (ids for the checks below).
    tokens = api_login(stack, EMAIL)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    with httpx.Client(base_url=stack.api, headers=auth, timeout=15) as api:
        users = api.get("/users").json()["items"]
        sam_id = next(u["id"] for u in users if u["email"] == USER["email"])
        assert api.get(f"/numbers/{NUMBER}").json()["entry"] == {"type": "menu", "id": main_id}
        assert api.get(f"/ivr-menus/{main_id}").json()["options"] == [
            {"digit": "1", "action": {"type": "go_menu", "menu_id": support_id}}
        ]
        assert api.get(f"/ivr-menus/{support_id}").json()["options"] == [
            {"digit": "1", "action": {"type": "transfer_user", "user_id": sam_id}}
        ]

    # 4. A real call: 1, 1, Sam's phone rings out, voicemail records the caller's 440 Hz tone.
    started_calls = len(line.events("call_ended"))
    caller = start_caller(NUMBER, line.address, tmp_path, digits="11", digit_delay=1.0, tone=440, timeout=60)
    try:
        wait_until(
            lambda: [e for e in line.events("voicemail_recording") if e.get("user_id") == sam_id],
            timeout=40,
            what="the edge to record voicemail",
            tail=lambda: line.edge.log_tail() + "\n" + caller.proc.log_tail(),
        )
        spoke_from = time.monotonic()
        time.sleep(SPEAK_S)
    finally:
        caller.proc.stop()  # SIGTERM: the caller hangs up (BYE)
    spoke = time.monotonic() - spoke_from
    result = caller.wait()
    assert result.answered, result.log[-3000:]
    ended = wait_until(
        lambda: line.events("call_ended")[started_calls:],
        timeout=15,
        what="call_ended",
        tail=line.edge.log_tail,
    )
    call_id = str(ended[-1]["call_id"])
    tenant_id = str(ended[-1]["tenant_id"])
    rec: CallRecord = wait_until(
        lambda: call_record(stack, tenant_id, call_id),
        timeout=15,
        what="the call record",
        tail=line.edge.log_tail,
    )
    assert rec.disposition == "voicemail", rec
    assert rec.voicemail_blob and rec.voicemail_blob.startswith(f"voicemail/{tenant_id}/{sam_id}/"), rec
    assert [(p.menu_id, p.input, p.action) for p in rec.path][:2] == [
        (main_id, "1", "go_menu"),
        (support_id, "1", "transfer_user"),
    ], rec.path
    forward_legs = [leg for leg in rec.legs if leg.kind == "forward"]
    assert [(leg.destination, leg.outcome) for leg in forward_legs] == [(SAM_PHONE, "no_answer")], rec.legs
    pcm, rate = dsp.read_wav(download(stack, rec.voicemail_blob))
    assert abs(len(pcm) / 2 / rate - spoke) < 1.0, (len(pcm) / 2 / rate, spoke)
    assert tone_share(pcm, rate, 440, (1000, 800, 600)) > 0.6  # the caller's voice, not a prompt

    def voicemail() -> dict[str, Any] | None:
        with httpx.Client(base_url=stack.api, headers=auth, timeout=15) as api:
            r = api.get("/voicemails", params={"user_id": sam_id})
            assert r.status_code == 200, r.text
        return next((v for v in r.json()["items"] if v["call_id"] == call_id), None)

    vm = wait_until(voicemail, timeout=30, what="the voicemail in Sam's box")
    assert not vm.get("heard"), vm

    # 5. The inbox: open Sam's box, the voicemail is unheard; Play advances the audio.
    go(page, "/voicemail")
    expect(page.get_by_role("heading", level=1, name="Voicemail")).to_be_visible()
    with httpx.Client(base_url=stack.api, headers=auth, timeout=15) as api:
        unheard_mine = api.get("/dashboard").json()["unheard_voicemails"]
    badge = page.locator("#unheard-count")
    if unheard_mine:
        expect(badge).to_have_text(str(unheard_mine))
    else:
        expect(badge).to_be_hidden()
    page.get_by_label("Voicemail box").select_option(label=USER["name"])
    page.get_by_role("button", name="Open box").click()
    expect(page.get_by_role("heading", name=f"{USER['name']}'s voicemails")).to_be_visible()
    item = page.locator(".vm-item").first
    expect(page.locator(".vm-item")).to_have_count(1)
    expect(item.locator(".vm-marker")).to_have_text("Unheard")
    shot(page, "journey-5-voicemail")
    item.get_by_role("button", name=re.compile("^Play")).click()
    audio = item.locator("audio")
    expect(audio).to_be_visible()
    wait_until(
        lambda: float(audio.evaluate("(a) => a.currentTime")) > 0.5, timeout=15, what="currentTime to advance"
    )
    expect(item.locator(".vm-marker")).to_have_text("Heard")
    shot(page, "journey-5-voicemail-playing")
    assert (voicemail() or {}).get("heard") is True

    # 6. The call history lists the call; its detail shows both menus, 1 twice, the unanswered leg.
    go(page, "/calls")
    expect(page.get_by_role("heading", level=1, name="Call history")).to_be_visible()
    expect(page.locator("main table tbody tr")).to_have_count(1)
    call_row = page.locator("main table tbody tr").first
    expect(call_row).to_contain_text(NUMBER)
    shot(page, "journey-6-calls")
    call_row.get_by_role("link").first.click()
    page.wait_for_url(re.compile(f"/calls/{call_id}$"))
    expect(page.get_by_role("heading", level=1, name=re.compile(r"^Call from "))).to_be_visible()
    summary = page.locator("dl.summary")
    expect(summary).to_contain_text("Voicemail")
    expect(summary).to_contain_text("Not answered")
    expect(summary).to_contain_text(NUMBER)
    path = page.get_by_role("table", name=re.compile("IVR"))
    steps = path.locator("tbody tr")
    expect(steps.first).to_be_visible()
    assert cells(steps, 0)[1:] == ["Main", "Pressed 1", "Go to menu", "Support"], cells(steps, 0)
    assert cells(steps, 1)[1:] == ["Support", "Pressed 1", "Transfer to user", USER["name"]], cells(steps, 1)
    expect(steps.filter(has_text="Pressed 1")).to_have_count(2)
    legs = page.get_by_role("table", name=re.compile("legs"))
    forward = legs.locator("tbody tr").filter(has_text=SAM_PHONE)
    expect(forward).to_have_count(1)
    expect(forward.locator("td").first).to_have_text("Forward")
    expect(forward).to_contain_text("No answer")
    shot(page, "journey-6-call-detail")
    assert not errors, errors
