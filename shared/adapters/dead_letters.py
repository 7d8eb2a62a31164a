"""`DeadLetters` (shared.ports) on both transports: what `python -m ops dlq` lists and replays.

- `StorageDeadLetters` (local, Azurite): the `<queue>-poison` Storage queues. A message there is
  a `PoisonNote` (JSON, base64 like every bus message) carrying the original body and the
  `dead_letter_reason` / `dead_letter_error_description` fields; a plain copy of the original
  message (the Functions host's own poison move) is read as a `max-deliveries` dead letter.
  Listing peeks (Storage queues show at most 32 messages without taking them). Replaying sends
  the original body to `<queue>` as a new message, then deletes the poison message; the messages
  looked at and not replayed are made visible again at once.
- `ServiceBusDeadLetters` (Azure): the queue's dead-letter sub-queue. Listing peeks (by sequence
  number, without locks); replaying receives from the sub-queue, sends a clone to the queue
  (same body, content type and application properties, a new transport message id so that the
  queue's duplicate detection does not drop it; the body keeps its `message_id`, the consumer's
  idempotency key), then completes the dead letter; the others received are abandoned.

A dead letter's `id` is the Storage message id, or the Service Bus sequence number. The SDK
clients are synchronous and run in a worker thread, as in `storage_queue_bus.py`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.servicebus import ServiceBusClient, ServiceBusMessage, ServiceBusSubQueue
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient

from shared.adapters.azure_credentials import ServiceBusEndpoint, StorageEndpoint
from shared.adapters.service_bus import ATTEMPT_PROPERTY, attempt_of, transport_message_id
from shared.errors import Unavailable
from shared.ports import DeadLetter

STORAGE_PEEK_LIMIT = 32  # Storage queues peek at most 32 messages
LOCK_SECONDS = 60  # how long a Storage replay holds the poison messages it looks at
RECEIVE_BATCH = 32
SERVICE_BUS_WAIT_SECONDS = 5.0
NOTE_FIELDS = frozenset({"queue", "function", "body", "poisoned_at"})
# Not copied to a replayed message: the dead-letter fields, and the retry attempt (a replay is a
# first attempt again).
DROPPED_PROPERTIES = frozenset({"DeadLetterReason", "DeadLetterErrorDescription", ATTEMPT_PROPERTY})

Replayed = tuple[list[DeadLetter], list[DeadLetter]]


def poison_queue_of(queue: str) -> str:
    return f"{queue}-poison"


# --- Storage queues (local) ---


def decode_text(content: str) -> str:
    """The JSON text of a Storage queue message: base64 (what the bus sends) or plain."""
    try:
        raw = base64.b64decode(content, validate=True)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return content


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _datetime(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(value)
    return None


def dead_letter_of_poison(queue: str, message_id: str, content: str, inserted_on: object) -> DeadLetter:
    """Map one `<queue>-poison` message (a `PoisonNote`, or a plain copy of the original)."""
    text = decode_text(content)
    doc = _json_object(text)
    if doc is not None and doc.keys() >= NOTE_FIELDS and isinstance(doc.get("body"), str):
        count = doc.get("delivery_count")
        return DeadLetter(
            id=message_id,
            queue=queue,
            message_id=_str_or_none(doc.get("message_id")),
            reason=_str_or_none(doc.get("dead_letter_reason")),
            description=_str_or_none(doc.get("dead_letter_error_description"))
            or _str_or_none(doc.get("reason")),
            delivery_count=count if isinstance(count, int) else None,
            dead_lettered_at=_datetime(doc.get("poisoned_at")) or _datetime(inserted_on),
            body=doc["body"],
            body_truncated=bool(doc.get("body_truncated")),
        )
    return DeadLetter(
        id=message_id,
        queue=queue,
        message_id=_str_or_none(doc.get("message_id")) if doc is not None else None,
        reason="max-deliveries",
        description=None,
        delivery_count=None,
        dead_lettered_at=_datetime(inserted_on),
        body=text,
    )


def encode_body(text: str) -> str:
    """The queue message text the consumers read: base64 of the body (as the bus sends it)."""
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class StorageDeadLetters:
    """Over the queue endpoint of `shared.adapters.azure_credentials.storage_endpoint`."""

    def __init__(self, endpoint: StorageEndpoint, **client_options: Any) -> None:
        self._endpoint = endpoint
        self._client_options = client_options

    def _service(self) -> QueueServiceClient:
        e = self._endpoint
        if e.connection_string:
            return QueueServiceClient.from_connection_string(e.connection_string, **self._client_options)
        assert e.account_url is not None
        return QueueServiceClient(e.account_url, credential=e.credential, **self._client_options)

    def _list_sync(self, queue: str, limit: int) -> tuple[list[DeadLetter], int | None]:
        with self._service() as service:
            poison = service.get_queue_client(poison_queue_of(queue))
            try:
                count = poison.get_queue_properties().approximate_message_count
                peeked = poison.peek_messages(max_messages=min(limit, STORAGE_PEEK_LIMIT))
            except ResourceNotFoundError:
                return [], 0
            return [dead_letter_of_poison(queue, m.id, m.content, m.inserted_on) for m in peeked], count

    def _replay_sync(self, queue: str, one: str | None) -> Replayed:
        replayed: list[DeadLetter] = []
        kept: list[DeadLetter] = []
        with self._service() as service:
            poison = service.get_queue_client(poison_queue_of(queue))
            target = service.get_queue_client(queue)
            held: list[QueueMessage] = []
            try:
                pages = poison.receive_messages(
                    messages_per_page=RECEIVE_BATCH, visibility_timeout=LOCK_SECONDS
                ).by_page()
                found = False
                for page in pages:
                    for msg in page:  # the whole page is received (hidden): each is replayed or held
                        if found or (one is not None and msg.id != one):
                            held.append(msg)
                            continue
                        letter = dead_letter_of_poison(queue, msg.id, msg.content, msg.inserted_on)
                        if letter.body_truncated:
                            kept.append(letter)
                            held.append(msg)
                        else:
                            _send_storage(target, letter.body)
                            poison.delete_message(msg.id, msg.pop_receipt)
                            replayed.append(letter)
                        found = one is not None
                    if found:
                        break
            except ResourceNotFoundError:
                return [], []
            finally:
                for msg in held:  # visible again now, not after LOCK_SECONDS
                    with contextlib.suppress(AzureError):
                        poison.update_message(msg, visibility_timeout=0)
        return replayed, kept

    async def list(self, queue: str, limit: int) -> tuple[list[DeadLetter], int | None]:
        try:
            return await asyncio.to_thread(self._list_sync, queue, limit)
        except (AzureError, ValueError) as exc:  # ValueError: a malformed connection string
            raise Unavailable(f"queue {poison_queue_of(queue)}: {_first_line(exc)}") from exc

    async def replay(self, queue: str, one: str | None) -> Replayed:
        try:
            return await asyncio.to_thread(self._replay_sync, queue, one)
        except (AzureError, ValueError) as exc:  # ValueError: a malformed connection string
            raise Unavailable(f"queue {poison_queue_of(queue)}: {_first_line(exc)}") from exc


def _send_storage(target: QueueClient, body: str) -> None:
    with contextlib.suppress(ResourceExistsError):
        target.create_queue()
    target.send_message(encode_body(body))


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


# --- Service Bus (Azure) ---


def body_text(body: object) -> str:
    """A Service Bus message body as text: data sections joined, UTF-8 (bad bytes replaced)."""
    if isinstance(body, bytes | bytearray):
        return bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        return body
    if isinstance(body, Iterable):
        return b"".join(bytes(part) for part in body).decode("utf-8", errors="replace")
    return json.dumps(body, default=str)


def dead_letter_of_service_bus(queue: str, msg: Any) -> DeadLetter:
    """Map one message peeked or received from a queue's dead-letter sub-queue. Its delivery
    count is the attempt it stood for (`service_bus.attempt_of`: a retry copy's `pbx-attempt`
    plus the broker's deliveries of that copy), as a `PoisonNote` counts it."""
    text = body_text(msg.body)
    doc = _json_object(text)
    message_id = _str_or_none(doc.get("message_id")) if doc is not None else None
    return DeadLetter(
        id=str(msg.sequence_number),
        queue=queue,
        message_id=message_id or _str_or_none(msg.message_id),
        reason=msg.dead_letter_reason,
        description=msg.dead_letter_error_description,
        delivery_count=attempt_of(msg.application_properties, msg.delivery_count),
        dead_lettered_at=msg.enqueued_time_utc,
        body=text,
    )


def _text(value: Any) -> Any:
    """AMQP strings arrive as bytes: back to str (other values as they are)."""
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def replay_message_of(msg: Any) -> ServiceBusMessage:
    """The clone of a dead letter sent back to its queue: the same body, content type, subject,
    correlation id and application properties (without the dead-letter ones and the retry
    attempt), and a new transport message id `<body's message_id>:replay:<sequence number>`."""
    properties: dict[str, Any] = {}
    for key, value in (msg.application_properties or {}).items():
        name = _text(key)
        if name not in DROPPED_PROPERTIES:
            properties[name] = _text(value)
    text = body_text(msg.body)
    doc = _json_object(text)
    message_id = (_str_or_none(doc.get("message_id")) if doc else None) or msg.message_id or "message"
    return ServiceBusMessage(
        body=text.encode("utf-8"),
        message_id=transport_message_id(f"{message_id}:replay:{msg.sequence_number}"),
        content_type=msg.content_type or "application/json",
        correlation_id=msg.correlation_id,
        subject=msg.subject,
        application_properties=properties or None,
    )


class ServiceBusDeadLetters:
    """Over `shared.adapters.azure_credentials.service_bus_endpoint`: the connection string
    (`ServiceBusConnection`), or the namespace with the process's credential (managed identity)."""

    def __init__(self, endpoint: ServiceBusEndpoint, **client_options: Any) -> None:
        self._endpoint = endpoint
        self._client_options = client_options

    def _client(self) -> ServiceBusClient:
        e = self._endpoint
        if e.connection_string:
            return ServiceBusClient.from_connection_string(e.connection_string, **self._client_options)
        assert e.namespace is not None and e.credential is not None
        return ServiceBusClient(e.namespace, credential=e.credential, **self._client_options)

    def _list_sync(self, queue: str, limit: int) -> tuple[list[DeadLetter], int | None]:
        out: list[DeadLetter] = []
        with (
            self._client() as client,
            client.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as receiver,
        ):
            next_sequence = 0
            while len(out) < limit:
                batch = receiver.peek_messages(
                    max_message_count=min(limit - len(out), 100), sequence_number=next_sequence
                )
                if not batch:
                    break
                out.extend(dead_letter_of_service_bus(queue, m) for m in batch)
                next_sequence = int(batch[-1].sequence_number) + 1
        return out, None

    def _replay_sync(self, queue: str, one: str | None) -> Replayed:
        replayed: list[DeadLetter] = []
        with (
            self._client() as client,
            client.get_queue_receiver(
                queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER, max_wait_time=SERVICE_BUS_WAIT_SECONDS
            ) as receiver,
            client.get_queue_sender(queue) as sender,
        ):
            held: list[Any] = []
            try:
                found = False
                while not found:
                    batch = receiver.receive_messages(
                        max_message_count=RECEIVE_BATCH, max_wait_time=SERVICE_BUS_WAIT_SECONDS
                    )
                    if not batch:
                        break
                    for msg in batch:
                        if found or (one is not None and str(msg.sequence_number) != one):
                            held.append(msg)
                            continue
                        sender.send_messages(replay_message_of(msg))
                        receiver.complete_message(msg)
                        replayed.append(dead_letter_of_service_bus(queue, msg))
                        found = one is not None
            finally:
                for msg in held:
                    with contextlib.suppress(AzureError):
                        receiver.abandon_message(msg)
        return replayed, []

    async def list(self, queue: str, limit: int) -> tuple[list[DeadLetter], int | None]:
        try:
            return await asyncio.to_thread(self._list_sync, queue, limit)
        except (AzureError, ValueError) as exc:  # ValueError: a malformed connection string
            raise Unavailable(f"Service Bus queue {queue}: {_first_line(exc)}") from exc

    async def replay(self, queue: str, one: str | None) -> Replayed:
        try:
            return await asyncio.to_thread(self._replay_sync, queue, one)
        except (AzureError, ValueError) as exc:  # ValueError: a malformed connection string
            raise Unavailable(f"Service Bus queue {queue}: {_first_line(exc)}") from exc
