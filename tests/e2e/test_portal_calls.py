"""The voicemail inbox, the call history and the call detail pages in a real Chromium, against the
real stack (Azurite, a 3-node ConfigDB shard, the SMTP catcher, the functions host and the static
site): one stack for the module.

Call records and their activity items are written the way the SIP edge writes them (`CallRecord`
and the edge's own `activity_for`, through the History store opened with the stack's settings:
the SQLite file the functions host reads). Voicemail WAVs go to Azurite under the edge's blob
names first, so the host's voicemail blob trigger runs on each before the browser looks; the
recording WAV goes to the `recordings` container. The browser plays audio through the API's
short-lived signed Blob URLs (Range requests), exactly as a user's browser would.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import Page, Response, expect

from infra.local.stack import LocalStack, signup_verified
from shared.history.models.call import CallRecord, LegPrice
from shared.values import new_ulid
from sip_edge.call_flow import activity_for
from tests.e2e.conftest import go, log_in, shot, watch_page_errors
from tests.integration.notify_helpers import runs, tone_wav, wait_until
from tests.integration.test_api_history import record, upload, write

pytestmark = [pytest.mark.timeout(600)]

EMAIL = "owner@portal-calls.example"
PASSWORD = "portal calls pass 1"
MEMBER = {
    "name": "Max Member",
    "email": "max@portal-calls.example",
    "extension": "201",
    "password": "member pass 1",
}
DAY = dt.datetime(2024, 4, 10, tzinfo=dt.UTC)  # the history calls' day (filters work in whole days)
LATER = DAY + dt.timedelta(days=2)  # two more calls, outside the day filter
NUMBER = "+15557770100"
OTHER_NUMBER = "+15557770200"
VM_SECONDS = 6.0  # long enough to seek inside


@dataclass
class World:
    stack: LocalStack
    tenant_id: str
    owner_id: str
    member_id: str
    token: str
    day_calls: list[CallRecord]  # on DAY, newest first
    detail: CallRecord  # answered, priced, recorded
    voicemails: dict[str, CallRecord] = field(default_factory=dict)  # caller -> record

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.stack.api, headers={"Authorization": f"Bearer {self.token}"}, timeout=15
        )


def edge_voicemail(
    stack: LocalStack, tenant_id: str, user_id: str, started: dt.datetime, caller: str
) -> CallRecord:
    """As the edge leaves a voicemail: the WAV to `voicemail/{tenant}/{user}/{id}.wav` first, then
    the record and its unread activity; then wait for the host's blob trigger to have run on it."""
    name = f"{tenant_id}/{user_id}/{new_ulid(started)}.wav"
    upload(stack, "voicemail", name, tone_wav(VM_SECONDS))
    rec = record(
        tenant_id,
        user_id,
        started=started,
        disposition="voicemail",
        caller=caller,
        voicemail_blob=f"voicemail/{name}",
    )
    write(stack, [rec], [activity_for(rec, user_id, VM_SECONDS)])
    wait_until(
        lambda: any(r.get("blob") in (name, f"voicemail/{name}") for r in runs(stack, "voicemail_new")),
        timeout=60,
        what=f"the voicemail trigger on {name}",
    )
    return rec


