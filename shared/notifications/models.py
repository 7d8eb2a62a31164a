"""Bodies of the messaging queues: `sms`, `push`, `call-ended`, and the note a handler puts on
`<queue>-poison` (the `email` body is `shared.adapters.smtp_mailer.OutgoingEmail`).

Producers send these through `shared.ports.MessageBus`, which adds `message_id` (the idempotency
key) to the body. Unknown fields are ignored, so older consumers survive newer producers; a body
that fails validation is poisoned at once with the reason (retrying cannot heal it).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.values import E164, UtcDatetime

SMS_QUEUE = "sms"
PUSH_QUEUE = "push"
EMAIL_QUEUE = "email"
CALL_ENDED_QUEUE = "call-ended"

_MESSAGE_ID = dict(min_length=1, max_length=200)
_TENANT = dict(min_length=1, max_length=64)


class SmsMessage(BaseModel):
    """Send `text` to `to`. `tenant_id`/`user_id` say on whose behalf (for logs and billing)."""

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(**_MESSAGE_ID)
    to: E164
    text: str = Field(min_length=1, max_length=1600)
    tenant_id: str | None = Field(default=None, **_TENANT)
    user_id: str | None = Field(default=None, max_length=64)
    kind: str = Field(default="notice", max_length=40)


PushType = Literal["incoming_call", "voicemail", "missed_call"]


class PushMessage(BaseModel):
    """Notify the devices of one user.

    The SIP edge sends `incoming_call` (`sip_edge/call_flow.py` `push_incoming`) with the ids of
    the devices it knew; the functions send `voicemail` and `missed_call`. `devices` None means
    every device the user has when the message is handled. `message_id` may be absent in a body
    produced without the bus; the transport's id is used then.
    """

    model_config = ConfigDict(extra="ignore")

    message_id: str | None = Field(default=None, **_MESSAGE_ID)
    type: PushType
    tenant_id: str = Field(**_TENANT)
    user_id: str = Field(min_length=1, max_length=64)
    call_id: str | None = Field(default=None, max_length=200)
    caller: str | None = Field(default=None, max_length=200)
    number_called: str | None = Field(default=None, max_length=64)
    devices: list[str] | None = Field(default=None, max_length=100)
    title: str | None = Field(default=None, max_length=200)
    body: str | None = Field(default=None, max_length=1000)
    data: dict[str, Any] = Field(default_factory=dict)


class CallEndedMessage(BaseModel):
    """The edge finished a call and wrote its record (proposed edge change: see
    `shared/notifications/services/missed_calls.py`). The record in the History DB is the truth; the message
    only names it."""

    model_config = ConfigDict(extra="ignore")

    message_id: str | None = Field(default=None, **_MESSAGE_ID)
    tenant_id: str = Field(**_TENANT)
    call_id: str = Field(min_length=1, max_length=200)


class PoisonNote(BaseModel):
    """What a handler puts on `<queue>-poison` instead of the message it gave up on: the original
    text (truncated) and why. The devhost's own move after 5 failed deliveries copies the original
    message text instead, without a reason (its `poison` event line carries the reason)."""

    model_config = ConfigDict(extra="ignore")

    message_id: str
    queue: str
    function: str
    reason: str
    delivery_count: int
    poisoned_at: UtcDatetime
    body: str
    body_truncated: bool = False
