"""The history API (/calls, /voicemails, /activities, /stats) against the real stack: Azurite, a
3-node ConfigDB shard, the SMTP catcher and the functions host, over HTTP.

Call records and activity items are written the way the SIP edge writes them (`CallRecord` and
the edge's own `activity_for` through the History store opened with the stack's settings, the
same SQLite file the host reads); voicemail and recording WAVs are uploaded to Azurite under the
edge's blob names, so the host's voicemail blob trigger runs on them too. A second process
inserts calls while pages are read.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack, signup_verified
from shared.adapters.blob_media import BlobMedia
from shared.adapters.history import default_sqlite_path, open_history_store
from shared.history.models.call import ActivityItem, CallRecord, Leg, PathStep, RtpQuality
from shared.values import new_ulid
from sip_edge.call_flow import activity_for
from tests.integration.notify_helpers import runs, tone_wav, wait_until

pytestmark = [
    pytest.mark.skipif(not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"),
    pytest.mark.timeout(300),
]

REPO = Path(__file__).resolve().parents[2]
PROBLEM = "application/problem+json"
DAY = dt.datetime(2024, 4, 10, tzinfo=dt.UTC)  # the seeded calls' day (stats)
WRITER_BASE = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)  # tests/integration/history_writer.py
NUMBER = "+15557770100"
OTHER_NUMBER = "+15557770200"


@dataclass
class Account:
    tenant_id: str
    user_id: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    stack: LocalStack
    owner: Account
    member: Account
    other: Account  # the owner of another tenant
    calls: dict[str, CallRecord]  # name -> record of tenant A
    other_call: CallRecord
    other_voicemail: str  # activity id in tenant B
    wav: bytes

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=self.stack.api, timeout=15)


def record(
    tenant_id: str,
    user_id: str | None,
    *,
    started: dt.datetime,
    disposition: str,
    caller: str = "+15559870001",
    number: str = NUMBER,
    direction: str = "inbound",
    voicemail_blob: str | None = None,
    recording_blob: str | None = None,
) -> CallRecord:
    """A finished call as the edge records it: the caller's leg and one forward, the IVR path."""
    call_id = str(uuid.uuid4())
    answered = started + dt.timedelta(seconds=5) if disposition == "answered" else None
    ended = started + dt.timedelta(seconds=95)
    return CallRecord(
        call_id=call_id,
        tenant_id=tenant_id,
        number_called=number,
        caller=caller,
        direction=direction,  # type: ignore[arg-type]
        path=[
            PathStep(input="entry", action="go_menu", target="M1"),
            PathStep(menu_id="M1", input="1", action="transfer_user", target=user_id),
        ],
        legs=[
            Leg(
                leg_id=f"{call_id}-in", kind="caller", started_at=started, answered_at=started, ended_at=ended
            ),
            Leg(
                leg_id=f"{call_id}-fwd",
                kind="forward",
                destination="+15550001002",
                started_at=started + dt.timedelta(seconds=2),
                answered_at=answered,
                ended_at=ended if answered else started + dt.timedelta(seconds=22),
                outcome="answered" if answered else "no_answer",
                sip_status=200 if answered else 408,
                quality=RtpQuality(
                    packets_rx=4500, packets_tx=4500, lost=9, loss_pct=0.2, jitter_ms=3.1, mos=4.3
                )
                if answered
                else None,
            ),
        ],
        started_at=started,
        answered_at=answered,
        ended_at=ended,
        disposition=disposition,  # type: ignore[arg-type]
        user_id=user_id,
        voicemail_blob=voicemail_blob,
        recording_blob=recording_blob,
    )


def upload(stack: LocalStack, container: str, name: str, data: bytes) -> None:
    async def go() -> None:
        media = BlobMedia(stack.azurite.connection_string)
        try:
            await media.upload(container, name, data, "audio/wav")
        finally:
            await media.aclose()

    asyncio.run(go())


def blob_exists(stack: LocalStack, container: str, name: str) -> bool:
    async def go() -> bool:
        media = BlobMedia(stack.azurite.connection_string)
        try:
            return await media.exists(container, name)
        finally:
            await media.aclose()

    return asyncio.run(go())


