"""MessageBus over Azure Service Bus queues (the bus in Azure; see bus_transport.py).

A message is the JSON body with the envelope (`shared.adapters.bus_envelope`), UTF-8, content
type `application/json`. The idempotency key `message_id` is also the Service Bus MessageId (so
the queue's duplicate detection, when turned on, drops a producer's repeat); the body's
`traceparent` is copied to the application properties `Diagnostic-Id` and `traceparent`, where
Azure's tooling looks for it. `send_later` puts a copy on the queue for later
(`ScheduledEnqueueTimeUtc`) under a MessageId of its own and with the attempt number in the
`pbx-attempt` application property: the queue functions retry with backoff that way
(functions/queue_runtime.py).

It connects with a connection string (ServiceBusConnection), or with the fully qualified
namespace (ServiceBusConnection__fullyQualifiedNamespace) and `DefaultAzureCredential` (a
managed identity in Azure). The synchronous client runs in a worker thread, one sender per queue
kept open and used under a lock: the asynchronous client's identity credentials need aiohttp,
which this deployment does not ship. Any failure raises `shared.errors.Unavailable`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import threading
from typing import Any

from azure.core.exceptions import AzureError
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSender

from shared.adapters.bus_envelope import envelope, to_json
from shared.errors import Unavailable

CONTENT_TYPE = "application/json"
ATTEMPT_PROPERTY = "pbx-attempt"
TRACE_PROPERTIES = ("Diagnostic-Id", "traceparent")
MAX_MESSAGE_ID_CHARS = 128  # Service Bus's limit on MessageId


def transport_message_id(message_id: str) -> str:
    """`message_id` as a Service Bus MessageId: itself up to 128 characters, else a prefix and
    a hash of the whole (stable, so duplicate detection still matches repeats)."""
    if len(message_id) <= MAX_MESSAGE_ID_CHARS:
        return message_id
    digest = hashlib.sha256(message_id.encode()).hexdigest()[:32]
    return f"{message_id[: MAX_MESSAGE_ID_CHARS - 33]}~{digest}"


def retry_message_id(message_id: str, attempt: int) -> str:
    """The MessageId of the copy that carries `attempt` (duplicate detection must not drop it)."""
    return transport_message_id(f"{message_id}:attempt-{attempt}")


def to_service_bus_message(
    doc: dict[str, Any],
    *,
    message_id: str,
    scheduled_at: dt.datetime | None = None,
    attempt: int | None = None,
) -> ServiceBusMessage:
    """One enveloped body as a Service Bus message (pure mapping)."""
    properties: dict[str | bytes, Any] = {}
    traceparent = doc.get("traceparent")
    if isinstance(traceparent, str) and traceparent:
        for name in TRACE_PROPERTIES:
            properties[name] = traceparent
    if attempt is not None:
        properties[ATTEMPT_PROPERTY] = attempt
    return ServiceBusMessage(
        to_json(doc),
        content_type=CONTENT_TYPE,
        message_id=transport_message_id(message_id),
        application_properties=properties or None,
        scheduled_enqueue_time_utc=scheduled_at,
    )


def attempt_of(application_properties: Any, delivery_count: int | None) -> int:
    """The attempt a received message stands for: the copy's `pbx-attempt` (1 for an original)
    plus the broker's redeliveries of this copy (an abandoned lock, a crashed host).

    `delivery_count` is the Python SDK's, the AMQP header's count of prior delivery attempts:
    0 on the first delivery (the .NET SDK adds 1; this one does not)."""
    first = 1
    for key, value in (application_properties or {}).items():
        name = key.decode() if isinstance(key, bytes) else str(key)
        if name == ATTEMPT_PROPERTY:
            try:
                first = max(1, int(value.decode() if isinstance(value, bytes) else value))
            except (TypeError, ValueError):
                first = 1
    return first + max(0, int(delivery_count or 0))


class ServiceBusBus:
    def __init__(
        self,
        *,
        connection_string: str | None = None,
        namespace: str | None = None,
        credential: Any = None,
        send_timeout: float | None = None,
        **client_options: Any,
    ) -> None:
        """Either `connection_string`, or `namespace` (`<name>.servicebus.windows.net`) with
        `credential` (default: `azure.identity.DefaultAzureCredential()`). `client_options` go to
        the SDK client (`retry_total`, `retry_backoff_factor`, ...); `send_timeout` bounds a send."""
        if not connection_string and not namespace:
            raise ValueError("ServiceBusBus needs a connection string or a namespace")
        self._connection_string = connection_string
        self._namespace = namespace
        self._credential = credential
        self._send_timeout = send_timeout
        self._client_options = client_options
        self._made_credential: Any = None  # closed with the bus; a credential passed in is not
        self._client: ServiceBusClient | None = None
        self._senders: dict[str, tuple[ServiceBusSender, threading.Lock]] = {}
        self._lock = threading.Lock()

    def _make_client(self) -> ServiceBusClient:
        if self._connection_string:
            return ServiceBusClient.from_connection_string(self._connection_string, **self._client_options)
        credential = self._credential
        if credential is None:
            from azure.identity import DefaultAzureCredential

            credential = self._credential = self._made_credential = DefaultAzureCredential()
        assert self._namespace is not None
        return ServiceBusClient(self._namespace, credential, **self._client_options)

    def _sender(self, queue: str) -> tuple[ServiceBusSender, threading.Lock]:
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            if queue not in self._senders:
                self._senders[queue] = (self._client.get_queue_sender(queue), threading.Lock())
            return self._senders[queue]

    def _send_sync(self, queue: str, message: ServiceBusMessage) -> None:
        sender, lock = self._sender(queue)
        with lock:
            sender.send_messages(message, timeout=self._send_timeout)

    async def _send(self, queue: str, message: ServiceBusMessage) -> None:
        try:
            await asyncio.to_thread(self._send_sync, queue, message)
        except (AzureError, OSError, ValueError) as exc:
            raise Unavailable(f"service bus queue {queue}: {type(exc).__name__}: {exc}") from exc

    async def send(self, queue: str, body: dict[str, Any], message_id: str) -> None:
        await self._send(queue, to_service_bus_message(envelope(body, message_id), message_id=message_id))

    async def send_later(
        self, queue: str, doc: dict[str, Any], *, message_id: str, attempt: int, at: dt.datetime
    ) -> None:
        """Queue `doc` (an enveloped body, sent as it is) again, to be delivered at `at`, as
        `attempt`, under the MessageId `<message_id>:attempt-<attempt>`."""
        message = to_service_bus_message(
            doc, message_id=retry_message_id(message_id, attempt), scheduled_at=at, attempt=attempt
        )
        await self._send(queue, message)

    def _close_sync(self) -> None:
        with self._lock:
            senders, self._senders = list(self._senders.values()), {}
            client, self._client = self._client, None
        for sender, _ in senders:
            sender.close()
        if client is not None:
            client.close()
        if self._made_credential is not None:
            self._made_credential.close()

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close_sync)
