"""Notifications: the messaging queue functions `email`, `sms`, `push` and `call-ended`.

| function | queue | work |
|---|---|---|
| `email_sink` | `email` (`OutgoingEmail`) | `EmailService` over SMTP, attachments read from Blob |
| `sms_sender` | `sms` (`SmsMessage`) | `SmsService` over the `SmsSender` port |
| `push_sender` | `push` (`PushMessage`) | `PushService` over the `PushSender` port; dead tokens removed |
| `call_ended` | `call-ended` (`CallEndedMessage`) | `MissedCalls`: a missed call's feed item and notices |
| `outbox_relay` | timer, every 10 s | `OutboxRelay.relay` (shared/outbox.py): ConfigDB outbox to the bus |

Each validates its body with pydantic (malformed: straight to `<queue>-poison` with the reason),
logs one `function_run` line per run, and is idempotent by message id (see
functions/queue_runtime.py). The SMS and push providers are the local recorders under
`DATA_DIR/sms/` and `DATA_DIR/push/` (`shared/adapters/recording_senders.py`), wired in
`functions/wiring.py` like every adapter.
"""

from __future__ import annotations

from typing import Any

import azure.functions as func

from functions.queue_runtime import run_queue_message, run_timer
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


async def _sms(body: SmsMessage, r: Adapters) -> Tally:
    return await SmsService(r.sms_sender).handle(body)


@bp.service_bus_queue_trigger(arg_name="msg", queue_name=SMS_QUEUE, connection="ServiceBusConnection")
async def sms_sender(msg: func.ServiceBusMessage) -> None:
    """Send one SMS through the SMS provider port."""
    async with Adapters() as r:
        await run_queue_message(
            function="sms_sender", queue=SMS_QUEUE, msg=msg, model=SmsMessage, handle=_sms, resources=r
        )


@bp.service_bus_queue_trigger(arg_name="msg", queue_name=PUSH_QUEUE, connection="ServiceBusConnection")
async def push_sender(msg: func.ServiceBusMessage) -> None:
    """Push one event (`incoming_call`, `voicemail`, `missed_call`) to a user's devices; tokens the
    provider reports dead are removed from the ConfigDB."""

    async def push(body: PushMessage, r: Adapters) -> Tally:
        service = PushService(r.push_sender, Recipients(r.repo))
        return await service.handle(body, str(msg.message_id or ""))

    async with Adapters() as r:
        await run_queue_message(
            function="push_sender", queue=PUSH_QUEUE, msg=msg, model=PushMessage, handle=push, resources=r
        )


async def _call_ended(body: CallEndedMessage, r: Adapters) -> Tally:
    service = MissedCalls(history=r.history, recipients=Recipients(r.repo), bus=r.bus)
    result = await service.on_call_ended(body)
    tally = Tally()
    if result.outcome is MissedOutcome.NOTIFIED:
        tally.ok(f"activity_{result.activity}")
        for queue in result.queued:
            tally.notes[f"queued_{queue}"] += 1
        return tally
    return tally.skip(result.outcome.value)


@bp.service_bus_queue_trigger(arg_name="msg", queue_name=CALL_ENDED_QUEUE, connection="ServiceBusConnection")
async def call_ended(msg: func.ServiceBusMessage) -> None:
    """A call ended (sent by the edge): a missed call gets its feed item and the user's chosen
    notifications (email, SMS, push)."""
    async with Adapters() as r:
        await run_queue_message(
            function="call_ended",
            queue=CALL_ENDED_QUEUE,
            msg=msg,
            model=CallEndedMessage,
            handle=_call_ended,
            resources=r,
        )


async def _send(mail: OutgoingEmail, r: Adapters) -> Tally:
    return await EmailService(r.mailer, r.media).handle(mail)


@bp.service_bus_queue_trigger(arg_name="msg", queue_name=EMAIL_QUEUE, connection="ServiceBusConnection")
async def email_sink(msg: func.ServiceBusMessage) -> None:
    """Send one email by SMTP (3 tries within a delivery), attachments read from Blob.

    A malformed body or a permanent SMTP refusal goes to `email-poison` at once with the reason;
    a transient failure raises so the host redelivers, and the 5th failed delivery is poisoned
    with its reason (see functions/queue_runtime.py)."""
    async with Adapters() as r:
        await run_queue_message(
            function="email_sink", queue=EMAIL_QUEUE, msg=msg, model=OutgoingEmail, handle=_send, resources=r
        )


@bp.timer_trigger(arg_name="timer", schedule=OUTBOX_RELAY_SCHEDULE, run_on_startup=False, use_monitor=False)
async def outbox_relay(timer: func.TimerRequest) -> None:
    """Move the messages writes left in the ConfigDB outbox (`jobs/outbox/`) to their queues and delete
    them. The writer tries once right after its commit; this picks up whatever a bus outage left.
    A run that cannot reach the bus fails and the next one, 10 s later, tries again."""

    async def work(r: Adapters, run_id: str) -> tuple[Tally, dict[str, Any]]:
        return await OutboxRelay(r.repo, r.bus).relay(), {}

    await run_timer("outbox_relay", timer, work)