@pytest.fixture(scope="module")
def world(portal_stack: LocalStack) -> World:
    stack = portal_stack
    tenant_id, token = signup_verified(stack, EMAIL, password=PASSWORD, company="Portal Calls Ltd")
    with httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {token}"}, timeout=15) as api:
        owner_id = next(u["id"] for u in api.get("/users").json()["items"] if u["email"] == EMAIL)
        r = api.post("/users", json=MEMBER)
        assert r.status_code == 201, r.text
        member_id = r.json()["id"]
        for number, label in ((NUMBER, "Main line"), (OTHER_NUMBER, "Support line")):
            r = api.post("/numbers", json={"number": number, "label": label})
            assert r.status_code == 201, r.text
        r = api.post("/ivr-menus", json={"name": "Front desk", "greeting": {"text": "Welcome"}})
        assert r.status_code == 201, r.text
        menu_id = r.json()["id"]

    t, o, m = tenant_id, owner_id, member_id
    at = [DAY + dt.timedelta(hours=10, minutes=20 * i) for i in range(7)]  # 10:00..12:00 UTC
    detail = record(t, o, started=at[6], disposition="answered", caller="+15551110006")
    detail = with_menu(detail, menu_id)
    fwd = detail.legs[1].model_copy(
        update={"price": LegPrice(rate_per_min=Decimal("0.0120"), currency="USD", cost=Decimal("0.0180"))}
    )
    detail = detail.model_copy(
        update={"legs": [detail.legs[0], fwd], "recording_blob": f"recordings/{t}/{detail.call_id}.wav"}
    )
    day_calls = [
        record(t, o, started=at[0], disposition="missed", caller="+15551110000"),
        record(t, m, started=at[1], disposition="missed", caller="+15551110001"),
        record(t, m, started=at[2], disposition="answered", caller="+15551110002", number=OTHER_NUMBER),
        record(t, o, started=at[3], disposition="answered", caller="+15551110003", direction="outbound"),
        record(t, None, started=at[4], disposition="abandoned", caller="+15551110004"),
        record(t, o, started=at[5], disposition="rejected", caller="+15551110005"),
        detail,
    ]
    later = [
        record(t, o, started=LATER + dt.timedelta(hours=12), disposition="answered", caller="+15552220000"),
        record(t, m, started=LATER + dt.timedelta(hours=13), disposition="missed", caller="+15552220001"),
    ]
    upload(stack, "recordings", f"{t}/{detail.call_id}.wav", tone_wav(VM_SECONDS, hz=660.0))
    write(stack, day_calls + later, [])
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    w = World(stack, t, o, m, token, list(reversed(day_calls)), detail)
    for i, caller in enumerate(("+15553330001", "+15553330002")):  # the second is the newest
        w.voicemails[caller] = edge_voicemail(stack, t, o, now - dt.timedelta(hours=2 - i), caller)
    w.voicemails["+15553330009"] = edge_voicemail(stack, t, m, now - dt.timedelta(hours=3), "+15553330009")
    return w


def with_menu(rec: CallRecord, menu_id: str) -> CallRecord:
    path = [
        step.model_copy(update={"target": menu_id}) if step.action == "go_menu" else step for step in rec.path
    ]
    path = [step.model_copy(update={"menu_id": menu_id}) if step.menu_id else step for step in path]
    return rec.model_copy(update={"path": path})


# --------------------------------------------------------------------------- browser helpers


def assert_fits_phone(page: Page) -> None:
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, f"{page.url} scrolls sideways on a phone ({width}px)"
    for wrap in page.locator("main .table-wrap").all():
        inner = wrap.evaluate("(w) => w.scrollWidth - w.clientWidth")
        assert inner <= 1, f"a table on {page.url} scrolls sideways on a phone ({inner}px)"


def audio_time(page: Page, scope: Any) -> float:
    return float(scope.locator("audio").evaluate("(a) => a.currentTime"))


def item(page: Page, caller: str) -> Any:
    return page.get_by_role("listitem").filter(
        has=page.get_by_role("heading", name=re.compile(re.escape(caller)))
    )


def voicemail_state(world: World, caller: str, box: str | None = None) -> dict[str, Any] | None:
    rec = world.voicemails[caller]
    with world.api() as api:
        params = {"user_id": box} if box else {}
        r = api.get("/voicemails", params=params)
        assert r.status_code == 200, r.text
    return next((v for v in r.json()["items"] if v["call_id"] == rec.call_id), None)


