"""Bodies of the messaging queues: `email`, `sms`, `push`, `call-ended`, and the note a handler
puts on `<queue>-poison`.

Producers send these through `shared.ports.MessageBus`, which adds `message_id` (the idempotency
key) to the body. Unknown fields are ignored, so older consumers survive newer producers; a body
that fails validation is poisoned at once with the reason (retrying cannot heal it). Each queue's
JSON Schema, these models plus the envelope (`message_id`, `schema_version`, `traceparent`), is
generated into `docs/schemas/<queue>.schema.json` by `shared.message_contract`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

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


MAX_INLINE_ATTACHMENT_CHARS = 40_000  # base64; a queue message must stay under 64 KB


_ONE_SOURCE_SCHEMA = {  # `_one_source` for the JSON Schema (docs/schemas/email.schema.json)
    "oneOf": [
        {"required": ["blob"], "properties": {"blob": {"type": "string"}, "content_b64": {"type": "null"}}},
        {
            "required": ["content_b64"],
            "properties": {"content_b64": {"type": "string"}, "blob": {"type": "null"}},
        },
    ]
}


class EmailAttachment(BaseModel):
    """One attachment: `blob` ("container/name", read at send time) or `content_b64` (inline)."""

    model_config = ConfigDict(extra="ignore", json_schema_extra=_ONE_SOURCE_SCHEMA)

    filename: str = Field(min_length=1, max_length=200, pattern=r"^[^/\\\r\n\"]+$")
    content_type: str = Field(
        default="application/octet-stream", max_length=100, pattern=r"^[a-z]+/[A-Za-z0-9.+\-]+$"
    )
    blob: str | None = Field(default=None, min_length=3, max_length=1024, pattern=r"^[a-z0-9\-]{3,63}/.+$")
    content_b64: str | None = Field(
        default=None, max_length=MAX_INLINE_ATTACHMENT_CHARS, json_schema_extra={"contentEncoding": "base64"}
    )

    @field_validator("content_b64")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error as exc:
                raise ValueError(f"content_b64 is not base64: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _one_source(self) -> EmailAttachment:
        if (self.blob is None) == (self.content_b64 is None):
            raise ValueError("an attachment needs exactly one of 'blob' or 'content_b64'")
        return self

    @property
    def container_and_name(self) -> tuple[str, str]:
        assert self.blob is not None
        container, _, name = self.blob.partition("/")
        return container, name


class OutgoingEmail(BaseModel):
    """The body of an `email` queue message, as producers send it.

    Attachments travel by reference: a queue message is small (64 KB on Storage queues), so a
    voicemail WAV is named by its blob (`voicemail/{tenant}/{user}/{id}.wav`) and the email sink
    reads it when it sends; small generated files may travel inline as base64.
    """

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(min_length=1, max_length=200)
    to: str = Field(min_length=3, max_length=320)
    subject: str = Field(min_length=1, max_length=300)
    text: str = Field(max_length=100_000)
    html: str | None = Field(default=None, max_length=200_000)
    kind: str = "notice"
    attachments: list[EmailAttachment] = Field(default_factory=list, max_length=10)


@dataclass(frozen=True)
class AttachmentFile:
    """An attachment's bytes, resolved from an `EmailAttachment` when the email is sent
    (`shared.notifications.services.messaging.EmailService`) and handed to the `Mailer`."""

    filename: str
    content_type: str
    data: bytes


class CallEndedMessage(BaseModel):
    """The edge finished a call and wrote its record (proposed edge change: see
    `shared/notifications/services/missed_calls.py`). The record in the History DB is the truth; the message
    only names it."""

    model_config = ConfigDict(extra="ignore")

    message_id: str | None = Field(default=None, **_MESSAGE_ID)
    tenant_id: str = Field(**_TENANT)
    call_id: str = Field(min_length=1, max_length=200)


class PoisonNote(BaseModel):
    """What is put on `<queue>-poison` (the local dead-letter queue) instead of the message given
    up on: the original text (truncated) and why, with the two fields Service Bus's dead-letter
    queue carries in Azure: `dead_letter_reason`, a short stable code ("schema-violation",
    "rejected", "max-deliveries", "undecodable"), and `dead_letter_error_description`, the human
    text (also in `reason`)."""

    model_config = ConfigDict(extra="ignore")

    message_id: str
    queue: str
    function: str
    reason: str
    dead_letter_reason: str = "rejected"
    dead_letter_error_description: str = ""
    delivery_count: int
    poisoned_at: UtcDatetime
    body: str
    body_truncated: bool = False
