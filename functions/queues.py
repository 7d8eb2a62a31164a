"""Queue-triggered functions (Service Bus in Azure; Azurite Storage queues locally): the `email`
sink. The other messaging queues (`sms`, `push`, `call-ended`) are in `functions/messaging.py`."""

from __future__ import annotations

import azure.functions as func

from functions.queue_runtime import Resources, run_queue_message
from shared.adapters.smtp_mailer import OutgoingEmail, SmtpMailer
from shared.models.queue_messages import EMAIL_QUEUE
from shared.services.messaging import EmailService
from shared.services.queue_work import Tally
from shared.settings import Settings

bp = func.Blueprint()


def _mailer(s: Settings) -> SmtpMailer:
    return SmtpMailer(
        s.smtp_host,
        s.smtp_port,
        s.smtp_sender,
        s.smtp_username,
        s.smtp_password.get_secret_value() if s.smtp_password else None,
        s.smtp_starttls,
    )


async def _send(mail: OutgoingEmail, r: Resources) -> Tally:
    return await EmailService(_mailer(r.settings), r.media).handle(mail)


@bp.service_bus_queue_trigger(arg_name="msg", queue_name=EMAIL_QUEUE, connection="ServiceBusConnection")
async def email_sink(msg: func.ServiceBusMessage) -> None:
    """Send one email by SMTP (3 tries within a delivery), attachments read from Blob.

    A malformed body or a permanent SMTP refusal goes to `email-poison` at once with the reason;
    a transient failure raises so the host redelivers, and the 5th failed delivery is poisoned
    with its reason (see functions/queue_runtime.py)."""
    async with Resources() as r:
        await run_queue_message(
            function="email_sink", queue=EMAIL_QUEUE, msg=msg, model=OutgoingEmail, handle=_send, resources=r
        )
