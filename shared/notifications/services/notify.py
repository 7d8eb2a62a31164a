"""What a voicemail or a missed call tells its user, as pure functions (no I/O).

- Feed items: `voicemail_activity` / `missed_activity` build exactly what the SIP edge writes
  (`sip_edge/call_flow.py` `activity_for`: ids `voicemail:{call_id}` and `missed:{call_id}`), so
  a function that finds the item missing can write the same one. `orphan_voicemail_activity` is
  for a voicemail blob whose call record never arrived (id `voicemail:blob:{blob id}`).
- Notifications: `voicemail_notifications` / `missed_call_notifications` return the queue
  messages to send (`email`, `sms`, `push`) according to the user's `NotifyOptions`. Message ids
  are derived from the activity id and the channel, so a rerun queues the same ids and the
  consumers (Message-ID header, provider idempotency keys) send once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import zoneinfo
from dataclasses import dataclass
from typing import Any

from shared.directory.models.tenant import Tenant
from shared.directory.models.user import User
from shared.history.models.call import ActivityItem, CallRecord
from shared.notifications.models import EMAIL_QUEUE, PUSH_QUEUE, SMS_QUEUE

MAX_MESSAGE_ID = 200


@dataclass(frozen=True)
class Outbound:
    """One message to put on a queue."""

    queue: str
    body: dict[str, Any]
    message_id: str


def message_id(*parts: str) -> str:
    """`a:b:c`, or a digest of it when longer than a message id may be."""
    text = ":".join(parts)
    if len(text) <= MAX_MESSAGE_ID:
        return text
    return f"{parts[-1]}:{hashlib.sha256(text.encode()).hexdigest()}"


def caller_label(caller: str | None) -> str:
    return caller if caller and caller.lower() not in ("anonymous", "unknown") else "an unknown caller"


def local_time(at: dt.datetime, tenant: Tenant | None) -> str:
    """`2025-03-04 14:05 (Europe/Berlin)` in the tenant's time zone (UTC when unknown)."""
    name = tenant.time_zone if tenant is not None else "UTC"
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone, name = dt.UTC, "UTC"
    return f"{at.astimezone(zone):%Y-%m-%d %H:%M} ({name})"


def sms_number(user: User) -> str | None:
    """Where a user's text messages go: their first forwarding number (their mobile)."""
    return user.forwarding_numbers[0] if user.forwarding_numbers else None


# --------------------------------------------------------------------------- feed items


def voicemail_activity(record: CallRecord, user_id: str, seconds: float | None) -> ActivityItem:
    who = record.caller or "an unknown caller"
    return ActivityItem(
        id=f"voicemail:{record.call_id}",
        tenant_id=record.tenant_id,
        user_id=user_id,
        kind="voicemail",
        call_id=record.call_id,
        title=f"New voicemail from {who}",
        created_at=record.ended_at or record.started_at,
        data={"blob": record.voicemail_blob, "seconds": seconds, "caller": record.caller},
    )


def missed_activity(record: CallRecord, user_id: str) -> ActivityItem:
    who = record.caller or "an unknown caller"
    return ActivityItem(
        id=f"missed:{record.call_id}",
        tenant_id=record.tenant_id,
        user_id=user_id,
        kind="missed_call",
        call_id=record.call_id,
        title=f"Missed call from {who}",
        created_at=record.ended_at or record.started_at,
        data={"caller": record.caller, "number_called": record.number_called},
    )


def orphan_voicemail_activity(
    tenant_id: str, user_id: str, blob_id: str, blob: str, seconds: float | None, at: dt.datetime
) -> ActivityItem:
    return ActivityItem(
        id=f"voicemail:blob:{blob_id}",
        tenant_id=tenant_id,
        user_id=user_id,
        kind="voicemail",
        call_id=None,
        title="New voicemail",
        created_at=at,
        data={"blob": blob, "seconds": seconds, "caller": None},
    )


def refreshed(existing: ActivityItem, wanted: ActivityItem) -> ActivityItem | None:
    """The item to store in place of `existing`, or None when it lacks nothing `wanted` has.
    Only absent (or null) data fields are filled in; what the edge wrote wins, and the user's
    state (read, archived) and the original time are kept."""
    merged = dict(existing.data)
    for key, value in wanted.data.items():
        if value is not None and merged.get(key) is None:
            merged[key] = value
    if merged == existing.data:
        return None
    return existing.model_copy(update={"data": merged})


# --------------------------------------------------------------------------- notifications


def _seconds_text(seconds: float | None) -> str:
    return f" ({round(seconds)} s)" if seconds is not None else ""


