"""Notifications: the messaging queue functions `email`, `sms`, `push` and `call-ended`.

| function | queue | work |
|---|---|---|
| `email_sink` | `email` (`OutgoingEmail`) | `EmailService` over SMTP, attachments read from Blob |
| `sms_sender` | `sms` (`SmsMessage`) | `SmsService` over the `SmsSender` port |
| `push_sender` | `push` (`PushMessage`) | `PushService` over the `PushSender` port; dead tokens removed |
| `call_ended` | `call-ended` (`CallEndedMessage`) | `MissedCalls`: a missed call's feed item and notices |
| `outbox_relay` | timer, every 10 s | `OutboxRelay.relay` (shared/outbox.py): ConfigDB outbox to the bus |

Each is registered by `queue_function` with the trigger of the deployment's bus (Service Bus in
Azure, Storage queues locally), checks its body against the queue's JSON Schema and model (a
malformed one is dead-lettered with the reason: Service Bus's dead-letter queue, or
`<queue>-poison` locally), retries failures with backoff, logs one `function_run` record per run,
and is idempotent by message id (see functions/queue_runtime.py). The SMS and push providers are
the local recorders under `DATA_DIR/sms/` and `DATA_DIR/push/`
(`shared/adapters/recording_senders.py`), wired in `functions/wiring.py` like every adapter.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from functions.queue_runtime import Delivery, queue_function, run_timer
from functions.wiring import Adapters
from shared.notifications.models import (
    CALL_ENDED_QUEUE,
    EMAIL_QUEUE,
    PUSH_QUEUE,
    SMS_QUEUE,
    CallEndedMessage,
    OutgoingEmail,
    PushMessage,
    SmsMessage,
)
from shared.notifications.services.messaging import EmailService, PushService, SmsService
from shared.notifications.services.missed_calls import MissedCalls
from shared.notifications.services.missed_calls import Outcome as MissedOutcome
from shared.notifications.services.recipients import Recipients
from shared.outbox import OutboxRelay
from shared.queue_work import Tally

bp = func.Blueprint()

OUTBOX_RELAY_SCHEDULE = "*/10 * * * * *"


async def _sms(body: SmsMessage, r: Adapters, d: Delivery) -> Tally:
    return await SmsService(r.sms_sender).handle(body)


sms_sender = queue_function(
    bp,
    name="sms_sender",
    queue=SMS_QUEUE,
    model=SmsMessage,
    handle=_sms,
    doc="Send one SMS through the SMS provider port.",
)


async def _push(body: PushMessage, r: Adapters, d: Delivery) -> Tally:
    return await PushService(r.push_sender, Recipients(r.repo)).handle(body, d.transport_id)


push_sender = queue_function(
    bp,
    name="push_sender",
    queue=PUSH_QUEUE,
    model=PushMessage,
    handle=_push,
    doc="""Push one event (`incoming_call`, `voicemail`, `missed_call`) to a user's devices; tokens the
    provider reports dead are removed from the ConfigDB.""",
)


async def _call_ended(body: CallEndedMessage, r: Adapters, d: Delivery) -> Tally:
    service = MissedCalls(history=r.history, recipients=Recipients(r.repo), bus=r.bus)
    result = await service.on_call_ended(body)
    tally = Tally()
    if result.outcome is MissedOutcome.NOTIFIED:
        tally.ok(f"activity_{result.activity}")
        for queue in result.queued:
            tally.notes[f"queued_{queue}"] += 1
        return tally
    return tally.skip(result.outcome.value)


call_ended = queue_function(
    bp,
    name="call_ended",
    queue=CALL_ENDED_QUEUE,
    model=CallEndedMessage,
    handle=_call_ended,
    doc="""A call ended (sent by the edge): a missed call gets its feed item and the user's chosen
    notifications (email, SMS, push).""",
)


async def _send(mail: OutgoingEmail, r: Adapters, d: Delivery) -> Tally:
    return await EmailService(r.mailer, r.media).handle(mail)


email_sink = queue_function(
    bp,
    name="email_sink",
    queue=EMAIL_QUEUE,
    model=OutgoingEmail,
    handle=_send,
    doc="""Send one email by SMTP (3 tries within a delivery), attachments read from Blob.

    A malformed body or a permanent SMTP refusal is dead-lettered at once with the reason; a
    transient failure is retried after 10 s, 30 s, 60 s and 120 s, and the 5th failed attempt is
    dead-lettered with its reason (see functions/queue_runtime.py).""",
)


@bp.timer_trigger(arg_name="timer", schedule=OUTBOX_RELAY_SCHEDULE, run_on_startup=False, use_monitor=False)
async def outbox_relay(timer: func.TimerRequest) -> None:
    """Move the messages writes left in the ConfigDB outbox (`jobs/outbox/`) to their queues and delete
    them. The writer tries once right after its commit; this picks up whatever a bus outage left.
    A run that cannot reach the bus fails and the next one, 10 s later, tries again."""

    async def work(r: Adapters, run_id: str) -> tuple[Tally, dict[str, Any]]:
        return await OutboxRelay(r.repo, r.bus).relay(), {}

    await run_timer("outbox_relay", timer, work)
