"""Reporting utils, rates sync and the voice quality analyzer on the real stack (Azurite, ConfigDB,
SMTP catcher, functions host), each run through `POST /admin/functions/{name}`."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import httpx
import pytest

from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack, mail_text, signup_verified
from shared.adapters.blob_media import BlobMedia
from shared.adapters.history import open_history_store
from shared.billing.services.rates import load_rate_table, price_leg
from shared.billing.services.usage_report import previous_month
from shared.history.models.call import CallRecord, Leg, RtpQuality
from tests.integration.notify_helpers import admin_run, peek, runs, wait_until

pytestmark = [
    pytest.mark.skipif(not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"),
    pytest.mark.timeout(300),
]

OWNER_EMAIL = "owner@reports.example"
NUMBER = "+15557770199"
BAD_NUMBER = "+15557770222"

GOOD_DECK = """prefix,rate_per_min,currency
1,0.0090,USD
1555,0.0100,USD
44,0.0150,USD
447,0.0450,USD
4479,0.1200,EUR
49,0.0160,USD
33,0.0140,USD
"""
BAD_ROWS = """not-a-prefix,0.01,USD
49,-0.5,USD
61,0.02,DOLLARS
44,0.0200,USD
"""


@dataclass
class Env:
    stack: LocalStack
    deck: Path
    tenant_id: str
    owner_id: str


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = Path(tmp_path_factory.mktemp("reportstack"))
    deck = base / "deck.csv"
    deck.write_text(GOOD_DECK + BAD_ROWS)
    stack = LocalStack(base)
    stack.host.env = {**(stack.host.env or {}), "RATES_SOURCE": str(deck)}
    with stack:
        tenant_id, access = signup_verified(stack, OWNER_EMAIL)
        with httpx.Client(
            base_url=stack.api, headers={"Authorization": f"Bearer {access}"}, timeout=10
        ) as api:
            owner = next(u for u in api.get("/users").json()["items"] if u["email"] == OWNER_EMAIL)
        yield Env(stack, deck, tenant_id, owner["id"])


def store(stack: LocalStack):  # type: ignore[no-untyped-def]
    return open_history_store(stack.settings)


def put_calls(stack: LocalStack, records: list[CallRecord]) -> None:
    s = store(stack)
    try:
        for r in records:
            s.put_call(r)
    finally:
        s.close()


def run_and_wait(stack: LocalStack, function: str, value: str = "", timeout: float = 60) -> dict:
    before = len(runs(stack, function))
    admin_run(stack, function, value)
    return wait_until(
        lambda: runs(stack, function)[before:] and runs(stack, function)[before],
        timeout,
        f"a {function} run",
    )


def report_mails(stack: LocalStack, month: str) -> list[Message]:
    out = []
    for path in sorted(stack.mail_dir.glob("*.eml")):
        msg = message_from_bytes(path.read_bytes())
        if msg["To"] == OWNER_EMAIL and month in (msg["Subject"] or "") and "usage report" in msg["Subject"]:
            out.append(msg)
    return out


def blob_bytes(stack: LocalStack, container: str, name: str) -> bytes:
    async def go() -> bytes:
        media = BlobMedia(stack.azurite.connection_string)
        try:
            return await media.download(container, name)
        finally:
            await media.aclose()

    return asyncio.run(go())


# --------------------------------------------------------------------------- reports


def month_calls(tenant_id: str, month: str) -> list[CallRecord]:
    start = dt.datetime.strptime(month + "-02T09:00:00", "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    out = []
    spec = [
        ("answered", 125, "+15550000001"),
        ("answered", 30, "+15550000001"),
        ("answered", 61, "+15550000002"),
        ("missed", 0, "+15550000001"),
        ("voicemail", 0, None),
    ]
    for i, (disposition, talk, caller) in enumerate(spec):
        t = start + dt.timedelta(days=i, minutes=i)
        out.append(
            CallRecord(
                call_id=f"rep-{tenant_id}-{i}",
                tenant_id=tenant_id,
                number_called=NUMBER,
                caller=caller,
                started_at=t,
                answered_at=t + dt.timedelta(seconds=5) if talk else None,
                ended_at=t + dt.timedelta(seconds=5 + (talk or 20)),
                disposition=disposition,  # type: ignore[arg-type]
                voicemail_blob=f"voicemail/{tenant_id}/u/{i}.wav" if disposition == "voicemail" else None,
            )
        )
    return out


def links(msg: Message) -> dict[str, str]:
    text = mail_text(msg)
    found = dict(re.findall(r"^(PDF|CSV): (\S+)", text, re.MULTILINE))
    assert set(found) == {"PDF", "CSV"}, text
    return found


def test_report_on_demand_and_monthly_once(env: Env) -> None:
    stack, tid = env.stack, env.tenant_id
    month = previous_month(dt.datetime.now(dt.UTC))
    put_calls(stack, month_calls(tid, month))

    body = {"message_id": f"req-{uuid.uuid4()}", "tenant_id": tid, "month": month}
    run = run_and_wait(stack, "report_request", json.dumps(body))
    assert run["outcome"] == "ok" and run["done"] == 1, run
    msg = wait_until(lambda: report_mails(stack, month), 30, "the report email")[0]
    urls = links(msg)
    # A revocable link of this stack's API, not a SAS URL (which could not be taken back).
    assert urls["PDF"].startswith(f"{stack.api}/report-links/{tid}/") and "sig=" not in urls["PDF"]

    pdf = httpx.get(urls["PDF"], timeout=10, follow_redirects=True)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    got = httpx.get(urls["CSV"], timeout=10, follow_redirects=True)
    assert got.status_code == 200
    rows = list(csv.DictReader(io.StringIO(got.text)))
    total = rows[0]
    assert (total["section"], total["key"]) == ("total", month)
    assert (total["calls"], total["answered"], total["missed"], total["voicemails"]) == ("5", "3", "1", "1")
    assert total["minutes"] == str(3 + 1 + 2) and total["seconds"] == str(125 + 30 + 61)
    assert {r["key"]: r["calls"] for r in rows if r["section"] == "number"} == {NUMBER: "5"}
    callers = [(r["key"], r["calls"]) for r in rows if r["section"] == "caller"]
    assert callers[0] == ("+15550000001", "3") and ("anonymous", "1") in callers
    assert blob_bytes(stack, "reports", f"{tid}/{month}.pdf") == pdf.content

    s = store(stack)
    try:
        act = s.get_activity(tid, env.owner_id, f"report:{tid}:{month}:{env.owner_id}")
    finally:
        s.close()
    assert act is not None and act.kind == "report" and act.data["month"] == month

    # the monthly timer: previous month, emailed once however often it runs
    first = run_and_wait(stack, "monthly_reports")
    assert first["outcome"] == "ok" and first["month"] == month and first["notes"].get("emailed") == 1, first
    wait_until(lambda: len(report_mails(stack, month)) == 2, 30, "the monthly report email")
    again = run_and_wait(stack, "monthly_reports")
    assert again["done"] == 0 and again["notes"].get("already_sent") == 1, again
    assert len(report_mails(stack, month)) == 2


def test_malformed_report_request_is_poisoned_with_reason(env: Env) -> None:
    stack = env.stack
    mid = f"bad-{uuid.uuid4()}"
    run = run_and_wait(
        stack, "report_request", json.dumps({"message_id": mid, "tenant_id": "x", "month": "2026-13"})
    )
    assert run["outcome"] == "poisoned" and run["failed"] == 1, run
    notes = wait_until(
        lambda: [n for n in peek(stack, "reports-poison") if n.get("message_id") == mid],
        20,
        "the poison note",
    )
    assert "month" in notes[0]["reason"] and notes[0]["queue"] == "reports"

    future = {"message_id": f"fut-{uuid.uuid4()}", "tenant_id": env.tenant_id, "month": "2999-01"}
    run = run_and_wait(stack, "report_request", json.dumps(future))
    assert run["outcome"] == "poisoned" and "not started" in run["reason"], run


# --------------------------------------------------------------------------- rates


def rates_runs_lines(stack: LocalStack) -> list[dict]:
    out = []
    for line in stack.host.log_path.read_text(errors="replace").splitlines():
        if '"rates_bad_row"' in line:
            out.append(json.loads(line[line.index("{") :]))
    return out


def current_pointer(stack: LocalStack) -> dict:
    return json.loads(blob_bytes(stack, "rates", "current.json"))


def test_rates_sync_publishes_keeps_previous_and_prices(env: Env) -> None:
    stack = env.stack
    env.deck.write_text(GOOD_DECK + BAD_ROWS)
    run = run_and_wait(stack, "rates_sync")
    assert run["rates_outcome"] == "published", run
    assert run["done"] == 7 and run["failed"] == 4 and run["notes"]["bad_row"] == 4, run
    bad_lines = sorted(d["line"] for d in rates_runs_lines(stack))
    assert bad_lines == [9, 10, 11, 12]  # header is line 1; the 4 bad rows follow the 7 good ones
    pointer = current_pointer(stack)
    version = pointer["version"]
    table = json.loads(blob_bytes(stack, "rates", f"v{version}.json"))
    assert len(table["rates"]) == 7 and table["bad_rows"] == 4

    # the same deck again: nothing new
    same = run_and_wait(stack, "rates_sync")
    assert same["rates_outcome"] == "unchanged" and same["skipped"] == 1, same

    # an unusable deck: the table in force stays
    env.deck.write_text("prefix,rate_per_min,currency\n44,0.1,USD\nzz,abc,USD\n1,xyz,USD\n33,0.1,E\n")
    bad = run_and_wait(stack, "rates_sync")
    assert (
        bad["rates_outcome"] == "unusable" and bad["failed"] >= 1 and "3 of 4 rows are bad" in bad["reason"]
    ), bad
    assert current_pointer(stack)["version"] == version
    last = json.loads(blob_bytes(stack, "rates", "last_import.json"))
    assert last["outcome"] == "unusable" and [b["line"] for b in last["bad_rows"]] == [3, 4, 5]

    # a missing deck: the same
    env.deck.unlink()
    gone = run_and_wait(stack, "rates_sync")
    assert gone["rates_outcome"] == "source_missing" and current_pointer(stack)["version"] == version

    # what the edge loads and prices with
    async def load():  # type: ignore[no-untyped-def]
        media = BlobMedia(stack.azurite.connection_string)
        try:
            return await load_rate_table(media)
        finally:
            await media.aclose()

    loaded = asyncio.run(load())
    assert loaded is not None and loaded.version == version
    rate, currency, cost = price_leg(loaded, "+447911000111", 90)  # type: ignore[misc]
    assert (str(rate), currency, str(cost)) == ("0.1200", "EUR", "0.1800")
    env.deck.write_text(GOOD_DECK + BAD_ROWS)


# --------------------------------------------------------------------------- quality


def bad_quality_calls(tenant_id: str, n: int) -> list[CallRecord]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    out = []
    for i in range(n):
        start = now - dt.timedelta(minutes=30 - i)
        legs = [
            Leg(
                leg_id=f"q{i}-in",
                kind="caller",
                started_at=start,
                answered_at=start,
                ended_at=start + dt.timedelta(seconds=60),
                quality=RtpQuality(
                    packets_rx=3000, packets_tx=3000, lost=180, loss_pct=6.0, jitter_ms=30, mos=2.9
                ),
            )
        ]
        out.append(
            CallRecord(
                call_id=f"qual-{tenant_id}-{i}",
                tenant_id=tenant_id,
                number_called=BAD_NUMBER,
                caller="+15550000009",
                legs=legs,
                started_at=start,
                answered_at=start,
                ended_at=start + dt.timedelta(seconds=60),
                disposition="answered",
            )
        )
    return out


def test_quality_analyzer_flags_once(env: Env) -> None:
    stack, tid = env.stack, env.tenant_id
    put_calls(stack, bad_quality_calls(tid, 12))
    run = run_and_wait(stack, "quality_analyzer")
    assert (
        run["outcome"] == "ok" and run["notes"].get("flagged") == 1 and run["notes"].get("notice_added") == 1
    ), run

    def notices() -> list:
        s = store(stack)
        try:
            return s.list_activities(tid, env.owner_id, kind="account_notice").items
        finally:
            s.close()

    found = notices()
    assert len(found) == 1
    act = found[0]
    assert act.id.startswith(f"quality:{tid}:") and BAD_NUMBER in act.title
    assert {f["key"] for f in act.data["flags"]} >= {BAD_NUMBER}

    today = dt.datetime.now(dt.UTC).date().isoformat()
    day = act.id.split(":")[2]
    series = json.loads(blob_bytes(stack, "reports", f"{tid}/quality/{day}.json"))
    assert series["numbers"][BAD_NUMBER]["calls"] >= 1 and series["mean_mos"] == 2.9
    assert day == today

    again = run_and_wait(stack, "quality_analyzer")
    assert again["notes"].get("notice_exists") == 1 and "notice_added" not in again["notes"], again
    assert len(notices()) == 1