def write(stack: LocalStack, records: list[CallRecord], activities: list[ActivityItem]) -> None:
    store = open_history_store(stack.settings)
    try:
        for r in records:
            store.put_call(r)
        for a in activities:
            store.add_activity(a)
    finally:
        store.close()


def edge_voicemail(
    stack: LocalStack, tenant_id: str, user_id: str, started: dt.datetime, wav: bytes
) -> CallRecord:
    """Like the edge: the WAV to `voicemail/{tenant}/{user}/{id}.wav` first, then the record and
    its unread activity; then waits until the host's blob trigger has seen it (so it cannot
    recreate the item after a test deletes it)."""
    name = f"{tenant_id}/{user_id}/{new_ulid(started)}.wav"
    upload(stack, "voicemail", name, wav)
    rec = record(
        tenant_id, user_id, started=started, disposition="voicemail", voicemail_blob=f"voicemail/{name}"
    )
    write(stack, [rec], [activity_for(rec, user_id, 2.0)])
    wait_until(
        lambda: any(r.get("blob") in (name, f"voicemail/{name}") for r in runs(stack, "voicemail_new")),
        timeout=60,
        what=f"the voicemail trigger on {name}",
    )
    return rec


def signup_member(stack: LocalStack, owner: Account) -> Account:
    with httpx.Client(base_url=stack.api, timeout=10) as api:
        body = {
            "name": "Max Member",
            "email": "max@history.example",
            "extension": "201",
            "password": "member pass 1",
        }
        r = api.post("/users", json=body, headers=owner.auth)
        assert r.status_code == 201, r.text
        login = api.post("/auth/login", json={"email": body["email"], "password": body["password"]})
        assert login.status_code == 200, login.text
        return Account(owner.tenant_id, r.json()["id"], login.json()["access_token"])


def owner_account(stack: LocalStack, email: str, company: str) -> Account:
    tenant_id, token = signup_verified(stack, email, company=company)
    with httpx.Client(base_url=stack.api, timeout=10, headers={"Authorization": f"Bearer {token}"}) as api:
        me = next(u for u in api.get("/users").json()["items"] if u["email"] == email)
    return Account(tenant_id, me["id"], token)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(Path(tmp_path_factory.mktemp("histstack"))) as s:
        yield s


@pytest.fixture(scope="module")
def world(stack: LocalStack) -> World:
    owner = owner_account(stack, "owner@history.example", "History Ltd")
    other = owner_account(stack, "owner@other-history.example", "Other Ltd")
    member = signup_member(stack, owner)
    t, o, m = owner.tenant_id, owner.user_id, member.user_id
    at = [DAY + dt.timedelta(hours=9, minutes=7 * i) for i in range(12)]
    calls = {
        "owner_answered": record(t, o, started=at[0], disposition="answered"),
        "owner_missed": record(t, o, started=at[1], disposition="missed", caller="+15551230009"),
        "member_answered": record(t, m, started=at[2], disposition="answered", number=OTHER_NUMBER),
        "member_missed": record(t, m, started=at[3], disposition="missed"),
        "outbound": record(t, o, started=at[4], disposition="answered", direction="outbound"),
        "abandoned": record(t, None, started=at[5], disposition="abandoned"),
    }
    rec_call = record(t, m, started=at[6], disposition="answered", recording_blob=None)
    rec_call = rec_call.model_copy(update={"recording_blob": f"recordings/{t}/{rec_call.call_id}.wav"})
    calls["member_recorded"] = rec_call
    wav = tone_wav(1.0)
    upload(stack, "recordings", f"{t}/{rec_call.call_id}.wav", wav)
    write(
        stack,
        list(calls.values()),
        [activity_for(calls["owner_missed"], o, None), activity_for(calls["member_missed"], m, None)],
    )
    calls["owner_voicemail"] = edge_voicemail(stack, t, o, at[7], wav)
    calls["member_voicemail"] = edge_voicemail(stack, t, m, at[8], wav)
    other_call = edge_voicemail(stack, other.tenant_id, other.user_id, at[0], wav)
    return World(stack, owner, member, other, calls, other_call, f"voicemail:{other_call.call_id}", wav)


