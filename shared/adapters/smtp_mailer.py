"""Mailer over SMTP (the local catcher in development, a relay in Azure)."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import Unavailable


class OutgoingEmail(BaseModel):
    """The body of an `email` queue message, as producers send it."""

    model_config = ConfigDict(extra="ignore")

    message_id: str = Field(min_length=1, max_length=200)
    to: str = Field(min_length=3, max_length=320)
    subject: str = Field(min_length=1, max_length=300)
    text: str = Field(max_length=100_000)
    html: str | None = Field(default=None, max_length=200_000)
    kind: str = "notice"


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

    def build(self, mail: OutgoingEmail) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = mail.to
        msg["Subject"] = mail.subject
        msg["Message-ID"] = f"<{mail.message_id}@cloudpbx>"  # receivers drop duplicates of a redelivery
        msg["X-CloudPBX-Kind"] = mail.kind
        msg.set_content(mail.text)
        if mail.html:
            msg.add_alternative(mail.html, subtype="html")
        return msg

    def _send_sync(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username and self.password:
                smtp.login(self.username, self.password)
            smtp.send_message(msg)

    async def send(self, mail: OutgoingEmail) -> None:
        """Raises Unavailable when the SMTP server cannot take the message (the queue retries)."""
        try:
            await asyncio.to_thread(self._send_sync, self.build(mail))
        except (OSError, smtplib.SMTPException) as exc:
            raise Unavailable(f"smtp {self.host}:{self.port}: {exc}") from exc
