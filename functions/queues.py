"""Queue-triggered functions (Service Bus in Azure; Azurite Storage queues locally)."""

from __future__ import annotations

import json
import logging

import azure.functions as func
from pydantic import ValidationError

from shared.adapters.smtp_mailer import OutgoingEmail, SmtpMailer
from shared.settings import get_settings

bp = func.Blueprint()
log = logging.getLogger("functions.queues")


def _mailer() -> SmtpMailer:
    s = get_settings()
    return SmtpMailer(
        s.smtp_host,
        s.smtp_port,
        s.smtp_sender,
        s.smtp_username,
        s.smtp_password.get_secret_value() if s.smtp_password else None,
        s.smtp_starttls,
    )


@bp.service_bus_queue_trigger(arg_name="msg", queue_name="email", connection="ServiceBusConnection")
async def email_sink(msg: func.ServiceBusMessage) -> None:
    """Send one email. A malformed message is logged and dropped (retrying cannot heal it);
    an SMTP failure raises, so the host redelivers it and poisons it after 5 tries."""
    try:
        mail = OutgoingEmail.model_validate(json.loads(msg.get_body()))
    except (ValueError, ValidationError) as exc:
        log.error("email message %s dropped: %s", msg.message_id, str(exc).splitlines()[0])
        return
    await _mailer().send(mail)
    log.info("email sent kind=%s message_id=%s", mail.kind, mail.message_id)