def voicemail_notifications(
    *,
    tenant: Tenant | None,
    user: User,
    activity: ActivityItem,
    blob: str,
    seconds: float | None,
    number_called: str | None,
    has_devices: bool,
    portal_url: str,
) -> list[Outbound]:
    """The email (WAV attached), SMS and push a new voicemail sends, as the user chose."""
    caller = activity.data.get("caller")
    who = caller_label(caller)
    when = local_time(activity.created_at, tenant)
    key = (activity.tenant_id, activity.id)
    out: list[Outbound] = []
    if user.notify.email_on_voicemail:
        on = f" on {number_called}" if number_called else ""
        text = (
            f"Hello {user.name},\n\n{who} left you a voicemail{_seconds_text(seconds)}{on} at {when}.\n"
            f"The recording is attached. You can also listen to it in the app or at {portal_url}.\n"
        )
        out.append(
            Outbound(
                EMAIL_QUEUE,
                {
                    "kind": "voicemail",
                    "to": user.email,
                    "subject": f"New voicemail from {who}",
                    "text": text,
                    "tenant_id": activity.tenant_id,
                    "user_id": user.id,
                    "attachments": [
                        {
                            "blob": blob,
                            "filename": f"voicemail-{activity.created_at:%Y%m%d-%H%M%S}.wav",
                            "content_type": "audio/wav",
                        }
                    ],
                },
                message_id(*key, "email"),
            )
        )
    number = sms_number(user)
    if user.notify.sms_on_voicemail and number:
        out.append(
            Outbound(
                SMS_QUEUE,
                {
                    "kind": "voicemail",
                    "to": number,
                    "text": f"New voicemail from {who}{_seconds_text(seconds)} at {when}. "
                    "Listen in the Cloud PBX app.",
                    "tenant_id": activity.tenant_id,
                    "user_id": user.id,
                },
                message_id(*key, "sms"),
            )
        )
    if user.notify.push_on_voicemail and has_devices:
        out.append(
            Outbound(
                PUSH_QUEUE,
                {
                    "type": "voicemail",
                    "tenant_id": activity.tenant_id,
                    "user_id": user.id,
                    "call_id": activity.call_id,
                    "caller": caller,
                    "number_called": number_called,
                    "title": f"New voicemail from {who}",
                    "body": f"{round(seconds)} s" if seconds is not None else "Tap to listen",
                    "data": {"activity_id": activity.id, "seconds": seconds},
                },
                message_id(*key, "push"),
            )
        )
    return out


def missed_call_notifications(
    *, tenant: Tenant | None, user: User, record: CallRecord, activity_id: str, has_devices: bool
) -> list[Outbound]:
    """The email, SMS and push a missed call sends, as the user chose."""
    who = caller_label(record.caller)
    when = local_time(record.ended_at or record.started_at, tenant)
    key = (record.tenant_id, activity_id)
    out: list[Outbound] = []
    if user.notify.email_on_missed:
        out.append(
            Outbound(
                EMAIL_QUEUE,
                {
                    "kind": "missed_call",
                    "to": user.email,
                    "subject": f"Missed call from {who}",
                    "text": f"Hello {user.name},\n\nyou missed a call from {who} to {record.number_called} "
                    f"at {when}.\n",
                    "tenant_id": record.tenant_id,
                    "user_id": user.id,
                },
                message_id(*key, "email"),
            )
        )
    number = sms_number(user)
    if user.notify.sms_on_missed and number:
        out.append(
            Outbound(
                SMS_QUEUE,
                {
                    "kind": "missed_call",
                    "to": number,
                    "text": f"Missed call from {who} to {record.number_called} at {when}.",
                    "tenant_id": record.tenant_id,
                    "user_id": user.id,
                },
                message_id(*key, "sms"),
            )
        )
    if user.notify.push_on_missed and has_devices:
        out.append(
            Outbound(
                PUSH_QUEUE,
                {
                    "type": "missed_call",
                    "tenant_id": record.tenant_id,
                    "user_id": user.id,
                    "call_id": record.call_id,
                    "caller": record.caller,
                    "number_called": record.number_called,
                    "title": f"Missed call from {who}",
                    "body": f"to {record.number_called}",
                    "data": {"activity_id": activity_id},
                },
                message_id(*key, "push"),
            )
        )
    return out


def push_payload(
    kind: str,
    *,
    tenant_id: str,
    user_id: str,
    call_id: str | None,
    caller: str | None,
    number_called: str | None,
    title: str | None,
    body: str | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    """The provider-neutral notification a push adapter turns into an APNs or FCM request."""
    who = caller_label(caller)
    default_title = {
        "incoming_call": f"Incoming call from {who}",
        "voicemail": f"New voicemail from {who}",
        "missed_call": f"Missed call from {who}",
    }.get(kind, "Cloud PBX")
    return {
        "type": kind,
        "title": title or default_title,
        "body": body or (f"to {number_called}" if number_called else ""),
        "data": {
            **data,
            "type": kind,
            "tenant_id": tenant_id,
            "user_id": user_id,
            "call_id": call_id,
            "caller": caller,
            "number_called": number_called,
        },
    }
