"""Pure rules of the voicemail/missed-call notifications and the queue handlers."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.adapters.recording_senders import RecordingPushSender, RecordingSmsSender
from shared.directory.models.tenant import Tenant
from shared.directory.models.user import NotifyOptions, User
from shared.errors import Rejected, Unavailable
from shared.history.models.call import CallRecord
from shared.history.services.voicemail import parse_voicemail_blob, wav_seconds
from shared.notifications.models import EmailAttachment, OutgoingEmail, PushMessage, SmsMessage
from shared.notifications.services.notify import (
    message_id,
    missed_call_notifications,
    refreshed,
    voicemail_activity,
    voicemail_notifications,
)
from shared.queue_work import MAX_POISON_BODY_CHARS, decide, poison_note, reason_of

T0 = dt.datetime(2025, 3, 4, 13, 5, tzinfo=dt.UTC)
TID = "01JNXJ3ZQ7Q0000000000000T1"
UID = "01JNXJ3ZQ7Q0000000000000V1"


def user(**notify: bool) -> User:
    return User(
        id=UID,
        tenant_id=TID,
        name="Ann",
        email="ann@example.com",
        forwarding_numbers=["+15551230001"],
        notify=NotifyOptions(**notify),
        created_at=T0,
    )


def tenant() -> Tenant:
    return Tenant(
        id=TID, name="Acme", status="active", created_at=T0, region="local", time_zone="Europe/Berlin"
    )


def record(disposition: str = "voicemail") -> CallRecord:
    return CallRecord(
        call_id="c1",
        tenant_id=TID,
        number_called="+15557770100",
        caller="+15559870001",
        started_at=T0,
        ended_at=T0 + dt.timedelta(seconds=30),
        disposition=disposition,  # type: ignore[arg-type]
        user_id=UID,
        voicemail_blob=f"voicemail/{TID}/{UID}/v1.wav" if disposition == "voicemail" else None,
    )


def test_voicemail_notifications_follow_the_users_choices() -> None:
    item = voicemail_activity(record(), UID, 12.4)
    common = dict(
        tenant=tenant(),
        activity=item,
        blob=f"voicemail/{TID}/{UID}/v1.wav",
        seconds=12.4,
        number_called="+15557770100",
        portal_url="http://portal",
    )
    out = voicemail_notifications(user=user(sms_on_voicemail=True), has_devices=True, **common)  # type: ignore[arg-type]
    assert [o.queue for o in out] == ["email", "sms", "push"]
    email = OutgoingEmail.model_validate({**out[0].body, "message_id": out[0].message_id})
    assert email.attachments[0].blob == f"voicemail/{TID}/{UID}/v1.wav"
    assert "(12 s) on +15557770100 at 2025-03-04 14:05 (Europe/Berlin)" in email.text
    SmsMessage.model_validate({**out[1].body, "message_id": out[1].message_id})
    assert PushMessage.model_validate(out[2].body).type == "voicemail"
    assert out[0].message_id == f"{TID}:voicemail:c1:email"
    # email off, no devices: only what is left
    out = voicemail_notifications(user=user(email_on_voicemail=False), has_devices=False, **common)  # type: ignore[arg-type]
    assert out == []


def test_missed_call_notifications_need_a_number_for_sms() -> None:
    u = user(sms_on_missed=True, email_on_missed=True).model_copy(update={"forwarding_numbers": []})
    out = missed_call_notifications(
        tenant=None, user=u, record=record("missed"), activity_id="missed:c1", has_devices=True
    )
    assert [o.queue for o in out] == ["email", "push"]
    assert "at 2025-03-04 13:05 (UTC)" in out[0].body["text"]


def test_refresh_fills_only_what_is_missing() -> None:
    edge = voicemail_activity(record(), UID, None).model_copy(update={"read": True})
    ours = voicemail_activity(record(), UID, 5.02)
    new = refreshed(edge, ours)
    assert new is not None and new.data["seconds"] == 5.02 and new.read
    assert refreshed(new, voicemail_activity(record(), UID, 5.0)) is None  # the edge's value wins


def test_long_message_ids_are_digested() -> None:
    mid = message_id("t" * 64, "voicemail:" + "c" * 200, "email")
    assert len(mid) <= 200 and mid.startswith("email:")
    assert mid == message_id("t" * 64, "voicemail:" + "c" * 200, "email")


def test_voicemail_blob_names() -> None:
    vm = parse_voicemail_blob(f"voicemail/{TID}/{UID}/abc.wav")
    assert vm is not None and (vm.tenant_id, vm.user_id, vm.blob_id) == (TID, UID, "abc")
    assert vm.path == f"voicemail/{TID}/{UID}/abc.wav"
    assert parse_voicemail_blob(f"{TID}/abc.wav") is None
    assert parse_voicemail_blob(f"{TID}/{UID}/abc.mp3") is None
    assert wav_seconds(b"not a wav") is None


def test_decide_retry_or_poison() -> None:
    assert decide(Unavailable("x"), 1) == "retry"
    assert decide(Unavailable("x"), 4) == "retry"
    assert decide(Unavailable("x"), 5) == "poison"
    assert decide(Rejected("550 no such user"), 1) == "poison"


def test_poison_note_keeps_reason_and_bounded_body() -> None:
    try:
        SmsMessage.model_validate({"message_id": "m", "to": "555", "text": ""})
    except ValidationError as exc:
        reason = reason_of(exc)
    assert reason.startswith("invalid body: to: ") and "text: " in reason
    note = poison_note(
        queue="sms", function="sms_sender", body="x" * 40_000, message_id="m", reason=reason,
        delivery_count=1, now=T0,
    )  # fmt: skip
    assert note.body_truncated and len(note.body) == MAX_POISON_BODY_CHARS


def test_attachment_needs_exactly_one_source() -> None:
    with pytest.raises(ValidationError):
        EmailAttachment(filename="a.wav")
    with pytest.raises(ValidationError):
        EmailAttachment(filename="a.wav", blob="voicemail/x.wav", content_b64="AA==")
    with pytest.raises(ValidationError):
        EmailAttachment(filename="../a.wav", blob="voicemail/x.wav")
    assert EmailAttachment(filename="a.wav", blob="voicemail/t/u/x.wav").container_and_name == (
        "voicemail",
        "t/u/x.wav",
    )


def test_edge_incoming_call_body_is_accepted() -> None:
    body = {
        "message_id": "c1:incoming_call:u1",
        "type": "incoming_call",
        "tenant_id": TID,
        "user_id": UID,
        "call_id": "c1",
        "caller": None,
        "number_called": "+15557770100",
        "devices": ["d1"],
    }
    assert PushMessage.model_validate(body).devices == ["d1"]


def test_recording_senders_dedupe_and_report_dead_tokens(tmp_path: Path) -> None:
    sms = RecordingSmsSender(tmp_path / "sms")
    push = RecordingPushSender(tmp_path / "push")

    async def go() -> list[str]:
        await sms.send("+15551230001", "hi", "m1")
        await sms.send("+15551230001", "hi", "m1")
        return [
            await push.send("fcm", "live-token-1", {"type": "voicemail"}, "p1"),
            await push.send("apns", "dead-token-1", {"type": "voicemail"}, "p2"),
        ]

    assert asyncio.run(go()) == ["sent", "dead_token"]
    assert [r["message_id"] for r in sms.record.read()] == ["m1"]
    assert [r["token"] for r in push.record.read()] == ["live-token-1"]
