"""Pure rules of the background timers: trial stop and reminder decisions, notice claims,
cleaner eligibility and steps, marketing contacts."""

from __future__ import annotations

import datetime as dt

import pytest

from shared.directory.models.tenant import Tenant
from shared.directory.models.user import Role, User
from shared.lifecycle.services.marketing import contact_of, message_id, user_key_parts
from shared.lifecycle.services.notices import NoticeRecord, decide
from shared.lifecycle.services.tenant_cleaner import (
    STEPS,
    CleanupProgress,
    Step,
    eligibility,
    lease_free,
    merge_counts,
    next_step,
)
from shared.lifecycle.services.trials import due_reminder, notice_message_id, stop_decision, suspended

NOW = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)
TID = "01J9Z3K4M5N6P7Q8R9S0T1V2W3"
UID = "01J9Z3K4M5N6P7Q8R9S0T1V2W4"


def tenant(**kw: object) -> Tenant:
    base: dict[str, object] = {
        "id": TID,
        "name": "Acme",
        "status": "trial",
        "trial_ends_at": NOW + dt.timedelta(days=14),
        "created_at": NOW - dt.timedelta(days=1),
        "region": "local",
        "owner_user_id": UID,
    }
    return Tenant.model_validate({**base, **kw})


def test_stop_decision() -> None:
    assert stop_decision(tenant(), NOW) == "running"
    assert stop_decision(tenant(trial_ends_at=NOW), NOW) == "stop"
    assert stop_decision(tenant(trial_ends_at=NOW - dt.timedelta(days=1), billing_account_id="b"), NOW) == (
        "billing_account"
    )
    assert stop_decision(tenant(status="active"), NOW) == "not_trial"


def test_suspended_sets_status_and_time() -> None:
    after = suspended(tenant(trial_ends_at=NOW), NOW)
    assert after.status.value == "suspended" and after.status_changed_at == NOW
    assert after.trial_ends_at == NOW


@pytest.mark.parametrize(
    ("left", "expected"),
    [
        (dt.timedelta(days=14), None),
        (dt.timedelta(days=3, seconds=1), None),
        (dt.timedelta(days=3), 3),
        (dt.timedelta(days=1, seconds=1), 3),
        (dt.timedelta(days=1), 1),
        (dt.timedelta(seconds=1), 1),
        (dt.timedelta(0), None),
        (-dt.timedelta(days=1), None),
    ],
)
def test_due_reminder(left: dt.timedelta, expected: int | None) -> None:
    assert due_reminder(tenant(trial_ends_at=NOW + left), NOW) == expected


def test_no_reminder_for_billed_or_active() -> None:
    end = NOW + dt.timedelta(days=2)
    assert due_reminder(tenant(trial_ends_at=end, billing_account_id="b"), NOW) is None
    assert due_reminder(tenant(status="active", trial_ends_at=end), NOW) is None


def test_notice_decisions() -> None:
    end = NOW + dt.timedelta(days=3)
    lease = dt.timedelta(minutes=10)
    assert decide(None, subject_at=end, now=NOW, lease=lease) == "claim"
    sending = NoticeRecord(state="sending", message_id="m", subject_at=end, claimed_at=NOW)
    assert decide(sending, subject_at=end, now=NOW + dt.timedelta(minutes=1), lease=lease) == "in_flight"
    assert decide(sending, subject_at=end, now=NOW + dt.timedelta(minutes=11), lease=lease) == "claim"
    sent = sending.model_copy(update={"state": "sent"})
    assert decide(sent, subject_at=end, now=NOW, lease=lease) == "done"
    # the trial was extended: a new end gets its own notice
    assert decide(sent, subject_at=end + dt.timedelta(days=7), now=NOW, lease=lease) == "claim"


def test_notice_message_id_is_stable_per_trial_end() -> None:
    end = dt.datetime(2025, 3, 13, 9, 30, tzinfo=dt.UTC)
    assert notice_message_id("trial-reminder-3d", TID, end) == f"trial-reminder-3d-{TID}-20250313T093000Z"


def test_cleaner_eligibility() -> None:
    assert eligibility(tenant(), NOW) == "open"
    assert eligibility(tenant(status="suspended"), NOW) == "stamp"
    old = NOW - dt.timedelta(days=30)
    assert eligibility(tenant(status="suspended", status_changed_at=old), NOW) == "clean"
    assert eligibility(tenant(status="cancelled", status_changed_at=old + dt.timedelta(seconds=1)), NOW) == (
        "retained"
    )


def test_cleaner_steps_and_lease() -> None:
    assert [next_step(s) for s in STEPS] == [Step.HISTORY, Step.BLOBS, Step.FINISH, Step.DONE, Step.DONE]
    p = CleanupProgress(tenant_id=TID, step=Step.CONFIG, status="suspended", started_at=NOW, updated_at=NOW)
    assert lease_free(p, NOW)
    held = p.model_copy(update={"lease_until": NOW + dt.timedelta(minutes=1)})
    assert not lease_free(held, NOW) and lease_free(held, NOW + dt.timedelta(minutes=1))
    assert merge_counts({"blobs.voicemail": 1}, {"voicemail": 2, "reports": 1}, "blobs") == {
        "blobs.voicemail": 3,
        "blobs.reports": 1,
    }


def test_marketing_contacts() -> None:
    assert user_key_parts(f"t/{TID}/user/{UID}") == (TID, UID)
    assert user_key_parts(f"t/{TID}/device/{UID}/d1") is None
    assert user_key_parts(f"t/{TID}/tenant/{TID}") is None
    owner = User(
        id=UID,
        tenant_id=TID,
        name="Ann",
        email="ann@example.com",
        role=Role.OWNER,
        created_at=NOW,
        marketing_consent=True,
    )
    c = contact_of(owner, "Acme", 42)
    assert (c.email, c.company, c.marketing_consent, c.deleted) == ("ann@example.com", "Acme", True, False)
    assert message_id(c) == f"{UID}@42"
    member = owner.model_copy(update={"role": Role.MEMBER})
    gone = contact_of(member, "Acme", 43)
    assert gone.deleted and gone.email is None