def rows(page: Page, count: int) -> list[str]:
    """The call history rows' caller column, once the table shows `count` rows (a navigation
    empties <main> at once, so an old table never passes for the new one)."""
    expect(page.locator("main table tbody tr")).to_have_count(count)
    return page.locator("main table tbody tr td:nth-child(2)").all_inner_texts()


# --------------------------------------------------------------------------- voicemail


def test_voicemail_inbox_play_seek_mark_delete(world: World, page: Page) -> None:
    ranges: list[Response] = []
    page.on("response", lambda r: ranges.append(r) if r.status == 206 and ".wav" in r.url else None)
    log_in(page, EMAIL, PASSWORD)
    go(page, "/voicemail")
    expect(page.get_by_role("heading", level=1, name="Voicemail")).to_be_visible()
    newest, older = item(page, "+15553330002"), item(page, "+15553330001")
    expect(newest).to_contain_text("Unheard")
    expect(older).to_contain_text("Unheard")
    # Newest first; the member's voicemail is not in the owner's box.
    headings = page.locator(".vm-item h3").all_inner_texts()
    assert [h.split()[2] for h in headings] == ["+15553330002", "+15553330001"], headings
    expect(page.locator("#unheard-count")).to_have_text("2")
    expect(page.locator("#unheard-count")).to_have_attribute("aria-label", "2 unheard")
    expect(newest.locator("audio")).to_be_hidden()
    shot(page, "voicemail")

    # Play: the player appears, time advances, and the voicemail is heard (marker and badge).
    newest.get_by_role("button", name=re.compile("^Play")).click()
    expect(newest.locator("audio")).to_be_visible()
    newest.locator("audio").evaluate("(a) => a.play()")
    wait_until(lambda: audio_time(page, newest) > 0.5, timeout=15, what="currentTime to advance")
    expect(newest.locator(".vm-marker")).to_have_text("Heard")
    expect(page.locator("#unheard-count")).to_have_text("1")
    assert voicemail_state(world, "+15553330002")["heard"] is True

    # Seek to a later point: the element reads from there (HTTP Range on the signed URL).
    newest.locator("audio").evaluate("(a) => { a.currentTime = 4.0; return a.play(); }")
    wait_until(lambda: audio_time(page, newest) > 4.2, timeout=15, what="playback after seeking to 4 s")
    assert ranges, "the audio was not fetched with HTTP Range"
    assert all("sig=" in r.url for r in ranges)

    # An expired (or otherwise refused) signed URL is replaced by a fresh one, and plays on.
    old_src = newest.locator("audio").evaluate("(a) => a.src")
    newest.locator("audio").evaluate(
        "(a) => { a.src = a.src.replace(/sig=[^&]+/, 'sig=expired'); a.play().catch(() => {}); }"
    )
    wait_until(
        lambda: (
            "sig=expired" not in newest.locator("audio").evaluate("(a) => a.src")
            and audio_time(page, newest) > 0.3
        ),
        timeout=20,
        what="a fresh signed URL after a refused one",
    )
    assert newest.locator("audio").evaluate("(a) => a.src") != old_src
    newest.locator("audio").evaluate("(a) => a.pause()")

    # Mark unheard, then heard again, with the buttons.
    newest.get_by_role("button", name=re.compile("^Mark as unheard")).click()
    expect(newest.locator(".vm-marker")).to_have_text("Unheard")
    expect(page.locator("#unheard-count")).to_have_text("2")
    assert voicemail_state(world, "+15553330002")["heard"] is False
    newest.get_by_role("button", name=re.compile("^Mark as heard")).click()
    expect(newest.locator(".vm-marker")).to_have_text("Heard")
    expect(page.locator("#unheard-count")).to_have_text("1")

    # Delete, with the keyboard only: Tab to Delete, Enter, confirm with Enter.
    delete = older.get_by_role("button", name=re.compile("^Delete"))
    older.get_by_role("button", name=re.compile("^Mark as heard")).focus()
    page.keyboard.press("Tab")
    expect(delete).to_be_focused()
    page.keyboard.press("Enter")
    confirm = older.get_by_role("button", name="Yes, delete it")
    expect(confirm).to_be_focused()
    expect(older).to_contain_text("Delete the voicemail from +15553330001?")
    page.keyboard.press("Enter")
    expect(older).to_have_count(0)
    expect(page.locator("#unheard-count")).to_be_hidden()
    assert voicemail_state(world, "+15553330001") is None

    # Reload: the state came from the API, not from the page.
    page.reload()
    expect(page.locator(".vm-item")).to_have_count(1)
    expect(item(page, "+15553330002").locator(".vm-marker")).to_have_text("Heard")

    # The owner opens the member's box with the box picker.
    page.get_by_label("Voicemail box").select_option(label="Max Member · ext. 201")
    page.get_by_role("button", name="Open box").click()
    expect(page.get_by_role("heading", name="Max Member's voicemails")).to_be_visible()
    member_item = item(page, "+15553330009")
    expect(member_item.locator(".vm-marker")).to_have_text("Unheard")
    member_item.get_by_role("button", name=re.compile("^Mark as heard")).click()
    expect(member_item.locator(".vm-marker")).to_have_text("Heard")
    assert voicemail_state(world, "+15553330009", box=world.member_id)["heard"] is True
    member_item.get_by_role("button", name=re.compile("^Play")).click()
    wait_until(lambda: audio_time(page, member_item) > 0.3, timeout=15, what="the member's voicemail to play")

    page.set_viewport_size({"width": 390, "height": 844})
    go(page, "/voicemail")
    expect(page.locator(".vm-item")).to_have_count(1)
    item(page, "+15553330002").get_by_role("button", name=re.compile("^Play")).click()
    shot(page, "voicemail-phone")
    assert_fits_phone(page)


