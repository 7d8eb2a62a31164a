"""Run ``serviceBusTrigger``/``queueTrigger`` functions from Storage queues with peek-lock semantics.

A message is received invisible for ``visibility_timeout``; on success it is deleted; when the handler
raises it becomes visible again after ``retry_delay``; on its ``max_deliveries``-th failed delivery it is
moved to ``<queue>-poison``.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient

from functions.devhost.bindings import SERVICE_BUS, FunctionSpec
from functions.devhost.invoker import EventLog, Invoker
from functions.devhost.io_bindings import metadata_from_body
from functions.devhost.messages import Encoding, decode_body, queue_message, service_bus_message


@dataclass(frozen=True)
class QueueOptions:
    visibility_timeout: int = 30
    retry_delay: float = 10.0
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
            await self._to_poison(msg, f"undecodable: {exc}")
            return
        try:
            value = trigger_value(self.spec, body, msg)
            await self.invoker.invoke(self.spec, value, queue_metadata(body, msg.id), **extra)
        except Exception as exc:
            if deliveries >= self.options.max_deliveries:
                await self._to_poison(msg, f"{type(exc).__name__}: {exc}")
            else:
                await asyncio.to_thread(
                    self.client.update_message,
                    msg.id,
                    msg.pop_receipt,
                    visibility_timeout=max(0, round(self.options.retry_delay)),
                )
            return
        await asyncio.to_thread(self.client.delete_message, msg.id, msg.pop_receipt)

    async def _to_poison(self, msg: QueueMessage, reason: str) -> None:
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
        )
