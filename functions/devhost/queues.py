"""Run ``serviceBusTrigger``/``queueTrigger`` functions from Storage queues with peek-lock semantics.

A message is received invisible for ``visibility_timeout``; on success it is deleted; when the handler
raises it becomes visible again after ``shared.queue_work.backoff(dequeue count)`` (10 s, 30 s, 60 s,
120 s; ``retry_delay``, when set, replaces it with a fixed delay, for tests); on its
``max_deliveries``-th failed delivery it is moved to ``<queue>-poison`` unchanged, as Azure's host
does, and the ``poison`` event line carries ``dead_letter_reason`` "max-deliveries" (a body that is
not base64: "undecodable") and the error. The app's queue functions dead-letter what they give up
on themselves, as a ``PoisonNote`` with the reason (functions/queue_runtime.py); these moves are
the host's last resort.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient

from functions.devhost.bindings import SERVICE_BUS, FunctionSpec
from functions.devhost.invoker import EventLog, Invoker
from functions.devhost.io_bindings import metadata_from_body
from functions.devhost.messages import Encoding, decode_body, queue_message, service_bus_message
from shared.adapters.bus_envelope import envelope, to_json
from shared.queue_work import MAX_DELIVERIES_REASON, UNDECODABLE, backoff


@dataclass(frozen=True)
class QueueOptions:
    visibility_timeout: int = 30
    retry_delay: float | None = None  # None: shared.queue_work.backoff of the dequeue count
    max_deliveries: int = 5
    poll_interval: float = 1.0
    batch_size: int = 16
    encoding: Encoding = "base64"


def ensure_queue(client: QueueClient) -> None:
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()


def trigger_value(spec: FunctionSpec, body: bytes, msg: QueueMessage | None = None) -> Any:
    if spec.trigger == SERVICE_BUS:
        if msg is None:
            return service_bus_message(body)
        return service_bus_message(
            body,
            message_id=msg.id,
            delivery_count=msg.dequeue_count or 1,
            enqueued=msg.inserted_on,
            expires=msg.expires_on,
            locked_until=msg.next_visible_on,
            lock_token=msg.pop_receipt,
        )
    if msg is None:
        return queue_message(body)
    return queue_message(
        body,
        message_id=msg.id,
        pop_receipt=msg.pop_receipt,
        dequeue_count=msg.dequeue_count or 1,
        inserted=msg.inserted_on,
        expires=msg.expires_on,
        next_visible=msg.next_visible_on,
    )


def admin_body(value: str) -> bytes:
    """The admin API's message text as a producer would have queued it: a JSON object gets the
    envelope it lacks (`message_id`, `schema_version`); anything else is passed on unchanged."""
    try:
        doc = json.loads(value)
    except ValueError:
        return value.encode()
    if not isinstance(doc, dict):
        return value.encode()
    mid = doc.get("message_id")
    return to_json(envelope(doc, mid if isinstance(mid, str) and mid else f"admin-{uuid.uuid4().hex}"))


def queue_metadata(body: bytes, message_id: str | None) -> dict[str, str]:
    meta = metadata_from_body(body)
    if message_id:
        meta.setdefault("Id", message_id)
        meta.setdefault("MessageId", message_id)
    return meta


class QueueRunner:
    def __init__(
        self,
        spec: FunctionSpec,
        invoker: Invoker,
        events: EventLog,
        service: QueueServiceClient,
        options: QueueOptions,
    ) -> None:
        self.spec = spec
        self.invoker = invoker
        self.events = events
        self.options = options
        self.queue_name = str(spec.setting("queueName"))
        self.client = service.get_queue_client(self.queue_name)
        self.poison = service.get_queue_client(f"{self.queue_name}-poison")

    async def run(self) -> None:
        await asyncio.to_thread(ensure_queue, self.client)
        while True:
            try:
                batch = await asyncio.to_thread(self._receive)
            except ResourceNotFoundError:
                await asyncio.to_thread(ensure_queue, self.client)
                batch = []
            except Exception as exc:
                self.events.emit(
                    "queue_error", function=self.spec.name, queue=self.queue_name, error=str(exc)
                )
                batch = []
            if batch:
                await asyncio.gather(*(self._handle(m) for m in batch))
            else:
                await asyncio.sleep(self.options.poll_interval)

    def _receive(self) -> list[QueueMessage]:
        return list(
            self.client.receive_messages(
                max_messages=self.options.batch_size, visibility_timeout=self.options.visibility_timeout
            )
        )

    async def _handle(self, msg: QueueMessage) -> None:
        deliveries = msg.dequeue_count or 1
        extra = {"queue": self.queue_name, "message_id": msg.id, "delivery_count": deliveries}
        try:
            body = decode_body(msg.content, self.options.encoding)
        except ValueError as exc:
            await self._to_poison(msg, UNDECODABLE, f"undecodable: {exc}")
            return
        try:
            value = trigger_value(self.spec, body, msg)
            await self.invoker.invoke(self.spec, value, queue_metadata(body, msg.id), **extra)
        except Exception as exc:
            if deliveries >= self.options.max_deliveries:
                await self._to_poison(msg, MAX_DELIVERIES_REASON, f"{type(exc).__name__}: {exc}")
            else:
                await asyncio.to_thread(
                    self.client.update_message,
                    msg.id,
                    msg.pop_receipt,
                    visibility_timeout=self.retry_after(deliveries),
                )
            return
        await asyncio.to_thread(self.client.delete_message, msg.id, msg.pop_receipt)

    def retry_after(self, deliveries: int) -> int:
        """Seconds before a message whose `deliveries`-th delivery failed is visible again."""
        delay = self.options.retry_delay
        return max(0, round(backoff(deliveries) if delay is None else delay))

    async def _to_poison(self, msg: QueueMessage, code: str, reason: str) -> None:
        """Move the message text as it is, as Azure's host does; the event line says why."""

        def move() -> None:
            ensure_queue(self.poison)
            self.poison.send_message(msg.content)
            self.client.delete_message(msg.id, msg.pop_receipt)

        await asyncio.to_thread(move)
        self.events.emit(
            "poison",
            function=self.spec.name,
            queue=self.queue_name,
            poison_queue=f"{self.queue_name}-poison",
            message_id=msg.id,
            delivery_count=msg.dequeue_count,
            reason=reason,
            dead_letter_reason=code,
        )
