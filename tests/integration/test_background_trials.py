"""Background timers on the real stack, run through the host's admin endpoint: the trial stopper,
the trial reminders and the marketing sync. Tenant documents are moved in time by writing them
through the ConfigDB client directly, as an operator would."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest

from infra.local.azurite import AZURITE_BIN
from infra.local.stack import LocalStack, mail_text
from shared.adapters.recording_senders import JsonLinesRecord
from shared.configdb import ConfigDBClient
from shared.configdb_keys import tenant_key, user_key
from shared.lifecycle.services.notices import notice_key
from shared.values import format_utc
from tests.integration.notify_helpers import runs, wait_drained, wait_until

pytestmark = [
    pytest.mark.skipif(not AZURITE_BIN.exists(), reason="azurite is not installed (make test installs it)"),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(Path(tmp_path_factory.mktemp("timers"))) as s:
        yield s


@pytest.fixture(scope="module")
def db(stack: LocalStack) -> Iterator[ConfigDBClient]:
    with ConfigDBClient(stack.cluster.endpoints, stack.cluster.token) as client:
        yield client


# --------------------------------------------------------------------------- helpers


def signup(stack: LocalStack, email: str, company: str, consent: bool = False) -> tuple[str, str]:
    """(tenant id, owner user id) of a fresh sign-up (no verification needed here)."""
    r = httpx.post(
        f"{stack.api}/signup",
        json={
            "company": company,
            "name": "Olive Owner",
            "email": email,
            "password": "correct horse battery",
            "marketing_consent": consent,
        },
        timeout=15,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    return body["tenant"]["id"], body["user"]["id"]


def edit(db: ConfigDBClient, key: str, **changes: Any) -> dict[str, Any]:
    """Compare-and-set `changes` into the JSON document at `key`."""
    kv = db.get(key)
    doc = {**kv.value, **changes}
    db.put(key, doc, prev_revision=kv.revision)
    return doc


def run_now(stack: LocalStack, function: str) -> dict[str, Any]:
    """Run a timer through `POST /admin/functions/{name}`; its `function_run` log line."""
    before = len(runs(stack, function))
    r = httpx.post(
        f"http://127.0.0.1:{stack.api_port}/admin/functions/{function}", json={"input": ""}, timeout=10
    )
    assert r.status_code == 202, r.text
    done = wait_until(lambda: runs(stack, function)[before:], what=f"{function} run")
    return done[0]


def mails(stack: LocalStack, to: str, kind: str) -> list[Message]:
    out = []
    for path in sorted(stack.mail_dir.glob("*.eml")) if stack.mail_dir.exists() else []:
        msg = message_from_bytes(path.read_bytes())
        if msg["To"] == to and msg["X-CloudPBX-Kind"] == kind:
            out.append(msg)
    return out


def settle(stack: LocalStack) -> None:
    """Wait until the `email` queue has delivered everything the runs so far queued."""
    wait_drained(stack, "email")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------- trial stopper


def test_trial_past_its_end_is_suspended_and_owner_emailed_once(
    stack: LocalStack, db: ConfigDBClient
) -> None:
    email = f"ended-{uuid.uuid4().hex[:8]}@trials.example"
    tid, _ = signup(stack, email, "Expired Trial Ltd")
    billed = f"billed-{uuid.uuid4().hex[:8]}@trials.example"
    billed_tid, _ = signup(stack, billed, "Billed Ltd")
    running = f"running-{uuid.uuid4().hex[:8]}@trials.example"
    running_tid, _ = signup(stack, running, "Running Trial Ltd")
    past = format_utc(now() - dt.timedelta(minutes=5))
    edit(db, tenant_key(tid), trial_ends_at=past)
    edit(db, tenant_key(billed_tid), trial_ends_at=past, billing_account_id="ba_123")

    first = run_now(stack, "trial_stopper")
    assert first["outcome"] == "ok" and first["failed"] == 0, first
    assert first["notes"].get("suspended", 0) >= 1 and first["notes"].get("billing_account", 0) >= 1

    tenant = db.get(tenant_key(tid)).value
    assert tenant["status"] == "suspended"
    assert tenant["status_changed_at"] is not None
    assert db.get(tenant_key(billed_tid)).value["status"] == "trial"  # billing account: left alone
    assert db.get(tenant_key(running_tid)).value["status"] == "trial"  # not ended yet

    got = wait_until(lambda: mails(stack, email, "trial-ended"), what="trial-ended email")
    assert "has ended" in got[0]["Subject"]
    assert "/billing" in mail_text(got[0])
    assert db.get(notice_key(tid, "trial-ended")).value["state"] == "sent"

    second = run_now(stack, "trial_stopper")
    assert second["outcome"] == "ok" and second["notes"].get("suspended", 0) == 0, second
    settle(stack)
    assert len(mails(stack, email, "trial-ended")) == 1
    assert mails(stack, billed, "trial-ended") == [] and mails(stack, running, "trial-ended") == []


def test_overlapping_stoppers_suspend_and_email_once(stack: LocalStack, db: ConfigDBClient) -> None:
    email = f"overlap-{uuid.uuid4().hex[:8]}@trials.example"
    tid, _ = signup(stack, email, "Overlap Ltd")
    edit(db, tenant_key(tid), trial_ends_at=format_utc(now() - dt.timedelta(seconds=1)))
    before = len(runs(stack, "trial_stopper"))
    for _ in range(3):  # three instances at once
        r = httpx.post(
            f"http://127.0.0.1:{stack.api_port}/admin/functions/trial_stopper", json={}, timeout=10
        )
        assert r.status_code == 202
    three = wait_until(
        lambda: len(runs(stack, "trial_stopper")[before:]) >= 3 and runs(stack, "trial_stopper")[before:]
    )
    assert all(r["outcome"] == "ok" for r in three)
    wait_until(lambda: mails(stack, email, "trial-ended"), what="trial-ended email")
    settle(stack)
    assert len(mails(stack, email, "trial-ended")) == 1
    assert db.get(tenant_key(tid)).value["status"] == "suspended"


# --------------------------------------------------------------------------- reminders


def test_reminders_three_days_and_one_day_before_exactly_once(stack: LocalStack, db: ConfigDBClient) -> None:
    email = f"remind-{uuid.uuid4().hex[:8]}@trials.example"
    tid, _ = signup(stack, email, "Reminded Ltd")
    # 14 days left: nothing due
    run_now(stack, "trial_reminder")
    settle(stack)
    assert mails(stack, email, "trial-reminder") == []

    edit(db, tenant_key(tid), trial_ends_at=format_utc(now() + dt.timedelta(days=3) - dt.timedelta(hours=1)))
    before = len(runs(stack, "trial_reminder"))
    for _ in range(2):  # two overlapping instances
        httpx.post(f"http://127.0.0.1:{stack.api_port}/admin/functions/trial_reminder", json={}, timeout=10)
    wait_until(lambda: len(runs(stack, "trial_reminder")[before:]) >= 2, what="two reminder runs")
    three = wait_until(lambda: mails(stack, email, "trial-reminder"), what="3-day reminder")
    assert "ends in 3 days" in three[0]["Subject"]
    again = run_now(stack, "trial_reminder")
    assert again["notes"].get("already_sent_3d", 0) >= 1, again
    settle(stack)
    assert len(mails(stack, email, "trial-reminder")) == 1
    assert db.get(notice_key(tid, "trial-reminder-3d")).value["state"] == "sent"

    # a day later: the 1-day reminder, once
    edit(db, tenant_key(tid), trial_ends_at=format_utc(now() + dt.timedelta(hours=23)))
    run_now(stack, "trial_reminder")
    wait_until(lambda: len(mails(stack, email, "trial-reminder")) == 2, what="1-day reminder")
    run_now(stack, "trial_reminder")
    settle(stack)
    got = mails(stack, email, "trial-reminder")
    assert len(got) == 2
    assert "ends tomorrow" in got[1]["Subject"] or "ends tomorrow" in got[0]["Subject"]
    assert db.get(notice_key(tid, "trial-reminder-1d")).value["state"] == "sent"


# --------------------------------------------------------------------------- marketing sync


def contacts(stack: LocalStack) -> list[dict[str, Any]]:
    return [r["contact"] for r in JsonLinesRecord(stack.settings.data_dir / "marketing").read()]


def test_marketing_sync_sends_sign_ups_once_then_only_changes(stack: LocalStack, db: ConfigDBClient) -> None:
    yes = f"yes-{uuid.uuid4().hex[:8]}@mkt.example"
    no = f"no-{uuid.uuid4().hex[:8]}@mkt.example"
    yes_tid, yes_uid = signup(stack, yes, "Consenting Co", consent=True)
    no_tid, no_uid = signup(stack, no, "Quiet Co", consent=False)

    first = run_now(stack, "marketing_sync")
    assert first["outcome"] == "ok" and first["failed"] == 0, first
    sent = {c["user_id"]: c for c in contacts(stack)}
    assert sent[yes_uid]["marketing_consent"] is True and sent[yes_uid]["email"] == yes
    assert sent[yes_uid]["company"] == "Consenting Co" and sent[yes_uid]["tenant_id"] == yes_tid
    assert sent[no_uid]["marketing_consent"] is False
    count = len(contacts(stack))

    second = run_now(stack, "marketing_sync")
    assert second["mode"] == "watch" and second["done"] == 0, second
    assert len(contacts(stack)) == count

    # one change and one new sign-up: exactly those two are sent
    edit(db, user_key(no_tid, no_uid), marketing_consent=True)
    late = f"late-{uuid.uuid4().hex[:8]}@mkt.example"
    _, late_uid = signup(stack, late, "Late Co", consent=True)
    third = run_now(stack, "marketing_sync")
    assert third["mode"] == "watch" and third["done"] == 2, third
    new = contacts(stack)[count:]
    assert sorted(c["user_id"] for c in new) == sorted([no_uid, late_uid])
    assert all(c["marketing_consent"] is True for c in new)

    fourth = run_now(stack, "marketing_sync")
    assert fourth["done"] == 0 and len(contacts(stack)) == count + 2


# --------------------------------------------------------------------------- auth sweeper


def test_auth_sweeper_deletes_expired_auth_records_through_the_host(
    stack: LocalStack, db: ConfigDBClient
) -> None:
    tag = uuid.uuid4().hex
    expired, live = f"auth/reset/{tag}-old", f"auth/reset/{tag}-new"
    db.put(
        expired, {"tenant_id": "t", "user_id": "u", "expires_at": format_utc(now() - dt.timedelta(minutes=1))}
    )
    db.put(live, {"tenant_id": "t", "user_id": "u", "expires_at": format_utc(now() + dt.timedelta(hours=1))})
    run = run_now(stack, "auth_sweeper")
    assert run["outcome"] == "ok" and run["notes"].get("reset_deleted", 0) >= 1, run
    assert db.get_or_none(expired) is None
    assert db.get_or_none(live) is not None
