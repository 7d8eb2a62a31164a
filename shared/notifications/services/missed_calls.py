"""A call ended: if it was missed by a user, make sure the feed item exists and notify them.

Route: the SIP edge, right after writing the call record and the user's activity
(`InboundCall.write` in `sip_edge/call_flow.py`), puts `{"tenant_id", "call_id"}` on the
`call-ended` queue with message id `{call_id}:call-ended`. The `call_ended` queue function loads
the record (the truth) and, for a `missed` call that reached a user, adds `missed:{call_id}` if
the edge has not (same document as the edge's), then queues an email, SMS and push as the user
chose (`User.notify.*_on_missed`). Voicemails are left to the blob trigger (`voicemail_new`,
`shared.history.services.voicemail`); other dispositions are counted as ignored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from shared.notifications.models import CallEndedMessage
from shared.notifications.ports import MissedCallHistory
from shared.notifications.services.notify import missed_activity, missed_call_notifications
from shared.notifications.services.recipients import Recipients
from shared.ports import MessageBus


class Outcome(enum.StrEnum):
    NOTIFIED = "notified"
    NOT_MISSED = "not_missed"  # answered, voicemail, abandoned, ... or missed with no user
    CALL_MISSING = "call_missing"
    TENANT_GONE = "tenant_gone"
    USER_GONE = "user_gone"


@dataclass
class MissedResult:
    outcome: Outcome
    activity: str | None = None  # "added" | "kept"
    queued: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "activity": self.activity, "queued": self.queued}


class MissedCalls:
    def __init__(self, *, history: MissedCallHistory, recipients: Recipients, bus: MessageBus) -> None:
        self.history, self.recipients, self.bus = history, recipients, bus

    async def on_call_ended(self, msg: CallEndedMessage) -> MissedResult:
        tenant = await self.recipients.tenant(msg.tenant_id)
        if tenant is None:
            return MissedResult(Outcome.TENANT_GONE)
        record = await self.history.get_call(msg.tenant_id, msg.call_id)
        if record is None:
            return MissedResult(Outcome.CALL_MISSING)
        if record.disposition != "missed" or record.user_id is None:
            return MissedResult(Outcome.NOT_MISSED)
        user = await self.recipients.user(record.tenant_id, record.user_id)
        if user is None:
            return MissedResult(Outcome.USER_GONE)
        item = missed_activity(record, user.id)
        result = MissedResult(Outcome.NOTIFIED)
        result.activity = "added" if await self.history.add_activity(item) else "kept"
        devices = await self.recipients.devices(record.tenant_id, user.id)
        for out in missed_call_notifications(
            tenant=tenant, user=user, record=record, activity_id=item.id, has_devices=bool(devices)
        ):
            await self.bus.send(out.queue, out.body, out.message_id)
            result.queued.append(out.queue)
        return result