def day_filter() -> dict[str, str]:
    return {"from": DAY.isoformat(), "to": (DAY + dt.timedelta(days=1)).isoformat()}


def call_ids(items: list[dict[str, object]]) -> set[str]:
    return {str(i["call_id"]) for i in items}


# --------------------------------------------------------------------------- calls


def test_list_filter_and_get_calls(world: World) -> None:
    calls, auth = world.calls, world.owner.auth
    with world.api() as api:
        r = api.get("/calls", params=day_filter(), headers=auth)
        assert r.status_code == 200, r.text
        page = r.json()
        assert call_ids(page["items"]) == {c.call_id for c in calls.values()}
        started = [i["started_at"] for i in page["items"]]
        assert started == sorted(started, reverse=True) and page["next_cursor"] is None

        def ids(**params: str) -> set[str]:
            got = api.get("/calls", params={**day_filter(), **params}, headers=auth)
            assert got.status_code == 200, got.text
            return call_ids(got.json()["items"])

        assert ids(disposition="missed") == {calls["owner_missed"].call_id, calls["member_missed"].call_id}
        assert ids(direction="outbound") == {calls["outbound"].call_id}
        assert ids(user_id=world.member.user_id) == {
            calls[k].call_id
            for k in ("member_answered", "member_missed", "member_recorded", "member_voicemail")
        }
        assert ids(number=OTHER_NUMBER) == {calls["member_answered"].call_id}
        assert ids(number="+15551230009") == {calls["owner_missed"].call_id}  # the caller matches too
        assert ids(disposition="answered", user_id=world.owner.user_id) == {
            calls["owner_answered"].call_id,
            calls["outbound"].call_id,
        }
        window = {
            "from": (DAY + dt.timedelta(hours=9, minutes=7)).isoformat(),
            "to": (DAY + dt.timedelta(hours=9, minutes=21)).isoformat(),
        }
        got = api.get("/calls", params=window, headers=auth).json()["items"]
        assert call_ids(got) == {calls["owner_missed"].call_id, calls["member_answered"].call_id}  # half-open

        # pages of 2 walk the same set, no duplicates
        seen: list[str] = []
        cursor = None
        while True:
            params = {**day_filter(), "limit": "2", **({"cursor": cursor} if cursor else {})}
            r = api.get("/calls", params=params, headers=auth)
            assert r.status_code == 200, r.text
            seen += [i["call_id"] for i in r.json()["items"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == len(calls)

        one = calls["owner_answered"]
        r = api.get(f"/calls/{one.call_id}", headers=auth)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["disposition"] == "answered" and body["duration_s"] == 95.0
        assert [s["action"] for s in body["path"]] == ["go_menu", "transfer_user"]
        assert [leg["kind"] for leg in body["legs"]] == ["caller", "forward"]
        assert body["legs"][1]["quality"]["mos"] == 4.3 and body["legs"][1]["sip_status"] == 200
        assert body["has_recording"] is False and body["recording_url"] is None
        assert "voicemail_blob" not in body and "recording_blob" not in body


def test_bad_queries_are_422_problems(world: World) -> None:
    auth = world.owner.auth
    with world.api() as api:
        cursor = api.get("/calls", params={**day_filter(), "limit": "1"}, headers=auth).json()["next_cursor"]
        cases = [
            {"direction": "sideways"},
            {"disposition": "lost"},
            {"limit": "0"},
            {"limit": "501"},
            {"from": "yesterday"},
            {"from": "2024-05-02T00:00:00Z", "to": "2024-05-01T00:00:00Z"},
            {"cursor": "not-a-cursor"},
            {"cursor": cursor, "disposition": "missed"},  # a cursor of another query
        ]
        for params in cases:
            r = api.get("/calls", params=params, headers=auth)
            assert r.status_code == 422, (params, r.text)
            assert r.headers["content-type"].startswith(PROBLEM)
            assert r.json()["errors"][0]["pointer"].startswith("#query/"), r.text
        r = api.get("/stats", params={"from": "2024-05-02", "to": "2024-05-01"}, headers=auth)
        assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
        r = api.get("/stats", params={"from": "2020-01-01", "to": "2024-05-01"}, headers=auth)
        assert r.status_code == 422
        r = api.patch("/activities/whatever", json={"read": None}, headers=auth)
        assert r.status_code == 422
        r = api.patch(f"/voicemails/voicemail:{uuid.uuid4()}", json={"heard": "loud"}, headers=auth)
        assert r.status_code == 422
        r = api.get("/calls")
        assert r.status_code == 401 and r.headers["content-type"].startswith(PROBLEM)


def test_calls_active_is_not_a_call_id(world: World) -> None:
    """`/calls/active` belongs to the live-calls router: the history `{call_id}` route never takes it."""
    with world.api() as api:
        r = api.get("/calls/active", headers=world.owner.auth)
        assert not (r.status_code == 404 and r.json().get("detail") == "call not found"), r.text
        r = api.get("/calls/active/recording", headers=world.owner.auth)
        assert not (
            r.status_code == 404 and r.json().get("detail") in ("call not found", "recording not found")
        )


def test_pages_stay_exact_while_another_process_inserts(world: World) -> None:
    """Paging through the API while a second process writes calls into the same window: every
    call present when paging began comes back exactly once, and nothing twice."""
    stack, t = world.stack, world.owner.tenant_id
    base = WRITER_BASE
    rng = [base + dt.timedelta(seconds=17 * i + 1) for i in range(150)]
    before = [
        record(t, world.owner.user_id, started=s, disposition="answered", number="+15550000009") for s in rng
    ]
    write(stack, before, [])
    window = {"from": base.isoformat(), "to": (base + dt.timedelta(hours=1)).isoformat(), "limit": "20"}
    writer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.history_writer",
            "--sqlite",
            str(default_sqlite_path(stack.settings.data_dir)),
            "--tenant",
            t,
            "--prefix",
            f"w-{uuid.uuid4().hex[:6]}",
            "--count",
            "300",
            "--base-us",
            str(int(base.timestamp() * 1_000_000)),
            "--interval",
            "0.005",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "started"
        seen: list[str] = []
        cursor = None
        pages = 0
        overlapped = False
        with world.api() as api:
            while True:
                params = {**window, **({"cursor": cursor} if cursor else {})}
                r = api.get("/calls", params=params, headers=world.owner.auth)
                assert r.status_code == 200, r.text
                seen += [i["call_id"] for i in r.json()["items"]]
                cursor = r.json()["next_cursor"]
                pages += 1
                if pages == 1:
                    overlapped = writer.poll() is None  # still writing after the first page
                if cursor is None:
                    break
    finally:
        assert writer.wait(timeout=60) == 0
    assert len(seen) == len(set(seen)), "a call came back twice"
    assert {c.call_id for c in before} <= set(seen), "a call present before paging was skipped"
    assert pages >= 8 and overlapped, (pages, overlapped)


def test_stats_daily_series(world: World) -> None:
    with world.api() as api:
        params = {
            "from": (DAY - dt.timedelta(days=1)).date().isoformat(),
            "to": (DAY + dt.timedelta(days=1)).date().isoformat(),
        }
        r = api.get("/stats", params=params, headers=world.owner.auth)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["from"] == params["from"] and body["to"] == params["to"]
        assert [d["day"] for d in body["days"]] == [
            (DAY + dt.timedelta(days=k)).date().isoformat() for k in (-1, 0, 1)
        ]
        before, day, after = body["days"]
        assert before["calls"] == after["calls"] == 0
        assert day["calls"] == 9
        assert day["by_disposition"] == {"answered": 4, "missed": 2, "abandoned": 1, "voicemail": 2}
        assert day["by_direction"] == {"inbound": 8, "outbound": 1}
        assert day["voicemails"] == 2
        assert day["seconds"] == 4 * 90 and day["minutes"] == 4 * 2  # answered 5 s in, ended at 95 s
        assert body["totals"]["calls"] == 9 and body["totals"]["by_disposition"]["missed"] == 2
        default = api.get("/stats", headers=world.owner.auth)
        assert default.status_code == 200 and len(default.json()["days"]) == 30
        # the other tenant's counters are its own (its one voicemail call)
        r = api.get("/stats", params=params, headers=world.other.auth)
        assert r.json()["days"][1]["calls"] == 1 and r.json()["days"][1]["by_disposition"] == {"voicemail": 1}


# --------------------------------------------------------------------------- voicemails and media


def test_voicemail_list_heard_audio_range_and_delete(world: World) -> None:
    stack, owner = world.stack, world.owner
    vm_call = world.calls["owner_voicemail"]
    vm_id = f"voicemail:{vm_call.call_id}"
    blob_name = vm_call.voicemail_blob.removeprefix("voicemail/")  # type: ignore[union-attr]
    with world.api() as api:
        r = api.get("/voicemails", headers=owner.auth)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        assert [i["id"] for i in items] == [vm_id]  # the owner's box only, not the member's
        assert (
            items[0]["heard"] is False
            and items[0]["seconds"] == 2.0
            and items[0]["call_id"] == vm_call.call_id
        )
        assert items[0]["audio_url"] == f"/api/v1/voicemails/{vm_id}/audio"

        r = api.patch(f"/voicemails/{vm_id}", json={"heard": True}, headers=owner.auth)
        assert r.status_code == 200 and r.json()["heard"] is True, r.text
        assert [
            i["id"]
            for i in api.get("/voicemails", params={"heard": "false"}, headers=owner.auth).json()["items"]
        ] == []
        feed = api.get("/activities", params={"kind": "voicemail"}, headers=owner.auth).json()["items"]
        assert feed[0]["id"] == vm_id and feed[0]["read"] is True and "blob" not in feed[0]["data"]
        r = api.patch(f"/voicemails/{vm_id}", json={"heard": False}, headers=owner.auth)
        assert r.json()["heard"] is False

        # the FileHandler: 302 to a SAS URL valid 5 minutes; the blob serves Range
        r = api.get(f"/voicemails/{vm_id}/audio", headers=owner.auth)
        assert r.status_code == 302, r.text
        assert r.headers["cache-control"] == "no-store"
        location = r.headers["location"]
        assert location.startswith(f"{stack.azurite.blob_url}/voicemail/{blob_name}?")
        expiry = dt.datetime.fromisoformat(parse_qs(urlsplit(location).query)["se"][0].replace("Z", "+00:00"))
        left = (expiry - dt.datetime.now(dt.UTC)).total_seconds()
        assert 240 < left <= 301, left
        ranged = httpx.get(location, headers={"Range": "bytes=100-199"}, timeout=10)
        assert ranged.status_code == 206, ranged.text
        assert ranged.content == world.wav[100:200]
        assert ranged.headers["content-range"] == f"bytes 100-199/{len(world.wav)}"
        assert httpx.get(location, timeout=10).content == world.wav

        # delete: the blob, the record's reference and the item
        assert blob_exists(stack, "voicemail", blob_name)
        r = api.delete(f"/voicemails/{vm_id}", headers=owner.auth)
        assert r.status_code == 204, r.text
        assert not blob_exists(stack, "voicemail", blob_name)
        assert api.get(f"/voicemails/{vm_id}/audio", headers=owner.auth).status_code == 404
        assert api.delete(f"/voicemails/{vm_id}", headers=owner.auth).status_code == 404
        assert api.get("/voicemails", headers=owner.auth).json()["items"] == []
        call = api.get(f"/calls/{vm_call.call_id}", headers=owner.auth).json()
        assert call["has_voicemail"] is False and call["disposition"] == "voicemail"


def test_recording_for_admins_and_the_calls_user(world: World) -> None:
    rec = world.calls["member_recorded"]
    with world.api() as api:
        for who in (world.owner, world.member):
            r = api.get(f"/calls/{rec.call_id}/recording", headers=who.auth)
            assert r.status_code == 302, r.text
            ranged = httpx.get(r.headers["location"], headers={"Range": "bytes=100-199"}, timeout=10)
            assert ranged.status_code == 206 and ranged.content == world.wav[100:200]
        assert api.get(f"/calls/{rec.call_id}", headers=world.owner.auth).json()["recording_url"] == (
            f"/api/v1/calls/{rec.call_id}/recording"
        )
        no_rec = world.calls["owner_answered"].call_id
        assert api.get(f"/calls/{no_rec}/recording", headers=world.owner.auth).status_code == 404


# --------------------------------------------------------------------------- activities


def test_activities_filters_patch_and_read_all(world: World) -> None:
    stack, member = world.stack, world.member
    t, m = member.tenant_id, member.user_id
    base = DAY + dt.timedelta(days=3)
    extra = [
        ActivityItem(
            id=f"notice:{uuid.uuid4()}",
            tenant_id=t,
            user_id=m,
            kind="account_notice",
            title=f"n{i}",
            created_at=base + dt.timedelta(minutes=i),
        )
        for i in range(3)
    ]
    write(stack, [], extra)
    with world.api() as api:
        r = api.get("/activities", headers=member.auth)
        assert r.status_code == 200, r.text
        body = r.json()
        # the member's missed call, voicemail and 3 notices; never the owner's
        kinds = sorted(i["kind"] for i in body["items"])
        assert kinds == ["account_notice"] * 3 + ["missed_call", "voicemail"], kinds
        assert body["unread"] == 5
        first = api.get("/activities", params={"limit": "2"}, headers=member.auth).json()
        assert [i["id"] for i in first["items"]] == [extra[2].id, extra[1].id] and first["next_cursor"]
        second = api.get(
            "/activities", params={"limit": "2", "cursor": first["next_cursor"]}, headers=member.auth
        ).json()
        assert second["items"][0]["id"] == extra[0].id

        r = api.patch(f"/activities/{extra[0].id}", json={"read": True}, headers=member.auth)
        assert r.status_code == 200 and r.json()["read"] is True, r.text
        r = api.patch(f"/activities/{extra[1].id}", json={"archived": True}, headers=member.auth)
        assert r.json()["archived"] is True and r.json()["read"] is False
        read = api.get("/activities", params={"read": "true"}, headers=member.auth).json()
        assert [i["id"] for i in read["items"]] == [extra[0].id]
        archived = api.get("/activities", params={"archived": "true"}, headers=member.auth).json()
        assert [i["id"] for i in archived["items"]] == [extra[1].id]
        assert (
            len(api.get("/activities", params={"archived": "any"}, headers=member.auth).json()["items"]) == 5
        )
        assert len(api.get("/activities", headers=member.auth).json()["items"]) == 4
        assert api.get("/activities", headers=member.auth).json()["unread"] == 3  # archived ones don't count

        r = api.post("/activities/read-all", headers=member.auth)
        assert r.status_code == 200, r.text
        assert r.json() == {"updated": 4, "unread": 0}  # archived unread items are read too
        assert (
            api.get("/activities", params={"read": "false", "archived": "any"}, headers=member.auth).json()[
                "items"
            ]
            == []
        )
        # the owner's feed is untouched
        assert (
            api.get("/activities", params={"read": "false"}, headers=world.owner.auth).json()["unread"] >= 1
        )
        assert (
            api.patch(
                f"/activities/{extra[0].id}", json={"read": False}, headers=world.owner.auth
            ).status_code
            == 404
        )


# --------------------------------------------------------------------------- who sees what


def test_member_sees_own_calls_admin_sees_tenant(world: World) -> None:
    calls, member, owner = world.calls, world.member, world.owner
    mine = {
        calls[k].call_id for k in ("member_answered", "member_missed", "member_recorded", "member_voicemail")
    }
    with world.api() as api:
        got = api.get("/calls", params=day_filter(), headers=member.auth).json()["items"]
        assert call_ids(got) == mine
        got = api.get("/calls", params={**day_filter(), "user_id": member.user_id}, headers=member.auth)
        assert call_ids(got.json()["items"]) == mine
        r = api.get("/calls", params={"user_id": owner.user_id}, headers=member.auth)
        assert r.status_code == 403 and r.headers["content-type"].startswith(PROBLEM)
        assert api.get(f"/calls/{calls['owner_answered'].call_id}", headers=member.auth).status_code == 404
        assert api.get(f"/calls/{calls['abandoned'].call_id}", headers=member.auth).status_code == 404
        assert api.get(f"/calls/{calls['member_missed'].call_id}", headers=member.auth).status_code == 200
        assert api.get(f"/calls/{calls['member_missed'].call_id}", headers=owner.auth).status_code == 200
        assert api.get("/stats", headers=member.auth).status_code == 403

        # voicemail boxes: a member their own; an admin any, by user_id or through the call record
        vm = f"voicemail:{calls['member_voicemail'].call_id}"
        assert [i["id"] for i in api.get("/voicemails", headers=member.auth).json()["items"]] == [vm]
        assert (
            api.get("/voicemails", params={"user_id": owner.user_id}, headers=member.auth).status_code == 403
        )
        box = api.get("/voicemails", params={"user_id": member.user_id}, headers=owner.auth).json()["items"]
        assert [i["id"] for i in box] == [vm] and box[0]["user_id"] == member.user_id
        assert api.get(f"/voicemails/{vm}/audio", headers=owner.auth).status_code == 302
        r = api.patch(
            f"/voicemails/{vm}", params={"user_id": member.user_id}, json={"heard": True}, headers=owner.auth
        )
        assert r.status_code == 200 and r.json()["heard"] is True
        assert api.get(f"/voicemails/{vm}/audio", headers=member.auth).status_code == 302


def test_other_tenants_ids_are_404_on_every_route(world: World) -> None:
    a, b = world.owner, world.other
    b_call, b_vm = world.other_call.call_id, world.other_voicemail
    with world.api() as api:
        # B's own view works
        assert api.get(f"/calls/{b_call}", headers=b.auth).status_code == 200
        assert [i["id"] for i in api.get("/voicemails", headers=b.auth).json()["items"]] == [b_vm]
        # A never sees B's call, voicemail or activities
        routes = [
            ("GET", f"/calls/{b_call}", None, None),
            ("GET", f"/calls/{b_call}/recording", None, None),
            ("PATCH", f"/voicemails/{b_vm}", None, {"heard": True}),
            ("GET", f"/voicemails/{b_vm}/audio", None, None),
            ("DELETE", f"/voicemails/{b_vm}", None, None),
            ("PATCH", f"/voicemails/{b_vm}", {"user_id": b.user_id}, {"heard": True}),
            ("GET", f"/voicemails/{b_vm}/audio", {"user_id": b.user_id}, None),
            ("DELETE", f"/voicemails/{b_vm}", {"user_id": b.user_id}, None),
            ("PATCH", f"/activities/{b_vm}", None, {"read": True}),
        ]
        for method, path, params, body in routes:
            r = api.request(method, path, params=params, json=body, headers=a.auth)
            assert r.status_code == 404, (method, path, r.status_code, r.text)
            assert r.headers["content-type"].startswith(PROBLEM)
        assert b_call not in call_ids(api.get("/calls", headers=a.auth).json()["items"])
        assert api.get("/voicemails", params={"user_id": b.user_id}, headers=a.auth).json()["items"] == []
        assert b_call not in call_ids(
            api.get("/calls", params={"user_id": b.user_id}, headers=a.auth).json()["items"]
        )
        assert all(
            i["id"] != b_vm
            for i in api.get("/activities", params={"archived": "any"}, headers=a.auth).json()["items"]
        )
        # A's read-all leaves B's feed alone; B's voicemail is intact
        api.post("/activities/read-all", headers=a.auth).raise_for_status()
        b_box = api.get("/voicemails", headers=b.auth).json()["items"]
        assert b_box[0]["heard"] is False
        assert api.get(f"/voicemails/{b_vm}/audio", headers=b.auth).status_code == 302
        # a cursor of A's listing is refused for B
        cursor = api.get("/calls", params={"limit": "1"}, headers=a.auth).json()["next_cursor"]
        assert api.get("/calls", params={"limit": "1", "cursor": cursor}, headers=b.auth).status_code == 422
