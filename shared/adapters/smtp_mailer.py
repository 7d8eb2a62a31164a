"""`shared.notifications.ports.Mailer` over SMTP (the local catcher in development, a relay in Azure).

It sends a `shared.notifications.models.OutgoingEmail` (the body of an `email` queue message)
with the attachments' bytes already resolved (`AttachmentFile`).

Header values (the recipient, the subject, which carries a tenant's company name) are folded to
one line before they are set: a CR, LF or other control character becomes a space, so a value
that slipped past input validation can neither add a header (a `Bcc:` of its own) nor make
`email.message` refuse the whole message.

Errors: `Rejected` when the server refuses the message for good (a 5xx reply to the sender,
every recipient or the data), `Unavailable` for everything transient (connection refused or
lost, timeouts, 4xx replies).
"""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import Sequence
from email.message import EmailMessage

from shared.errors import Rejected, Unavailable
from shared.notifications.models import AttachmentFile, OutgoingEmail

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def one_line(value: str) -> str:
    """A header value on one line: every run of control characters becomes one space."""
    return _CONTROL.sub(" ", value).strip()


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
        msg["To"] = one_line(mail.to)
        msg["Subject"] = one_line(mail.subject)
        msg["Message-ID"] = f"<{mail.message_id}@cloudpbx>"  # receivers drop duplicates of a redelivery
        msg["X-CloudPBX-Kind"] = one_line(mail.kind)
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