# --------------------------------------------------------------------------- call history


def day_query() -> str:
    return f"from={DAY.date().isoformat()}&to={DAY.date().isoformat()}"


def test_call_history_filters(world: World, page: Page) -> None:
    log_in(page, EMAIL, PASSWORD)
    go(page, "/calls")
    expect(page.get_by_role("heading", level=1, name="Call history")).to_be_visible()
    total = 7 + 2 + 3  # the day's calls, two later ones, three voicemails
    expect(page.locator("main table tbody tr")).to_have_count(total)

    # Dates narrow the list to the day (whole days in the browser's time zone).
    page.get_by_label("From date").fill(DAY.date().isoformat())
    page.get_by_label("To date (inclusive)").fill(DAY.date().isoformat())
    page.get_by_role("button", name="Show calls").click()
    page.wait_for_url(re.compile(r"/calls\?from=2024-04-10&to=2024-04-10$"))
    expect(page.locator("main table tbody tr")).to_have_count(7)
    assert rows(page, 7) == [c.caller for c in world.day_calls]
    shot(page, "calls")

    # Disposition, chosen with the keyboard only: type to pick, Tab to the button, Enter.
    page.get_by_label("Disposition").focus()
    page.keyboard.type("m")  # "Missed"
    expect(page.get_by_label("Disposition")).to_have_value("missed")
    page.keyboard.press("Tab")  # calls per page
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Show calls")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"disposition=missed"))
    expect(page.locator("main table tbody tr")).to_have_count(2)
    assert rows(page, 2) == ["+15551110001", "+15551110000"]
    expect(page.locator("main table caption")).to_contain_text("missed")

    # The filters live in the URL: reload shows the same list with the same form values.
    page.reload()
    expect(page.locator("main table tbody tr")).to_have_count(2)
    expect(page.get_by_label("Disposition")).to_have_value("missed")
    expect(page.get_by_label("From date")).to_have_value("2024-04-10")

    # User and number pickers, from GET /users and GET /numbers.
    page.get_by_label("Disposition").select_option("")
    page.get_by_label("User").select_option(label="Max Member (ext. 201)")
    page.get_by_role("button", name="Show calls").click()
    page.wait_for_url(re.compile(f"user_id={world.member_id}"))
    expect(page.locator("main table tbody tr")).to_have_count(2)
    assert set(rows(page, 2)) == {"+15551110001", "+15551110002"}
    page.get_by_label("User").select_option("")
    page.get_by_label("Number").select_option(label=f"{OTHER_NUMBER} · Support line")
    page.get_by_role("button", name="Show calls").click()
    page.wait_for_url(re.compile("number="))
    assert rows(page, 1) == ["+15551110002"]

    # Back returns to the previous filters.
    page.go_back()
    page.wait_for_url(re.compile(f"user_id={world.member_id}"))
    expect(page.locator("main table tbody tr")).to_have_count(2)

    # The API's own error appears next to the field it points at (#query/to).
    page.get_by_role("button", name="Clear filters").click()
    page.wait_for_url(re.compile(r"/calls$"))
    page.get_by_label("From date").fill("2024-04-12")
    page.get_by_label("To date (inclusive)").fill("2024-04-10")
    page.get_by_role("button", name="Show calls").click()
    to_field = page.locator(".field", has=page.get_by_label("To date (inclusive)"))
    expect(to_field.locator(".field-error")).to_have_text("The To date cannot be before the From date.")
    expect(page.get_by_text("Correct the filters above to see calls.")).to_be_visible()
    expect(page.get_by_label("To date (inclusive)")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("main table")).to_have_count(0)
    shot(page, "calls-error")


