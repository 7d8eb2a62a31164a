"""Mailer over SMTP (the local catcher in development, a relay in Azure).

`OutgoingEmail` is the body of an `email` queue message. Attachments travel by reference: a
queue message is small (64 KB on Storage queues), so a voicemail WAV is named by its blob
(`voicemail/{tenant}/{user}/{id}.wav`) and the email sink reads it when it sends; small
generated files may travel inline as base64.

Errors: `Rejected` when the server refuses the message for good (a 5xx reply to the sender,
every recipient or the data), `Unavailable` for everything transient (connection refused or
lost, timeouts, 4xx replies).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.errors import Rejected, Unavailable

MAX_INLINE_ATTACHMENT_CHARS = 40_000  # base64; a queue message must stay under 64 KB


class EmailAttachment(BaseModel):
    """One attachment: `blob` ("container/name", read at send time) or `content_b64` (inline)."""

    model_config = ConfigDict(extra="ignore")

    filename: str = Field(min_length=1, max_length=200, pattern=r"^[^/\\\r\n\"]+$")
    content_type: str = Field(
        default="application/octet-stream", max_length=100, pattern=r"^[a-z]+/[A-Za-z0-9.+\-]+$"
    )
    blob: str | None = Field(default=None, min_length=3, max_length=1024, pattern=r"^[a-z0-9\-]{3,63}/.+$")
    content_b64: str | None = Field(default=None, max_length=MAX_INLINE_ATTACHMENT_CHARS)

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
    """The body of an `email` queue message, as producers send it."""

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
    """An attachment's bytes, resolved by the sender (see `functions/notifications.py` `email_sink`)."""

    filename: str
    content_type: str
    data: bytes


def _is_permanent(exc: smtplib.SMTPException) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(500 <= c < 600 for c in codes)
    code = getattr(exc, "smtp_code", None)
    return (
        isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError)
        and isinstance(code, int)
        and 500 <= code < 600
    )


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10.0,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def build(self, mail: OutgoingEmail, files: Sequence[AttachmentFile] = ()) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = mail.to
        msg["Subject"] = mail.subject
        msg["Message-ID"] = f"<{mail.message_id}@cloudpbx>"  # receivers drop duplicates of a redelivery
        msg["X-CloudPBX-Kind"] = mail.kind
        msg.set_content(mail.text)
        if mail.html:
            msg.add_alternative(mail.html, subtype="html")
        for f in files:
            maintype, _, subtype = f.content_type.partition("/")
            msg.add_attachment(f.data, maintype=maintype, subtype=subtype, filename=f.filename)
        return msg

    def _send_sync(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(msg)

    async def send(self, mail: OutgoingEmail, files: Sequence[AttachmentFile] = ()) -> None:
        """Raises Rejected on a permanent refusal, Unavailable when the SMTP server cannot take the
        message now (the caller retries)."""
        try:
            await asyncio.to_thread(self._send_sync, self.build(mail, files))
        except smtplib.SMTPException as exc:
            if _is_permanent(exc):
                raise Rejected(f"smtp {self.host}:{self.port} refused the message: {exc}") from exc
            raise Unavailable(f"smtp {self.host}:{self.port}: {exc}") from exc
        except OSError as exc:
            raise Unavailable(f"smtp {self.host}:{self.port}: {exc}") from exc
