"""The work of the messaging queues, over ports: `email`, `sms` and `push`.

Each `handle` returns a `Tally` (items done / skipped / failed, with reasons) and raises only
for what a redelivery may heal (`Unavailable`) or what it never will (`Rejected`); the queue
glue (`functions/queue_runtime.py`) turns those into a retry or a poison note.

- Email: attachments named by blob are read at send time (a voicemail deleted meanwhile is left
  out and counted `attachment_missing`; one over `MAX_ATTACHMENT_BYTES` is counted
  `attachment_too_large`). SMTP is tried `SMTP_ATTEMPTS` times with a short backoff within one
  delivery; a permanent refusal is not retried.
- SMS: one send through `SmsSender`.
- Push: one send per device of the user (or the devices the message names); a token the provider
  reports dead is removed from the ConfigDB (unless it was re-registered since it was read) and
  counted `dead_token_removed`. A transient failure on any device raises after trying the others,
  so the message is redelivered; the per-device idempotency key keeps the others from repeating.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

from shared.errors import NotFoundError, Unavailable
from shared.notifications.models import AttachmentFile, OutgoingEmail, PushMessage, SmsMessage
from shared.notifications.ports import Mailer, PushSender, SmsSender
from shared.notifications.services.notify import message_id, push_payload
from shared.notifications.services.recipients import Recipients
from shared.ports import BlobReader
from shared.queue_work import Tally

SMTP_ATTEMPTS = 3
SMTP_BACKOFF_S = (0.5, 1.5)
MAX_ATTACHMENT_BYTES = 15 * 1024 * 1024

Sleep = Callable[[float], Awaitable[None]]


class EmailService:
    def __init__(self, mailer: Mailer, media: BlobReader, sleep: Sleep = asyncio.sleep) -> None:
        self.mailer, self.media, self.sleep = mailer, media, sleep

    async def attachments(self, mail: OutgoingEmail, tally: Tally) -> list[AttachmentFile]:
        files: list[AttachmentFile] = []
        total = 0
        for a in mail.attachments:
            if a.content_b64 is not None:
                data = base64.b64decode(a.content_b64)
            else:
                try:
                    data = await self.media.download(*a.container_and_name)
                except NotFoundError:
                    tally.skip("attachment_missing")
                    continue
            if total + len(data) > MAX_ATTACHMENT_BYTES:
                tally.skip("attachment_too_large")
                continue
            total += len(data)
            files.append(AttachmentFile(a.filename, a.content_type, data))
        return files

    async def handle(self, mail: OutgoingEmail) -> Tally:
        tally = Tally()
        files = await self.attachments(mail, tally)
        for attempt in range(SMTP_ATTEMPTS):
            try:
                await self.mailer.send(mail, files)
                break
            except Unavailable:
                if attempt + 1 >= SMTP_ATTEMPTS:
                    raise
                await self.sleep(SMTP_BACKOFF_S[min(attempt, len(SMTP_BACKOFF_S) - 1)])
        if attempt:
            tally.notes["smtp_retries"] += attempt
        return tally.ok("sent")


class SmsService:
    def __init__(self, sender: SmsSender) -> None:
        self.sender = sender

    async def handle(self, msg: SmsMessage) -> Tally:
        await self.sender.send(msg.to, msg.text, msg.message_id)
        return Tally().ok("sent")


class PushService:
    def __init__(self, sender: PushSender, recipients: Recipients) -> None:
        self.sender, self.recipients = sender, recipients

    async def handle(self, msg: PushMessage, transport_id: str) -> Tally:
        tally = Tally()
        key = msg.message_id or transport_id
        if await self.recipients.tenant(msg.tenant_id) is None:
            return tally.skip("tenant_gone")
        devices = await self.recipients.devices(msg.tenant_id, msg.user_id)
        if msg.devices is not None:
            wanted = set(msg.devices)
            devices = [d for d in devices if d.doc.id in wanted]
        if not devices:
            return tally.skip("no_devices")
        payload = push_payload(
            msg.type,
            tenant_id=msg.tenant_id,
            user_id=msg.user_id,
            call_id=msg.call_id,
            caller=msg.caller,
            number_called=msg.number_called,
            title=msg.title,
            body=msg.body,
            data=msg.data,
        )
        transient: Unavailable | None = None
        for device in devices:
            doc = device.doc
            try:
                result = await self.sender.send(
                    doc.platform.value, doc.token, payload, message_id(key, doc.id)
                )
            except Unavailable as exc:
                transient = exc
                tally.fail("unavailable")
                continue
            if result == "dead_token":
                removed = await self.recipients.remove_device(msg.tenant_id, msg.user_id, device)
                tally.skip("dead_token_removed" if removed else "dead_token_changed")
            else:
                tally.ok("sent")
        if transient is not None:
            raise transient
        return tally