def test_call_history_pages_forward_and_back(world: World, page: Page) -> None:
    log_in(page, EMAIL, PASSWORD)
    go(page, f"/calls?{day_query()}&limit=3")
    expected = [c.caller for c in world.day_calls]
    expect(page.get_by_label("Calls per page")).to_have_value("3")
    assert rows(page, 3) == expected[0:3]
    expect(page.get_by_role("link", name="Previous page")).to_have_count(0)
    page.get_by_role("link", name="Next page").click()
    page.wait_for_url(re.compile("cursor="))
    expect(page.locator("main table tbody tr").first).to_contain_text(expected[3])
    assert rows(page, 3) == expected[3:6]
    page.get_by_role("link", name="Next page").click()
    expect(page.locator("main table tbody tr")).to_have_count(1)
    assert rows(page, 1) == expected[6:7]
    expect(page.get_by_role("link", name="Next page")).to_have_count(0)
    # A reload keeps the page and still knows the way back.
    page.reload()
    expect(page.locator("main table tbody tr")).to_have_count(1)
    assert rows(page, 1) == expected[6:7]
    page.get_by_role("link", name="Previous page").click()
    expect(page.locator("main table tbody tr").first).to_contain_text(expected[3])
    assert rows(page, 3) == expected[3:6]
    page.get_by_role("link", name="Previous page").click()
    expect(page.locator("main table tbody tr").first).to_contain_text(expected[0])
    assert rows(page, 3) == expected[0:3]
    assert "cursor" not in parse_qs(urlsplit(page.url).query)
    # The browser's Back goes the other way.
    page.go_back()
    expect(page.locator("main table tbody tr").first).to_contain_text(expected[3])
    # A cursor that does not belong to these filters: the API's sentence and a way out.
    go(page, f"/calls?{day_query()}&limit=3&cursor=not-a-cursor")
    expect(page.locator(".form-error, .field-error:not([hidden])").first).to_be_visible()
    page.get_by_role("link", name="Go to the first page").click()
    expect(page.locator("main table tbody tr")).to_have_count(3)

    # On a phone each call is a card; nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    go(page, f"/calls?{day_query()}&limit=3")
    assert rows(page, 3) == expected[0:3]
    shot(page, "calls-phone")
    assert_fits_phone(page)


# --------------------------------------------------------------------------- call detail


def test_call_detail(world: World, page: Page) -> None:
    log_in(page, EMAIL, PASSWORD)
    go(page, f"/calls?{day_query()}")
    call = world.detail
    page.get_by_role("row", name=re.compile(re.escape(call.caller or ""))).get_by_role("link").click()
    page.wait_for_url(re.compile(f"/calls/{call.call_id}$"))
    expect(page.get_by_role("heading", level=1, name=f"Call from {call.caller}")).to_be_visible()
    summary = page.locator("dl.summary")
    expect(summary).to_contain_text("Answered")
    expect(summary).to_contain_text(NUMBER)
    expect(summary).to_contain_text("1:35")  # 95 s

    path = page.get_by_role("table", name=re.compile("IVR"))
    expect(path.locator("tbody tr")).to_have_count(2)
    expect(path.locator("tbody tr").nth(0)).to_contain_text("Go to menu")
    expect(path.locator("tbody tr").nth(0)).to_contain_text("Front desk")
    expect(path.locator("tbody tr").nth(1)).to_contain_text("Front desk")
    expect(path.locator("tbody tr").nth(1)).to_contain_text("Pressed 1")
    expect(path.locator("tbody tr").nth(1)).to_contain_text("Transfer to user")
    expect(path.locator("tbody tr").nth(1)).to_contain_text("Owner")

    legs = page.get_by_role("table", name=re.compile("legs"))
    expect(legs.locator("tbody tr")).to_have_count(2)
    fwd = legs.locator("tbody tr").nth(1)
    expect(fwd).to_contain_text("+15550001002")
    expect(fwd).to_contain_text("Answered (SIP 200)")
    expect(fwd).to_contain_text("1:30")
    expect(fwd).to_contain_text("0.012 USD/min")

    quality = page.get_by_role("table", name=re.compile("quality"))
    expect(quality.locator("tbody tr")).to_have_count(1)
    expect(quality).to_contain_text("4.30 (good)")
    expect(quality).to_contain_text("0.2 % (9 lost)")
    expect(quality).to_contain_text("3.1 ms")

    page.get_by_role("button", name="Play recording").click()
    rec = page.locator(".recording")
    rec.locator("audio").evaluate("(a) => a.play()")
    wait_until(lambda: audio_time(page, rec) > 0.3, timeout=15, what="the recording to play")
    rec.locator("audio").evaluate("(a) => a.pause()")
    shot(page, "call-detail")

    # A call without recording, voicemail one with its link; an unknown id reads as a sentence.
    vm = world.voicemails["+15553330002"]
    go(page, f"/calls/{vm.call_id}")
    expect(page.get_by_text("This call was not recorded.")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("open the inbox"))).to_be_visible()
    go(page, f"/calls/{uuid.uuid4()}")
    expect(page.get_by_role("alert")).to_have_text("This call does not exist, or it is not one you may see.")

    page.set_viewport_size({"width": 390, "height": 844})
    go(page, f"/calls/{call.call_id}")
    shot(page, "call-detail-phone")
    assert_fits_phone(page)


def test_member_sees_own_calls_only(world: World, page: Page) -> None:
    log_in(page, MEMBER["email"], MEMBER["password"])
    go(page, f"/calls?{day_query()}")
    expect(page.locator("main table tbody tr")).to_have_count(2)
    assert set(rows(page, 2)) == {"+15551110001", "+15551110002"}
    expect(page.get_by_label("User")).to_have_count(0)  # members see their own calls only
    go(page, f"/calls/{world.detail.call_id}")
    expect(page.get_by_role("alert")).to_contain_text("does not exist")
    go(page, "/voicemail")
    expect(page.get_by_label("Voicemail box")).to_have_count(0)
    expect(page.locator(".vm-item")).to_have_count(1)


@pytest.fixture(autouse=True)
def _no_page_errors(world: World, page: Page) -> Iterator[None]:
    errors = watch_page_errors(page)
    yield
    assert not errors, errors
